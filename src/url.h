/* URLs: the one reader of URLs (origins, resolving references, the canonical form), and
 * setting one query parameter. */
#ifndef ACR_URL_H
#define ACR_URL_H

#include "buf.h"

typedef struct acr_origin {
  char scheme[8];     /* "http" or "https" */
  char host[256];     /* lower-case; IPv6 without brackets */
  long port;          /* explicit or the scheme's default */
} acr_origin;

/* Reads an absolute http(s) URL: 0 ok, -1 refused. Refused: anything but printable
 * ASCII, '\\', user info, '%' in the authority, an empty port, a port with a leading
 * zero, and a host whose last label starts with a digit unless it is a dotted quad
 * ("127.1", "0x7f000001" and "2130706433" would be read as addresses by other readers). */
int acr_url_origin(const char *url, acr_origin *o);
int acr_origin_equal(const acr_origin *a, const acr_origin *b);
int acr_origin_is_loopback(const acr_origin *o);

/* Appends scheme://host[:port], the port only when it is not the scheme's default. */
int acr_origin_format(const acr_origin *o, acr_buf *out);

/* Resolves reference ref against the absolute URL base (RFC 3986 §5.2): absolute,
 * "//authority/path", "/path", "path", "?query" or "". out gets the canonical URL that
 * is sent: scheme://host[:port]/path[?query], lower-case scheme and host, no default
 * port, no dot segments, no fragment; *o its origin. 0 ok, -1 refused (as
 * acr_url_origin) or out of memory. Whether the result may be followed is the
 * caller's check of *o. */
int acr_url_resolve(const char *base, const char *ref, acr_buf *out, acr_origin *o);

/* Sets name=value in url's query, replacing every parameter whose name matches
 * case-insensitively; value NULL removes it. url is rewritten in place. 0 ok, -1 OOM. */
int acr_url_set_param(acr_buf *url, const char *name, const char *value);

/* Appends s percent-encoded (RFC 3986 unreserved kept). */
int acr_url_escape(acr_buf *out, const char *s, size_t len);

#endif
