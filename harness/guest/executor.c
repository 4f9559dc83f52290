// ovlexec: the syscall executor that runs inside a guest kernel (harness/guest/). The host
// keeps the generator, the model and the comparison; this program only makes the syscalls and
// walks the trees, so a step under software emulation costs the kernel's time and little else.
//
// Protocol (harness/guest/protocol.ts has the host side): frames in both directions, each a
// u32 little-endian length and that many bytes of tokens, each token a u32 length and bytes.
// A request's first token names it; a reply's first token is "0" or an errno number, then
// values. Calls are the harness's syscalls as data (harness/calls.ts).
//
// Build: gcc -O2 -static -o ovlexec executor.c    Run: ovlexec IN OUT (fifos, a virtio port, or - -)

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PROTOCOL "2"
#define MAX_FRAME (64u << 20)

static int in_fd, out_fd;

// ------------------------------------------------------------------ growable output buffer

static char *out;
static size_t out_len, out_cap;

static void put_bytes(const void *p, size_t n) {
  if (out_len + n > out_cap) {
    while (out_len + n > out_cap) out_cap = out_cap ? out_cap * 2 : 65536;
    out = realloc(out, out_cap);
    if (!out) { perror("ovlexec: realloc"); exit(70); }
  }
  memcpy(out + out_len, p, n);
  out_len += n;
}

static void put_u32(uint32_t v) {
  unsigned char b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff };
  put_bytes(b, 4);
}

static void tok(const void *p, size_t n) { put_u32((uint32_t)n); put_bytes(p, n); }
static void tok_s(const char *s) { tok(s, strlen(s)); }
static void tok_u(unsigned long long v) { char b[32]; snprintf(b, sizeof b, "%llu", v); tok_s(b); }
static void tok_errno(int e) { char b[16]; snprintf(b, sizeof b, "%d", e); tok_s(b); }
/** A status token: "0" for success, else the errno number. */
static void tok_rc(int rc) { if (rc < 0) tok_errno(errno); else tok_s("0"); }

// ------------------------------------------------------------------ frames

static int read_full(int fd, void *p, size_t n) {
  for (size_t got = 0; got < n;) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r == 0) return -1;
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    got += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const void *p, size_t n) {
  for (size_t done = 0; done < n;) {
    ssize_t r = write(fd, (const char *)p + done, n - done);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    done += (size_t)r;
  }
  return 0;
}

static uint32_t get_u32(const unsigned char *b) { return b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24); }

/** Request tokens: NUL-terminated copies (values may hold NULs: their length is kept). */
static char **arg;
static size_t *arg_len;
static int nargs, cap_args;

static int read_request(void) {
  static unsigned char *buf;
  static size_t cap;
  unsigned char h[4];
  if (read_full(in_fd, h, 4)) return -1;
  uint32_t n = get_u32(h);
  if (n > MAX_FRAME) { fprintf(stderr, "ovlexec: frame of %u bytes\n", n); return -1; }
  // Each token is copied to a NUL-terminated string: room for a NUL per token.
  if (n * 2 + 16 > cap) { cap = n * 2 + 16; buf = realloc(buf, cap); if (!buf) return -1; }
  unsigned char *raw = buf + n + 8;
  if (read_full(in_fd, raw, n)) return -1;
  char *dst = (char *)buf;
  nargs = 0;
  for (size_t off = 0; off + 4 <= n;) {
    if (nargs == cap_args) {
      cap_args = cap_args ? cap_args * 2 : 1024;
      arg = realloc(arg, cap_args * sizeof *arg);
      arg_len = realloc(arg_len, cap_args * sizeof *arg_len);
      if (!arg || !arg_len) return -1;
    }
    uint32_t len = get_u32(raw + off);
    off += 4;
    if (len > n - off) { fprintf(stderr, "ovlexec: bad token\n"); return -1; }
    memcpy(dst, raw + off, len);
    dst[len] = 0;
    arg[nargs] = dst;
    arg_len[nargs++] = len;
    dst += len + 1;
    off += len;
  }
  return 0;
}

static int send_reply(void) {
  unsigned char h[4] = { out_len & 0xff, (out_len >> 8) & 0xff, (out_len >> 16) & 0xff, (out_len >> 24) & 0xff };
  int rc = write_full(out_fd, h, 4) || write_full(out_fd, out, out_len);
  out_len = 0;
  return rc;
}

static long long num(int i) { return i < nargs ? strtoll(arg[i], NULL, 10) : 0; }
static const char *str(int i) { return i < nargs ? arg[i] : ""; }

// ------------------------------------------------------------------ calls (harness/calls.ts)

