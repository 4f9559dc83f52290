import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE } from '../model/profile.js';
import type { LayerSpec, Op, SnapEntry, Snapshot, StackSpec } from '../model/types.js';
import { fuseOverlayfsCodec, implicitStops, kernelCodec, OPAQUE, unionfsFuseCodec, withImplicitStopsOpaque, withoutRedundantWhiteouts } from './codecs.js';
import { FUSE_IMPLEMENTATIONS, FuseDriver, probeFuse } from './drivers/fuse.js';
import { materializeLayer } from './materialize.js';
import { inPrivateNamespace } from './namespace.js';
import { openSandbox, type Sandbox } from './sandbox.js';
import { snapshotTree } from './snapshot.js';

const KERNEL = kernelCodec('trusted.overlay.');
const LAYER: LayerSpec = {
  '/a/a': { type: 'whiteout' }, // its parent exists only by implication
  '/o': { type: 'dir', opaque: true },
  '/o/f': { type: 'file', data: 'f', xattrs: { 'user.k': 'v', 'trusted.overlay.origin': 'x' } },
  '/x': { type: 'file', xattrs: { 'trusted.overlay.whiteout': '' } }, // S3.5
  '/s': { type: 'symlink', target: 'o/f' },
  '/o/p': { type: 'dir', opaque: true, xattrs: { 'trusted.overlay.overlay.opaque': 'y' } }, // nested; a user's escaped xattr
};

