/* The libcurl driver. Every option that does not change between requests is set once
 * in acr_http_new, so the easy handle keeps its connection cache, TLS session and
 * cookies from one request to the next; acr_http_perform only sets what a request
 * changes. The libcurl callbacks only append to C memory: nothing here calls Lua. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http.h"
#include "netguard.h"
#include "secmem.h"

#define DEFAULT_MAX_BODY ((size_t)64 * 1024 * 1024)
/* A server may send any number of header lines; cap them as we cap the body. */
#define MAX_HEADERS 1000
#define ACR_STR_(x) #x
#define ACR_STR(x) ACR_STR_(x)

struct acr_http {
  CURL *curl;
  struct curl_slist *fixed;   /* Accept, Expect: — the head is Accept (see link_fixed) */
  long timeout_ms;
  size_t max_body;
  long connections;
  int fresh;                   /* the next request opens a new connection */
  void *user;                  /* the driver's, for a transfer found through a multi handle */
  /* State of the transfer in progress, for the callbacks and acr_http_end. */
  acr_http_response *res;
  struct curl_slist *extra, *tail;   /* this request's header lines; tail links the fixed */
  int too_large;               /* 1: the body, 2: the header count */
  int oom;
  char errbuf[CURL_ERROR_SIZE];
};

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

/* ---- small string helpers (ASCII only: header names must not depend on the locale) ---- */

static char ascii_lower(char c)
{
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **p, size_t *n)
{
  while (*n && is_space(**p)) {
    (*p)++;
    (*n)--;
  }
  while (*n && is_space((*p)[*n - 1]))
    (*n)--;
}