static int open_write_close(const char *path, int flags, mode_t mode, const char *data, size_t len, int has_data) {
  int fd = open(path, flags | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  if (has_data) {
    ssize_t w = write(fd, data, len);
    if (w < 0) { int e = errno; close(fd); errno = e; return -1; }
  }
  return close(fd);
}

/** open(2) O_WRONLY|O_NONBLOCK, pwrite(2) of data at offset, close(2): the pwrite step (S17.6). */
static int pwrite_close(const char *path, off_t offset, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = pwrite(fd, data, len, offset);
  if (w < 0) { int e = errno; close(fd); errno = e; return -1; }
  return close(fd);
}

static int run_call(int i, int *next);

/**
 * "as uid gid umask n g1..gn <call>": the call with those effective ids, groups and umask
 * (harness/creds.ts), then back to root. A switch that fails either way ends the executor:
 * it is a harness error, never an outcome.
 */
static int run_as(int i, int *next) {
  if (i + 5 > nargs) { *next = nargs; errno = EPROTO; return -1; }
  int n = (int)num(i + 4);
  if (n < 0 || n > 64 || i + 5 + n > nargs) { *next = nargs; errno = EPROTO; return -1; }
  gid_t groups[64], saved[64];
  for (int k = 0; k < n; k++) groups[k] = (gid_t)num(i + 5 + k);
  int nsaved = getgroups(64, saved);
  if (nsaved < 0 || setgroups((size_t)n, groups) || setresgid(-1, (gid_t)num(i + 2), -1) || setresuid(-1, (uid_t)num(i + 1), -1)) {
    perror("ovlexec: switching credentials");
    exit(3);
  }
  mode_t old = umask((mode_t)num(i + 3));
  int rc = run_call(i + 5 + n, next);
  int e = errno;
  umask(old);
  if (setresuid(-1, 0, -1) || setresgid(-1, 0, -1) || setgroups((size_t)nsaved, saved)) {
    perror("ovlexec: switching credentials back to root");
    exit(3);
  }
  errno = e;
  return rc;
}

/** Runs the call whose name is at token i; sets *next to the token after its arguments. */
static int run_call(int i, int *next) {
  const char *c = str(i);
#define NEED(n) do { *next = i + 1 + (n); if (*next > nargs) { errno = EPROTO; return -1; } } while (0)
  if (!strcmp(c, "open")) { NEED(5); return open_write_close(str(i + 1), (int)num(i + 2), (mode_t)num(i + 3), arg[i + 5], arg_len[i + 5], num(i + 4) != 0); }
  if (!strcmp(c, "mkdir")) { NEED(2); return mkdir(str(i + 1), (mode_t)num(i + 2)); }
  if (!strcmp(c, "chmod")) { NEED(2); return chmod(str(i + 1), (mode_t)num(i + 2)); }
  if (!strcmp(c, "pwrite")) { NEED(3); return pwrite_close(str(i + 1), (off_t)num(i + 2), arg[i + 3], arg_len[i + 3]); }
  if (!strcmp(c, "truncate")) { NEED(2); return truncate(str(i + 1), (off_t)num(i + 2)); }
  if (!strcmp(c, "unlink")) { NEED(1); return unlink(str(i + 1)); }
  if (!strcmp(c, "rmdir")) { NEED(1); return rmdir(str(i + 1)); }
  if (!strcmp(c, "rename")) { NEED(3); return (int)syscall(SYS_renameat2, AT_FDCWD, str(i + 1), AT_FDCWD, str(i + 2), (unsigned)num(i + 3)); }
  if (!strcmp(c, "symlink")) { NEED(2); return symlink(str(i + 1), str(i + 2)); }
  if (!strcmp(c, "link")) { NEED(2); return link(str(i + 1), str(i + 2)); }
  if (!strcmp(c, "mknod")) { NEED(3); return mknod(str(i + 1), (mode_t)num(i + 2), (dev_t)num(i + 3)); }
  if (!strcmp(c, "setxattr")) {
    NEED(5);
    return (num(i + 5) ? lsetxattr : setxattr)(str(i + 1), str(i + 2), arg[i + 3], arg_len[i + 3], (int)num(i + 4));
  }
  if (!strcmp(c, "removexattr")) { NEED(2); return removexattr(str(i + 1), str(i + 2)); }
  if (!strcmp(c, "chown")) { NEED(4); return (num(i + 4) ? lchown : chown)(str(i + 1), (uid_t)num(i + 2), (gid_t)num(i + 3)); }
  if (!strcmp(c, "utimes")) {
    NEED(6);
    struct timespec ts[2] = { { (time_t)num(i + 2), (long)num(i + 3) }, { (time_t)num(i + 4), (long)num(i + 5) } };
    return utimensat(AT_FDCWD, str(i + 1), ts, (int)num(i + 6));
  }
  if (!strcmp(c, "as")) return run_as(i, next);
  *next = nargs;
  errno = ENOSYS;
  return -1;
#undef NEED
}

// ------------------------------------------------------------------ tree walk (harness/snapshot.ts)

static char data_buf[65536], xlist[65536], xval[65536];
static long walked;

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/** An error token ("" or the errno) and a regular file's content (empty on error). */
static void tok_file(const char *full) {
  int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { tok_errno(errno); tok_s(""); return; }
  size_t start = out_len;
  tok_s("");
  size_t at = out_len;
  put_u32(0); // patched below
  for (;;) {
    ssize_t n = read(fd, data_buf, sizeof data_buf);
    if (n == 0) break;
    if (n < 0) {
      int e = errno;
      out_len = start;
      tok_errno(e);
      tok_s("");
      close(fd);
      return;
    }
    put_bytes(data_buf, (size_t)n);
  }
  close(fd);
  uint32_t len = (uint32_t)(out_len - at - 4);
  unsigned char h[4] = { len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, (len >> 24) & 0xff };
  memcpy(out + at, h, 4);
}

/**
 * One entry: path, state ("" or the errno of lstat/readdir), st_mode, uid, gid, nlink, ino,
 * dev, rdev, blocks, content error ("" or errno), content (file data, symlink target, else empty),
 * xattr count, then per xattr: name, value error ("" or errno), value.
 */
static void walk(const char *rel, const char *full) {
  struct stat st;
  walked++;
  tok_s(rel);
  if (lstat(full, &st) < 0) {
    tok_errno(errno);
    for (int k = 0; k < 9; k++) tok_s("0");
    tok_s(""); tok_s("");
    tok_s("0");
    return;
  }
  // A dir whose listing fails is reported with readdir's errno instead (snapshot.ts does so).
  // Names first (a listing may fail part way: the dir then shows readdir's errno, as
  // snapshot.ts shows Node's), then the entry, then the children.
  DIR *d = NULL;
  int dir_errno = 0;
  size_t n = 0, cap = 16;
  char **names = NULL;
  if (S_ISDIR(st.st_mode)) {
    d = opendir(full);
    if (!d) dir_errno = errno;
  }
  if (d) {
    names = malloc(cap * sizeof *names);
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d))) {
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        if (n == cap) names = realloc(names, (cap *= 2) * sizeof *names);
        names[n++] = strdup(e->d_name);
      }
      errno = 0;
    }
    dir_errno = errno;
    closedir(d);
    if (dir_errno) {
      for (size_t k = 0; k < n; k++) free(names[k]);
      free(names);
      names = NULL;
    }
  }
  if (dir_errno) tok_errno(dir_errno);
  else tok_s("");
  tok_u(st.st_mode); tok_u(st.st_uid); tok_u(st.st_gid); tok_u(st.st_nlink);
  tok_u((unsigned long long)st.st_ino); tok_u(st.st_dev); tok_u(st.st_rdev); tok_u((unsigned long long)st.st_blocks);
  tok_u((unsigned long long)st.st_mtim.tv_sec); // whole seconds, as snapshot.ts reports mtime
  if (S_ISREG(st.st_mode)) tok_file(full);
  else if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlink(full, data_buf, sizeof data_buf);
    if (n < 0) { tok_errno(errno); tok_s(""); }
    else { tok_s(""); tok(data_buf, (size_t)n); }
  } else { tok_s(""); tok_s(""); }
  ssize_t ln = llistxattr(full, xlist, sizeof xlist);
  int nx = 0;
  for (ssize_t k = 0; ln > 0 && k < ln; k += (ssize_t)strlen(xlist + k) + 1) nx++;
  tok_u((unsigned long long)nx);
  for (ssize_t k = 0; ln > 0 && k < ln; k += (ssize_t)strlen(xlist + k) + 1) {
    tok_s(xlist + k);
    ssize_t vn = lgetxattr(full, xlist + k, xval, sizeof xval);
    if (vn < 0) { tok_errno(errno); tok_s(""); }
    else { tok_s(""); tok(xval, (size_t)vn); }
  }
  if (!names) return;
  qsort(names, n, sizeof *names, name_cmp);
  size_t rl = strlen(rel), fl = strlen(full);
  for (size_t k = 0; k < n; k++) {
    size_t nl = strlen(names[k]);
    char *r2 = malloc(rl + nl + 2), *f2 = malloc(fl + nl + 2);
    sprintf(r2, "%s/%s", rl == 1 ? "" : rel, names[k]); // rel "/" is the root
    sprintf(f2, "%s/%s", full, names[k]);
    walk(r2, f2);
    free(r2); free(f2); free(names[k]);
  }
  free(names);
}

