// A minimal case as a standalone POSIX shell script, fit for an upstream bug tracker: it builds
// the layers, mounts the implementation (or the kernel's overlayfs) as the case did, runs the
// steps printing expected vs actual, checks what the finding is about, and cleans up on every
// exit path. Exit 1: the fault shows; 0: it does not; 2: it could not run.
//
// Pure text from its inputs (properties/repro.ts gathers them): coreutils, util-linux and attr
// for what they do exactly; one embedded python3 helper for the calls without an exact tool
// (open with flags, renameat2, mkdir/mknod with a mode, xattr flags, utimensat, calls made as
// another user).

import type { Call } from '../harness/calls.js';
import type { Difference } from '../harness/compare.js';
import type { Outcome, SnapEntry, Snapshot, TimeSpec } from '../model/types.js';

/** How the script mounts its target: the kernel's overlayfs, or a FUSE daemon. */
export interface MountRecipe {
  /** "kernel", or the implementation's name. */
  name: string;
  /** How reports name it: "fuse-overlayfs 1.16 (/var/cache/...)". */
  describe: string;
  /** kernel: mount(8)'s -o options after the dirs (",index=on,..."); FUSE: the daemon's argv with @LOWERS@ @UPPER@ @WORK@ @MERGED@. */
  kernelExtra?: string;
  /** Where 6.6 changed how they are spelled (uuid=auto): each, chosen by the running kernel. */
  kernelExtraBefore66?: string;
  kernelExtraSince66?: string;
  daemon?: string[];
  /** unionfs-fuse takes its branches as "dir=RO:..." (the daemon argv holds @BRANCHES@). */
  branches?: boolean;
  /** The layer build, as calls relative to the layer dirs ($T/l0, $T/u, ...: paths start with @L0@, @U@). */
  layers: Call[];
}

export interface ReproStep {
  /** The call, its paths relative to the mount ("/a"), or a remount/rotation. */
  /** fd: an fd or dir-stream step, by the helper that holds them across steps (its words). */
  call: Call | { c: 'remount' } | { c: 'rotate' } | { c: 'fd'; args: string[] };
  text: string;
  /** What the model says it returns. */
  expected: Outcome;
}

/** One thing the script checks at the end: a name of the merged view (or of a lower layer, which nothing may change), a field of it. */
export interface ReproCheck {
  where: 'merged' | 'kernel-read' | 'lower';
  /** For 'lower': which, top first, as the layers stand then (a rotation puts the upper on top). */
  layer?: number;
  path: string;
  /** kind, mode, uid, gid, nlink, data, target, mtime, "xattr NAME", present (missing), absent (unexpected), errno. */
  what: string;
  /** The model's entry at that name (null: no such name). */
  expected: SnapEntry | null;
  /** What the implementation showed there, as the comparison saw it (the issue text says it). */
  actual?: unknown;
}

export interface ReproInput {
  title: string;
  /** The script's file name, for its usage line. */
  scriptName: string;
  /** Where it came from: the case file, the command that found it, the kernel. */
  provenance: string[];
  /** The layers as reports list them (properties/report.ts formatStack). */
  layerText: string[];
  signature: string;
  lowers: number;
  /** The implementation the case ran on, and the kernel to compare with. */
  impl: MountRecipe;
  kernel: MountRecipe;
  steps: ReproStep[];
  /** The step whose outcome is the finding (1-based), if it is an outcome or a hang, and what it returned there. */
  outcomeStep?: number;
  outcomeActual?: string;
  /** The final remount, then the kernel mounting the layers, are part of the finding. */
  finalRemount: boolean;
  kernelRead: boolean;
  /** After which step the checks run (0: right after mounting). */
  checkAfter: number;
  checks: ReproCheck[];
}