static char *dup_n(const char *p, size_t n)
{
  char *s = malloc(n + 1);
  if (!s)
    return NULL;
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* Is `line` ("Name: value") a header called `name` (lower-case)? */
static int line_is(const char *line, const char *name)
{
  size_t i = 0;
  for (; name[i]; i++)
    if (ascii_lower(line[i]) != name[i])
      return 0;
  while (line[i] == ' ' || line[i] == '\t')
    i++;
  return line[i] == ':';
}

/* ---- the response ---- */

void acr_http_response_init(acr_http_response *res)
{
  res->status = 0;
  res->headers = NULL;
  res->nheaders = res->cap_headers = 0;
  res->body.data = NULL;
  res->body.len = res->body.cap = 0;
  res->transport = ACR_TE_NONE;
  res->error[0] = '\0';
}

static void headers_clear(acr_http_response *res)
{
  for (size_t i = 0; i < res->nheaders; i++) {
    free(res->headers[i].name);
    free(res->headers[i].value);
  }
  res->nheaders = 0;
}

void acr_http_response_free(acr_http_response *res)
{
  if (!res)
    return;
  headers_clear(res);
  free(res->headers);
  /* Bodies carry tokens and generated passwords. */
  acr_buf_wipe(&res->body);
  acr_http_response_init(res);
}

static int headers_grow(acr_http_response *res)
{
  if (res->nheaders < res->cap_headers)
    return 0;
  size_t cap = res->cap_headers ? res->cap_headers * 2 : 16;
  acr_header *p = realloc(res->headers, cap * sizeof *p);
  if (!p)
    return -1;
  res->headers = p;
  res->cap_headers = cap;
  return 0;
}

static int header_add(acr_http_response *res, const char *name, size_t nlen,
                      const char *value, size_t vlen)
{
  if (headers_grow(res) != 0)
    return -1;
  char *n = dup_n(name, nlen);
  char *v = dup_n(value, vlen);
  if (!n || !v) {
    free(n);
    free(v);
    return -1;
  }
  for (size_t i = 0; i < nlen; i++)
    n[i] = ascii_lower(n[i]);
  res->headers[res->nheaders].name = n;
  res->headers[res->nheaders].value = v;
  res->nheaders++;
  return 0;
}

/* An obsolete folded line continues the previous header's value. */
static int header_fold(acr_http_response *res, const char *p, size_t n)
{
  if (res->nheaders == 0 || n == 0)
    return 0;
  char **v = &res->headers[res->nheaders - 1].value;
  size_t old = strlen(*v);
  char *s = realloc(*v, old + 1 + n + 1);
  if (!s)
    return -1;
  s[old] = ' ';
  memcpy(s + old + 1, p, n);
  s[old + 1 + n] = '\0';
  *v = s;
  return 0;
}

const char *acr_http_header(const acr_http_response *res, const char *name)
{
  if (!res || !name)
    return NULL;
  for (size_t i = 0; i < res->nheaders; i++) {
    const char *a = res->headers[i].name, *b = name;
    while (*a && *a == ascii_lower(*b)) {
      a++;
      b++;
    }
    if (*a == '\0' && *b == '\0')
      return res->headers[i].value;
  }
  return NULL;
}

/* ---- libcurl callbacks: append to C memory, report trouble through flags ---- */

/* Reserve the announced length up front: fewer reallocs, and fewer stale copies of a
 * secret-bearing body left behind in freed memory. */
static void body_presize(acr_http *h)
{
  curl_off_t cl = -1;
  if (h->res->body.cap || curl_easy_getinfo(h->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl))
    return;
  if (cl > 0 && (curl_off_t)h->max_body >= cl)
    (void)acr_buf_reserve(&h->res->body, (size_t)cl);  /* a hint: failure is not an error */
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
  acr_http *h = ud;
  size_t n = size * nmemb;
  acr_buf *b = &h->res->body;
  if (n > h->max_body - b->len) {
    h->too_large = 1;
    return 0;   /* any short count makes libcurl abort with CURLE_WRITE_ERROR */
  }
  body_presize(h);
  if (acr_buf_add(b, p, n) != 0) {
    h->oom = 1;
    return 0;
  }
  return n;
}

static int header_line(acr_http *h, const char *p, size_t n)
{
  acr_http_response *res = h->res;
  /* A status line starts a response: only the last one's headers (not those of a 1xx,
   * a proxy's CONNECT reply, or an earlier response) are kept. */
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    headers_clear(res);
    return 0;
  }
  if (n && (p[0] == ' ' || p[0] == '\t')) {
    trim(&p, &n);
    return header_fold(res, p, n);
  }
  const char *colon = memchr(p, ':', n);
  if (!colon)
    return 0;   /* the blank line ending the headers, or junk */
  const char *name = p, *value = colon + 1;
  size_t nlen = (size_t)(colon - p), vlen = n - nlen - 1;
  trim(&name, &nlen);
  trim(&value, &vlen);
  if (nlen == 0)
    return 0;
  if (res->nheaders >= MAX_HEADERS) {
    h->too_large = 2;
    return -1;
  }
  return header_add(res, name, nlen, value, vlen);
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
  acr_http *h = ud;
  size_t n = size * nmemb;
  if (header_line(h, p, n) != 0) {
    if (!h->too_large)
      h->oom = 1;
    return 0;
  }
  return n;
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
#define SET(o, v) \
  do { \
    if (rc == CURLE_OK) \
      rc = curl_easy_setopt(c, o, v); \
  } while (0)
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
  SET(CURLOPT_WRITEFUNCTION, write_cb);
  SET(CURLOPT_WRITEDATA, h);
  SET(CURLOPT_HEADERFUNCTION, header_cb);
  SET(CURLOPT_HEADERDATA, h);
  SET(CURLOPT_HTTPHEADER, h->fixed);
  SET(CURLOPT_PRIVATE, (void *)h);        /* a multi handle's finished transfer -> h */
  /* HTTP/2 where TLS offers it; a new transfer waits for a multiplexed connection
   * rather than opening one more */
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  SET(CURLOPT_PIPEWAIT, 1L);
  if (opt->share)
    SET(CURLOPT_SHARE, (CURLSH *)opt->share);  /* TLS sessions, DNS, cookies of the client */
#undef SET
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

static void slist_wipe(struct curl_slist *l);

void acr_http_free(acr_http *h)
{
  if (!h)
    return;
  if (h->curl)
    curl_easy_cleanup(h->curl);
  if (h->tail)
    h->tail->next = NULL;   /* a request begun and never ended: its lines are ours */
  slist_wipe(h->extra);
  curl_slist_free_all(h->fixed);
  free(h);
}

long acr_http_connections(const acr_http *h)
{
  return h ? h->connections : 0;
}

/* ---- one request ---- */

static int method_ok(const char *m)
{
  if (!m || !*m)
    return 0;
  for (; *m; m++)
    if (*m < 'A' || *m > 'Z')
      return 0;
  return 1;
}

/* The header lines reach the wire verbatim: a CR or LF would smuggle in another header
 * or request. */
static int header_ok(const char *line)
{
  return strchr(line, ':') && !strpbrk(line, "\r\n");
}

static int sends_body(const char *method, size_t body_len)
{
  return body_len > 0 || !strcmp(method, "PUT") || !strcmp(method, "PATCH") ||
         !strcmp(method, "POST");
}

/* The caller's lines cleared before they are freed: they carry bearer tokens. */
static void slist_wipe(struct curl_slist *l)
{
  for (struct curl_slist *i = l; i; i = i->next)
    acr_cleanse(i->data, strlen(i->data));
  curl_slist_free_all(l);
}

static int slist_add(struct curl_slist **l, const char *line)
{
  struct curl_slist *t = curl_slist_append(*l, line);
  if (!t)
    return -1;
  *l = t;
  return 0;
}

/* The caller's lines plus, for a body, a Content-Type (libcurl would otherwise claim
 * a form); the fixed list is linked on later, not copied. */
static int extra_headers(const char *const *headers, int body, int has_body,
                         struct curl_slist **out, int *own_accept)
{
  int own_type = 0;
  *out = NULL;
  *own_accept = 0;
  for (size_t i = 0; headers && headers[i]; i++) {
    own_type |= line_is(headers[i], "content-type");
    *own_accept |= line_is(headers[i], "accept");
    if (slist_add(out, headers[i]) != 0)
      return -1;
  }
  if (body && !own_type)
    return slist_add(out, has_body ? "Content-Type: application/json" : "Content-Type:");
  return 0;
}

static struct curl_slist *slist_tail(struct curl_slist *l)
{
  while (l && l->next)
    l = l->next;
  return l;
}

/* The fixed list is borrowed as the tail of the per-call one, not copied; the caller's
 * own Accept replaces ours (it is the head of the fixed list). perform unlinks it again
 * before the per-call list is freed. */
static struct curl_slist *link_fixed(acr_http *h, struct curl_slist *extra,
                                     struct curl_slist *tail, int own_accept)
{
  struct curl_slist *fixed = own_accept ? h->fixed->next : h->fixed;
  if (!tail)
    return fixed;
  tail->next = fixed;
  return extra;
}

/* Everything a previous request may have left set on the handle is set again here, so
 * a GET after a POST is a plain GET: no body, no custom verb, not HEAD. */
static CURLcode set_request(acr_http *h, const char *method, const char *url,
                            const char *body, size_t body_len, long timeout_ms, int fresh,
                            struct curl_slist *hdrs)
{
  CURL *c = h->curl;
  CURLcode rc = CURLE_OK;
  int custom = strcmp(method, "GET") && strcmp(method, "HEAD");
#define SET(o, v) \
  do { \
    if (rc == CURLE_OK) \
      rc = curl_easy_setopt(c, o, v); \
  } while (0)
  SET(CURLOPT_URL, url);
  SET(CURLOPT_POSTFIELDS, (const char *)NULL);  /* drop the previous body pointer... */
  SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
  SET(CURLOPT_NOBODY, 0L);
  SET(CURLOPT_HTTPGET, 1L);                     /* ...and the POST mode it implied */
  SET(CURLOPT_CUSTOMREQUEST, custom ? method : (const char *)NULL);
  if (!strcmp(method, "HEAD"))
    SET(CURLOPT_NOBODY, 1L);
  if (sends_body(method, body_len)) {
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    SET(CURLOPT_POSTFIELDS, body_len ? body : "");  /* not copied: the caller's body */
  }
  SET(CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : h->timeout_ms);
  SET(CURLOPT_HTTPHEADER, hdrs);
  SET(CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
#undef SET
  return rc;
}

void acr_http_fresh_connect(acr_http *h, int fresh)
{
  h->fresh = fresh;
}

static acr_transport_error classify(CURLcode rc)
{
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    return ACR_TE_TIMEOUT;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
  case CURLE_GOT_NOTHING:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return ACR_TE_CONNECT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
  case CURLE_USE_SSL_FAILED:
    return ACR_TE_TLS;
  case CURLE_FILESIZE_EXCEEDED:
    return ACR_TE_TOO_LARGE;
  default:
    return ACR_TE_OTHER;
  }
}

static int fail(acr_http_response *res, acr_transport_error te, const char *msg)
{
  headers_clear(res);
  acr_buf_wipe(&res->body);   /* a partial body is not a response */
  res->status = 0;
  res->transport = te;
  snprintf(res->error, sizeof res->error, "%s", msg);
  return -1;
}

/* Only libcurl's own wording or ours: never the request, whose headers hold tokens. */
static int fail_curl(acr_http *h, acr_http_response *res, CURLcode rc)
{
  char msg[sizeof res->error];
  if (h->too_large == 2)
    return fail(res, ACR_TE_TOO_LARGE, "more than " ACR_STR(MAX_HEADERS) " response headers");
  if (h->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    snprintf(msg, sizeof msg, "response body over %zu bytes", h->max_body);
    return fail(res, ACR_TE_TOO_LARGE, msg);
  }
  if (h->oom || rc == CURLE_OUT_OF_MEMORY)
    return fail(res, ACR_TE_OTHER, "out of memory");
  snprintf(msg, sizeof msg, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
  return fail(res, classify(rc), msg);
}

static const char *check_request(const char *method, const char *url,
                                 const char *const *headers, const char *body,
                                 size_t body_len)
{
  if (!url)
    return "no URL";
  if (!method_ok(method))
    return "bad HTTP method";
  if (body_len && !body)
    return "body length without a body";
  if (body_len && (!strcmp(method, "GET") || !strcmp(method, "HEAD")))
    return "a GET or HEAD request has no body";
  for (size_t i = 0; headers && headers[i]; i++)
    if (!header_ok(headers[i]))
      return "bad request header line";
  return NULL;
}

int acr_http_begin(acr_http *h, const char *method, const char *url,
                   const char *const *headers, const char *body, size_t body_len,
                   long timeout_ms, acr_http_response *res)
{
  int own_accept;
  if (!res)
    return -1;
  acr_http_response_free(res);
  if (!method)
    method = "GET";
  const char *bad = h ? check_request(method, url, headers, body, body_len) : "no handle";
  int fresh = h ? h->fresh : 0;
  if (h)
    h->fresh = 0;   /* one request's choice, whichever way this one ends */
  if (bad)
    return fail(res, ACR_TE_OTHER, bad);
  if (extra_headers(headers, sends_body(method, body_len), body_len > 0, &h->extra,
                    &own_accept) != 0) {
    slist_wipe(h->extra);
    h->extra = NULL;
    return fail(res, ACR_TE_OTHER, "out of memory");
  }
  h->too_large = h->oom = 0;
  h->errbuf[0] = '\0';
  h->tail = slist_tail(h->extra);
  CURLcode rc = set_request(h, method, url, body, body_len, timeout_ms, fresh,
                            link_fixed(h, h->extra, h->tail, own_accept));
  h->res = res;
  if (rc != CURLE_OK)
    return acr_http_end(h, rc) ;
  return 0;
}

int acr_http_end(acr_http *h, int curl_code)
{
  CURLcode rc = (CURLcode)curl_code;
  acr_http_response *res = h->res;
  long n = 0;
  if (curl_easy_getinfo(h->curl, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK)
    h->connections += n;
  h->res = NULL;
  /* The handle must not keep pointing at the list freed below. */
  curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->fixed);
  if (h->tail)
    h->tail->next = NULL;
  slist_wipe(h->extra);
  h->extra = h->tail = NULL;
  if (rc != CURLE_OK)
    return fail_curl(h, res, rc);
  curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &res->status);
  return 0;
}

int acr_http_perform(acr_http *h, const char *method, const char *url,
                     const char *const *headers, const char *body, size_t body_len,
                     long timeout_ms, acr_http_response *res)
{
  if (acr_http_begin(h, method, url, headers, body, body_len, timeout_ms, res) != 0)
    return -1;
  return acr_http_end(h, curl_easy_perform(h->curl));
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
