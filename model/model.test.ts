// Model unit tests: known answers from the catalog, on the model alone (no kernel).
import { describe, expect, it } from 'vitest';
import { applyOp, createState, DEFAULT_PROFILE, mergedView, upperView, walkEffects, type StackSpec } from './index.js';
import { predictMount } from './mountCheck.js';
import type { OvlState } from './state.js';

const K = [6, 18] as const;
const P = 'trusted.overlay.';
const state = (stack: StackSpec) => createState(stack, DEFAULT_PROFILE, K);
const run = (s: OvlState, ...ops: Parameters<typeof applyOp>[1][]) => {
  const outcomes: string[] = [];
  for (const op of ops) {
    const r = applyOp(s, op);
    outcomes.push(r.outcome);
    s = r.state;
  }
  return { s, outcomes };
};

describe('lookup', () => {
  it('S2.1 the leftmost lower layer is the top one (lab: qux)', () => {
    const s = state({ lowers: [{ '/qux': { type: 'file', data: 'L0' } }, { '/qux': { type: 'file', data: 'L1' } }], upper: {} });
    expect(mergedView(s).get('/qux')?.data).toBe('L0');
  });
  it('S2.3 a non-dir below a dir stops the merge', () => {
    const s = state({
      lowers: [{ '/t/x': { type: 'file' } }, { '/t': { type: 'file' } }, { '/t/y': { type: 'file' } }],
      upper: {},
    });
    const m = mergedView(s);
    expect(m.has('/t/x')).toBe(true);
    expect(m.has('/t/y')).toBe(false);
  });
  it('S2.5 a whiteout in a lower hides the layers below it', () => {
    const s = state({ lowers: [{ '/w': { type: 'whiteout' } }, { '/w': { type: 'file' } }], upper: {} });
    expect(mergedView(s).has('/w')).toBe(false);
  });
  it('S2.6 an opaque lower dir hides same-named dirs below; S8.5 merged dirs have nlink 1', () => {
    const s = state({
      lowers: [{ '/d': { type: 'dir', opaque: true }, '/d/a': { type: 'file' }, '/m/x': { type: 'file' } },
        { '/d/b': { type: 'file' }, '/m/y': { type: 'file' } }],
      upper: {},
    });
    const m = mergedView(s);
    expect(m.has('/d/b')).toBe(false);
    expect(m.get('/d')?.nlink).toBe(2);
    expect(m.get('/m')?.nlink).toBe(1);
  });
});

describe('operations', () => {
  const lab: StackSpec = { lowers: [{ '/foo': { type: 'file' }, '/baz': { type: 'file', data: 'hi\n' } }], upper: {} };
  it('S4.7 unlink of a lower file leaves a whiteout; S4.1 creation goes to the upper', () => {
    const { s, outcomes } = run(state(lab),
      { op: 'open', path: '/bar', flags: ['O_WRONLY', 'O_CREAT'] },
      { op: 'open', path: '/foo', flags: ['O_WRONLY', 'O_TRUNC'], data: 'hello\n' },
      { op: 'unlink', path: '/baz' });
    expect(outcomes).toEqual(['ok', 'ok', 'ok']);
    const u = upperView(s);
    expect(u.get('/baz')?.kind).toBe('whiteout');
    expect(u.get('/bar')?.xattrs).toEqual({});
    expect(u.get('/foo')?.data).toBe('hello\n');
    expect(u.get('/foo')?.xattrs[`${P}origin`]).toBeDefined(); // S6.4
    expect(u.get('/')?.xattrs[`${P}impure`]).toBe('y');
    expect(mergedView(s).get('/foo')?.ino).toBe(mergedView(state(lab)).get('/foo')?.ino); // S8.1
  });
  it('S5.2 renaming a lower dir is EXDEV without redirect_dir=on', () => {
    const { outcomes } = run(state({ lowers: [{ '/d': { type: 'dir' } }], upper: {} }), { op: 'rename', src: '/d', dst: '/e' });
    expect(outcomes).toEqual(['EXDEV']);
  });
  it('S4.2 mkdir over an upper whiteout makes an opaque dir', () => {
    const { s, outcomes } = run(state({ lowers: [{ '/d/x': { type: 'file' } }], upper: {} }),
      { op: 'unlink', path: '/d/x' }, { op: 'rmdir', path: '/d' }, { op: 'mkdir', path: '/d', mode: 0o755 });
    expect(outcomes).toEqual(['ok', 'ok', 'ok']);
    expect(upperView(s).get('/d')?.xattrs[`${P}opaque`]).toBe('y');
    expect(mergedView(s).has('/d/x')).toBe(false);
  });
  it('S6.5 copy-up breaks a lower hard link', () => {
    const { s } = run(state({ lowers: [{ '/a': { type: 'file', data: 'x' }, '/b': { type: 'link', to: '/a' } }], upper: {} }),
      { op: 'open', path: '/a', flags: ['O_WRONLY', 'O_APPEND'], data: 'y' });
    const m = mergedView(s);
    expect(m.get('/a')?.data).toBe('xy');
    expect(m.get('/b')?.data).toBe('x');
    expect(m.get('/a')?.nlink).toBe(1);
    expect(m.get('/b')?.nlink).toBe(2);
    expect(m.get('/a')?.ino).not.toBe(m.get('/b')?.ino);
    expect(upperView(s).get('/a')?.xattrs[`${P}origin`]).toBeUndefined(); // S6.4
  });
  it('S22.4 setxattr XATTR_REPLACE on a lower file fails after copying it up', () => {
    const { s, outcomes } = run(state({ lowers: [{ '/f': { type: 'file' } }], upper: {} }),
      { op: 'setxattr', path: '/f', name: 'user.a', value: '1', flags: 'XATTR_REPLACE' });
    expect(outcomes).toEqual(['ENODATA']);
    expect(upperView(s).has('/f')).toBe(true);
  });
});

