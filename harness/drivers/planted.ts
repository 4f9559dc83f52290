// Planted faults: the kernel's overlayfs with bugs of an overlay implementation put in on
// purpose, to prove that `compare` finds the bugs that matter (issue 10). PlantedDriver
// wraps a KernelDriver and forwards everything; each active fault may intercept a step
// (change its outcome, do more on disk, hang), rewrite a view it reports, or change the
// layers while they are unmounted for a remount or a rotation.
//
// Side effects go through the merged mount where they can (so the overlay's caches stay
// consistent and the effect is exactly what a buggy implementation would leave), straight
// to a lower layer where the bug is a write to it, and to the upper only while unmounted.
// Nothing depends on timing: a hang throws StepTimeout at once, as the watchdog would.

import fs from 'node:fs';
import type { Dirent, FdObserved, Op, OpName, Outcome, Profile, SnapEntry, Snapshot, StackSpec } from '../../model/types.js';
import { privatePrefix } from '../../model/profile.js';
import type { HarmClass } from '../../properties/harm.js';
import { opCall, runCall } from '../calls.js';
import type { Driver, MountFacts } from '../driver.js';
import { lgetxattr, llistxattr, lremovexattr, mknod } from '../native.js';
import type { Sandbox } from '../sandbox.js';
import { kindOf } from '../snapshot.js';
import { StepTimeout } from '../watchdog.js';
import { KernelDriver } from './kernel.js';

/** What a fault sees of the case: its dirs now, and a few reads. Paths are merged-absolute ("/a/b"). */
export class Layers {
  constructor(private readonly kernel: KernelDriver, readonly profile: Profile) {}

  private at(dir: string, p: string): string {
    return p === '/' ? dir : dir + p;
  }

  merged(p: string): string {
    return this.at(this.kernel.layerDirs().merged, p);
  }

  upper(p: string): string {
    return this.at(this.kernel.layerDirs().upper, p);
  }

  /** The lower layers' dirs, top first. */
  lowers(): string[] {
    return this.kernel.layerDirs().lowers;
  }

  /** 'file', 'dir', 'whiteout', ... of a full path, or null if there is nothing. */
  kind(full: string): string | null {
    try {
      const st = fs.lstatSync(full);
      return kindOf(st.mode, st.rdev);
    } catch {
      return null; // ENOENT, ENOTDIR (a parent is not a dir), ...
    }
  }

  /** The topmost lower entry at p that is not a whiteout, as a full path (redirects and opaque dirs ignored). */
  lowerOf(p: string): string | null {
    for (const dir of this.lowers()) {
      const k = this.kind(this.at(dir, p));
      if (k === 'whiteout') return null;
      if (k) return this.at(dir, p);
    }
    return null;
  }

  /** The merged dir's children (names), [] if it is not a dir. */
  children(p: string): string[] {
    try {
      return fs.readdirSync(this.merged(p)).sort();
    } catch {
      return [];
    }
  }

  /** Runs an operation on the merged mount, as the implementation itself would. */
  run(op: Op): Outcome {
    return runCall(opCall(this.kernel.layerDirs().merged, op));
  }

  /** The xattr names of a full path (no symlinks followed). */
  xattrs(full: string): string[] {
    const r = llistxattr(full);
    return r.ok ? r.value : [];
  }

  hasPrivate(full: string, name: string): boolean {
    return lgetxattr(full, privatePrefix(this.profile) + name).ok;
  }
}

/** One fault's hooks, fresh for each case (their state lasts one case). */
export interface FaultHooks {
  /** Around a step (remount and rotate included): `next` makes the call; returns the outcome reported. */
  apply?(op: Op, next: (op: Op) => Outcome, l: Layers): Outcome;
  /** While the overlay is unmounted for a remount or a rotation (the upper not yet moved). */
  unmounted?(how: 'remount' | 'rotate', l: Layers): void;
  /** Rewrites a view before it is reported. */
  snapshot?(view: 'merged' | 'upper' | number, snap: Snapshot, l: Layers): Snapshot;
}

export interface PlantedFault {
  harm: HarmClass;
  /** What the bug is, as the title of a bug report. */
  describe: string;
  /** Where it shows first: the step itself, a later step, a remount or a rotation. */
  shows: string;
  hooks(): FaultHooks;
}

