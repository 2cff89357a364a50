/* See privfile.h. Atomic because rename(2) replaces its target in one step; durable
 * because the file is fsync'd before the rename (else a crash could leave the new
 * name pointing at an empty file) and the directory after it (else the rename itself
 * could be lost). The temporary file is made with O_EXCL under a random name, so no
 * one can have it ready for us, as a link or with other permissions. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "privfile.h"

#define TEMP_TRIES 16
#define TEMP_PREFIX ".acr-tmp-"
#define TEMP_NAME "/" TEMP_PREFIX   /* + 16 hex digits */
#define TEMP_HEX 16

static int fail(const char **what, const char *step, int e)
{
  *what = step;
  errno = e;
  return -1;
}

/* The directory part of path ("." when it has no '/'), malloc'd; NULL when out of memory. */
static char *dir_of(const char *path)
{
  const char *slash = strrchr(path, '/');
  size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, slash ? path : ".", n);
    d[n] = '\0';
  }
  return d;
}

/* fsync(2), again when a signal interrupts it. */
static int fsync_all(int fd)
{
  int rc;
  do
    rc = fsync(fd);
  while (rc != 0 && errno == EINTR);
  return rc;
}

/* fsyncs the directory dir. A file system that cannot sync a directory (EINVAL) has
 * nothing more to make durable. */
static int sync_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc, e;
  if (fd < 0)
    return -1;
  rc = fsync_all(fd);
  e = errno;
  close(fd);
  if (rc != 0 && e == EINVAL)
    rc = 0;
  errno = e;
  return rc;
}

/* sync_dir of path's directory. */
static int sync_parent(const char *path)
{
  char *dir = dir_of(path);
  int rc, e;
  if (!dir) {
    errno = ENOMEM;
    return -1;
  }
  rc = sync_dir(dir);
  e = errno;
  free(dir);
  errno = e;
  return rc;
}

/* A write that takes nothing (0, not an error: a full device may say so) would be tried
 * for ever: it is EIO. */
static int write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0) {
      errno = EIO;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* 16 hex digits into hex: random, or, should the generator fail, different each call. */
static void random_hex(char hex[17])
{
  static unsigned long count;
  unsigned char r[8];
  int i;
  if (RAND_bytes(r, sizeof r) != 1) {
    unsigned long long v = ((unsigned long long)getpid() << 32) ^ (unsigned long long)time(NULL) ^
                           (++count * 0x9E3779B97F4A7C15ULL);
    for (i = 0; i < 8; i++)
      r[i] = (unsigned char)(v >> (8 * i));
  }
  for (i = 0; i < 8; i++)
    snprintf(hex + 2 * i, 3, "%02x", r[i]);
}

/* A new file of ours in dir (its name written to tmp, which has room for dir plus
 * TEMP_NAME and 17); -1 with errno set. */
static int create_temp(const char *dir, char *tmp, size_t size)
{
  int i, fd = -1;
  for (i = 0; i < TEMP_TRIES && fd < 0; i++) {
    char hex[17];
    random_hex(hex);
    snprintf(tmp, size, "%s" TEMP_NAME "%s", dir, hex);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST)
      return -1;
  }
  return fd;
}

/* Gives the new file fd its mode and content, durably, and closes it. */
static int fill(int fd, const void *data, size_t len, const char **what)
{
  int rc, e;
  /* the umask may have taken bits from 0600 (a file we could not read back) */
  if (fchmod(fd, 0600) != 0) {
    *what = "set the mode of the temporary file";
  } else if (write_all(fd, data, len) != 0) {
    *what = "write the temporary file";
  } else {
    rc = fsync_all(fd);
    if (rc == 0) {
      /* a close error (NFS reports late write errors there) fails the write too */
      if (close(fd) == 0)
        return 0;
      *what = "close the temporary file";
      return -1;
    }
    *what = "fsync the temporary file";
  }
  e = errno;
  close(fd);
  errno = e;
  return -1;
}

