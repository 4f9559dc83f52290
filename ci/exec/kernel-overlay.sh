#!/bin/sh
# The exec driver's example: the kernel's overlayfs through mount(8), as a user would plug
# in an implementation of their own. ovlcheck fills in the arguments:
#   ovlcheck compare --driver exec \
#     --mount-cmd 'sh ci/exec/kernel-overlay.sh {lowerdir} {upperdir} {workdir} {merged} {options}'
# It must return once the mount is in place, and fail (non-zero, a line on stderr) otherwise.
set -e
lowerdir=$1 upperdir=$2 workdir=$3 merged=$4 options=$5
exec mount -t overlay overlay -o "lowerdir=$lowerdir,upperdir=$upperdir,workdir=$workdir,$options" "$merged"
