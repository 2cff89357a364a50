/* Tests for src/retry.c: which statuses are retried for which method, the server's
 * Retry-After in its three headers, and the backoff (../shared/DESIGN.md, "Behaviour").
 * Built and run by ctest (c/retry and c-asan/retry); by hand, from the repository root:
 *
 *   gcc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow \
 *       -Wstrict-prototypes -Wmissing-prototypes -g -Isrc \
 *       tests/c/retry_test.c src/retry.c -o /tmp/retry_test \
 *       $(pkg-config --libs libcurl) -lm && /tmp/retry_test */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "retry.h"

static void test_status(void)
{
  static const char *const safe[] = {"GET", "PUT", "DELETE", "HEAD"};
  static const char *const unsafe[] = {"POST", "PATCH"};
  static const long always[] = {429, 500, 503, 504};
  static const long safe_only[] = {408, 502};
  static const long never[] = {501, 505, 400, 401, 403, 404, 409, 412, 422, 499,
                               200, 201, 202, 204, 301, 304, 506, 599};
  for (int m = 0; m < 6; m++) {
    const char *method = m < 4 ? safe[m] : unsafe[m - 4];
    for (int i = 0; i < 4; i++)
      CHECKF(acr_retry_status(method, always[i], 0) == 1, "%s %ld is not retried", method,
             always[i]);
    for (int i = 0; i < 2; i++) {
      int got = acr_retry_status(method, safe_only[i], 0);
      CHECKF(got == (m < 4), "%s %ld: acr_retry_status is %d, want %d", method, safe_only[i],
             got, m < 4);
      /* a POST/PATCH known to be idempotent in effect is retried as a PUT is */
      CHECKF(acr_retry_status(method, safe_only[i], 1) == 1,
             "idempotent %s %ld is not retried", method, safe_only[i]);
    }
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
      CHECKF(acr_retry_status(method, never[i], 0) == 0, "%s %ld is retried", method, never[i]);
      CHECKF(acr_retry_status(method, never[i], 1) == 0, "idempotent %s %ld is retried",
             method, never[i]);
    }
  }
}

static void test_transport(void)
{
  CHECK_INT(acr_retry_transport("GET", 0), 1);
  CHECK_INT(acr_retry_transport("PUT", 0), 1);
  CHECK_INT(acr_retry_transport("DELETE", 0), 1);
  CHECK_INT(acr_retry_transport("HEAD", 0), 1);
  CHECK_INT(acr_retry_transport("POST", 0), 0);
  CHECK_INT(acr_retry_transport("PATCH", 0), 0);
  CHECK_INT(acr_retry_transport("POST", 1), 1);
  CHECK_INT(acr_retry_transport("PATCH", 1), 1);
}

/* acr_retry_after(NULL, NULL, ra) */
static double ra(const char *retry_after)
{
  return acr_retry_after(NULL, NULL, retry_after);
}

static void test_retry_after(void)
{
  /* whole seconds */
  CHECK_RANGE(ra("5"), 5, 5);
  CHECK_RANGE(ra("0"), 0, 0);
  CHECK_RANGE(ra("120"), 120, 120);
  /* huge: returned as they are, so that the caller refuses to sleep on them */
  CHECK_RANGE(ra("99999999999"), 99999999999.0, 99999999999.0);
  /* milliseconds, and which header wins */
  CHECK_RANGE(acr_retry_after("1500", NULL, NULL), 1.5, 1.5);
  CHECK_RANGE(acr_retry_after(NULL, "250", NULL), 0.25, 0.25);
  CHECK_RANGE(acr_retry_after("0", NULL, "30"), 0, 0);
  CHECK_RANGE(acr_retry_after("86400000", NULL, NULL), 86400, 86400);
  CHECK_RANGE(acr_retry_after("1000", "2000", "3"), 1, 1);
  CHECK_RANGE(acr_retry_after(NULL, "2000", "3"), 2, 2);
  CHECK_RANGE(acr_retry_after("", "", "3"), 3, 3);
  /* a value that does not parse is ignored: the next header counts */
  CHECK_RANGE(acr_retry_after("soon", "2000", "3"), 2, 2);
  CHECK_RANGE(acr_retry_after("-5", "x", "3"), 3, 3);
  CHECK_RANGE(acr_retry_after("1e400", NULL, "3"), 3, 3);
  /* absent or garbage everywhere */
  static const char *const garbage[] = {"", "soon", "later today", "5 apples", "12abc",
                                        "abc", "-5", "-1", "nan", "inf", "-inf", "1e400",
                                        "Someday, 99 Xyz 2015 99:99:99 GMT"};
  CHECK_RANGE(acr_retry_after(NULL, NULL, NULL), -1, -1);
  for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
    const char *g = garbage[i];
    CHECKF(ra(g) == -1, "Retry-After \"%s\" gives %g, want -1", g, ra(g));
    CHECKF(acr_retry_after(g, g, NULL) == -1, "retry-after-ms \"%s\" gives %g, want -1", g,
           acr_retry_after(g, g, NULL));
  }
  /* A value of blanks is no number (it once read as 0, and a blank retry-after-ms
   * overrode a valid Retry-After); nor is hexadecimal.
   */
  CHECKF(ra(" ") == -1, "Retry-After \" \" gives %g, want -1", ra(" "));
  CHECKF(acr_retry_after("\t", NULL, "5") == 5, "retry-after-ms \"\\t\" gives %g, want 5",
         acr_retry_after("\t", NULL, "5"));
  CHECKF(ra("0x10") == -1, "Retry-After \"0x10\" gives %g, want -1", ra("0x10"));
  CHECKF(acr_retry_after("0x10", NULL, "3") == 3, "retry-after-ms \"0x10\" gives %g, want 3",
        acr_retry_after("0x10", NULL, "3"));
}

