// The new mount API (fsopen/fsconfig/fsmount/move_mount): one layer per lowerdir+= call, so a
// stack deeper than mount(2)'s one page of options still mounts (S1.10, S1.12).

import koffi from 'koffi';
import { AT_FDCWD, errnoName, libcBindings } from './native.js';
import type { Outcome } from '../model/types.js';

const FSOPEN_CLOEXEC = 1, FSMOUNT_CLOEXEC = 1, MOVE_MOUNT_F_EMPTY_PATH = 4;
const FSCONFIG_SET_FLAG = 0, FSCONFIG_SET_STRING = 1, FSCONFIG_CMD_CREATE = 6;

interface Api {
  fsopen: (name: string, flags: number) => number;
  fsconfig: (fd: number, cmd: number, key: string | null, value: string | null, aux: number) => number;
  fsmount: (fd: number, flags: number, attrs: number) => number;
  moveMount: (fromFd: number, fromPath: string, toFd: number, toPath: string, flags: number) => number;
  close: (fd: number) => number;
}
const load = libcBindings<Api>({
  fsopen: 'int fsopen(const char *fs_name, unsigned int flags)',
  fsconfig: 'int fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux)',
  fsmount: 'int fsmount(int fd, unsigned int flags, unsigned int attr_flags)',
  moveMount: 'int move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags)',
  close: 'int close(int fd)',
});

/** Parameters in order; a null value is a flag ("userxattr", "ro"). */
export function mountWithFsconfig(target: string, params: [string, string | null][]): Outcome {
  const a = load();
  const fd = a.fsopen('overlay', FSOPEN_CLOEXEC);
  if (fd < 0) return errnoName(koffi.errno());
  try {
    for (const [key, value] of params) {
      const rc = value === null ? a.fsconfig(fd, FSCONFIG_SET_FLAG, key, null, 0) : a.fsconfig(fd, FSCONFIG_SET_STRING, key, value, 0);
      if (rc < 0) return errnoName(koffi.errno());
    }
    if (a.fsconfig(fd, FSCONFIG_CMD_CREATE, null, null, 0) < 0) return errnoName(koffi.errno());
    const mfd = a.fsmount(fd, FSMOUNT_CLOEXEC, 0);
    if (mfd < 0) return errnoName(koffi.errno());
    try {
      if (a.moveMount(mfd, '', AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) return errnoName(koffi.errno());
    } finally {
      a.close(mfd);
    }
    return 'ok';
  } finally {
    a.close(fd);
  }
}
