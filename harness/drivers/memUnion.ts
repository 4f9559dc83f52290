// A control driver: the npm `unionfs` package over one in-memory `memfs` Volume per layer.
// It is not an overlay and is expected to diverge from overlayfs semantics: it has no
// whiteouts and no copy-up, so a write, unlink, rename or mkdir lands in whichever layer
// first accepts it (often a lower one). The suite should report it as diverging.
// Everything lives in memory: no I/O on the real filesystem.

import fs from 'node:fs';
import { Volume } from 'memfs';
import { Union, type IFS, type IUnionFs } from 'unionfs';
import type { DirStreamOp, EntrySpec, LayerSpec, Op, OpName, Outcome, Profile, SnapEntry, Snapshot, StackSpec } from '../../model/types.js';
import { isDirStreamOp } from '../../model/dirStream.js';
import type { LayerCodec } from '../codecs.js';
import { OPEN_FLAGS } from '../calls.js';
import type { Driver, MountFacts } from '../driver.js';
import { errorEntry, kindOf } from '../snapshot.js';

// memfs uses the Linux numeric values, the same as node's fs.constants.
const { O_NONBLOCK } = fs.constants;

/** Layers are stored as given; a snapshot loses what differs between implementations: inode numbers, link counts, devices. */
export const memUnionCodec: LayerCodec = {
  name: 'memfs-unionfs',
  encode: (s) => s,
  decode: (raw) => {
    const out: Snapshot = new Map();
    for (const [path, e] of raw) {
      const entry: SnapEntry = { ...e, nlink: 0, ino: 'abstract' };
      delete entry.dev;
      out.set(path, entry);
    }
    return out;
  },
};

/** memfs's Volume does not match node's typings exactly, but has every method unionfs calls. */
const asFs = (v: Volume): IFS => v as unknown as IFS;

function newVolume(rootMode = 0o755): Volume {
  const v = new Volume();
  v.chmodSync('/', rootMode); // memfs's root is 0777; the kernel driver's layer dirs are 0755
  return v;
}

function buildLayer(spec: LayerSpec): Volume {
  const root = spec['/'];
  const v = newVolume(root?.type === 'dir' ? root.mode ?? 0o755 : 0o755);
  const links: [string, string][] = [];
  // A prefix sorts before its extensions, so parents come before children.
  for (const p of Object.keys(spec).sort()) {
    if (p === '/') continue;
    for (let i = p.indexOf('/', 1); i > 0; i = p.indexOf('/', i + 1)) {
      if (!v.existsSync(p.slice(0, i))) v.mkdirSync(p.slice(0, i), { mode: 0o755 }); // memfs has no umask
    }
    const e: EntrySpec = spec[p];
    if (e.type === 'dir') {
      v.mkdirSync(p);
      v.chmodSync(p, e.mode ?? 0o755);
    } else if (e.type === 'file') {
      v.writeFileSync(p, Buffer.from(e.data ?? '', 'latin1'));
      v.chmodSync(p, e.mode ?? 0o644);
    } else if (e.type === 'symlink') v.symlinkSync(e.target, p);
    else if (e.type === 'link') links.push([e.to, p]); // after files: the target may sort later
    // 'fifo' and 'whiteout' cannot be made in memfs (no mknod). A control that cannot express
    // whiteouts shows one of its divergences: a lower name deleted by the spec stays visible.
  }
  for (const [to, p] of links) v.linkSync(to, p);
  return v;
}

export class MemUnionDriver implements Driver {
  readonly name = 'memfs-unionfs';
  readonly codec = memUnionCodec;
  /** In-process memfs: no credentials, owners or times of its own. */
  readonly cannot = { callers: 'memfs has no credentials', chown: 'memfs has no owners', utimes: 'memfs times are not modelled' };
  private lowers: Volume[] = []; // [0] is the top lower
  private upper: Volume | null = null;
  private union: IUnionFs | null = null;

  supports(profile: Profile): string | null {
    return profile.name === 'default' ? null : 'memfs-unionfs runs the default profile only';
  }

  async setup(stack: StackSpec, profile: Profile): Promise<MountFacts> {
    const why = this.supports(profile);
    if (why) throw new Error(why);
    this.lowers = stack.lowers.map(buildLayer);
    this.upper = buildLayer(stack.upper);
    this.mount();
    return { options: `memfs volumes: upper, ${this.lowers.map((_, i) => `lower${i}`).join(', ')}`, moduleDefaults: {}, shown: '' };
  }

  /** unionfs tries the LAST `use`d fs first: use the bottom lower first and the upper last. */
  private mount(): void {
    const u = new Union();
    for (const v of [...this.lowers].reverse()) u.use(asFs(v));
    this.union = u.use(asFs(this.upper!));
  }

  /** unionfs has no directory streams of its own to read entry by entry, and memfs no d_ino/d_type to give. */
  cannotRun(op: OpName): string | null {
    const stream = op === 'opendir' || op === 'readdir' || op === 'seekdir' || op === 'closedir';
    return stream ? 'unionfs over memfs has no directory streams (no getdents64: readdirSync only lists names)' : null;
  }

