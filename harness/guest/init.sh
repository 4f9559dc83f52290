#!/bin/sh
# ovlcheck guest init (busybox sh, PID 1 of a qemu guest; harness/guest/vm.ts boots it).
# Loads the modules in order, then serves the host through the executor on the virtio port
# named "ovlcheck" (ovl.mode=exec), or runs /job/run.sh chrooted into the host's root shared
# read-only over 9p (ovl.mode=cli); then powers off, which ends qemu.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do
  insmod "/mods/$m" || echo "ovlcheck-guest: insmod $m failed"
done
# The link sysctls model/creds.ts assumes (harness/creds.ts checks them on the host): Debian's
# kernels default to protected_symlinks=1, which refuses following a root's symlink in a
# sticky dir of another user (found by the matrix's cross-kernel writer).
echo 1 > /proc/sys/fs/protected_hardlinks
for s in protected_symlinks protected_regular protected_fifos; do echo 0 > "/proc/sys/fs/$s"; done
mode=exec
for a in $(cat /proc/cmdline); do
  case "$a" in ovl.mode=*) mode="${a#ovl.mode=}" ;; esac
done
echo "ovlcheck-guest: $(uname -r) up at $(cut -d' ' -f1 /proc/uptime) s, mode $mode"

if [ "$mode" = exec ]; then
  port=
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = ovlcheck ] && port="/dev/${p##*/}"
  done
  if [ -z "$port" ]; then
    echo "ovlcheck-guest: no virtio port named ovlcheck"
  else
    /bin/ovlexec "$port" "$port"
    echo "ovlcheck-guest: executor exited with $?"
  fi
else
  # The host's root, read-only; tmpfs over /tmp and /run; the job dir (writable) at /tmp/job.
  # The project (ovl.project=DIR) keeps its path, even below /tmp: bound aside, then moved back.
  project=
  for a in $(cat /proc/cmdline); do
    case "$a" in ovl.project=*) project="${a#ovl.project=}" ;; esac
  done
  mkdir -p /host /proj
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose hostroot /host || echo "ovlcheck-guest: 9p root failed"
  [ -n "$project" ] && mount -o bind "/host$project" /proj
  mount -t tmpfs -o mode=1777 tmpfs /host/tmp
  mount -t tmpfs -o mode=755 tmpfs /host/run
  if [ -n "$project" ]; then
    mkdir -p "/host$project" 2>/dev/null
    mount -o move /proj "/host$project"
    # Writable for npm (it updates node_modules' lock file): an overlay on the guest's tmpfs.
    mkdir -p /rw && mount -t tmpfs tmpfs /rw && mkdir -p /rw/u /rw/w
    mount -t overlay overlay -o "lowerdir=/host$project,upperdir=/rw/u,workdir=/rw/w" "/host$project" || echo "ovlcheck-guest: project overlay failed"
  fi
  mkdir -p /host/tmp/job
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none job /host/tmp/job || echo "ovlcheck-guest: 9p job failed"
  mount -t proc proc /host/proc
  mount -t sysfs sysfs /host/sys
  mount -t devtmpfs devtmpfs /host/dev
  mkdir -p /host/dev/pts /host/dev/shm
  mount -t devpts devpts /host/dev/pts
  mount -t tmpfs tmpfs /host/dev/shm
  chroot /host /bin/sh /tmp/job/run.sh > /host/tmp/job/output.txt 2>&1
  echo "$?" > /host/tmp/job/status
  sync
  umount /host/tmp/job
fi
sync
poweroff -f