describe('rules that changed between kernel versions (model/versions.ts)', () => {
  const at = (k: readonly [number, number, number], stack: StackSpec, profile = DEFAULT_PROFILE) => createState(stack, profile, k);
  const metacopyUpper = { '/f': { type: 'file' as const, data: '', xattrs: { [`${P}metacopy`]: '' } } };

  it('S7.3 an upper metacopy file without metacopy=on: EPERM from 6.16; before, EIO with nothing below it and EPERM with a file', () => {
    const nothing: StackSpec = { lowers: [{ '/g': { type: 'file' } }], upper: metacopyUpper };
    const file: StackSpec = { lowers: [{ '/f': { type: 'file', data: 'x' } }], upper: metacopyUpper };
    expect(mergedView(at([6, 18, 44], nothing)).get('/f')).toMatchObject({ kind: 'error', errno: 'EPERM' });
    expect(mergedView(at([6, 12, 117], nothing)).get('/f')).toMatchObject({ kind: 'error', errno: 'EIO' });
    expect(mergedView(at([6, 1, 192], file)).get('/f')).toMatchObject({ kind: 'error', errno: 'EPERM' });
  });

  it('S2.7 nofollow: before 6.16 a redirected upper dir with a lower dir at its target is refused after recording its origin; with nothing there it is an ordinary dir', () => {
    const nofollow = { ...DEFAULT_PROFILE, name: 'nofollow', redirect_dir: 'nofollow' as const };
    const stack = (target: string): StackSpec => ({
      lowers: [{ [target]: { type: 'dir' }, '/x': { type: 'file' } }],
      upper: { '/d': { type: 'dir', xattrs: { [`${P}redirect`]: 'a' } } },
    });
    const before = at([6, 12, 117], stack('/a'), nofollow);
    const old = walkEffects(before);
    expect(mergedView(old, before).get('/d')).toMatchObject({ kind: 'error', errno: 'EPERM' });
    expect(upperView(old).get('/d')!.xattrs).toHaveProperty(`${P}origin`);
    expect(upperView(old).get('/')!.xattrs).toHaveProperty(`${P}impure`);
    // The root is impure now: listing it looks every upper entry up, and drops /d (S22.2).
    expect(mergedView(old).has('/d')).toBe(false);
    expect(mergedView(at([6, 1, 192], stack('/b'), nofollow)).get('/d')).toMatchObject({ kind: 'dir' });
    const now = walkEffects(at([6, 18, 44], stack('/a'), nofollow));
    expect(mergedView(now).get('/d')).toMatchObject({ kind: 'error', errno: 'EPERM' });
    expect(upperView(now).get('/d')!.xattrs).not.toHaveProperty(`${P}origin`);
  });

  it('S10.1 before 6.7 a private xattr through the mount is EOPNOTSUPP, without a copy-up', () => {
    const r = applyOp(at([6, 1, 192], { lowers: [{ '/f': { type: 'file' } }], upper: {} }), { op: 'setxattr', path: '/f', name: `${P}x`, value: '1' });
    expect(r.outcome).toBe('EOPNOTSUPP');
    expect(upperView(r.state).has('/f')).toBe(false);
  });

  it('S1.5 before 6.6 no P.uuid is written', () => {
    expect(upperView(at([6, 1, 192], { lowers: [{}], upper: {} })).get('/')!.xattrs).not.toHaveProperty(`${P}uuid`);
    expect(upperView(at([6, 6, 0], { lowers: [{}], upper: {} })).get('/')!.xattrs).toHaveProperty(`${P}uuid`);
  });
});

