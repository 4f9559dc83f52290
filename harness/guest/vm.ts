// A guest kernel under qemu (software emulation: TCG), reached through the executor on a
// virtio-serial port whose host end is a pair of fifos. qemu is a child of this process, inside
// its private namespace (so it dies with the run) and registered for kill on every exit path.
//
// Boot choices for speed under emulation, none of which changes what overlayfs does:
// -cpu max without ERMS/FSRM: with them the guest kernel copies with `rep movsb`, which TCG
// runs a byte at a time (a walk of 37 entries: 20 ms with, 6.5 ms without). mitigations=off
// spares every syscall a page-table switch; lsm=capability, audit=0, init_on_alloc=0,
// hardened_usercopy=off, randomize_kstack_offset=off and nokaslr take hooks and checks off every
// inode operation (a walk of 47 merged entries: 14.6 ms with Debian's defaults, 6.8-9.7 ms
// without). The guest loads no LSM policy, so no LSM would have labelled or refused anything.
const SPEED = 'mitigations=off lsm=capability audit=0 init_on_alloc=0 hardened_usercopy=off randomize_kstack_offset=off nokaslr';

import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { forgetProcess, registerProcess } from '../sandbox.js';
import { Channel } from './channel.js';
import { makeFifos, openFifos, SetupError } from './executor.js';
import { buildInitramfs, type GuestKernel } from './kernels.js';
import { RemoteSys } from './remoteSys.js';

export interface GuestOptions {
  kernel: GuestKernel;
  /** A host directory of its own for the fifos and the console log. */
  workDir: string;
  /** Raw disk images, attached as /dev/vda, /dev/vdb, ... */
  disks?: string[];
  memoryMb?: number;
  /** How long one request may take before the guest counts as hung. */
  requestDeadlineMs?: number;
  /** How long the guest may take to boot and answer. */
  bootDeadlineMs?: number;
}

/** What the guest printed that explains its end: a panic, an oops, or its last lines. */
export function consoleVerdict(text: string): string {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, '')).filter(Boolean);
  const bad = lines.find((l) => /Kernel panic|BUG:|Oops|general protection|watchdog: BUG|hung_task|blocked for more than/.test(l));
  if (bad) return bad.replace(/^\[\s*[\d.]+\]\s*/, '').trim();
  return lines.slice(-3).join(' | ');
}

/** qemu's command line: the ELF image when it could be extracted, else the bzImage. */
export function qemuArgs(k: GuestKernel, initrd: string, o: { fifo?: string; console: string; disks?: string[]; memoryMb?: number; append?: string; shares?: [string, string, boolean][] }): string[] {
  const image = fs.existsSync(path.join(k.dir, 'vmlinux')) ? path.join(k.dir, 'vmlinux') : path.join(k.dir, 'vmlinuz');
  const args = [
    '-accel', 'tcg', '-cpu', 'max,-erms,-fsrm', '-m', String(o.memoryMb ?? 1024), '-smp', '1',
    '-display', 'none', '-monitor', 'none', '-no-reboot', '-nodefaults',
    '-kernel', image, '-initrd', initrd,
    '-append', `console=ttyS0 panic=-1 quiet ${SPEED} ${o.append ?? 'ovl.mode=exec'}`,
    '-serial', `file:${o.console}`,
  ];
  if (o.fifo) args.push('-device', 'virtio-serial-pci', '-chardev', `pipe,id=ch,path=${o.fifo}`, '-device', 'virtserialport,chardev=ch,name=ovlcheck');
  for (const [i, d] of (o.disks ?? []).entries()) args.push('-drive', `file=${d},format=raw,if=virtio,index=${i},cache=unsafe`);
  for (const [tag, dir, ro] of o.shares ?? []) {
    args.push('-fsdev', `local,id=${tag},path=${dir},security_model=none,multidevs=remap${ro ? ',readonly=on' : ''}`, '-device', `virtio-9p-pci,fsdev=${tag},mount_tag=${tag}`);
  }
  return args;
}

export class Guest {
  private constructor(
    readonly sys: RemoteSys,
    private readonly qemu: ResultPromise,
    private readonly fds: { readFd: number; writeFd: number },
    readonly consolePath: string,
    readonly bootMs: number,
  ) {}

