import { describe, expect, it } from 'vitest';
import type { SnapEntry, Snapshot } from '../model/types.js';
import { differenceSignature, outcomeSignature } from './signature.js';

const entry = (kind: SnapEntry['kind']): SnapEntry => ({ kind, mode: 0o644, uid: 0, gid: 0, nlink: 1, ino: 1, xattrs: {} });
const views = new Map<string, Snapshot>([
  ['merged', new Map([['/', entry('dir')], ['/f', entry('file')], ['/u', entry('file')], ['/s', entry('symlink')]])],
  ['upper', new Map([['/', entry('dir')], ['/u', entry('file')], ['/gone', entry('whiteout')]])],
  ['lower0', new Map([['/', entry('dir')], ['/f', entry('file')], ['/gone', entry('file')], ['/s', entry('symlink')]])],
]);

describe('divergence signatures', () => {
  it('name the operation, the layer situation and both outcomes, not the generated names', () => {
    expect(outcomeSignature({ op: 'unlink', path: '/f' }, 'ok', 'EPERM', views)).toBe('unlink file from lower: expected ok, actual EPERM');
    expect(outcomeSignature({ op: 'rename', src: '/u', dst: '/gone', flags: ['RENAME_NOREPLACE'] }, 'ok', 'EINVAL', views))
      .toBe('rename(RENAME_NOREPLACE) file in upper to whited-out name: expected ok, actual EINVAL');
    expect(outcomeSignature({ op: 'open', path: '/n', flags: ['O_CREAT', 'O_WRONLY', 'O_TRUNC', 'O_NOFOLLOW'] }, 'ok', 'EIO', views))
      .toBe('open(create,write) new name: expected ok, actual EIO');
    expect(outcomeSignature({ op: 'open', path: '/s', flags: ['O_RDONLY', 'O_NOFOLLOW'] }, 'ELOOP', 'ok', views))
      .toBe('open(read,nofollow) symlink from lower: expected ELOOP, actual ok');
  });

  it('fold which user xattr and how many links into one kind of difference', () => {
    const a = differenceSignature({ view: 'merged', path: '/f', what: 'xattr user.a', expected: '"1"', actual: '(absent)' }, views);
    const b = differenceSignature({ view: 'merged', path: '/f', what: 'xattr user.b', expected: '"2"', actual: '(absent)' }, views);
    expect(a).toBe('merged: xattr user.* present became absent, file from lower');
    expect(b).toBe(a);
    expect(differenceSignature({ view: 'lower1', path: '/', what: 'nlink', expected: 1, actual: 4 }, views)).toBe('lower: nlink (more), root');
    expect(differenceSignature({ view: 'upper', path: '/gone', what: 'unexpected', actual: 'file 0644 ""' }, views)).toBe('upper: unexpected file whited out');
  });
});