describe.skipIf(!inPrivateNamespace())('layer codecs', () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = openSandbox();
  });
  afterAll(() => sandbox?.close());

  const written = (layer: LayerSpec) => {
    const dir = sandbox.newDir('layer-');
    materializeLayer(dir, layer, 'trusted.overlay.');
    return snapshotTree(dir);
  };

  it('unionfs-fuse: a layer written in its format reads back as the kernel layer it came from', () => {
    const encoded = unionfsFuseCodec.encode({ lowers: [LAYER], upper: {} }).lowers[0];
    expect(Object.keys(encoded).filter((p) => p.startsWith('/.unionfs-fuse/')).sort())
      .toEqual(['/.unionfs-fuse/a/a_HIDDEN~', '/.unionfs-fuse/o/p_HIDDEN~', '/.unionfs-fuse/o_HIDDEN~', '/.unionfs-fuse/x_HIDDEN~']);
    expect(unionfsFuseCodec.decode(written(encoded))).toEqual(KERNEL.decode(written(LAYER)));
  });

  it('unionfs-fuse: a dir whose merge the kernel stops at a non-dir below (S2.3) gets a marker, read back as the model\'s layers marked so', () => {
    const stack: StackSpec = {
      upper: { '/b/e': { type: 'file' } },
      lowers: [{ '/b': { type: 'file' }, '/d/x': { type: 'file' } }, { '/b/a': { type: 'file' }, '/d': { type: 'fifo' } }],
    };
    const encoded = unionfsFuseCodec.encode(stack);
    expect(Object.keys(encoded.upper).filter((p) => p.endsWith('_HIDDEN~'))).toEqual(['/.unionfs-fuse/b_HIDDEN~']);
    expect(Object.keys(encoded.lowers[0]).filter((p) => p.endsWith('_HIDDEN~'))).toEqual(['/.unionfs-fuse/d_HIDDEN~']);
    expect(Object.keys(encoded.lowers[1]).filter((p) => p.endsWith('_HIDDEN~'))).toEqual([]);
    // Both sides of a comparison say the same in abstract terms (properties/session.ts).
    const model = withImplicitStopsOpaque([stack.upper, ...stack.lowers].map((l) => KERNEL.decode(written(l))));
    expect([encoded.upper, ...encoded.lowers].map((l) => unionfsFuseCodec.decode(written(l)))).toEqual(model);
    expect(model[1].get('/d')?.xattrs).toEqual({ [OPAQUE]: 'y' });
  });

  it('a dir\'s mark is its layer\'s own, whether a layer above hides it now or not (a rotation may show it)', () => {
    const kinds = (k: Record<string, 'dir' | 'opaque' | 'whiteout' | 'other'>) => new Map(Object.entries(k));
    expect(implicitStops([kinds({ '/a': 'whiteout' }), kinds({ '/a': 'dir', '/b': 'dir' }), kinds({ '/a': 'other' }), kinds({ '/b': 'other' })]).map((x) => [...x]))
      .toEqual([[], ['/a', '/b'], [], []]);
    expect(implicitStops([kinds({ '/a': 'opaque' }), kinds({ '/a': 'other' })]).map((x) => [...x])).toEqual([[], []]); // said already
  });

  it('unionfs-fuse: markers left for the old contents of a deleted dir add nothing', () => {
    const raw = written({ '/d': { type: 'dir' }, '/.unionfs-fuse/d_HIDDEN~': { type: 'file' }, '/.unionfs-fuse/d/y_HIDDEN~': { type: 'file' } });
    const decoded = unionfsFuseCodec.decode(raw);
    expect(decoded.get('/d')?.xattrs).toEqual({ 'overlay.opaque': 'y' });
    expect([...decoded.keys()]).toEqual(['/', '/d']);
  });

  it('fuse-overlayfs: .wh. files are whiteouts, .wh..wh..opq makes its dir opaque, its own xattrs are dropped', () => {
    const raw = written({
      '/.wh.g': { type: 'file' }, '/d/.wh..wh..opq': { type: 'file' }, '/d/f': { type: 'file', xattrs: { 'user.fuseoverlayfs.origin': 'o', 'user.k': 'v' } },
    });
    const decoded = fuseOverlayfsCodec.decode(raw);
    expect(decoded.get('/g')?.kind).toBe('whiteout');
    expect(decoded.get('/d')?.xattrs).toEqual({ 'overlay.opaque': 'y' });
    expect(decoded.get('/d/f')?.xattrs).toEqual({ 'user.k': 'v' });
    expect(decoded.has('/d/.wh..wh..opq')).toBe(false);
  });

  it('kernel: the abstract terms keep no inode numbers, link counts or devices', () => {
    const e = KERNEL.decode(written(LAYER)).get('/o/f')!;
    expect(e).toMatchObject({ nlink: 0, ino: 'abstract', xattrs: { 'user.k': 'v' } });
    expect(e.dev).toBeUndefined();
  });

  // What a format does not account for stays in the decoded view, so that compare reports it.

  it('kernel: its bookkeeping is left out, a P.whiteout or P.opaque that means nothing and unknown P.* names stay', () => {
    const decoded = KERNEL.decode(written({
      '/book': { type: 'file', data: 'b', xattrs: { 'trusted.overlay.origin': 'o', 'trusted.overlay.nlink': 'U+1', 'trusted.overlay.metacopy': '' } },
      '/d': { type: 'dir', xattrs: { 'trusted.overlay.impure': 'y', 'trusted.overlay.redirect': '/x', 'trusted.overlay.opaque': 'x' } },
      '/full': { type: 'file', data: 'not empty', xattrs: { 'trusted.overlay.whiteout': 'y' } }, // S3.4: an ordinary file
      '/wdir': { type: 'dir', xattrs: { 'trusted.overlay.whiteout': 'y' } },
      '/ofile': { type: 'file', xattrs: { 'trusted.overlay.opaque': 'y' } },
      '/odir': { type: 'dir', xattrs: { 'trusted.overlay.opaque': 'n' } },
      '/unknown': { type: 'file', xattrs: { 'trusted.overlay.frobnicate': '1' } },
    }));
    expect(decoded.get('/book')?.xattrs).toEqual({});
    expect(decoded.get('/d')?.xattrs).toEqual({});
    expect(decoded.get('/full')).toMatchObject({ kind: 'file', xattrs: { 'trusted.overlay.whiteout': 'y' } });
    expect(decoded.get('/wdir')).toMatchObject({ kind: 'dir', xattrs: { 'trusted.overlay.whiteout': 'y' } });
    expect(decoded.get('/ofile')?.xattrs).toEqual({ 'trusted.overlay.opaque': 'y' });
    expect(decoded.get('/odir')?.xattrs).toEqual({ 'trusted.overlay.opaque': 'n' });
    expect(decoded.get('/unknown')?.xattrs).toEqual({ 'trusted.overlay.frobnicate': '1' });
  });

  it('fuse-overlayfs: the layer 1.10 writes (markers beside the xattr, .wh..opq device, origin) reads as the kernel layer', () => {
    const fuse = written({
      '/d': { type: 'dir', xattrs: { 'trusted.overlay.opaque': 'y' } },
      '/d/.wh..wh..opq': { type: 'file', mode: 0o700 },
      '/d/.wh..opq': { type: 'whiteout' },
      '/d/f': { type: 'file', data: 'x', xattrs: { 'user.fuseoverlayfs.origin': 'd/f\0' } },
      '/e': { type: 'dir', xattrs: { 'user.fuseoverlayfs.opaque': 'y' } }, // where trusted.* is refused
      '/e/.wh..wh..opq': { type: 'file', mode: 0o700 },
      '/g': { type: 'whiteout' },
      '/.wh.h': { type: 'file', mode: 0o700 },
    });
    const kernel = written({
      '/d': { type: 'dir', opaque: true }, '/d/f': { type: 'file', data: 'x' }, '/e': { type: 'dir', opaque: true }, '/g': { type: 'whiteout' }, '/h': { type: 'whiteout' },
    });
    const sorted = (s: Snapshot) => new Map([...s].sort(([a], [b]) => (a < b ? -1 : 1)));
    expect(sorted(fuseOverlayfsCodec.decode(fuse))).toEqual(sorted(KERNEL.decode(kernel)));
  });

  it('fuse-overlayfs: a .wh. marker beside its name, or not an empty file, stays under its own name', () => {
    const decoded = fuseOverlayfsCodec.decode(written({
      '/g': { type: 'file', data: 'g' }, '/.wh.g': { type: 'file' }, // fuse-overlayfs hides /g, the kernel does not
      '/.wh.full': { type: 'file', data: 'x' },
      '/.wh.dir': { type: 'dir' },
      '/.wh.x': { type: 'file', xattrs: { 'user.k': 'v' } },
      '/.wh.dev': { type: 'whiteout' }, // the kernel's whiteout of ".wh.dev", fuse-overlayfs's of "dev"
    }));
    expect(decoded.get('/g')).toMatchObject({ kind: 'file', data: 'g' });
    expect(decoded.get('/.wh.g')).toMatchObject({ kind: 'file', data: '' });
    expect(decoded.get('/.wh.full')).toMatchObject({ kind: 'file', data: 'x' });
    expect(decoded.get('/.wh.dir')?.kind).toBe('dir');
    expect(decoded.get('/.wh.x')?.xattrs).toEqual({ 'user.k': 'v' });
    expect(decoded.get('/.wh.dev')?.kind).toBe('whiteout');
    expect(['/full', '/dir', '/x', '/dev'].filter((p) => decoded.has(p))).toEqual([]);
  });

  it('fuse-overlayfs: opaque markers the dir\'s xattrs contradict, or of the wrong kind, stay', () => {
    const decoded = fuseOverlayfsCodec.decode(written({
      '/x': { type: 'dir', xattrs: { 'trusted.overlay.opaque': 'x' } }, // holds xattr whiteouts: not opaque
      '/x/.wh..wh..opq': { type: 'file' },
      '/n': { type: 'dir', xattrs: { 'user.fuseoverlayfs.opaque': 'n' } },
      '/n/.wh..wh..opq': { type: 'file' },
      '/full': { type: 'dir' },
      '/full/.wh..wh..opq': { type: 'file', data: 'x' },
      '/plain': { type: 'dir' },
      '/plain/.wh..opq': { type: 'whiteout' }, // 1.10's device, in a dir that is not opaque
    }));
    expect(decoded.get('/x')?.xattrs).toEqual({});
    expect(decoded.get('/x/.wh..wh..opq')?.kind).toBe('file');
    expect(decoded.get('/n')?.xattrs).toEqual({ 'user.fuseoverlayfs.opaque': 'n' });
    expect(decoded.get('/n/.wh..wh..opq')?.kind).toBe('file');
    expect(decoded.get('/full/.wh..wh..opq')).toMatchObject({ kind: 'file', data: 'x' });
    expect(decoded.get('/plain/.wh..opq')?.kind).toBe('whiteout');
  });

  it('fuse-overlayfs: its xattrs stay where they mean nothing, and so do the ones it does not decode', () => {
    const decoded = fuseOverlayfsCodec.decode(written({
      '/d': { type: 'dir', xattrs: { 'user.fuseoverlayfs.origin': 'd' } }, // only copy-up of a file writes one
      '/f': { type: 'file', xattrs: { 'user.fuseoverlayfs.opaque': 'y', 'user.fuseoverlayfs.override_stat': '0:0:0755', 'user.fuseoverlayfs.what': '1' } },
      '/k': { type: 'file', xattrs: { 'trusted.overlay.frobnicate': '1' } },
    }));
    expect(decoded.get('/d')?.xattrs).toEqual({ 'user.fuseoverlayfs.origin': 'd' });
    expect(decoded.get('/f')?.xattrs).toEqual({ 'user.fuseoverlayfs.opaque': 'y', 'user.fuseoverlayfs.override_stat': '0:0:0755', 'user.fuseoverlayfs.what': '1' });
    expect(decoded.get('/k')?.xattrs).toEqual({ 'trusted.overlay.frobnicate': '1' });
  });

  it('unionfs-fuse: dir markers (empty dirs) hide as file markers do', () => {
    const decoded = unionfsFuseCodec.decode(written({ '/.unionfs-fuse/d_HIDDEN~': { type: 'dir', mode: 0o700 }, '/.unionfs-fuse/e/f_HIDDEN~': { type: 'file' } }));
    expect([...decoded].map(([p, e]) => `${p} ${e.kind}`)).toEqual(['/ dir', '/d whiteout', '/e/f whiteout']);
  });

  it('unionfs-fuse: a marker beside a non-dir of its name, one of the wrong kind and strays under .unionfs-fuse/ stay', () => {
    const decoded = unionfsFuseCodec.decode(written({
      '/f': { type: 'file', data: 'f' }, '/.unionfs-fuse/f_HIDDEN~': { type: 'file' }, // making /f removes its marker
      '/.unionfs-fuse/full_HIDDEN~': { type: 'file', data: 'x' },
      '/.unionfs-fuse/x_HIDDEN~': { type: 'file', xattrs: { 'user.k': 'v' } },
      '/.unionfs-fuse/nonempty_HIDDEN~/y': { type: 'file' },
      '/.unionfs-fuse/_HIDDEN~': { type: 'file' }, // names nothing
      '/.unionfs-fuse/stray': { type: 'file' },
      '/.unionfs-fuse/sub': { type: 'dir' }, // a dir that held markers: explained
      '/dev': { type: 'whiteout' }, // a chardev 0/0: a device to unionfs-fuse
    }));
    expect([...decoded].map(([p, e]) => `${p} ${e.kind}`)).toEqual([
      '/ dir', '/.unionfs-fuse/_HIDDEN~ file', '/.unionfs-fuse/f_HIDDEN~ file', '/.unionfs-fuse/full_HIDDEN~ file',
      '/.unionfs-fuse/nonempty_HIDDEN~ dir', '/.unionfs-fuse/nonempty_HIDDEN~/y file', '/.unionfs-fuse/stray file',
      '/.unionfs-fuse/x_HIDDEN~ file', '/dev chardev', '/f file',
    ]);
  });
});

