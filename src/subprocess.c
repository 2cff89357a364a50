/* Running a helper program without a shell. fork + execve: the PATH search is done in
 * the parent, before fork, so that between fork and exec the child makes only
 * async-signal-safe calls (the host may have other threads, e.g. an OpenSSL or libcurl
 * resolver thread, holding the malloc lock at the moment of fork). The child runs in its
 * own process group, so a timeout kills whatever it started too. An exec failure comes
 * back to the parent as an errno through a close-on-exec pipe: EOF means exec worked. */

/* pipe2 is a GNU extension in glibc (POSIX only gained it in 2024); the rest is POSIX.1-2008. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "subprocess.h"

extern char **environ;

#define OUTPUT_CAP ((size_t)1024 * 1024)
#define DEFAULT_PATH "/bin:/usr/bin"   /* what execvp uses when PATH is unset */

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, int e)
{
  char msg[256];
  if (!err || errlen == 0)
    return;
  snprintf(msg, sizeof msg, fmt, a);
  if (e)
    snprintf(err, errlen, "%s: %s", msg, strerror(e));
  else
    snprintf(err, errlen, "%s", msg);
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
  if (*fd >= 0) {
    /* Not retried on EINTR: on Linux the descriptor is gone either way. */
    close(*fd);
    *fd = -1;
  }
}

/* A close-on-exec descriptor numbered 3 or above, so that the child's dup2 onto 0, 1
 * and 2 can never overwrite one of its own sources (the host may have closed stdio). */
static int high_fd(int fd)
{
  int hi;
  if (fd < 0 || fd > 2)
    return fd;
  hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return hi;
}

static int cloexec_pipe(int p[2])
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
  p[0] = high_fd(p[0]);
  p[1] = high_fd(p[1]);
  if (p[0] < 0 || p[1] < 0) {
    close_fd(&p[0]);
    close_fd(&p[1]);
    return -1;
  }
  return 0;
}

/* The paths to try, as execvp would: argv[0] itself when it has a '/', else each PATH
 * entry joined with it (an empty entry is the current directory). One malloc'd block:
 * a NULL-terminated array followed by the strings. */
static char **candidates(const char *name)
{
  const char *path = getenv("PATH");
  size_t nlen = strlen(name), count = 1, size, i;
  const char *p;
  char **list, *s;
  if (strchr(name, '/')) {
    list = malloc(2 * sizeof *list + nlen + 1);
    if (!list)
      return NULL;
    list[0] = (char *)(list + 2);
    memcpy(list[0], name, nlen + 1);
    list[1] = NULL;
    return list;
  }
  if (!path)
    path = DEFAULT_PATH;
  for (p = path; *p; p++)
    count += *p == ':';
  size = (count + 1) * sizeof *list + strlen(path) + count * (nlen + 3);
  list = malloc(size);
  if (!list)
    return NULL;
  s = (char *)(list + count + 1);
  for (i = 0, p = path; i < count; i++) {
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    list[i] = s;
    if (dlen == 0) {
      *s++ = '.';
    } else {
      memcpy(s, p, dlen);
      s += dlen;
    }
    *s++ = '/';
    memcpy(s, name, nlen + 1);
    s += nlen + 1;
    p = end ? end + 1 : p + dlen;
  }
  list[count] = NULL;
  return list;
}

/* In the child, after fork: async-signal-safe calls only, then execve or _exit. */
static void child(const char *const *argv, char **paths, int devnull, int out, int errfd,
                  int status)
{
  static const int reset[] = {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGALRM};
  sigset_t none;
  int e = ENOENT, saw_eacces = 0;
  size_t i;
  ssize_t w;

  setpgid(0, 0);
  /* The sources are all >= 3 (see high_fd), so each dup2 really copies, and the copy
   * has close-on-exec cleared; every other descriptor of ours is close-on-exec. */
  if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0) {
    e = errno;
    goto fail;
  }
  /* Ignored signals survive exec; the host (nginx ignores SIGPIPE) should not pass
   * them on. Blocked ones too: we block SIGCHLD around the run. */
  for (i = 0; i < sizeof reset / sizeof reset[0]; i++)
    signal(reset[i], SIG_DFL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  for (i = 0; paths[i]; i++) {
    execve(paths[i], (char *const *)argv, environ);
    e = errno;
    if (e == EACCES)
      saw_eacces = 1;
    else if (e != ENOENT && e != ENOTDIR)
      break;   /* found, but cannot run it (ENOEXEC: we never fall back to a shell) */
  }
  if (saw_eacces && (e == ENOENT || e == ENOTDIR))
    e = EACCES;
fail:
  w = write(status, &e, sizeof e);
  (void)w;
  _exit(127);
}

