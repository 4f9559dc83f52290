// Userspace implementations served by a FUSE daemon: fuse-overlayfs and unionfs-fuse. The
// daemon runs in the foreground as our child (so it is ours to kill), in our private mount
// namespace. Every wait has a deadline: mounting, each syscall on the mount (a worker thread
// kills a hung daemon and aborts its connection, harness/watchdog.ts), and the daemon's exit.

import fs from 'node:fs';
import { execa, type ResultPromise } from 'execa';
import type { Profile } from '../../model/types.js';
import type { Driver } from '../driver.js';
import { fuseOverlayfsCodec, unionfsFuse3Codec, unionfsFuseCodec, type LayerCodec } from '../codecs.js';
import { resolveBuild, type FuseBuild, type FuseName } from './builds.js';
import { forgetProcess, registerMount, registerProcess, type Sandbox } from '../sandbox.js';
import { fuseConnection, withDeadline } from '../watchdog.js';
import { ExternalDriver, mountsLine, type LayerDirs } from './external.js';

export interface Timeouts {
  /** Until the mount shows in /proc/self/mounts. */
  mountMs: number;
  /** One operation, or one walk of the merged tree. */
  stepMs: number;
  /** Until the daemon exits after its unmount. */
  exitMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { mountMs: 10_000, stepMs: 5_000, exitMs: 5_000 };

interface FuseImplementation {
  name: FuseName;
  /** The command (on PATH), or the path of the build to run (fuseImplementation). */
  binary: string;
  /** The version, where known (fuseImplementation): reports name it. */
  version?: string;
  codec: LayerCodec;
  /** The daemon's argv (foreground) for these layers. */
  args(d: LayerDirs): string[];
}

/** fuse-overlayfs reads and writes the kernel's layer format (it prints "unknown argument ignored: lazytime"). */
const FUSE_OVERLAYFS: FuseImplementation = {
  name: 'fuse-overlayfs',
  binary: 'fuse-overlayfs',
  codec: fuseOverlayfsCodec,
  args: (d) => ['-f', '-o', `lowerdir=${d.lowers.join(':')},upperdir=${d.upper},workdir=${d.work}`, d.merged],
};

/**
 * unionfs-fuse in copy-on-write mode, its metadata dir hidden from the merged view, with no
 * kernel caching of entries or attributes (so that each step sees the daemon's answer).
 */
const UNIONFS_FUSE: FuseImplementation = {
  name: 'unionfs-fuse',
  binary: 'unionfs',
  codec: unionfsFuseCodec,
  args: (d) => [
    '-f', '-o', 'cow,hide_meta_files,attr_timeout=0,entry_timeout=0,negative_timeout=0',
    [`${d.upper}=RW`, ...d.lowers.map((l) => `${l}=RO`)].join(':'), d.merged,
  ],
};

/** Each implementation as its command on PATH runs it. */
export const FUSE_IMPLEMENTATIONS: Record<FuseName, FuseImplementation> = {
  'fuse-overlayfs': FUSE_OVERLAYFS,
  'unionfs-fuse': UNIONFS_FUSE,
};

/**
 * An implementation as one build of it runs: its binary, and the layer format of its version.
 * unionfs-fuse keeps its metadata in .unionfs-fuse/ in 1.0 (Debian's; by experiment) and in
 * .unionfs/ in 3.7 (src/unionfs.h:13 of the vendored source): 1.x is taken as 1.0's format,
 * any later version as 3.7's. fuse-overlayfs writes the kernel's format in every version.
 */
export function fuseImplementation(name: FuseName, build: FuseBuild): FuseImplementation {
  const base = FUSE_IMPLEMENTATIONS[name];
  const codec = name === 'unionfs-fuse' && Number(build.version.split('.')[0]) >= 2 ? unionfsFuse3Codec : base.codec;
  return { ...base, binary: build.binary, version: build.version, codec };
}

/** null if the build (NAME@VERSION, --binary, or the one on PATH) can run here, else a one-line reason. */
export function probeFuse(name: FuseName, want: { version?: string; binary?: string } = {}): string | null {
  const build = resolveBuild(name, want);
  if (typeof build === 'string') return build;
  if (!fs.existsSync('/dev/fuse')) return '/dev/fuse is missing (FUSE needs it in the container: --device /dev/fuse)';
  return null;
}

export class FuseDriver extends ExternalDriver {
  readonly name: string;
  readonly version?: string;
  readonly codec: LayerCodec;
  /**
   * The daemon runs as root without allow_other: other users cannot even enter the mount
   * (FUSE refuses every task but the mounter's), so steps as other callers cannot run; times
   * through a FUSE daemon are not what this suite models.
   */
  override readonly cannot: Driver['cannot'];
  private daemon: ResultPromise | null = null;
  private pid = 0;
  private conn = 0;
  /** Where the daemon's stderr goes (see mountLayers). */
  private stderrFile = '';

