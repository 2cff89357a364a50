/* libcurl's memory, cleansed when freed. libcurl copies every header and body it sends
 * or receives into buffers of its own (the request being built, the upload and download
 * buffers, header lists) and frees them without wiping: bearer tokens and client
 * secrets would stay in freed memory. Its allocation callbacks are pointed here instead:
 * the system allocator underneath, with each block cleansed before it is freed. */
#ifndef ACR_SECMEM_H
#define ACR_SECMEM_H

/* Once per process, before any other use of libcurl (luaopen_acr calls it first):
 * curl_global_init_mem with the cleansing callbacks. Returns 0 when libcurl is
 * initialised, -1 when it failed. When another part of the process initialised
 * libcurl first, its allocator stays and only this module's own buffers are wiped. */
int acr_secmem_curl_init(void);

#endif
