import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE } from '../../model/profile.js';
import type { Profile, StackSpec } from '../../model/types.js';
import { inPrivateNamespace } from '../namespace.js';
import { openSandbox, type Sandbox } from '../sandbox.js';
import { KernelDriver, probeOverlaySupport } from './kernel.js';
import { mountFlags, overlayOptions, profileOptions } from './kernelOptions.js';

const SKIP = inPrivateNamespace() ? '' : ' [skipped: needs root in a private mount namespace; run `npm test`]';

const TWO_LOWERS: StackSpec = {
  lowers: [
    { '/f': { type: 'file', data: 'top' }, '/d/a': { type: 'file', data: 'a' } },
    { '/f': { type: 'file', data: 'bottom' }, '/g': { type: 'file', data: 'g' }, '/d/b': { type: 'file' } },
  ],
  upper: {},
};

function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1]?.startsWith(dir));
}

describe('overlayOptions', () => {
  it('spells out every option and escapes layer paths', () => {
    const opts = overlayOptions(['/t/l:0', '/t/l1'], '/t/u,x', '/t/w', { ...DEFAULT_PROFILE, userxattr: true }, [6, 18]);
    expect(opts).toBe('lowerdir=/t/l\\:0:/t/l1,upperdir=/t/u\\,x,workdir=/t/w,redirect_dir=follow,index=off,'
      + 'metacopy=off,xino=off,nfs_export=off,uuid=auto,userxattr');
  });

  it('spells the options the way each kernel version knows them (S1.5, S20)', () => {
    // Before 6.6 there is no uuid=auto: the default is said by saying nothing.
    expect(profileOptions(DEFAULT_PROFILE, [6, 1])).toBe('redirect_dir=follow,index=off,metacopy=off,xino=off,nfs_export=off');
    expect(profileOptions({ ...DEFAULT_PROFILE, uuid: 'off' }, [6, 1])).toMatch(/,uuid=off$/);
    expect(profileOptions(DEFAULT_PROFILE, [6, 6])).toMatch(/,uuid=auto$/);
    // ro is MS_RDONLY, never part of the string (6.1's parser refuses it there).
    const ro = { ...DEFAULT_PROFILE, readonly: 'ro' as const };
    expect(profileOptions(ro, [6, 18])).not.toMatch(/ro/);
    expect(mountFlags(ro)).toBe(1);
    expect(mountFlags(DEFAULT_PROFILE)).toBe(0);
  });
});