/* Waits for pid (retrying on EINTR). 0 ok, -1 error (errno set). */
static int reap(pid_t pid, int *st)
{
  for (;;) {
    pid_t r = waitpid(pid, st, 0);
    if (r == pid)
      return 0;
    if (r < 0 && errno != EINTR)
      return -1;
  }
}

/* Only ever called before the child is reaped, so pid (and the group of that id) cannot
 * have been reused by an unrelated process. */
static void kill_group(pid_t pid)
{
  kill(-pid, SIGKILL);   /* the child and everything it started */
  kill(pid, SIGKILL);    /* in case setpgid did not happen */
}

/* Reads what is there on *fd into b, keeping at most OUTPUT_CAP of it and discarding
 * the rest (the child must not block on a full pipe). Closes *fd at EOF. */
static void drain(int *fd, acr_buf *b, size_t *kept, int *oom)
{
  char chunk[65536];
  ssize_t n = read(*fd, chunk, sizeof chunk);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN)
      return;
    close_fd(fd);   /* treat a read error as EOF */
    return;
  }
  if (n == 0) {
    close_fd(fd);
    return;
  }
  if (b && *kept < OUTPUT_CAP) {
    size_t take = (size_t)n;
    if (take > OUTPUT_CAP - *kept)
      take = OUTPUT_CAP - *kept;
    if (acr_buf_add(b, chunk, take) != 0)
      *oom = 1;
    *kept += take;
  }
  OPENSSL_cleanse(chunk, (size_t)n);   /* az's output holds its token */
}

