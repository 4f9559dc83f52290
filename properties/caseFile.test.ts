// Case files (issue 11): every malformed input is one short CaseError line naming the field; every
// case the suite has parses; fuzzed inputs never crash the parser, and what it accepts the model
// and the layer builder can run; the generated format documentation is current.
import { isFdOp } from '../model/fds.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { isDirStreamOp } from '../model/dirStream.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { namedProfile, NotModelled, type KernelVersion } from '../model/index.js';
import { ModelDriver } from '../harness/drivers/model.js';
import { opCall } from '../harness/calls.js';
import { layerPlan } from '../harness/materialize.js';
import { privatePrefix } from '../model/profile.js';
import { CaseError, parseCase, profileOf } from './caseFile.js';
import { caseJsonSchema, caseFormatMarkdown, CASE_KINDS, generatedFiles, markdownOf, MARKDOWN_FILE, staleFiles, type CaseKind } from './caseFormat.js';
import { LIMITS } from './caseSchema.js';
import { failureCase, type Failure } from './report.js';
import { replayCase } from './replay.js';

const here = import.meta.dirname;
const casesDir = join(here, 'cases');
/** The case files of properties/cases (not the mount cases there: "kind": "mount-…", properties/mountCase.ts's). */
const caseFiles = readdirSync(casesDir).filter((f) => f.endsWith('.json')).sort()
  .filter((f) => (JSON.parse(readFileSync(join(casesDir, f), 'utf8')) as { kind?: unknown }).kind === undefined);
const seeds: unknown[] = caseFiles.map((f) => JSON.parse(readFileSync(join(casesDir, f), 'utf8')));
/** Cases `ovlcheck compare` saved (reports/<driver>/cases): the form report.ts failureCase writes. */
const savedFiles = readdirSync(join(here, '..', 'reports'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => {
    const dir = join(here, '..', 'reports', d.name, 'cases');
    try {
      return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => join(dir, f));
    } catch {
      return [];
    }
  });

/** The message parseCase refuses text with; fails the test if it accepts it or throws anything else. */
function refusal(text: string): string {
  try {
    parseCase(text, 'case.json');
  } catch (e) {
    if (!(e instanceof CaseError)) throw e;
    return e.message;
  }
  throw new Error(`accepted: ${text.slice(0, 200)}`);
}

/** A minimal valid case, changed by `edit`. */
function caseWith(edit: (c: Record<string, any>) => void): string {
  const c: Record<string, any> = { ovlcheck: 1, layers: { lowers: [{ '/a': { type: 'file', data: 'x' } }], upper: {} }, steps: [] };
  edit(c);
  return JSON.stringify(c);
}
const lower = (layer: Record<string, unknown>) => caseWith((c) => { c.layers.lowers = [layer]; });
const step = (s: unknown) => caseWith((c) => { c.steps = [{ op: 'unlink', path: '/a' }, { op: 'unlink', path: '/a' }, s]; });