const PY_HELPER = String.raw`
import ctypes, errno, os, sys
M = os.environ['M']
def path(p): return M + p
def flags(names, table):
    bits = 0
    for n in filter(None, names.split('|')): bits |= table[n]
    return bits
O = {n: getattr(os, n) for n in ('O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_CREAT', 'O_EXCL', 'O_TRUNC', 'O_APPEND', 'O_NOFOLLOW')}
R = {'RENAME_NOREPLACE': 1, 'RENAME_EXCHANGE': 2, 'RENAME_WHITEOUT': 4}
X = {'XATTR_CREATE': 1, 'XATTR_REPLACE': 2}
libc = ctypes.CDLL(None, use_errno=True)
def check(rc):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
def utime(v):
    return (0, (1 << 30) - 1) if v == 'now' else (0, (1 << 30) - 2) if v == 'omit' else (int(v), 0)
def call(c, *a):
    if c == 'open':
        fd = os.open(path(a[0]), flags(a[1], O) | os.O_NONBLOCK, int(a[2], 8))
        try:
            if len(a) > 3: os.write(fd, bytes.fromhex(a[3]))
        finally: os.close(fd)
    elif c == 'pwrite':
        fd = os.open(path(a[0]), os.O_WRONLY | os.O_NONBLOCK)
        try: os.pwrite(fd, bytes.fromhex(a[2]), int(a[1]))
        finally: os.close(fd)
    elif c == 'mkdir': os.mkdir(path(a[0]), int(a[1], 8))
    elif c == 'truncate': os.truncate(path(a[0]), int(a[1]))
    elif c == 'rename':
        check(libc.renameat2(-100, path(a[0]).encode(), -100, path(a[1]).encode(), flags(a[2], R)))
    elif c == 'link': os.link(path(a[0]), path(a[1]), follow_symlinks=False)
    elif c == 'mknod': os.mknod(path(a[0]), int(a[1], 8), 0)
    elif c == 'setxattr':
        os.setxattr(path(a[0]), a[1], bytes.fromhex(a[2]), flags(a[3], X), follow_symlinks=(a[4] != 'nofollow'))
    elif c == 'utimes':
        ts = (ctypes.c_long * 4)(*utime(a[1]), *utime(a[2]))
        check(libc.utimensat(-100, path(a[0]).encode(), ts, 0x100 if a[3] == 'nofollow' else 0))
    elif c == 'chmod': os.chmod(path(a[0]), int(a[1], 8))
    elif c == 'chown': os.chown(path(a[0]), int(a[1]), int(a[2]), follow_symlinks=(a[3] != 'nofollow'))
    elif c == 'unlink': os.unlink(path(a[0]))
    elif c == 'rmdir': os.rmdir(path(a[0]))
    elif c == 'symlink': os.symlink(a[0], path(a[1]))
    elif c == 'removexattr': os.removexattr(path(a[0]), a[1])
    else: raise SystemExit('repro helper: unknown call ' + c)
try:
    if os.environ.get('AS_UID'):
        os.setgroups([int(g) for g in filter(None, os.environ.get('AS_GROUPS', '').split(','))])
        os.setresgid(*[int(os.environ['AS_GID'])] * 3)
        os.setresuid(*[int(os.environ['AS_UID'])] * 3)
    os.umask(int(os.environ.get('AS_UMASK', '022'), 8))
    call(*sys.argv[1:])
    print('ok')
except OSError as e:
    print(errno.errorcode.get(e.errno, 'E%d' % e.errno))
`;