int acr_write_private(const char *path, const void *data, size_t len, const char **what)
{
  const char *base = strrchr(path, '/');
  char *dir, *tmp = NULL;
  size_t size;
  int fd, rc, e;
  base = base ? base + 1 : path;
  if (!*base)
    return fail(what, "write a file there", *path ? EISDIR : ENOENT);
  dir = dir_of(path);
  size = dir ? strlen(dir) + sizeof TEMP_NAME + 17 : 0;
  tmp = dir ? malloc(size) : NULL;
  if (!tmp) {
    free(dir);
    return fail(what, "allocate", ENOMEM);
  }
  fd = create_temp(dir, tmp, size);
  if (fd < 0) {
    *what = "create a temporary file";
    rc = -1;
  } else {
    rc = fill(fd, data, len, what);
    if (rc == 0 && rename(tmp, path) != 0) {
      *what = "rename the temporary file into place";
      rc = -1;
    }
    if (rc != 0) {
      e = errno;
      unlink(tmp);
      errno = e;
    } else if (sync_dir(dir) != 0) {
      *what = "fsync the directory";
      rc = -1;
    }
  }
  e = errno;
  free(tmp);
  free(dir);
  errno = e;
  return rc;
}

/* Opens the journal for appending: made 0600 when it is not there (*made), refused
 * unless it is a regular file (a FIFO would block the run for ever); its size in *size. */
static int open_append(const char *path, int *made, off_t *size, const char **what)
{
  int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  *made = 0;
  if (fd < 0 && errno == ENOENT) {
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    *made = fd >= 0;
  }
  if (fd < 0)
    return fail(what, "open the file", errno);
  struct stat st;
  int e = 0;
  const char *step = NULL;
  if (fstat(fd, &st) != 0)
    e = errno, step = "stat the file";
  else if (!S_ISREG(st.st_mode))
    e = EINVAL, step = "open the file (not a regular file)";
  else if (*made && fchmod(fd, 0600) != 0)
    e = errno, step = "set the mode of the file";
  if (step) {
    close(fd);
    return fail(what, step, e);
  }
  *size = st.st_size;
  return fd;
}

int acr_append_private(const char *path, const void *data, size_t len, const char **what)
{
  int made, rc, e;
  off_t size;
  int fd = open_append(path, &made, &size, what);
  if (fd < 0)
    return -1;
  const char *step = "append to the file";
  rc = write_all(fd, data, len);
  if (rc == 0) {
    rc = fsync_all(fd);
    step = "fsync the file";
  }
  e = errno;
  /* a record that is not whole and durable is taken back, so the next one does not
   * land on its remains (the caller holds the lock: nobody else appends) */
  if (rc != 0 && ftruncate(fd, size) == 0)
    (void)fsync_all(fd);
  if (close(fd) != 0 && rc == 0) {
    rc = -1;
    e = errno;
    step = "close the file";
  }
  /* a new file's name is durable once its directory is: synced on its first append,
   * whether that append succeeded or not */
  if (made && sync_parent(path) != 0 && rc == 0) {
    rc = -1;
    e = errno;
    step = "fsync the directory";
  }
  return rc == 0 ? 0 : fail(what, step, e);
}

int acr_remove_synced(const char *path, int *existed, const char **what)
{
  if (existed)
    *existed = 0;
  if (unlink(path) != 0)
    return errno == ENOENT ? 0 : fail(what, "remove", errno);
  if (existed)
    *existed = 1;
  if (sync_parent(path) != 0)
    return fail(what, "fsync the directory", errno);
  return 0;
}

