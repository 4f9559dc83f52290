// The case file format as a zod schema: the one definition of what a case file may hold. It
// validates (properties/caseFile.ts parseCase), and it documents: properties/caseFormat.ts
// turns it into a JSON Schema for editors and a Markdown reference, from the .describe() texts.
// Every bound here stands for something the model or the harness cannot hold beyond it; the
// reason is given where the bound is (LIMITS).

import { z } from 'zod';
import { ACL_ACCESS, ACL_DEFAULT } from '../model/acl.js';
import {
  BEHAVIOURS, DEFAULT_PROFILE, hasFeature, namedProfile, ParamError, profileForRemount, PROFILES, resolveProfile,
  type Behaviour, type EntryKind, type Errno, type KernelVersion, type Op, type OpenFlag, type FdOpenFlag, type Profile,
  type RenameFlag, type XattrFlag,
} from '../model/index.js';

// ---------------------------------------------------------------- bounds

/** Bounds of a case, each with why it is there (the format's documentation lists them). */
export const LIMITS = {
  /** OVL_MAX_STACK: lower plus data-only layers, plus one per rotate step (each adds a lower). */
  stack: 500,
  /** Bytes of a path inside the mount: PATH_MAX (4096) less 1024 for the sandbox dir the harness puts in front. */
  path: 3072,
  /** Components of a path. */
  depth: 64,
  /** NAME_MAX: bytes of one name in a layer, or in an expectation (no longer name can exist). */
  name: 255,
  /** Bytes of one name in a step's path: past NAME_MAX, so that a case can show ENAMETOOLONG (S2.9). */
  stepName: 511,
  /** Bytes of one file's data (layer data, data an open writes, a truncate size): the model keeps data in memory. */
  fileData: 1 << 20,
  /** All file data of a case (layers, opens, truncate sizes): one view's walk must fit a guest's 64 MiB frame. */
  caseData: 16 << 20,
  /** XATTR_NAME_MAX: bytes of an xattr name, prefix included (ERANGE beyond, which the model does not hold). */
  xattrName: 255,
  /** A private name set through the mount is stored escaped, 8 bytes longer (P.overlay.*, S10.1). */
  privateXattrName: 255 - 'overlay.'.length,
  /** XATTR_SIZE_MAX: bytes of an xattr value (E2BIG beyond, which the model does not hold). */
  xattrValue: 65536,
  /** Xattrs of one layer entry: their names must stay far below XATTR_LIST_MAX (64 KiB). */
  xattrs: 64,
  /** nlink in an expectation. */
  nlink: 0xffffffff,
  /** Entries one readdir step reads (a dir of the model holds far fewer). */
  readdir: 4096,
} as const;

// ---------------------------------------------------------------- vocabularies

// Records keyed by a type's members: the compiler checks that each list is complete and exact.
const OPEN_FLAGS = keysOf<Record<OpenFlag, true>>({
  O_RDONLY: true, O_WRONLY: true, O_RDWR: true, O_CREAT: true, O_EXCL: true, O_TRUNC: true, O_APPEND: true, O_NOFOLLOW: true,
});
const ACCESS_MODES: OpenFlag[] = ['O_RDONLY', 'O_WRONLY', 'O_RDWR'];
const FD_OPEN_FLAGS = keysOf<Record<FdOpenFlag, true>>({
  O_RDONLY: true, O_WRONLY: true, O_RDWR: true, O_CREAT: true, O_EXCL: true, O_TRUNC: true, O_APPEND: true, O_NOFOLLOW: true,
  O_DIRECTORY: true, O_TMPFILE: true,
});
const RENAME_FLAGS = keysOf<Record<RenameFlag, true>>({ RENAME_NOREPLACE: true, RENAME_EXCHANGE: true, RENAME_WHITEOUT: true });
const XATTR_FLAGS = keysOf<Record<XattrFlag, true>>({ XATTR_CREATE: true, XATTR_REPLACE: true });
const MKNOD_KINDS = keysOf<Record<Extract<Op, { op: 'mknod' }>['kind'], true>>({ fifo: true, whiteout: true });
const ENTRY_KINDS = keysOf<Record<EntryKind, true>>({
  file: true, dir: true, symlink: true, fifo: true, whiteout: true, chardev: true, other: true, error: true,
});
/** The errno names of model/types.ts Errno (its literal members): the ones the model knows. */
type KnownErrno = Errno extends infer E ? (E extends string ? (string extends E ? never : E) : never) : never;
export const ERRNOS = keysOf<Record<KnownErrno, true>>({
  ENOENT: true, ENOTDIR: true, EISDIR: true, ENOTEMPTY: true, EEXIST: true, EINVAL: true, ELOOP: true, EXDEV: true,
  EPERM: true, EBUSY: true, ENODATA: true, ENXIO: true, EROFS: true, ESTALE: true, EIO: true, ENAMETOOLONG: true,
  EACCES: true, EOPNOTSUPP: true, EMLINK: true, ENOSPC: true, E2BIG: true, ERANGE: true, EBADF: true, ENOTCONN: true,
  ETIMEDOUT: true, ESPIPE: true,
});
const REDIRECT_DIR = keysOf<Record<Profile['redirect_dir'], true>>({ on: true, follow: true, nofollow: true });
const XINO = keysOf<Record<Profile['xino'], true>>({ on: true, auto: true, off: true });
const UUID = keysOf<Record<Profile['uuid'], true>>({ on: true, auto: true, null: true, off: true });
const READONLY = keysOf<Record<NonNullable<Profile['readonly']>, true>>({ 'no-upper': true, ro: true });
const PROFILE_NAMES = Object.keys(PROFILES) as [string, ...string[]];
/** The xattr namespaces the harness and the model hold: user.* (ordinary) and trusted.* (overlay's private ones too); of system.*, the two POSIX ACLs. */
export const XATTR_NAMESPACES = ['user.', 'trusted.'] as const;

function keysOf<R extends Record<string, true>>(r: R): [keyof R & string, ...(keyof R & string)[]] {
  return Object.keys(r) as [keyof R & string, ...(keyof R & string)[]];
}

// ---------------------------------------------------------------- messages

/** A value as a message shows it: JSON, cut to about 40 characters. */
export function show(v: unknown, max = 40): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'an object';
  const s = typeof v === 'number' ? String(v) : JSON.stringify(v) ?? String(v);
  if (s.length <= max) return s;
  return typeof v === 'string' ? `${s.slice(0, max - 2)}…"` : `${s.slice(0, max - 1)}…`;
}

/** "a, b, c" within about `budget` characters, then "…". */
export function list(values: readonly string[], budget = 90): string {
  let out = '';
  for (const v of values) {
    const next = out ? `${out}, ${v}` : v;
    if (next.length > budget) return `${out}, …`;
    out = next;
  }
  return out;
}

type Issue = z.core.$ZodRawIssue;
const inputOf = (iss: Issue): unknown => iss.input;

const VALUE_ISSUES = new Set(['invalid_type', 'invalid_value', 'too_big', 'too_small']);

/**
 * One message for a schema's issues about the value itself (its type, its bounds); issues about
 * its parts (unknown keys, bad keys, union members, checks with their own words) keep theirs.
 */
function says(message: (input: unknown) => string) {
  return {
    error: (iss: Issue) => {
      if (!VALUE_ISSUES.has(iss.code ?? '')) return undefined;
      return iss.code === 'invalid_type' && inputOf(iss) === undefined ? 'missing' : message(inputOf(iss));
    },
  };
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const ARTICLE: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'an integer', boolean: 'true or false', object: 'an object',
  array: 'a list', record: 'an object', null: 'null',
};

/** Messages for the issues no schema words itself (per parse: schemas' own messages win). */
export const errorMap: z.core.$ZodErrorMap = (iss) => {
  const input = inputOf(iss);
  switch (iss.code) {
    case 'invalid_type':
      return input === undefined ? 'missing' : `must be ${ARTICLE[iss.expected] ?? iss.expected}, not ${show(input)}`;
    case 'invalid_value':
      return iss.values.length === 1 ? `must be ${show(iss.values[0])}, not ${show(input)}` : `must be one of ${list(iss.values.map((v) => show(v)))}, not ${show(input)}`;
    case 'unrecognized_keys': {
      const shape = (iss.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def?.shape;
      return `unknown key${shape ? ` (known: ${list(Object.keys(shape), 70)})` : ''}`;
    }
    case 'too_big':
    case 'too_small': {
      const big = iss.code === 'too_big';
      const bound = big ? iss.maximum : iss.minimum;
      if (iss.origin === 'array') return `has ${(input as unknown[]).length} items, ${big ? 'at most' : 'at least'} ${bound} allowed`;
      if (iss.origin === 'string') return `is ${(input as string).length} characters, ${big ? 'at most' : 'at least'} ${bound} allowed`;
      return `must be ${big ? 'at most' : 'at least'} ${bound}, not ${show(input)}`;
    }
    case 'invalid_union': {
      if (iss.discriminator === undefined) return `does not match any of its forms (${show(input)})`;
      const d = iss.discriminator;
      const got = input !== null && typeof input === 'object' ? (input as Record<string, unknown>)[d] : undefined;
      const options = ((iss.options ?? []) as unknown[]).map(String);
      return got === undefined ? `"${d}" is missing (one of: ${list(options)})` : `unknown ${d} ${show(got)} (one of: ${list(options)})`;
    }
    default:
      return undefined;
  }
};

/** A zod issue path as a field reference: steps[2].flags, layers.lowers[0]["/a"].mode. */
export function fieldOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (typeof k === 'string' && /^[A-Za-z_$][\w$]*$/.test(k)) out += out ? `.${k}` : k;
    else out += `[${show(String(k))}]`;
  }
  return out;
}

