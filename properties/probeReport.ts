// `ovlcheck probe`: what the running kernel accepts, profile by profile and for the option
// combinations whose resolution rules the model predicts (S1.15), as text or JSON.

import { release } from 'node:os';
import { namedProfile, notModelled, ParamError, PROFILES, resolveProfile } from '../model/index.js';
import { profileOptions } from '../harness/drivers/kernel.js';
import { moduleDefaults, tryMount } from '../harness/probe.js';
import type { Sandbox } from '../harness/sandbox.js';

/** Combinations that test the dependency rules (S1.3, S1.15). */
const COMBINATIONS = [
  'redirect_dir=off', 'metacopy=on', 'metacopy=on,redirect_dir=follow', 'metacopy=on,redirect_dir=nofollow',
  'nfs_export=on', 'nfs_export=on,index=off', 'nfs_export=on,metacopy=on', 'userxattr,redirect_dir=on',
  'userxattr,redirect_dir=follow', 'userxattr,metacopy=on', 'index=on,metacopy=on', 'xino=auto', 'volatile',
  'uuid=on', 'bogus=1',
];

export interface ProbeResult {
  kernel: string;
  moduleDefaults: Record<string, string>;
  profiles: { name: string; about: string; options: string; mounts: string; shown: string; modelled: boolean; runs: boolean; why?: string }[];
  combinations: { options: string; kernel: string; model: string; agree: boolean; shown: string }[];
}

export function probe(sandbox: Sandbox): ProbeResult {
  const profiles = Object.entries(PROFILES).map(([name, entry]) => {
    const p = namedProfile(name);
    const t = tryMount(sandbox, profileOptions(p), p.readonly !== 'no-upper', p.split);
    const why = t.outcome !== 'ok' ? `the kernel refuses: ${t.outcome}` : notModelled(p) ?? undefined;
    return { name, about: entry.about, options: profileOptions(p), mounts: t.outcome, shown: t.shown, modelled: !notModelled(p), runs: !why, ...(why ? { why } : {}) };
  });
  const combinations = COMBINATIONS.map((options) => {
    const t = tryMount(sandbox, options);
    let model = 'ok';
    try {
      resolveProfile('probe', options);
    } catch (e) {
      if (!(e instanceof ParamError)) throw e;
      model = 'EINVAL';
    }
    return { options, kernel: t.outcome, model, agree: t.outcome === model, shown: t.shown };
  });
  return { kernel: release(), moduleDefaults: moduleDefaults(), profiles, combinations };
}

export function formatProbe(r: ProbeResult): string {
  const lines = [
    `kernel ${r.kernel}`,
    `module defaults: ${Object.entries(r.moduleDefaults).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    '',
    'profile            mounts  runs   /proc/mounts shows',
  ];
  for (const p of r.profiles) {
    lines.push(`${p.name.padEnd(18)} ${p.mounts.padEnd(7)} ${(p.runs ? 'yes' : 'no').padEnd(6)} ${p.shown || '(nothing beyond the paths)'}${p.why ? `   [skipped: ${p.why}]` : ''}`);
  }
  lines.push('', 'options (S1.15)                      kernel   model    /proc/mounts shows');
  for (const c of r.combinations) {
    lines.push(`${c.options.padEnd(36)} ${c.kernel.padEnd(8)} ${c.model.padEnd(8)} ${c.shown}${c.agree ? '' : '   <-- model and kernel disagree'}`);
  }
  return lines.join('\n');
}
