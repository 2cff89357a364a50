/* What libcurl and OpenSSL keep of the secrets they carry. libcurl copies every header
 * and body it sends or receives into buffers of its own (the request being built, the
 * upload and download buffers, header lists) and frees them without wiping: bearer
 * tokens and client secrets would stay in freed memory. Its allocation callbacks are
 * pointed here instead: the system allocator underneath, with each block cleansed before
 * it is freed. OpenSSL keeps received plaintext in its TLS read buffer: each handle's
 * TLS contexts are told to cleanse it. */
#ifndef ACR_SECMEM_H
#define ACR_SECMEM_H

#include <curl/curl.h>

/* Once per process, before any other use of libcurl (luaopen_acr calls it first):
 * curl_global_init_mem with the cleansing callbacks. Returns 0 when libcurl is
 * initialised, -1 when it failed. When another part of the process initialised
 * libcurl first, its allocator stays and only this module's own buffers are wiped. */
int acr_secmem_curl_init(void);

/* Sets the handle's TLS contexts to cleanse received plaintext (SSL_OP_CLEANSE_PLAINTEXT)
 * when libcurl's TLS backend is the OpenSSL this module was built with; CURLE_OK when it
 * is another (nothing is set). */
CURLcode acr_secmem_tls(CURL *curl);

#endif
