import { describe, expect, it } from 'vitest';
import { createState, mount, namedProfile, PROFILES, unsupportedBy, type KernelVersion } from './index.js';
import { shownOptions } from './mountShown.js';

// What /proc/mounts showed for each named profile on three kernels (ovlcheck matrix,
// reports/matrix/report.md, 2026-11-30), all with the module defaults below. The running
// kernel's own answers are compared at every mount of every run (properties/session.ts).
const DEFAULTS = { check_copy_up: 'N', index: 'N', metacopy: 'N', nfs_export: 'N', redirect_always_follow: 'Y', redirect_dir: 'N', redirect_max: '256', xino_auto: 'N' };
const SEEN: { kernel: KernelVersion; fsync: boolean; shown: Record<string, string> }[] = [
  {
    kernel: [6, 18, 44], fsync: true, shown: {
      default: 'rw,relatime,uuid=on', 'redirect-nofollow': 'rw,relatime,redirect_dir=nofollow,uuid=on', 'xino-on': 'rw,relatime,uuid=on',
      'uuid-null': 'rw,relatime,uuid=null', 'uuid-off': 'rw,relatime,uuid=off', userxattr: 'rw,relatime,redirect_dir=nofollow,uuid=on,userxattr',
      ro: 'ro,relatime,uuid=on', 'data-only': 'rw,relatime,uuid=on', 'data-only-metacopy': 'rw,relatime,redirect_dir=on,uuid=on,metacopy=on',
      'lower-only': 'ro,relatime,redirect_dir=on', 'redirect-on': 'rw,relatime,redirect_dir=on,uuid=on', index: 'rw,relatime,index=on,uuid=on',
      metacopy: 'rw,relatime,redirect_dir=on,uuid=on,metacopy=on', 'nfs-export': 'rw,relatime,index=on,uuid=on,nfs_export=on',
      volatile: 'rw,relatime,uuid=on,fsync=volatile', 'split-fs': 'rw,relatime,uuid=on', 'xino-on-split': 'rw,relatime,uuid=on,xino=on',
      'xino-auto-split': 'rw,relatime,uuid=on,xino=auto',
    },
  },
  {
    kernel: [6, 1, 0], fsync: false, shown: {
      default: 'rw,relatime,redirect_dir=follow', 'redirect-nofollow': 'rw,relatime,redirect_dir=nofollow', 'xino-on': 'rw,relatime,redirect_dir=follow',
      'uuid-off': 'rw,relatime,redirect_dir=follow,uuid=off', ro: 'ro,relatime,redirect_dir=follow', 'lower-only': 'ro,relatime,redirect_dir=follow',
      'redirect-on': 'rw,relatime,redirect_dir=on', index: 'rw,relatime,redirect_dir=follow,index=on', metacopy: 'rw,relatime,redirect_dir=on,metacopy=on',
      'nfs-export': 'rw,relatime,redirect_dir=follow,index=on,nfs_export=on', volatile: 'rw,relatime,redirect_dir=follow,volatile',
      'split-fs': 'rw,relatime,redirect_dir=follow', 'xino-on-split': 'rw,relatime,redirect_dir=follow,xino=on',
      'xino-auto-split': 'rw,relatime,redirect_dir=follow,xino=auto',
    },
  },
  {
    kernel: [6, 12, 117], fsync: true, shown: {
      default: 'rw,relatime,uuid=on', 'uuid-null': 'rw,relatime,uuid=null', 'uuid-off': 'rw,relatime,uuid=off', userxattr: 'rw,relatime,redirect_dir=nofollow,uuid=on,userxattr',
      ro: 'ro,relatime,uuid=on', 'data-only-metacopy': 'rw,relatime,redirect_dir=on,uuid=on,metacopy=on', 'lower-only': 'ro,relatime,redirect_dir=on',
      volatile: 'rw,relatime,uuid=on,fsync=volatile', 'xino-on-split': 'rw,relatime,uuid=on,xino=on',
    },
  },
];

const EMPTY = { lowers: [{}], upper: {} };

describe('what /proc/mounts shows (S1.4, S1.5, S1.7)', () => {
  for (const { kernel, fsync, shown } of SEEN) {
    it(`renders every named profile as ${kernel.join('.')} showed it`, () => {
      for (const [name, want] of Object.entries(shown)) {
        const p = namedProfile(name);
        expect(unsupportedBy(p, kernel), name).toBeNull();
        const stack = p.dataOnly ? { ...EMPTY, data: [{}] } : EMPTY;
        expect([name, shownOptions(createState(stack, p, kernel), { moduleDefaults: DEFAULTS, fsyncOption: fsync })]).toEqual([name, want]);
      }
    });
  }

  it('shows uuid=auto as on at the first mount of a new upper, as nothing once P.uuid is there, as null on an old upper without it (S1.5)', () => {
    const facts = { moduleDefaults: DEFAULTS, fsyncOption: true };
    const first = createState(EMPTY, namedProfile('default'), [6, 18, 44]);
    expect(shownOptions(first, facts)).toBe('rw,relatime,uuid=on');
    expect(shownOptions(mount(first), facts)).toBe('rw,relatime');
    // An upper made by a mount without P.uuid (uuid=null), whose root a copy-up marked impure.
    const made = createState(EMPTY, { ...namedProfile('default'), uuid: 'null' }, [6, 18, 44]);
    made.upper.root.xattrs['trusted.overlay.impure'] = 'y';
    expect(shownOptions(mount({ ...made, profile: namedProfile('default') }), facts)).toBe('rw,relatime,uuid=null');
  });

  it('follows the module defaults (S1.2): an option equal to its default is not shown', () => {
    const p = namedProfile('index');
    expect(shownOptions(createState(EMPTY, p, [6, 18, 44]), { moduleDefaults: { ...DEFAULTS, index: 'Y', redirect_always_follow: 'N' }, fsyncOption: true }))
      .toBe('rw,relatime,redirect_dir=follow,uuid=on');
  });

  it('covers every named profile', () => {
    expect(Object.keys(SEEN[0].shown).sort()).toEqual(Object.keys(PROFILES).filter((n) => n !== 'nested').sort());
  });
});
