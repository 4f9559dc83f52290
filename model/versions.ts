// What changed between kernel versions (S20): every behaviour the model and the harness switch
// on, the first version that has it, and where that was established. One table, so that a
// divergence on some kernel means "not what a kernel of this version does", never "not the
// kernel the suite was written on". Versions come from the fs/overlayfs sources of 6.1.192,
// 6.12.117 and the 6.16-6.19 trees, the pull requests that carried each commit, and the
// kernels observed on either side (Debian 6.1.0-57 = 6.1.192, 6.12.117, and 6.18.44).

import { cover } from './coverage.js';
import type { KernelVersion } from './types.js';

export interface VersionedBehaviour {
  /** The first mainline release with the behaviour (major, minor, 0). */
  since: KernelVersion;
  /** Stable releases of older lines that have it too (a backport). */
  backports?: KernelVersion[];
  /** What a kernel that has it does (catalog items in parentheses). */
  what: string;
  /** Where the version comes from: the commit, its pull request, or the kernels observed on either side. */
  evidence: string;
}

export const BEHAVIOURS = {
  chownDropsSgidOutsideGroup: {
    since: [6, 2, 0],
    what: 'chown of a setgid file that is not group-executable drops S_ISGID when the caller is neither in its group nor has CAP_FSETID (setattr_should_drop_sgid, S11.3); before, chown dropped S_ISGID only from group-executable files',
    evidence: 'chown_common passes setattr_should_drop_sgid() in the 6.18 tree (fs/open.c); 6.2 is the setgid-stripping series as recalled, NOT checked against 6.1.192 sources or kernels; no generated step reaches it (generated files are never setgid), only a case could',
  },
  overlayTmpfile: {
    since: [6, 10, 0],
    what: 'open(O_TMPFILE) in a merged dir makes an unnamed file in its upper dir (the dir is copied up), which linkat(AT_EMPTY_PATH) can name (S4.10); before, EOPNOTSUPP',
    evidence: 'catalog S4.10 [exp][hist]: "ovl: implement tmpfile" (pull ovl-update-6.10); observed on 6.18.44',
  },
  newMountApi: {
    since: [6, 5, 0],
    what: 'options go through the new mount API (params.c): each is checked, and its paths resolved, as it is parsed, so a missing layer is ENOENT before a later bad value is EINVAL; "ro" in the string is the VFS superblock flag. Before, the legacy parser matched every option first and refused "ro" (S1.1, S1.8, S20.1)',
    evidence: '1784fbc2ed9c "ovl: port to new mount api" (pull ovl-update-6.5); 6.1.192 still imports match_token, not fs_parse',
  },
  dataOnlyLayers: {
    since: [6, 5, 0],
    what: 'data-only lower layers, "::" in lowerdir= (S7.4); before, "a::b" is an empty lower layer (EINVAL)',
    evidence: '37ebf056d6cf "ovl: introduce data-only lower layers" (pull ovl-update-6.5)',
  },
  uuidAutoNull: {
    since: [6, 6, 0],
    what: 'uuid=null and uuid=auto (the new default); uuid=on, and auto on an upper whose root is neither impure nor has one, store P.uuid on the upper root (S1.5, S8.9). Before: only uuid=on|off, "on" the default, and P.uuid is never written',
    evidence: 'b0504bfe1b8a, d9544c1b0d9e, cbb44f093597 (pull ovl-update-6.6); the 6.1.192 module has no uuid xattr name',
  },
  tmpfsUserXattrs: {
    since: [6, 6, 0],
    what: 'tmpfs holds user.* xattrs (a property of the layers\' filesystem, S20.1)',
    evidence: '2daf18a7884d "tmpfs,xattr: enable limited user extended attributes" (pull v6.6-vfs.tmpfs)',
  },
  xattrWhiteouts: {
    since: [6, 7, 0],
    what: 'xattr whiteouts (a zero-size file with P.whiteout) and opaque=x dirs (S3.4, S3.5, S22.3); before, both are ordinary',
    evidence: 'bc8df7a3dc03 "ovl: Add an alternative type of whiteout" (6.7); the "x" marker 420332b94119 in 6.8-rc2, backported to 6.7.y',
  },
  escapedXattrs: {
    since: [6, 7, 0],
    what: 'P.X through the mount is P.overlay.X on the layer (S10.1, S10.2); before, getting, setting or removing P.* through the mount is EOPNOTSUPP, and listxattr hides every P.*',
    evidence: 'dad02fad84cb "ovl: Support escaped overlay.* xattrs" (6.7); 6.1.192 super.c ovl_own_xattr_get/set return -EOPNOTSUPP',
  },
  lowerdirAppend: {
    since: [6, 7, 0],
    what: 'lowerdir+= and datadir+= through fsconfig, one layer each (S1.10); the catalog\'s "6.8" is the kernel doc\'s, the code is in 6.7',
    evidence: '24e16e385f22 "ovl: add support for appending lowerdirs one by one" (pull ovl-update-6.7)',
  },
  consistentRedirectMetacopyRejection: {
    since: [6, 16, 0],
    what: 'a redirect (not followed) or a metacopy file (metacopy=off) is refused with EPERM before anything is looked up below (ovl_check_follow_redirect). Before: an upper metacopy file was EPERM only if a regular file was found below, EIO if nothing was (S7.3); an upper dir whose redirect is not followed was EPERM only if a lower dir was found at its target, after recording it as the dir\'s origin (ovl_fix_origin), and an ordinary upper dir if not (S2.7); an index entry copied up metadata-only was taken as the upper of a lower hard link (S6.6). From 6.16 a redirect is read under nofollow with data-only layers even where the parent has no lower dir (check_redirect)',
    evidence: '"ovl: make redirect/metacopy rejection consistent" (pull "overlayfs update for 6.16"; eba3c0b3a9e0 in linux-next, a6fcfe9bb26d reported for mainline) and "ovl: relax redirect/metacopy requirements for lower -> data redirect" of the same series (ovl_check_follow_redirect, check_redirect); not backported: 6.1.192 namei.c 930-1025 and 6.12.117 namei.c 1133-1237 keep the old order; observed EIO on 6.1.0-57 and 6.12.117, EPERM on 6.18.44; the metadata-only index entry seen as the file on 6.12.117 and EPERM on 6.18.44 (ovlcheck matrix, seed 20261201)',
  },
  dataOnlyWithoutMetacopy: {
    since: [6, 16, 0],
    what: 'data-only layers mount without metacopy=on (S7.4); before: EINVAL "lower data-only dirs require metacopy support"',
    evidence: '"ovl: relax redirect/metacopy requirements for lower -> data redirect" (pull "overlayfs update for 6.16"; 5ef7bcdeecc9 / 3f776aa7c27d as reported); the message is in the 6.12.117 module, observed EINVAL there',
  },
  indexedNlinkXattr: {
    // Mainline version not pinned: the stable patch is in 6.12.117 and absent from 6.1.192
    // and 6.18.44 (observed); the mainline commit (a 2026 ovl fix) is after 6.18.
    since: [6, 19, 0],
    backports: [[6, 12, 117]],
    what: 'after a mount, an indexed non-dir takes its nlink from P.nlink whatever its lower\'s link count (ovl_get_nlink "indexed"); before, a lower with one link meant the upper\'s real nlink, the index link included (S12.3)',
    evidence: '"ovl: read the nlink xattr of every indexed non-dir" (stable 6.12.117, kernel.org ChangeLog-6.12.117): 6.12.117 inode.c:1019 `if (!indexed && ...i_nlink == 1)`, 6.1.192 inode.c:987 without it; observed nlink 1 on 6.12.117, 2 on 6.1.0-57 and 6.18.44; first mainline release assumed after 6.18',
  },
} as const satisfies Record<string, VersionedBehaviour>;