// ------------------------------------------------------------------ lower-layer watch (harness/lowerWatch.ts)

#define CHANGES (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | \
                 IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW)
static int ino_fd = -1;
static int *wds;
static size_t nwds, capwds;
static int fired;

static int ours(int wd) { for (size_t k = 0; k < nwds; k++) if (wds[k] == wd) return 1; return 0; }

/** Reads every queued event; 1 if one of them is a change to a watched object. */
static int drain(void) {
  static char buf[16384] __attribute__((aligned(8)));
  int changed = 0;
  for (;;) {
    ssize_t n = read(ino_fd, buf, sizeof buf);
    if (n <= 0) return changed;
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      if ((ours(ev->wd) && (ev->mask & CHANGES)) || (ev->mask & IN_Q_OVERFLOW)) changed = 1;
      p += sizeof *ev + ev->len;
    }
  }
}

/** Calls fn on every entry of a dir ("." and ".." aside) until it fails. */
static int each_child(const char *path, int (*fn)(const char *)) {
  DIR *d = opendir(path);
  if (!d) return -1;
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *p = malloc(strlen(path) + strlen(e->d_name) + 2);
    sprintf(p, "%s/%s", path, e->d_name);
    rc = fn(p);
    free(p);
  }
  closedir(d);
  return rc;
}