acr_run_status acr_run(const char *const *argv, long timeout_ms, acr_buf *out, acr_buf *errout,
                       int *exit_code, char *err, size_t errlen)
{
  int devnull = -1, po[2] = {-1, -1}, pe[2] = {-1, -1}, ps[2] = {-1, -1};
  char **paths = NULL;
  sigset_t chld, oldmask;
  int masked = 0, st = 0, e = 0, oom = 0, timed_out = 0;
  size_t kept_out = 0, kept_err = 0;
  long long deadline;
  acr_run_status rc = ACR_RUN_ERROR;
  pid_t pid;
  ssize_t n;

  if (err && errlen)
    err[0] = '\0';
  if (exit_code)
    *exit_code = -1;
  if (!argv || !argv[0] || !argv[0][0]) {
    set_err(err, errlen, "run: no program given%s", "", 0);
    return ACR_RUN_ERROR;
  }
  if (timeout_ms <= 0) {
    set_err(err, errlen, "run %s: the timeout must be positive", argv[0], 0);
    return ACR_RUN_ERROR;
  }
  deadline = now_ms() + timeout_ms;
  paths = candidates(argv[0]);
  if (!paths) {
    set_err(err, errlen, "run %s: out of memory", argv[0], 0);
    return ACR_RUN_ERROR;
  }
  devnull = high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (devnull < 0 || cloexec_pipe(po) != 0 || cloexec_pipe(pe) != 0 || cloexec_pipe(ps) != 0) {
    set_err(err, errlen, "run %s: cannot set up pipes", argv[0], errno);
    goto done;
  }

  /* A host SIGCHLD handler that reaps with waitpid(-1) (nginx's does) would take our
   * child's status; with SIGCHLD blocked in this thread we reap first. */
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  masked = pthread_sigmask(SIG_BLOCK, &chld, &oldmask) == 0;

  pid = fork();
  if (pid < 0) {
    set_err(err, errlen, "run %s: fork failed", argv[0], errno);
    goto done;
  }
  if (pid == 0)
    child(argv, paths, devnull, po[1], pe[1], ps[1]);   /* does not return */

  setpgid(pid, pid);   /* also here, so the group exists before any kill (races are harmless) */
  close_fd(&devnull);
  close_fd(&po[1]);
  close_fd(&pe[1]);
  close_fd(&ps[1]);

  /* Did exec work? The status pipe closes on exec, or carries the errno. */
  do
    n = read(ps[0], &e, sizeof e);
  while (n < 0 && errno == EINTR);
  close_fd(&ps[0]);
  if (n == (ssize_t)sizeof e) {
    reap(pid, &st);
    if (e == ENOENT || e == ENOTDIR || e == EACCES) {
      set_err(err, errlen, "run %s: not found or not executable", argv[0], e);
      rc = ACR_RUN_NOT_FOUND;
    } else {
      set_err(err, errlen, "run %s: cannot execute", argv[0], e);
    }
    goto done;
  }

  /* Output until both pipes close or time runs out. */
  while (po[0] >= 0 || pe[0] >= 0) {
    struct pollfd fds[2];
    nfds_t nfds = 0;
    long long left = deadline - now_ms();
    int r;
    if (left <= 0) {
      timed_out = 1;
      break;
    }
    if (po[0] >= 0) {
      fds[nfds].fd = po[0];
      fds[nfds].events = POLLIN;
      fds[nfds++].revents = 0;
    }
    if (pe[0] >= 0) {
      fds[nfds].fd = pe[0];
      fds[nfds].events = POLLIN;
      fds[nfds++].revents = 0;
    }
    r = poll(fds, nfds, left > 60000 ? 60000 : (int)left);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      e = errno;
      kill_group(pid);
      reap(pid, &st);
      set_err(err, errlen, "run %s: poll failed", argv[0], e);
      goto done;
    }
    for (nfds_t i = 0; i < nfds; i++) {
      if (!fds[i].revents)
        continue;
      if (fds[i].fd == po[0])
        drain(&po[0], out, &kept_out, &oom);
      else
        drain(&pe[0], errout, &kept_err, &oom);
    }
  }

  /* Both pipes closed, but the process may still be running (it can close them). */
  if (!timed_out) {
    long sleep_ms = 1;
    for (;;) {
      pid_t r = waitpid(pid, &st, WNOHANG);
      long long left;
      if (r == pid)
        break;
      if (r < 0 && errno == ECHILD) {
        /* SIGCHLD set to SIG_IGN (children reap themselves), or another thread reaped. */
        set_err(err, errlen, "run %s: its exit status was lost (SIGCHLD ignored or reaped "
                "elsewhere)", argv[0], 0);
        goto done;
      }
      if (r < 0 && errno != EINTR) {
        set_err(err, errlen, "run %s: waitpid failed", argv[0], errno);
        goto done;
      }
      left = deadline - now_ms();
      if (left <= 0) {
        timed_out = 1;
        break;
      }
      {
        struct timespec ts;
        long ms = sleep_ms < left ? sleep_ms : (long)left;
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
      }
      if (sleep_ms < 50)
        sleep_ms *= 2;
    }
  }
  if (timed_out) {
    kill_group(pid);
    reap(pid, &st);
    set_err(err, errlen, "run %s: timed out", argv[0], 0);
    rc = ACR_RUN_TIMEOUT;
    goto done;
  }

  if (oom) {
    set_err(err, errlen, "run %s: out of memory for its output", argv[0], 0);
  } else if (WIFEXITED(st)) {
    if (exit_code)
      *exit_code = WEXITSTATUS(st);
    rc = ACR_RUN_OK;
  } else if (WIFSIGNALED(st)) {
    char what[64];
    snprintf(what, sizeof what, "run %%s: killed by signal %d", WTERMSIG(st));
    set_err(err, errlen, what, argv[0], 0);
  } else {
    set_err(err, errlen, "run %s: ended abnormally", argv[0], 0);
  }

done:
  close_fd(&devnull);
  close_fd(&po[0]);
  close_fd(&po[1]);
  close_fd(&pe[0]);
  close_fd(&pe[1]);
  close_fd(&ps[0]);
  close_fd(&ps[1]);
  if (masked)
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
  free(paths);
  return rc;
}
