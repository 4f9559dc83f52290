// Disk images that carry layers from one kernel to another: an ext4 filesystem in a sparse
// file, a virtio disk in a guest, a loop mount on the host. The same filesystem (its UUID,
// its inode numbers) is what a host rebooted into another kernel finds under its containers.

import fs from 'node:fs';
import { execa } from 'execa';
import type { Sandbox } from '../sandbox.js';
import type { Sys } from '../sys.js';
import { SetupError } from './executor.js';

/** A fresh ext4 image (sparse). Without a journal: nothing here needs one, and emulated writes are slow. */
export async function createImage(file: string, sizeMb = 256): Promise<void> {
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, sizeMb * 1024 * 1024);
  fs.closeSync(fd);
  const r = await execa('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-E', 'root_owner=0:0', file], { reject: false });
  if (r.exitCode !== 0) throw new SetupError(`mkfs.ext4 failed (apt-get install e2fsprogs): ${String(r.stderr).trim()}`);
}

/** A copy of an image (sparse), so that each kernel that reads it starts from what was written. */
export async function copyImage(from: string, to: string): Promise<void> {
  const r = await execa('cp', ['--sparse=always', from, to], { reject: false });
  if (r.exitCode !== 0) throw new SetupError(`copying ${from} failed: ${String(r.stderr).trim()}`);
}

/**
 * Mounts an image at dir: the disk a guest sees as /dev/vd<letter>, or on the host a loop
 * device (mount(8) sets it to detach itself when the mount goes, which it does with the run's
 * namespace whatever ends the run).
 */
export async function mountImage(sys: Sys, sandbox: Sandbox, image: { file: string; disk?: number }, dir: string): Promise<void> {
  const made = sys.run({ c: 'mkdir', path: dir, mode: 0o755 });
  if (made !== 'ok' && made !== 'EEXIST') throw new Error(`mkdir ${dir} failed with ${made}`);
  if (image.disk !== undefined) {
    const dev = `/dev/vd${String.fromCharCode(97 + image.disk)}`;
    const rc = sys.mount(dev, dir, 'ext4', 0, null);
    if (rc !== 'ok') throw new Error(`mounting ${dev} (${image.file}) on ${dir} failed with ${rc}`);
    return;
  }
  const r = await execa('mount', ['-t', 'ext4', '-o', 'loop', image.file, dir], { reject: false });
  if (r.exitCode !== 0) throw new SetupError(`mount -o loop ${image.file} failed: ${String(r.stderr).trim()}`);
  sandbox.track(dir);
}
