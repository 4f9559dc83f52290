// A guest that stops answering, or goes away, is a reported result and the run goes on.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { namedProfile } from '../../model/index.js';
import { Session } from '../../properties/session.js';
import { runSuite } from '../../properties/suite.js';
import { KernelDriver } from '../drivers/kernel.js';
import { kernelOf } from '../sys.js';
import { inPrivateNamespace } from '../namespace.js';
import { openSandbox } from '../sandbox.js';
import { guestKernel } from './target.js';
import { Guest } from './vm.js';

const missing = ['/usr/bin/qemu-system-x86_64', '/usr/bin/apt-get', '/bin/busybox'].filter((f) => !fs.existsSync(f));
const why = !inPrivateNamespace() ? 'needs root in a private mount namespace (npm test)' : missing.length ? `needs ${missing.join(', ')}` : '';

describe.skipIf(why !== '')(`guests that hang or go away${why ? ` [skipped: ${why}]` : ''}`, () => {
  it('reports a hung guest and one that went away as such, boots another, and goes on', async () => {
    const sandbox = openSandbox();
    const kernel = await guestKernel('6.1');
    const guests: Guest[] = [];
    const boot = async () => {
      // 20 s a request: a walk takes milliseconds; only a stopped guest misses it.
      const g = await Guest.boot({ kernel, workDir: path.join(sandbox.root, `g${guests.length}`), requestDeadlineMs: 20_000 });
      guests.push(g);
      return g.sys;
    };
    try {
      const sys = await boot();
      const r = await runSuite(sys, {
        runs: 6, steps: 5, maxLowers: 2, entries: 6, seed: 3, rotate: 0, profiles: ['default', 'index', 'redirect-on'].map(namedProfile), sequences: 2,
        onCase: (profile, p) => {
          // The third case of a profile: stop the guest (a hang), or kill it (as a panic ends qemu).
          if (p.cases !== 3) return;
          if (profile === 'default') process.kill(guests[0].pid!, 'SIGSTOP');
          if (profile === 'index') process.kill(guests[1].pid!, 'SIGKILL');
        },
        reopen: async () => {
          await guests[guests.length - 1].kill();
          return boot();
        },
      });
      expect(r.profiles.map((p) => [p.profile.name, p.status])).toEqual([['default', 'hang'], ['index', 'gone'], ['redirect-on', 'pass']]);
      expect(r.profiles[0].error).toMatch(/no answer to .* within 20 s/);
      expect(r.profiles[0].errorCase).toMatch(/^case:/);
      expect(r.properties.map((p) => p.status)).toEqual(['pass', 'pass']);
      expect(guests).toHaveLength(3);
    } finally {
      for (const g of guests) await g.kill().catch(() => {});
      sandbox.close();
    }
  }, 20 * 60_000);

  it('mounts a stack deeper than one page of options on 6.1, which has no lowerdir+= (relative paths)', async () => {
    const sandbox = openSandbox();
    const g = await Guest.boot({ kernel: await guestKernel('6.1'), workDir: path.join(sandbox.root, 'deep') });
    try {
      const lowers = Array.from({ length: 300 }, (_, i) => ({ [`/f${i % 7}`]: { type: 'file' as const, data: `L${i}` } }));
      const s = new Session(new KernelDriver(g.sys), namedProfile('default'), kernelOf(g.sys));
      await s.start({ lowers, upper: {} });
      await s.step({ op: 'open', path: '/f3', flags: ['O_WRONLY', 'O_APPEND'], data: 'x' });
      await s.step({ op: 'rotate' }); // 301 lowers
      await s.finish();
      await s.close();
      expect(s.facts!.options.length).toBeGreaterThan(4096);
    } finally {
      await g.shutdown();
      sandbox.close();
    }
  }, 20 * 60_000);
});
