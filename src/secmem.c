/* See secmem.h. The callbacks wrap malloc and free rather than keep a size header of
 * their own, so a block may cross between them and the system allocator either way
 * (libcurl hands out strings the caller frees with curl_free, and some of its blocks
 * may predate the callbacks): malloc_usable_size says how much to cleanse. */
#define _GNU_SOURCE   /* dladdr */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "secmem.h"

static void wipe_free(void *p)
{
  if (!p)
    return;
  acr_cleanse(p, malloc_usable_size(p));
  free(p);
}

/* realloc would leave the old block behind, uncleansed, whenever it moves: move it
 * ourselves. A block that is already large enough is kept as it is. */
static void *wipe_realloc(void *p, size_t n)
{
  if (!p)
    return malloc(n);
  if (n == 0) {
    wipe_free(p);
    return NULL;
  }
  size_t have = malloc_usable_size(p);
  if (n <= have)
    return p;
  void *q = malloc(n);
  if (!q)
    return NULL;
  memcpy(q, p, have);
  wipe_free(p);
  return q;
}

static char *wipe_strdup(const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* libcurl keeps pointers to these functions for the life of the process, past the
 * lua_State that loaded this module: Lua 5.4 unloads C modules when its state closes,
 * and a libcurl loaded by something else would then call into unmapped code. The
 * module is therefore pinned, never unloaded, as OpenSSL pins itself for its atexit
 * handler. Returns 0 when pinned. */
static const char anchor;   /* an address inside this module, for dladdr */

static int pin_module(void)
{
  Dl_info info;
  if (!dladdr(&anchor, &info) || !info.dli_fname)
    return -1;
  return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) ? 0 : -1;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void init_once(void)
{
  /* Unpinned, the callbacks could outlive the code: then libcurl keeps its own. */
  if (pin_module() == 0)
    init_rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wipe_free, wipe_realloc,
                                   wipe_strdup, calloc);
  else
    init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int acr_secmem_curl_init(void)
{
  if (pthread_once(&once, init_once) != 0)
    return -1;
  return init_rc == CURLE_OK ? 0 : -1;
}

/* ---- TLS ---- */

/* OpenSSL keeps the plaintext of the records it received in its read buffer and frees
 * it unwiped: over TLS, the token response would stay in freed memory. Its own remedy,
 * SSL_OP_CLEANSE_PLAINTEXT, is set on each TLS context this handle makes: a setting of
 * these connections, not of the process as CRYPTO_set_mem_functions would be (that would
 * reach every OpenSSL user of a host such as nginx, and only if called before OpenSSL's
 * first allocation). */
static CURLcode cleanse_plaintext(CURL *curl, void *ssl_ctx, void *ud)
{
  (void)curl;
  (void)ud;
#ifdef SSL_OP_CLEANSE_PLAINTEXT
  SSL_CTX_set_options((SSL_CTX *)ssl_ctx, SSL_OP_CLEANSE_PLAINTEXT);
  /* libcurl asks OpenSSL to free the read buffer whenever it is empty; with the option,
   * each of those frees cleanses all 16 KiB of it. Kept for the connection's life, the
   * buffer is cleansed of what was read after each read, and whole once, at SSL_free. */
  SSL_CTX_clear_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
#else
  (void)ssl_ctx;
#endif
  return CURLE_OK;
}

/* The context libcurl passes is an SSL_CTX of the OpenSSL this module was built with
 * only when libcurl's TLS backend is that OpenSSL (same major version). */
static int curl_uses_our_openssl(void)
{
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  char want[32];
  snprintf(want, sizeof want, "OpenSSL/%d.", (int)OPENSSL_VERSION_MAJOR);
  return v && v->ssl_version && !strncmp(v->ssl_version, want, strlen(want));
}

CURLcode acr_secmem_tls(CURL *curl)
{
  if (!curl_uses_our_openssl())
    return CURLE_OK;
  return curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, cleanse_plaintext);
}
