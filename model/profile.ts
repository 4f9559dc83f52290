// Mount profile and kernel version: the model's inputs (params.c, super.c).

import type { KernelVersion, Profile } from './types.js';

/**
 * The upstream default configuration (Kconfig REDIRECT_DIR=n, REDIRECT_ALWAYS_FOLLOW=y,
 * INDEX=n, XINO_AUTO=n, METACOPY=n, NFS_EXPORT=n), made explicit (S1.2).
 */
export const DEFAULT_PROFILE: Profile = {
  name: 'default',
  redirect_dir: 'follow',
  index: false,
  metacopy: false,
  xino: 'off',
  nfs_export: false,
  userxattr: false,
  uuid: 'auto',
};

/** The private xattr prefix P (S10.3). */
export function privatePrefix(p: Profile): string {
  return p.userxattr ? 'user.overlay.' : 'trusted.overlay.';
}

/**
 * Offline changes to lower layers are allowed unless a feature that records lower
 * identities is on; this also decides whether new dirs in merged parents are opaque (S4.4, S16.2).
 */
export function allowOfflineChanges(p: Profile): boolean {
  return !(p.redirect_dir === 'on' || p.index || p.metacopy || p.xino === 'on');
}

export function atLeast(k: KernelVersion, major: number, minor: number): boolean {
  return k[0] > major || (k[0] === major && k[1] >= minor);
}

export function parseKernelVersion(release: string): KernelVersion {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) throw new Error(`cannot parse kernel release "${release}"`);
  return [Number(m[1]), Number(m[2])];
}

/** The process umask the harness sets and the model assumes for new objects. */
export const UMASK = 0o022;
