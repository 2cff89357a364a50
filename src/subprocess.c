/* Running a helper program without a shell. fork + execve: the PATH search is done in
 * the parent, before fork, so that between fork and exec the child makes only
 * async-signal-safe calls (the host may have other threads, e.g. an OpenSSL or libcurl
 * resolver thread, holding the malloc lock at the moment of fork). The child runs in its
 * own process group, so a timeout, or its exit, ends whatever it started too. The run
 * ends when the child exits, not at EOF (see collect). An exec failure comes
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
#include <unistd.h>

#include <openssl/crypto.h>

#include "clock.h"
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
  return (long long)(acr_clock() * 1000);
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

/* Reaps pid, whose status, if wanted, came from exited() (retrying on EINTR). */
static void reap(pid_t pid)
{
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

/* Only ever called before the child is reaped (exited() leaves it a zombie), so pid,
 * and the group of that id, cannot have been reused by an unrelated process. */
static void kill_group(pid_t pid)
{
  kill(-pid, SIGKILL);   /* the child and everything it started */
  kill(pid, SIGKILL);    /* in case setpgid did not happen */
}

/* 1 when pid has exited, its status in *si; it is left unreaped (WNOWAIT), so that its
 * id stays ours for kill_group. 0 while it runs. -1 when its status is gone: the host
 * ignores SIGCHLD (the kernel reaps) or another thread reaped it. */
static int exited(pid_t pid, siginfo_t *si)
{
  memset(si, 0, sizeof *si);   /* with WNOHANG, si_pid stays 0 while it runs */
  if (waitid(P_PID, (id_t)pid, si, WEXITED | WNOHANG | WNOWAIT) != 0)
    return errno == EINTR ? 0 : -1;
  return si->si_pid == pid;
}

/* One output pipe of the child; what is kept of it goes to buf (NULL discards). */
typedef struct sink {
  int fd;
  acr_buf *buf;
  size_t kept;
} sink;

/* Reads once from s->fd (non-blocking), keeping at most OUTPUT_CAP and discarding the
 * rest (the child must not block on a full pipe). The bytes read; 0 when there is
 * nothing right now; -1 at EOF, having closed s->fd (a read error counts as EOF). */
static ssize_t drain(sink *s, int *oom)
{
  char chunk[65536];
  ssize_t n;
  do
    n = read(s->fd, chunk, sizeof chunk);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  if (n <= 0) {
    close_fd(&s->fd);
    return -1;
  }
  if (s->buf && s->kept < OUTPUT_CAP) {
    size_t take = (size_t)n;
    if (take > OUTPUT_CAP - s->kept)
      take = OUTPUT_CAP - s->kept;
    if (acr_buf_add(s->buf, chunk, take) != 0)
      *oom = 1;
    s->kept += take;
  }
  OPENSSL_cleanse(chunk, (size_t)n);   /* az's output holds its token */
  return n;
}

/* After the exit: what the pipe holds now, then it is closed. A pipe holds at most
 * pipe-max-size (1 MiB unless root raised it); reading more than that means a process
 * outside the group (one that called setsid) is still writing, and we do not wait for it. */
static void drain_rest(sink *s, int *oom)
{
  size_t got = 0;
  ssize_t n;
  while (s->fd >= 0 && got <= OUTPUT_CAP && (n = drain(s, oom)) > 0)
    got += (size_t)n;
  close_fd(&s->fd);
}

/* Waits up to wait_ms for output on the open pipes and reads what came (with both
 * closed, it only waits). 1 when something came, 0 when not, -1 when poll failed. */
static int pump(sink s[2], int wait_ms, int *oom)
{
  struct pollfd fds[2];
  sink *of[2];
  nfds_t nfds = 0, i;
  int got = 0;
  for (i = 0; i < 2; i++) {
    if (s[i].fd < 0)
      continue;
    fds[nfds].fd = s[i].fd;
    fds[nfds].events = POLLIN;
    fds[nfds].revents = 0;
    of[nfds++] = &s[i];
  }
  if (poll(fds, nfds, wait_ms) < 0)
    return errno == EINTR ? 0 : -1;
  for (i = 0; i < nfds; i++)
    if (fds[i].revents && drain(of[i], oom) != 0)
      got = 1;
  return got;
}

typedef enum run_end { END_EXITED, END_LOST, END_TIMEOUT, END_POLL_FAILED } run_end;

/* The longest one poll waits before looking again whether the child has exited. EOF
 * cannot tell us: a grandchild that inherited the pipes (a telemetry uploader az
 * leaves behind) keeps them open long after the child is gone. Nor can
 * SIGCHLD: the signal dispositions belong to the host (nginx), not to us. So the loop
 * polls the pipes with a short wait and asks waitid between waits; the wait starts at
 * 1 ms, as after output the exit usually follows at once, and grows to this. */
#define TICK_MAX_MS 50

/* Reads the output until the child exits (its status in *si) or the deadline passes.
 * End of output is not the end: the exit status is part of the answer, and a
 * grandchild may hold the pipes open. Knowing nothing of what the program prints (a
 * JSON document, for az), it does not look for the end of a document either. */
static run_end collect(pid_t pid, sink s[2], long long deadline, siginfo_t *si, int *oom)
{
  int tick = 1;
  for (;;) {
    long long left = deadline - now_ms();
    int came, x;
    if (left <= 0)
      return END_TIMEOUT;
    came = pump(s, left < tick ? (int)left : tick, oom);
    if (came < 0)
      return END_POLL_FAILED;
    x = exited(pid, si);
    if (x != 0)
      return x > 0 ? END_EXITED : END_LOST;
    tick = came ? 1 : (tick * 2 > TICK_MAX_MS ? TICK_MAX_MS : tick * 2);
  }
}

/* Once the child has exited, the rest of its process group goes too, as on a timeout,
 * and before the child is reaped (so the group's id is still ours). What is left in
 * the group is what the program started and did not detach: a helper meant to outlive
 * it leaves the group (daemon(3) calls setsid) and is not touched. One that stays, such
 * as a telemetry uploader az leaves behind, costs at most that upload when killed, while
 * left alive it would linger in the host's process tree after every token fetch,
 * holding a pipe no one reads. So the rule is one: when acr_run returns, nothing in the
 * child's group runs.
 * Killing before reading what is left also bounds that read: no one in the group can
 * add to it. */
static void end_group(pid_t pid, sink s[2], int *oom)
{
  kill_group(pid);
  drain_rest(&s[0], oom);
  drain_rest(&s[1], oom);
  reap(pid);
}

/* The status of an exited child, from waitid. */
static acr_run_status exit_status(const siginfo_t *si, const char *name, int *exit_code,
                                  char *err, size_t errlen)
{
  char what[64];
  if (si->si_code == CLD_EXITED) {
    if (exit_code)
      *exit_code = si->si_status;
    return ACR_RUN_OK;
  }
  if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED) {
    snprintf(what, sizeof what, "run %%s: killed by signal %d", si->si_status);
    set_err(err, errlen, what, name, 0);
  } else {
    set_err(err, errlen, "run %s: ended abnormally", name, 0);
  }
  return ACR_RUN_ERROR;
}

