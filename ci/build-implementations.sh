#!/usr/bin/env bash
# Builds the latest upstream releases of the FUSE implementations `ovlcheck compare` drives,
# from the sources in ../shared/vendor (or $OVLCHECK_VENDOR), out of tree, into a cache that
# outlives the checkout ($OVLCHECK_IMPL_CACHE, default /var/cache/ovlcheck-impl):
#
#   CACHE/fuse-overlayfs-1.16/bin/fuse-overlayfs    (--driver fuse-overlayfs@1.16)
#   CACHE/unionfs-fuse-3.7/bin/unionfs              (--driver unionfs-fuse@3.7)
#
# The Debian packages (fuse-overlayfs 1.10, unionfs-fuse 1.0) are the @1.10 and @1.0 builds.
# A release already in the cache whose binary prints its version is not built again. Needs
# libfuse3-dev autoconf automake pkg-config gcc make (Debian). Exit 0 when every release is
# there, 2 with one line when one cannot be built.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
vendor=${OVLCHECK_VENDOR:-$here/../shared/vendor}
cache=${OVLCHECK_IMPL_CACHE:-/var/cache/ovlcheck-impl}

fail() { echo "build-implementations: $*" >&2; exit 2; }
[ -d "$vendor" ] || fail "no vendored sources at $vendor (set OVLCHECK_VENDOR)"
mkdir -p "$cache"

# build NAME VERSION TARBALL BINARY VERSION_PATTERN: BUILD_STEPS read from build_NAME.
build() {
  local name=$1 version=$2 tarball=$vendor/$3 binary=$4 pattern=$5
  local dest=$cache/$name-$version
  if [ -x "$dest/bin/$binary" ] && "$dest/bin/$binary" --version 2>&1 | grep -q "$pattern"; then
    echo "$name $version: cached at $dest/bin/$binary"
    return
  fi
  [ -f "$tarball" ] || fail "$name $version: $tarball is missing"
  local work
  work=$(mktemp -d /tmp/ovlcheck-build.XXXXXX)
  trap 'rm -rf "$work"' RETURN
  tar -xzf "$tarball" -C "$work"
  local src
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)
  echo "$name $version: building in $work"
  if ! (cd "$src" && "build_${name//-/_}" "$dest") >"$work/log" 2>&1; then
    tail -20 "$work/log" >&2
    fail "$name $version: the build failed (its last lines above)"
  fi
  "$dest/bin/$binary" --version 2>&1 | grep -q "$pattern" || fail "$name $version: $dest/bin/$binary does not say $pattern"
  echo "$name $version: built, $dest/bin/$binary"
}

build_fuse_overlayfs() {
  ./autogen.sh && ./configure --prefix="$1" && make -j"$(nproc)" && make install
}

build_unionfs_fuse() {
  # Its Makefile builds src/unionfs against libfuse3; it has no install target for a prefix.
  make -j"$(nproc)" && mkdir -p "$1/bin" && install -m 755 src/unionfs "$1/bin/unionfs"
}

build fuse-overlayfs 1.16 fuse-overlayfs-1.16.tar.gz fuse-overlayfs 'version 1.16'
build unionfs-fuse 3.7 unionfs-fuse-3.7.tar.gz unionfs 'version: 3.7'
