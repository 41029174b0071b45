// faultfs: an LD_PRELOAD shim that plays a small, power-cuttable file
// system under one folder, for the acquisition fault-injection tests.
//
// Every process of a test pipeline (manager, slide writers, the catalog's
// SQLite, HDF5) runs with it; it acts only on paths under
// $VSLIDE_FAULTFS_ROOT and keeps its state in $VSLIDE_FAULTFS_STATE:
//
// * A small disk. STATE/space holds two int64: the byte limit (< 0 = none)
//   and the bytes used. Writes that would grow files under ROOT past the
//   limit fail with ENOSPC (nothing written); truncation, unlink and rename
//   over a file give bytes back. With $VSLIDE_FAULTFS_MATCH set, only paths
//   containing that text are refused (ENOSPC at one write site: the spool,
//   the .h5 file, the catalog); every path still counts.
// * A power cut. fsync/fdatasync of a file copies its content to
//   STATE/shadow/INODE (atomically: a kill mid-copy keeps the older copy);
//   fsync of a directory records its entries in STATE/dirs/INODE. After the
//   test kills every process, harness.cpp rebuilds ROOT from these records
//   only: what was never fsynced is gone, as after a power cut on a file
//   system that keeps exactly what was synced (the pessimistic ext4 model).
//
// glibc's internal calls (stdio's flushes of logs) do not pass through the
// shim; nothing the durability promise depends on uses them.
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void*, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlink)(const char*);
static int (*real_unlinkat)(int, const char*, int);
static int (*real_remove)(const char*);
static int (*real_rename)(const char*, const char*);
static int (*real_renameat)(int, const char*, int, const char*);

static char root[4096];
static size_t root_len;
static char state[4096];
static char match[256];

__attribute__((constructor)) static void faultfs_init(void) {
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
  real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
  real_fallocate = dlsym(RTLD_NEXT, "fallocate");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_unlink = dlsym(RTLD_NEXT, "unlink");
  real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
  real_remove = dlsym(RTLD_NEXT, "remove");
  real_rename = dlsym(RTLD_NEXT, "rename");
  real_renameat = dlsym(RTLD_NEXT, "renameat");
  const char* r = getenv("VSLIDE_FAULTFS_ROOT");
  const char* s = getenv("VSLIDE_FAULTFS_STATE");
  const char* m = getenv("VSLIDE_FAULTFS_MATCH");
  if (r && s) {
    snprintf(root, sizeof(root), "%s", r);
    root_len = strlen(root);
    snprintf(state, sizeof(state), "%s", s);
  }
  if (m) snprintf(match, sizeof(match), "%s", m);
}

static int under_root(const char* path) {
  return root_len > 0 && strncmp(path, root, root_len) == 0 && (path[root_len] == '/' || path[root_len] == 0);
}

static int fd_path(int fd, char* out, size_t n) {
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t len = readlink(link, out, n - 1);
  if (len <= 0) return 0;
  out[len] = 0;
  return 1;
}

static int abs_path(const char* path, char* out, size_t n) {
  if (path[0] == '/') {
    snprintf(out, n, "%s", path);
    return 1;
  }
  char cwd[4096];
  if (!getcwd(cwd, sizeof(cwd))) return 0;
  if ((size_t)snprintf(out, n, "%s/%s", cwd, path) >= n) return 0;  // too long to be ours
  return 1;
}

// Adds `delta` bytes to the used count; refuses (returns 0) growth past the
// limit when the path is subject to it.
static int account(const char* path, int64_t delta) {
  if (delta == 0) return 1;
  char file[4200];
  snprintf(file, sizeof(file), "%s/space", state);
  int fd = open(file, O_RDWR | O_CLOEXEC);
  if (fd < 0) return 1;
  flock(fd, LOCK_EX);
  int64_t v[2] = {-1, 0};
  if (pread(fd, v, sizeof(v), 0) != (ssize_t)sizeof(v)) v[0] = -1;
  int subject = match[0] == 0 || strstr(path, match) != NULL;
  int ok = !(delta > 0 && subject && v[0] >= 0 && v[1] + delta > v[0]);
  if (ok) {
    v[1] += delta;
    if (v[1] < 0) v[1] = 0;
    (void)real_pwrite(fd, v, sizeof(v), 0);
  }
  flock(fd, LOCK_UN);
  close(fd);
  return ok;
}

static int64_t file_size(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  return st.st_size;
}

// Growth of the file if `n` bytes are written at `off` (off < 0: the
// current position, or the end for O_APPEND).
static int admit_write(int fd, off_t off, size_t n) {
  char path[4096];
  if (root_len == 0 || !fd_path(fd, path, sizeof(path)) || !under_root(path)) return 1;
  int64_t size = file_size(fd);
  if (size < 0) return 1;
  if (off < 0) {
    off = (fcntl(fd, F_GETFL) & O_APPEND) ? size : lseek(fd, 0, SEEK_CUR);
    if (off < 0) return 1;
  }
  int64_t end = (int64_t)off + (int64_t)n;
  if (end <= size) return 1;
  if (!account(path, end - size)) {
    errno = ENOSPC;
    return 0;
  }
  return 1;
}

