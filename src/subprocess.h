/* Running a helper program (the Azure CLI, a secrets-exec program) without a shell:
 * argv is passed as is, so no argument can inject a command; stdin can be given bytes;
 * output is captured; a timeout kills it. */
#ifndef ACR_SUBPROCESS_H
#define ACR_SUBPROCESS_H

#include "buf.h"

typedef enum acr_run_status {
  ACR_RUN_OK = 0,        /* exited; see exit_code */
  ACR_RUN_NOT_FOUND,     /* argv[0] not found on PATH / not executable */
  ACR_RUN_TIMEOUT,       /* killed after timeout_ms */
  ACR_RUN_ERROR          /* could not start, or was killed by a signal; see err */
} acr_run_status;

/* What a run reads and writes. in: the bytes given on stdin through a pipe (in[0..inlen),
 * not copied: they must stay put until the run returns), or NULL for /dev/null. out and
 * err: where stdout and stderr are appended (each capped at 1 MiB; NULL discards). */
typedef struct acr_run_io {
  const void *in;
  size_t inlen;
  acr_buf *out, *err;
} acr_run_io;

/* Runs argv[0] (searched on PATH when it has no '/') with argv, waiting at most
 * timeout_ms, stdin and the output as io says (io NULL: /dev/null, discarded). stdin is
 * written as the program reads it, alongside reading its output, so no amount of
 * either blocks the run; a program that exits or closes stdin before reading all of it
 * is not an error (its exit status says how it went), and raises no SIGPIPE in the
 * host. It returns once the program has exited and what it wrote is read, even if
 * something it started still holds the pipes; what is left of its process group is
 * killed then. exit_code is set when ACR_RUN_OK. On a timeout the output read until
 * then is kept. */
acr_run_status acr_run_with(const char *const *argv, const acr_run_io *io, long timeout_ms,
                            int *exit_code, char *err, size_t errlen);

/* acr_run_with with stdin from /dev/null, stdout into out, stderr into errout. */
acr_run_status acr_run(const char *const *argv, long timeout_ms, acr_buf *out, acr_buf *errout,
                       int *exit_code, char *err, size_t errlen);

#endif
