// `ovlcheck probe`: what a kernel accepts, profile by profile and for the option combinations
// whose resolution rules the model predicts (S1.15), what its layer filesystem holds, and so
// which profiles a run covers there and why the others are left out; as text or JSON.

import { namedProfile, notModelled, ParamError, PROFILES, resolveProfile, unsupportedBy, type Profile } from '../model/index.js';
import { moduleDefaults } from '../harness/drivers/kernel.js';
import { mountFlags, profileOptions } from '../harness/drivers/kernelOptions.js';
import { probeLayerFs, tryMount, type LayerFsFacts } from '../harness/probe.js';
import { kernelOf, type Sys } from '../harness/sys.js';

/** Combinations that test the dependency rules (S1.3, S1.15). */
const COMBINATIONS = [
  'redirect_dir=off', 'metacopy=on', 'metacopy=on,redirect_dir=follow', 'metacopy=on,redirect_dir=nofollow',
  'nfs_export=on', 'nfs_export=on,index=off', 'nfs_export=on,metacopy=on', 'userxattr,redirect_dir=on',
  'userxattr,redirect_dir=follow', 'userxattr,metacopy=on', 'index=on,metacopy=on', 'xino=auto', 'volatile',
  'uuid=on', 'bogus=1',
];

export interface ProbeResult {
  kernel: string;
  where: string;
  moduleDefaults: Record<string, string>;
  layerFs: LayerFsFacts;
  profiles: { name: string; about: string; options: string; mounts: string; shown: string; modelled: boolean; runs: boolean; why?: string }[];
  combinations: { options: string; kernel: string; model: string; agree: boolean; shown: string }[];
}

/** Why the layers' filesystem cannot hold what a profile needs, or null. */
export function layerFsRefusal(p: Profile, fs: LayerFsFacts): string | null {
  if (p.userxattr && !fs.userXattrs) return 'the layers\' tmpfs has no user.* xattrs on this kernel (before 6.6), and userxattr keeps its own there';
  // Rootless mode (harness/rootless.ts): what root in a user namespace is refused.
  if (fs.callerIds === false) return 'the layers hold entries owned by uids and gids 1000 and 1001, which this user namespace does not map (rootless mode without subordinate ids in /etc/subuid and /etc/subgid)';
  if (!p.userxattr && fs.trustedXattrs === false) {
    return 'without userxattr overlayfs keeps its xattrs in trusted.*, which only CAP_SYS_ADMIN in the initial user namespace may set (rootless mode): it then mounts without any (no opaque dirs, redirect_dir=nofollow, uuid=null), which the model does not hold';
  }
  if (p.dataOnly && fs.trustedXattrs === false) {
    return 'the data-only layer\'s metacopy files are written with trusted.overlay.* xattrs, which only CAP_SYS_ADMIN in the initial user namespace may set (rootless mode)';
  }
  if ((p.index || p.nfs_export || p.xino === 'auto') && fs.fileHandles === false) {
    return 'overlayfs gets no file handles of its layers here (it needs CAP_DAC_READ_SEARCH in the initial user namespace: rootless mode), and drops index, nfs_export and xino=auto';
  }
  return null;
}

/** Why a profile cannot run on this kernel (the model's versions, the layer fs, the kernel's answer), or null. */
export function profileRefusal(sys: Sys, p: Profile, fs: LayerFsFacts): { why: string | null; mounts: string; shown: string } {
  const kernel = kernelOf(sys);
  const early = notModelled(p) ?? unsupportedBy(p, kernel) ?? layerFsRefusal(p, fs);
  if (early) return { why: early, mounts: '-', shown: '' };
  const t = tryMount(sys, profileOptions(p, kernel), { upper: p.readonly !== 'no-upper', split: p.split, dataOnly: p.dataOnly, nested: p.nested, flags: mountFlags(p) });
  return { why: t.outcome === 'ok' ? null : `the kernel refuses to mount it (${t.outcome})`, mounts: t.outcome, shown: t.shown };
}

export function probe(sys: Sys): ProbeResult {
  const kernel = kernelOf(sys);
  const layerFs = probeLayerFs(sys);
  const profiles = Object.entries(PROFILES).map(([name, entry]) => {
    const p = namedProfile(name);
    const r = profileRefusal(sys, p, layerFs);
    return {
      name, about: entry.about, options: profileOptions(p, kernel) + (mountFlags(p) ? ' (MS_RDONLY)' : ''), mounts: r.mounts, shown: r.shown,
      modelled: !notModelled(p), runs: !r.why, ...(r.why ? { why: r.why } : {}),
    };
  });
  const combinations = COMBINATIONS.map((options) => {
    const t = tryMount(sys, options);
    let model = 'ok';
    try {
      resolveProfile('probe', options, true, kernel);
    } catch (e) {
      if (!(e instanceof ParamError)) throw e;
      model = 'EINVAL';
    }
    return { options, kernel: t.outcome, model, agree: t.outcome === model, shown: t.shown };
  });
  return { kernel: sys.release(), where: sys.where, moduleDefaults: moduleDefaults(sys), layerFs, profiles, combinations };
}

const yes = (b: boolean | undefined): string => (b === false ? 'no' : 'yes');

export function formatProbe(r: ProbeResult): string {
  const lines = [
    `kernel ${r.kernel} (${r.where})`,
    `module defaults: ${Object.entries(r.moduleDefaults).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `layer filesystem (tmpfs): user.* xattrs ${yes(r.layerFs.userXattrs)}, trusted.* xattrs ${yes(r.layerFs.trustedXattrs)}, ` +
      `uids 1000 and 1001 ${yes(r.layerFs.callerIds)}; overlayfs file handles ${yes(r.layerFs.fileHandles)}`,
    '',
    'profile            mounts  runs   /proc/mounts shows',
  ];
  for (const p of r.profiles) {
    lines.push(`${p.name.padEnd(18)} ${p.mounts.padEnd(7)} ${(p.runs ? 'yes' : 'no').padEnd(6)} ${p.shown || (p.mounts === 'ok' ? '(nothing beyond the paths)' : '')}${p.why ? `   [skipped: ${p.why}]` : ''}`);
  }
  lines.push('', 'options (S1.15)                      kernel   model    /proc/mounts shows');
  for (const c of r.combinations) {
    lines.push(`${c.options.padEnd(36)} ${c.kernel.padEnd(8)} ${c.model.padEnd(8)} ${c.shown}${c.agree ? '' : '   <-- model and kernel disagree'}`);
  }
  return lines.join('\n');
}