const pathOf = (op: Op): string | undefined => ('path' in op ? op.path : 'src' in op ? op.src : undefined);
const writes = (op: Op) => (op.op === 'open' && op.data !== undefined && !op.flags.includes('O_RDONLY')) || (op.op === 'truncate' && op.size > 0);
const childOf = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const parentOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';
/** A hang, as the watchdog reports a daemon that did not answer (at once: no timing involved). */
const hang = () => new StepTimeout('the planted daemon did not answer: killed');

/** A copy of a view with some entries changed. */
function rewrite(snap: Snapshot, change: (path: string, e: SnapEntry) => Partial<SnapEntry> | null): Snapshot {
  const out: Snapshot = new Map();
  for (const [p, e] of snap) out.set(p, { ...e, ...(change(p, e) ?? {}) });
  return out;
}

export const PLANTED: Record<string, PlantedFault> = {
  // ------------------------------------------------------------------ data
  'truncate-on-unmount': {
    harm: 'data',
    describe: 'data written through the mount is not flushed at unmount: written files come back empty after a remount',
    shows: 'remount or rotation',
    hooks() {
      const written = new Set<string>();
      return {
        apply(op, next) {
          const r = next(op);
          if (r === 'ok' && writes(op)) written.add(pathOf(op)!);
          return r;
        },
        unmounted(_how, l) {
          for (const p of written) if (l.kind(l.upper(p)) === 'file') fs.truncateSync(l.upper(p), 0);
          written.clear();
        },
      };
    },
  },
  'rotate-drops-empty-files': {
    harm: 'data',
    describe: 'committing the upper as a layer (rotation) leaves out its empty regular files',
    shows: 'rotation',
    hooks: () => ({
      unmounted(how, l) {
        if (how !== 'rotate') return;
        const drop = (dir: string) => {
          for (const name of fs.readdirSync(dir)) {
            const full = `${dir}/${name}`;
            const k = l.kind(full);
            if (k === 'dir') drop(full);
            else if (k === 'file' && fs.lstatSync(full).size === 0) fs.unlinkSync(full);
          }
        };
        drop(l.upper('/'));
      },
    }),
  },
  'copyup-writes-lower': {
    harm: 'data',
    describe: 'a write to a file from a lower layer also reaches the lower file (copy-up shares its pages)',
    shows: 'step',
    hooks: () => ({
      apply(op, next, l) {
        const lower = writes(op) ? l.lowerOf(pathOf(op)!) : null;
        const lowerFile = lower && l.kind(lower) === 'file' ? lower : null;
        const r = next(op);
        if (r === 'ok' && lowerFile) {
          const dir = lowerFile.slice(0, lowerFile.length - pathOf(op)!.length);
          const flags = op.op === 'open' ? op.flags.filter((f) => f !== 'O_CREAT' && f !== 'O_EXCL') : [];
          runCall(opCall(dir, op.op === 'open' ? { ...op, flags } : op)); // the same call, on the lower file
        }
        return r;
      },
    }),
  },
  'unlink-deletes-lower': {
    harm: 'data',
    describe: 'unlink of a name from a lower layer deletes it from the lower layer too',
    shows: 'step',
    hooks: () => ({
      apply(op, next, l) {
        const lower = op.op === 'unlink' ? l.lowerOf(op.path) : null;
        const r = next(op);
        if (r === 'ok' && lower && l.kind(lower) !== 'dir') fs.unlinkSync(lower);
        return r;
      },
    }),
  },
  'failed-rmdir-unlinks-files': {
    harm: 'data',
    describe: 'rmdir of a non-empty dir unlinks the files in it before failing with ENOTEMPTY',
    shows: 'step (a failed call)',
    hooks: () => ({
      apply(op, next, l) {
        const r = next(op);
        if (op.op !== 'rmdir' || r !== 'ENOTEMPTY') return r;
        for (const name of l.children(op.path)) {
          const child = childOf(op.path, name);
          if (l.kind(l.merged(child)) !== 'dir') l.run({ op: 'unlink', path: child });
        }
        return r;
      },
    }),
  },
  'exdev-rename-moves-files': {
    harm: 'data',
    describe: 'a rename of a lower dir that fails with EXDEV has already moved the files in it to the new name',
    shows: 'step (a failed call)',
    hooks: () => ({
      apply(op, next, l) {
        const r = next(op);
        if (op.op !== 'rename' || r !== 'EXDEV' || l.kind(l.merged(op.src)) !== 'dir') return r;
        // Moving child by child, as a copy-based dir rename does, and giving up at the first lower child it cannot move.
        if (l.kind(l.merged(op.dst)) === null) l.run({ op: 'mkdir', path: op.dst, mode: 0o755 });
        if (l.kind(l.merged(op.dst)) !== 'dir') return r;
        for (const name of l.children(op.src)) {
          const child = childOf(op.src, name);
          if (l.kind(l.merged(child)) !== 'dir') l.run({ op: 'rename', src: child, dst: childOf(op.dst, name) });
        }
        return r;
      },
    }),
  },
  'renamed-dir-loses-file': {
    harm: 'data',
    describe: "a renamed dir loses its first file at the next step (the dir's cached entries are dropped)",
    shows: 'a later step',
    hooks() {
      let renamed: string | null = null;
      return {
        apply(op, next, l) {
          if (renamed !== null) {
            const file = l.children(renamed).map((n) => childOf(renamed!, n)).find((c) => l.kind(l.merged(c)) === 'file');
            if (file) l.run({ op: 'unlink', path: file });
            renamed = null;
          }
          const isDir = op.op === 'rename' && !op.flags?.includes('RENAME_EXCHANGE') && l.kind(l.merged(op.src)) === 'dir';
          const r = next(op);
          if (isDir && r === 'ok' && op.op === 'rename' && op.src !== op.dst) renamed = op.dst;
          return r;
        },
      };
    },
  },

  // ------------------------------------------------------------------ hang
  'second-dir-rename-hangs': {
    harm: 'hang',
    describe: 'the second rename of a dir in a mount hangs: the first (even a failed one) leaves the rename lock held',
    shows: 'a later step',
    hooks() {
      let locked = false;
      return {
        apply(op, next, l) {
          if (op.op === 'rename' && l.kind(l.merged(op.src)) === 'dir') {
            if (locked) throw hang();
            locked = true;
          }
          return next(op);
        },
        unmounted() {
          locked = false; // a new mount, a new lock
        },
      };
    },
  },
  'walk-hangs-after-remount': {
    harm: 'hang',
    describe: 'after a remount, listing the merged tree never returns when the upper holds a whiteout',
    shows: 'remount',
    hooks() {
      let remounted = false;
      const hasWhiteout = (l: Layers, dir: string): boolean => fs.readdirSync(dir).some((n) => {
        const k = l.kind(`${dir}/${n}`);
        return k === 'whiteout' || (k === 'dir' && hasWhiteout(l, `${dir}/${n}`));
      });
      return {
        unmounted(how) {
          remounted = how === 'remount';
        },
        snapshot(view, snap, l) {
          if (view === 'merged' && remounted && hasWhiteout(l, l.upper('/'))) throw hang();
          return snap;
        },
      };
    },
  },

  // ------------------------------------------------------------------ outcome
  'rmdir-counts-lower-entries': {
    harm: 'outcome',
    describe: 'rmdir of a merged dir whose lower entries are all whited out fails with ENOTEMPTY (counts the lower dir, not the merged one)',
    shows: 'step',
    hooks: () => ({
      apply(op, next, l) {
        if (op.op === 'rmdir' && l.kind(l.merged(op.path)) === 'dir' && l.children(op.path).length === 0) {
          const lowerHasEntries = l.lowers().some((dir) => l.kind(dir + op.path) === 'dir' && fs.readdirSync(dir + op.path).length > 0);
          if (lowerHasEntries) return 'ENOTEMPTY';
        }
        return next(op);
      },
    }),
  },
  'renamed-name-estale': {
    harm: 'outcome',
    describe: 'a name renamed away answers ESTALE instead of ENOENT for the rest of the mount (a stale cached handle)',
    shows: 'a later step',
    hooks() {
      const gone = new Set<string>();
      return {
        apply(op, next) {
          const r = next(op);
          const p = pathOf(op);
          if (r === 'ENOENT' && p !== undefined && gone.has(p)) return 'ESTALE';
          if (r === 'ok' && op.op === 'rename' && !op.flags?.includes('RENAME_EXCHANGE') && op.src !== op.dst) gone.add(op.src);
          if (r === 'ok' && p !== undefined && op.op !== 'rename') gone.delete(p); // made again
          if (r === 'ok' && (op.op === 'rename' || op.op === 'link')) gone.delete(op.dst);
          return r;
        },
        unmounted() {
          gone.clear();
        },
      };
    },
  },
  'mkdir-existing-ok': {
    harm: 'outcome',
    describe: 'mkdir of an existing dir succeeds instead of failing with EEXIST',
    shows: 'step',
    hooks: () => ({
      apply(op, next, l) {
        const r = next(op);
        return op.op === 'mkdir' && r === 'EEXIST' && l.kind(l.merged(op.path)) === 'dir' ? 'ok' : r;
      },
    }),
  },

  // ------------------------------------------------------------------ metadata
  'copyup-drops-xattrs': {
    harm: 'metadata',
    describe: "copy-up does not copy the file's user xattrs",
    shows: 'step',
    hooks: () => ({
      apply(op, next, l) {
        const src = pathOf(op);
        const fromLower = src !== undefined && l.kind(l.upper(src)) === null && l.kind(l.merged(src)) === 'file';
        const names = fromLower ? l.xattrs(l.merged(src)).filter((n) => n.startsWith('user.') || (n.startsWith('trusted.') && !n.startsWith('trusted.overlay.'))) : [];
        const r = next(op);
        if (r !== 'ok' || !names.length) return r;
        const now = op.op === 'rename' ? op.dst : src!; // link: the copy-up is at src
        if (l.kind(l.upper(now)) !== 'file') return r; // not copied up
        for (const n of names) if (!(op.op === 'setxattr' && op.name === n)) lremovexattr(l.merged(now), n);
        return r;
      },
    }),
  },
  'chmod-lost-on-unmount': {
    harm: 'metadata',
    describe: 'chmod is kept in memory only: after a remount the file has its old mode again',
    shows: 'remount or rotation',
    hooks() {
      const old = new Map<string, number>();
      return {
        apply(op, next, l) {
          const kind = op.op === 'chmod' ? l.kind(l.merged(op.path)) : null;
          const mode = kind === 'file' || kind === 'dir' ? fs.lstatSync(l.merged(pathOf(op)!)).mode & 0o7777 : null;
          const r = next(op);
          if (r === 'ok' && mode !== null && !old.has(pathOf(op)!)) old.set(pathOf(op)!, mode);
          return r;
        },
        unmounted(_how, l) {
          for (const [p, mode] of old) if (l.kind(l.upper(p)) === 'file' || l.kind(l.upper(p)) === 'dir') fs.chmodSync(l.upper(p), mode);
          old.clear();
        },
      };
    },
  },

  // ------------------------------------------------------------------ bookkeeping (the cosmetic ones)
  'link-nlink-stale': {
    harm: 'bookkeeping',
    describe: "after link(), the file's st_nlink stays one too low until the next mount",
    shows: 'step',
    hooks() {
      const stale = new Set<number>();
      return {
        apply(op, next, l) {
          const r = next(op);
          if (op.op === 'link' && r === 'ok') stale.add(fs.lstatSync(l.merged(op.dst)).ino);
          return r;
        },
        unmounted() {
          stale.clear();
        },
        snapshot(view, snap) {
          if (view !== 'merged' || !stale.size) return snap;
          return rewrite(snap, (_p, e) => (stale.has(Number(e.ino)) && e.kind !== 'dir' ? { nlink: e.nlink - 1 } : null));
        },
      };
    },
  },
  'copyup-new-ino': {
    harm: 'bookkeeping',
    describe: "st_ino is not kept across copy-up: a copied-up file shows its upper inode's number",
    shows: 'step',
    hooks: () => ({
      snapshot(view, snap, l) {
        if (view !== 'merged') return snap;
        return rewrite(snap, (p, e) => {
          if (e.kind !== 'file' || l.kind(l.upper(p)) !== 'file' || !l.hasPrivate(l.upper(p), 'origin')) return null;
          return { ino: fs.lstatSync(l.upper(p)).ino };
        });
      },
    }),
  },
  'unlink-stray-whiteout': {
    harm: 'bookkeeping',
    describe: 'unlink of a file that is in the upper only leaves a whiteout for it (written back at unmount)',
    shows: 'remount or rotation',
    hooks() {
      const pending = new Set<string>();
      return {
        apply(op, next, l) {
          const upperOnly = op.op === 'unlink' && l.kind(l.upper(op.path)) === 'file' && l.lowers().every((d) => l.kind(d + op.path) === null);
          const r = next(op);
          if (r === 'ok' && upperOnly) pending.add(pathOf(op)!);
          return r;
        },
        unmounted(_how, l) {
          for (const p of pending) {
            // Only where the dir is a merged one, whose listing hides whiteouts: the merged view stays right.
            const parent = parentOf(p);
            const merged = parent === '/' || (l.kind(l.upper(parent)) === 'dir' && l.hasPrivate(l.upper(parent), 'origin'));
            if (merged && l.kind(l.upper(p)) === null) mknod(l.upper(p), fs.constants.S_IFCHR, 0);
          }
          pending.clear();
        },
      };
    },
  },
  'failed-xattr-copies-up': {
    harm: 'bookkeeping',
    describe: 'a setxattr or removexattr that fails still copies the file up',
    shows: 'step (a failed call)',
    hooks: () => ({
      apply(op, next, l) {
        const r = next(op);
        if ((op.op !== 'setxattr' && op.op !== 'removexattr') || r === 'ok') return r;
        if (l.kind(l.merged(op.path)) === 'file' && l.kind(l.upper(op.path)) === null) {
          l.run({ op: 'chmod', path: op.path, mode: fs.lstatSync(l.merged(op.path)).mode & 0o7777 }); // a no-op chmod: copies up
        }
        return r;
      },
    }),
  },
};

