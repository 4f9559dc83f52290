import { describe, expect, it } from 'vitest';
import type { SnapEntry, Snapshot } from '../model/types.js';
import { carryKey, differencePart, differenceSignature, outcomePart, outcomeSignature, toleranceOf, worstPart } from './signature.js';
import { contentShape, differenceHarm } from './harm.js';

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
    expect(differenceSignature({ view: 'lower1', path: '/', what: 'nlink', expected: 1, actual: 4 }, views)).toBe('lower: nlink (more), root'); // the core, without class and moment
    expect(differenceSignature({ view: 'upper', path: '/gone', what: 'unexpected', actual: 'file 0644 ""' }, views)).toBe('upper: unexpected file whited out');
  });

  it('shape a content difference: what is wrong with it, not the bytes', () => {
    expect(contentShape('xyz', '')).toBe('lost all bytes');
    expect(contentShape('xyz', 'xy')).toBe('truncated');
    expect(contentShape('xyz', 'x\0\0')).toBe('zero-filled');
    expect(contentShape('xy', 'xyz')).toBe('gained bytes');
    expect(contentShape('xy', 'pq', ['zz', 'pq'])).toBe("another name's data");
    expect(contentShape('xy', 'pq', ['zz'])).toBe('other bytes');
  });

  it('class every part by harm, and keep class and moment in the signature', () => {
    const step = { phase: 'step' as const, op: { op: 'unlink' as const, path: '/f' }, expected: 'ok' as const, actual: 'ok' as const };
    const remount = { phase: 'remount' as const, expected: 'ok' as const, actual: 'ok' as const };
    const lost = { view: 'merged', path: '/f', what: 'data', expected: 'xyz', actual: 'xy' };
    expect(differencePart(lost, remount, views).signature).toBe('data: after the final remount: merged: data truncated, file from lower');
    expect(differencePart(lost, step, views).signature).toBe('data: after unlink -> ok: merged: data truncated, file from lower');
    expect(differencePart({ view: 'merged', path: '/', what: 'nlink', expected: 1, actual: 3 }, { phase: 'mount' }, views).signature)
      .toBe('bookkeeping: at mount: merged: nlink (more), root');
    expect(differenceHarm({ view: 'lower1', path: '/f', what: 'mode', expected: '0644', actual: '0600' })).toBe('data'); // a lower changed
    expect(differenceHarm({ view: 'upper', path: '/f', what: 'unexpected', actual: 'whiteout' })).toBe('bookkeeping');
    expect(differenceHarm({ view: 'merged', path: '/f', what: 'mode', expected: '0644', actual: '0600' })).toBe('metadata');
    expect(differenceHarm({ view: 'merged', path: '/f', what: 'missing', expected: 'error ENOENT' })).toBe('metadata'); // listed, not lookup-able
    expect(differenceHarm({ view: 'merged', path: '/f', what: 'timeout' })).toBe('hang');
    // Through an open fd as through the merged view: its content is data, its link count bookkeeping.
    expect(differenceHarm({ view: 'fd', path: '/fd1', what: 'nlink', expected: 1, actual: 2 })).toBe('bookkeeping');
    expect(differenceHarm({ view: 'fd', path: '/fd0', what: 'st_ino', expected: 6, actual: 8 })).toBe('bookkeeping');
    expect(differenceHarm({ view: 'fd', path: '/fd0', what: 'data', expected: 'ab', actual: 'a' })).toBe('data');
    expect(differenceHarm({ view: 'fd', path: '/fd0', what: 'mode', expected: '0644', actual: '0600' })).toBe('metadata');
    expect(() => differenceHarm({ view: 'elsewhere', path: '/f', what: 'mode' })).toThrow(/no class/);
    const refused = outcomePart({ phase: 'step', op: { op: 'unlink', path: '/f' }, expected: 'ok', actual: 'EPERM' }, views);
    const accepted = outcomePart({ phase: 'step', op: { op: 'unlink', path: '/f' }, expected: 'EPERM', actual: 'ok' }, views);
    expect(refused.signature).toBe('outcome: unlink file from lower: expected ok, actual EPERM');
    expect(worstPart([refused, accepted])).toBe(accepted); // success where the reference refuses ranks first
    expect(worstPart([refused, differencePart(lost, step, views)]).harm).toBe('data');
  });

  it('tolerate by pattern only within the class the pattern names', () => {
    const t = toleranceOf(['bookkeeping: *nlink*', 'metadata: at mount: merged: mode, root']);
    expect(t.has('bookkeeping: at mount: merged: nlink (more), root')).toBe(true);
    expect(t.has('data: after a remount: merged: nlink (more), root')).toBe(false);
    expect(t.has('metadata: at mount: merged: mode, root')).toBe(true);
    expect(t.has('metadata: at mount: merged: mode, file from lower')).toBe(false);
  });

  it('carry a difference to the next comparison by its values, a bookkeeping one by its direction', () => {
    const n = (actual: number) => carryKey({ view: 'merged', path: '/', what: 'nlink', expected: 1, actual });
    expect(n(3)).toBe(n(4));
    const d = (actual: string) => carryKey({ view: 'merged', path: '/f', what: 'data', expected: 'xyz', actual });
    expect(d('xy')).not.toBe(d('x'));
  });
});