static int watch_listed(const char *path);

static int watch_tree(const char *path) {
  int wd = inotify_add_watch(ino_fd, path, CHANGES);
  if (wd < 0) return -1;
  if (nwds == capwds) wds = realloc(wds, (capwds = capwds ? capwds * 2 : 64) * sizeof *wds);
  wds[nwds++] = wd;
  struct stat st;
  if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) return 0;
  return each_child(path, watch_listed);
}

/** A listed name: an overlay as a lower (S18.1) lists names it cannot look up (S22.9), nothing to watch there (as lowerWatch.ts). */
static int watch_listed(const char *path) {
  int rc = watch_tree(path);
  return rc < 0 && errno == ENOENT ? 0 : rc;
}

// ------------------------------------------------------------------ other requests

static int remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlink(path);
  int rc = each_child(path, remove_tree);
  return rc ? rc : rmdir(path);
}

static void reply_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { tok_errno(errno); return; }
  size_t start = out_len;
  tok_s("0");
  size_t at = out_len;
  put_u32(0);
  for (;;) {
    ssize_t n = read(fd, data_buf, sizeof data_buf);
    if (n == 0) break;
    if (n < 0) { int e = errno; close(fd); out_len = start; tok_errno(e); return; }
    put_bytes(data_buf, (size_t)n);
  }
  close(fd);
  uint32_t len = (uint32_t)(out_len - at - 4);
  unsigned char h[4] = { len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, (len >> 24) & 0xff };
  memcpy(out + at, h, 4);
}

static void reply_list(const char *path) {
  DIR *d = opendir(path);
  if (!d) { tok_errno(errno); return; }
  tok_s("0");
  struct dirent *e;
  while ((e = readdir(d))) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) tok_s(e->d_name);
  closedir(d);
}

/** The new mount API: fsopen, one fsconfig per parameter ("s" key value, or "f" key), create, mount. */
static int new_api_mount(const char *target, int first, int count) {
  int fd = (int)syscall(SYS_fsopen, "overlay", 1 /* FSOPEN_CLOEXEC */);
  if (fd < 0) return -1;
  int rc = 0;
  for (int k = 0; k < count && rc == 0; k++) {
    int t = first + 3 * k;
    if (!strcmp(str(t), "f")) rc = (int)syscall(SYS_fsconfig, fd, 0 /* SET_FLAG */, str(t + 1), NULL, 0);
    else rc = (int)syscall(SYS_fsconfig, fd, 1 /* SET_STRING */, str(t + 1), str(t + 2), 0);
  }
  if (rc == 0) rc = (int)syscall(SYS_fsconfig, fd, 6 /* CMD_CREATE */, NULL, NULL, 0);
  int mfd = -1;
  if (rc == 0) {
    mfd = (int)syscall(SYS_fsmount, fd, 1 /* FSMOUNT_CLOEXEC */, 0);
    if (mfd < 0) rc = -1;
  }
  if (rc == 0) rc = (int)syscall(SYS_move_mount, mfd, "", AT_FDCWD, target, 4 /* MOVE_MOUNT_F_EMPTY_PATH */);
  int e = errno;
  if (mfd >= 0) close(mfd);
  close(fd);
  errno = e;
  return rc;
}

