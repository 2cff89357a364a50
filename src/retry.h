/* Retry decisions and delays, as azure-core's RetryPolicy makes them. */
#ifndef ACR_RETRY_H
#define ACR_RETRY_H

typedef struct acr_retry_policy {
  int max_retries;     /* 3 */
  double base_delay;   /* 0.8 s */
  double max_delay;    /* 60 s: a longer Retry-After is not slept on */
} acr_retry_policy;

#define ACR_RETRY_DEFAULT {3, 0.8, 60.0}

/* Whether an HTTP status is worth another try for this method. idempotent: the
 * operation may be repeated safely even if its method is POST/PATCH. */
int acr_retry_status(const char *method, long status, int idempotent);
/* Whether a transport failure (connection refused/dropped, timeout) is. */
int acr_retry_transport(const char *method, int idempotent);

/* The server's wait in seconds from retry-after-ms, x-ms-retry-after-ms or
 * Retry-After (seconds or an HTTP date); -1 when absent or unparsable. */
double acr_retry_after(const char *retry_after_ms, const char *x_ms_retry_after_ms,
                       const char *retry_after);

/* Exponential backoff for retry number n (1-based): (2^n - 1) * base, +-20% jitter,
 * capped at max_delay. seed: per-client PRNG state. */
double acr_retry_backoff(const acr_retry_policy *p, int n, unsigned *seed);

#endif
