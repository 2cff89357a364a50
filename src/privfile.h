/* Files that hold secrets (the secrets-dir sink, its ledger): written atomically, so a
 * reader sees the old content or the new and never a part; mode 0600 in directories
 * made 0700; durable (fsync'd, and their directory too) when the call returns. */
#ifndef ACR_PRIVFILE_H
#define ACR_PRIVFILE_H

#include <stddef.h>

/* Each returns 0, or -1 with errno set and *what naming the step that failed
 * ("create a temporary file", "rename", …; a static string). */

/* Writes data[0..len) to path: a new file in path's directory (O_CREAT | O_EXCL |
 * O_NOFOLLOW, mode 0600 whatever the umask), written, fsync'd, closed, renamed over
 * path, then the directory fsync'd. On failure path is as it was and the temporary
 * file is gone. data is written from where it is: no copy of it is made. A symbolic
 * link at path is replaced, not followed. */
int acr_write_private(const char *path, const void *data, size_t len, const char **what);

/* Appends data[0..len) to path (made when it is not there: mode 0600 whatever the
 * umask, its directory fsync'd then), then fsyncs it: a journal's record, durable when
 * the call returns. A symbolic link at path is not followed (ELOOP). A failed append may
 * leave part of data at the end: a reader of the journal drops a last line without its
 * newline. */
int acr_append_private(const char *path, const void *data, size_t len, const char **what);

/* Removes the file path, then fsyncs its directory. A path that does not exist is
 * not an error: *existed says whether there was one. */
int acr_remove_synced(const char *path, int *existed, const char **what);

/* mkdir -p: every missing directory of path is made, mode 0700 whatever the umask, and
 * its parent fsync'd; the ones that exist are left as they are. */
int acr_mkdir_private(const char *path, const char **what);

/* Removes the files of dir that write_private's temporary files are named as
 * (".acr-tmp-" and 16 hex digits): what a run killed half-way through a write left
 * behind. Call it only where no other process is writing (the caller holds a lock).
 * *removed (may be NULL) says how many; a dir that is not there has none. */
int acr_sweep_temp(const char *dir, int *removed, const char **what);

/* Takes an exclusive flock(2) on the file path without waiting, the file made (mode
 * 0600 whatever the umask) when it is not there; *fd is then its descriptor (O_CLOEXEC,
 * so that no program run meanwhile keeps the lock), which acr_unlock_file releases.
 * Held by another open file (another process, or another lock of this one): -1 with
 * errno EAGAIN. A symbolic link at path is not followed (ELOOP). */
int acr_lock_file(const char *path, int *fd, const char **what);

/* Releases a lock acr_lock_file took, and sets *fd to -1; nothing when *fd is -1. */
void acr_unlock_file(int *fd);

#endif
