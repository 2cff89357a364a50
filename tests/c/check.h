/* The checks of the unit tests in tests/c (every *_test.c): one
 * line on stderr per failed check, a summary on stdout, and check_exit() says 1 if any
 * failed.
 *
 * XFAIL is for a check that the code is known to fail today (a reported, still open
 * defect): while it fails it prints an XFAIL line and does not fail the run; once the
 * code is fixed it fails the run as XPASS, so that it moves to the ordinary checks. */
#ifndef ACR_TEST_CHECK_H
#define ACR_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int checks, failures, xfails;

static inline void report(const char *kind, int line, const char *fmt, va_list ap)
{
  fprintf(stderr, "%s line %d: ", kind, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

/* The core: ok or print "FAIL line N: <what>". */
static inline void check_at(int ok, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void check_at(int ok, int line, const char *fmt, ...)
{
  va_list ap;
  checks++;
  if (ok)
    return;
  failures++;
  va_start(ap, fmt);
  report("FAIL", line, fmt, ap);
  va_end(ap);
}

static inline void xfail_at(int ok, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void xfail_at(int ok, int line, const char *fmt, ...)
{
  va_list ap;
  checks++;
  va_start(ap, fmt);
  if (ok) {
    failures++;
    report("XPASS (fixed: make it an ordinary check)", line, fmt, ap);
  } else {
    xfails++;
    report("XFAIL", line, fmt, ap);
  }
  va_end(ap);
}

static inline void check_str_at(const char *got, const char *want, const char *what, int line)
{
  check_at(got && !strcmp(got, want), line, "%s is \"%s\", want \"%s\"", what,
           got ? got : "(null)", want);
}

#define CHECK(cond) check_at((cond) != 0, __LINE__, "%s", #cond)
#define CHECK_INT(got, want)                                                          \
  do {                                                                                \
    long got_ = (long)(got), want_ = (long)(want);                                    \
    check_at(got_ == want_, __LINE__, "%s is %ld, want %ld", #got, got_, want_);      \
  } while (0)
#define CHECK_STR(got, want) check_str_at((got), (want), #got, __LINE__)
/* lo <= got <= hi, for doubles */
#define CHECK_RANGE(got, lo, hi)                                                      \
  do {                                                                                \
    double got_ = (got), lo_ = (lo), hi_ = (hi);                                      \
    check_at(got_ >= lo_ && got_ <= hi_, __LINE__, "%s is %g, want %g..%g", #got, got_, \
             lo_, hi_);                                                               \
  } while (0)
/* A check with its own message (table-driven tests, where the expression says little). */
#define CHECKF(cond, ...) check_at((cond) != 0, __LINE__, __VA_ARGS__)
#define XFAIL(cond, ...) xfail_at((cond) != 0, __LINE__, __VA_ARGS__)

static inline int check_exit(void)
{
  printf("%d checks, %d failed, %d expected failures (XFAIL)\n", checks, failures, xfails);
  return failures ? 1 : 0;
}

#endif