/** Where a misplaced key belongs. */
function hintFor(path: readonly PropertyKey[], key: string): string | undefined {
  if (key === 'outcome') {
    if (path.length === 2 && path[0] === 'steps') return 'an expected outcome goes in the step\'s "expect": {"outcome": …}';
    return 'an outcome is a step\'s known answer: steps[i].expect.outcome';
  }
  if (path.length === 0 && (key === 'lowers' || key === 'upper' || key === 'data')) return `"${key}" goes in "layers"`;
  if (path.length === 2 && path[0] === 'steps' && (key === 'merged' || key === 'upper')) return `"${key}" goes in the step's "expect"`;
  return undefined;
}

/** Whether a union member failed only because the value is of another type altogether. */
function otherType(issues: readonly z.core.$ZodIssue[], input: unknown): boolean {
  const first = issues[0];
  if (!first || first.path.length > 0) return false;
  if (first.code === 'invalid_type') return true;
  return first.code === 'invalid_value' && first.values.length > 0 && typeof first.values[0] !== typeof input;
}

/** One zod issue as "field: problem". */
export function formatIssue(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[] = []): string {
  const path = [...prefix, ...issue.path];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0];
      const hint = hintFor(path, key);
      return `${fieldOf([...path, key])}: unknown key${hint ? ` (${hint})` : issue.message.replace(/^unknown key/, '')}`;
    }
    case 'invalid_key': {
      const inner = issue.issues[0];
      return `${fieldOf(path)}: ${inner ? inner.message : issue.message}`;
    }
    case 'invalid_union': {
      // A union of forms of different types (a profile: a name or an object): report the form the value has.
      const input = (issue as { input?: unknown }).input;
      const fits = issue.errors.filter((e) => !otherType(e, input));
      if (issue.errors.length > 0 && fits.length === 1 && fits[0].length > 0) return formatIssue(fits[0][0], path);
      break;
    }
  }
  if (path.length === 1 && path[0] === 'ovlcheck' && (issue as { input?: unknown }).input === undefined) {
    return '"ovlcheck": 1 is missing (not a case file?)';
  }
  const where = fieldOf(path);
  return where ? `${where}: ${issue.message}` : issue.message;
}

