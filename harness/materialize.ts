// Build one layer of a StackSpec on disk: every entry type, exact modes, xattrs, hard links.
// The layer becomes a plan of syscalls (harness/calls.ts), run here or in a guest's executor.
// A spec that cannot be built is a bug in the caller: it throws, naming the entry.

import fs from 'node:fs';
import type { EntrySpec, LayerSpec } from '../model/types.js';
import { ACL_DEFAULT } from '../model/acl.js';
import { runCall, type Call } from './calls.js';
import { AT_SYMLINK_NOFOLLOW } from './native.js';

const { S_IFCHR, S_IFIFO, O_WRONLY, O_CREAT, O_TRUNC } = fs.constants;
const DEFAULT_DIR_MODE = 0o755;
const DEFAULT_FILE_MODE = 0o644;

/** One syscall of a layer build, with the entry it is for and what it does (for errors). */
export interface PlannedCall {
  call: Call;
  entry: string;
  what: string;
}

export class SpecError extends Error {}

/** Creates every entry of spec under dir (which must exist and be empty). Private xattrs use privatePrefix. */
export function materializeLayer(dir: string, spec: LayerSpec, privatePrefix: string): void {
  for (const step of layerPlan(dir, spec, privatePrefix)) {
    const outcome = runCall(step.call);
    if (outcome !== 'ok') throw buildError(step, outcome);
  }
}

export function buildError(step: PlannedCall, outcome: string): SpecError {
  return new SpecError(`cannot build layer entry ${step.entry}: ${step.what} failed with ${outcome}`);
}

/** The syscalls that build spec under the empty dir, in order; throws SpecError for a spec that cannot exist. */
export function layerPlan(dir: string, spec: LayerSpec, privatePrefix: string): PlannedCall[] {
  // A prefix sorts before its extensions, so parents come before children.
  const paths = Object.keys(spec).sort();
  for (const p of paths) checkPath(p);
  const plan: PlannedCall[] = [];
  const made = new Set<string>(['']);
  const links: string[] = [];
  for (const p of paths) {
    const entry = spec[p];
    if (p === '/') {
      if (entry.type !== 'dir') fail(p, `the layer root must be a dir, not ${entry.type}`);
      finishDir(plan, dir, entry, privatePrefix, p);
      continue;
    }
    ensureAncestors(plan, dir, spec, p, made);
    made.add(p);
    if (entry.type === 'link') links.push(p);
    else create(plan, dir + p, entry, privatePrefix, p);
  }
  // Links last: their target may sort after them.
  for (const p of links) plan.push(linkCall(dir, spec, p));
  // Default ACLs once every name is made: the names made in a dir after it would inherit it (S10.5).
  for (const p of paths) {
    const e = spec[p];
    const acl = e.type === 'dir' ? e.xattrs?.[ACL_DEFAULT] : undefined;
    if (acl !== undefined) plan.push({ call: { c: 'setxattr', path: dir + (p === '/' ? '' : p), name: ACL_DEFAULT, value: acl, flags: 0, nofollow: true }, entry: p, what: `set ${ACL_DEFAULT}` });
  }
  // Times last of all: a dir's mtime moves with every name made in it.
  for (const p of paths) {
    const e = spec[p];
    if (e.type !== 'link' && e.mtime !== undefined) {
      plan.push({ call: { c: 'utimes', path: p === '/' ? dir : dir + p, atime: e.mtime, mtime: e.mtime, flags: AT_SYMLINK_NOFOLLOW }, entry: p, what: 'utimensat' });
    }
  }
  return plan;
}

function checkPath(p: string): void {
  if (p === '/') return;
  const parts = p.split('/');
  if (parts[0] !== '' || parts.slice(1).some((c) => c === '' || c === '.' || c === '..')) {
    fail(p, 'not a normalized absolute path');
  }
}