static int handle(void) {
  const char *req = str(0);
  if (!strcmp(req, "hello")) {
    struct utsname u;
    uname(&u);
    tok_s("0"); tok_s(u.release); tok_s(PROTOCOL);
  } else if (!strcmp(req, "call")) {
    int next;
    tok_rc(run_call(1, &next));
  } else if (!strcmp(req, "batch")) {
    // batch N (argc tokens...)*: stops at the first call that fails: its errno and index.
    int count = (int)num(1), i = 2, rc = 0, k;
    for (k = 0; k < count && rc == 0; k++) {
      int argc = (int)num(i), next;
      rc = run_call(i + 1, &next);
      i += 1 + argc;
    }
    if (rc < 0) { tok_errno(errno); tok_u((unsigned long long)(k - 1)); }
    else tok_s("0");
  } else if (!strcmp(req, "walk")) {
    walked = 0;
    tok_s("0");
    size_t at = out_len;
    tok_s("0000000000"); // the entry count, patched below
    walk("/", str(1));
    char b[11];
    snprintf(b, sizeof b, "%010ld", walked);
    memcpy(out + at + 4, b, 10);
  } else if (!strcmp(req, "read")) {
    reply_file(str(1));
  } else if (!strcmp(req, "list")) {
    reply_list(str(1));
  } else if (!strcmp(req, "lstat")) {
    struct stat st;
    if (lstat(str(1), &st) < 0) tok_errno(errno);
    else { tok_s("0"); tok_u(st.st_mode); tok_u(st.st_dev); tok_u(st.st_ino); }
  } else if (!strcmp(req, "mount")) {
    // mount SRC TARGET FSTYPE FLAGS HAS_DATA DATA CWD: paths relative to CWD if it is not "".
    char here[PATH_MAX];
    int rc = 0;
    if (!getcwd(here, sizeof here)) strcpy(here, "/");
    if (*str(7) && chdir(str(7)) < 0) rc = -1;
    if (rc == 0) rc = mount(str(1), str(2), str(3), (unsigned long)num(4), num(5) ? str(6) : NULL);
    int e = errno;
    if (*str(7) && chdir(here) < 0) { /* stays where it was asked to be */ }
    errno = e;
    tok_rc(rc);
  } else if (!strcmp(req, "fsmount")) {
    tok_rc(new_api_mount(str(1), 3, (int)num(2)));
  } else if (!strcmp(req, "umount")) {
    tok_rc(umount2(str(1), (int)num(2)));
  } else if (!strcmp(req, "rmtree")) {
    tok_rc(remove_tree(str(1)));
  } else if (!strcmp(req, "watch")) {
    // watch ROOT...: a new watch set (the old one's marks go with their tmpfs); events queued before are not ours.
    if (ino_fd < 0) ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino_fd < 0) { tok_errno(errno); return 0; }
    drain();
    nwds = 0;
    fired = 0;
    int rc = 0;
    for (int k = 1; k < nargs && rc == 0; k++) rc = watch_tree(str(k));
    tok_rc(rc);
  } else if (!strcmp(req, "changed")) {
    if (!fired && ino_fd >= 0 && drain()) fired = 1;
    tok_s("0");
    tok_s(fired ? "1" : "0");
  } else if (!strcmp(req, "sync")) {
    sync();
    tok_s("0");
  } else if (!strcmp(req, "exit")) {
    tok_s("0");
    return 1;
  } else {
    tok_errno(ENOSYS);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ovlexec IN OUT   (paths, or - for stdin/stdout)\n");
    return 64;
  }
  if (!strcmp(argv[1], "-")) in_fd = 0;
  else if (!strcmp(argv[1], argv[2])) in_fd = open(argv[1], O_RDWR | O_CLOEXEC);
  else in_fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (!strcmp(argv[2], "-")) out_fd = 1;
  else if (!strcmp(argv[1], argv[2])) out_fd = in_fd;
  else out_fd = open(argv[2], O_WRONLY | O_CLOEXEC);
  if (in_fd < 0 || out_fd < 0) { perror("ovlexec: open"); return 66; }
  umask(022); // the model assumes umask 022 (model/profile.ts UMASK)
  for (;;) {
    if (read_request()) return 0; // the host went away
    int done = handle();
    if (send_reply()) return 74;
    if (done) return 0;
  }
}
