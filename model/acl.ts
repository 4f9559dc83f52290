// POSIX ACLs (S10.5): evaluated on the overlay inode, whose ACLs are the real inode's
// system.posix_acl_* xattrs, copied up with the other xattrs; a dir's default ACL applies to
// what is made in it. The rules are the VFS's (fs/posix_acl.c), seen through the overlay on
// 6.18 (posix_acl_permission, posix_acl_create, posix_acl_chmod). The model keeps an ACL as
// the xattr's value, the kernel's binary form (posix_acl_xattr_header, version 2), latin1.

import { cover } from './coverage.js';
import type { Inode } from './layerFs.js';
import type { Caller } from './types.js';

export const ACL_ACCESS = 'system.posix_acl_access';
export const ACL_DEFAULT = 'system.posix_acl_default';

const USER_OBJ = 0x01;
const USER = 0x02;
const GROUP_OBJ = 0x04;
const GROUP = 0x08;
const MASK = 0x10;
const OTHER = 0x20;
const NO_ID = 0xffffffff;

export interface AclEntry {
  tag: number;
  perm: number;
  id: number;
}

/** The entries of an ACL xattr value, in its order (sorted by tag, then id). */
export function parseAcl(value: string): AclEntry[] {
  const b = Buffer.from(value, 'latin1');
  const out: AclEntry[] = [];
  for (let at = 4; at + 8 <= b.length; at += 8) out.push({ tag: b.readUInt16LE(at), perm: b.readUInt16LE(at + 2), id: b.readUInt32LE(at + 4) });
  return out;
}

export function formatAcl(entries: readonly AclEntry[]): string {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach((e, i) => {
    b.writeUInt16LE(e.tag, 4 + 8 * i);
    b.writeUInt16LE(e.perm, 6 + 8 * i);
    b.writeUInt32LE(e.tag === USER || e.tag === GROUP ? e.id : NO_ID, 8 + 8 * i);
  });
  return b.toString('latin1');
}

/**
 * An access ACL for a layer entry, consistent with its mode (the owner's, group's and other's
 * bits are the ACL's USER_OBJ, MASK and OTHER, as setxattr would leave them): extra users and
 * groups with their permissions; GROUP_OBJ gets `groupObj`.
 */
export function accessAcl(mode: number, groupObj: number, users: [number, number][], groups: [number, number][]): string {
  return formatAcl([
    { tag: USER_OBJ, perm: (mode >> 6) & 7, id: NO_ID },
    ...users.map(([id, perm]) => ({ tag: USER, perm, id })),
    { tag: GROUP_OBJ, perm: groupObj, id: NO_ID },
    ...groups.map(([id, perm]) => ({ tag: GROUP, perm, id })),
    { tag: MASK, perm: (mode >> 3) & 7, id: NO_ID },
    { tag: OTHER, perm: mode & 7, id: NO_ID },
  ]);
}

/** A full ACL (a default ACL): every entry given. */
export function fullAcl(userObj: number, groupObj: number, mask: number, other: number, users: [number, number][], groups: [number, number][]): string {
  return formatAcl([
    { tag: USER_OBJ, perm: userObj, id: NO_ID },
    ...users.map(([id, perm]) => ({ tag: USER, perm, id })),
    { tag: GROUP_OBJ, perm: groupObj, id: NO_ID },
    ...groups.map(([id, perm]) => ({ tag: GROUP, perm, id })),
    { tag: MASK, perm: mask, id: NO_ID },
    { tag: OTHER, perm: other, id: NO_ID },
  ]);
}

/**
 * posix_acl_permission for a caller that is not root, or null where the inode has no access
 * ACL (the mode decides). The owner class is the mode's; a named user's entry counts through
 * the mask; the group class grants if any matching group entry grants it all, and denies if
 * one matched and none did; else other.
 */
export function aclPermits(c: Caller, ino: Inode, want: number): boolean | null {
  const value = ino.xattrs[ACL_ACCESS];
  if (value === undefined) return null;
  cover('S10.5');
  const entries = parseAcl(value);
  const mask = entries.find((e) => e.tag === MASK)?.perm ?? 7;
  const has = (perm: number) => (perm & want) === want;
  if (c.uid === ino.uid) return has((ino.mode >> 6) & 7);
  const user = entries.find((e) => e.tag === USER && e.id === c.uid);
  if (user) return has(user.perm & mask);
  const inGroup = (gid: number) => c.gid === gid || (c.groups ?? []).includes(gid);
  let matched = false;
  for (const e of entries) {
    const matches = (e.tag === GROUP_OBJ && inGroup(ino.gid)) || (e.tag === GROUP && inGroup(e.id));
    if (!matches) continue;
    if (has(e.perm & mask)) return true;
    matched = true;
  }
  if (matched) return false;
  return has(ino.mode & 7);
}

/** posix_acl_chmod: a new mode rewrites USER_OBJ, MASK (GROUP_OBJ where there is none) and OTHER. */
export function chmodAcl(ino: Inode, mode: number): void {
  const value = ino.xattrs[ACL_ACCESS];
  if (value === undefined) return;
  const entries = parseAcl(value);
  const hasMask = entries.some((e) => e.tag === MASK);
  ino.xattrs[ACL_ACCESS] = formatAcl(entries.map((e) => {
    if (e.tag === USER_OBJ) return { ...e, perm: (mode >> 6) & 7 };
    if (e.tag === (hasMask ? MASK : GROUP_OBJ)) return { ...e, perm: (mode >> 3) & 7 };
    if (e.tag === OTHER) return { ...e, perm: mode & 7 };
    return e;
  }));
}

/**
 * posix_acl_create: a new object in a dir with a default ACL gets that ACL, its USER_OBJ,
 * MASK (or GROUP_OBJ) and OTHER cut down to the mode asked for, and the mode from them; the
 * umask does not apply. A dir keeps the default ACL as its own default. Where the result says
 * no more than the mode, no access ACL is stored. Null: the parent has no default ACL.
 */
export function inheritAcl(parent: Inode, type: Inode['type'], mode: number): { mode: number; xattrs: Record<string, string> } | null {
  const def = parent.xattrs[ACL_DEFAULT];
  if (def === undefined || type === 'symlink') return null;
  cover('S10.5');
  const entries = parseAcl(def);
  const hasMask = entries.some((e) => e.tag === MASK);
  let newMode = mode & ~0o777;
  const cut = entries.map((e) => {
    if (e.tag === USER_OBJ) {
      const perm = e.perm & (mode >> 6) & 7;
      newMode |= perm << 6;
      return { ...e, perm };
    }
    if (e.tag === (hasMask ? MASK : GROUP_OBJ)) {
      const perm = e.perm & (mode >> 3) & 7;
      newMode |= perm << 3;
      return { ...e, perm };
    }
    if (e.tag === OTHER) {
      const perm = e.perm & mode & 7;
      newMode |= perm;
      return { ...e, perm };
    }
    return e;
  });
  const extended = cut.some((e) => e.tag === USER || e.tag === GROUP || e.tag === MASK);
  return {
    mode: newMode,
    xattrs: { ...(extended ? { [ACL_ACCESS]: formatAcl(cut) } : {}), ...(type === 'dir' ? { [ACL_DEFAULT]: def } : {}) },
  };
}
