import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE } from '../../model/profile.js';
import type { Snapshot, StackSpec } from '../../model/types.js';
import { MemUnionDriver, memUnionCodec } from './memUnion.js';

const STACK: StackSpec = {
  lowers: [
    { '/a/f': { type: 'file', data: 'top' }, '/a/only0': { type: 'file', data: 'o0' }, '/s': { type: 'symlink', target: 'a/f' } },
    { '/a/f': { type: 'file', data: 'bottom' }, '/a/only1': { type: 'file', data: 'o1', mode: 0o600 }, '/d/x': { type: 'file' } },
  ],
  upper: { '/u': { type: 'file', data: 'upper' }, '/u2': { type: 'link', to: '/u' } },
};

const data = (snap: Snapshot, path: string) => snap.get(path)?.data;
const names = (snap: Snapshot) => [...snap.keys()];

describe('MemUnionDriver', () => {
  let driver: MemUnionDriver;
  beforeEach(async () => {
    driver = new MemUnionDriver();
    await driver.setup(STACK, DEFAULT_PROFILE);
  });
  afterEach(() => driver.teardown());

  it('runs the default profile only', async () => {
    await expect(new MemUnionDriver().setup(STACK, { ...DEFAULT_PROFILE, name: 'index' })).rejects.toThrow(/default profile only/);
  });

  it('shows the top lower over the bottom one, the upper over both', () => {
    const merged = driver.snapshot('merged');
    expect(names(merged)).toEqual(['/', '/a', '/a/f', '/a/only0', '/a/only1', '/d', '/d/x', '/s', '/u', '/u2']);
    expect(data(merged, '/a/f')).toBe('top');
    expect(merged.get('/a/only1')).toMatchObject({ kind: 'file', mode: 0o600, data: 'o1', xattrs: {} });
    expect(merged.get('/s')).toMatchObject({ kind: 'symlink', target: 'a/f' });
    expect(merged.get('/')).toMatchObject({ kind: 'dir', mode: 0o755 });
    expect(merged.get('/u')).toMatchObject({ nlink: 2, ino: merged.get('/u2')!.ino });
    expect(data(driver.snapshot(1), '/a/f')).toBe('bottom');
  });

  it('creates a new name in the upper volume', () => {
    expect(driver.apply({ op: 'open', path: '/new', flags: ['O_WRONLY', 'O_CREAT'], mode: 0o640, data: 'hi' })).toBe('ok');
    expect(driver.snapshot('upper').get('/new')).toMatchObject({ kind: 'file', mode: 0o640, data: 'hi' });
    expect(driver.snapshot(0).has('/new')).toBe(false);
    expect(driver.snapshot(1).has('/new')).toBe(false);
  });

  it('writes, unlinks, renames and mkdirs in whichever lower holds the name (the divergence)', () => {
    // No copy-up: the lower file itself is changed.
    expect(driver.apply({ op: 'open', path: '/a/f', flags: ['O_WRONLY', 'O_TRUNC'], data: 'W' })).toBe('ok');
    expect(data(driver.snapshot(0), '/a/f')).toBe('W');
    expect(driver.snapshot('upper').has('/a/f')).toBe(false);
    // No whiteout: unlink deletes from the top lower and the bottom lower's file shows through.
    expect(driver.apply({ op: 'unlink', path: '/a/f' })).toBe('ok');
    expect(driver.snapshot(0).has('/a/f')).toBe(false);
    expect(data(driver.snapshot('merged'), '/a/f')).toBe('bottom');
    expect(driver.apply({ op: 'unlink', path: '/a/only1' })).toBe('ok');
    expect(driver.snapshot(1).has('/a/only1')).toBe(false);
    expect(names(driver.snapshot('upper'))).toEqual(['/', '/u', '/u2']);
    // A name is made in the first layer where the call succeeds: the one holding the parent.
    expect(driver.apply({ op: 'mkdir', path: '/d/sub', mode: 0o700 })).toBe('ok');
    expect(driver.snapshot(1).get('/d/sub')).toMatchObject({ kind: 'dir', mode: 0o700 });
    expect(driver.apply({ op: 'rename', src: '/a/only0', dst: '/moved' })).toBe('ok');
    expect(data(driver.snapshot(0), '/moved')).toBe('o0');
    // mkdir of a name that exists in a lower succeeds: the upper, tried first, lacks it.
    expect(driver.apply({ op: 'mkdir', path: '/a', mode: 0o700 })).toBe('ok');
    expect(driver.snapshot('upper').get('/a')).toMatchObject({ kind: 'dir', mode: 0o700 });
    // O_EXCL on an upper file: the upper fails with EEXIST, then the top lower creates it.
    expect(driver.apply({ op: 'open', path: '/u', flags: ['O_WRONLY', 'O_CREAT', 'O_EXCL'], data: 'dup' })).toBe('ok');
    expect(data(driver.snapshot(0), '/u')).toBe('dup');
    expect(data(driver.snapshot('merged'), '/u')).toBe('upper');
  });

  it('returns errno as data', () => {
    expect(driver.apply({ op: 'unlink', path: '/nope' })).toBe('ENOENT');
    expect(driver.apply({ op: 'rmdir', path: '/d' })).toBe('ENOTEMPTY');
    // The errno is the last layer's: the top lower's ELOOP is hidden by the bottom's ENOENT.
    expect(driver.apply({ op: 'open', path: '/s', flags: ['O_RDONLY', 'O_NOFOLLOW'] })).toBe('ENOENT');
    expect(driver.apply({ op: 'mknod', path: '/p', kind: 'fifo', mode: 0o644 })).toBe('EPERM');
    expect(driver.apply({ op: 'setxattr', path: '/u', name: 'user.x', value: 'y' })).toBe('EOPNOTSUPP');
    expect(driver.apply({ op: 'removexattr', path: '/u', name: 'user.x' })).toBe('EOPNOTSUPP');
  });

  it('refuses rename flags without touching anything', () => {
    const before = driver.snapshot('merged');
    expect(driver.apply({ op: 'rename', src: '/u', dst: '/v', flags: ['RENAME_NOREPLACE'] })).toBe('EINVAL');
    expect(driver.snapshot('merged')).toEqual(before);
  });

  it('keeps the layers across a remount', async () => {
    driver.apply({ op: 'open', path: '/new', flags: ['O_WRONLY', 'O_CREAT'] });
    await driver.remount();
    expect(driver.apply({ op: 'remount' })).toBe('ok');
    expect(driver.snapshot('upper').has('/new')).toBe(true);
  });

  it('rotate makes the upper the top lower and starts an empty upper', () => {
    driver.apply({ op: 'open', path: '/new', flags: ['O_WRONLY', 'O_CREAT'], data: 'n' });
    expect(driver.apply({ op: 'rotate' })).toBe('ok');
    expect(names(driver.snapshot('upper'))).toEqual(['/']);
    expect(names(driver.snapshot(0))).toEqual(['/', '/new', '/u', '/u2']);
    expect(data(driver.snapshot(1), '/a/f')).toBe('top');
    expect(data(driver.snapshot(2), '/a/f')).toBe('bottom');
    expect(data(driver.snapshot('merged'), '/new')).toBe('n');
    driver.apply({ op: 'open', path: '/newer', flags: ['O_WRONLY', 'O_CREAT'] });
    expect(names(driver.snapshot('upper'))).toEqual(['/', '/newer']);
  });

  it('skips fifos and whiteouts, which memfs cannot make', async () => {
    const d = new MemUnionDriver();
    await d.setup({ lowers: [{ '/w': { type: 'file' } }], upper: { '/w': { type: 'whiteout' }, '/p': { type: 'fifo' } } }, DEFAULT_PROFILE);
    expect(names(d.snapshot('upper'))).toEqual(['/']);
    expect(d.snapshot('merged').get('/w')?.kind).toBe('file'); // the deletion is lost
    await d.teardown();
  });

  it('tears down twice harmlessly', async () => {
    await driver.teardown();
    await driver.teardown();
  });

  it('decodes to the abstract form', () => {
    const decoded = memUnionCodec.decode(driver.snapshot('upper'));
    expect(decoded.get('/u')).toEqual({ kind: 'file', mode: 0o644, uid: expect.any(Number), gid: expect.any(Number), nlink: 0, ino: 'abstract', data: 'upper', xattrs: {} });
    expect(decoded.get('/')).not.toHaveProperty('dev');
    expect(memUnionCodec.encode(STACK)).toBe(STACK);
  });
});
