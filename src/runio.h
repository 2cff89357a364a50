/* The parent's end of a run's pipes (subprocess.c): the program's stdin fed from a
 * buffer, its stdout and stderr drained into buffers, all three behind one poll, so
 * that however much each side writes neither can block the other. */
#ifndef ACR_RUNIO_H
#define ACR_RUNIO_H

#include <stddef.h>

#include "buf.h"

#define ACR_RUN_OUTPUT_CAP ((size_t)1024 * 1024)   /* kept of stdout, of stderr */

/* One output pipe of the child; what is kept of it goes to buf (NULL discards). */
typedef struct acr_run_out {
  int fd;
  acr_buf *buf;
  size_t kept;
} acr_run_out;

/* The child's stdin: data[off..len) is still to be written; fd is closed at the end
 * so that the program sees EOF. broken: the program closed its end first (EPIPE). */
typedef struct acr_run_in {
  int fd;
  const char *data;
  size_t len, off;
  int broken;
} acr_run_in;

typedef struct acr_run_pipes {
  acr_run_in in;
  acr_run_out out[2];   /* stdout, stderr */
  int oom;              /* a buffer could not grow: some output is lost */
} acr_run_pipes;

#define ACR_RUN_PIPES_INIT {{-1, NULL, 0, 0, 0}, {{-1, NULL, 0}, {-1, NULL, 0}}, 0}

/* Closes *fd when open, and sets it to -1. */
void acr_close_fd(int *fd);
/* fd moved to a close-on-exec descriptor >= 3 (fd itself when already >= 3); -1 on
 * failure, fd closed. */
int acr_high_fd(int fd);
/* pipe(2) with both ends close-on-exec and >= 3; 0 or -1. */
int acr_cloexec_pipe(int p[2]);
int acr_nonblocking(int fd);

/* Waits up to wait_ms for the pipes (with all closed, it only waits), writes what the
 * stdin pipe takes and reads what came. 1 when something moved, 0 when not, -1 when
 * poll failed. Closes the stdin pipe once all is written or the program closed it. */
int acr_run_pump(acr_run_pipes *p, int wait_ms);

/* After the exit: what the output pipes hold now, then every pipe is closed. */
void acr_run_finish(acr_run_pipes *p);

#endif