  constructor(sandbox: Sandbox, private readonly impl: FuseImplementation, private readonly timeouts: Timeouts = DEFAULT_TIMEOUTS) {
    super(sandbox);
    this.name = impl.name;
    this.version = impl.version;
    this.codec = impl.codec;
    this.cannot = {
      callers: 'a FUSE mount without allow_other admits only its mounter', utimes: 'times through a FUSE daemon are not modelled',
      ...(impl.codec.whiteoutDevice === false ? { whiteoutDevices: `a chardev 0/0 is a device in ${impl.name}'s format, not a whiteout (S3.3 is the kernel format's)` } : {}),
    };
  }

  supports(p: Profile): string | null {
    return p.name === 'default' ? null : `runs the default profile only (it has no overlayfs mount options), not ${p.name}`;
  }

  protected describeMount(d: LayerDirs): string {
    return `${this.impl.binary} ${this.impl.args(d).join(' ')}`;
  }

  protected override onMount<T>(fn: () => T): T {
    return withDeadline(this.pid, this.sandbox.fuseControl(), this.conn, this.timeouts.stepMs, fn);
  }

  /** The daemon's pid while it runs (for tests that kill it). */
  get daemonPid(): number {
    return this.pid;
  }

  protected async mountLayers(d: LayerDirs): Promise<void> {
    // Its stderr goes to a file, not a pipe: a pipe is drained only while the event loop runs,
    // and a step's syscalls block it. A daemon that writes enough while a step waits for it
    // then blocks in write(2) and answers nothing: a hang that was ovlcheck's (unionfs-fuse
    // 3.7 reports every failed lookup there).
    // The daemon gets the file's own fd: execa's { file } streams through this process, while an
    // fd number goes to spawn() as it is (execa lib/stdio/native.js; its types list only 3-9).
    this.stderrFile = `${d.root}/daemon.stderr`;
    const stderrFd = fs.openSync(this.stderrFile, 'w');
    let daemon: ResultPromise;
    try {
      daemon = execa(this.impl.binary, this.impl.args(d), { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: stderrFd as unknown as 'ignore', cleanup: true });
    } finally {
      fs.closeSync(stderrFd);
    }
    this.daemon = daemon;
    this.pid = daemon.pid ?? 0;
    if (this.pid) registerProcess(this.pid);
    let exited = false;
    void daemon.then(() => {
      exited = true;
    });
    const deadline = Date.now() + this.timeouts.mountMs;
    while (!/ fuse/.test(mountsLine(d.merged))) {
      if (exited) {
        await this.reap();
        throw new Error(`${this.name} exited before mounting: ${this.lastWords()}`);
      }
      if (Date.now() > deadline) {
        await this.reap();
        throw new Error(`${this.name} did not mount within ${this.timeouts.mountMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    registerMount(d.merged);
    try {
      this.conn = fuseConnection(fs.statSync(d.merged).dev);
    } catch (e) {
      // The daemon mounted and is gone (ENOTCONN): its mount goes too, or it would outlive the case.
      await this.unmountLayers(d);
      const said = this.lastWords();
      throw new Error(`${this.name} mounted, then stopped answering: ${(e as Error).message}${said ? `; it said: ${said}` : ''}`);
    }
  }

  protected async unmountLayers(d: LayerDirs): Promise<void> {
    try {
      this.sandbox.unmount(d.merged); // lazily if busy
    } finally {
      await this.reap();
    }
  }

  /** The last line the daemon wrote to its stderr, or ''. */
  private lastWords(): string {
    try {
      const fd = fs.openSync(this.stderrFile, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        const buf = Buffer.alloc(Math.min(size, 2000));
        fs.readSync(fd, buf, 0, buf.length, size - buf.length);
        return buf.toString().trim().split('\n').pop() ?? '';
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return '';
    }
  }

  /** Wait for the daemon to exit (it does once unmounted); past the deadline, kill it. */
  private async reap(): Promise<void> {
    const daemon = this.daemon;
    if (!daemon) return;
    this.daemon = null;
    const timer = setTimeout(() => daemon.kill('SIGKILL'), this.timeouts.exitMs);
    await daemon;
    clearTimeout(timer);
    forgetProcess(this.pid);
    this.pid = 0;
  }
}
