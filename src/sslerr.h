/* Messages made of OpenSSL's error queue (see sslerr.c). */
#ifndef ACR_SSLERR_H
#define ACR_SSLERR_H

#include <stddef.h>

/* Writes what to err, then ": lib: reason; lib: reason…" for the queued OpenSSL errors
 * (each once), emptying the queue; with no err, only empties it. */
void acr_ssl_error(char *err, size_t errlen, const char *what);

#endif