static void test_retry_after_date(void)
{
  /* HTTP-dates in the past mean now, in the three formats of RFC 9110 */
  CHECK_RANGE(ra("Wed, 21 Oct 2015 07:28:00 GMT"), 0, 0);
  CHECK_RANGE(ra("Sunday, 06-Nov-94 08:49:37 GMT"), 0, 0);
  CHECK_RANGE(ra("Sun Nov  6 08:49:37 1994"), 0, 0);
  /* two minutes ahead */
  char date[64];
  time_t t = time(NULL) + 120;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  CHECKF(ra(date) >= 115 && ra(date) <= 120, "Retry-After \"%s\" gives %g, want 115..120",
         date, ra(date));
  /* a date is no number of milliseconds */
  CHECKF(acr_retry_after(date, NULL, NULL) == -1, "retry-after-ms \"%s\" gives %g, want -1",
         date, acr_retry_after(date, NULL, NULL));
  CHECKF(acr_retry_after(NULL, date, NULL) == -1,
         "x-ms-retry-after-ms \"%s\" gives %g, want -1", date,
         acr_retry_after(NULL, date, NULL));
}

/* n draws of backoff n with one seed: all within lo..hi, and spread over most of it. */
static void backoff_draws(const acr_retry_policy *p, int n, double lo, double hi)
{
  unsigned seed = 12345;
  double min = INFINITY, max = -INFINITY, sum = 0;
  for (int i = 0; i < 1000; i++) {
    double d = acr_retry_backoff(p, n, &seed);
    min = d < min ? d : min;
    max = d > max ? d : max;
    sum += d;
  }
  CHECKF(min >= lo && max <= hi, "backoff %d with base %g: %g..%g, want within %g..%g", n,
         p->base_delay, min, max, lo, hi);
  /* +-20% jitter is drawn over the whole range, centred on (2^n - 1) * base */
  CHECKF(min < lo + (hi - lo) * 0.1 && max > hi - (hi - lo) * 0.1,
         "backoff %d with base %g: %g..%g does not spread over %g..%g", n, p->base_delay, min,
         max, lo, hi);
  double mid = (lo + hi) / 2;
  CHECKF(fabs(sum / 1000 - mid) < mid * 0.03, "backoff %d with base %g: mean %g, want %g", n,
         p->base_delay, sum / 1000, mid);
}

static void test_backoff(void)
{
  const acr_retry_policy dflt = ACR_RETRY_DEFAULT;
  CHECK_INT(dflt.max_retries, 3);
  CHECK_RANGE(dflt.base_delay, 0.8, 0.8);
  CHECK_RANGE(dflt.max_delay, 60, 60);
  /* (2^n - 1) * 0.8 s, +-20% */
  for (int n = 1; n <= 5; n++) {
    double d = (double)((1 << n) - 1) * 0.8;
    backoff_draws(&dflt, n, d * 0.8, d * 1.2);
  }
  const acr_retry_policy p = {3, 2.0, 1000.0};
  backoff_draws(&p, 3, 7 * 2.0 * 0.8, 7 * 2.0 * 1.2);

  /* capped at max_delay: 63 * 0.8 = 50.4 s +-20% straddles 60 s; from n = 7 always 60 s */
  unsigned seed = 7;
  int capped = 0;
  for (int i = 0; i < 200; i++) {
    double d = acr_retry_backoff(&dflt, 6, &seed);
    CHECKF(d >= 50.4 * 0.8 && d <= 60, "backoff 6: %g, want 40.32..60", d);
    capped += d == 60;
  }
  CHECKF(capped > 0 && capped < 200, "backoff 6: %d of 200 draws at the cap", capped);
  static const int big[] = {7, 10, 30, 31, 64, 1000, INT_MAX};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
    double d = acr_retry_backoff(&dflt, big[i], &seed);
    CHECKF(d == 60, "backoff %d is %g, want 60", big[i], d);
  }
  const acr_retry_policy small = {3, 1.0, 5.0};
  CHECK_RANGE(acr_retry_backoff(&small, 2, &seed), 2.4, 3.6);
  CHECK_RANGE(acr_retry_backoff(&small, 3, &seed), 5, 5);
  const acr_retry_policy zero = {3, 0.0, 60.0};
  CHECK_RANGE(acr_retry_backoff(&zero, 3, &seed), 0, 0);

  /* the seed is the client's PRNG state: it advances, and it reproduces */
  unsigned a = 1, b = 1, c = 2;
  double a1 = acr_retry_backoff(&dflt, 3, &a), a2 = acr_retry_backoff(&dflt, 3, &a);
  double b1 = acr_retry_backoff(&dflt, 3, &b), b2 = acr_retry_backoff(&dflt, 3, &b);
  double c1 = acr_retry_backoff(&dflt, 3, &c);
  CHECK(a1 == b1 && a2 == b2);
  CHECK(a1 != a2);
  CHECK(a1 != c1);
}

int main(void)
{
  test_status();
  test_transport();
  test_retry_after();
  test_retry_after_date();
  test_backoff();
  return check_exit();
}
