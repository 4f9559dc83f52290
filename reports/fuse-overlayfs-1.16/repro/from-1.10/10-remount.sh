#!/bin/sh
# fuse-overlayfs: data: after a remount: merged: data lost all bytes, file from lower
#
# ovlcheck case reports/fuse-overlayfs-1.16/repro/from-1.10/10-remount.json
# found: fuse-overlayfs 1.10's case reports/fuse-overlayfs/cases/10.json (found on 6.18.44-fc-v595) with a remount after its step, added by hand to show where the write went; the remount's finding on fuse-overlayfs 1.16.
# replayed on fuse-overlayfs 1.16 (/var/cache/ovlcheck-impl/fuse-overlayfs-1.16/bin/fuse-overlayfs), kernel 6.18.44-fc-v857, 2026-12-01
# expected as the model says of Linux 6.18: `kernel` exits 0 on that kernel line (rules differ between versions)
#
# Usage, as root: sh 10-remount.sh [kernel]
#   no argument: fuse-overlayfs 1.16 (/var/cache/ovlcheck-impl/fuse-overlayfs-1.16/bin/fuse-overlayfs)
#   kernel: the running kernel's overlayfs on the same layers, in its own format
# Exit 1: the fault shows; 0: it does not; 2: the script could not run here.
# Needs: coreutils, util-linux (unshare, mount), attr (setfattr, getfattr), python3.
set -u
[ "$(id -u)" = 0 ] || { echo "repro: run as root" >&2; exit 2; }
# A private mount and pid namespace: every mount and daemon goes with it, however this ends.
if [ "${OVLCHECK_REPRO_NS:-}" != 1 ]; then
  OVLCHECK_REPRO_NS=1 exec unshare --mount --propagation private --pid --fork --kill-child -- sh "$0" "$@"
fi
for t in python3 setfattr getfattr; do command -v $t >/dev/null || { echo "repro: needs $t" >&2; exit 2; }; done
TARGET=${1:-fuse-overlayfs}
case $TARGET in fuse-overlayfs|kernel) ;; *) echo "repro: the target is fuse-overlayfs or kernel, not $TARGET" >&2; exit 2;; esac
T=$(mktemp -d /tmp/ovlcheck-repro.XXXXXX) || exit 2
M=$T/merged
DAEMON=
cleanup() {
  trap - EXIT INT TERM HUP
  for m in "$T/kernel-read" "$M"; do umount -l "$m" 2>/dev/null; done
  [ -z "$DAEMON" ] || { kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null; }
  umount -l "$T" 2>/dev/null; rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP
mount -t tmpfs ovlcheck-repro "$T" || exit 2
umask 022
export M
LOWERS="$T/l0"
joined() { # SEP SUFFIX: the lower dirs, top first
  out=; for l in $LOWERS; do out=${out:+$out$1}$l$2; done; printf %s "$out"
}
FAULT=0
differs() { echo "  DIFFERS  $1: expected $2, actual $3"; FAULT=1; }
listed() { ls -a1 "$1" 2>/dev/null | grep -Fqx -- "$2"; } # DIR NAME
# The errno a tool's message ends with (its strerror text).
errno_of() {
  case $1 in
    *': Operation not permitted') echo EPERM;;
    *': No such file or directory') echo ENOENT;;
    *': Input/output error') echo EIO;;
    *': Bad file descriptor') echo EBADF;;
    *': Permission denied') echo EACCES;;
    *': Device or resource busy') echo EBUSY;;
    *': File exists') echo EEXIST;;
    *': Invalid cross-device link') echo EXDEV;;
    *': Not a directory') echo ENOTDIR;;
    *': Is a directory') echo EISDIR;;
    *': Invalid argument') echo EINVAL;;
    *': No space left on device') echo ENOSPC;;
    *': Read-only file system') echo EROFS;;
    *': Too many links') echo EMLINK;;
    *': Numerical result out of range') echo ERANGE;;
    *': File name too long') echo ENAMETOOLONG;;
    *': Directory not empty') echo ENOTEMPTY;;
    *': Too many levels of symbolic links') echo ELOOP;;
    *': No data available') echo ENODATA;;
    *': Operation not supported') echo EOPNOTSUPP;;
    *': Transport endpoint is not connected') echo ENOTCONN;;
    *': Stale file handle') echo ESTALE;;
    *': Argument list too long') echo E2BIG;;
    *': No such device or address') echo ENXIO;;
    *': Illegal seek') echo ESPIPE;;
    *': Connection timed out') echo ETIMEDOUT;;
    *) echo "?($1)";;
  esac
}
# A step by a tool that makes exactly that syscall: "ok" or its errno.
tool() { if msg=$(timeout -s KILL 10 "$@" 2>&1); then echo ok; elif [ $? = 137 ]; then echo TIMEOUT; else errno_of "$msg"; fi; }
# A step by the helper below (the syscalls no tool makes exactly): "ok" or the errno name.
PY='
import ctypes, errno, os, sys
M = os.environ['\''M'\'']
def path(p): return M + p
def flags(names, table):
    bits = 0
    for n in filter(None, names.split('\''|'\'')): bits |= table[n]
    return bits
