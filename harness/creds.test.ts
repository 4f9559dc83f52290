// Steps as another caller (harness/creds.ts): the credentials hold for the one call, root's
// come back after it, also when the call throws, and a switch that fails is a harness error.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asCaller } from './creds.js';
import { runCall } from './calls.js';
import { inPrivateNamespace } from './namespace.js';
import { openSandbox } from './sandbox.js';

const ids = () => {
  const status = fs.readFileSync('/proc/self/status', 'latin1');
  const field = (name: string) => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
};

describe.skipIf(process.getuid?.() !== 0)('steps as another caller', () => {
  it('switches euid, egid, groups and umask for the call only', () => {
    const before = ids();
    const inside = asCaller({ uid: 1000, gid: 1001, groups: [1001, 1002], umask: 0o077 }, () => ({ ...ids(), umask: process.umask() }));
    expect(inside.uid.slice(0, 2)).toEqual(['0', '1000']); // real stays root: the way back
    expect(inside.gid.slice(0, 2)).toEqual(['0', '1001']);
    expect(inside.groups).toEqual(['1001', '1002']);
    expect(inside.umask).toBe(0o077);
    expect(ids()).toEqual(before);
    expect(process.umask()).toBe(0o022);
  });

  it('comes back to root when the call throws', () => {
    const before = ids();
    expect(() => asCaller({ uid: 1000, gid: 1000 }, () => { throw new Error('inside'); })).toThrow('inside');
    expect(ids()).toEqual(before);
  });

  it('a switch that fails is a harness error, never an outcome, and leaves root as it was', () => {
    const before = ids();
    const tooMany = Array.from({ length: 70_000 }, () => 1000); // over NGROUPS_MAX
    expect(() => runCall({ c: 'mkdir', path: '/nonexistent/x', mode: 0o755, as: { uid: 1000, gid: 1000, groups: tooMany } }))
      .toThrow(/credential switch failed: setgroups/);
    expect(ids()).toEqual(before);
  });

  it.skipIf(!inPrivateNamespace())('the kernel checks the caller: EACCES in a root 0755 dir, and the new file is the caller\'s', () => {
    const sandbox = openSandbox();
    try {
      const dir = sandbox.newDir('creds-');
      expect(runCall({ c: 'mkdir', path: `${dir}/no`, mode: 0o755, as: { uid: 1000, gid: 1000 } })).toBe('EACCES');
      fs.chmodSync(dir, 0o777);
      expect(runCall({ c: 'open', path: `${dir}/f`, flags: fs.constants.O_WRONLY | fs.constants.O_CREAT, mode: 0o666, as: { uid: 1000, gid: 1001, umask: 0o027 } })).toBe('ok');
      const st = fs.statSync(`${dir}/f`);
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1000, 1001, 0o640]);
    } finally {
      sandbox.close();
    }
  });
});
