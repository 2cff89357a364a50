/* The program runs of the unit tests that start processes (auth_parts_test.c,
 * sys_test.c): what acr_run / acr_run_with (src/subprocess.c) gave, and how long it took. */
#ifndef ACR_TEST_RUN_H
#define ACR_TEST_RUN_H

#include <string.h>
#include <time.h>

#include "subprocess.h"

struct run {
  acr_run_status st;
  acr_buf out, err;
  int code;
  char msg[256];
  double secs;
};

static inline double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* argv through acr_run: no stdin. */
static inline void run(struct run *r, long timeout_ms, const char *const *argv)
{
  double t0 = now_s();
  memset(r, 0, sizeof *r);
  r->st = acr_run(argv, timeout_ms, &r->out, &r->err, &r->code, r->msg, sizeof r->msg);
  r->secs = now_s() - t0;
}

/* argv through acr_run_with, with inlen bytes of in on its stdin. */
static inline void run_in(struct run *r, long timeout_ms, const char *in, size_t inlen,
                          const char *const *argv)
{
  acr_run_io io;
  double t0 = now_s();
  memset(r, 0, sizeof *r);
  memset(&io, 0, sizeof io);
  io.in = in;
  io.inlen = inlen;
  io.out = &r->out;
  io.err = &r->err;
  r->st = acr_run_with(argv, &io, timeout_ms, &r->code, r->msg, sizeof r->msg);
  r->secs = now_s() - t0;
}

static inline void run_free(struct run *r)
{
  acr_buf_free(&r->out);
  acr_buf_free(&r->err);
}

static inline const char *str(const acr_buf *b)
{
  return b->data ? b->data : "";
}

#endif