O = {n: getattr(os, n) for n in ('\''O_RDONLY'\'', '\''O_WRONLY'\'', '\''O_RDWR'\'', '\''O_CREAT'\'', '\''O_EXCL'\'', '\''O_TRUNC'\'', '\''O_APPEND'\'', '\''O_NOFOLLOW'\'')}
R = {'\''RENAME_NOREPLACE'\'': 1, '\''RENAME_EXCHANGE'\'': 2, '\''RENAME_WHITEOUT'\'': 4}
X = {'\''XATTR_CREATE'\'': 1, '\''XATTR_REPLACE'\'': 2}
libc = ctypes.CDLL(None, use_errno=True)
def check(rc):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
def utime(v):
    return (0, (1 << 30) - 1) if v == '\''now'\'' else (0, (1 << 30) - 2) if v == '\''omit'\'' else (int(v), 0)
def call(c, *a):
    if c == '\''open'\'':
        fd = os.open(path(a[0]), flags(a[1], O) | os.O_NONBLOCK, int(a[2], 8))
        try:
            if len(a) > 3: os.write(fd, bytes.fromhex(a[3]))
        finally: os.close(fd)
    elif c == '\''pwrite'\'':
        fd = os.open(path(a[0]), os.O_WRONLY | os.O_NONBLOCK)
        try: os.pwrite(fd, bytes.fromhex(a[2]), int(a[1]))
        finally: os.close(fd)
    elif c == '\''mkdir'\'': os.mkdir(path(a[0]), int(a[1], 8))
    elif c == '\''truncate'\'': os.truncate(path(a[0]), int(a[1]))
    elif c == '\''rename'\'':
        check(libc.renameat2(-100, path(a[0]).encode(), -100, path(a[1]).encode(), flags(a[2], R)))
    elif c == '\''link'\'': os.link(path(a[0]), path(a[1]), follow_symlinks=False)
    elif c == '\''mknod'\'': os.mknod(path(a[0]), int(a[1], 8), 0)
    elif c == '\''setxattr'\'':
        os.setxattr(path(a[0]), a[1], bytes.fromhex(a[2]), flags(a[3], X), follow_symlinks=(a[4] != '\''nofollow'\''))
    elif c == '\''utimes'\'':
        ts = (ctypes.c_long * 4)(*utime(a[1]), *utime(a[2]))
        check(libc.utimensat(-100, path(a[0]).encode(), ts, 0x100 if a[3] == '\''nofollow'\'' else 0))
    elif c == '\''chmod'\'': os.chmod(path(a[0]), int(a[1], 8))
    elif c == '\''chown'\'': os.chown(path(a[0]), int(a[1]), int(a[2]), follow_symlinks=(a[3] != '\''nofollow'\''))
    elif c == '\''unlink'\'': os.unlink(path(a[0]))
    elif c == '\''rmdir'\'': os.rmdir(path(a[0]))
    elif c == '\''symlink'\'': os.symlink(a[0], path(a[1]))
    elif c == '\''removexattr'\'': os.removexattr(path(a[0]), a[1])
    else: raise SystemExit('\''repro helper: unknown call '\'' + c)
try:
    if os.environ.get('\''AS_UID'\''):
        os.setgroups([int(g) for g in filter(None, os.environ.get('\''AS_GROUPS'\'', '\'''\'').split('\'','\''))])
        os.setresgid(*[int(os.environ['\''AS_GID'\''])] * 3)
        os.setresuid(*[int(os.environ['\''AS_UID'\''])] * 3)
    os.umask(int(os.environ.get('\''AS_UMASK'\'', '\''022'\''), 8))
    call(*sys.argv[1:])
    print('\''ok'\'')
except OSError as e:
    print(errno.errorcode.get(e.errno, '\''E%d'\'' % e.errno))
