/* The response of a transfer: its headers and body, filled by the libcurl callbacks
 * while the transfer runs. The callbacks only append to C memory: nothing here calls
 * Lua. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http_private.h"
#include "http_response.h"

/* ---- small string helpers ---- */

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

void acr_http_headers_clear(acr_http_response *res)
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
  acr_http_headers_clear(res);
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

size_t acr_http_write_cb(char *p, size_t size, size_t nmemb, void *ud)
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
    acr_http_headers_clear(res);
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

size_t acr_http_header_cb(char *p, size_t size, size_t nmemb, void *ud)
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
