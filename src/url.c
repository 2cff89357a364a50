/* URL handling. One reader decides what a URL points at, and it is ours, not
 * libcurl's: libcurl reads "127.1", "0x7f000001" or "local%68ost" as the loopback host
 * while acr.resty would connect to the literal name. So a URL is accepted only in a
 * form every reader reads alike (plain ASCII, no user info, no percent-encoding or
 * numeric tricks in the host), references are resolved here (RFC 3986 §5.2), and what
 * is sent is the canonical form built here: lower-case scheme and host, no default
 * port, no dot segments, no fragment. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"

/* The parts of a URI reference (RFC 3986 appendix B); lengths, not copies. */
typedef struct uref {
  const char *scheme, *auth, *path, *query;
  size_t scheme_len, auth_len, path_len, query_len;
  int has_scheme, has_auth, has_query;
} uref;

static char lower(char c)
{
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int is_digit(char c)
{
  return c >= '0' && c <= '9';
}

/* Printable ASCII without '\\': what is left cannot be split or read two ways. */
static int plain(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || *s == '\\')
      return 0;
  return 1;
}

/* The last c in p[0..n), or NULL (memrchr is a GNU extension). */
static const char *last_of(const char *p, size_t n, char c)
{
  while (n--)
    if (p[n] == c)
      return p + n;
  return NULL;
}

static void split(const char *s, uref *r)
{
  memset(r, 0, sizeof *r);
  size_t n = strcspn(s, ":/?#");
  if (n > 0 && s[n] == ':') {
    r->has_scheme = 1;
    r->scheme = s;
    r->scheme_len = n;
    s += n + 1;
  }
  if (s[0] == '/' && s[1] == '/') {
    r->has_auth = 1;
    r->auth = s + 2;
    r->auth_len = strcspn(r->auth, "/?#");
    s = r->auth + r->auth_len;
  }
  r->path = s;
  r->path_len = strcspn(s, "?#");
  s += r->path_len;
  if (*s == '?') {
    r->has_query = 1;
    r->query = s + 1;
    r->query_len = strcspn(r->query, "#");
  }
}

/* 1..65535 in decimal, without a leading zero: "" and "08" are refused, not guessed. */
static long read_port(const char *p, size_t n)
{
  if (n == 0 || n > 5 || p[0] == '0')
    return -1;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(p[i]))
      return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v <= 65535 ? v : -1;
}

/* a.b.c.d, each 0..255 without leading zeros: the only numeric host accepted. */
static int dotted_quad(const char *h)
{
  struct in_addr a;
  return inet_pton(AF_INET, h, &a) == 1;
}

/* A name: letters, digits, '-', '_' and '.' between non-empty labels. A name whose
 * last label starts with a digit must be a dotted quad: other readers take "127.1",
 * "2130706433" or "0x7f000001" for an address. */
static int host_name_ok(const char *h, size_t n)
{
  if (n == 0 || h[0] == '.' || h[n - 1] == '.')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    int ok = (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_' || c == '.';
    if (!ok || (c == '.' && h[i + 1] == '.'))
      return 0;
  }
  const char *last = last_of(h, n, '.');
  last = last ? last + 1 : h;
  return !is_digit(*last) || dotted_quad(h);
}

/* host[:port] or [v6][:port], into o->host (lower case, v6 without brackets). */
static int read_authority(const char *a, size_t n, acr_origin *o)
{
  size_t hl = n;
  const char *colon = NULL;
  int v6 = n > 0 && a[0] == '[';
  if (v6) {
    const char *close = memchr(a, ']', n);
    if (!close)
      return -1;
    hl = (size_t)(close - a) + 1;
    if (hl < n && a[hl] != ':')
      return -1;
    colon = hl < n ? a + hl : NULL;
  } else {
    colon = memchr(a, ':', n);
    hl = colon ? (size_t)(colon - a) : n;
  }
  size_t inner = v6 ? hl - 2 : hl;
  if (inner == 0 || inner >= sizeof o->host)
    return -1;
  for (size_t i = 0; i < inner; i++)
    o->host[i] = lower(a[i + (v6 ? 1 : 0)]);
  o->host[inner] = '\0';
  if (v6) {
    struct in6_addr a6;
    if (strspn(o->host, "0123456789abcdef:.") != inner || inet_pton(AF_INET6, o->host, &a6) != 1)
      return -1;
  } else if (!host_name_ok(o->host, inner)) {
    return -1;
  }
  o->port = colon ? read_port(colon + 1, n - (size_t)(colon + 1 - a))
                  : (!strcmp(o->scheme, "https") ? 443 : 80);
  return o->port > 0 ? 0 : -1;
}

