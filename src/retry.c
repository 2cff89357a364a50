/* Retry rules. GET/PUT/DELETE/HEAD retry on 408, 429, 500, 502, 503, 504 and on
 * transport failures. POST and PATCH only on 429, 500, 503, 504, where the service
 * said it did not act, unless the operation is known to be idempotent in effect. */
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retry.h"

static int method_is_safe(const char *method)
{
  return !strcmp(method, "GET") || !strcmp(method, "PUT") || !strcmp(method, "DELETE") ||
         !strcmp(method, "HEAD") || !strcmp(method, "OPTIONS");
}

int acr_retry_status(const char *method, long status, int idempotent)
{
  switch (status) {
  case 429: case 500: case 503: case 504:
    return 1;
  case 408: case 502:
    return idempotent || method_is_safe(method);
  default:
    return 0;
  }
}

int acr_retry_transport(const char *method, int idempotent)
{
  return idempotent || method_is_safe(method);
}

/* A non-negative decimal number (digits, an optional fraction) filling the whole string
 * but for blanks around it, else -1. Not strtod: it also reads signs, exponents, hex
 * ("0x10"), "inf" and "nan", none of which is a number of seconds. */
static double parse_number(const char *s)
{
  if (!s)
    return -1;
  while (*s == ' ' || *s == '\t')
    s++;
  /* One pass, our own conversion: strtod would follow the host's LC_NUMERIC decimal
   * point. */
  double v = 0, scale = 1;
  int digits = 0, frac = 0;
  const char *p = s;
  for (; (*p >= '0' && *p <= '9') || (*p == '.' && !frac); p++) {
    if (*p == '.') {
      frac = 1;
    } else if (frac) {
      scale /= 10;
      v += (*p - '0') * scale;
      digits = 1;
    } else {
      v = v * 10 + (*p - '0');
      digits = 1;
    }
  }
  const char *end = p;
  while (*p == ' ' || *p == '\t')
    p++;
  if (!digits || *p || end - s > 32)
    return -1;
  return v;
}

double acr_retry_after(const char *retry_after_ms, const char *x_ms_retry_after_ms,
                       const char *retry_after)
{
  double v = parse_number(retry_after_ms);
  if (v >= 0)
    return v / 1000.0;
  v = parse_number(x_ms_retry_after_ms);
  if (v >= 0)
    return v / 1000.0;
  v = parse_number(retry_after);
  if (v >= 0)
    return v;
  if (retry_after && *retry_after) {
    time_t when = curl_getdate(retry_after, NULL);
    if (when != (time_t)-1) {
      double d = difftime(when, time(NULL));
      return d > 0 ? d : 0;
    }
  }
  return -1;
}

double acr_retry_backoff(const acr_retry_policy *p, int n, unsigned *seed)
{
  if (n > 30)
    n = 30;
  double d = (ldexp(1.0, n) - 1.0) * p->base_delay;
  double jitter = 0.8 + 0.4 * ((double)rand_r(seed) / (double)RAND_MAX);
  d *= jitter;
  return d > p->max_delay ? p->max_delay : d;
}