describe('mount requests by kernel version (S20.1)', () => {
  const world = { dirs: new Set(['l0', 'l1', 'u', 'w']), files: new Set(['file']), mounts: new Set<string>() };
  it('6.1 matches every option before it looks a path up; 6.5+ resolves lowerdir= as it parses it', () => {
    const r = { lowers: ['c', '1'], options: ['index=maybe'] };
    expect(predictMount(world, r, [6, 1, 192]).outcome).toBe('EINVAL');
    expect(predictMount(world, r, [6, 18, 44]).outcome).toBe('ENOENT');
  });
  it('6.1 refuses an empty lowerdir= before it looks the upper up (regression: matrix seed 20261130)', () => {
    const r = { lowers: [], upper: 'missing', work: 'w', options: [] };
    expect(predictMount(world, r, [6, 1, 192]).outcome).toBe('EINVAL'); // "lowerdir=" does not match "lowerdir=%s"
    expect(predictMount(world, r, [6, 18, 44]).outcome).toBe('ENOENT'); // the upper is resolved as it is parsed
  });
  it('6.1 knows uuid=on|off only, and refuses "ro" in the option string', () => {
    const req = (o: string) => ({ lowers: ['l0'], upper: 'u', work: 'w', options: [o] });
    expect(predictMount(world, req('uuid=null'), [6, 1, 192]).outcome).toBe('EINVAL');
    expect(predictMount(world, req('uuid=null'), [6, 6, 0]).outcome).toBe('ok');
    expect(predictMount(world, req('ro'), [6, 1, 192]).outcome).toBe('EINVAL');
  });
});

// (imports are hoisted: kept with the tests they serve, this file being appended to)
import { emptySequence, footprint, stepSequence } from './mountSequence.js';
import type { KernelVersion } from './types.js';