ssize_t write(int fd, const void* buf, size_t n) {
  if (!admit_write(fd, -1, n)) return -1;
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  if (!admit_write(fd, off, n)) return -1;
  return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  if (!admit_write(fd, off, n)) return -1;
  return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  size_t n = 0;
  for (int i = 0; i < cnt; ++i) n += iov[i].iov_len;
  if (!admit_write(fd, -1, n)) return -1;
  return real_writev(fd, iov, cnt);
}

static int admit_truncate(int fd, off_t len) {
  char path[4096];
  if (root_len == 0 || !fd_path(fd, path, sizeof(path)) || !under_root(path)) return 1;
  int64_t size = file_size(fd);
  if (size < 0) return 1;
  if (!account(path, (int64_t)len - size)) {
    errno = ENOSPC;
    return 0;
  }
  return 1;
}

int ftruncate(int fd, off_t len) { return admit_truncate(fd, len) ? real_ftruncate(fd, len) : -1; }
int ftruncate64(int fd, off_t len) { return admit_truncate(fd, len) ? real_ftruncate64(fd, len) : -1; }

int fallocate(int fd, int mode, off_t off, off_t len) {
  if (mode == 0 && !admit_write(fd, off, (size_t)len)) return -1;
  return real_fallocate(fd, mode, off, len);
}

// Bytes freed when `path` (a file under ROOT with one link) goes.
static void release(const char* path) {
  char abs[4096];
  struct stat st;
  if (root_len == 0 || !abs_path(path, abs, sizeof(abs)) || !under_root(abs)) return;
  if (stat(abs, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) account(abs, -(int64_t)st.st_size);
}

int unlink(const char* path) {
  release(path);
  return real_unlink(path);
}

int unlinkat(int dirfd, const char* path, int flags) {
  if (!(flags & AT_REMOVEDIR)) {
    if (path[0] == '/' || dirfd == AT_FDCWD) {
      release(path);
    } else {
      char dir[4096], full[8200];
      if (fd_path(dirfd, dir, sizeof(dir))) {
        snprintf(full, sizeof(full), "%s/%s", dir, path);
        release(full);
      }
    }
  }
  return real_unlinkat(dirfd, path, flags);
}

int remove(const char* path) {
  release(path);
  return real_remove(path);
}

int rename(const char* from, const char* to) {
  release(to);
  return real_rename(from, to);
}

int renameat(int dfrom, const char* from, int dto, const char* to) {
  if (dto == AT_FDCWD || to[0] == '/') release(to);
  return real_renameat(dfrom, from, dto, to);
}

// ---- power cut: what fsync made durable ----

static void copy_durable(int wfd, const char* name) {
  // The caller's descriptor may be write-only: read through a fresh one.
  char self[64];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", wfd);
  int fd = open(self, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char tmp[4200], dst[4200];
  snprintf(tmp, sizeof(tmp), "%s/shadow/%s.tmp.%d", state, name, (int)getpid());
  snprintf(dst, sizeof(dst), "%s/shadow/%s", state, name);
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    close(fd);
    return;
  }
  char buf[1 << 16];
  off_t off = 0;
  for (;;) {
    ssize_t r = pread(fd, buf, sizeof(buf), off);
    if (r <= 0) break;
    if (real_write(out, buf, (size_t)r) != r) break;
    off += r;
  }
  close(out);
  close(fd);
  real_rename(tmp, dst);
}

static void record_dir(int fd, const char* name) {
  char tmp[4200], dst[4200];
  snprintf(tmp, sizeof(tmp), "%s/dirs/%s.tmp.%d", state, name, (int)getpid());
  snprintf(dst, sizeof(dst), "%s/dirs/%s", state, name);
  int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  DIR* d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return;
  }
  FILE* out = fopen(tmp, "w");
  if (out) {
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      char type = S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' : 'o';
      fprintf(out, "%c %llu %s\n", type, (unsigned long long)st.st_ino, e->d_name);
    }
    fclose(out);
    real_rename(tmp, dst);
  }
  closedir(d);
}

static void make_durable(int fd) {
  char path[4096];
  struct stat st;
  if (root_len == 0 || !fd_path(fd, path, sizeof(path)) || !under_root(path) || fstat(fd, &st) != 0) return;
  char name[32];
  snprintf(name, sizeof(name), "%llu", (unsigned long long)st.st_ino);
  if (S_ISDIR(st.st_mode)) {
    record_dir(fd, name);
  } else if (S_ISREG(st.st_mode)) {
    copy_durable(fd, name);
  }
}

int fsync(int fd) {
  int r = real_fsync(fd);
  if (r == 0) make_durable(fd);
  return r;
}

int fdatasync(int fd) {
  int r = real_fdatasync(fd);
  if (r == 0) make_durable(fd);
  return r;
}