/** Missing ancestors are dirs 0755; an ancestor that exists as a non-dir is a broken spec. */
function ensureAncestors(plan: PlannedCall[], dir: string, spec: LayerSpec, p: string, made: Set<string>): void {
  for (let i = p.indexOf('/', 1); i > 0; i = p.indexOf('/', i + 1)) {
    const ancestor = p.slice(0, i);
    const declared = spec[ancestor];
    if (declared && declared.type !== 'dir') fail(p, `its ancestor ${ancestor} is a ${declared.type}`);
    if (declared || made.has(ancestor)) continue;
    made.add(ancestor);
    plan.push({ call: { c: 'mkdir', path: dir + ancestor, mode: 0o777 }, entry: p, what: `mkdir ${ancestor}` });
    own(plan, dir + ancestor, { type: 'dir' }, p);
    plan.push({ call: { c: 'chmod', path: dir + ancestor, mode: DEFAULT_DIR_MODE }, entry: p, what: `chmod ${ancestor}` });
  }
}

function create(plan: PlannedCall[], full: string, entry: Exclude<EntrySpec, { type: 'link' }>, prefix: string, p: string): void {
  const add = (call: Call, what: string) => plan.push({ call, entry: p, what });
  switch (entry.type) {
    case 'dir':
      add({ c: 'mkdir', path: full, mode: 0o777 }, 'mkdir');
      return finishDir(plan, full, entry, prefix, p);
    case 'file':
      add({ c: 'open', path: full, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o666, data: entry.data ?? '' }, 'write');
      own(plan, full, entry, p);
      add({ c: 'chmod', path: full, mode: entry.mode ?? DEFAULT_FILE_MODE }, 'chmod');
      return setXattrs(plan, full, entry.xattrs, p);
    case 'symlink':
      add({ c: 'symlink', target: entry.target, path: full }, 'symlink');
      return own(plan, full, entry, p);
    case 'whiteout':
      add({ c: 'mknod', path: full, mode: S_IFCHR, dev: 0 }, 'mknod whiteout'); // 0/0, mode 0000 (S2.5)
      return own(plan, full, entry, p);
    case 'fifo':
      add({ c: 'mknod', path: full, mode: S_IFIFO, dev: 0 }, 'mknod fifo');
      own(plan, full, entry, p);
      return void add({ c: 'chmod', path: full, mode: entry.mode ?? DEFAULT_FILE_MODE }, 'chmod');
  }
}

/**
 * lchown before chmod (chown clears setuid and setgid bits); 0:0 too, since an entry made
 * in a setgid dir gets that dir's group (S4.5).
 */
function own(plan: PlannedCall[], full: string, entry: EntrySpec, p: string): void {
  plan.push({ call: { c: 'chown', path: full, uid: entry.uid ?? 0, gid: entry.gid ?? 0, nofollow: true }, entry: p, what: 'lchown' });
}

function finishDir(plan: PlannedCall[], full: string, entry: Extract<EntrySpec, { type: 'dir' }>, prefix: string, p: string): void {
  own(plan, full, entry, p);
  plan.push({ call: { c: 'chmod', path: full, mode: entry.mode ?? DEFAULT_DIR_MODE }, entry: p, what: 'chmod' });
  if (entry.opaque) plan.push({ call: { c: 'setxattr', path: full, name: `${prefix}opaque`, value: 'y', flags: 0, nofollow: true }, entry: p, what: `set ${prefix}opaque` });
  setXattrs(plan, full, entry.xattrs, p);
}

function setXattrs(plan: PlannedCall[], full: string, xattrs: Record<string, string> | undefined, p: string): void {
  for (const [name, value] of Object.entries(xattrs ?? {})) {
    if (name === ACL_DEFAULT) continue; // set last (layerPlan)
    plan.push({ call: { c: 'setxattr', path: full, name, value, flags: 0, nofollow: true }, entry: p, what: `set ${name}` });
  }
}

function linkCall(dir: string, spec: LayerSpec, p: string): PlannedCall {
  const to = (spec[p] as Extract<EntrySpec, { type: 'link' }>).to;
  const target = spec[to];
  if (!target) fail(p, `hard link to ${to}, which the layer does not contain`);
  if (target.type !== 'file') fail(p, `hard link to ${to}, which is a ${target.type}, not a file`);
  return { call: { c: 'link', from: dir + to, to: dir + p }, entry: p, what: `hard link to ${to}` };
}

function fail(p: string, why: string): never {
  throw new SpecError(`cannot build layer entry ${p}: ${why}`);
}
