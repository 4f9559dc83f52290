// Sparse files and st_blocks (S17.6, S8.7): which 4 KiB pages of a regular file the layer's
// fs (tmpfs) has allocated, and the pwrite step that makes holes worth looking at.
//
// tmpfs allocates whole pages: st_blocks is 8 per allocated page (512-byte units). A write
// allocates the pages it touches; truncate frees the pages wholly past the new size and
// allocates none when it grows the file (a hole). A file written from its start, as the
// harness builds layer files, has every page of its data (Inode.pages undefined).

import { cover } from './coverage.js';
import { copyUp } from './copyUp.js';
import { open } from './file.js';
import { findInLayer, type Inode } from './layerFs.js';
import { realInode, walkPath } from './lookup.js';
import { forWrite, type OvlState, type Step } from './state.js';

export const PAGE = 4096;
const BLOCKS_PER_PAGE = PAGE / 512;
/** OVL_COPY_UP_CHUNK_SIZE: copy-up copies this much at a time, looking for data before each chunk. */
const COPY_UP_CHUNK = 1 << 20;

const pagesFor = (bytes: number) => Math.ceil(bytes / PAGE);
const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** The allocated pages of a regular file, ascending. */
export function pagesOf(ino: Inode): number[] {
  return ino.pages ?? range(0, pagesFor(ino.data.length));
}

/** st_blocks of a regular file on tmpfs. */
export function blocksOf(ino: Inode): number {
  cover('S22.6'); // the pages tmpfs holds, not the data's length
  return pagesOf(ino).length * BLOCKS_PER_PAGE;
}

/** Before `len` bytes are written at `offset`: the pages they touch become allocated. Call before changing data. */
export function noteWrite(ino: Inode, offset: number, len: number): void {
  if (len === 0) return;
  const pages = new Set(pagesOf(ino));
  for (const p of range(Math.floor(offset / PAGE), Math.floor((offset + len - 1) / PAGE) + 1)) pages.add(p);
  ino.pages = [...pages].sort((a, b) => a - b);
}

/** Before the size changes to `size`: pages wholly past it are freed (a partial last page stays). Call before changing data. */
export function noteTruncate(ino: Inode, size: number): void {
  ino.pages = pagesOf(ino).filter((p) => p < pagesFor(size));
}

/**
 * S17.6 (copy_up.c ovl_copy_up_file): the pages of a copy-up's upper file. Before each 1 MiB
 * chunk, SEEK_DATA on the source skips a hole; the chunk is then copied whole, holes inside it
 * written as zeros. So only holes before the data of a chunk stay holes (and a file with no
 * data stays fully sparse); found by experiment on 6.18 (the catalog says holes are preserved).
 */
export function copiedPages(src: Inode): number[] {
  cover('S17.6');
  const data = pagesOf(src);
  const size = src.data.length;
  const out = new Set<number>();
  let pos = 0;
  while (pos < size) {
    // SEEK_DATA on tmpfs: pos itself if its page is allocated, else the start of the next allocated page.
    const next = data.find((p) => p >= Math.floor(pos / PAGE));
    if (next === undefined) break; // ENXIO: the rest is a hole
    pos = Math.max(pos, next * PAGE);
    const end = Math.min(pos + COPY_UP_CHUNK, size);
    for (const p of range(Math.floor(pos / PAGE), pagesFor(end))) out.add(p);
    pos = end;
  }
  return [...out];
}

/**
 * pwrite step: open(2) O_WRONLY (following symlinks, no create), pwrite(2) of data at offset,
 * close(2). The open decides the outcome and the copy-up (S6.1); the write then lands in the
 * upper file, past its end leaving a hole.
 */
export function pwrite(s: OvlState, path: string, offset: number, data: string): Step {
  const opened = open(s, path, ['O_WRONLY']);
  if (opened.outcome !== 'ok') return opened;
  const w = walkPath(opened.state, path, true);
  if (!w.ok || realInode(w.child).type !== 'file') return opened; // a fifo: nothing written
  const s2 = opened.state === s ? forWrite(s) : opened.state;
  const file = findInLayer(s2.upper, w.child.path) ?? copyUp(s2, w.child.path, true);
  noteWrite(file, offset, data.length);
  file.data = file.data.slice(0, offset).padEnd(offset, '\0') + data + file.data.slice(offset + data.length);
  if (data.length > 0) file.mtime = undefined; // written now (a write of nothing changes no time)
  return { ...opened, state: s2, rule: 'S17.6' };
}
