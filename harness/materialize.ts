// Build a model layer spec on disk: every entry type, exact modes, xattrs, hard links.

import fs from 'node:fs';
import type { EntrySpec, LayerSpec } from '../model/types.js';
import { lsetxattr, mknod } from './native.js';

const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;

export function materializeLayer(dir: string, spec: LayerSpec, privatePrefix: string): void {
  const paths = Object.keys(spec).sort();
  const made = new Set<string>();
  const ensureParents = (p: string) => {
    const comps = p.split('/').slice(1, -1);
    for (let i = 1; i <= comps.length; i++) {
      const anc = '/' + comps.slice(0, i).join('/');
      if (made.has(anc) || spec[anc]) continue;
      fs.mkdirSync(dir + anc);
      fs.chmodSync(dir + anc, 0o755);
      made.add(anc);
    }
  };
  const links: [string, string][] = [];
  for (const p of paths) {
    const e = spec[p];
    ensureParents(p);
    if (e.type === 'link') links.push([p, e.to]);
    else create(dir + p, e, privatePrefix);
    made.add(p);
  }
  for (const [p, to] of links) fs.linkSync(dir + to, dir + p);
}

function create(full: string, e: Exclude<EntrySpec, { type: 'link' }>, prefix: string): void {
  switch (e.type) {
    case 'dir':
      fs.mkdirSync(full);
      fs.chmodSync(full, e.mode ?? 0o755);
      if (e.opaque) must(lsetxattr(full, `${prefix}opaque`, 'y', 0), full);
      break;
    case 'file':
      fs.writeFileSync(full, Buffer.from(e.data ?? '', 'latin1'));
      fs.chmodSync(full, e.mode ?? 0o644);
      break;
    case 'symlink':
      fs.symlinkSync(e.target, full);
      return;
    case 'whiteout':
      must(mknod(full, S_IFCHR, 0), full);
      fs.chmodSync(full, 0);
      return;
    case 'fifo':
      must(mknod(full, S_IFIFO | 0o600, 0), full);
      fs.chmodSync(full, e.mode ?? 0o644);
      return;
  }
  for (const [k, v] of Object.entries(e.xattrs ?? {})) must(lsetxattr(full, k, v, 0), `${full} ${k}`);
}

function must(r: string, what: string): void {
  if (r !== 'ok') throw new Error(`cannot build ${what}: ${r}`);
}
