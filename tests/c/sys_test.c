/* Tests for what acr._sys is made of: src/subprocess.c's acr_run_with (stdin given
 * bytes, alongside the output, SIGPIPE-safe) and src/privfile.c (atomic 0600 writes,
 * synced removes, 0700 directories, the sweep of stale temporary files, locks). The rest
 * of acr_run (timeouts, process groups, PATH search, the host's signal dispositions) is
 * tested in auth_parts_test.c. write(2) is wrapped (--wrap=write), so that a write that
 * takes nothing can be tried. Built and run by ctest (c/sys and
 * c-asan/sys); by hand, from the repository root:
 *
 *   gcc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g -Isrc \
 *       tests/c/sys_test.c src/subprocess.c src/runio.c src/privfile.c src/buf.c \
 *       -Wl,--wrap=write -lcrypto -o /tmp/sys_test && /tmp/sys_test */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "privfile.h"
#include "run.h"
#include "subprocess.h"

static char tmpdir[] = "/tmp/acr-sys-test-XXXXXX";

/* While set, every write of the code under test (privfile.c, runio.c, subprocess.c)
 * takes nothing: write(2) returns 0, as it may on a full device. */
static volatile sig_atomic_t writes_take_nothing;

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
  if (writes_take_nothing && n > 0)
    return 0;
  return __real_write(fd, buf, n);
}

static const char *tmp(const char *name)
{
  static char paths[8][512];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 512, "%s/%s", tmpdir, name);
  return p;
}

static int count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1;
}

/* Entries of dir other than . and .. */
static int count_entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

