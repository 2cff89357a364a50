/* Running a helper program without a shell. fork + execve: the PATH search is done in
 * the parent, before fork, so that between fork and exec the child makes only
 * async-signal-safe calls (the host may have other threads, e.g. an OpenSSL or libcurl
 * resolver thread, holding the malloc lock at the moment of fork). The child runs in its
 * own process group, so a timeout, or its exit, ends whatever it started too. The run
 * ends when the child exits, not at EOF (see collect). An exec failure comes
 * back to the parent as an errno through a close-on-exec pipe: EOF means exec worked.
 * Our ends of the stdin, stdout and stderr pipes are runio.c's. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "runio.h"
#include "subprocess.h"

extern char **environ;

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
static void child(const char *const *argv, char **paths, int in, int out, int errfd,
                  int status)
{
  static const int reset[] = {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGALRM};
  sigset_t none;
  int e = ENOENT, saw_eacces = 0;
  size_t i;
  ssize_t w;

  setpgid(0, 0);
  /* The sources are all >= 3 (see acr_high_fd), so each dup2 really copies, and the
   * copy has close-on-exec cleared; every other descriptor of ours is close-on-exec. */
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0) {
    e = errno;
    goto fail;
  }
  /* Ignored signals survive exec; the host (nginx ignores SIGPIPE) should not pass
   * them on. Blocked ones too: we block SIGCHLD and SIGPIPE around the run. */
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

typedef enum run_end { END_EXITED, END_LOST, END_TIMEOUT, END_POLL_FAILED } run_end;

/* The longest one poll waits before looking again whether the child has exited. EOF
 * cannot tell us: a grandchild that inherited the pipes (a telemetry uploader az
 * leaves behind) keeps them open long after the child is gone. Nor can
 * SIGCHLD: the signal dispositions belong to the host (nginx), not to us. So the loop
 * polls the pipes with a short wait and asks waitid between waits; the wait starts at
 * 1 ms, as after output the exit usually follows at once, and grows to this. */
#define TICK_MAX_MS 50

/* Feeds stdin and reads the output until the child exits (its status in *si) or the
 * deadline passes. End of output is not the end: the exit status is part of the
 * answer, and a grandchild may hold the pipes open. Knowing nothing of what the
 * program prints (a JSON document, for az), it does not look for the end of a
 * document either. */
static run_end collect(pid_t pid, acr_run_pipes *p, long long deadline, siginfo_t *si)
{
  int tick = 1;
  for (;;) {
    long long left = deadline - now_ms();
    int came, x;
    if (left <= 0)
      return END_TIMEOUT;
    came = acr_run_pump(p, left < tick ? (int)left : tick);
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
static void end_group(pid_t pid, acr_run_pipes *p)
{
  kill_group(pid);
  acr_run_finish(p);
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

/* The descriptors of one run: the child's ends, ours (p), and where errors go. */
typedef struct run {
  const char *name;
  char *err;
  size_t errlen;
  int in, out, errfd, status;   /* the child's: stdin (a pipe or /dev/null), ..., exec status */
  int status_r;                 /* ours of the exec status pipe */
  acr_run_pipes p;
} run;

/* Every pipe of the run; -1 with errno set when one cannot be made (the caller closes
 * what was). Each end is stored as soon as it exists, so none is lost on failure. */
static int open_pipes(run *r, const acr_run_io *io)
{
  int pi[2], po[2], pe[2], ps[2];
  if (io->in) {
    if (acr_cloexec_pipe(pi) != 0)
      return -1;
    r->in = pi[0];
    r->p.in.fd = pi[1];
    r->p.in.data = io->in;
    r->p.in.len = io->inlen;
  } else if ((r->in = acr_high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC))) < 0) {
    return -1;
  }
  if (acr_cloexec_pipe(po) != 0)
    return -1;
  r->p.out[0].fd = po[0];
  r->out = po[1];
  r->p.out[0].buf = io->out;
  if (acr_cloexec_pipe(pe) != 0)
    return -1;
  r->p.out[1].fd = pe[0];
  r->errfd = pe[1];
  r->p.out[1].buf = io->err;
  if (acr_cloexec_pipe(ps) != 0)
    return -1;
  r->status_r = ps[0];
  r->status = ps[1];
  /* ours are non-blocking: after the exit we take what is there and stop (end_group) */
  if (acr_nonblocking(po[0]) != 0 || acr_nonblocking(pe[0]) != 0)
    return -1;
  return r->p.in.fd >= 0 ? acr_nonblocking(r->p.in.fd) : 0;
}

static void close_child_ends(run *r)
{
  acr_close_fd(&r->in);
  acr_close_fd(&r->out);
  acr_close_fd(&r->errfd);
  acr_close_fd(&r->status);
}

static void close_all(run *r)
{
  close_child_ends(r);
  acr_close_fd(&r->status_r);
  acr_close_fd(&r->p.in.fd);
  acr_close_fd(&r->p.out[0].fd);
  acr_close_fd(&r->p.out[1].fd);
}

/* 0 when exec worked (the status pipe closed on exec), else the child's errno. */
static int exec_errno(run *r)
{
  int e = 0;
  ssize_t n;
  do
    n = read(r->status_r, &e, sizeof e);
  while (n < 0 && errno == EINTR);
  acr_close_fd(&r->status_r);
  return n == (ssize_t)sizeof e ? e : 0;
}

/* From the start of the exec on: how the run ended, the child reaped. */
static acr_run_status finish(run *r, pid_t pid, long long deadline, int *exit_code)
{
  siginfo_t si;
  int e;
  switch (collect(pid, &r->p, deadline, &si)) {
  case END_EXITED:
    end_group(pid, &r->p);
    if (!r->p.oom)
      return exit_status(&si, r->name, exit_code, r->err, r->errlen);
    set_err(r->err, r->errlen, "run %s: out of memory for its output", r->name, 0);
    return ACR_RUN_ERROR;
  case END_LOST:
    /* Not reaped by us, so its id may be another's by now: no kill_group. */
    acr_run_finish(&r->p);
    set_err(r->err, r->errlen, "run %s: its exit status was lost (SIGCHLD ignored or "
            "reaped elsewhere)", r->name, 0);
    return ACR_RUN_ERROR;
  case END_TIMEOUT:
    end_group(pid, &r->p);   /* what it wrote before the kill is kept too */
    set_err(r->err, r->errlen, "run %s: timed out", r->name, 0);
    return ACR_RUN_TIMEOUT;
  default:
    e = errno;
    kill_group(pid);
    reap(pid);
    set_err(r->err, r->errlen, "run %s: poll failed", r->name, e);
    return ACR_RUN_ERROR;
  }
}

/* SIGCHLD and SIGPIPE are blocked in this thread for the run. A host SIGCHLD handler
 * that reaps with waitpid(-1) (nginx's does) would take our child's status; blocked,
 * we reap first. A program that exits without reading its stdin makes our write
 * raise SIGPIPE, whose default action ends the host: blocked, it stays pending (it
 * is sent to the writing thread), and is taken back before the mask is restored. */
typedef struct sigstate {
  sigset_t old;
  int masked, pipe_pending;
} sigstate;

static void block_signals(sigstate *s)
{
  sigset_t set, pending;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGPIPE);
  /* one pending already is the host's, not ours to take */
  s->pipe_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  s->masked = pthread_sigmask(SIG_BLOCK, &set, &s->old) == 0;
}

