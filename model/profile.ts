// Mount profile and kernel version: the model's inputs (params.c, super.c).

import { cover } from './coverage.js';
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

const privateNames = { trusted: new Map<string, string>(), user: new Map<string, string>() };

/**
 * P.name (privatePrefix + name) as one string made once: the model looks these up on every
 * inode of every view after every step, and a key built anew must be hashed anew each time.
 */
export function privateXattr(p: Profile, name: string): string {
  const names = p.userxattr ? privateNames.user : privateNames.trusted;
  let full = names.get(name);
  if (full === undefined) names.set(name, (full = privatePrefix(p) + name));
  return full;
}

/**
 * Offline changes to lower layers are allowed unless a feature that records lower
 * identities is on; this also decides whether new dirs in merged parents are opaque (S4.4, S16.2).
 */
export function allowOfflineChanges(p: Profile): boolean {
  cover('S16.2');
  return !(p.redirect_dir === 'on' || p.index || p.metacopy || p.xino === 'on');
}

/**
 * The version of a kernel from its release (uname -r), and from /proc/version (and Ubuntu's
 * /proc/version_signature) where the release hides the upstream sublevel: Debian's
 * "6.1.0-57-amd64" is "Debian 6.1.192-3" there. Stable backports switch on the sublevel.
 */
export function parseKernelVersion(release: string, versionText = ''): KernelVersion {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  if (!m) throw new Error(`cannot parse kernel release "${release}"`);
  const [major, minor] = [Number(m[1]), Number(m[2])];
  let sublevel = Number(m[3] ?? 0);
  for (const u of versionText.matchAll(new RegExp(`(?<![\\d.])${major}\\.${minor}\\.(\\d+)`, 'g'))) sublevel = Math.max(sublevel, Number(u[1]));
  return [major, minor, sublevel];
}

/** The process umask the harness sets and the model assumes for new objects. */
export const UMASK = 0o022;