static char *read_text(const char *path)
{
  static char buf[4096];
  FILE *f = fopen(path, "rb");
  size_t n;
  if (!f)
    return NULL;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static int mode_of(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}


/* ---- subprocess.c: stdin ---- */


static int sigpipe_pending(void)
{
  sigset_t p;
  return sigpending(&p) == 0 && sigismember(&p, SIGPIPE) == 1;
}

static void test_stdin(void)
{
  const size_t big = 5 * 1024 * 1024;   /* far past a pipe's capacity */
  char *data = malloc(big);
  struct run r;
  int fds_before = count_fds();
  CHECK(data != NULL);
  if (!data)
    return;
  memset(data, 'x', big);
  {
    const char *argv[] = {"cat", NULL};
    run_in(&r, 5000, "{\"password\":\"p\"}\n", 17, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    CHECK_STR(str(&r.out), "{\"password\":\"p\"}\n");
    run_free(&r);
  }
  {
    /* Bytes, not a C string: a NUL goes through. */
    const char *argv[] = {"wc", "-c", NULL};
    run_in(&r, 5000, "a\0b", 3, argv);
    CHECK(r.st == ACR_RUN_OK && atoi(str(&r.out)) == 3);
    run_free(&r);
  }
  {
    /* Empty stdin: EOF at once. */
    const char *argv[] = {"cat", NULL};
    run_in(&r, 5000, "", 0, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0 && r.out.len == 0 && r.secs < 2);
    run_free(&r);
  }
  {
    /* All of a large stdin arrives. */
    const char *argv[] = {"wc", "-c", NULL};
    run_in(&r, 20000, data, big, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    CHECK_INT(atol(str(&r.out)), (long)big);
    run_free(&r);
  }
  {
    /* Large in and large out at once: neither side blocks the other. */
    const char *argv[] = {"sh", "-c", "tee /dev/stderr", NULL};
    run_in(&r, 20000, data, big, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    CHECK(r.out.len == 1024 * 1024 && r.err.len == 1024 * 1024);
    run_free(&r);
  }
  {
    /* A program that exits without reading: its exit status, and no SIGPIPE for us
     * (its default action would end this test). */
    const char *argv[] = {"sh", "-c", "exit 5", NULL};
    run_in(&r, 5000, data, big, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 5);
    CHECK(!sigpipe_pending());
    run_free(&r);
  }
  {
    /* One that reads a little, then closes stdin and goes on. */
    const char *argv[] = {"sh", "-c", "head -c 4 >/dev/null; exec <&-; sleep 0.2; echo done",
                          NULL};
    run_in(&r, 5000, data, big, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    CHECK_STR(str(&r.out), "done\n");
    CHECK(!sigpipe_pending());
    run_free(&r);
  }
  {
    /* One that never reads: the timeout, not a blocked write, ends it. */
    const char *argv[] = {"sleep", "5", NULL};
    run_in(&r, 300, data, big, argv);
    CHECK(r.st == ACR_RUN_TIMEOUT && r.secs < 1.5);
    run_free(&r);
  }
  {
    /* Output written before the kill is kept. */
    const char *argv[] = {"sh", "-c", "echo partial >&2; sleep 5", NULL};
    run_in(&r, 300, "x", 1, argv);
    CHECK(r.st == ACR_RUN_TIMEOUT);
    CHECK_STR(str(&r.err), "partial\n");
    run_free(&r);
  }
  {
    const char *argv[] = {"acr-no-such-program-5c2e", NULL};
    run_in(&r, 5000, data, big, argv);
    CHECK(r.st == ACR_RUN_NOT_FOUND);
    CHECK(!sigpipe_pending());
    run_free(&r);
  }
  {
    /* A SIGPIPE the host had pending before is left for the host. */
    sigset_t set, old;
    const char *argv[] = {"true", NULL};
    struct timespec zero = {0, 0};
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGPIPE);
    run_in(&r, 5000, data, big, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    CHECK(sigpipe_pending());
    CHECK(sigtimedwait(&set, NULL, &zero) == SIGPIPE);
    CHECK(!sigpipe_pending());
    sigprocmask(SIG_SETMASK, &old, NULL);
    run_free(&r);
  }
  {
    /* A host that ignores SIGPIPE (nginx does) is fine too; acr_run without stdin too. */
    struct sigaction sa, old;
    const char *argv[] = {"sh", "-c", "exit 0", NULL};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, &old);
    run_in(&r, 5000, data, big, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    run_free(&r);
    sigaction(SIGPIPE, &old, NULL);
    CHECK(!sigpipe_pending());
    CHECK(acr_run(argv, 5000, NULL, NULL, NULL, NULL, 0) == ACR_RUN_OK);
  }
  free(data);
  CHECK_INT(count_fds(), fds_before);
  errno = 0;
  CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

/* ---- privfile.c ---- */

static int is_regular(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void test_write_private(void)
{
  const char *what = NULL;
  char dir[512], path[512];   /* tmp()'s buffers are reused */
  snprintf(dir, sizeof dir, "%s", tmp("w"));
  snprintf(path, sizeof path, "%s", tmp("w/secret.json"));
  struct stat before, after;
  mode_t old_umask;
  CHECK(mkdir(dir, 0755) == 0);

  /* A new file: its content, and 0600 whatever the umask. */
  old_umask = umask(0277);
  CHECK(acr_write_private(path, "one", 3, &what) == 0);
  umask(old_umask);
  CHECK_STR(read_text(path), "one");
  CHECK_INT(mode_of(path), 0600);
  CHECK_INT(count_entries(dir), 1);   /* no temporary file left */

  /* Replaced by another file (a reader holding the old one keeps it whole). */
  CHECK(chmod(path, 0644) == 0);
  CHECK(stat(path, &before) == 0);
  CHECK(acr_write_private(path, "two!", 4, &what) == 0);
  CHECK(stat(path, &after) == 0);
  CHECK(before.st_ino != after.st_ino);
  CHECK_STR(read_text(path), "two!");
  CHECK_INT(mode_of(path), 0600);
  CHECK(acr_write_private(path, "", 0, &what) == 0);
  CHECK_STR(read_text(path), "");
  CHECK_INT(count_entries(dir), 1);

  /* A link at path is replaced, not followed. */
  {
    const char *target = tmp("w-target");
    const char *link = tmp("w/link.json");
    FILE *f = fopen(target, "w");
    CHECK(f != NULL);
    if (f) {
      fputs("untouched", f);
      fclose(f);
    }
    CHECK(symlink(target, link) == 0);
    CHECK(acr_write_private(link, "new", 3, &what) == 0);
    CHECK_STR(read_text(target), "untouched");
    CHECK(is_regular(link));
    CHECK_STR(read_text(link), "new");
  }
  /* A relative path (its directory is "."). */
  {
    char cwd[512];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(dir) == 0);
    CHECK(acr_write_private("relative.json", "r", 1, &what) == 0);
    CHECK(chdir(cwd) == 0);
    CHECK_STR(read_text(tmp("w/relative.json")), "r");
  }

  /* Failures: errno and the step, nothing left behind. */
  what = NULL;
  errno = 0;
  CHECK(acr_write_private(tmp("nodir/x.json"), "x", 1, &what) == -1 && errno == ENOENT);
  CHECK(what && strstr(what, "temporary") != NULL);
  errno = 0;
  CHECK(acr_write_private(tmp("w/"), "x", 1, &what) == -1 && errno == EISDIR);
  CHECK(mkdir(tmp("w/adir"), 0700) == 0);
  errno = 0;
  CHECK(acr_write_private(tmp("w/adir"), "x", 1, &what) == -1 && errno == EISDIR);
  CHECK(what && strstr(what, "rename") != NULL);
  CHECK_INT(count_entries(dir), 4);   /* secret, link, relative, adir: no temporary file */
  if (geteuid() != 0) {
    CHECK(chmod(dir, 0500) == 0);
    errno = 0;
    CHECK(acr_write_private(path, "x", 1, &what) == -1 && errno == EACCES);
    CHECK(chmod(dir, 0755) == 0);
    CHECK_STR(read_text(path), "");
  }
}

static void test_remove(void)
{
  const char *what = NULL;
  char path[512];
  int existed = -1;
  snprintf(path, sizeof path, "%s", tmp("w/secret.json"));
  CHECK(acr_remove_synced(path, &existed, &what) == 0 && existed == 1);
  CHECK(access(path, F_OK) != 0);
  CHECK(acr_remove_synced(path, &existed, &what) == 0 && existed == 0);
  CHECK(acr_remove_synced(path, NULL, &what) == 0);
  errno = 0;
  CHECK(acr_remove_synced(tmp("w/adir"), &existed, &what) == -1 && errno != 0);
  CHECK(what && strstr(what, "remove") != NULL);
}

static void test_append_private(void)
{
  const char *what = NULL;
  char path[512], link_path[512];
  snprintf(path, sizeof path, "%s", tmp("w/journal"));
  snprintf(link_path, sizeof link_path, "%s", tmp("w/journal-link"));
  /* made 0600 whatever the umask, then appended to */
  mode_t old_umask = umask(0277);
  CHECK(acr_append_private(path, "one\n", 4, &what) == 0);
  umask(old_umask);
  CHECK_INT(mode_of(path), 0600);
  CHECK(acr_append_private(path, "two\n", 4, &what) == 0);
  CHECK_STR(read_text(path), "one\ntwo\n");
  /* a symbolic link is not followed */
  CHECK(symlink(path, link_path) == 0);
  errno = 0;
  CHECK(acr_append_private(link_path, "x", 1, &what) == -1 && errno == ELOOP);
  CHECK(what && strstr(what, "open") != NULL);
  CHECK_STR(read_text(path), "one\ntwo\n");
  /* a record that cannot be written whole is taken back: the next starts clean */
  writes_take_nothing = 1;
  errno = 0;
  CHECK(acr_append_private(path, "three\n", 6, &what) == -1 && errno == EIO);
  writes_take_nothing = 0;
  CHECK_STR(read_text(path), "one\ntwo\n");
  CHECK(unlink(link_path) == 0 && unlink(path) == 0);
  /* only a regular file: a FIFO would block the run */
  CHECK(mkfifo(path, 0600) == 0);
  errno = 0;
  CHECK(acr_append_private(path, "x", 1, &what) == -1);
  CHECK(unlink(path) == 0);
}

static void test_mkdir_private(void)
{
  const char *what = NULL;
  mode_t old_umask = umask(0077 | 0200);
  CHECK(acr_mkdir_private(tmp("m/a/b/c"), &what) == 0);
  umask(old_umask);
  CHECK_INT(mode_of(tmp("m")), 0700);
  CHECK_INT(mode_of(tmp("m/a")), 0700);
  CHECK_INT(mode_of(tmp("m/a/b/c")), 0700);
  /* again, and with a trailing '/' and a doubled one: nothing to do */
  CHECK(acr_mkdir_private(tmp("m/a/b/c"), &what) == 0);
  CHECK(acr_mkdir_private(tmp("m//a/b/c/"), &what) == 0);
  /* what exists is left as it is */
  CHECK(mkdir(tmp("open"), 0755) == 0 && chmod(tmp("open"), 0755) == 0);
  CHECK(acr_mkdir_private(tmp("open/inner"), &what) == 0);
  CHECK_INT(mode_of(tmp("open")), 0755);
  CHECK_INT(mode_of(tmp("open/inner")), 0700);
  /* a file in the way */
  CHECK(acr_write_private(tmp("m/file"), "f", 1, &what) == 0);
  errno = 0;
  CHECK(acr_mkdir_private(tmp("m/file/sub"), &what) == -1 && errno == ENOTDIR);
  errno = 0;
  CHECK(acr_mkdir_private(tmp("m/file"), &what) == -1 && errno == ENOTDIR);
  errno = 0;
  CHECK(acr_mkdir_private("", &what) == -1 && errno == ENOENT);
}

/* A write that takes nothing ends the write as EIO (privfile.c) or the feeding of a
 * program's stdin (runio.c), instead of trying again for ever. An alarm fails the
 * test, should either loop. */
static void test_zero_writes(void)
{
  const char *what = NULL;
  char dir[512], path[512];
  struct run r;
  int rc;
  snprintf(dir, sizeof dir, "%s", tmp("z"));
  snprintf(path, sizeof path, "%s", tmp("z/secret.json"));
  CHECK(mkdir(dir, 0700) == 0);
  alarm(30);
  writes_take_nothing = 1;
  errno = 0;
  rc = acr_write_private(path, "secret", 6, &what);
  writes_take_nothing = 0;
  CHECK(rc == -1 && errno == EIO);
  CHECK(what && strstr(what, "write the temporary file") != NULL);
  CHECK_INT(count_entries(dir), 0);   /* the temporary file is gone too */
  /* nothing to write is no write: an empty file still works */
  writes_take_nothing = 1;
  rc = acr_write_private(path, "", 0, &what);
  writes_take_nothing = 0;
  CHECK(rc == 0);
  {
    /* the program reads EOF at once and exits; no spin until the timeout */
    const char *argv[] = {"wc", "-c", NULL};
    writes_take_nothing = 1;
    run_in(&r, 10000, "abc", 3, argv);
    writes_take_nothing = 0;
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    CHECK_INT(atol(str(&r.out)), 0);
    CHECK(r.secs < 5);
    run_free(&r);
  }
  alarm(0);
}

static void test_sweep_temp(void)
{
  const char *what = NULL;
  static const char *const stale[] = {".acr-tmp-0123456789abcdef", ".acr-tmp-ffffffffffffffff"};
  static const char *const kept[] = {
    ".acr-tmp-0123456789ABCDEF",   /* not a name create_temp makes */
    ".acr-tmp-0123456789abcde",    /* one digit short */
    ".acr-tmp-0123456789abcdef0",  /* one too many */
    "acr-tmp-0123456789abcdef", "app.password1.json",
  };
  char dir[512], name[64];
  size_t i;
  int removed = -1;
#define IN_S(n) (snprintf(name, sizeof name, "s/%s", (n)), tmp(name))
  snprintf(dir, sizeof dir, "%s", tmp("s"));
  CHECK(mkdir(dir, 0700) == 0);
  for (i = 0; i < sizeof stale / sizeof *stale; i++)
    CHECK(acr_write_private(tmp("s/x"), "p", 1, &what) == 0 && rename(tmp("s/x"), IN_S(stale[i])) == 0);
  for (i = 0; i < sizeof kept / sizeof *kept; i++)
    CHECK(acr_write_private(IN_S(kept[i]), "k", 1, &what) == 0);
  CHECK(acr_sweep_temp(dir, &removed, &what) == 0);
  CHECK_INT(removed, 2);
  for (i = 0; i < sizeof stale / sizeof *stale; i++)
    CHECK(access(IN_S(stale[i]), F_OK) != 0);
#undef IN_S
  CHECK_INT(count_entries(dir), (int)(sizeof kept / sizeof *kept));
  CHECK(acr_sweep_temp(dir, &removed, &what) == 0 && removed == 0);
  CHECK(acr_sweep_temp(tmp("s/none"), &removed, &what) == 0 && removed == 0);
  CHECK(acr_sweep_temp(dir, NULL, &what) == 0);
  errno = 0;
  CHECK(acr_sweep_temp(tmp("s/app.password1.json"), &removed, &what) == -1 && errno == ENOTDIR);
  CHECK(what && strstr(what, "read the directory") != NULL);
}

/* 0 when a child process gets the lock on path (and lets it go), 1 when it is held. */
static int child_lock_status(const char *path)
{
  int status = -1;
  pid_t pid = fork();
  if (pid == 0) {
    const char *what;
    int fd;
    _exit(acr_lock_file(path, &fd, &what) == 0 ? 0 : errno == EAGAIN ? 1 : 2);
  }
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

static void test_lock(void)
{
  const char *what = NULL;
  char path[512];
  int fd = -1, fd2 = -1, e;
  mode_t old_umask;
  snprintf(path, sizeof path, "%s", tmp("l.lock"));
  old_umask = umask(0277);
  CHECK(acr_lock_file(path, &fd, &what) == 0 && fd >= 0);
  umask(old_umask);
  CHECK_INT(mode_of(path), 0600);
  CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);   /* no program run keeps it */
  CHECK_INT(child_lock_status(path), 1);
  /* another lock of this process is another open file: held too */
  errno = 0;
  CHECK(acr_lock_file(path, &fd2, &what) == -1 && errno == EAGAIN && fd2 == -1);
  CHECK(what && strstr(what, "lock") != NULL);
  acr_unlock_file(&fd);
  CHECK(fd == -1);
  acr_unlock_file(&fd);   /* again: nothing */
  CHECK_INT(child_lock_status(path), 0);
  /* a file that is there is taken as it is */
  CHECK(chmod(path, 0640) == 0);
  CHECK(acr_lock_file(path, &fd, &what) == 0);
  CHECK_INT(mode_of(path), 0640);
  acr_unlock_file(&fd);
  /* a link is not followed; a missing directory is an error */
  CHECK(symlink(path, tmp("l.link")) == 0);
  errno = 0;
  CHECK(acr_lock_file(tmp("l.link"), &fd, &what) == -1 && errno == ELOOP && fd == -1);
  errno = 0;
  CHECK(acr_lock_file(tmp("nodir/l.lock"), &fd, &what) == -1 && fd == -1);
  e = errno;
  CHECK_INT(e, ENOENT);
}

int main(void)
{
  int fds_start = count_fds();
  char cmd[600];
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_stdin();
  test_write_private();
  test_remove();
  test_append_private();
  test_mkdir_private();
  test_zero_writes();
  test_sweep_temp();
  test_lock();
  CHECK_INT(count_fds(), fds_start);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmpdir);
  return check_exit();
}