/* Makes the directory dir unless it is there. */
static int make_one(const char *dir, const char **what)
{
  struct stat st;
  if (mkdir(dir, 0700) == 0) {
    if (chmod(dir, 0700) != 0)   /* as fill's fchmod: the umask */
      return fail(what, "set the mode of a new directory", errno);
    if (sync_parent(dir) != 0)
      return fail(what, "fsync the parent of a new directory", errno);
    return 0;
  }
  if (errno != EEXIST)
    return fail(what, "make a directory", errno);
  if (stat(dir, &st) != 0)
    return fail(what, "stat a directory", errno);
  return S_ISDIR(st.st_mode) ? 0 : fail(what, "make a directory", ENOTDIR);
}

int acr_mkdir_private(const char *path, const char **what)
{
  size_t n = strlen(path), i;
  char *p;
  int rc = 0, e;
  if (n == 0)
    return fail(what, "make a directory", ENOENT);
  p = malloc(n + 1);
  if (!p)
    return fail(what, "allocate", ENOMEM);
  memcpy(p, path, n + 1);
  /* each prefix that ends before a '/', then the whole */
  for (i = 1; rc == 0 && i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0')
      continue;
    p[i] = '\0';
    rc = make_one(p, what);
    p[i] = path[i];
  }
  e = errno;
  free(p);
  errno = e;
  return rc;
}

/* 1 when name is one of create_temp's: TEMP_PREFIX and TEMP_HEX lower-case hex digits. */
static int is_temp_name(const char *name)
{
  size_t n = sizeof TEMP_PREFIX - 1, i;
  if (strncmp(name, TEMP_PREFIX, n) != 0 || strlen(name) != n + TEMP_HEX)
    return 0;
  for (i = n; i < n + TEMP_HEX; i++)
    if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
      return 0;
  return 1;
}

int acr_sweep_temp(const char *dir, int *removed, const char **what)
{
  const char *step = NULL;
  DIR *d;
  struct dirent *ent;
  int n = 0, e = 0;
  if (removed)
    *removed = 0;
  d = opendir(dir);
  if (!d)
    return errno == ENOENT ? 0 : fail(what, "read the directory", errno);
  for (;;) {
    errno = 0;
    ent = readdir(d);
    if (!ent) {
      if (errno != 0) {
        step = "read the directory";
        e = errno;
      }
      break;
    }
    if (!is_temp_name(ent->d_name))
      continue;
    if (unlinkat(dirfd(d), ent->d_name, 0) == 0) {
      n++;
    } else if (errno != ENOENT) {
      step = "remove a stale temporary file";
      e = errno;
      break;
    }
  }
  closedir(d);
  if (removed)
    *removed = n;
  if (step)
    return fail(what, step, e);
  if (n > 0 && sync_dir(dir) != 0)
    return fail(what, "fsync the directory", errno);
  return 0;
}

int acr_lock_file(const char *path, int *fd, const char **what)
{
  int i, rc, e;
  *fd = -1;
  /* Made 0600 whatever the umask when it is ours; one that is there is opened as it is.
   * Between the two opens another run may remove it: then try again. */
  for (i = 0; i < TEMP_TRIES && *fd < 0; i++) {
    *fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd >= 0) {
      if (fchmod(*fd, 0600) != 0) {
        e = errno;
        close(*fd);
        *fd = -1;
        return fail(what, "set the mode of the lock file", e);
      }
      break;
    }
    if (errno != EEXIST)
      return fail(what, "create the lock file", errno);
    *fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0 && errno != ENOENT)
      return fail(what, "open the lock file", errno);
  }
  if (*fd < 0)
    return fail(what, "open the lock file", ENOENT);
  do
    rc = flock(*fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    e = errno == EWOULDBLOCK ? EAGAIN : errno;
    close(*fd);
    *fd = -1;
    return fail(what, "lock the lock file", e);
  }
  return 0;
}

void acr_unlock_file(int *fd)
{
  if (*fd >= 0) {
    /* LOCK_UN first: a child forked but not yet exec'd shares the descriptor */
    flock(*fd, LOCK_UN);
    close(*fd);
    *fd = -1;
  }
}