// The helper that holds fds and dir streams across steps, as ovlcheck's driver does
// (harness/fds.ts, harness/dirStreams.ts): one request a line, "ok" or the errno name back.
const PY_FD_SERVER = String.raw`
import ctypes, errno, os, sys
M = os.environ['M']
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
O = {n: getattr(os, n) for n in ('O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_CREAT', 'O_EXCL', 'O_TRUNC', 'O_APPEND', 'O_NOFOLLOW', 'O_DIRECTORY', 'O_TMPFILE')}
fds, dirs = {}, {}
def fail(e): raise OSError(e, os.strerror(e))
def getdent_one(fd):
    for size in range(24, 288, 8):
        buf = ctypes.create_string_buffer(size)
        n = libc.syscall(217, fd, buf, size)
        if n < 0:
            e = ctypes.get_errno()
            if e == errno.EINVAL and size < 280: continue
            fail(e)
        return None if n == 0 else int.from_bytes(buf.raw[8:16], 'little', signed=True)
    fail(errno.EINVAL)
def fd_of(slot):
    if slot not in fds: fail(errno.EBADF)
    return fds[slot]
def handle(c, a):
    if c == 'fdopen':
        old = fds.pop(a[0], None)
        if old is not None: os.close(old)
        flags = os.O_NONBLOCK
        for f in filter(None, a[2].split('|')): flags |= O[f]
        fds[a[0]] = os.open(M + a[1], flags, int(a[3], 8))
    elif c == 'fdclose':
        if a[0] not in fds: fail(errno.EBADF)
        os.close(fds.pop(a[0]))
    elif c == 'fdread': os.read(fd_of(a[0]), 4096)
    elif c == 'fdwrite': os.write(fd_of(a[0]), bytes.fromhex(a[1]))
    elif c == 'fdpwrite': os.pwrite(fd_of(a[0]), bytes.fromhex(a[2]), int(a[1]))
    elif c == 'fdtruncate': os.ftruncate(fd_of(a[0]), int(a[1]))
    elif c == 'fdchmod': os.fchmod(fd_of(a[0]), int(a[1], 8))
    elif c == 'fdchown': os.fchown(fd_of(a[0]), 0, 0)
    elif c == 'fdsetxattr': os.setxattr(fd_of(a[0]), a[1], bytes.fromhex(a[2]), 0)
    elif c == 'fdlink':
        if libc.linkat(fd_of(a[0]), b'', -100, (M + a[1]).encode(), 0x1000) != 0: fail(ctypes.get_errno())
    elif c == 'fdstat':
        # As ovlcheck's fdstat (harness/fds.ts): fstat, the xattrs, and a regular file's content where the fd reads.
        fd = fd_of(a[0]); mode = os.fstat(fd).st_mode
        for n in os.listxattr(fd): os.getxattr(fd, n)
        pos = 0
        while (mode & 0o170000) == 0o100000:
            try: b = os.pread(fd, 65536, pos)
            except OSError as e:
                if e.errno == errno.EBADF: break  # write-only
                raise
            if not b: break
            pos += len(b)
    elif c == 'opendir':
        old = dirs.pop(a[0], None)
        if old is not None: os.close(old['fd'])
        dirs[a[0]] = {'fd': os.open(M + a[1], os.O_RDONLY | os.O_DIRECTORY), 'marks': [0]}
    elif c in ('readdir', 'seekdir', 'closedir'):
        if a[0] not in dirs: fail(errno.EBADF)
        st = dirs[a[0]]
        if c == 'closedir': os.close(dirs.pop(a[0])['fd'])
        elif c == 'seekdir':
            to = int(a[1]); keep = 1 if to == 0 else min(to, len(st['marks']) - 1) + 1
            del st['marks'][keep:]
            os.lseek(st['fd'], st['marks'][-1], os.SEEK_SET)
        else:
            read, at = 0, st['marks'][-1]
            while read < int(a[1]):
                try: off = getdent_one(st['fd'])
                except OSError:
                    if read: break
                    raise
                if off is None: break
                read, at = read + 1, off
            st['marks'].append(at)
    elif c == 'closeall':
        for fd in list(fds.values()) + [d['fd'] for d in dirs.values()]:
            try: os.close(fd)
            except OSError: pass
        fds.clear(); dirs.clear()
    else: raise SystemExit('repro fd helper: unknown request ' + c)
for line in sys.stdin:
    words = line.split()
    try:
        handle(words[0], words[1:]); print('ok', flush=True)
    except OSError as e:
        print(errno.errorcode.get(e.errno, 'E%d' % e.errno), flush=True)
`;