static int read_scheme(const uref *r, acr_origin *o)
{
  if (r->scheme_len == 4 && !strncasecmp(r->scheme, "http", 4))
    strcpy(o->scheme, "http");
  else if (r->scheme_len == 5 && !strncasecmp(r->scheme, "https", 5))
    strcpy(o->scheme, "https");
  else
    return -1;
  return 0;
}

/* User info ("https://a@b/" is b) and percent-encoding are refused outright. */
static int read_origin(const uref *r, acr_origin *o)
{
  if (read_scheme(r, o) != 0 || !r->has_auth || memchr(r->auth, '@', r->auth_len) ||
      memchr(r->auth, '%', r->auth_len))
    return -1;
  return read_authority(r->auth, r->auth_len, o);
}

int acr_url_origin(const char *url, acr_origin *o)
{
  uref r;
  if (!plain(url))
    return -1;
  split(url, &r);
  return r.has_scheme ? read_origin(&r, o) : -1;
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

int acr_origin_format(const acr_origin *o, acr_buf *out)
{
  char port[16] = "";
  int v6 = strchr(o->host, ':') != NULL;
  if (o->port != (!strcmp(o->scheme, "https") ? 443 : 80))
    snprintf(port, sizeof port, ":%ld", o->port);
  return acr_buf_adds(out, o->scheme) || acr_buf_adds(out, v6 ? "://[" : "://") ||
         acr_buf_adds(out, o->host) || acr_buf_adds(out, v6 ? "]" : "") ||
         acr_buf_adds(out, port);
}

/* Appends path p (absolute) without "." and ".." segments (RFC 3986 §5.2.4); out
 * already holds scheme://authority, which ".." never climbs above. */
static int add_path(acr_buf *out, const char *p, size_t n)
{
  size_t root = out->len, i = 0;
  int rc = 0;
  while (rc == 0 && i < n) {
    size_t j = i + 1;
    while (j < n && p[j] != '/')
      j++;
    size_t sl = j - i - 1;
    const char *seg = p + i + 1;
    int dot = sl == 1 && seg[0] == '.', dots = sl == 2 && seg[0] == '.' && seg[1] == '.';
    if (dots) {
      while (out->len > root && out->data[--out->len] != '/')
        ;
      out->data[out->len] = '\0';
    }
    if (dot || dots)
      rc = j == n ? acr_buf_add(out, "/", 1) : 0;
    else
      rc = acr_buf_add(out, p + i, j - i);
    i = j;
  }
  return rc;
}

/* The target's path: the reference's, or merged with the base's directory. */
static int add_target_path(acr_buf *out, const uref *b, const uref *r)
{
  if (r->has_scheme || r->has_auth || (r->path_len && r->path[0] == '/'))
    return add_path(out, r->path, r->path_len);
  if (!r->path_len)
    return add_path(out, b->path, b->path_len);
  acr_buf merged = ACR_BUF_INIT;
  const char *slash = b->path_len ? last_of(b->path, b->path_len, '/') : NULL;
  size_t dir = slash ? (size_t)(slash - b->path) + 1 : 0;
  int rc = acr_buf_add(&merged, "/", dir ? 0 : 1) || acr_buf_add(&merged, b->path, dir) ||
           acr_buf_add(&merged, r->path, r->path_len) ||
           add_path(out, merged.data, merged.len);
  acr_buf_free(&merged);
  return rc;
}

int acr_url_resolve(const char *base, const char *ref, acr_buf *out, acr_origin *o)
{
  uref b, r;
  acr_buf_clear(out);
  if (!plain(base) || !plain(ref))
    return -1;
  split(base, &b);
  split(ref, &r);
  if (!b.has_scheme || read_origin(&b, o) != 0)
    return -1;
  if (r.has_scheme || r.has_auth) {
    /* "//host/x" is a network-path reference: the base's scheme, its own authority */
    uref t = r;
    if (!r.has_scheme) {
      t.has_scheme = 1;
      t.scheme = b.scheme;
      t.scheme_len = b.scheme_len;
    }
    if (read_origin(&t, o) != 0)
      return -1;
  }
  const uref *q = (r.has_scheme || r.has_auth || r.path_len || r.has_query) ? &r : &b;
  int rc = acr_origin_format(o, out);
  size_t mark = out->len;
  rc = rc || add_target_path(out, &b, &r);
  if (!rc && out->len == mark)
    rc = acr_buf_add(out, "/", 1);
  if (!rc && q->has_query)
    rc = acr_buf_add(out, "?", 1) || acr_buf_add(out, q->query, q->query_len);
  return rc ? -1 : 0;
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