export type Behaviour = keyof typeof BEHAVIOURS;

export function atLeast(k: KernelVersion, major: number, minor: number, sublevel = 0): boolean {
  if (k[0] !== major) return k[0] > major;
  if (k[1] !== minor) return k[1] > minor;
  return (k[2] ?? 0) >= sublevel;
}

/**
 * The answers for one version tuple (the model asks for every entry of every lookup): bit 0
 * whether it has the behaviour, bit 1 whether that differs from the catalog's kernel (S20.1).
 */
const answered = new WeakMap<KernelVersion, Map<Behaviour, number>>();
/** The kernel the catalog was written on (its section 0). */
const CATALOG_KERNEL: KernelVersion = [6, 18, 44];

/** Whether a kernel of this version has the behaviour: from its mainline release, or a stable backport. */
export function hasFeature(k: KernelVersion, b: Behaviour): boolean {
  let known = answered.get(k);
  if (!known) answered.set(k, (known = new Map()));
  let answer = known.get(b);
  if (answer === undefined) {
    const has = computeFeature(k, b);
    answer = (has ? 1 : 0) | (has !== computeFeature(CATALOG_KERNEL, b) ? 2 : 0);
    known.set(b, answer);
  }
  if (answer & 2) cover('S20.1'); // a rule that differs from the catalog's kernel
  return (answer & 1) === 1;
}

function computeFeature(k: KernelVersion, b: Behaviour): boolean {
  const v: VersionedBehaviour = BEHAVIOURS[b];
  return atLeast(k, v.since[0], v.since[1], v.since[2])
    || (v.backports ?? []).some(([major, minor, sub]) => k[0] === major && k[1] === minor && (k[2] ?? 0) >= (sub ?? 0));
}

/**
 * Why a kernel of this version cannot mount a profile at all, or null (S20). What the
 * layers' filesystem lacks is the harness's to say (harness/probe.ts).
 */
export function unsupportedBy(p: { uuid: string; dataOnly?: boolean; metacopy: boolean }, k: KernelVersion): string | null {
  if (p.uuid === 'null' && !hasFeature(k, 'uuidAutoNull')) return `uuid=null came in ${release('uuidAutoNull')}`;
  if (p.dataOnly && !hasFeature(k, 'dataOnlyLayers')) return `data-only layers ("::") came in ${release('dataOnlyLayers')}`;
  if (p.dataOnly && !p.metacopy && !hasFeature(k, 'dataOnlyWithoutMetacopy')) return `before ${release('dataOnlyWithoutMetacopy')} a data-only layer needs metacopy=on`;
  return null;
}

function release(b: Behaviour): string {
  const [major, minor] = BEHAVIOURS[b].since;
  return `${major}.${minor}`;
}