/** At most 200 characters on one line. */
export function oneLine(s: string, max = 200): string {
  const flat = s.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** Validate a parsed JSON value: the data, or the first problem as one line ("source: field: problem"). */
export function validate<S extends z.ZodType>(schema: S, raw: unknown, source: string): { ok: true; data: z.output<S> } | { ok: false; message: string } {
  const r = schema.safeParse(raw, { reportInput: true, error: errorMap });
  if (r.success) return { ok: true, data: r.data };
  return { ok: false, message: oneLine(`${source}: ${formatIssue(r.error.issues[0])}`) };
}

// ---------------------------------------------------------------- strings: paths, names, data

const ASCII_NAME = '[\\u0001-\\u002e\\u0030-\\u007f]';
/** One name that is neither "." nor "..": for editors (the check below says what is wrong). */
const NAME_RE = `(?!\\.\\.?(?:/|$))${ASCII_NAME}{1,${LIMITS.name}}`;
const PATH_PATTERN = `^(?:/${NAME_RE})+$`;
const ROOT_OR_PATH_PATTERN = `^/$|${PATH_PATTERN}`;

/** Why a name (one path component) cannot be used, or null. */
function nameProblem(c: string, maxName: number = LIMITS.name): string | null {
  if (c === '') return 'an empty name ("//", or a trailing "/"): write the path canonically, as "/a/b"';
  if (c === '.') return 'a "." component: write the path canonically, as "/a/b"';
  if (c === '..') return '".." is not allowed in paths';
  if (c.includes('\u0000')) return 'a NUL byte in a name';
  const bad = /[^\u0001-\u007f]/.exec(c);
  if (bad) return `a non-ASCII character (U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}): names are ASCII (the harness reads names and targets back as latin1)`;
  if (c.length > maxName) return `a name of ${c.length} bytes, over ${maxName}${maxName === LIMITS.name ? ' (NAME_MAX)' : ''}`;
  return null;
}

/** Why p is not a canonical absolute path inside the mount, or null. */
export function pathProblem(p: string, rootAllowed: boolean, maxName: number = LIMITS.name): string | null {
  if (p.length > LIMITS.path) return `a path of ${p.length} characters, over ${LIMITS.path} (PATH_MAX less room for the sandbox dir)`;
  if (!p.startsWith('/')) return `${show(p)} is not absolute: a path starts with "/"`;
  if (p === '/') return rootAllowed ? null : 'the layer root cannot be an entry';
  let depth = 0;
  for (let at = 1; at <= p.length; ) {
    const end = p.indexOf('/', at);
    const c = p.slice(at, end < 0 ? p.length : end);
    if (++depth > LIMITS.depth) return `a path more than ${LIMITS.depth} names deep`;
    const why = nameProblem(c, maxName);
    if (why) return why;
    if (end < 0) break;
    at = end + 1;
  }
  return null;
}

/** Why t cannot be a symlink target, or null: relative, without "..", so that it stays inside the mount. */
export function targetProblem(t: string, emptyAllowed: boolean, maxName: number = LIMITS.name): string | null {
  if (t === '') return emptyAllowed ? null : 'an empty symlink target (only a symlink step may try one: ENOENT)';
  if (t.length > LIMITS.path) return `a target of ${t.length} characters, over ${LIMITS.path}`;
  if (t.startsWith('/')) return 'a symlink target must be relative (it must not leave the mount)';
  // The model resolves a target by its names: "./a" and "a//b" mean what they mean to the kernel,
  // but a "." after a name, or a trailing "/", would ask the name to be a dir (ENOTDIR), which it does not hold.
  if (t.endsWith('/')) return 'a symlink target must not end in "/" (the model does not hold that it then names a dir)';
  const parts = t.split('/');
  for (const [i, c] of parts.entries()) {
    if (c === '' || (c === '.' && i === 0)) continue;
    if (c === '.') return 'a "." after a name in a symlink target (the model does not hold that it then names a dir)';
    if (c === '..') return 'a symlink target must not hold ".." (it must not leave the mount)';
    const why = nameProblem(c, maxName);
    if (why) return why;
  }
  return null;
}

/** Why n cannot be an xattr name, or null. */
export function xattrNameProblem(n: string): string | null {
  if (n.includes('\u0000')) return 'a NUL byte in an xattr name';
  if (/[^\u0001-\u007f]/.test(n)) return `xattr name ${show(n)} is not ASCII (the harness reads names back as latin1)`;
  if (n === ACL_ACCESS || n === ACL_DEFAULT) return null; // S10.5: POSIX ACLs, the kernel's binary form as latin1
  const ns = XATTR_NAMESPACES.find((p) => n.startsWith(p));
  if (!ns) return `xattr name ${show(n)} is in no namespace the harness and model hold (${XATTR_NAMESPACES.map((p) => `${p}*`).join(', ')})`;
  if (n.length === ns.length) return `xattr name ${show(n)} has nothing after its namespace`;
  if (n.length > LIMITS.xattrName) return `an xattr name of ${n.length} bytes, over ${LIMITS.xattrName} (XATTR_NAME_MAX)`;
  if ((n.startsWith('trusted.overlay.') || n.startsWith('user.overlay.')) && n.length > LIMITS.privateXattrName) {
    return `a private xattr name of ${n.length} bytes, over ${LIMITS.privateXattrName}: set through the mount it is stored escaped, 8 bytes longer`;
  }
  return null;
}

/** Why s cannot be written as latin1 bytes of at most max, or null. */
function latin1Problem(s: string, max: number, what: string): string | null {
  if (s.length > max) return `${what} of ${s.length} bytes, over ${max}`;
  const bad = /[^\u0000-\u00ff]/.exec(s);
  if (bad) return `${what} holds U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}: only latin1 characters (U+0000..U+00FF), one byte each`;
  return null;
}

/** A string schema with a check that names the problem. */
function checkedString(problem: (s: string) => string | null, typeMessage: (input: unknown) => string) {
  return z.string(says(typeMessage)).check((ctx) => {
    const why = problem(ctx.value);
    if (why) ctx.issues.push({ code: 'custom', message: why, input: ctx.value });
  });
}

const LayerPath = checkedString((p) => pathProblem(p, false), (v) => `a path must be a string, not ${show(v)}`)
  .meta({ pattern: PATH_PATTERN, maxLength: LIMITS.path })
  .describe(`An absolute, canonical path inside the layer ("/d/f"): no "." or ".." names, no "//", no trailing "/"; ASCII names of at most ${LIMITS.name} bytes (NAME_MAX), no NUL; at most ${LIMITS.depth} names and ${LIMITS.path} bytes. Not "/" itself.`)
  .meta({ id: 'LayerPath', title: 'Layer path' });

const MountPath = checkedString((p) => pathProblem(p, true), (v) => `a path must be a string, not ${show(v)}`)
  .meta({ pattern: ROOT_OR_PATH_PATTERN, maxLength: LIMITS.path })
  .describe(`An absolute, canonical path inside the mount ("/d/f", or "/" for its root): no "." or ".." names, no "//", no trailing "/"; ASCII names of at most ${LIMITS.name} bytes (NAME_MAX), no NUL; at most ${LIMITS.depth} names and ${LIMITS.path} bytes.`)
  .meta({ id: 'Path', title: 'Path' });

/** A path a step names: its names may pass NAME_MAX, which lookup refuses (ENAMETOOLONG, S2.9). */
const StepPath = checkedString((p) => pathProblem(p, true, LIMITS.stepName), (v) => `a path must be a string, not ${show(v)}`)
  .meta({ maxLength: LIMITS.path })
  .describe(`An absolute, canonical path inside the mount, as Path, but its names may be up to ${LIMITS.stepName} bytes: a name over ${LIMITS.name} (NAME_MAX) fails the lookup with ENAMETOOLONG (S2.9).`)
  .meta({ id: 'StepPath', title: 'Step path' });

/** An integer from min to max, with one message for every way a value misses it. */
function intIn(min: number, max: number, message: (input: unknown) => string) {
  return z.int(says(message)).min(min, says(message)).max(max, says(message));
}

const Mode = intIn(0, 0o7777, (v) => `a mode is an integer from 0 to 4095 (0o7777, permission bits), not ${show(v)}`)
  .describe('Permission bits, a decimal integer from 0 to 4095 (0o7777; 420 is 0o644).')
  .meta({ id: 'Mode', title: 'Mode' });

const FileData = checkedString((s) => latin1Problem(s, LIMITS.fileData, 'file data'), (v) => `file data must be a string, not ${show(v)}`)
  .meta({ maxLength: LIMITS.fileData, pattern: '^[\\u0000-\\u00ff]*$' })
  .describe(`File content: latin1 characters (U+0000..U+00FF), one byte each; at most ${LIMITS.fileData} bytes (1 MiB: the model keeps data in memory).`)
  .meta({ id: 'FileData', title: 'File data' });

const XattrName = checkedString(xattrNameProblem, (v) => `an xattr name must be a string, not ${show(v)}`)
  .meta({ pattern: '^(user|trusted)\\.[\\u0001-\\u007f]+$', maxLength: LIMITS.xattrName })
  .describe(`An xattr name in user.* or trusted.* (overlay's private names are trusted.overlay.*, or user.overlay.* with userxattr), or a POSIX ACL, system.posix_acl_access or system.posix_acl_default (its value the kernel's binary form, latin1; the harness sets a dir's default ACL after every name in the layer is made): ASCII, at most ${LIMITS.xattrName} bytes (XATTR_NAME_MAX); a private one at most ${LIMITS.privateXattrName}, as it is stored escaped.`)
  .meta({ id: 'XattrName', title: 'Xattr name' });

const XattrValue = checkedString((s) => latin1Problem(s, LIMITS.xattrValue, 'an xattr value'), (v) => `an xattr value must be a string, not ${show(v)}`)
  .meta({ maxLength: LIMITS.xattrValue, pattern: '^[\\u0000-\\u00ff]*$' })
  .describe(`An xattr value: latin1 characters, one byte each (binary values such as file handles too); at most ${LIMITS.xattrValue} bytes (XATTR_SIZE_MAX).`)
  .meta({ id: 'XattrValue', title: 'Xattr value' });

const Xattrs = z.record(XattrName, XattrValue, says((v) => `xattrs must be an object of name -> value, not ${show(v)}`))
  .check((ctx) => {
    const n = Object.keys(ctx.value).length;
    if (n > LIMITS.xattrs) ctx.issues.push({ code: 'custom', message: `${n} xattrs, over ${LIMITS.xattrs} on one entry`, input: ctx.value });
  })
  .meta({ maxProperties: LIMITS.xattrs })
  .describe(`Xattrs of the entry, name -> value; at most ${LIMITS.xattrs}. Overlay's own (trusted.overlay.opaque, .redirect, .origin, .metacopy, ...) are written as given.`)
  .meta({ id: 'Xattrs', title: 'Xattrs' });

const Target = (emptyAllowed: boolean, maxName: number = LIMITS.name) => checkedString((t) => targetProblem(t, emptyAllowed, maxName), (v) => `a symlink target must be a string, not ${show(v)}`)
  .meta({ maxLength: LIMITS.path });

function choice<const T extends readonly [string, ...string[]]>(what: string, values: T, note = '') {
  return z.enum(values, says((v) => `unknown ${what} ${show(v)} (one of: ${list(values)}${note})`));
}

// ---------------------------------------------------------------- owners, callers, times (S11)

const Id = intIn(0, 65535, (v) => `a uid or gid here is an integer from 0 to 65535, not ${show(v)}`)
  .describe('A uid or gid, 0 to 65535.').meta({ id: 'Id', title: 'Id' });

const Seconds = intIn(0, 4_000_000_000, (v) => `a time is whole seconds since the epoch, 0 to 4000000000, not ${show(v)}`)
  .describe('Whole seconds since the epoch.').meta({ id: 'Seconds', title: 'Seconds' });

/** Owner and mtime of a layer entry (not a hard link: it shares its file's). */
const ownership = {
  uid: Id.optional().describe('Owner; default 0.'),
  gid: Id.optional().describe('Group; default 0.'),
  mtime: Seconds.optional().describe('st_mtime (atime too), set after the whole layer is built; default: when it was built (not compared).'),
};

const Caller = z.strictObject({
  uid: Id.describe('The effective (and fs) uid.'),
  gid: Id.describe('The effective (and fs) gid.'),
  groups: z.array(Id).max(16).optional().describe('Supplementary groups; default [gid].'),
  umask: Mode.optional().describe('The umask during the step; default 18 (0o022).'),
}).describe('Who makes the step (S11.3): the harness switches to these credentials around the one syscall; the mounter stays root.')
  .meta({ id: 'Caller', title: 'Caller' });

const Time = z.union([Seconds, z.enum(['now', 'omit'])], says((v) => `a time is whole seconds, "now" (UTIME_NOW) or "omit" (UTIME_OMIT), not ${show(v)}`))
  .describe('Whole seconds, "now" (UTIME_NOW) or "omit" (UTIME_OMIT).').meta({ id: 'Time', title: 'Time' });

// ---------------------------------------------------------------- layers

const DirEntry = z.strictObject({
  type: z.literal('dir').describe('The entry\'s type.'),
  mode: Mode.optional().describe('Permission bits; default 493 (0o755).'),
  opaque: z.boolean(says((v) => `opaque must be true or false, not ${show(v)}`)).optional()
    .describe('Set the private opaque xattr (P.opaque = "y", S2.6).'),
  xattrs: Xattrs.optional(),
  ...ownership,
}).describe('A directory.').meta({ id: 'DirEntry', title: 'dir entry' });

const FileEntry = z.strictObject({
  type: z.literal('file').describe('The entry\'s type.'),
  mode: Mode.optional().describe('Permission bits; default 420 (0o644).'),
  data: FileData.optional().describe('Content; default empty. Latin1, one byte per character, at most 1 MiB.'),
  xattrs: Xattrs.optional(),
  ...ownership,
}).describe('A regular file.').meta({ id: 'FileEntry', title: 'file entry' });

const SymlinkEntry = z.strictObject({
  type: z.literal('symlink').describe('The entry\'s type.'),
  target: Target(false).describe(`Where it points: relative, without ".." (it must not leave the mount), not empty, no "." after a name nor a trailing "/"; ASCII names of at most ${LIMITS.name} bytes.`),
  ...ownership,
}).describe('A symbolic link.').meta({ id: 'SymlinkEntry', title: 'symlink entry' });

const LinkEntry = z.strictObject({
  type: z.literal('link').describe('The entry\'s type.'),
  to: LayerPath.describe('The path of a file entry of the same layer (not a link, not a dir, not itself).'),
}).describe('A hard link: a second name for the regular file at `to` in the same layer.').meta({ id: 'LinkEntry', title: 'link entry' });

const WhiteoutEntry = z.strictObject({ type: z.literal('whiteout').describe('The entry\'s type.'), ...ownership })
  .describe('A whiteout: a character device 0/0 (S2.5). For an xattr whiteout, write a file with the private xattrs.').meta({ id: 'WhiteoutEntry', title: 'whiteout entry' });

const FifoEntry = z.strictObject({
  type: z.literal('fifo').describe('The entry\'s type.'),
  mode: Mode.optional().describe('Permission bits; default 420 (0o644).'),
  ...ownership,
}).describe('A named pipe.').meta({ id: 'FifoEntry', title: 'fifo entry' });

const ENTRY_TYPES = ['dir', 'file', 'symlink', 'link', 'whiteout', 'fifo'];
const Entry = z.discriminatedUnion('type', [DirEntry, FileEntry, SymlinkEntry, LinkEntry, WhiteoutEntry, FifoEntry], {
  error: (iss) => {
    const v = inputOf(iss);
    if (iss.code === 'invalid_union') {
      const t = v !== null && typeof v === 'object' ? (v as Record<string, unknown>).type : undefined;
      return t === undefined ? `an entry needs a "type" (one of: ${ENTRY_TYPES.join(', ')})` : `unknown entry type ${show(t)} (one of: ${ENTRY_TYPES.join(', ')})`;
    }
    return `an entry is an object with a "type" (one of: ${ENTRY_TYPES.join(', ')}), not ${show(v)}`;
  },
}).describe('One entry of a layer, by its "type".').meta({ id: 'Entry', title: 'Layer entry' });

type LayerValue = Record<string, unknown>;

/** Cross-entry rules of one layer: declared ancestors are dirs, hard links name a file of the layer. */
function checkLayer(layer: LayerValue, ctx: z.core.$RefinementCtx): void {
  if (!isObj(layer)) return;
  const typeAt = (p: string): string | undefined => {
    const e = Object.hasOwn(layer, p) ? layer[p] : undefined;
    return isObj(e) && typeof e.type === 'string' ? e.type : undefined;
  };
  for (const [p, e] of Object.entries(layer)) {
    for (let i = p.indexOf('/', 1); i > 0; i = p.indexOf('/', i + 1)) {
      const ancestor = p.slice(0, i);
      const type = typeAt(ancestor);
      if (type !== undefined && type !== 'dir') {
        ctx.addIssue({ code: 'custom', path: [p], message: `${show(ancestor)} above it is a ${type}, not a dir`, input: e });
        return;
      }
    }
    if (!isObj(e) || e.type !== 'link' || typeof e.to !== 'string') continue;
    const to = e.to;
    const type = typeAt(to);
    const why = to === p ? 'a hard link to itself'
      : type === undefined ? `${show(to)} is not an entry of this layer: a hard link names a file of its own layer`
      : type === 'link' ? `${show(to)} is itself a link: name the file`
      : type !== 'file' ? `${show(to)} is a ${type}: a hard link names a file`
      : null;
    if (why) {
      ctx.addIssue({ code: 'custom', path: [p, 'to'], message: why, input: to });
      return;
    }
  }
}

const Layer = z.record(LayerPath, Entry, says((v) => `a layer is an object of path -> entry, not ${show(v)}`))
  .superRefine((layer, ctx) => checkLayer(layer, ctx))
  .describe('One layer: path -> entry. Missing parents are dirs 0755 (0o755); a parent that is given must be a dir.')
  .meta({ id: 'Layer', title: 'Layer' });

export const Layers = z.strictObject({
  lowers: z.array(Layer, says((v) => `lowers must be a list of layers, not ${show(v)}`))
    .min(1, says(() => 'lowers must list at least one layer'))
    .max(LIMITS.stack, says((v) => `${Array.isArray(v) ? v.length : '?'} lower layers; the kernel stacks at most ${LIMITS.stack} (OVL_MAX_STACK)`))
    .describe(`The lower layers, top first (leftmost in lowerdir=, S2.1); 1 to ${LIMITS.stack}.`),
  upper: Layer.default({}).describe('The upper layer as it is before the mount (an upper written offline, or by an earlier mount); default empty. Empty with a profile that has no upper.'),
  data: z.array(Layer, says((v) => `data must be a list of layers, not ${show(v)}`))
    .max(LIMITS.stack, says((v) => `${Array.isArray(v) ? v.length : '?'} data-only layers; the kernel stacks at most ${LIMITS.stack} (OVL_MAX_STACK)`))
    .optional()
    .describe('Data-only layers below every lower ("::" in lowerdir=, S7.4), reached only through metacopy files\' absolute redirects; only with a profile that has dataOnly.'),
}).describe(`The layer stack. Lowers, data-only layers and rotate steps (each makes the upper a new lower) count together: at most ${LIMITS.stack} (OVL_MAX_STACK).`)
  .meta({ id: 'Layers', title: 'Layers' });

// ---------------------------------------------------------------- known answers

const Outcome = z.enum(['ok', ...ERRNOS], says((v) => `unknown outcome ${show(v)}: "ok" or an errno the model knows (${list(ERRNOS, 60)})`))
  .describe('"ok", or the name of the errno the step fails with, as in errno.h: one the model knows (model/types.ts Errno).')
  .meta({ id: 'Outcome', title: 'Outcome' });

/** The device classes of st_dev (model/inodeNumbers.ts): the overlay's own, a pseudo device per underlying fs (S8.2), a layer's fs. */
export const DEV_CLASSES = ['overlay', 'pseudo', 'layer'] as const;

const EntryExpect = z.strictObject({
  kind: choice('kind', ENTRY_KINDS).optional().describe('What the name is ("error": listed, but lstat fails).'),
  mode: Mode.optional(),
  uid: intIn(0, 0xfffffffe, (v) => `a uid is an integer from 0 to 4294967294, not ${show(v)}`).optional().describe('st_uid.'),
  gid: intIn(0, 0xfffffffe, (v) => `a gid is an integer from 0 to 4294967294, not ${show(v)}`).optional().describe('st_gid.'),
  data: FileData.optional().describe('A regular file\'s whole content.'),
  target: z.string(says((v) => `a symlink target must be a string, not ${show(v)}`)).max(LIMITS.path, says(() => `a target over ${LIMITS.path} bytes`)).optional()
    .describe('A symlink\'s target.'),
  nlink: intIn(0, LIMITS.nlink, (v) => `nlink is an integer from 0 to ${LIMITS.nlink}, not ${show(v)}`).optional()
    .describe('st_nlink.'),
  dev: choice('device class', DEV_CLASSES).optional()
    .describe('The class of st_dev (S8.1-S8.3): "overlay", the st_dev of the merged root; "layer", that of a layer\'s own filesystem (as its views show it); "pseudo", any other (the anonymous device overlay gives each underlying fs, S8.2).'),
  inoHigh: intIn(0, 0xffffffff, (v) => `inoHigh is an integer from 0 to 4294967295 (st_ino bits 32-63), not ${show(v)}`).optional()
    .describe('st_ino bits 32-63, where xino puts the layer\'s fsid (S8.3): 2147483648 (0x80000000) for the first lower fs of two.'),
  mtime: Seconds.optional().describe('st_mtime in whole seconds (the model must know it: set by the layers or by utimes, S6.3).'),
  errno: choice('errno', ERRNOS).optional().describe('For kind "error": the errno lstat fails with (an outcome other than "ok").'),
  blocks: intIn(0, LIMITS.fileData / 512 + 8, (v) => `blocks is an integer from 0 to ${LIMITS.fileData / 512 + 8}, not ${show(v)}`).optional()
    .describe('A regular file\'s st_blocks (512-byte units; tmpfs allocates 4 KiB pages, 8 blocks each): which parts are holes (S17.6), a metacopy file\'s from its data file (S8.7).'),
  xattrs: z.record(XattrName, z.string(says((v) => `an expected xattr value is a string, "*" or null, not ${show(v)}`)).nullable(),
    says((v) => `xattrs must be an object of name -> value, not ${show(v)}`)).optional()
    .describe('Name -> value; "*" means present with any value, null means absent. Names not listed are not checked.'),
}).describe('Partial facts about one name: only the fields given are checked. `{}` means "exists".')
  .meta({ id: 'EntryExpect', title: 'Expected entry' });

const View = (which: string) => z.record(MountPath, EntryExpect.nullable(),
  says((v) => `${which} must be an object of path -> expected entry (or null: absent), not ${show(v)}`))
  .describe(`Path in the ${which} view -> expected entry, or null: the name does not exist.`);

const DTYPES = ['DT_DIR', 'DT_REG', 'DT_LNK', 'DT_FIFO', 'DT_CHR', 'DT_BLK', 'DT_SOCK', 'DT_UNKNOWN'] as const;
const EntryName = z.string(says((v) => `an entry name must be a string, not ${show(v)}`))
  .regex(/^[\u0001-\u002e\u0030-\u007f]{1,255}$/, says((v) => `an entry name is 1 to 255 ASCII bytes without "/" or NUL, not ${show(v)}`));

const FdView = z.partialRecord(z.enum(['/fd0', '/fd1', '/fd2', '/fd3'], says((v) => `an fd view names "/fd0" to "/fd3", not ${show(v)}`)), EntryExpect,
  says((v) => `fd must be an object of "/fd<slot>" -> expected entry, not ${show(v)}`))
  .describe('What an fd step observed (model/fds.ts): fdstat\'s entry (fstat, flistxattr, the content), or fdread\'s bytes as `data`.');

const Listing = z.record(MountPath, z.array(EntryName, says((v) => `a listing is a list of names, not ${show(v)}`)),
  says((v) => `listing must be an object of dir path -> names, not ${show(v)}`))
  .describe('Merged dir path -> the names a full listing of it gives (readdir, "." and ".." left out), in any order: exactly these.')
  .meta({ id: 'Listing', title: 'Listing' });

const LayerViews = (which: string, what: string) => z.array(View(`a ${which} layer`), says((v) => `${which} must be a list of views, one per layer (path -> expected entry), not ${show(v)}`))
  .max(LIMITS.stack, says(() => `more ${which} views than layers (at most ${LIMITS.stack})`))
  .describe(`${what}; ${which}[i] is the view ${which === 'lowers' ? 'lower' : 'data'}<i> of reports: path in that layer directory, as the harness reads it (private xattrs included) -> expected entry, or null: absent. \`{}\` checks nothing for a layer.`);

const viewFields = {
  merged: View('merged').optional(),
  upper: View('upper').optional(),
  listing: Listing.optional(),
  lowers: LayerViews('lowers', 'The lower layers, top first (after a rotate, lowers[0] is the former upper)').optional(),
  data: LayerViews('data', 'The data-only layers, in stack order').optional(),
};

/** A name in one view: "/a" (merged), "upper:/a", "lower0:/a", "data0:/a". */
const NAME_REF_RE = /^(?:(upper|lower\d{1,3}|data\d{1,3}):)?(\/.*)$/;

/** Why s does not name an entry of a view, or null. */
export function nameRefProblem(s: string): string | null {
  const m = NAME_REF_RE.exec(s);
  if (!m) return `${show(s)} is not a name: a merged path ("/a") or a view and a path ("upper:/a", "lower0:/a", "data0:/a")`;
  return pathProblem(m[2], true);
}

const NameRef = checkedString(nameRefProblem, (v) => `a name must be a string such as "/a" or "upper:/a", not ${show(v)}`)
  .meta({ pattern: `^(?:(?:upper|lower[0-9]{1,3}|data[0-9]{1,3}):)?/` })
  .describe('A name in a view: a merged path ("/a"), or the view and a path in it ("upper:/a", "lower0:/a", "data0:/a").')
  .meta({ id: 'NameRef', title: 'Name in a view' });

const Group = (what: string) => z.array(z.array(NameRef, says((v) => `a group is a list of names, not ${show(v)}`))
  .min(2, says(() => 'a group names at least 2 names')), says((v) => `${what} must be a list of groups of names, not ${show(v)}`));

const InoSinceValue = z.union([z.enum(['same', 'changed']), NameRef], {
  error: (iss) => `"same", "changed" or a name (whose st_ino then it shows now), not ${show(inputOf(iss))}`,
}).describe('"same": the name shows the st_ino it showed then; "changed": another; a name ("/a", "upper:/a"): the st_ino that name showed then (a rename).');

const identityFields = {
  sameInode: Group('sameInode').optional()
    .describe('Groups of names each of which is one object: the same st_dev and st_ino (hard links, S6.6; shared whiteouts, S3.2).'),
  distinctInode: Group('distinctInode').optional()
    .describe('Groups of names no two of which are one object: st_dev or st_ino differ (a broken hard link, S6.5).'),
  sameIno: Group('sameIno').optional()
    .describe('Groups of names that show the same st_ino number, whatever their st_dev: an overlay name and the layer object whose number it shows (S8.1, S8.9a).'),
  inoSince: z.record(NameRef, InoSinceValue, says((v) => `inoSince must be an object of name -> "same", "changed" or a name, not ${show(v)}`)).optional()
    .describe('Name -> how its st_ino (the number, bits 32-63 included; not st_dev, which a remount may change) compares with an earlier point, `inoSinceStep`: S8.1 (kept across copy-up and remount), S8.4 and S8.10 (changed). Not across a mount for a number the overlay hands out for one mount (dirs on split filesystems without xino, S8.2): the model refuses such an answer.'),
  inoSinceStep: z.int(says((v) => `inoSinceStep is a step number (0: right after the mount), not ${show(v)}`)).min(0, says((v) => `inoSinceStep is 0 (the mount) or a step number, not ${show(v)}`)).optional()
    .describe('The point `inoSince` compares with: 0 (default), right after the mount; N, after step N (1-based), which must come before.'),
};

const ReadEntry = z.strictObject({
  name: EntryName.describe('d_name; "." and ".." are entries too (S9.10).'),
  type: choice('d_type', DTYPES).optional().describe('d_type (S9.4).'),
}).describe('One entry a readdir step read.').meta({ id: 'ReadEntry', title: 'Entry read' });

const StepExpectation = z.strictObject({
  outcome: Outcome.optional(),
  ...viewFields,
  ...identityFields,
  fd: FdView.optional(),
  read: z.array(ReadEntry, says((v) => `read must be a list of entries such as [{"name": "a", "type": "DT_REG"}], not ${show(v)}`)).optional()
    .describe('readdir steps: exactly the entries the step read, in any order (the merged order is the kernel\'s, S9.3); `type` where given. On the model\'s side a partial read is checked as far as it is defined: as many entries, each one it may return.'),
})
  .describe('Known answers after a step, checked against the model and the implementation alike.')
  .meta({ id: 'StepExpectation', title: 'Step expectation' });

const MountExpectation = z.strictObject({ ...viewFields, ...identityFields })
  .describe('Known answers when no step has run (after the mount, after the final remount): views and identities, no outcome.')
  .meta({ id: 'MountExpectation', title: 'Mount expectation' });

// ---------------------------------------------------------------- steps

const expect = StepExpectation.optional();
const as = Caller.optional();
const stepMode = Mode.describe('Permission bits (the caller\'s umask, default 0o022, applies where the syscall applies it).');

const OpenStep = z.strictObject({
  op: z.literal('open').describe('The operation.'),
  path: StepPath,
  flags: z.array(choice('open flag', OPEN_FLAGS), says((v) => `flags must be a list of open flags such as ["O_RDONLY"], not ${show(v)}`))
    .describe(`open(2) flags: at most one of O_RDONLY, O_WRONLY, O_RDWR (none is O_RDONLY); O_NONBLOCK is always added, so that a fifo never blocks.`),
  mode: stepMode.optional().describe('The mode O_CREAT creates with; default 420 (0o644).'),
  data: FileData.optional().describe('Written once after the open (needs O_WRONLY or O_RDWR); latin1, at most 1 MiB.'),
  as,
  expect,
}).superRefine((s, ctx) => {
  if (!Array.isArray(s.flags)) return;
  const modes = s.flags.filter((f) => ACCESS_MODES.includes(f));
  if (new Set(modes).size > 1) ctx.addIssue({ code: 'custom', path: ['flags'], message: `${modes.join(' with ')}: at most one access mode`, input: s.flags });
  else if (typeof s.data === 'string' && !modes.some((m) => m !== 'O_RDONLY')) {
    ctx.addIssue({ code: 'custom', path: ['data'], message: 'data is written only through O_WRONLY or O_RDWR (a read-only open cannot write it)', input: s.data });
  }
}).describe('open(2), write(2) of `data` if given, close(2).').meta({ id: 'OpenStep', title: 'open step' });

const TruncateStep = z.strictObject({
  op: z.literal('truncate').describe('The operation.'),
  path: StepPath,
  size: intIn(0, LIMITS.fileData, (v) => `a size is an integer from 0 to ${LIMITS.fileData} (1 MiB: the model keeps file data in memory), not ${show(v)}`)
    .describe(`The new size in bytes, 0 to ${LIMITS.fileData} (1 MiB).`),
  as,
  expect,
}).describe('truncate(2): follows symlinks.').meta({ id: 'TruncateStep', title: 'truncate step' });

const PwriteStep = z.strictObject({
  op: z.literal('pwrite').describe('The operation.'),
  path: StepPath,
  offset: intIn(0, LIMITS.fileData, (v) => `an offset is an integer from 0 to ${LIMITS.fileData} (1 MiB: the model keeps file data in memory), not ${show(v)}`)
    .describe(`Where the data goes, 0 to ${LIMITS.fileData}; past the end of the file it leaves a hole.`),
  data: FileData.describe('Written at the offset; latin1.'),
  as,
  expect,
}).superRefine((s, ctx) => {
  if (typeof s.offset === 'number' && typeof s.data === 'string' && s.offset + s.data.length > LIMITS.fileData) {
    ctx.addIssue({ code: 'custom', path: ['offset'], message: `the write ends at ${s.offset + s.data.length}, past ${LIMITS.fileData} (1 MiB)`, input: s.offset });
  }
}).describe('open(2) O_WRONLY (follows symlinks, creates nothing), pwrite(2) of `data` at `offset`, close(2) (S17.6).').meta({ id: 'PwriteStep', title: 'pwrite step' });

const UnlinkStep = z.strictObject({ op: z.literal('unlink').describe('The operation.'), path: StepPath, as, expect })
  .describe('unlink(2).').meta({ id: 'UnlinkStep', title: 'unlink step' });

const MkdirStep = z.strictObject({ op: z.literal('mkdir').describe('The operation.'), path: StepPath, mode: stepMode, as, expect })
  .describe('mkdir(2).').meta({ id: 'MkdirStep', title: 'mkdir step' });

const RmdirStep = z.strictObject({ op: z.literal('rmdir').describe('The operation.'), path: StepPath, as, expect })
  .describe('rmdir(2).').meta({ id: 'RmdirStep', title: 'rmdir step' });

const RenameStep = z.strictObject({
  op: z.literal('rename').describe('The operation.'),
  src: StepPath,
  dst: StepPath,
  flags: z.array(choice('rename flag', RENAME_FLAGS), says((v) => `flags must be a list of rename flags such as ["RENAME_NOREPLACE"], not ${show(v)}`))
    .optional().describe('renameat2(2) flags; none is rename(2).'),
  as,
  expect,
}).describe('rename(2), or renameat2(2) with flags.').meta({ id: 'RenameStep', title: 'rename step' });

const SymlinkStep = z.strictObject({
  op: z.literal('symlink').describe('The operation.'),
  target: Target(true, LIMITS.stepName).describe(`Relative, without "..", no "." after a name nor a trailing "/"; names of at most ${LIMITS.stepName} bytes (a longer one than NAME_MAX is stored, and fails where it is followed: S2.9); "" may be tried (symlink(2) refuses it: ENOENT).`),
  path: StepPath,
  as,
  expect,
}).describe('symlink(2): a new symlink at `path` to `target`.').meta({ id: 'SymlinkStep', title: 'symlink step' });

const LinkStep = z.strictObject({ op: z.literal('link').describe('The operation.'), src: StepPath, dst: StepPath, as, expect })
  .describe('link(2): a new name `dst` for `src` (not following a symlink).').meta({ id: 'LinkStep', title: 'link step' });

const ChmodStep = z.strictObject({ op: z.literal('chmod').describe('The operation.'), path: StepPath, mode: stepMode, as, expect })
  .describe('chmod(2): follows symlinks.').meta({ id: 'ChmodStep', title: 'chmod step' });

const MknodStep = z.strictObject({
  op: z.literal('mknod').describe('The operation.'),
  path: StepPath,
  kind: choice('mknod kind', MKNOD_KINDS, '; the harness and the model make only these').describe('fifo, or whiteout: a character device 0/0 (S3.3).'),
  mode: stepMode,
  as,
  expect,
}).describe('mknod(2).').meta({ id: 'MknodStep', title: 'mknod step' });

/** setxattr and lsetxattr: the same arguments. */
const xattrSetFields = {
  path: StepPath,
  name: XattrName,
  value: XattrValue,
  flags: choice('xattr flag', XATTR_FLAGS).optional().describe('One flag (not a list); none is 0.'),
  as,
  expect,
};

const SetxattrStep = z.strictObject({ op: z.literal('setxattr').describe('The operation.'), ...xattrSetFields })
  .describe('setxattr(2): follows symlinks.').meta({ id: 'SetxattrStep', title: 'setxattr step' });

const LsetxattrStep = z.strictObject({ op: z.literal('lsetxattr').describe('The operation.'), ...xattrSetFields }).describe('lsetxattr(2): on a symlink itself (user.* there is EPERM), otherwise as setxattr.').meta({ id: 'LsetxattrStep', title: 'lsetxattr step' });

const RemovexattrStep = z.strictObject({ op: z.literal('removexattr').describe('The operation.'), path: StepPath, name: XattrName, as, expect })
  .describe('removexattr(2): follows symlinks.').meta({ id: 'RemovexattrStep', title: 'removexattr step' });

const ChownStep = z.strictObject({
  op: z.literal('chown').describe('The operation.'),
  path: StepPath,
  uid: z.union([Id, z.literal(-1)]).describe('The new owner; -1 keeps it.'),
  gid: z.union([Id, z.literal(-1)]).describe('The new group; -1 keeps it.'),
  nofollow: z.boolean().optional().describe('lchown(2): the symlink itself.'),
  as,
  expect,
}).describe('chown(2), or lchown(2) with nofollow.').meta({ id: 'ChownStep', title: 'chown step' });

const UtimesStep = z.strictObject({
  op: z.literal('utimes').describe('The operation.'),
  path: StepPath,
  atime: Time,
  mtime: Time,
  nofollow: z.boolean().optional().describe('AT_SYMLINK_NOFOLLOW.'),
  as,
  expect,
}).describe('utimensat(2) at AT_FDCWD with two times.').meta({ id: 'UtimesStep', title: 'utimes step' });

const RemountStep = z.strictObject({
  op: z.literal('remount').describe('The operation.'),
  options: z.string().max(400).optional().describe(
    'Mount the same layers with these options instead ("index=on,metacopy=on", as --options; upstream defaults for the rest): they must be ones the kernel accepts (S1.15), and keep userxattr and ro as the case\'s profile has them. Default: the same options.',
  ),
  expect,
}).describe('Unmount, and mount again with the same layers, and the same options or others.').meta({ id: 'RemountStep', title: 'remount step' });

const RotateStep = z.strictObject({ op: z.literal('rotate').describe('The operation.'), expect })
  .describe('Unmount; the upper becomes the new top lower layer; mount with a new empty upper and workdir (S15.5). Counts as a layer.')
  .meta({ id: 'RotateStep', title: 'rotate step' });

const DirSlot = z.union([z.literal(0), z.literal(1), z.literal(2)], says((v) => `a dir stream slot is 0, 1 or 2, not ${show(v)}`))
  .describe('Which of the three directory stream slots.');

const OpendirStep = z.strictObject({ op: z.literal('opendir').describe('The operation.'), path: StepPath, dir: DirSlot, expect })
  .describe('open(2) of `path` with O_RDONLY|O_DIRECTORY (follows symlinks) into slot `dir`, kept open across steps; a stream already in the slot is closed first. Remount and rotate close every stream.')
  .meta({ id: 'OpendirStep', title: 'opendir step' });

const ReaddirStep = z.strictObject({
  op: z.literal('readdir').describe('The operation.'),
  dir: DirSlot,
  n: intIn(1, LIMITS.readdir, (v) => `n is an integer from 1 to ${LIMITS.readdir}, not ${show(v)}`).describe('Read up to this many entries (getdents64, one entry at a time); fewer at the end.'),
  expect,
}).describe('Read on from the stream in slot `dir` (EBADF if none is open there).').meta({ id: 'ReaddirStep', title: 'readdir step' });

const SeekdirStep = z.strictObject({
  op: z.literal('seekdir').describe('The operation.'),
  dir: DirSlot,
  to: intIn(0, LIMITS.readdir, (v) => `to is an integer from 0 to ${LIMITS.readdir}, not ${show(v)}`)
    .describe('0: to the start (rewinddir: a merged dir is listed afresh at the next read, S9.7); k: to the offset the stream stood at after its k-th read since its start (S9.6), or where it is if it read fewer.'),
  expect,
}).describe('lseek(2) on the stream in slot `dir`.').meta({ id: 'SeekdirStep', title: 'seekdir step' });

const ClosedirStep = z.strictObject({ op: z.literal('closedir').describe('The operation.'), dir: DirSlot, expect })
  .describe('close(2) of the stream in slot `dir` (EBADF if none).').meta({ id: 'ClosedirStep', title: 'closedir step' });

// ---------------------------------------------------------------- steps on open fds (model/fds.ts)

const Slot = z.literal([0, 1, 2, 3], says((v) => `a slot is an integer from 0 to 3, not ${show(v)}`)).describe('The fd slot, 0 to 3 (the harness keeps slot -> real fd).');
const fdStep = <T extends string, S extends z.ZodRawShape>(op: T, shape: S, what: string, id: string) =>
  z.strictObject({ op: z.literal(op).describe('The operation.'), slot: Slot, ...shape, expect }).describe(what).meta({ id, title: `${op} step` });

const FdopenStep = fdStep('fdopen', {
  path: StepPath,
  flags: z.array(choice('fd open flag', FD_OPEN_FLAGS), says((v) => `flags must be a list of open flags such as ["O_RDONLY"], not ${show(v)}`))
    .describe('open(2) flags, O_DIRECTORY and O_TMPFILE (S4.10: `path` is the dir) too; O_NONBLOCK is always added.'),
  mode: stepMode.optional().describe('The mode O_CREAT or O_TMPFILE creates with; default 420 (0o644).'),
}, 'open(2) into a slot; the fd lives until fdclose, a remount or a rotation (a slot that held one is closed first).', 'FdopenStep');
const FdreadStep = fdStep('fdread', {}, 'read(2) of up to 4096 bytes at the fd\'s offset; expect.fd["/fd<slot>"].data is what was read.', 'FdreadStep');
const FdwriteStep = fdStep('fdwrite', { data: FileData }, 'write(2) at the fd\'s offset (the end with O_APPEND).', 'FdwriteStep');
const FdpwriteStep = fdStep('fdpwrite', {
  data: FileData,
  offset: intIn(0, LIMITS.fileData, (v) => `an offset is an integer from 0 to ${LIMITS.fileData}, not ${show(v)}`).describe('Where pwrite(2) writes.'),
}, 'pwrite(2) at `offset` (Linux: at the end with O_APPEND).', 'FdpwriteStep');
const FdstatStep = fdStep('fdstat', {}, 'fstat(2), flistxattr/fgetxattr and a pread of the content (through a readable fd): expect.fd["/fd<slot>"].', 'FdstatStep');
const FdchmodStep = fdStep('fdchmod', { mode: stepMode }, 'fchmod(2).', 'FdchmodStep');
const FdchownStep = fdStep('fdchown', {}, 'fchown(2) to 0:0.', 'FdchownStep');
const FdsetxattrStep = fdStep('fdsetxattr', { name: XattrName, value: XattrValue }, 'fsetxattr(2), flags 0.', 'FdsetxattrStep');
const FdtruncateStep = fdStep('fdtruncate', {
  size: intIn(0, LIMITS.fileData, (v) => `a size is an integer from 0 to ${LIMITS.fileData}, not ${show(v)}`).describe('The new size in bytes.'),
}, 'ftruncate(2).', 'FdtruncateStep');
const FdlinkStep = fdStep('fdlink', { path: StepPath }, 'linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH): a name for what the fd holds (an O_TMPFILE, S4.10).', 'FdlinkStep');
const FdcloseStep = fdStep('fdclose', {}, 'close(2).', 'FdcloseStep');

const STEPS = [
  OpenStep, TruncateStep, PwriteStep, UnlinkStep, MkdirStep, RmdirStep, RenameStep, SymlinkStep, LinkStep, ChmodStep, MknodStep, SetxattrStep, LsetxattrStep, RemovexattrStep, ChownStep, UtimesStep, RemountStep, RotateStep,
  OpendirStep, ReaddirStep, SeekdirStep, ClosedirStep,
  FdopenStep, FdreadStep, FdwriteStep, FdpwriteStep, FdstatStep, FdchmodStep, FdchownStep, FdsetxattrStep, FdtruncateStep, FdlinkStep, FdcloseStep,
] as const;
const OPS = STEPS.map((s) => s.shape.op.value);

export const Step = z.discriminatedUnion('op', STEPS, {
  error: (iss) => {
    const v = inputOf(iss);
    if (iss.code === 'invalid_union') {
      const op = v !== null && typeof v === 'object' ? (v as Record<string, unknown>).op : undefined;
      return op === undefined ? `a step needs an "op" (one of: ${list(OPS, 120)})` : `unknown op ${show(op)} (one of: ${list(OPS, 120)})`;
    }
    return `a step is an object with an "op", such as {"op": "unlink", "path": "/a"}, not ${show(v)}`;
  },
}).describe('One operation, by its "op", with its known answers in `expect` (optional). Paths are absolute inside the mount.').meta({ id: 'Step', title: 'Step' });

// ---------------------------------------------------------------- profile

const ProfileOptions = z.strictObject({
  name: z.string().optional().describe('A label; default "default".'),
  redirect_dir: choice('redirect_dir', REDIRECT_DIR).optional().describe('redirect_dir= (off is follow, S1.3); default follow.'),
  index: z.boolean().optional().describe('index=on (S12); default false.'),
  metacopy: z.boolean().optional().describe('metacopy=on (S7); needs redirect_dir on. Default false.'),
  xino: choice('xino', XINO).optional().describe('xino= (S8.3); default off.'),
  nfs_export: z.boolean().optional().describe('nfs_export=on (S12.3); needs index, excludes metacopy. Default false.'),
  userxattr: z.boolean().optional().describe('Private xattrs in user.overlay.* (S10.3); needs redirect_dir nofollow, excludes metacopy. Default false.'),
  uuid: choice('uuid', UUID).optional().describe('uuid= (S8.9); default auto.'),
  volatile: z.boolean().optional().describe('fsync=volatile (S14.3).'),
  dataOnly: z.boolean().optional().describe('The stack has data-only layers (layers.data).'),
  readonly: choice('readonly', READONLY).optional().describe('"no-upper": a mount without an upper layer (S14.1); "ro": an upper mounted read-only (S14.2).'),
  split: z.boolean().optional().describe('Lower and data-only layers on a filesystem of their own (S8.2, S8.3).'),
  noFileHandles: z.boolean().optional().describe('The layers gave overlayfs no file handles (the case ran in a user namespace: rootless mode): copy-ups store an empty origin (S18.1); a fact of the machine, not an option.'),
  nested: z.boolean().optional().describe('The lowers are mounted as an inner overlay (read-only, over them and an empty layer), whose merged dir is the one lower layer (S18.1); needs split (the inner is a filesystem of its own) and an upper, and no data-only layers.'),
}).superRefine((p, ctx) => {
  if (!isObj(p)) return;
  if (p.nested && (!p.split || p.readonly === 'no-upper' || p.dataOnly)) {
    ctx.addIssue({ code: 'custom', path: ['nested'], message: 'true needs split true (the inner overlay is a filesystem of its own), an upper, and no dataOnly', input: p });
    return;
  }
  const why = profileProblem({ ...DEFAULT_PROFILE, ...p } as Profile);
  if (why) ctx.addIssue({ code: 'custom', path: why.key ? [why.key] : [], message: why.message, input: p });
}).describe('Effective mount options; those not given are the upstream defaults (redirect_dir follow, uuid auto, everything else off). They must be what the kernel mounts with: no conflict (S1.15), and without an upper layer no index, nfs_export, volatile or split (S1.6, S14.1).')
  .meta({ id: 'ProfileOptions', title: 'Profile options' });

/** The options the model takes on trust and the kernel may mount otherwise. */
const EFFECTIVE: (keyof Profile)[] = ['redirect_dir', 'index', 'metacopy', 'xino', 'nfs_export', 'userxattr', 'uuid', 'volatile'];

/**
 * Why the kernel does not mount with exactly these options, spelled out as the kernel driver
 * spells them (every option explicit), or null: a conflict fails the mount (S1.15); without an
 * upper layer the kernel drops some (index, volatile, nfs_export) where the model would not.
 */
function profileProblem(p: Profile): { key?: string; message: string } | null {
  const hasUpper = p.readonly !== 'no-upper';
  const text = [
    `redirect_dir=${p.redirect_dir}`, `index=${p.index ? 'on' : 'off'}`, `metacopy=${p.metacopy ? 'on' : 'off'}`, `xino=${p.xino}`,
    `nfs_export=${p.nfs_export ? 'on' : 'off'}`, `uuid=${p.uuid}`, ...(p.userxattr ? ['userxattr'] : []), ...(p.volatile ? ['volatile'] : []),
  ].join(',');
  let effective: Profile;
  try {
    effective = resolveProfile(p.name ?? 'case', text, hasUpper);
  } catch (e) {
    if (e instanceof ParamError) return { message: e.message };
    throw e;
  }
  // The lowers on a filesystem apart from the upper's: without an upper they are all one
  // filesystem again, whose inode numbers and st_dev the model does not hold that way.
  if (!hasUpper && p.split) return { key: 'split', message: 'true, but without an upper layer the lowers share one filesystem: the model holds split only with an upper' };
  // Without an upper, follow and on both follow redirects and nothing is written: either reads alike.
  for (const key of EFFECTIVE.filter((k) => hasUpper || k !== 'redirect_dir')) {
    const [given, mounted] = [p[key] ?? false, effective[key] ?? false];
    if (given !== mounted) return { key, message: `${show(given)}, but the kernel mounts ${show(mounted)}${hasUpper ? '' : ' without an upper layer'}: give the effective options` };
  }
  return null;
}

const ProfileSchema = z.union([
  choice('profile', PROFILE_NAMES).describe('A named profile, as `ovlcheck probe` lists them (model/params.ts PROFILES).').meta({ id: 'ProfileName', title: 'Profile name' }),
  ProfileOptions,
], { error: (iss) => `a profile is a profile name (${list(PROFILE_NAMES, 50)}) or an object of options, not ${show(inputOf(iss))}` })
  .describe('A profile name, or the effective mount options; default: the upstream defaults.');

/** The effective profile of a case, as profileOf gives it; null for a name that is not a profile's. */
function effectiveProfile(p: unknown): Profile | null {
  if (typeof p === 'string') return Object.hasOwn(PROFILES, p) ? namedProfile(p) : null;
  return { ...DEFAULT_PROFILE, ...(isObj(p) ? p : {}) } as Profile;
}

// ---------------------------------------------------------------- kernels

/** The terms of a kernels condition, each a test of a kernel version; throws Error naming a bad term. */
export function kernelTerms(range: string): ((k: KernelVersion) => boolean)[] {
  const cmp = (a: KernelVersion, b: KernelVersion) => a[0] - b[0] || a[1] - b[1] || (a[2] ?? 0) - (b[2] ?? 0);
  const parts = range.trim().split(/\s+/);
  if (range.trim() === '') throw new Error('kernels: empty (leave it out to replay everywhere)');
  return parts.map((part) => {
    const b = /^(with|without):(\w+)$/.exec(part);
    if (b) {
      if (!Object.hasOwn(BEHAVIOURS, b[2])) throw new Error(`kernels: ${show(b[2])} is not a behaviour of model/versions.ts (${list(Object.keys(BEHAVIOURS), 80)})`);
      return (k) => hasFeature(k, b[2] as Behaviour) === (b[1] === 'with');
    }
    const m = /^(>=|<=|>|<|=)(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?$/.exec(part);
    if (!m) throw new Error(`kernels: ${show(part)} is not a comparison such as >=6.7 or <6.16.3, nor with:BEHAVIOUR`);
    const v: KernelVersion = [Number(m[2]), Number(m[3]), Number(m[4] ?? 0)];
    const op = m[1];
    return (k) => {
      const d = cmp(k, v);
      return op === '>=' ? d >= 0 : op === '<=' ? d <= 0 : op === '>' ? d > 0 : op === '<' ? d < 0 : d === 0;
    };
  });
}

const Kernels = z.string(says((v) => `kernels must be a string such as ">=6.7 <6.16", not ${show(v)}`)).check((ctx) => {
  try {
    kernelTerms(ctx.value);
  } catch (e) {
    ctx.issues.push({ code: 'custom', message: (e as Error).message.replace(/^kernels: /, ''), input: ctx.value });
  }
}).describe('The kernels the known answers hold for, all terms of which must hold: comparisons (">=6.7 <6.16", "<6.12.117") and behaviours of model/versions.ts ("with:xattrWhiteouts", "without:escapedXattrs"). Elsewhere the case is skipped.');

// ---------------------------------------------------------------- the case

const Found = z.strictObject({
  seed: z.int().describe('The run\'s --seed.'),
  path: z.string().describe('The run\'s --path: the shrunk counterexample.'),
  kernel: z.string().describe('The kernel release it ran on.'),
  date: z.string().describe('When (ISO 8601).'),
  options: z.string().describe('The mount options as given to the kernel.'),
  moduleDefaults: z.record(z.string(), z.string()).optional().describe('/sys/module/overlay/parameters then.'),
  implementation: z.string().optional().describe('The implementation and its exact version, where the driver knows it ("fuse-overlayfs 1.16"): `--driver NAME@VERSION` replays it on that build.'),
}).describe('How a saved divergence was found: `ovlcheck run --seed S --path P` reproduces it (informative).').meta({ id: 'Found', title: 'Found' });

const Divergence = z.looseObject({
  signature: z.string().optional().describe('The divergence\'s signature: replay says whether it is the same.'),
  known: z.array(z.string()).optional().describe('Known divergences tolerated when it was found: replay tolerates them too.'),
}).describe('The divergence as it was reported when the case was saved (informative; other fields are kept as they are).').meta({ id: 'Divergence', title: 'Divergence' });

const fileBytes = (l: unknown): number => {
  let n = 0;
  if (isObj(l)) for (const e of Object.values(l)) if (isObj(e) && e.type === 'file' && typeof e.data === 'string') n += e.data.length;
  return n;
};

/** Rules across the case: the stack's depth with rotations, data layers and upper against the profile, the data budget. */
export function checkCase(c: Record<string, unknown>, ctx: z.core.$RefinementCtx): void {
  const layers = c.layers;
  if (!isObj(layers) || !Array.isArray(layers.lowers) || !Array.isArray(c.steps)) return;
  const profile = effectiveProfile(c.profile);
  if (!profile) return;
  const name = profile.name ?? 'default';
  const lowers = layers.lowers as unknown[];
  const data = Array.isArray(layers.data) ? (layers.data as unknown[]) : [];
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message, input: undefined });
  if (data.some((l) => isObj(l) && Object.keys(l).length > 0) && !profile.dataOnly) {
    return issue(['layers', 'data'], `data-only layers need a profile with dataOnly (data-only, data-only-metacopy), not ${show(name)}`);
  }
  if (profile.readonly === 'no-upper') {
    if (lowers.length < 2) return issue(['layers', 'lowers'], `profile ${show(name)} has no upper layer: the kernel needs at least 2 lowers then (S1.13)`);
    if (isObj(layers.upper) && Object.keys(layers.upper).length > 0) return issue(['layers', 'upper'], `profile ${show(name)} mounts no upper layer: leave upper empty`);
  }
  let bytes = [...lowers, layers.upper, ...data].reduce((n: number, l) => n + fileBytes(l), 0);
  if (bytes > LIMITS.caseData) return issue(['layers'], `${bytes} bytes of file data, over ${LIMITS.caseData} (16 MiB) for a whole case`);
  // inoSince compares with an earlier point: the mount (0) or a step before this one.
  const since = (e: unknown, latest: number, path: PropertyKey[]): boolean => {
    if (!isObj(e) || (e.inoSince === undefined && e.inoSinceStep === undefined)) return false;
    const at = typeof e.inoSinceStep === 'number' ? e.inoSinceStep : 0;
    if (latest < 0) issue(path, 'right after the mount there is no earlier point to compare st_ino with');
    else if (at > latest) issue([...path, 'inoSinceStep'], `${at} is not before this point: 0 (the mount) to ${latest}`);
    else return false;
    return true;
  };
  if (since(c.expect, -1, ['expect', 'inoSince'])) return;
  if (since(c.expectAfterRemount, c.steps.length, ['expectAfterRemount'])) return;
  for (const [i, s] of (c.steps as unknown[]).entries()) if (isObj(s) && since(s.expect, i, ['steps', i, 'expect'])) return;
  let stack = lowers.length + data.length;
  for (const [i, s] of (c.steps as unknown[]).entries()) {
    if (!isObj(s)) continue;
    if (s.op === 'remount' && typeof s.options === 'string') {
      try {
        profileForRemount(profile, s.options);
      } catch (e) {
        if (!(e instanceof ParamError)) throw e;
        return issue(['steps', i, 'options'], e.message);
      }
    }
    if (s.op === 'rotate' && profile.readonly !== 'no-upper' && ++stack > LIMITS.stack) {
      return issue(['steps', i], `this rotate makes ${stack} layers; the kernel stacks at most ${LIMITS.stack} (OVL_MAX_STACK)`);
    }
    bytes += s.op === 'truncate' && typeof s.size === 'number' ? s.size : (s.op === 'open' || s.op === 'pwrite') && typeof s.data === 'string' ? s.data.length + (s.op === 'pwrite' && typeof s.offset === 'number' ? s.offset : 0) : 0;
    if (bytes > LIMITS.caseData) return issue(['steps', i], `the case's file data reaches ${bytes} bytes here, over ${LIMITS.caseData} (16 MiB)`);
  }
}

