import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LayerSpec } from '../model/types.js';
import { fuseOverlayfsCodec, kernelCodec, unionfsFuseCodec } from './codecs.js';
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
});