/** [what, the case text, what the line must say]: the list, then more. */
const BAD: [string, string, RegExp][] = [
  ['open flag O_BOGUS', step({ op: 'open', path: '/a', flags: ['O_BOGUS'] }), /^case\.json: steps\[2\]\.flags\[0\]: unknown open flag "O_BOGUS" \(one of: O_RDONLY, /],
  ['open flags 42', step({ op: 'open', path: '/a', flags: 42 }), /steps\[2\]\.flags: .*list of open flags.*not 42/],
  ['open flags as a string', step({ op: 'open', path: '/a', flags: 'O_RDONLY' }), /steps\[2\]\.flags: .*list of open flags/],
  ['open flags [42]', step({ op: 'open', path: '/a', flags: [42] }), /steps\[2\]\.flags\[0\]: unknown open flag 42/],
  ['rename flag RENAME_BOGUS', step({ op: 'rename', src: '/a', dst: '/b', flags: ['RENAME_BOGUS'] }), /steps\[2\]\.flags\[0\]: unknown rename flag "RENAME_BOGUS"/],
  ['xattr flag as a list', step({ op: 'setxattr', path: '/a', name: 'user.x', value: '1', flags: ['XATTR_CREATE'] }), /steps\[2\]\.flags: unknown xattr flag a list/],
  ['mode "abc"', step({ op: 'mkdir', path: '/d', mode: 'abc' }), /steps\[2\]\.mode: a mode is an integer from 0 to 4095.*not "abc"/],
  ['mode 99999999999', step({ op: 'mkdir', path: '/d', mode: 99999999999 }), /steps\[2\]\.mode: .*not 99999999999/],
  ['chmod mode 1e20', step({ op: 'chmod', path: '/a', mode: 1e20 }), /steps\[2\]\.mode: a mode is an integer/],
  ['negative mode', lower({ '/a': { type: 'file', mode: -1 } }), /\["\/a"\]\.mode: a mode/],
  ['fractional mode', lower({ '/a': { type: 'fifo', mode: 4.5 } }), /\["\/a"\]\.mode: a mode/],
  ['file data 42', lower({ '/a': { type: 'file', data: 42 } }), /layers\.lowers\[0\]\["\/a"\]\.data: file data must be a string, not 42/],
  ['file data beyond latin1', lower({ '/a': { type: 'file', data: 'x€' } }), /\.data: file data holds U\+20AC/],
  ['open data 42', step({ op: 'open', path: '/a', flags: ['O_WRONLY'], data: 42 }), /steps\[2\]\.data: file data must be a string/],
  ['open data on a read-only open', step({ op: 'open', path: '/a', flags: ['O_RDONLY'], data: 'x' }), /steps\[2\]\.data: .*O_WRONLY or O_RDWR/],
  ['two access modes', step({ op: 'open', path: '/a', flags: ['O_WRONLY', 'O_RDWR'] }), /steps\[2\]\.flags: O_WRONLY with O_RDWR: at most one access mode/],
  ['xattrs "x"', lower({ '/a': { type: 'file', xattrs: 'x' } }), /\["\/a"\]\.xattrs: xattrs must be an object of name -> value, not "x"/],
  ['xattrs on a symlink', lower({ '/s': { type: 'symlink', target: 'a', xattrs: {} } }), /\["\/s"\]\.xattrs: unknown key/],
  ['xattr name bogus.x in a layer', lower({ '/a': { type: 'file', xattrs: { 'bogus.x': '1' } } }), /\.xattrs\["bogus\.x"\]: xattr name "bogus\.x" is in no namespace .*user\.\*, trusted\.\*/],
  ['xattr name "user."', lower({ '/a': { type: 'dir', xattrs: { 'user.': '1' } } }), /nothing after its namespace/],
  ['xattr value 42', lower({ '/a': { type: 'file', xattrs: { 'user.x': 42 } } }), /\.xattrs\["user\.x"\]: an xattr value must be a string, not 42/],
  ['xattr value too long', lower({ '/a': { type: 'file', xattrs: { 'user.x': 'v'.repeat(LIMITS.xattrValue + 1) } } }), /an xattr value of 65537 bytes, over 65536/],
  ['too many xattrs', lower({ '/a': { type: 'file', xattrs: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`user.x${i}`, ''])) } }), /\.xattrs: 65 xattrs, over 64/],
  ['setxattr name bogus.x', step({ op: 'setxattr', path: '/a', name: 'bogus.x', value: '1' }), /steps\[2\]\.name: xattr name "bogus\.x" is in no namespace/],
  ['setxattr name 42', step({ op: 'setxattr', path: '/a', name: 42, value: '1' }), /steps\[2\]\.name: an xattr name must be a string, not 42/],
  ['removexattr name bogus.x', step({ op: 'removexattr', path: '/a', name: 'bogus.x' }), /steps\[2\]\.name: xattr name "bogus\.x"/],
  ['xattr name over XATTR_NAME_MAX', step({ op: 'setxattr', path: '/a', name: 'user.' + 'n'.repeat(251), value: '1' }), /xattr name of 256 bytes, over 255/],
  ['private xattr name that escaping makes too long', step({ op: 'setxattr', path: '/a', name: 'trusted.overlay.' + 'n'.repeat(235), value: '1' }), /private xattr name of 251 bytes, over 247/],
  ['non-ASCII xattr name', step({ op: 'removexattr', path: '/a', name: 'user.é' }), /not ASCII/],
  ['truncate size 1e300', step({ op: 'truncate', path: '/a', size: 1e300 }), /steps\[2\]\.size: a size is an integer from 0 to 1048576 \(1 MiB.*not 1e\+300/],
  ['truncate size 1 TiB', step({ op: 'truncate', path: '/a', size: 2 ** 40 }), /steps\[2\]\.size: .*not 1099511627776/],
  ['truncate size 1 MiB + 1', step({ op: 'truncate', path: '/a', size: LIMITS.fileData + 1 }), /steps\[2\]\.size: .*not 1048577/],
  ['negative truncate size', step({ op: 'truncate', path: '/a', size: -1 }), /steps\[2\]\.size: .*not -1/],
  ['fractional truncate size', step({ op: 'truncate', path: '/a', size: 1.5 }), /steps\[2\]\.size: .*not 1\.5/],
  ['file data over 1 MiB', lower({ '/a': { type: 'file', data: 'x'.repeat(LIMITS.fileData + 1) } }), /file data of 1048577 bytes, over 1048576/],
  ['more file data than a case may hold', caseWith((c) => { c.steps = Array.from({ length: 17 }, () => ({ op: 'truncate', path: '/a', size: LIMITS.fileData })); }), /steps\[15\]: the case's file data reaches .* over 16777216/],
  ['hard link to a missing entry', lower({ '/a': { type: 'link', to: '/x' } }), /\["\/a"\]\.to: "\/x" is not an entry of this layer/],
  ['hard link to a dir', lower({ '/d': { type: 'dir' }, '/a': { type: 'link', to: '/d' } }), /\["\/a"\]\.to: "\/d" is a dir: a hard link names a file/],
  ['hard link to an implicit dir', lower({ '/d/f': { type: 'file' }, '/a': { type: 'link', to: '/d' } }), /\["\/a"\]\.to: "\/d" is not an entry of this layer/],
  ['hard link to itself', lower({ '/a': { type: 'link', to: '/a' } }), /\["\/a"\]\.to: a hard link to itself/],
  ['hard link to a link', lower({ '/f': { type: 'file' }, '/l': { type: 'link', to: '/f' }, '/a': { type: 'link', to: '/l' } }), /\["\/a"\]\.to: "\/l" is itself a link/],
  ['hard link to a symlink', lower({ '/s': { type: 'symlink', target: 'x' }, '/a': { type: 'link', to: '/s' } }), /"\/s" is a symlink: a hard link names a file/],
  ['hard link to another layer', caseWith((c) => { c.layers.lowers = [{ '/a': { type: 'link', to: '/f' } }, { '/f': { type: 'file' } }]; }), /lowers\[0\]\["\/a"\]\.to: "\/f" is not an entry of this layer/],
  ['hard link to without a path', lower({ '/a': { type: 'link', to: 'f' } }), /\["\/a"\]\.to: "f" is not absolute/],
  ['a file under a file', lower({ '/a': { type: 'file' }, '/a/b': { type: 'file' } }), /layers\.lowers\[0\]\["\/a\/b"\]: "\/a" above it is a file, not a dir/],
  ['a file under a whiteout, two levels down', caseWith((c) => { c.layers.upper = { '/w': { type: 'whiteout' }, '/w/x/y': { type: 'dir' } }; }), /layers\.upper\["\/w\/x\/y"\]: "\/w" above it is a whiteout/],
  ['"/a/./b"', lower({ '/a/./b': { type: 'file' } }), /\["\/a\/\.\/b"\]: a "\." component/],
  ['"//a//b/"', lower({ '//a//b/': { type: 'file' } }), /\["\/\/a\/\/b\/"\]: an empty name/],
  ['a trailing slash in a step', step({ op: 'unlink', path: '/a/' }), /steps\[2\]\.path: an empty name \("\/\/", or a trailing "\/"\)/],
  ['"." as a step path', step({ op: 'rmdir', path: '/.' }), /steps\[2\]\.path: a "\." component/],
  ['".." in a step path', step({ op: 'unlink', path: '/a/../b' }), /steps\[2\]\.path: "\.\." is not allowed/],
  ['".." in a layer', lower({ '/..': { type: 'dir' } }), /"\.\." is not allowed/],
  ['a relative path', step({ op: 'rename', src: 'a', dst: '/b' }), /steps\[2\]\.src: "a" is not absolute/],
  ['the layer root as an entry', lower({ '/': { type: 'dir' } }), /\["\/"\]: the layer root cannot be an entry/],
  // A step may try a name past NAME_MAX (ENAMETOOLONG, S2.9), up to 511 bytes; a layer entry may not.
  ['a step name over 511 bytes', step({ op: 'unlink', path: '/' + 'x'.repeat(512) }), /steps\[2\]\.path: a name of 512 bytes, over 511/],
  ['a layer name over NAME_MAX', lower({ ['/' + 'x'.repeat(256)]: { type: 'file' } }), /a name of 256 bytes, over 255 \(NAME_MAX\)/],
  ['a NUL byte in a name', step({ op: 'unlink', path: '/a\u0000b' }), /steps\[2\]\.path: a NUL byte in a name/],
  ['a NUL byte in a layer path', lower({ '/a\u0000': { type: 'file' } }), /a NUL byte in a name/],
  ['a non-ASCII name', lower({ '/é': { type: 'file' } }), /a non-ASCII character \(U\+00E9\)/],
  ['a path over PATH_MAX', step({ op: 'unlink', path: ('/' + 'x'.repeat(200)).repeat(25) }), /steps\[2\]\.path: a path of 5025 characters, over 3072/],
  ['a 3000-deep path', step({ op: 'unlink', path: '/a'.repeat(3000) }), /steps\[2\]\.path: a path of 6000 characters/],
  ['a 65-deep path', lower({ ['/a'.repeat(65)]: { type: 'file' } }), /a path more than 64 names deep/],
  ['a 600-layer stack', caseWith((c) => { c.layers.lowers = Array.from({ length: 600 }, () => ({ '/a': { type: 'file' } })); }), /^case\.json: layers\.lowers: 600 lower layers; the kernel stacks at most 500 \(OVL_MAX_STACK\)$/],
  ['rotations beyond 500 layers', caseWith((c) => { c.layers.lowers = Array.from({ length: 499 }, () => ({})); c.steps = [{ op: 'rotate' }, { op: 'rotate' }]; }), /steps\[1\]: this rotate makes 501 layers/],
  ['no lower layer', caseWith((c) => { c.layers.lowers = []; }), /layers\.lowers: lowers must list at least one layer/],
  ['mknod kind blockdev', step({ op: 'mknod', path: '/b', kind: 'blockdev', mode: 420 }), /steps\[2\]\.kind: unknown mknod kind "blockdev" \(one of: fifo, whiteout/],
  ['expect.merged "x"', caseWith((c) => { c.expect = { merged: 'x' }; }), /^case\.json: expect\.merged: merged must be an object of path -> expected entry/],
  ['outcome EBOGUS', step({ op: 'unlink', path: '/a', expect: { outcome: 'EBOGUS' } }), /steps\[2\]\.expect\.outcome: unknown outcome "EBOGUS": "ok" or an errno the model knows/],
  ['outcome at the top level', caseWith((c) => { c.outcome = 'ok'; }), /^case\.json: outcome: unknown key \(an outcome is a step's known answer/],
  ['outcome in the mount expectation', caseWith((c) => { c.expect = { outcome: 'ok' }; }), /^case\.json: expect\.outcome: unknown key/],
  ['outcome in expectAfterRemount', caseWith((c) => { c.expectAfterRemount = { outcome: 'ok' }; }), /expectAfterRemount\.outcome: unknown key/],
  ['outcome on a step itself', step({ op: 'unlink', path: '/a', outcome: 'ok' }), /steps\[2\]\.outcome: unknown key \(an expected outcome goes in the step's "expect"/],
  ['an unknown top-level key', caseWith((c) => { c.bogus = 1; }), /^case\.json: bogus: unknown key \(known: ovlcheck, /],
  ['upper outside layers', caseWith((c) => { c.upper = {}; }), /^case\.json: upper: unknown key \("upper" goes in "layers"\)/],
  ['an unknown key in an entry', lower({ '/a': { type: 'file', date: 'x' } }), /\["\/a"\]\.date: unknown key \(known: type, mode, data, xattrs, uid, gid, mtime\)/],
  ['an unknown key in an expected entry', caseWith((c) => { c.expect = { merged: { '/a': { knd: 'file' } } }; }), /expect\.merged\["\/a"\]\.knd: unknown key/],
  ['an expected kind that is none', caseWith((c) => { c.expect = { merged: { '/a': { kind: 'blockdev' } } }; }), /expect\.merged\["\/a"\]\.kind: unknown kind "blockdev"/],
  ['an expected errno that is none', caseWith((c) => { c.expect = { merged: { '/a': { errno: 'EBOGUS' } } }; }), /\.errno: unknown errno "EBOGUS"/],
  ['an expectation path that is not canonical', caseWith((c) => { c.expect = { upper: { '/a/': null } }; }), /expect\.upper\["\/a\/"\]: an empty name/],
  ['profile {"index": "yes", "bogus": 1}', caseWith((c) => { c.profile = { index: 'yes', bogus: 1 }; }), /^case\.json: profile\.index: must be true or false, not "yes"$/],
  ['profile {"bogus": 1}', caseWith((c) => { c.profile = { bogus: 1 }; }), /^case\.json: profile\.bogus: unknown key \(known: name, redirect_dir, /],
  ['profile 42', caseWith((c) => { c.profile = 42; }), /^case\.json: profile: a profile is a profile name \(default, .*\) or an object of options, not 42$/],
  ['an unknown profile name', caseWith((c) => { c.profile = 'bogus'; }), /^case\.json: profile: unknown profile "bogus" \(one of: default, /],
  ['profile options the kernel refuses', caseWith((c) => { c.profile = { metacopy: true }; }), /^case\.json: profile: conflicting options \(S1\.15\): metacopy=on,redirect_dir=follow$/],
  ['profile options the kernel drops without an upper', caseWith((c) => { c.profile = { readonly: 'no-upper', volatile: true }; c.layers.lowers.push({}); }), /^case\.json: profile\.volatile: true, but the kernel mounts false without an upper layer/],
  ['index without an upper', caseWith((c) => { c.profile = { readonly: 'no-upper', index: true }; c.layers.lowers.push({}); }), /profile\.index: true, but the kernel mounts false without an upper layer/],
  ['split without an upper', caseWith((c) => { c.profile = { readonly: 'no-upper', split: true }; c.layers.lowers.push({}); }), /profile\.split: true, but without an upper layer the lowers share one filesystem/],
  ['nfs_export without index', caseWith((c) => { c.profile = { nfs_export: true }; }), /profile: conflicting options \(S1\.15\): nfs_export=on,index=off/],
  ['a profile value that is none', caseWith((c) => { c.profile = { xino: 'maybe' }; }), /profile\.xino: unknown xino "maybe" \(one of: on, auto, off\)/],
  ['data-only layers without a data-only profile', caseWith((c) => { c.layers.data = [{ '/x': { type: 'file' } }]; }), /layers\.data: data-only layers need a profile with dataOnly/],
  ['one lower without an upper', caseWith((c) => { c.profile = 'lower-only'; }), /layers\.lowers: profile "lower-only" has no upper layer: the kernel needs at least 2 lowers/],
  ['an upper without an upper', caseWith((c) => { c.profile = 'lower-only'; c.layers.lowers.push({}); c.layers.upper = { '/u': { type: 'file' } }; }), /layers\.upper: profile "lower-only" mounts no upper layer/],
  ['an absolute symlink target', lower({ '/s': { type: 'symlink', target: '/etc' } }), /\["\/s"\]\.target: a symlink target must be relative/],
  ['a symlink target with ".."', step({ op: 'symlink', target: 'a/../../x', path: '/s' }), /steps\[2\]\.target: a symlink target must not hold "\.\."/],
  ['a symlink target with a trailing slash', lower({ '/s': { type: 'symlink', target: 'a/' } }), /\["\/s"\]\.target: a symlink target must not end in "\/"/],
  ['a symlink target with "." after a name', step({ op: 'symlink', target: 'a/.', path: '/s' }), /steps\[2\]\.target: a "\." after a name in a symlink target/],
  ['an empty symlink target in a layer', lower({ '/s': { type: 'symlink', target: '' } }), /\["\/s"\]\.target: an empty symlink target \(only a symlink step may try one/],
  ['a symlink target with a NUL byte', lower({ '/s': { type: 'symlink', target: 'a\u0000' } }), /a NUL byte/],
  ['a symlink without a target', lower({ '/s': { type: 'symlink' } }), /\["\/s"\]\.target: missing/],
  ['an unknown op', step({ op: 'bogus' }), /steps\[2\]\.op: unknown op "bogus" \(one of: open, truncate, /],
  ['a step without an op', step({ path: '/a' }), /steps\[2\]\.op: a step needs an "op"/],
  ['a step that is a number', step(42), /steps\[2\]: a step is an object with an "op"/],
  ['a step without its path', step({ op: 'unlink' }), /^case\.json: steps\[2\]\.path: missing$/],
  ['an unknown entry type', lower({ '/a': { type: 'bogus' } }), /\["\/a"\]\.type: unknown entry type "bogus" \(one of: dir, file, symlink, link, whiteout, fifo\)/],
  ['an entry that is a number', lower({ '/a': 42 }), /\["\/a"\]: an entry is an object with a "type"/],
  ['steps that are not a list', caseWith((c) => { c.steps = {}; }), /^case\.json: steps: steps must be a list of steps, not an object$/],
  ['a layer that is a list', caseWith((c) => { c.layers.upper = []; }), /layers\.upper: a layer is an object of path -> entry, not a list/],
  ['a mount case', JSON.stringify({ ovlcheck: 1, kind: 'mount-sequence', steps: [] }), /^case\.json: "kind": "mount-sequence" is a mount case \(properties\/mountCase\.ts reads those\)/],
  ['no "ovlcheck"', JSON.stringify({ layers: { lowers: [{}] }, steps: [] }), /^case\.json: "ovlcheck": 1 is missing/],
  ['format 2', caseWith((c) => { c.ovlcheck = 2; }), /^case\.json: ovlcheck: must be 1 \(the only format version\), not 2$/],
  ['a list', '[]', /^case\.json: a case file is a JSON object with "ovlcheck": 1, not a list$/],
  ['a number', '42', /^case\.json: a case file is a JSON object/],
  ['null', 'null', /^case\.json: a case file is a JSON object/],
  ['not JSON', '{"ovlcheck": 1,', /^case\.json: not JSON \(/],
  ['empty text', '', /^case\.json: not JSON/],
  ['kernels with a behaviour that is none', caseWith((c) => { c.kernels = 'with:flyingCars'; }), /^case\.json: kernels: "flyingCars" is not a behaviour of model\/versions\.ts/],
  ['kernels that are not a comparison', caseWith((c) => { c.kernels = '~6.1'; }), /kernels: "~6\.1" is not a comparison/],
  ['kernels 42', caseWith((c) => { c.kernels = 42; }), /kernels: kernels must be a string/],
  ['cites that are not strings', caseWith((c) => { c.cites = [1]; }), /cites\[0\]: must be a string, not 1/],
  ['found without its seed', caseWith((c) => { c.found = { path: '', kernel: '', date: '', options: '' }; }), /found\.seed: missing/],
  ['a long echoed value is cut', step({ op: 'open', path: '/a', flags: ['O_' + 'X'.repeat(500)] }), /unknown open flag "O_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX…"/],
  ['a long path as a key is cut', lower({ ['/' + 'k'.repeat(300)]: { type: 'file' } }), /^case\.json: layers\.lowers\[0\]\["\/k{36}…"\]: a name of 300 bytes/],
];

describe('case files: what is refused, and how', () => {
  for (const [what, text, says] of BAD) {
    it(what, () => {
      const line = refusal(text);
      expect(line).toMatch(says);
      expect(line).not.toMatch(/[\n\r]/);
      expect(line.length).toBeLessThanOrEqual(200);
    });
  }

  it('cuts every line at 200 characters, whatever the source is called', () => {
    const line = (() => {
      try {
        parseCase('{', 'x'.repeat(500));
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(line.length).toBe(200);
  });

  it('keeps what is legitimate: root paths in steps, "" as a step\'s symlink target, missing parents, the bounds themselves', () => {
    const c = parseCase(caseWith((c) => {
      c.layers.lowers = [{ '/d/e/f': { type: 'file', data: 'x'.repeat(LIMITS.fileData) }, '/d/l': { type: 'link', to: '/d/e/f' }, '/d/s': { type: 'symlink', target: 'e//f' }, '/d/t': { type: 'symlink', target: './e' }, '/d/u': { type: 'symlink', target: '.' } }];
      c.steps = [
        { op: 'rmdir', path: '/' },
        { op: 'symlink', target: '', path: '/n' },
        { op: 'truncate', path: '/d/e/f', size: LIMITS.fileData },
        { op: 'chmod', path: '/d', mode: 0o7777 },
        { op: 'setxattr', path: '/d', name: 'user.' + 'n'.repeat(LIMITS.xattrName - 5), value: 'v'.repeat(LIMITS.xattrValue), flags: 'XATTR_CREATE' },
        { op: 'open', path: '/' + 'n'.repeat(LIMITS.name), flags: ['O_CREAT', 'O_RDWR'], data: '\u00ff\u0000' },
        { op: 'unlink', path: ('/' + 'p'.repeat(47)).repeat(LIMITS.depth) },
        // Names past NAME_MAX in the steps that open or name a path through an fd or a stream too (ENAMETOOLONG, S2.9).
        { op: 'fdopen', slot: 0, path: '/' + 'm'.repeat(LIMITS.name + 1), flags: ['O_RDONLY', 'O_CREAT'] },
        { op: 'fdlink', slot: 0, path: '/' + 'm'.repeat(LIMITS.name + 1) },
        { op: 'opendir', dir: 0, path: '/' + 'm'.repeat(LIMITS.name + 1) },
      ];
      c.expect = { merged: { '/': { kind: 'dir' }, '/d/l': { nlink: 2, xattrs: { 'user.x': null, 'trusted.overlay.origin': '*' } }, '/x': null } };
      c.$schema = './case.schema.json';
    }));
    expect(c.steps).toHaveLength(10);
    expect(c.layers.upper).toEqual({});
  });
});

describe('case files: every case the suite has parses', () => {
  it('properties/cases/*.json, the known answers', () => {
    expect(caseFiles.length).toBeGreaterThanOrEqual(26);
    for (const f of caseFiles) expect(() => parseCase(readFileSync(join(casesDir, f), 'utf8'), f), f).not.toThrow();
  });

  it('reports/*/cases/*.json, the divergences compare saved', () => {
    for (const f of savedFiles) expect(() => parseCase(readFileSync(f, 'utf8'), f), f).not.toThrow();
  });

  it('what ovlcheck run saves (report.ts failureCase), for every named profile', () => {
    for (const name of ['default', 'data-only-metacopy', 'lower-only', 'userxattr', 'nfs-export', 'volatile']) {
      const profile = namedProfile(name);
      const f: Failure = {
        driver: 'kernel', kernel: '6.18.44', profile, options: 'lowerdir=/tmp/l0,upperdir=/tmp/u', moduleDefaults: { index: 'N' },
        stack: {
          lowers: [{ '/a': { type: 'file', data: '', xattrs: { 'trusted.overlay.metacopy': '', 'trusted.overlay.redirect': '/blobs/x0' } } }, {}],
          upper: {},
          ...(profile.dataOnly ? { data: [{ '/blobs/x0': { type: 'file', data: '' } }] } : {}),
        },
        history: [{ op: { op: 'mkdir', path: '/a', mode: 0o755 }, expected: 'EIO', actual: 'EEXIST', rule: 'S2.8' }],
        info: { phase: 'step', step: 1, expected: 'EIO', actual: 'EEXIST', rule: 'S2.8', differences: [], signature: 'mkdir file', known: ['x'] },
        seed: 1, path: '7:0',
      };
      const c = parseCase(JSON.stringify(failureCase(f, '2026-01-01T00:00:00Z')), `${name}.json`);
      expect(profileOf(c)).toEqual(profile);
    }
  });
});

// ---------------------------------------------------------------- fuzz

/** Every node of a JSON value: the path to it. */
function nodesOf(v: unknown, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(path);
  if (Array.isArray(v)) v.forEach((x, i) => nodesOf(x, [...path, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) nodesOf(x, [...path, k], out);
  return out;
}

type Mutation = { kind: 'drop' | 'replace' | 'string' | 'path' | 'rename' | 'add' | 'number'; pick: number; value: unknown; text: string; n: number };

/** Names that come close to the rules: ".", "..", "", too long, NUL, non-ASCII, existing names. */
const pathArb = fc.array(fc.constantFrom('a', 'b', 'd', 'f', 'x', '', '.', '..', 'n'.repeat(256), 'a\u0000', 'é', 'overlay'), { minLength: 0, maxLength: 6 })
  .chain((cs) => fc.constantFrom('/' + cs.join('/'), cs.join('/'), '/' + cs.join('/') + '/'));

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('drop', 'replace', 'string', 'path', 'path', 'rename', 'add', 'number'),
  pick: fc.nat(),
  value: fc.jsonValue({ maxDepth: 3 }),
  text: fc.oneof(fc.string({ maxLength: 40 }), pathArb, fc.constantFrom('O_BOGUS', 'user.x', 'bogus.x', 'trusted.overlay.opaque', 'link', 'rotate', 'dir', 'EBOGUS', 'ok', 'index')),
  n: fc.oneof(fc.integer(), fc.constantFrom(-1, 0, 0o777, 0o7777, 0o10000, 1e20, 1.5, LIMITS.fileData, LIMITS.fileData + 1, 2 ** 40)),
});

function mutate(seed: unknown, m: Mutation): unknown {
  const root = { v: structuredClone(seed) } as Record<string, unknown>;
  const nodes = nodesOf(root.v).map((p) => ['v', ...p]);
  const path = nodes[m.pick % nodes.length];
  const parent = path.slice(0, -1).reduce<any>((o, k) => o[k], root);
  const key = path[path.length - 1];
  const here = parent[key];
  switch (m.kind) {
    case 'drop':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 'replace': parent[key] = m.value; break;
    case 'string': parent[key] = m.text; break;
    case 'number': parent[key] = m.n; break;
    case 'path':
      if (typeof here === 'string' && here.startsWith('/')) parent[key] = m.text;
      else if (here && typeof here === 'object' && !Array.isArray(here)) {
        const keys = Object.keys(here);
        if (keys.length) {
          const k = keys[(m.n >>> 0) % keys.length];
          (here as Record<string, unknown>)[m.text] = (here as Record<string, unknown>)[k];
          delete (here as Record<string, unknown>)[k];
        }
      }
      break;
    case 'rename':
      if (!Array.isArray(parent) && typeof key === 'string') {
        parent[m.text] = here;
        delete parent[key];
      }
      break;
    case 'add':
      if (here && typeof here === 'object' && !Array.isArray(here)) (here as Record<string, unknown>)[m.text] = m.value;
      else if (Array.isArray(here)) here.push(m.value);
      break;
  }
  return root.v;
}

const KERNEL: KernelVersion = [6, 18, 44];

/** What an accepted case must allow: the layer builder plans every layer, every step is a syscall, the model runs it all. */
async function runsEverywhere(c: ReturnType<typeof parseCase>): Promise<void> {
  const profile = profileOf(c);
  const prefix = privatePrefix(profile);
  for (const layer of [...c.layers.lowers, c.layers.upper, ...(c.layers.data ?? [])]) layerPlan('/tmp/x', layer, prefix);
  for (const s of c.steps) {
    const { expect: _, ...op } = s;
    if (op.op !== 'remount' && op.op !== 'rotate' && !isDirStreamOp(op) && !isFdOp(op)) opCall('/mnt', op); // streams and fds: the driver keeps them
  }
  try {
    await replayCase(c, new ModelDriver(KERNEL), KERNEL, 'model');
  } catch (e) {
    if (!(e instanceof NotModelled)) throw e;
  }
}

/** parseCase returns or throws CaseError with one short line; nothing else. */
function parsesOrRefuses(text: string): ReturnType<typeof parseCase> | null {
  try {
    return parseCase(text, 'fuzz.json');
  } catch (e) {
    if (!(e instanceof CaseError)) throw e;
    expect(e.message).not.toMatch(/[\n\r]/);
    expect(e.message.length).toBeLessThanOrEqual(200);
    return null;
  }
}

// A bound far above what parsing takes (milliseconds), so that only a blow-up (a path parsed in
// quadratic time, a regex that backtracks) fails it, never a slow or busy machine.
const WAY_TOO_SLOW_MS = 5000;

function timed<T>(f: () => T): T {
  const t = performance.now();
  const r = f();
  expect(performance.now() - t).toBeLessThan(WAY_TOO_SLOW_MS);
  return r;
}

describe('case files: fuzzed', () => {
  it('any JSON value is parsed or refused with one line', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => void timed(() => parsesOrRefuses(JSON.stringify(v) ?? 'null'))), { numRuns: 500 });
  });

  it('any text is parsed or refused with one line', () => {
    fc.assert(fc.property(fc.string(), (t) => void timed(() => parsesOrRefuses(t))), { numRuns: 300 });
  });

  it('known-answer cases with random mutations are parsed or refused; what is parsed, the layer builder and the model can run', async () => {
    let accepted = 0;
    await fc.assert(fc.asyncProperty(fc.nat(seeds.length - 1), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async (i, ms) => {
      const v = ms.reduce((acc, m) => mutate(acc, m), seeds[i]);
      const c = timed(() => parsesOrRefuses(JSON.stringify(v)));
      if (c) {
        accepted++;
        await runsEverywhere(c);
      }
    }), { numRuns: 400 });
    expect(accepted).toBeGreaterThan(0);
  }, 120_000);

  it('huge inputs are refused in one line, without a blow-up', () => {
    const deep = caseWith((c) => { c.layers.lowers = [{ ['/a'.repeat(100_000)]: { type: 'file' } }]; });
    expect(timed(() => refusal(deep))).toMatch(/a path of 200000 characters/);
    const wide = caseWith((c) => { c.layers.lowers = Array.from({ length: 5000 }, () => ({ '/a': { type: 'file', xattrs: { 'bogus.x': '' } } })); });
    expect(timed(() => refusal(wide))).toMatch(/^case\.json: layers\.lowers: 5000 lower layers|xattrs\["bogus\.x"\]/);
  });
});

// ---------------------------------------------------------------- generated documentation

describe('case files: the generated format documentation', () => {
  it(`is current (else: npm run build && node dist/properties/caseFormat.js --write)`, () => {
    expect(staleFiles()).toEqual([]);
  });

  it('takes another kind of case file as one more entry of the list', () => {
    const other: CaseKind = {
      name: 'toy', title: 'Toy cases',
      schema: z.strictObject({ ovlcheck: z.literal(1), do: z.array(z.strictObject({ n: z.int().min(0).max(9).describe('A digit.') })).describe('Things to do.') }),
    };
    const md = markdownOf([...CASE_KINDS, other]);
    expect(md).toContain('## Case files');
    expect(md).toContain('## Toy cases');
    expect(md).toContain('| `n` | integer 0 to 9 | yes | A digit. |');
    expect(generatedFiles([...CASE_KINDS, other]).map((f) => f.file)).toEqual([...CASE_KINDS.map((k) => `${k.name}.schema.json`), 'toy.schema.json', 'case-format.md']);
  });

  it('documents every field with its bounds', () => {
    const md = caseFormatMarkdown();
    for (const s of ['`"O_NOFOLLOW"`', '`"RENAME_WHITEOUT"`', '`"XATTR_REPLACE"`', 'integer 0 to 4095', 'integer 0 to 1048576', 'OVL_MAX_STACK', 'NAME_MAX', '`"ENOTEMPTY"`']) expect(md).toContain(s);
    expect(md).not.toContain('`"blockdev"`');
    expect(MARKDOWN_FILE).toBe('case-format.md');
    expect(CASE_KINDS.map((k) => k.name)).toContain('case');
    const js = caseJsonSchema() as { $defs: Record<string, unknown>; additionalProperties: boolean };
    expect(js.additionalProperties).toBe(false);
    expect(Object.keys(js.$defs)).toEqual(expect.arrayContaining(['Step', 'Entry', 'Layer', 'ProfileOptions', 'OpenStep', 'LinkEntry']));
  });
});