describe.skipIf(!inPrivateNamespace() || probeFuse('fuse-overlayfs') !== null)('the layers fuse-overlayfs writes', () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = openSandbox();
  });
  afterAll(() => sandbox?.close());

  it('are accounted for in full: no marker file and no private xattr is left in the decoded view', async () => {
    const driver = new FuseDriver(sandbox, FUSE_IMPLEMENTATIONS['fuse-overlayfs']);
    try {
      await driver.setup({ lowers: [{ '/d/f': { type: 'file', data: 'x' }, '/g': { type: 'file' }, '/e/h': { type: 'file' } }], upper: {} }, DEFAULT_PROFILE);
      const ops: Op[] = [
        { op: 'mkdir', path: '/a', mode: 0o755 }, { op: 'unlink', path: '/g' }, { op: 'unlink', path: '/e/h' }, { op: 'rmdir', path: '/e' },
        { op: 'mkdir', path: '/e', mode: 0o755 }, { op: 'open', path: '/d/f', flags: ['O_WRONLY', 'O_APPEND'], data: 'y' }, { op: 'rotate' },
        { op: 'rename', src: '/d/f', dst: '/a/f' },
      ];
      for (const op of ops) expect(await driver.apply(op)).toBe('ok');
      const raw = [driver.snapshot('upper'), driver.snapshot(0)]; // the upper now, and the one rotated into a lower
      const names = (s: Snapshot) => [...s.keys()].filter((p) => p.includes('/.wh.'));
      const xattrs = (s: Snapshot) => [...s.values()].flatMap((e) => Object.keys(e.xattrs)).filter((k) => k !== 'overlay.opaque');
      expect(raw.flatMap(names)).toContain('/a/.wh..wh..opq');
      expect(raw.flatMap(xattrs)).toContain('user.fuseoverlayfs.origin');
      const decoded = raw.map((s) => fuseOverlayfsCodec.decode(s));
      expect(decoded.flatMap(names)).toEqual([]);
      expect(decoded.flatMap(xattrs)).toEqual([]);
      expect(decoded[1].get('/a')?.xattrs).toEqual({ 'overlay.opaque': 'y' });
      expect(decoded[1].get('/g')?.kind).toBe('whiteout');
    } finally {
      await driver.teardown();
    }
  }, 60_000);
});

describe('abstract terms', () => {
  it('leave out whiteouts below an opaque dir of the same layer: they hide nothing more', () => {
    const e = (kind: SnapEntry['kind'], xattrs: Record<string, string> = {}): SnapEntry => ({ kind, mode: 0o755, uid: 0, gid: 0, nlink: 0, ino: 'abstract', xattrs });
    const snap: Snapshot = new Map([
      ['/', e('dir')], ['/d', e('dir', { [OPAQUE]: 'y' })], ['/d/c', e('dir')], ['/d/c/c', e('whiteout')], ['/x', e('whiteout')], ['/dd', e('dir')], ['/dd/y', e('whiteout')],
    ]);
    expect([...withoutRedundantWhiteouts(snap).keys()]).toEqual(['/', '/d', '/d/c', '/x', '/dd', '/dd/y']);
  });
});