  /** Boots the kernel and waits for its executor's hello. */
  static async boot(o: GuestOptions): Promise<Guest> {
    if (!fs.existsSync('/usr/bin/qemu-system-x86_64')) throw new SetupError('guests need qemu (apt-get install qemu-system-x86)');
    const initrd = await buildInitramfs(o.kernel);
    fs.mkdirSync(o.workDir, { recursive: true });
    const fifo = path.join(o.workDir, 'ch');
    for (const f of [`${fifo}.in`, `${fifo}.out`]) fs.rmSync(f, { force: true });
    makeFifos(fifo);
    const consolePath = path.join(o.workDir, 'console.log');
    const started = Date.now();
    const qemu = execa('qemu-system-x86_64', qemuArgs(o.kernel, initrd, { fifo, console: consolePath, disks: o.disks, memoryMb: o.memoryMb }), {
      stdin: 'ignore', stdout: 'ignore', stderr: { file: path.join(o.workDir, 'qemu.log') }, reject: false,
    });
    if (qemu.pid !== undefined) registerProcess(qemu.pid);
    let exited: string | null = null;
    void qemu.then((r) => {
      exited = `qemu exited (${r.exitCode ?? r.signal}): ${fs.existsSync(path.join(o.workDir, 'qemu.log')) ? fs.readFileSync(path.join(o.workDir, 'qemu.log'), 'utf8').trim().split('\n').pop() : ''}`;
    });
    const tell = () => consoleVerdict(readConsole(consolePath));
    let fds: { readFd: number; writeFd: number } | undefined;
    try {
      fds = openFifos(fifo, 60_000, () => exited);
      const channel = new Channel(fds.readFd, fds.writeFd, o.requestDeadlineMs ?? 120_000, tell);
      const sys = new RemoteSys(channel, '/sbx', o.bootDeadlineMs ?? 300_000);
      return new Guest(sys, qemu, fds, consolePath, Date.now() - started);
    } catch (e) {
      qemu.kill('SIGKILL');
      await qemu;
      if (qemu.pid !== undefined) forgetProcess(qemu.pid);
      if (fds) for (const fd of [fds.readFd, fds.writeFd]) fs.closeSync(fd);
      throw e;
    }
  }

  /** qemu's pid. */
  get pid(): number | undefined {
    return this.qemu.pid;
  }

  /** The console so far (kernel messages, the init script's, the executor's errors). */
  console(): string {
    return readConsole(this.consolePath);
  }

  /** Asks the executor to end (the guest then powers off); kills qemu if it does not go within the deadline. */
  async shutdown(deadlineMs = 60_000): Promise<void> {
    try {
      this.sys.sync(deadlineMs / 2);
      this.sys.exit(deadlineMs / 2);
    } catch {
      this.qemu.kill('SIGKILL'); // hung or gone already
    }
    const timer = setTimeout(() => this.qemu.kill('SIGKILL'), deadlineMs);
    try {
      await this.qemu;
    } finally {
      clearTimeout(timer);
      if (this.qemu.pid !== undefined) forgetProcess(this.qemu.pid);
      for (const fd of [this.fds.readFd, this.fds.writeFd]) {
        try {
          fs.closeSync(fd);
        } catch {
          /* closed */
        }
      }
    }
  }

  /** Ends the guest at once (a hang). */
  async kill(): Promise<void> {
    this.qemu.kill('SIGKILL');
    await this.shutdown(1);
  }
}

export interface GuestJob {
  /** Exit status of the job's script, or null if it did not finish in time. */
  status: number | null;
  output: string;
  /** What the console said at the end (a panic line, or its last lines). */
  console: string;
  elapsedMs: number;
}

/**
 * Runs a shell script inside a guest, chrooted into this machine's root (shared read-only over
 * 9p; /tmp and /run are the guest's own tmpfs, `project` keeps its path): the way to run the
 * CLI itself on another kernel. Killed after timeLimitMs.
 */
export async function runInGuest(kernel: GuestKernel, o: { workDir: string; script: string; project: string; timeLimitMs: number }): Promise<GuestJob> {
  const initrd = await buildInitramfs(kernel);
  const job = path.join(o.workDir, 'job');
  fs.rmSync(job, { recursive: true, force: true });
  fs.mkdirSync(job, { recursive: true });
  fs.writeFileSync(path.join(job, 'run.sh'), o.script);
  const consolePath = path.join(o.workDir, 'console.log');
  const started = Date.now();
  const qemu = execa('qemu-system-x86_64', qemuArgs(kernel, initrd, {
    console: consolePath, memoryMb: 2048, append: `ovl.mode=cli ovl.project=${o.project}`, shares: [['hostroot', '/', true], ['job', job, false]],
  }), { stdin: 'ignore', stdout: 'ignore', stderr: { file: path.join(o.workDir, 'qemu.log') }, reject: false });
  if (qemu.pid !== undefined) registerProcess(qemu.pid);
  const timer = setTimeout(() => qemu.kill('SIGKILL'), o.timeLimitMs);
  try {
    await qemu;
  } finally {
    clearTimeout(timer);
    if (qemu.pid !== undefined) forgetProcess(qemu.pid);
  }
  const read = (f: string) => (fs.existsSync(path.join(job, f)) ? fs.readFileSync(path.join(job, f), 'utf8') : '');
  const status = read('status').trim();
  return { status: status === '' ? null : Number(status), output: read('output.txt'), console: consoleVerdict(readConsole(consolePath)), elapsedMs: Date.now() - started };
}

function readConsole(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