static int nonblocking(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  return fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ? -1 : 0;
}

acr_run_status acr_run(const char *const *argv, long timeout_ms, acr_buf *out, acr_buf *errout,
                       int *exit_code, char *err, size_t errlen)
{
  int devnull = -1, po[2] = {-1, -1}, pe[2] = {-1, -1}, ps[2] = {-1, -1};
  char **paths = NULL;
  sigset_t chld, oldmask;
  int masked = 0, e = 0, oom = 0;
  sink s[2] = {{-1, NULL, 0}, {-1, NULL, 0}};
  siginfo_t si;
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
  /* Our read ends are non-blocking, so that after the exit we can take what is there
   * and stop (see end_group); the child's write ends are other open files, unaffected. */
  devnull = high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (devnull < 0 || cloexec_pipe(po) != 0 || cloexec_pipe(pe) != 0 || cloexec_pipe(ps) != 0 ||
      nonblocking(po[0]) != 0 || nonblocking(pe[0]) != 0) {
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
    reap(pid);
    if (e == ENOENT || e == ENOTDIR || e == EACCES) {
      set_err(err, errlen, "run %s: not found or not executable", argv[0], e);
      rc = ACR_RUN_NOT_FOUND;
    } else {
      set_err(err, errlen, "run %s: cannot execute", argv[0], e);
    }
    goto done;
  }

  s[0].fd = po[0];
  s[0].buf = out;
  s[1].fd = pe[0];
  s[1].buf = errout;
  po[0] = pe[0] = -1;   /* the sinks own them now */
  switch (collect(pid, s, deadline, &si, &oom)) {
  case END_EXITED:
    end_group(pid, s, &oom);
    if (oom)
      set_err(err, errlen, "run %s: out of memory for its output", argv[0], 0);
    else
      rc = exit_status(&si, argv[0], exit_code, err, errlen);
    break;
  case END_LOST:
    /* Not reaped by us, so its id may be another's by now: no kill_group. */
    drain_rest(&s[0], &oom);
    drain_rest(&s[1], &oom);
    set_err(err, errlen, "run %s: its exit status was lost (SIGCHLD ignored or reaped "
            "elsewhere)", argv[0], 0);
    break;
  case END_TIMEOUT:
    kill_group(pid);
    reap(pid);
    set_err(err, errlen, "run %s: timed out", argv[0], 0);
    rc = ACR_RUN_TIMEOUT;
    break;
  case END_POLL_FAILED:
    e = errno;
    kill_group(pid);
    reap(pid);
    set_err(err, errlen, "run %s: poll failed", argv[0], e);
    break;
  }

done:
  close_fd(&devnull);
  close_fd(&po[0]);
  close_fd(&po[1]);
  close_fd(&pe[0]);
  close_fd(&pe[1]);
  close_fd(&ps[0]);
  close_fd(&ps[1]);
  close_fd(&s[0].fd);
  close_fd(&s[1].fd);
  if (masked)
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
  free(paths);
  return rc;
}
