import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LayerSpec } from '../model/types.js';
import { materializeLayer } from './materialize.js';
import { inPrivateNamespace } from './namespace.js';
import { openSandbox, type Sandbox } from './sandbox.js';
import { snapshotTree } from './snapshot.js';

const SKIP = inPrivateNamespace() ? '' : ' [skipped: needs root in a private mount namespace; run `npm test`]';

const EVERY_TYPE: LayerSpec = {
  '/d': { type: 'dir', mode: 0o700, opaque: true, xattrs: { 'user.d': 'dir value' } },
  '/d/f': { type: 'file', mode: 0o640, data: 'h\xe9llo\x00\xff', xattrs: { 'user.x': 'v\xff' } },
  '/d/h': { type: 'link', to: '/d/f' },
  '/a/b/s': { type: 'symlink', target: '../../d/f' },
  '/e': { type: 'file' },
  '/p': { type: 'fifo', mode: 0o600 },
  '/wh': { type: 'whiteout' },
};

describe.skipIf(SKIP !== '')(`materializeLayer + snapshotTree${SKIP}`, () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = openSandbox();
  });
  afterAll(() => sandbox?.close());

  it('round-trips every entry type with exact modes, data and xattrs', () => {
    const dir = sandbox.newDir('layer-');
    materializeLayer(dir, EVERY_TYPE, 'trusted.overlay.');
    const snap = snapshotTree(dir);
    expect([...snap.keys()]).toEqual(['/', '/a', '/a/b', '/a/b/s', '/d', '/d/f', '/d/h', '/e', '/p', '/wh']);
    expect(snap.get('/a')).toMatchObject({ kind: 'dir', mode: 0o755, xattrs: {} });
    expect(snap.get('/d')).toMatchObject({
      kind: 'dir', mode: 0o700, xattrs: { 'trusted.overlay.opaque': 'y', 'user.d': 'dir value' },
    });
    expect(snap.get('/d/f')).toMatchObject({
      kind: 'file', mode: 0o640, nlink: 2, data: 'h\xe9llo\x00\xff', xattrs: { 'user.x': 'v\xff' },
    });
    expect(snap.get('/a/b/s')).toMatchObject({ kind: 'symlink', target: '../../d/f' });
    expect(snap.get('/e')).toMatchObject({ kind: 'file', mode: 0o644, data: '', nlink: 1 });
    expect(snap.get('/p')).toMatchObject({ kind: 'fifo', mode: 0o600 });
    expect(snap.get('/wh')).toMatchObject({ kind: 'whiteout', mode: 0, uid: 0, gid: 0 });
  });

  it('gives hard links one inode', () => {
    const dir = sandbox.newDir('layer-');
    materializeLayer(dir, EVERY_TYPE, 'trusted.overlay.');
    const snap = snapshotTree(dir);
    expect(snap.get('/d/h')!.ino).toBe(snap.get('/d/f')!.ino);
    expect(snap.get('/d/h')!.nlink).toBe(2);
    expect(typeof snap.get('/d/f')!.ino).toBe('number');
  });

  it('uses the given private prefix for opaque dirs', () => {
    const dir = sandbox.newDir('layer-');
    materializeLayer(dir, { '/o': { type: 'dir', opaque: true } }, 'user.overlay.');
    expect(snapshotTree(dir).get('/o')!.xattrs).toEqual({ 'user.overlay.opaque': 'y' });
  });

  it('throws a clear error for specs that cannot be built', () => {
    const dir = sandbox.newDir('layer-');
    expect(() => materializeLayer(dir, { '/l': { type: 'link', to: '/missing' } }, 'trusted.overlay.'))
      .toThrow(/layer entry \/l: hard link to \/missing/);
    expect(() => materializeLayer(dir, { '/f': { type: 'file' }, '/f/g': { type: 'file' } }, 'trusted.overlay.'))
      .toThrow(/layer entry \/f\/g: its ancestor \/f is a file/);
    expect(() => materializeLayer(dir, { '/../x': { type: 'file' } }, 'trusted.overlay.'))
      .toThrow(/not a normalized absolute path/);
  });
});