export const caseSchema = z.strictObject({
  ovlcheck: z.literal(1, says((v) => `must be 1 (the only format version), not ${show(v)}`)).describe('The format version: 1.'),
  $schema: z.string().optional().describe('For editors: the JSON Schema of the format ("case.schema.json"); ignored.'),
  name: z.string().optional().describe('A one-line title.'),
  description: z.string().optional().describe('What the case shows, and why.'),
  cites: z.array(z.string()).optional().describe('Catalog items the case demonstrates ("S4.7").'),
  kernels: Kernels.optional(),
  profile: ProfileSchema.optional(),
  layers: Layers,
  expect: MountExpectation.optional().describe('Known answers right after the mount, before any step.'),
  steps: z.array(Step, says((v) => `steps must be a list of steps, not ${show(v)}`)).describe('The operations, in order.'),
  expectAfterRemount: MountExpectation.optional().describe('Known answers after the final unmount and mount.'),
  found: Found.optional(),
  divergence: Divergence.optional(),
}, says((v) => `a case file is a JSON object with "ovlcheck": 1, not ${show(v)}`))
  .superRefine((c, ctx) => checkCase(c, ctx))
  .meta({ title: 'ovlcheck case file' })
  .describe('A JSON document that replays one case anywhere: layers, a profile, steps, and known answers checked against the model and the implementation.');

