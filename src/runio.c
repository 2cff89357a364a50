/* See runio.h. Our ends of the pipes are non-blocking: a read takes what is there, a
 * write what fits, and poll says when to come back. The child's ends are other open
 * files, unaffected. SIGPIPE is the caller's to hold off (acr_run blocks it while it
 * feeds a program): here a program that stops reading shows up only as EPIPE. */

/* pipe2 is a GNU extension in glibc (POSIX only gained it in 2024); the rest is POSIX.1-2008. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "runio.h"

#define CHUNK 65536   /* a pipe's default capacity on Linux */

void acr_close_fd(int *fd)
{
  if (*fd >= 0) {
    /* Not retried on EINTR: on Linux the descriptor is gone either way. */
    close(*fd);
    *fd = -1;
  }
}

/* Numbered 3 or above, so that the child's dup2 onto 0, 1 and 2 can never overwrite
 * one of its own sources (the host may have closed stdio). */
int acr_high_fd(int fd)
{
  int hi;
  if (fd < 0 || fd > 2)
    return fd;
  hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return hi;
}

int acr_cloexec_pipe(int p[2])
{
#if defined(__linux__)
  if (pipe2(p, O_CLOEXEC) != 0)
    return -1;
#else
  /* Without pipe2 a fork in another thread can inherit these for a moment. */
  if (pipe(p) != 0)
    return -1;
  if (fcntl(p[0], F_SETFD, FD_CLOEXEC) == -1 || fcntl(p[1], F_SETFD, FD_CLOEXEC) == -1) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
#endif
  p[0] = acr_high_fd(p[0]);
  p[1] = acr_high_fd(p[1]);
  if (p[0] < 0 || p[1] < 0) {
    acr_close_fd(&p[0]);
    acr_close_fd(&p[1]);
    return -1;
  }
  return 0;
}

int acr_nonblocking(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  return fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ? -1 : 0;
}

/* Reads once from s->fd, keeping at most ACR_RUN_OUTPUT_CAP and discarding the rest
 * (the child must not block on a full pipe). The bytes read; 0 when there is nothing
 * right now; -1 at EOF, having closed s->fd (a read error counts as EOF). */
static ssize_t drain(acr_run_out *s, int *oom)
{
  char chunk[CHUNK];
  ssize_t n;
  do
    n = read(s->fd, chunk, sizeof chunk);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  if (n <= 0) {
    acr_close_fd(&s->fd);
    return -1;
  }
  if (s->buf && s->kept < ACR_RUN_OUTPUT_CAP) {
    size_t take = (size_t)n;
    if (take > ACR_RUN_OUTPUT_CAP - s->kept)
      take = ACR_RUN_OUTPUT_CAP - s->kept;
    if (acr_buf_add(s->buf, chunk, take) != 0)
      *oom = 1;
    s->kept += take;
  }
  acr_cleanse(chunk, (size_t)n);   /* az's output holds its token */
  return n;
}

/* Writes what the stdin pipe takes now. 1 when some went, 0 when none fit. The pipe
 * is closed once all is written (the program reads EOF), or when the program closed
 * its end: EPIPE is how a program that exits without reading all of it shows, and its
 * exit status, not this, says how it went. Any other error, or a write that takes
 * nothing, ends the feeding too. */
static int feed(acr_run_in *in)
{
  size_t left = in->len - in->off;
  ssize_t n;
  if (left > CHUNK)
    left = CHUNK;
  do
    n = left ? write(in->fd, in->data + in->off, left) : 0;
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  if (n < 0 || (n == 0 && left > 0)) {
    /* (a write that takes nothing would be tried again on every poll, for ever) */
    in->broken = n < 0 && errno == EPIPE;
    acr_close_fd(&in->fd);
    return 1;
  }
  in->off += (size_t)n;
  if (in->off == in->len)
    acr_close_fd(&in->fd);
  return 1;
}

/* After the exit: what the pipe holds now, then it is closed. A pipe holds at most
 * pipe-max-size (1 MiB unless root raised it); reading more than that means a process
 * outside the group (one that called setsid) is still writing, and we do not wait for it. */
static void drain_rest(acr_run_out *s, int *oom)
{
  size_t got = 0;
  ssize_t n;
  while (s->fd >= 0 && got <= ACR_RUN_OUTPUT_CAP && (n = drain(s, oom)) > 0)
    got += (size_t)n;
  acr_close_fd(&s->fd);
}

void acr_run_finish(acr_run_pipes *p)
{
  acr_close_fd(&p->in.fd);
  drain_rest(&p->out[0], &p->oom);
  drain_rest(&p->out[1], &p->oom);
}

int acr_run_pump(acr_run_pipes *p, int wait_ms)
{
  struct pollfd fds[3];
  acr_run_out *of[3];
  nfds_t nfds = 0, i;
  int got = 0;
  if (p->in.fd >= 0 && p->in.off == p->in.len)
    acr_close_fd(&p->in.fd);   /* nothing (left) to give: EOF at once */
  if (p->in.fd >= 0) {
    fds[nfds].fd = p->in.fd;
    fds[nfds].events = POLLOUT;
    fds[nfds].revents = 0;
    of[nfds++] = NULL;
  }
  for (i = 0; i < 2; i++) {
    if (p->out[i].fd < 0)
      continue;
    fds[nfds].fd = p->out[i].fd;
    fds[nfds].events = POLLIN;
    fds[nfds].revents = 0;
    of[nfds++] = &p->out[i];
  }
  if (poll(fds, nfds, wait_ms) < 0)
    return errno == EINTR ? 0 : -1;
  for (i = 0; i < nfds; i++) {
    if (!fds[i].revents)
      continue;
    /* POLLERR on the stdin pipe: the reader is gone; the write says EPIPE. */
    if (of[i] ? drain(of[i], &p->oom) != 0 : feed(&p->in) != 0)
      got = 1;
  }
  return got;
}
