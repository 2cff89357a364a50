/* One request on the handle: its checks, its header list (the caller's lines with the
 * handle's fixed ones linked on), the options it changes, and the transport errors it
 * reports. Everything else was set once in acr_http_new (http.c). */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "http_private.h"
#include "http_request.h"
#include "http_response.h"
#include "secmem.h"

#define ACR_STR_(x) #x
#define ACR_STR(x) ACR_STR_(x)

/* ---- one request ---- */

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
void acr_http_slist_wipe(struct curl_slist *l)
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
  acr_http_headers_clear(res);
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
    acr_http_slist_wipe(h->extra);
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
    return acr_http_end(h, rc);
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
  acr_http_slist_wipe(h->extra);
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