'
py() { out=$(timeout -s KILL 10 python3 -c "$PY" "$@" 2>&1); [ $? = 137 ] && out=TIMEOUT; echo "$out"; }
closeall() { :; }
# ovlcheck reads the whole merged tree after every step (names, contents, xattrs): so does this.
walk() {
  timeout -s KILL 20 sh -c 'find "$1" -exec stat -c %n {} + >/dev/null 2>&1; find "$1" -type f -exec cat {} + >/dev/null 2>&1; getfattr -R -h -d -m - "$1" >/dev/null 2>&1' sh "$1"
  [ $? != 137 ] || { echo "  HANG: reading $1 got no answer in 20 s"; FAULT=1; }
}

mount_impl() { # $1: where
  /var/cache/ovlcheck-impl/fuse-overlayfs-1.16/bin/fuse-overlayfs -f -o lowerdir="$(joined : "")",upperdir="$T/u",workdir="$T/w" "$1" 2>"$T/daemon.log" &
  DAEMON=$!
  n=0; until grep -q " $1 fuse" /proc/self/mounts; do
    n=$((n + 1)); if [ $n -gt 200 ] || ! kill -0 "$DAEMON" 2>/dev/null; then echo "repro: fuse-overlayfs did not mount: $(tail -1 "$T/daemon.log")" >&2; exit 2; fi
    sleep 0.05
  done
}
umount_impl() { umount "$1" 2>/dev/null || umount -l "$1"; wait "$DAEMON" 2>/dev/null; DAEMON=; }
mount_kernel() { # $1: where
  case $(uname -r) in [1-5].*|6.[0-5].*|6.[0-5]) extra=,redirect_dir=follow,index=off,metacopy=off,xino=off,nfs_export=off;; *) extra=,redirect_dir=follow,index=off,metacopy=off,xino=off,nfs_export=off,uuid=auto;; esac
  mount -t overlay overlay -o "lowerdir=$(joined : ""),upperdir=$T/u,workdir=$T/w$extra" "$1"
}
umount_kernel() { umount "$1"; }

build_layers() { # the layers, in the format of $TARGET
  mkdir "$T/u" "$T/w" "$M" "$T/l0"
  printf '' > "$T/l0"/b || exit 2
  chown -h 0:0 "$T/l0"/b || exit 2
  chmod 0644 "$T/l0"/b || exit 2
  setfattr -h -n user.b -v 0x31 "$T/l0"/b || exit 2
  mkdir "$T/l0"/d || exit 2
  chown -h 0:0 "$T/l0"/d || exit 2
  chmod 0755 "$T/l0"/d || exit 2
  mkdir "$T/l0"/d/c || exit 2
  chown -h 0:0 "$T/l0"/d/c || exit 2
  chmod 0755 "$T/l0"/d/c || exit 2
  ln -T -- "$T/l0"/b "$T/l0"/d/c/c || exit 2
}

mount_target() { if [ "$TARGET" = kernel ]; then mount_kernel "$1" || { echo "repro: the kernel refused the mount" >&2; exit 2; }; else mount_impl "$1"; fi; }
umount_target() { closeall; if [ "$TARGET" = kernel ]; then umount_kernel "$1"; else umount_impl "$1"; fi; }
ROTATIONS=0
rotate() { # the upper becomes the top lower layer; a new empty upper
  umount_target "$M"; ROTATIONS=$((ROTATIONS + 1)); mv "$T/u" "$T/r$ROTATIONS"; rm -rf "$T/w"; mkdir "$T/u" "$T/w"
  LOWERS="$T/r$ROTATIONS $LOWERS"; mount_target "$M"
}
lower_dir() { # N: the Nth lower layer, top first, as they stand now
  i=0; for l in $LOWERS; do [ $i = "$1" ] && { echo "$l"; return; }; i=$((i + 1)); done
}
step() { # N TEXT EXPECTED GOT
  if [ "$3" = "$4" ]; then echo "step $1: $2: expected $3, got $4"; else echo "step $1: $2: expected $3, got $4  <- differs"; fi
}

build_layers
mount_target "$M"
echo "mounted ($TARGET)"
walk "$M"
got=$(py open /b 'O_RDWR|O_TRUNC|O_APPEND' 0600 0a72707272); step 1 'open("/b", O_RDWR|O_TRUNC|O_APPEND) + write("\nrprr")' ok "$got"
walk "$M"
umount_target "$M"; mount_target "$M"; step 2 'umount + mount' ok ok
walk "$M"
echo "checking what the finding is about (the merged view):"
printf '\012rprr' > "$T/expected"
if ! cmp -s "$T/expected" "$M"/b; then differs '/b content' "$(od -An -c "$T/expected" | head -3)" "$(od -An -c "$M"/b 2>&1 | head -3)"; fi
if [ $FAULT = 1 ]; then echo "FAULT SHOWS ($TARGET)"; exit 1; fi
echo "no fault ($TARGET)"
exit 0
