/* URL handling. Origins are parsed by libcurl's URL API, the same parser that will
 * send the request, so the host we check is the host we connect to. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "url.h"

static int copy_part(CURLU *u, CURLUPart part, unsigned flags, char *dst, size_t n)
{
  char *v = NULL;
  if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
    return -1;
  size_t len = strlen(v);
  int ok = len < n;
  if (ok) {
    for (size_t i = 0; i <= len; i++)
      dst[i] = (char)tolower((unsigned char)v[i]);
  }
  curl_free(v);
  return ok ? 0 : -1;
}

static int has_userinfo(CURLU *u)
{
  char *v = NULL;
  if (curl_url_get(u, CURLUPART_USER, &v, 0) == CURLUE_OK) {
    curl_free(v);
    return 1;
  }
  return 0;
}

int acr_url_origin(const char *url, acr_origin *o)
{
  CURLU *u = curl_url();
  if (!u)
    return -1;
  int rc = -1;
  char port[16];
  if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && !has_userinfo(u) &&
      copy_part(u, CURLUPART_SCHEME, 0, o->scheme, sizeof o->scheme) == 0 &&
      copy_part(u, CURLUPART_HOST, 0, o->host, sizeof o->host) == 0 &&
      copy_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT, port, sizeof port) == 0 &&
      (!strcmp(o->scheme, "https") || !strcmp(o->scheme, "http"))) {
    size_t hl = strlen(o->host);
    if (hl >= 2 && o->host[0] == '[' && o->host[hl - 1] == ']') {
      memmove(o->host, o->host + 1, hl - 2);
      o->host[hl - 2] = '\0';
    }
    o->port = strtol(port, NULL, 10);
    rc = 0;
  }
  curl_url_cleanup(u);
  return rc;
}

int acr_origin_equal(const acr_origin *a, const acr_origin *b)
{
  return !strcmp(a->scheme, b->scheme) && !strcmp(a->host, b->host) && a->port == b->port;
}

/* Only addresses that cannot leave the machine: "127.0.0.0/8" as a literal IPv4
 * address (not a name that merely starts with "127."), "::1", "localhost". */
int acr_origin_is_loopback(const acr_origin *o)
{
  struct in_addr a4;
  if (inet_pton(AF_INET, o->host, &a4) == 1)
    return (ntohl(a4.s_addr) >> 24) == 127;
  return !strcmp(o->host, "localhost") || !strcmp(o->host, "::1");
}

int acr_url_resolve(const char *endpoint, const char *url, acr_buf *out)
{
  acr_buf_clear(out);
  if (url[0] == '/')
    return (acr_buf_adds(out, endpoint) || acr_buf_adds(out, url)) ? -1 : 0;
  if (strncasecmp(url, "https://", 8) && strncasecmp(url, "http://", 7))
    return -1;
  return acr_buf_adds(out, url);
}

/* Parameters are joined by '&'; the first follows the '?' directly. */
static int add_sep(acr_buf *dst)
{
  return dst->data[dst->len - 1] == '?' ? 0 : acr_buf_add(dst, "&", 1);
}

/* Copies the parameters of query q (without '?') except those named name. */
static int keep_other_params(acr_buf *dst, const char *q, size_t qlen, const char *name)
{
  size_t nlen = strlen(name), i = 0;
  while (i < qlen) {
    size_t j = i;
    while (j < qlen && q[j] != '&')
      j++;
    size_t klen = 0;
    while (i + klen < j && q[i + klen] != '=')
      klen++;
    int same = klen == nlen && !strncasecmp(q + i, name, nlen);
    if (j > i && !same) {
      if (add_sep(dst) || acr_buf_add(dst, q + i, j - i))
        return -1;
    }
    i = j + 1;
  }
  return 0;
}

int acr_url_set_param(acr_buf *url, const char *name, const char *value)
{
  const char *s = url->data;
  size_t len = url->len;
  const char *hash = memchr(s, '#', len);
  size_t end = hash ? (size_t)(hash - s) : len;
  const char *qm = memchr(s, '?', end);
  size_t path_len = qm ? (size_t)(qm - s) : end;
  acr_buf out = ACR_BUF_INIT;
  int rc = acr_buf_add(&out, s, path_len) || acr_buf_add(&out, "?", 1);
  if (!rc && qm)
    rc = keep_other_params(&out, qm + 1, end - path_len - 1, name);
  if (!rc && value) {
    rc = add_sep(&out) || acr_buf_adds(&out, name) || acr_buf_add(&out, "=", 1) ||
         acr_url_escape(&out, value, strlen(value));
  }
  if (!rc && out.data[out.len - 1] == '?')
    out.data[--out.len] = '\0';
  if (rc) {
    acr_buf_free(&out);
    return -1;
  }
  acr_buf_free(url);
  *url = out;
  return 0;
}

int acr_url_escape(acr_buf *out, const char *s, size_t len)
{
  static const char hex[] = "0123456789ABCDEF";
  if (acr_buf_reserve(out, len * 3) != 0)
    return -1;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    /* RFC 3986 unreserved, by ASCII value: isalnum would follow the host's locale */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      out->data[out->len++] = (char)c;
    } else {
      out->data[out->len++] = '%';
      out->data[out->len++] = hex[c >> 4];
      out->data[out->len++] = hex[c & 15];
    }
  }
  out->data[out->len] = '\0';
  return 0;
}
