// Deliberately broken models, to prove the suite has teeth: each breaks one rule, and
// `ovlcheck run --mutate NAME` must find a divergence quickly with a tiny case.

import { applyOp, type Op, type Step } from '../model/index.js';
import { baseName, findInLayer, parentPath, walkLayer } from '../model/layerFs.js';
import { forWrite, type OvlState } from '../model/state.js';

export type StepFn = (s: OvlState, op: Op) => Step;

export const MUTATIONS: Record<string, { breaks: string; step: StepFn }> = {
  'no-whiteout-on-unlink': {
    breaks: 'S4.7: unlink of a lower file leaves a whiteout',
    step(s, op) {
      const r = applyOp(s, op);
      if (op.op !== 'unlink' || r.outcome !== 'ok') return r;
      const s2 = forWrite(r.state);
      const parent = findInLayer(s2.upper, parentPath(op.path));
      if (parent?.children?.get(baseName(op.path))?.type === 'whiteout') parent.children.delete(baseName(op.path));
      return { ...r, state: s2 };
    },
  },
  'no-origin-on-copy-up': {
    breaks: 'S6.4: copy-up records P.origin',
    step(s, op) {
      const r = applyOp(s, op);
      const s2 = forWrite(r.state);
      walkLayer(s2.upper, (_p, ino) => delete ino.xattrs['trusted.overlay.origin']);
      return { ...r, state: s2 };
    },
  },
  'lower-dir-rename-allowed': {
    breaks: 'S5.2: renaming a lower directory is EXDEV',
    step(s, op) {
      const r = applyOp(s, op);
      return op.op === 'rename' && r.outcome === 'EXDEV' ? { ...r, outcome: 'ok' } : r;
    },
  },
};
