#!/usr/bin/env bash
# Build ci/Dockerfile's image without a registry and check it with podman against this kernel:
#   1. the base: Debian bookworm from Debian's mirror (debootstrap --variant=minbase) plus this
#      host's Node 20 and npm, cached in $OVLCHECK_CONTAINER_CACHE (default
#      /var/cache/ovlcheck-container) as a tarball and as the podman image
#      localhost/ovlcheck-base:KEY (KEY: suite, recipe revision, node version); reused when present;
#   2. the ovlcheck image: `podman build -f ci/Dockerfile --build-arg BASE=...` of this tree
#      (npm ci runs inside; the build uses the host's network for apt and the npm registry);
#   3. privileged, `ovlcheck run` must exit 0;
#   4. unprivileged (no --privileged: no mounts), it must exit 2 with one line saying why.
# The ovlcheck image and the containers are removed on every exit; only the cached base stays.
#
# usage (root, from anywhere in the clone):
#   ci/container.sh [--short] [--rebuild] [--from-head] [--keep-image]
#     --short       CI size: only util-linux from apt, `run --runs 20 --steps 10` (well under a minute)
#     (default)     the Dockerfile's full package list (qemu, FUSE implementations...), `run --runs 100`
#     --rebuild     debootstrap the base again (e.g. for Debian's security updates)
#     --from-head   the sources of the committed tree (git archive HEAD), not the work tree
#                   (ci/Dockerfile still from the work tree)
#     --keep-image  keep localhost/ovlcheck-ci:latest for use by hand
# exit: 0 both checks passed; 1 a check failed; 2 cannot build or run here (not root, no podman...).
set -euo pipefail

SUITE=bookworm
MIRROR=${OVLCHECK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
RECIPE=r1   # bump when the base's recipe below changes
CACHE=${OVLCHECK_CONTAINER_CACHE:-/var/cache/ovlcheck-container}

short=0 rebuild=0 keep=0 from_head=0
for a in "$@"; do
  case $a in
    --short) short=1 ;;
    --rebuild) rebuild=1 ;;
    --keep-image) keep=1 ;;
    --from-head) from_head=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "container: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
start=$SECONDS
say() { printf 'container: [%4ds] %s\n' $((SECONDS - start)) "$*"; }
die() { say "FAILED: $*" >&2; exit "${2:-1}"; }

[ "$(id -u)" = 0 ] || die "needs root (podman as root, debootstrap, mounts)" 2
command -v node >/dev/null || die "needs the host's node (copied into the base)" 2
node_version=$(node --version)
[[ $node_version == v2[0-9].* ]] || die "the host's node is $node_version; the image needs Node 20 or later" 2

# The link sysctls are the host's, also inside a container; ovlcheck refuses others (exit 2).
want="fs.protected_hardlinks=1 fs.protected_symlinks=0 fs.protected_regular=0 fs.protected_fifos=0"
for kv in $want; do
  have=$(sysctl -n "${kv%=*}" 2>/dev/null || echo '?')
  [ "$have" = "${kv#*=}" ] || die "${kv%=*} is $have here; ovlcheck's model needs: sysctl -w $want" 2
done

run_id=$$
ci_image=localhost/ovlcheck-ci:$run_id
containers=()
build_dir=""
context_dir=""

