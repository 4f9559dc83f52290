// Build one layer of a StackSpec on disk: every entry type, exact modes, xattrs, hard links.
// A spec that cannot be built is a bug in the caller: it throws, naming the entry.

import fs from 'node:fs';
import type { EntrySpec, LayerSpec } from '../model/types.js';
import { lsetxattr, mknod } from './native.js';

const { S_IFCHR, S_IFIFO } = fs.constants;
const DEFAULT_DIR_MODE = 0o755;
const DEFAULT_FILE_MODE = 0o644;

type Creatable = Exclude<EntrySpec, { type: 'link' }>;

/** Creates every entry of spec under dir (which must exist). Private xattrs use privatePrefix. */
export function materializeLayer(dir: string, spec: LayerSpec, privatePrefix: string): void {
  // A prefix sorts before its extensions, so parents come before children.
  const paths = Object.keys(spec).sort();
  for (const p of paths) checkPath(p);
  const links: string[] = [];
  for (const p of paths) {
    const entry = spec[p];
    if (p === '/') {
      if (entry.type !== 'dir') fail(p, `the layer root must be a dir, not ${entry.type}`);
      finishDir(dir, entry, privatePrefix, p);
      continue;
    }
    ensureAncestors(dir, spec, p);
    if (entry.type === 'link') links.push(p);
    else create(dir + p, entry, privatePrefix, p);
  }
  // Links last: their target may sort after them.
  for (const p of links) createLink(dir, spec, p);
}

function checkPath(p: string): void {
  if (p === '/') return;
  const parts = p.split('/');
  if (parts[0] !== '' || parts.slice(1).some((c) => c === '' || c === '.' || c === '..')) {
    fail(p, 'not a normalized absolute path');
  }
}

/** Missing ancestors are dirs 0755; an ancestor that exists as a non-dir is a broken spec. */
function ensureAncestors(dir: string, spec: LayerSpec, p: string): void {
  for (let i = p.indexOf('/', 1); i > 0; i = p.indexOf('/', i + 1)) {
    const ancestor = p.slice(0, i);
    const declared = spec[ancestor];
    if (declared && declared.type !== 'dir') fail(p, `its ancestor ${ancestor} is a ${declared.type}`);
    if (declared || fs.existsSync(dir + ancestor)) continue;
    fs.mkdirSync(dir + ancestor);
    fs.chmodSync(dir + ancestor, DEFAULT_DIR_MODE);
  }
}

function create(full: string, entry: Creatable, prefix: string, p: string): void {
  try {
    switch (entry.type) {
      case 'dir':
        fs.mkdirSync(full);
        return finishDir(full, entry, prefix, p);
      case 'file':
        fs.writeFileSync(full, Buffer.from(entry.data ?? '', 'latin1'));
        fs.chmodSync(full, entry.mode ?? DEFAULT_FILE_MODE);
        return setXattrs(full, entry.xattrs, p);
      case 'symlink':
        return fs.symlinkSync(entry.target, full);
      case 'whiteout':
        return must(mknod(full, S_IFCHR | 0, 0), p, 'mknod whiteout'); // 0/0, mode 0000 (S2.5)
      case 'fifo':
        must(mknod(full, S_IFIFO, 0), p, 'mknod fifo');
        return fs.chmodSync(full, entry.mode ?? DEFAULT_FILE_MODE);
    }
  } catch (err) {
    if (err instanceof SpecError) throw err;
    fail(p, (err as Error).message);
  }
}

function finishDir(full: string, entry: Extract<EntrySpec, { type: 'dir' }>, prefix: string, p: string): void {
  fs.chmodSync(full, entry.mode ?? DEFAULT_DIR_MODE);
  if (entry.opaque) must(lsetxattr(full, `${prefix}opaque`, 'y', 0), p, `set ${prefix}opaque`);
  setXattrs(full, entry.xattrs, p);
}

function setXattrs(full: string, xattrs: Record<string, string> | undefined, p: string): void {
  for (const [name, value] of Object.entries(xattrs ?? {})) must(lsetxattr(full, name, value, 0), p, `set ${name}`);
}

function createLink(dir: string, spec: LayerSpec, p: string): void {
  const to = (spec[p] as Extract<EntrySpec, { type: 'link' }>).to;
  const target = spec[to];
  if (!target) fail(p, `hard link to ${to}, which the layer does not contain`);
  if (target.type !== 'file') fail(p, `hard link to ${to}, which is a ${target.type}, not a file`);
  try {
    fs.linkSync(dir + to, dir + p);
  } catch (err) {
    fail(p, (err as Error).message);
  }
}

class SpecError extends Error {}

function fail(p: string, why: string): never {
  throw new SpecError(`cannot build layer entry ${p}: ${why}`);
}

function must(outcome: string, p: string, what: string): void {
  if (outcome !== 'ok') fail(p, `${what} failed with ${outcome}`);
}
