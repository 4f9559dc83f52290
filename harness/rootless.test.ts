// Rootless mode (issue 13), for real: the CLI started by a user who is not root makes a user
// namespace of its own and probes what it can cover there.

import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { callerIdsRefusal, idMap, inUserNamespace, userNamespaceRefusal } from './rootless.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'properties', 'cli.js');

describe('id maps', () => {
  it('the initial user namespace maps every id to itself', () => {
    if (inUserNamespace()) return; // the test itself runs rootless: nothing to say about the initial one
    expect(idMap('uid')).toEqual([{ inside: 0, outside: 0, count: 2 ** 32 - 1 }]);
    expect(callerIdsRefusal()).toBeNull();
  });
});

/** A user with subordinate ids that cover 1000 and 1001 (mapped from 1 on), or undefined. */
function userWithSubIds(): string | undefined {
  try {
    const users = new Set(fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')[0]));
    const gids = new Set(fs.readFileSync('/etc/subgid', 'utf8').split('\n').filter((l) => Number(l.split(':')[2]) >= 1001).map((l) => l.split(':')[0]));
    return fs.readFileSync('/etc/subuid', 'utf8').split('\n').map((l) => l.split(':')).find(([u, , n]) => users.has(u) && gids.has(u) && Number(n) >= 1001)?.[0];
  } catch {
    return undefined;
  }
}

const root = process.geteuid?.() === 0;
const refused = userNamespaceRefusal();
const why = !root ? 'needs root to start the CLI as another user' : refused ? `no user namespaces: ${refused}` : null;

describe.skipIf(why !== null)(`rootless mode${why ? ` (skipped: ${why})` : ''}`, () => {
  const probeAs = (user: string) => execa('setpriv', [`--reuid=${user}`, `--regid=${user}`, user === '65534' ? '--clear-groups' : '--init-groups', process.execPath, CLI, 'probe'],
    // Started afresh, as a user would: not as a command already inside this test's namespace.
    { reject: false, cwd: os.tmpdir(), timeout: 60_000, extendEnv: false, env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OVLCHECK_'))) });

  it('without subordinate ids (nobody): every profile is skipped, since the layers need uids 1000 and 1001', async () => {
    const r = await probeAs('65534');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('trusted.* xattrs no, uids 1000 and 1001 no; overlayfs file handles no');
    const row = r.stdout.split('\n').find((l) => l.startsWith('userxattr '))!;
    expect(row).toMatch(/^userxattr\s+-\s+no\s+\[skipped: the layers hold entries owned by uids and gids 1000 and 1001, which this user namespace does not map/);
  });

  const user = userWithSubIds();
  it.skipIf(!user)(`with subordinate ids (${user ?? 'none in /etc/subuid'}): the userxattr profile runs, the trusted.* ones are skipped`, async () => {
    const r = await probeAs(user!);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('trusted.* xattrs no, uids 1000 and 1001 yes; overlayfs file handles no');
    const rows = new Map(r.stdout.split('\n').map((l) => [l.split(' ')[0], l]));
    expect(rows.get('userxattr')).toMatch(/^userxattr\s+ok\s+yes\s+rw,relatime,redirect_dir=nofollow,uuid=on,userxattr$/);
    expect(rows.get('default')).toContain('[skipped: without userxattr overlayfs keeps its xattrs in trusted.*');
  });

  it.skipIf(!user)(`with subordinate ids (${user ?? 'none'}): run --profile userxattr conforms, steps as other users and rotations included`, async () => {
    const out = fs.mkdtempSync(join(os.tmpdir(), 'rootless-'));
    fs.chmodSync(out, 0o777);
    try {
      // Seed 21 found the copy-up rule without file handles: a rotated upper's file, copied up again, gets an empty origin too.
      const r = await execa('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', process.execPath, CLI, 'run', '--profile', 'userxattr', '--runs', '300', '--seed', '21', '--out', out],
        { reject: false, cwd: os.tmpdir(), extendEnv: false, env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OVLCHECK_'))) });
      expect(r.exitCode, r.stdout.slice(-3000) + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^ovlcheck: profile userxattr: 300 cases, \d+ steps, 0 divergences/m);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 600_000);
});
