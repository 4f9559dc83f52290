// The reference model of overlayfs: pure, deterministic, no I/O.
// Files follow fs/overlayfs: lookup.ts (namei.c), dir.ts + rename.ts (dir.c), copyUp.ts
// (copy_up.c), readdir.ts (readdir.c), inode.ts (inode.c, xattrs), file.ts (file.c),
// views.ts (getattr and listings), profile.ts (params.c), state.ts (ovl_fs).

export * from './types.js';
export { applyOp } from './apply.js';
export { createState, NotModelled, type OvlState, type Step } from './state.js';
export { mount, walkEffects } from './super.js';
export { mergedView, upperView, lowerView } from './views.js';
export { DEFAULT_PROFILE, parseKernelVersion, privatePrefix, UMASK } from './profile.js';
export { splitPath, joinPath, parentPath, baseName } from './layerFs.js';
export { namedProfile, notModelled, ParamError, parseOptions, profileForRemount, PROFILES, resolveProfile } from './params.js';
export { BEHAVIOURS, hasFeature, unsupportedBy, type Behaviour } from './versions.js';