  apply(op: Op): Outcome {
    if (isDirStreamOp(op)) throw new Error(`memUnion: ${this.cannotRun(op.op)}`);
    if (op.op === 'remount') {
      this.mount(); // the volumes are the layers: state persists
      return 'ok';
    }
    if (op.op === 'rotate') {
      this.lowers.unshift(this.upper!);
      this.upper = newVolume();
      this.mount();
      return 'ok';
    }
    if (op.as) throw new Error(`memfs-unionfs cannot run a step as another caller (${this.cannot.callers})`);
    try {
      return this.run(this.union!, op);
    } catch (err) {
      return codeOf(err); // unionfs throws the error of the last fs it tried: the bottom lower's
    }
  }

  private run(u: IUnionFs, op: Exclude<Op, { op: 'remount' | 'rotate' } | DirStreamOp>): Outcome {
    switch (op.op) {
      case 'open': {
        // O_NONBLOCK as the kernel harness adds it (memfs ignores it). memfs fd numbers are
        // unique across volumes, so the union's writeSync/closeSync find the owning volume.
        const flags = op.flags.reduce((bits, f) => bits | OPEN_FLAGS[f], O_NONBLOCK);
        const fd = u.openSync(op.path, flags, op.mode ?? 0o644);
        try {
          if (op.data !== undefined) u.writeSync(fd, Buffer.from(op.data, 'latin1'));
        } finally {
          u.closeSync(fd);
        }
        return 'ok';
      }
      case 'truncate': u.truncateSync(op.path, op.size); return 'ok';
      case 'pwrite': {
        const fd = u.openSync(op.path, OPEN_FLAGS.O_WRONLY | O_NONBLOCK);
        try {
          u.writeSync(fd, Buffer.from(op.data, 'latin1'), 0, op.data.length, op.offset);
        } finally {
          u.closeSync(fd);
        }
        return 'ok';
      }
      case 'unlink': u.unlinkSync(op.path); return 'ok';
      case 'mkdir': u.mkdirSync(op.path, { mode: op.mode }); return 'ok';
      case 'rmdir': u.rmdirSync(op.path); return 'ok';
      case 'rename':
        if (op.flags?.length) return 'EINVAL'; // unionfs has no renameat2
        u.renameSync(op.src, op.dst);
        return 'ok';
      case 'symlink': u.symlinkSync(op.target, op.path); return 'ok';
      case 'link': u.linkSync(op.src, op.dst); return 'ok';
      case 'chmod': u.chmodSync(op.path, op.mode); return 'ok';
      case 'mknod': return 'EPERM'; // memfs has no device or fifo nodes
      default:
        // Steps on open fds (S17): memfs fd numbers are per volume and unionfs keeps no object
        // behind an fd to follow a copy-up; without observed() the generator leaves them out.
        throw new Error(`memUnion: fd steps are not supported (${op.op})`);
      case 'setxattr':
      case 'lsetxattr':
      case 'removexattr': return 'EOPNOTSUPP'; // memfs has no xattrs
      case 'chown': case 'utimes': throw new Error(`memfs-unionfs cannot run ${op.op} (${this.cannot[op.op]})`);
    }
  }

  snapshot(view: 'merged' | 'upper' | number): Snapshot {
    const fsys = view === 'merged' ? this.union! : asFs(view === 'upper' ? this.upper! : this.lowers[view]);
    const snap: Snapshot = new Map();
    walk(fsys, snap, '/');
    return snap;
  }

  async remount(): Promise<void> {
    this.apply({ op: 'remount' });
  }

  async teardown(): Promise<void> {
    this.union = null;
    this.upper = null;
    this.lowers = [];
  }
}

// ---------------------------------------------------------------- snapshots (as harness/snapshot.ts)

function walk(fsys: IFS, snap: Snapshot, path: string): void {
  const entry = readEntry(fsys, path);
  snap.set(path, entry);
  if (entry.kind !== 'dir') return;
  let names: string[];
  try {
    names = fsys.readdirSync(path).map(String);
  } catch (err) {
    snap.set(path, errorEntry(codeOf(err)));
    return;
  }
  names.sort();
  for (const name of names) walk(fsys, snap, path === '/' ? `/${name}` : `${path}/${name}`);
}

function readEntry(fsys: IFS, path: string): SnapEntry {
  let st: fs.Stats;
  try {
    st = fsys.lstatSync(path);
  } catch (err) {
    return errorEntry(codeOf(err));
  }
  const kind = kindOf(st.mode, st.rdev);
  const entry: SnapEntry = { kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, nlink: st.nlink, ino: st.ino, dev: st.dev, xattrs: {} };
  if (kind === 'file') {
    try {
      entry.data = fsys.readFileSync(path).toString('latin1');
    } catch (err) {
      entry.data = `<${codeOf(err)}>`; // unreadable content shows up as a difference, not a crash
    }
  } else if (kind === 'symlink') entry.target = String(fsys.readlinkSync(path));
  return entry;
}

/** The errno name of a thrown fs error; anything without one is a bug, not an outcome: rethrown. */
function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') throw err;
  return code;
}