cleanup() {
  local rc=$? c
  trap - EXIT INT TERM
  set +e
  [ "$rc" -lt 128 ] || say "interrupted (exit $rc); cleaning up" >&2
  for c in "${containers[@]}"; do
    podman rm -f --ignore "$c" >/dev/null 2>&1
  done
  if podman image exists "$ci_image" 2>/dev/null; then
    if [ $keep = 1 ] && podman tag "$ci_image" localhost/ovlcheck-ci:latest; then
      podman untag "$ci_image" "$ci_image"; say "kept localhost/ovlcheck-ci:latest"
    else
      podman rmi -f "$ci_image" >/dev/null 2>&1
    fi
  fi
  # Images a failed or interrupted build left, by this run's label.
  [ $keep = 1 ] || podman images -q --filter "label=ovlcheck.ci.run=$run_id" 2>/dev/null | sort -u |
    xargs -r podman rmi -f >/dev/null 2>&1
  if [ -n "$build_dir" ] && [ -d "$build_dir" ]; then
    # debootstrap mounts proc, sys (and may bind /dev) in its target: never rm -rf through them.
    awk -v d="$build_dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
      while read -r m; do umount -l "$m"; done
    if awk -v d="$build_dir/" 'index($2, d) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
      say "left $build_dir: something is still mounted under it" >&2
    else
      rm -rf --one-file-system "$build_dir"
    fi
  fi
  [ -z "$context_dir" ] || rm -rf --one-file-system "$context_dir"
  rm -f "$CACHE"/*.tar.part
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 0. The tools.
if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null || ! command -v runc >/dev/null; then
  say "installing podman, debootstrap and runc from Debian's mirror"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq podman debootstrap runc >/dev/null; } ||
    die "could not install podman, debootstrap and runc" 2
fi
# crun refuses this kernel's hybrid cgroups; podman's default rlimits exceed the hard limits here.
podman_run=(podman --runtime runc run --rm --network none
  --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

# 1. The base image: Debian from its mirror, the host's node and npm in /usr/local.
key=$SUITE-$RECIPE-node${node_version#v}
base=localhost/ovlcheck-base:$key
tarball=$CACHE/base-$key.tar
mkdir -p "$CACHE"
if [ $rebuild = 1 ]; then
  say "--rebuild: dropping the cached base $key"
  podman rmi -f "$base" >/dev/null 2>&1 || true
  rm -f "$tarball"
fi
# Bases of other keys (an older node or recipe) are not used again.
for old in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/ovlcheck-base:' | grep -vxF "$base" || true); do
  say "removing the stale base $old"; podman rmi -f "$old" >/dev/null || true
done
find "$CACHE" -maxdepth 1 -name 'base-*.tar' ! -name "base-$key.tar" -delete

if podman image exists "$base"; then
  say "base $base: cached"
else
  if [ ! -f "$tarball" ]; then
    build_dir=$(mktemp -d "$CACHE/build.XXXXXX")
    say "base: debootstrap --variant=minbase $SUITE from $MIRROR (about 200 MB)"
    debootstrap --variant=minbase "$SUITE" "$build_dir/rootfs" "$MIRROR" >"$build_dir/debootstrap.log" 2>&1 ||
      { tail -20 "$build_dir/debootstrap.log" >&2; die "debootstrap failed" 2; }
    # bookworm's nodejs is 18: copy the host's Node (its binary needs only libc and libstdc++,
    # both in minbase) and the npm bundled with it.
    node_bin=$(readlink -f "$(command -v node)")
    npm_dir=$(readlink -f "$(dirname "$node_bin")/../lib/node_modules/npm")
    [ -f "$npm_dir/bin/npm-cli.js" ] || die "no npm beside the host's node ($npm_dir)" 2
    say "base: adding the host's node $node_version ($node_bin) and npm $(node "$npm_dir/bin/npm-cli.js" --version)"
    install -D -m 755 "$node_bin" "$build_dir/rootfs/usr/local/bin/node"
    mkdir -p "$build_dir/rootfs/usr/local/lib/node_modules"
    cp -a "$npm_dir" "$build_dir/rootfs/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$build_dir/rootfs/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$build_dir/rootfs/usr/local/bin/npx"
    chroot "$build_dir/rootfs" /usr/local/bin/node --version >/dev/null || die "node does not run in the base" 2
    rm -rf "$build_dir"/rootfs/var/cache/apt/archives/*.deb "$build_dir"/rootfs/var/lib/apt/lists/*
    tar --numeric-owner --xattrs -C "$build_dir/rootfs" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf --one-file-system "$build_dir"; build_dir=""
  fi
  say "base: podman import $tarball as $base"
  podman import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
fi

# 2. The ovlcheck image of this tree.
build_args=(--build-arg "BASE=$base")
if [ $short = 1 ]; then
  build_args+=(--build-arg "APT_PACKAGES=util-linux")
  run_args=(run --runs 20 --steps 10)
else
  run_args=(run --runs 100)
fi
# npm ci in the build trusts what the host's npm trusts (a TLS-inspecting proxy's CA, e.g.).
ca=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}
if [ -n "$ca" ] && [ "$ca" != null ] && [ -f "$ca" ]; then
  build_args+=(--volume "$(readlink -f "$ca"):/etc/ssl/host-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/etc/ssl/host-ca.crt)
fi
context=.
if [ $from_head = 1 ]; then
  context_dir=$(mktemp -d "$CACHE/context.XXXXXX")
  git archive HEAD | tar -x -C "$context_dir"
  context=$context_dir
  say "image: context is HEAD $(git rev-parse --short HEAD) (git archive), not the work tree"
fi
say "image: podman build -f ci/Dockerfile ${build_args[*]}"
podman build --pull=never --layers=false --network host -f ci/Dockerfile "${build_args[@]}" \
  --label "ovlcheck.ci.run=$run_id" -t "$ci_image" "$context" >"$CACHE/build-$run_id.log" 2>&1 ||
  { tail -30 "$CACHE/build-$run_id.log" >&2; rm -f "$CACHE/build-$run_id.log"; die "podman build failed"; }
rm -f "$CACHE/build-$run_id.log"
say "image: built ($(podman image inspect --format '{{.Size}}' "$ci_image" | awk '{ printf "%d MB", $1 / 1e6 }'))"

failed=0

# 3. Privileged: the suite runs and conforms.
name=ovlcheck-ci-$run_id-privileged; containers+=("$name")
say "privileged: ovlcheck ${run_args[*]}"
set +e
"${podman_run[@]}" --name "$name" --privileged "$ci_image" "${run_args[@]}" 2>&1 | tail -3 | sed 's/^/  | /'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" = 0 ]; then say "privileged: exit 0 (PASS)"; else say "privileged: exit $rc, expected 0 (FAIL)"; failed=1; fi

# 4. Unprivileged: ovlcheck cannot mount; it must say so in one line and exit 2.
name=ovlcheck-ci-$run_id-unprivileged; containers+=("$name")
say "unprivileged: ovlcheck ${run_args[*]}"
set +e
out=$("${podman_run[@]}" --name "$name" "$ci_image" "${run_args[@]}" 2>&1)
rc=$?
set -e
printf '%s\n' "$out" | sed 's/^/  | /'
lines=$(printf '%s\n' "$out" | grep -c .)
if [ "$rc" = 2 ] && [ "$lines" = 1 ]; then
  say "unprivileged: exit 2 with one line (PASS)"
else
  say "unprivileged: exit $rc with $lines lines, expected exit 2 with one line (FAIL)"; failed=1
fi

if [ $failed = 0 ]; then say "PASS"; else say "FAIL"; fi
exit $failed
