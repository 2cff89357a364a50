/* OpenSSL's error queue as message text, for the certificate loader (cert.c) and the
 * client assertion (jwt.c). Their OpenSSL calls that can fail start with an empty queue
 * and drain it into the message afterwards, so messages are specific and no stale error
 * leaks into a later call. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "sslerr.h"

/* Appends ": lib: reason; lib: reason…" for the queued OpenSSL errors (each code once:
 * decoders retry and repeat themselves), emptying the queue. OpenSSL's own texts carry
 * no secrets (the password is never part of one). */
static void drain_errors(char *err, size_t errlen)
{
  size_t n = strlen(err);
  const char *sep = ": ";
  unsigned long e, seen[8];
  int nseen = 0, i, dup;
  const char *data;
  int flags;
  while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
    for (dup = 0, i = 0; i < nseen; i++)
      dup |= seen[i] == e;
    if (dup)
      continue;
    if (nseen < 8)
      seen[nseen++] = e;
    const char *lib = ERR_lib_error_string(e);
    const char *reason = ERR_reason_error_string(e);
    char one[320];
    if (reason)
      snprintf(one, sizeof one, "%s%s%s", lib ? lib : "", lib ? ": " : "", reason);
    else
      snprintf(one, sizeof one, "error %lu", e);
    if ((flags & ERR_TXT_STRING) && data && *data) {
      size_t m = strlen(one);
      snprintf(one + m, sizeof one - m, " (%s)", data);
    }
    if (n + 1 < errlen) {
      snprintf(err + n, errlen - n, "%s%s", sep, one);
      n += strlen(err + n);
    }
    sep = "; ";
  }
}

/* Writes "<what>" to err, then the OpenSSL errors (if any). */
void acr_ssl_error(char *err, size_t errlen, const char *what)
{
  if (!err || errlen == 0) {
    ERR_clear_error();
    return;
  }
  snprintf(err, errlen, "%s", what);
  drain_errors(err, errlen);
}
