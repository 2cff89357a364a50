/* The libcurl driver. Every option that does not change between requests is set once
 * in acr_http_new, so the easy handle keeps its connection cache, TLS session and
 * cookies from one request to the next; acr_http_perform (http_request.c) only sets
 * what a request changes. The libcurl callbacks (http_response.c) only append to C
 * memory: nothing here calls Lua. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "http_private.h"
#include "http_request.h"
#include "http_response.h"
#include "netguard.h"
#include "secmem.h"

#define DEFAULT_MAX_BODY ((size_t)64 * 1024 * 1024)

/* ---- process-wide setup ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init_once(void)
{
  global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int acr_http_global_init(void)
{
  if (pthread_once(&global_once, global_init_once) != 0)
    return -1;
  return global_rc == CURLE_OK ? 0 : -1;
}

static pthread_once_t version_once = PTHREAD_ONCE_INIT;
static char version_str[64] = "libcurl";

static void version_init_once(void)
{
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  if (v && v->version)
    snprintf(version_str, sizeof version_str, "libcurl/%s", v->version);
}

const char *acr_http_version(void)
{
  pthread_once(&version_once, version_init_once);
  return version_str;
}

/* ---- the handle ---- */

static void set_err(char *err, size_t errlen, const char *msg)
{
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

static CURLcode set_fixed_options(acr_http *h, const acr_http_options *opt)
{
  CURL *c = h->curl;
  CURLcode rc = CURLE_OK;
  const char *ua = opt->user_agent ? opt->user_agent : acr_http_version();
  SET(CURLOPT_ERRORBUFFER, h->errbuf);
  SET(CURLOPT_NOSIGNAL, 1L);              /* no SIGALRM for DNS timeouts: we may be in a thread */
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);        /* Location belongs to the operation (LRO polling) */
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  if (opt->ca_file)
    SET(CURLOPT_CAINFO, opt->ca_file);
  SET(CURLOPT_COOKIEFILE, "");            /* cookie engine on, in memory; no COOKIEJAR */
  SET(CURLOPT_ACCEPT_ENCODING, "");       /* every encoding libcurl can decode */
  SET(CURLOPT_USERAGENT, ua);
  if (opt->connect_timeout_ms > 0)
    SET(CURLOPT_CONNECTTIMEOUT_MS, opt->connect_timeout_ms);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);  /* early refusal by Content-Length */
  /* libcurl's smallest, not its 64 KiB: over TLS it copies each request into this buffer,
   * which it frees (so cleanses, see secmem.h) after every transfer; a TLS record holds
   * 16 KiB anyway, and our bodies are small. */
  SET(CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
  SET(CURLOPT_WRITEFUNCTION, acr_http_write_cb);
  SET(CURLOPT_WRITEDATA, h);
  SET(CURLOPT_HEADERFUNCTION, acr_http_header_cb);
  SET(CURLOPT_HEADERDATA, h);
  SET(CURLOPT_HTTPHEADER, h->fixed);
  SET(CURLOPT_PRIVATE, (void *)h);        /* a multi handle's finished transfer -> h */
  /* HTTP/2 where TLS offers it; a new transfer waits for a multiplexed connection
   * rather than opening one more */
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  SET(CURLOPT_PIPEWAIT, 1L);
  if (opt->share)
    SET(CURLOPT_SHARE, (CURLSH *)opt->share);  /* TLS sessions, DNS, cookies of the client */
  return rc;
}

/* Accept must stay the head of the list: link_fixed skips it when the caller sends its own.
 * An empty "Expect:" stops libcurl waiting for 100-continue before large bodies. */
static struct curl_slist *fixed_headers(void)
{
  struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
  if (!l)
    return NULL;
  struct curl_slist *t = curl_slist_append(l, "Expect:");
  if (!t)
    curl_slist_free_all(l);
  return t;
}

acr_http *acr_http_new(const acr_http_options *opt, char *err, size_t errlen)
{
  static const acr_http_options defaults = {0, 0, NULL, NULL, 0, NULL};
  if (!opt)
    opt = &defaults;
  if (acr_http_global_init() != 0) {
    set_err(err, errlen, "libcurl global initialisation failed");
    return NULL;
  }
  acr_http *h = calloc(1, sizeof *h);
  if (!h) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  h->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 0;
  h->max_body = opt->max_body ? opt->max_body : DEFAULT_MAX_BODY;
  h->curl = curl_easy_init();
  h->fixed = h->curl ? fixed_headers() : NULL;
  if (!h->curl || !h->fixed) {
    set_err(err, errlen, "out of memory");
    acr_http_free(h);
    return NULL;
  }
  CURLcode rc = set_fixed_options(h, opt);
  if (rc == CURLE_OK)
    rc = acr_secmem_tls(h->curl);
  if (rc == CURLE_OK)
    rc = acr_netguard_install(h->curl);
  if (rc != CURLE_OK) {
    set_err(err, errlen, curl_easy_strerror(rc));
    acr_http_free(h);
    return NULL;
  }
  return h;
}

void acr_http_free(acr_http *h)
{
  if (!h)
    return;
  if (h->curl)
    curl_easy_cleanup(h->curl);
  if (h->tail)
    h->tail->next = NULL;   /* a request begun and never ended: its lines are ours */
  acr_http_slist_wipe(h->extra);
  curl_slist_free_all(h->fixed);
  free(h);
}

long acr_http_connections(const acr_http *h)
{
  return h ? h->connections : 0;
}

void *acr_http_easy(acr_http *h)
{
  return h->curl;
}

void acr_http_set_user(acr_http *h, void *user)
{
  h->user = user;
}

void *acr_http_user(const acr_http *h)
{
  return h->user;
}