/** A word the shell reads back as itself. */
export function sq(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');

/** printf's format for exact bytes (latin1): printable ASCII as is, the rest as octal escapes. */
function printfFormat(data: string): string {
  let out = '';
  for (const ch of data) {
    const c = ch.charCodeAt(0);
    if (c >= 0x20 && c < 0x7f && ch !== '\\' && ch !== '%' && ch !== "'") out += ch;
    else out += '\\' + c.toString(8).padStart(3, '0');
  }
  return `'${out}'`;
}

const octal = (m: number) => '0' + (m & 0o7777).toString(8);

/** A path under a layer dir or the mount, in the script's terms: "$M/a", "$T/l0/a". */
function at(prefix: string, rel: string): string {
  return `"${prefix}"${sq(rel)}`;
}

function timeArg(t: TimeSpec): string {
  return typeof t === 'number' ? String(t) : t;
}

/** A layer-building call as a command; any failure stops the script (exit 2). */
function layerCommand(call: Call): string {
  const p = (x: string) => {
    const m = /^@(L\d+|U)@(.*)$/.exec(x);
    if (!m) throw new Error(`repro: a layer path outside the layers: ${x}`);
    return `"$T/${m[1].toLowerCase()}"${m[2] ? sq(m[2]) : ''}`;
  };
  switch (call.c) {
    case 'mkdir': return `mkdir ${p(call.path)}`;
    case 'open': return `printf ${printfFormat(call.data ?? '')} > ${p(call.path)}`;
    case 'chmod': return `chmod ${octal(call.mode)} ${p(call.path)}`;
    case 'chown': return `chown ${call.nofollow ? '-h ' : ''}${call.uid}:${call.gid} ${p(call.path)}`;
    case 'symlink': return `ln -s -T -- ${sq(call.target)} ${p(call.path)}`;
    case 'link': return `ln -T -- ${p(call.from)} ${p(call.to)}`;
    case 'mknod': {
      const fifo = (call.mode & 0o170000) === 0o010000;
      return `mknod -m ${octal(call.mode)} ${p(call.path)} ${fifo ? 'p' : `c ${call.dev >>> 8} ${call.dev & 0xff}`}`;
    }
    case 'setxattr': return `setfattr ${call.nofollow ? '-h ' : ''}-n ${sq(call.name)} -v ${call.value === '' ? "''" : `0x${hex(call.value)}`} ${p(call.path)}`;
    case 'utimes': {
      const parts = [];
      if (call.atime !== 'omit') parts.push(`touch ${call.flags ? '-h ' : ''}-a ${call.atime === 'now' ? '' : `-d @${call.atime} `}${p(call.path)}`);
      if (call.mtime !== 'omit') parts.push(`touch ${call.flags ? '-h ' : ''}-m ${call.mtime === 'now' ? '' : `-d @${call.mtime} `}${p(call.path)}`);
      return parts.join(' && ') || 'true';
    }
    default: throw new Error(`repro: no layer command for ${call.c}`);
  }
}

const OPEN_NAMES: [number, string][] = [[0o1, 'O_WRONLY'], [0o2, 'O_RDWR'], [0o100, 'O_CREAT'], [0o200, 'O_EXCL'], [0o1000, 'O_TRUNC'], [0o2000, 'O_APPEND'], [0o400000, 'O_NOFOLLOW']];
const flagNames = (bits: number, table: [number, string][]) => table.filter(([b]) => bits & b).map(([, n]) => n).join('|') || (table === OPEN_NAMES ? 'O_RDONLY' : '0');

/**
 * A step as a command that prints "ok" or the errno name: a tool where one makes exactly that
 * syscall and no other change (its message's strerror gives the errno), else the helper.
 */
function stepCommand(call: Call): string {
  const m = (x: string) => at('$M', x);
  const asTool = call.as === undefined;
  const tool = (cmd: string) => `tool ${cmd}`;
  switch (call.c) {
    case 'unlink': if (asTool) return tool(`unlink ${m(call.path)}`); break;
    case 'rmdir': if (asTool) return tool(`rmdir ${m(call.path)}`); break;
    case 'symlink': if (asTool) return tool(`ln -s -T -- ${sq(call.target)} ${m(call.path)}`); break;
    case 'chmod': if (asTool) return tool(`chmod ${octal(call.mode)} ${m(call.path)}`); break;
    case 'removexattr': if (asTool) return tool(`setfattr -x ${sq(call.name)} ${m(call.path)}`); break;
    case 'setxattr':
      if (asTool && call.flags === 0) return tool(`setfattr ${call.nofollow ? '-h ' : ''}-n ${sq(call.name)} -v ${call.value === '' ? "''" : `0x${hex(call.value)}`} ${m(call.path)}`);
      break;
    default: break;
  }
  const creds = call.as ? `AS_UID=${call.as.uid} AS_GID=${call.as.gid} AS_GROUPS=${(call.as.groups ?? []).join(',')} AS_UMASK=${octal(call.as.umask ?? 0o22)} ` : '';
  const py = (...args: string[]) => `${creds}py ${args.map(sq).join(' ')}`;
  switch (call.c) {
    case 'open': return py('open', call.path, flagNames(call.flags, OPEN_NAMES), octal(call.mode), ...(call.data !== undefined ? [hex(call.data)] : []));
    case 'pwrite': return py('pwrite', call.path, String(call.offset), hex(call.data));
    case 'mkdir': return py('mkdir', call.path, octal(call.mode));
    case 'truncate': return py('truncate', call.path, String(call.size));
    case 'rename': return py('rename', call.from, call.to, flagNames(call.flags, [[1, 'RENAME_NOREPLACE'], [2, 'RENAME_EXCHANGE'], [4, 'RENAME_WHITEOUT']]).replace(/^0$/, ''));
    case 'link': return py('link', call.from, call.to);
    case 'mknod': return py('mknod', call.path, (call.mode >>> 0).toString(8));
    case 'setxattr': return py('setxattr', call.path, call.name, hex(call.value), flagNames(call.flags, [[1, 'XATTR_CREATE'], [2, 'XATTR_REPLACE']]).replace(/^0$/, ''), call.nofollow ? 'nofollow' : 'follow');
    case 'utimes': return py('utimes', call.path, timeArg(call.atime), timeArg(call.mtime), call.flags ? 'nofollow' : 'follow');
    case 'chmod': return py('chmod', call.path, octal(call.mode));
    case 'chown': return py('chown', call.path, String(call.uid), String(call.gid), call.nofollow ? 'nofollow' : 'follow');
    case 'unlink': return py('unlink', call.path);
    case 'rmdir': return py('rmdir', call.path);
    case 'symlink': return py('symlink', call.target, call.path);
    case 'removexattr': return py('removexattr', call.path, call.name);
  }
}

const KIND_TEXT: Record<string, string> = {
  file: 'regular file', dir: 'directory', symlink: 'symbolic link', fifo: 'fifo', chardev: 'character special file', whiteout: 'character special file',
};

/** The shell lines that check one thing; each calls `differs WHAT EXPECTED ACTUAL` when it does not hold. */
function checkLines(c: ReproCheck, root: string): string[] {
  const p = at(root, c.path);
  const label = sq(`${c.where === 'kernel-read' ? 'kernel mount' : c.where === 'lower' ? `lower layer ${c.layer}` : 'merged'} ${c.path}`);
  const e = c.expected;
  // Listed or not: by the parent dir's listing, as the comparison reads names (a name can be
  // listed while its lookup fails, S22.9).
  const cut = c.path.lastIndexOf('/');
  const parent = at(root, c.path.slice(0, cut) || '/'), name = sq(c.path.slice(cut + 1));
  if (c.what === 'absent' || (e === null && c.what !== 'present')) {
    return [`if listed ${parent} ${name}; then differs ${label} 'not listed' "listed: $(stat -c %F ${p} 2>&1)"; fi`];
  }
  if (e === null) return [`# ${c.path}: the model has no such name`];
  if (c.what === 'present') return [`listed ${parent} ${name} || differs ${label} ${sq(e.kind === 'error' ? `listed, its lookup failing with ${e.errno}` : `a ${e.kind}`)} 'not listed'`];
  if (e.kind === 'error' || c.what === 'errno') {
    return [`got=$(stat -c %F ${p} 2>&1) && differs ${label} ${sq(`lookup fails: ${e.errno ?? ''}`)} "$got"`];
  }
  const stat = (fmt: string, want: string, what: string) => [`got=$(stat -c ${fmt} ${p} 2>&1); [ "$got" = ${sq(want)} ] || differs ${sq(`${c.path} ${what}`)} ${sq(want)} "$got"`];
  switch (c.what) {
    case 'kind': return [`got=$(stat -c %F ${p} 2>&1); [ "$got" != 'regular empty file' ] || got='regular file'; [ "$got" = ${sq(KIND_TEXT[e.kind] ?? e.kind)} ] || differs ${label} ${sq(KIND_TEXT[e.kind] ?? e.kind)} "$got"`];
    case 'mode': return stat('%a', (e.mode & 0o7777).toString(8), 'mode');
    case 'uid': return stat('%u', String(e.uid), 'uid');
    case 'gid': return stat('%g', String(e.gid), 'gid');
    case 'nlink': return stat('%h', String(e.nlink), 'nlink');
    case 'mtime': return e.mtime === undefined ? [] : stat('%Y', String(e.mtime), 'mtime');
    case 'target': return [`got=$(readlink ${p} 2>&1); [ "$got" = ${sq(e.target ?? '')} ] || differs ${sq(`${c.path} target`)} ${sq(e.target ?? '')} "$got"`];
    case 'data': return [
      `printf ${printfFormat(e.data ?? '')} > "$T/expected"`,
      `if ! cmp -s "$T/expected" ${p}; then differs ${sq(`${c.path} content`)} "$(od -An -c "$T/expected" | head -3)" "$(od -An -c ${p} 2>&1 | head -3)"; fi`,
    ];
    default: {
      const name = /^xattr (.+)$/.exec(c.what)?.[1];
      if (name === undefined) return [`# ${c.path} ${c.what}: not checked by this script`];
      const want = e.xattrs[name];
      return want === undefined
        ? [`if got=$(getfattr -h --only-values -n ${sq(name)} ${p} 2>/dev/null); then differs ${sq(`${c.path} xattr ${name}`)} '(absent)' "$got"; fi`]
        : [`got=$(getfattr -h --only-values -n ${sq(name)} ${p} 2>/dev/null | od -An -tx1 | tr -d ' \\n'); [ "$got" = ${sq(hex(want))} ] || differs ${sq(`${c.path} xattr ${name} (hex)`)} ${sq(hex(want))} "\${got:-(absent)}"`];
    }
  }
}

/**
 * The checks a finding's differences ask for: names of the merged view (or the kernel's mount
 * of the layers), and of a lower layer (in its on-disk form, which nothing may change), field by field.
 */
export function checksOf(differences: Difference[], expected: Snapshot, lowers: ReadonlyMap<number, Snapshot> = new Map()): ReproCheck[] {
  const out: ReproCheck[] = [];
  for (const d of differences) {
    const layer = /^lower(\d+)$/.exec(d.view)?.[1];
    const where = d.view === 'merged' ? 'merged' : d.view === 'kernel-read' ? 'kernel-read' : layer !== undefined && lowers.has(Number(layer)) ? 'lower' : null;
    if (where === null || d.what === 'mount') continue; // the kernel refusing to mount the layers: mount_kernel says so
    const what = d.what === 'missing' ? 'present' : d.what === 'unexpected' ? 'absent' : d.what;
    if (/^st_ino|^st_dev|^st_blocks/.test(what)) continue; // bookkeeping no shell tool shows as the comparison does
    const view = where === 'lower' ? lowers.get(Number(layer))! : expected;
    out.push({ where, ...(where === 'lower' ? { layer: Number(layer) } : {}), path: d.path, what, expected: view.get(d.path) ?? null, ...(d.actual !== undefined ? { actual: d.actual } : {}) });
  }
  return out;
}

/** The whole script. */
export function reproScript(r: ReproInput): string {
  const L: string[] = [];
  const push = (...xs: string[]) => L.push(...xs);
  const lowersInit = Array.from({ length: r.lowers }, (_, i) => `"$T/l${i}"`).join(' ');
  const mountFns = (name: string, m: MountRecipe) => {
    const sub = (s: string) => s
      .replaceAll('@LOWERS@', '"$(joined : "")"').replaceAll('@BRANCHES@', '"$T/u=RW:$(joined : =RO)"')
      .replaceAll('@UPPER@', '"$T/u"').replaceAll('@WORK@', '"$T/w"').replaceAll('@MERGED@', '"$1"');
    if (m.daemon) {
      push(`mount_${name}() { # $1: where`,
        `  ${sub(m.daemon.map((a) => (a.includes('@') ? a : sq(a))).join(' '))} 2>"$T/daemon.log" &`,
        '  DAEMON=$!',
        '  n=0; until grep -q " $1 fuse" /proc/self/mounts; do',
        `    n=$((n + 1)); if [ $n -gt 200 ] || ! kill -0 "$DAEMON" 2>/dev/null; then echo "repro: ${m.name} did not mount: $(tail -1 "$T/daemon.log")" >&2; exit 2; fi`,
        '    sleep 0.05',
        '  done',
        '}',
        `umount_${name}() { umount "$1" 2>/dev/null || umount -l "$1"; wait "$DAEMON" 2>/dev/null; DAEMON=; }`);
    } else {
      push(`mount_${name}() { # $1: where`,
        ...(m.kernelExtraBefore66 !== undefined
          ? [`  case $(uname -r) in [1-5].*|6.[0-5].*|6.[0-5]) extra=${sq(m.kernelExtraBefore66)};; *) extra=${sq(m.kernelExtraSince66 ?? '')};; esac`]
          : [`  extra=${sq(m.kernelExtra ?? '')}`]),
        `  mount -t overlay overlay -o "lowerdir=$(joined : ""),upperdir=$T/u,workdir=$T/w$extra" "$1"`,
        '}',
        `umount_${name}() { umount "$1"; }`);
    }
  };
  push('#!/bin/sh',
    `# ${r.title}`,
    '#',
    ...r.provenance.map((x) => `# ${x}`),
    '#',
    `# Usage, as root: sh ${r.scriptName} [kernel]`,
    `#   no argument: ${r.impl.describe}`,
    '#   kernel: the running kernel\'s overlayfs on the same layers, in its own format',
    '# Exit 1: the fault shows; 0: it does not; 2: the script could not run here.',
    '# Needs: coreutils, util-linux (unshare, mount), attr (setfattr, getfattr), python3.',
    'set -u',
    '[ "$(id -u)" = 0 ] || { echo "repro: run as root" >&2; exit 2; }',
    '# A private mount and pid namespace: every mount and daemon goes with it, however this ends.',
    'if [ "${OVLCHECK_REPRO_NS:-}" != 1 ]; then',
    '  OVLCHECK_REPRO_NS=1 exec unshare --mount --propagation private --pid --fork --kill-child -- sh "$0" "$@"',
    'fi',
    'for t in python3 setfattr getfattr; do command -v $t >/dev/null || { echo "repro: needs $t" >&2; exit 2; }; done',
    `TARGET=\${1:-${r.impl.name}}`,
    `case $TARGET in ${r.impl.name}|kernel) ;; *) echo "repro: the target is ${r.impl.name} or kernel, not $TARGET" >&2; exit 2;; esac`,
    'T=$(mktemp -d /tmp/ovlcheck-repro.XXXXXX) || exit 2',
    'M=$T/merged',
    'DAEMON=',
    'cleanup() {',
    '  trap - EXIT INT TERM HUP',
    '  for m in "$T/kernel-read" "$M"; do umount -l "$m" 2>/dev/null; done',
    '  [ -z "$DAEMON" ] || { kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null; }',
    '  umount -l "$T" 2>/dev/null; rm -rf "$T"',
    '}',
    'trap cleanup EXIT',
    "trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP",
    'mount -t tmpfs ovlcheck-repro "$T" || exit 2',
    'umask 022',
    'export M',
    `LOWERS="${lowersInit.replaceAll('"', '')}"`,
    'joined() { # SEP SUFFIX: the lower dirs, top first',
    '  out=; for l in $LOWERS; do out=${out:+$out$1}$l$2; done; printf %s "$out"',
    '}',
    'FAULT=0',
    'differs() { echo "  DIFFERS  $1: expected $2, actual $3"; FAULT=1; }',
    'listed() { ls -a1 "$1" 2>/dev/null | grep -Fqx -- "$2"; } # DIR NAME',
    '# The errno a tool\'s message ends with (its strerror text).',
    'errno_of() {',
    '  case $1 in',
    ...ERRNO_TEXT.map(([n, t]) => `    *${sq(`: ${t}`)}) echo ${n};;`),
    '    *) echo "?($1)";;',
    '  esac',
    '}',
    '# A step by a tool that makes exactly that syscall: "ok" or its errno.',
    'tool() { if msg=$(timeout -s KILL 10 "$@" 2>&1); then echo ok; elif [ $? = 137 ]; then echo TIMEOUT; else errno_of "$msg"; fi; }',
    '# A step by the helper below (the syscalls no tool makes exactly): "ok" or the errno name.',
    `PY=${sq(PY_HELPER)}`,
    'py() { out=$(timeout -s KILL 10 python3 -c "$PY" "$@" 2>&1); [ $? = 137 ] && out=TIMEOUT; echo "$out"; }',
    ...(r.steps.some((x) => x.call.c === 'fd') ? [
      '# Steps on fds and dir streams held across steps: a helper that holds them, one request a line.',
      `PYFD=${sq(PY_FD_SERVER)}`,
      'SERVER=',
      'fdcall() { # sets got (not in $(...): the helper and its pipes belong to this shell)',
      '  if [ -z "$SERVER" ]; then',
      '    mkfifo "$T/req" "$T/res"; python3 -c "$PYFD" <"$T/req" >"$T/res" & SERVER=$!',
      '    exec 8>"$T/req" 9<"$T/res"',
      '  fi',
      '  printf \'%s\\n\' "$*" >&8',
      '  ( sleep 10; kill -9 "$SERVER" 2>/dev/null ) & w=$!',
      '  if read -r got <&9; then kill "$w" 2>/dev/null; else got=TIMEOUT; fi',
      '}',
      '# Every fd and stream is closed before an unmount (an open one keeps the mount busy).',
      'closeall() { [ -z "$SERVER" ] || fdcall closeall; }',
    ] : ['closeall() { :; }']),
    '# ovlcheck reads the whole merged tree after every step (names, contents, xattrs): so does this.',
    'walk() {',
    '  timeout -s KILL 20 sh -c \'find "$1" -exec stat -c %n {} + >/dev/null 2>&1; find "$1" -type f -exec cat {} + >/dev/null 2>&1; getfattr -R -h -d -m - "$1" >/dev/null 2>&1\' sh "$1"',
    '  [ $? != 137 ] || { echo "  HANG: reading $1 got no answer in 20 s"; FAULT=1; }',
    '}',
    '');
  mountFns('impl', r.impl);
  mountFns('kernel', r.kernel);
  push('', 'build_layers() { # the layers, in the format of $TARGET', '  mkdir "$T/u" "$T/w" "$M"' + Array.from({ length: r.lowers }, (_, i) => ` "$T/l${i}"`).join(''));
  const build = (m: MountRecipe) => (m.layers.length ? m.layers.map((c) => `    ${layerCommand(c)} || exit 2`) : ['    : # every layer empty']);
  const [onKernel, onImpl] = [build(r.kernel), build(r.impl)];
  if (onKernel.join('\n') === onImpl.join('\n')) push(...onKernel.map((l) => l.slice(2)), '}', ''); // the kernel's format is the implementation's
  else push('  if [ "$TARGET" = kernel ]; then', ...onKernel, '  else', ...onImpl, '  fi', '}', '');
  push('mount_target() { if [ "$TARGET" = kernel ]; then mount_kernel "$1" || { echo "repro: the kernel refused the mount" >&2; exit 2; }; else mount_impl "$1"; fi; }',
    'umount_target() { closeall; if [ "$TARGET" = kernel ]; then umount_kernel "$1"; else umount_impl "$1"; fi; }',
    'ROTATIONS=0',
    'rotate() { # the upper becomes the top lower layer; a new empty upper',
    '  umount_target "$M"; ROTATIONS=$((ROTATIONS + 1)); mv "$T/u" "$T/r$ROTATIONS"; rm -rf "$T/w"; mkdir "$T/u" "$T/w"',
    '  LOWERS="$T/r$ROTATIONS $LOWERS"; mount_target "$M"',
    '}',
    'lower_dir() { # N: the Nth lower layer, top first, as they stand now',
    '  i=0; for l in $LOWERS; do [ $i = "$1" ] && { echo "$l"; return; }; i=$((i + 1)); done',
    '}',
    'step() { # N TEXT EXPECTED GOT',
    '  if [ "$3" = "$4" ]; then echo "step $1: $2: expected $3, got $4"; else echo "step $1: $2: expected $3, got $4  <- differs"; fi',
    '}',
    '',
    'build_layers',
    'mount_target "$M"',
    'echo "mounted ($TARGET)"',
    'walk "$M"');
  const runChecks = (where: 'merged' | 'kernel-read', root: string) => {
    const mine = r.checks.filter((c) => c.where === where);
    const lowers = where === 'merged' ? r.checks.filter((c) => c.where === 'lower') : [];
    if (mine.length) push(`echo "checking what the finding is about (${where === 'kernel-read' ? 'the kernel\'s mount of the layers' : 'the merged view'}):"`);
    for (const c of mine) push(...checkLines(c, root));
    if (lowers.length) push('echo "checking the lower layers, which nothing may change:"');
    for (const c of lowers) push(`L=$(lower_dir ${c.layer})`, ...checkLines(c, '$L'));
  };
  if (r.checkAfter === 0) runChecks('merged', '$M');
  r.steps.forEach((s, i) => {
    const n = i + 1;
    if (s.call.c === 'remount') push(`umount_target "$M"; mount_target "$M"; step ${n} ${sq(s.text)} ok ok`);
    else if (s.call.c === 'rotate') push(`rotate; step ${n} ${sq(s.text)} ok ok`);
    else if (s.call.c === 'fd') {
      push(`fdcall ${s.call.args.map(sq).join(' ')}; step ${n} ${sq(s.text)} ${s.expected} "$got"`);
      if (n === r.outcomeStep) push(`[ "$got" = ${s.expected} ] || FAULT=1`);
    } else {
      push(`got=$(${stepCommand(s.call)}); step ${n} ${sq(s.text)} ${s.expected} "$got"`);
      if (n === r.outcomeStep) push(`[ "$got" = ${s.expected} ] || FAULT=1`);
    }
    push('walk "$M"');
    if (n === r.checkAfter) runChecks('merged', '$M');
  });
  if (r.finalRemount) push('umount_target "$M"; mount_target "$M"; echo "unmounted and mounted again"; walk "$M"');
  if (r.checkAfter > r.steps.length) runChecks('merged', '$M');
  if (r.kernelRead) {
    push('# Docker and Podman hand an upper between implementations: the kernel mounts these layers.',
      'umount_target "$M"; rm -rf "$T/w"; mkdir "$T/w" "$T/kernel-read"',
      'if mount_kernel "$T/kernel-read" 2>"$T/mount.err"; then',
      '  walk "$T/kernel-read"');
    runChecks('kernel-read', '$T/kernel-read');
    push('  umount_kernel "$T/kernel-read"',
      'else differs \'kernel mount\' \'the kernel mounts these layers\' "$(cat "$T/mount.err")"; fi');
  }
  push('if [ $FAULT = 1 ]; then echo "FAULT SHOWS ($TARGET)"; exit 1; fi', 'echo "no fault ($TARGET)"', 'exit 0', '');
  return L.join('\n');
}

/** glibc's strerror texts of the errnos the model uses (a tool's message ends with one). */
const ERRNO_TEXT: [string, string][] = [
  ['EPERM', 'Operation not permitted'], ['ENOENT', 'No such file or directory'], ['EIO', 'Input/output error'],
  ['EBADF', 'Bad file descriptor'], ['EACCES', 'Permission denied'], ['EBUSY', 'Device or resource busy'],
  ['EEXIST', 'File exists'], ['EXDEV', 'Invalid cross-device link'], ['ENOTDIR', 'Not a directory'],
  ['EISDIR', 'Is a directory'], ['EINVAL', 'Invalid argument'], ['ENOSPC', 'No space left on device'],
  ['EROFS', 'Read-only file system'], ['EMLINK', 'Too many links'], ['ERANGE', 'Numerical result out of range'],
  ['ENAMETOOLONG', 'File name too long'], ['ENOTEMPTY', 'Directory not empty'], ['ELOOP', 'Too many levels of symbolic links'],
  ['ENODATA', 'No data available'], ['EOPNOTSUPP', 'Operation not supported'], ['ENOTCONN', 'Transport endpoint is not connected'],
  ['ESTALE', 'Stale file handle'], ['E2BIG', 'Argument list too long'], ['ENXIO', 'No such device or address'],
  ['ESPIPE', 'Illegal seek'], ['ETIMEDOUT', 'Connection timed out'],
];