export type CaseSchemaOutput = z.output<typeof caseSchema>;

/** What the format says about itself beyond field by field: for the documentation. */
export const CASE_RULES: string[] = [
  `A layer's parent dirs may be left out (they are dirs 0755); a parent that is given must be a dir.`,
  `A hard link (\`link\`) names a \`file\` entry of its own layer: not a missing entry, a dir, another link or itself (the layer builder links files only).`,
  `Lowers, data-only layers and rotate steps together: at most ${LIMITS.stack} (OVL_MAX_STACK: each rotate makes the upper a new lower).`,
  `Data-only layers (\`layers.data\`) need a profile with \`dataOnly\`; a profile without an upper (\`readonly: "no-upper"\`, the lower-only profile) needs at least 2 lowers and an empty \`upper\`.`,
  `File data of a whole case (layer files, open data, truncate sizes): at most ${LIMITS.caseData} bytes (16 MiB), so that one view's walk fits a guest's 64 MiB frame.`,
  `Names, symlink targets and xattr names are ASCII: the harness writes them as UTF-8 and reads them back as latin1. File data and xattr values are latin1, one byte per character.`,
  `Paths are at most ${LIMITS.path} bytes (PATH_MAX 4096, less room for the sandbox dir in front) and ${LIMITS.depth} names deep; a name is at most ${LIMITS.name} bytes (NAME_MAX) in a layer or an expectation, and at most ${LIMITS.stepName} in a step (a longer one fails the lookup: ENAMETOOLONG, S2.9). The model holds no ERANGE/E2BIG for xattrs, so a case stays below those limits.`,
  `An open that writes \`data\` needs O_WRONLY or O_RDWR, and at most one access mode.`,
  `A step with \`as\` runs as that user (effective and fs ids, groups, umask) over a mount made by root (S11.3); the model assumes fs.protected_hardlinks=1 and fs.protected_symlinks, protected_regular, protected_fifos 0, which the harness checks. Implementations that cannot switch callers (FUSE without allow_other) skip such cases.`,
  `An \`mtime\` in a known answer is checked where the model knows it: set in the layers or by utimes, kept by copy-up; after a write or a new name in a dir it is unknown, and such a known answer fails.`,
  `Profile options are the effective ones, as the kernel driver gives every one of them explicitly: no combination the kernel refuses (S1.15), and without an upper layer none it drops (index, nfs_export, volatile) nor \`split\`, which the model holds only with an upper.`,
];
