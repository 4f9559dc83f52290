// Any implementation, through the user's own mount and unmount commands: no TypeScript to
// write. The commands run through /bin/sh with placeholders filled in (shell-quoted):
//   {lowerdir}  the lower layers, top first, ':'-separated (as overlayfs's lowerdir=)
//   {upperdir} {workdir} {merged}  the upper layer, an empty work dir, the mount point
//   {options}   the profile's overlayfs options (redirect_dir=...,index=...,...)
// The mount command must return once the mount is in place (or start a daemon that has
// mounted by then); the unmount command (default: umount(2) by ovlcheck) must take it down.
// Both run under a deadline. A FUSE mount is also watched per step: past the deadline its
// connection is aborted (the daemon is not ours to kill).

import fs from 'node:fs';
import { execa } from 'execa';
import type { Profile } from '../../model/types.js';
import type { LayerCodec } from '../codecs.js';
import { forgetMount, registerMount, type Sandbox } from '../sandbox.js';
import { fuseConnection, withDeadline } from '../watchdog.js';
import { profileOptions } from './kernelOptions.js';
import { runningKernel } from '../sys.js';
import { ExternalDriver, mountsLine, type LayerDirs } from './external.js';
import { DEFAULT_TIMEOUTS, type Timeouts } from './fuse.js';

export interface ExecCommands {
  mount: string;
  unmount?: string;
  /** The implementation's layer format; undefined: the kernel's, compared raw. */
  codec?: LayerCodec;
}

const PLACEHOLDER = /\{(lowerdir|upperdir|workdir|merged|options)\}/g;

export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (_, name: string) => `'${values[name].replace(/'/g, `'\\''`)}'`);
}

export class ExecDriver extends ExternalDriver {
  readonly name = 'exec';
  /** Its mount command gets the options of each mount, a remount's new ones too. */
  readonly remountOptions = true;
  readonly codec: LayerCodec | undefined;
  private fuseConn = 0;

  constructor(sandbox: Sandbox, private readonly commands: ExecCommands, private readonly timeouts: Timeouts = DEFAULT_TIMEOUTS) {
    super(sandbox);
    this.codec = commands.codec;
  }

  /** The command gets {options}; whether it honours them is what the run shows. */
  supports(p: Profile): string | null {
    if (p.dataOnly || p.split || p.readonly === 'no-upper') return `profile ${p.name} needs layers the exec driver does not lay out (data-only, a second filesystem, no upper)`;
    return null;
  }

  private values(d: LayerDirs): Record<string, string> {
    return { lowerdir: d.lowers.join(':'), upperdir: d.upper, workdir: d.work, merged: d.merged, options: profileOptions(this.profile!, runningKernel()) };
  }

  protected describeMount(d: LayerDirs): string {
    return fillTemplate(this.commands.mount, this.values(d));
  }

  protected override onMount<T>(fn: () => T): T {
    if (!this.fuseConn) return fn();
    return withDeadline(0, this.sandbox.fuseControl(), this.fuseConn, this.timeouts.stepMs, fn);
  }

  private async run(what: string, template: string, d: LayerDirs): Promise<void> {
    const command = fillTemplate(template, this.values(d));
    const r = await execa('/bin/sh', ['-c', command], { reject: false, timeout: this.timeouts.mountMs, stdin: 'ignore', all: true });
    if (r.timedOut) throw new Error(`exec driver: the ${what} command did not finish within ${this.timeouts.mountMs} ms: ${command}`);
    if (r.exitCode !== 0) throw new Error(`exec driver: the ${what} command failed (exit ${r.exitCode}): ${command}: ${String(r.all ?? '').trim().split('\n').pop()}`);
  }

  protected async mountLayers(d: LayerDirs): Promise<void> {
    await this.run('mount', this.commands.mount, d);
    const line = mountsLine(d.merged);
    if (!line) throw new Error(`exec driver: after the mount command, nothing is mounted on ${d.merged}`);
    registerMount(d.merged);
    this.fuseConn = / fuse/.test(line) ? fuseConnection(fs.statSync(d.merged).dev) : 0;
  }

  protected async unmountLayers(d: LayerDirs): Promise<void> {
    try {
      if (this.commands.unmount) await this.run('unmount', this.commands.unmount, d);
    } finally {
      // Whatever the command did (even mounting twice), nothing stays mounted.
      for (let i = 0; i < 8 && mountsLine(d.merged); i++) this.sandbox.unmount(d.merged);
      forgetMount(d.merged);
    }
  }
}
