/* Running a helper program (the Azure CLI) without a shell: argv is passed as is, so
 * no argument can inject a command; output is captured; a timeout kills it. */
#ifndef ACR_SUBPROCESS_H
#define ACR_SUBPROCESS_H

#include "buf.h"

typedef enum acr_run_status {
  ACR_RUN_OK = 0,        /* exited; see exit_code */
  ACR_RUN_NOT_FOUND,     /* argv[0] not found on PATH / not executable */
  ACR_RUN_TIMEOUT,       /* killed after timeout_ms */
  ACR_RUN_ERROR          /* could not start, or was killed by a signal; see err */
} acr_run_status;

/* Runs argv[0] (searched on PATH when it has no '/') with argv, stdin from /dev/null,
 * stdout into out and stderr into errout (each capped at 1 MiB), waiting at most
 * timeout_ms. It returns once the program has exited and what it wrote is read, even
 * if something it started still holds the pipes; what is left of its process group is
 * killed then. exit_code is set when ACR_RUN_OK. */
acr_run_status acr_run(const char *const *argv, long timeout_ms, acr_buf *out, acr_buf *errout,
                       int *exit_code, char *err, size_t errlen);

#endif