/** The names of the faults, checked: a helpful error for a wrong one. */
export function plantedFaults(names: string[]): PlantedFault[] {
  return names.map((n) => {
    const f = PLANTED[n];
    if (!f) throw new Error(`no planted fault "${n}" (there are: ${Object.keys(PLANTED).join(', ')})`);
    return f;
  });
}

export class PlantedDriver implements Driver {
  readonly name: string;
  private readonly kernel: KernelDriver;
  private readonly faults: PlantedFault[];
  private hooks: FaultHooks[] = [];
  private layers: Layers | null = null;

  constructor(sandbox: Sandbox, faults: string[]) {
    this.faults = plantedFaults(faults);
    this.name = `planted(${faults.join(',')})`;
    this.kernel = new KernelDriver(sandbox);
    this.kernel.onUnmounted = (how) => {
      for (const h of this.hooks) h.unmounted?.(how, this.layers!);
    };
  }

  async setup(stack: StackSpec, profile: Profile): Promise<MountFacts> {
    this.hooks = [];
    const facts = await this.kernel.setup(stack, profile);
    this.layers = new Layers(this.kernel, profile);
    this.hooks = this.faults.map((f) => f.hooks());
    return facts;
  }

  apply(op: Op): Outcome {
    // The first fault sees the step first; the kernel is innermost.
    let run = (o: Op): Outcome => this.kernel.apply(o);
    for (const h of [...this.hooks].reverse()) {
      const next = run;
      if (h.apply) run = (o) => h.apply!(o, next, this.layers!);
    }
    return run(op);
  }

  dirents(): Dirent[] | null {
    return this.kernel.dirents();
  }

  cannotRun(op: OpName): string | null {
    return this.kernel.cannotRun(op);
  }

  observed(): FdObserved | undefined {
    return this.kernel.observed?.();
  }

  snapshot(view: 'merged' | 'upper' | number): Snapshot {
    let snap = this.kernel.snapshot(view);
    for (const h of this.hooks) if (h.snapshot) snap = h.snapshot(view, snap, this.layers!);
    return snap;
  }

  lowersChanged(): boolean {
    return this.kernel.lowersChanged();
  }

  remount(): Promise<void> {
    return this.kernel.remount();
  }

  async teardown(): Promise<void> {
    this.hooks = [];
    await this.kernel.teardown();
  }
}
