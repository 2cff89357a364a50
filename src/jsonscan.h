/* A JSON reader that never makes a Lua value: it checks a document and copies a few
 * top-level members of an object straight into C buffers. Token responses go through
 * it, so an access token is only ever in memory the credential wipes; decoding them
 * with lua-cjson would leave it in Lua strings and in cjson's scratch buffer, freed
 * but not wiped. */
#ifndef ACR_JSONSCAN_H
#define ACR_JSONSCAN_H

#include <stddef.h>

#include "buf.h"

typedef enum acr_json_kind {
  ACR_JSON_ABSENT = 0,
  ACR_JSON_STRING,
  ACR_JSON_NUMBER,
  ACR_JSON_OTHER          /* null, true, false, an object or an array */
} acr_json_kind;

typedef struct acr_json_want {
  const char *key;        /* a member of the top-level object */
  acr_buf *text;          /* out: a string value, unescaped (appended); NULL: not kept */
  double *number;         /* out: a number, or a string that is exactly one; NULL: not kept */
  acr_json_kind kind;     /* out: what the member held (the last one, when repeated) */
} acr_json_want;

/* Checks that s[0..n) is one JSON value (blanks around it, at most 64 levels deep) and,
 * when it is an object, fills in the wanted members. Returns 1 for an object, 0 for any
 * other JSON value, -1 when the text is not JSON, -2 when memory ran out. Buffers may
 * have been written to whatever it returns: the caller wipes them. */
int acr_json_scan(const char *s, size_t n, acr_json_want *want, size_t nwant);

#endif
