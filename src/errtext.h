/* A service's own words for an error message: bounded, one line, safe to print. */
#ifndef ACR_ERRTEXT_H
#define ACR_ERRTEXT_H

#include <stddef.h>

/* The most bytes a message taken from a body may have, "..." included. */
#define ACR_ERRTEXT_MAX 512
/* The same for ARM's own {"error":{"message"}}, which can list every invalid field. */
#define ACR_ERRTEXT_ARM_MAX 4096

/* Writes into out (cap bytes, at least 4; at most ACR_ERRTEXT_ARM_MAX + 1 are used) the text
 * of in[0..len): control bytes, C1 controls and terminal escape sequences become a
 * blank, invalid UTF-8 a '?', runs of blanks one blank, with none at either end; tags
 * are dropped (and <script>/<style> with what they hold) when the text starts with '<';
 * "Bearer <token>" and JWTs (a page echoing the request) become "[redacted]".
 * A text cut to fit ends in "..." at a character boundary. Returns the length written
 * (0: nothing printable). */
size_t acr_errtext_clean(const char *in, size_t len, char *out, size_t cap);

#endif
