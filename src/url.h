/* URLs: the origin a URL points at, resolving paths against the endpoint, and
 * setting one query parameter. */
#ifndef ACR_URL_H
#define ACR_URL_H

#include "buf.h"

typedef struct acr_origin {
  char scheme[8];     /* "http" or "https" */
  char host[256];     /* lower-case; IPv6 without brackets */
  long port;          /* explicit or the scheme's default */
} acr_origin;

/* 0 ok, -1 not an absolute http(s) URL (or has user info: "https://a@b/" hides b). */
int acr_url_origin(const char *url, acr_origin *o);
int acr_origin_equal(const acr_origin *a, const acr_origin *b);
int acr_origin_is_loopback(const acr_origin *o);

/* out = url when absolute, endpoint + url when it starts with '/'. 0 ok, -1 neither. */
int acr_url_resolve(const char *endpoint, const char *url, acr_buf *out);

/* Sets name=value in url's query, replacing every parameter whose name matches
 * case-insensitively; value NULL removes it. url is rewritten in place. 0 ok, -1 OOM. */
int acr_url_set_param(acr_buf *url, const char *name, const char *value);

/* Appends s percent-encoded (RFC 3986 unreserved kept). */
int acr_url_escape(acr_buf *out, const char *s, size_t len);

#endif