static void restore_signals(sigstate *s, int broken_pipe)
{
  sigset_t pipe_only, pending;
  struct timespec now = {0, 0};
  if (!s->masked)
    return;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  if (broken_pipe && !s->pipe_pending && sigpending(&pending) == 0 &&
      sigismember(&pending, SIGPIPE) == 1) {
    while (sigtimedwait(&pipe_only, NULL, &now) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

/* Checks the arguments; 0 when the run can start. */
static int check_args(const char *const *argv, long timeout_ms, char *err, size_t errlen)
{
  if (!argv || !argv[0] || !argv[0][0]) {
    set_err(err, errlen, "run: no program given%s", "", 0);
    return -1;
  }
  if (timeout_ms <= 0) {
    set_err(err, errlen, "run %s: the timeout must be positive", argv[0], 0);
    return -1;
  }
  return 0;
}

/* The child has not exec'd: e says why. It is reaped. */
static acr_run_status exec_failed(pid_t pid, int e, const char *name, char *err, size_t errlen)
{
  reap(pid);
  if (e == ENOENT || e == ENOTDIR || e == EACCES) {
    set_err(err, errlen, "run %s: not found or not executable", name, e);
    return ACR_RUN_NOT_FOUND;
  }
  set_err(err, errlen, "run %s: cannot execute", name, e);
  return ACR_RUN_ERROR;
}

acr_run_status acr_run_with(const char *const *argv, const acr_run_io *io, long timeout_ms,
                            int *exit_code, char *err, size_t errlen)
{
  static const acr_run_io none = {NULL, 0, NULL, NULL};
  run r = {NULL, err, errlen, -1, -1, -1, -1, -1, ACR_RUN_PIPES_INIT};
  sigstate sig = {.masked = 0};
  acr_run_status rc = ACR_RUN_ERROR;
  char **paths = NULL;
  long long deadline;
  pid_t pid;
  int e;

  if (err && errlen)
    err[0] = '\0';
  if (exit_code)
    *exit_code = -1;
  if (check_args(argv, timeout_ms, err, errlen) != 0)
    return ACR_RUN_ERROR;
  r.name = argv[0];
  deadline = now_ms() + timeout_ms;
  paths = candidates(argv[0]);
  if (!paths) {
    set_err(err, errlen, "run %s: out of memory", argv[0], 0);
    return ACR_RUN_ERROR;
  }
  if (open_pipes(&r, io ? io : &none) != 0) {
    set_err(err, errlen, "run %s: cannot set up pipes", argv[0], errno);
    goto done;
  }
  block_signals(&sig);
  pid = fork();
  if (pid < 0) {
    set_err(err, errlen, "run %s: fork failed", argv[0], errno);
    goto done;
  }
  if (pid == 0)
    child(argv, paths, r.in, r.out, r.errfd, r.status);   /* does not return */

  setpgid(pid, pid);   /* also here, so the group exists before any kill (races are harmless) */
  close_child_ends(&r);
  e = exec_errno(&r);
  rc = e ? exec_failed(pid, e, argv[0], err, errlen) : finish(&r, pid, deadline, exit_code);

done:
  close_all(&r);
  restore_signals(&sig, r.p.in.broken);
  free(paths);
  return rc;
}

acr_run_status acr_run(const char *const *argv, long timeout_ms, acr_buf *out, acr_buf *errout,
                       int *exit_code, char *err, size_t errlen)
{
  acr_run_io io = {NULL, 0, out, errout};
  return acr_run_with(argv, &io, timeout_ms, exit_code, err, errlen);
}