describe.skipIf(SKIP !== '')(`kernel driver${SKIP}`, () => {
  let sandbox: Sandbox;
  let driver: KernelDriver;
  beforeAll(() => {
    expect(probeOverlaySupport()).toBeNull();
    sandbox = openSandbox();
    driver = new KernelDriver(sandbox);
  });
  afterEach(() => driver.teardown());
  afterAll(() => sandbox?.close());

  it('mounts two lowers with the leftmost one on top', async () => {
    const facts = await driver.setup(TWO_LOWERS, DEFAULT_PROFILE);
    expect(facts.options).toMatch(/^lowerdir=[^,]*\/l0:[^,]*\/l1,upperdir=.*,redirect_dir=follow,index=off,/);
    expect(facts.shown).toMatch(/^overlay \S+\/m overlay /);
    expect(facts.moduleDefaults).toHaveProperty('redirect_dir');
    const merged = driver.snapshot('merged');
    expect(merged.get('/f')).toMatchObject({ kind: 'file', data: 'top' });
    expect([...merged.keys()]).toEqual(['/', '/d', '/d/a', '/d/b', '/f', '/g']);
    expect(driver.snapshot(1).get('/f')).toMatchObject({ data: 'bottom' });
  });

  it('leaves a whiteout in the upper layer when a lower file is unlinked', async () => {
    await driver.setup(TWO_LOWERS, DEFAULT_PROFILE);
    expect(driver.apply({ op: 'unlink', path: '/g' })).toBe('ok');
    expect(driver.snapshot('merged').has('/g')).toBe(false);
    expect(driver.snapshot('upper').get('/g')).toMatchObject({ kind: 'whiteout' });
    expect(driver.apply({ op: 'unlink', path: '/g' })).toBe('ENOENT');
  });

  it('remounts with the same layers and options', async () => {
    await driver.setup(TWO_LOWERS, DEFAULT_PROFILE);
    expect(driver.apply({ op: 'open', path: '/new', flags: ['O_CREAT', 'O_WRONLY'], data: 'n' })).toBe('ok');
    expect(driver.apply({ op: 'unlink', path: '/g' })).toBe('ok');
    expect(driver.apply({ op: 'remount' })).toBe('ok');
    await driver.remount();
    const merged = driver.snapshot('merged');
    expect(merged.get('/new')).toMatchObject({ data: 'n' });
    expect(merged.has('/g')).toBe(false);
  });

  it('honours userxattr: opaque dirs use user.overlay.', async () => {
    const profile: Profile = { ...DEFAULT_PROFILE, userxattr: true, redirect_dir: 'nofollow' };
    await driver.setup({ ...TWO_LOWERS, upper: { '/d': { type: 'dir', opaque: true } } }, profile);
    expect(driver.snapshot('upper').get('/d')!.xattrs).toEqual({ 'user.overlay.opaque': 'y' });
    expect([...driver.snapshot('merged').keys()].filter((k) => k.startsWith('/d'))).toEqual(['/d']);
  });

  it('names the errno and the options when mount fails, and leaves nothing mounted', async () => {
    const bad: Profile = { ...DEFAULT_PROFILE, userxattr: true, redirect_dir: 'on' }; // conflicting (S1.15)
    await expect(driver.setup(TWO_LOWERS, bad)).rejects.toThrow(/mount -t overlay failed with EINVAL \(options lowerdir=.*userxattr\)/);
    expect(mountsUnder(sandbox.root).map((l) => l.split(' ')[1])).toEqual([sandbox.root]);
  });

  it('tears down completely, and twice is harmless', async () => {
    const facts = await driver.setup(TWO_LOWERS, DEFAULT_PROFILE);
    const caseRoot = facts.shown.split(' ')[1].replace(/\/m$/, '');
    expect(mountsUnder(caseRoot)).toHaveLength(2); // case tmpfs + overlay
    await driver.teardown();
    await driver.teardown();
    expect(mountsUnder(caseRoot)).toEqual([]);
    expect(fs.existsSync(caseRoot)).toBe(false);
  });

  it('nests (S18.1): the outer\'s one lower is the inner overlay over the lowers; both go at teardown, and when the outer fails to mount', async () => {
    const nested: Profile = { ...DEFAULT_PROFILE, name: 'nested', split: true, nested: true };
    const facts = await driver.setup(TWO_LOWERS, nested);
    const caseRoot = facts.shown.split(' ')[1].replace(/\/m$/, '');
    expect(facts.options).toMatch(/^lowerdir=[^,:]*\/in,upperdir=/);
    expect(mountsUnder(caseRoot).map((l) => l.split(' ')[0])).toEqual(['tmpfs', 'tmpfs', 'overlay', 'overlay']); // case, lower fs, inner, outer
    expect(driver.snapshot('merged').get('/f')).toMatchObject({ kind: 'file', data: 'top' });
    expect(driver.snapshot(0).get('/g')).toMatchObject({ kind: 'file', data: 'g' }); // lower 0: the inner's merged view
    await driver.teardown();
    expect(mountsUnder(caseRoot)).toEqual([]);
    const bad: Profile = { ...nested, userxattr: true, redirect_dir: 'on' }; // the outer conflicts (S1.15), the inner mounted first
    await expect(driver.setup(TWO_LOWERS, bad)).rejects.toThrow(/EINVAL/);
    expect(mountsUnder(sandbox.root).map((l) => l.split(' ')[1])).toEqual([sandbox.root]);
  });
});