describe('mount sequences: what a mount leaves, failed or not (model/mountSequence.ts)', () => {
  type A = Parameters<typeof stepSequence>[1];
  const mount = (lower: string, upper: string, work: string, o: { index?: boolean; volatile?: boolean; userxattr?: boolean; uuid?: 'off' | 'null' } = {}): A =>
    ({ do: 'mount', lower, upper, work, index: o.index ?? false, ...(o.volatile ? { volatile: true } : {}), ...(o.userxattr ? { userxattr: true } : {}), ...(o.uuid ? { uuid: o.uuid } : {}) });
  /** Outcomes of the actions in turn, and the state after the last. */
  const seq = (k: KernelVersion, ...actions: A[]) => {
    let st = emptySequence();
    const outcomes: string[] = [];
    for (const a of actions) {
      const r = stepSequence(st, a, k);
      outcomes.push(r.outcome);
      st = r.state;
    }
    return { outcomes, st, leaves: footprint(st) };
  };
  const K18: KernelVersion = [6, 18, 44];

  it('S12.1 an index=on mount refused by the index dir has already set the new upper\'s origin (issue 11)', () => {
    const r = seq(K18, mount('l0', 'u1', 'w1', { index: true }), { do: 'umount', pick: 0 },
      mount('l0', 'u0', 'w1', { index: true }), mount('u1', 'u0', 'w0', { index: true }));
    expect(r.outcomes).toEqual(['ok', 'ok', 'ESTALE', 'ESTALE']);
    expect(r.st.origin.get('u0')).toBe('l0');
    expect(r.leaves).not.toContain('w0/index'); // refused at the origin, before the index dir
  });
  it('S14.3 volatile leaves a dirty file that no unmount removes: every later mount of that workdir is EINVAL, after EBUSY, before ELOOP', () => {
    const r = seq(K18, mount('l0', 'u0', 'w0', { volatile: true }), mount('l1', 'u1', 'w0'), mount('l1', 'u1', 'w0', { index: true }),
      { do: 'umount', pick: 0 }, mount('u1', 'u1', 'w0'), mount('l0', 'u0', 'w1'));
    expect(r.outcomes).toEqual(['ok', 'EINVAL', 'EBUSY', 'ok', 'EINVAL', 'ok']);
    expect(r.leaves).toContain('w0/work/incompat/volatile/dirty');
  });
  it('S14.3 a volatile mount failing after ovl_make_workdir leaves the dirty file; one refused on its upper does not', () => {
    const r = seq(K18, mount('l0', 'u0', 'w0', { index: true }), mount('l1', 'u0', 'w1', { index: true, volatile: true }));
    expect(r.outcomes).toEqual(['ok', 'EBUSY']);
    expect(r.leaves.filter((x) => x.startsWith('w1'))).toEqual([]);
    const s = seq(K18, mount('u1', 'u1', 'w1', { volatile: true }));
    expect(s.outcomes).toEqual(['ELOOP']);
    expect(s.leaves).toContain('w1/work/incompat/volatile/dirty');
  });
  it('S15.2 the overlap check comes after the index dir: a lower inside the upper is ELOOP with origin and index written', () => {
    const r = seq(K18, mount('u0/d', 'u0', 'w0', { index: true }), mount('l0', 'u0', 'w1', { index: true }), mount('l0', 'u1', 'w0', { index: true }));
    expect(r.outcomes).toEqual(['ELOOP', 'ESTALE', 'ESTALE']);
    expect(r.st.origin.get('u0')).toBe('u0/d');
    expect(r.st.indexOf.get('w0')).toBe('u0');
  });
  it('S12.2 a layer below a dir in use is EBUSY with index=on only after the index dir; without index=on it mounts', () => {
    const r = seq(K18, mount('l1', 'u0', 'w0'), mount('l0', 'u0/d', 'w1', { index: true }), mount('l0', 'u0/d', 'w1'));
    expect(r.outcomes).toEqual(['ok', 'EBUSY', 'ok']);
    expect(r.st.origin.get('u0/d')).toBe('l0');
  });
  it('S8.9 P.uuid is stored after the lower\'s checks (none on ELOOP "conflicting"), from 6.6 only', () => {
    expect(seq(K18, mount('u1', 'u1', 'w0')).leaves).toEqual(['w0/work']);
    expect(seq(K18, mount('l0', 'u1', 'w0')).leaves).toEqual(['u1@uuid', 'w0/work']);
    expect(seq([6, 1, 192], mount('l0', 'u1', 'w0', { index: true })).leaves).toEqual(['u1@origin', 'w0/index', 'w0/index@upper', 'w0/work']);
  });
  it('S12.1 a handle stored with uuid=off (null uuid) matches no mount without it, and the other way round; no P.uuid with off', () => {
    const r = seq(K18, mount('l0', 'u0', 'w0', { index: true, uuid: 'off' }), { do: 'umount', pick: 0 },
      mount('l0', 'u0', 'w1', { index: true }), mount('l0', 'u0', 'w0', { index: true, uuid: 'off' }));
    expect(r.outcomes).toEqual(['ok', 'ok', 'ESTALE', 'ok']);
    expect(r.leaves).toContain('u0@uuid'); // by the refused mount without uuid=off, before its index dir
    expect(seq(K18, mount('l0', 'u0', 'w0', { index: true, uuid: 'off' })).leaves).not.toContain('u0@uuid');
    expect(seq([6, 1, 192], mount('l0', 'u0', 'w0', { uuid: 'null' })).outcomes).toEqual(['EINVAL']); // no uuid=null before 6.6
  });
  it('S10.3 userxattr keeps its ties in user.overlay.*; S15.6 before 6.6 (tmpfs without user.* xattrs) it falls back to index=off after the upper\'s and workdir\'s in-use checks', () => {
    const u = { index: true, userxattr: true };
    const r = seq(K18, mount('l0', 'u0', 'w0', u), { do: 'umount', pick: 0 }, mount('l1', 'u0', 'w1', { index: true }), { do: 'umount', pick: 0 }, mount('l1', 'u0', 'w1', u));
    expect(r.outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'ESTALE']);
    expect(r.leaves).toEqual(expect.arrayContaining(['u0@user.origin', 'u0@origin', 'w0/index@user.upper', 'w1/index@upper']));
    const old = seq([6, 1, 192], mount('l0', 'u0', 'w0', { index: true }), mount('l1', 'u0', 'w1', u), mount('u0', 'u1', 'w1', u));
    expect(old.outcomes).toEqual(['ok', 'EBUSY', 'ok']);
    expect(old.leaves).not.toContain('w1/index');
  });
  it('a case file names the mount point to unmount; one not mounted does nothing', () => {
    const r = seq(K18, mount('l0', 'u0', 'w0'), mount('l1', 'u1', 'w1'), { do: 'umount', at: 1 }, { do: 'umount', at: 1 });
    expect([...r.st.live.keys()]).toEqual([0]);
    expect(stepSequence(r.st, { do: 'umount', at: 2 }, K18).at).toBeNull();
  });
});
