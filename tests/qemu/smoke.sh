#!/bin/sh
# Stage tests/qemu/smoke/ with what it needs and boot it with
# scripts/qemu-guest:
#
#   tests/qemu/smoke.sh [KERNEL_CACHE_DIR [LOG_FILE [TIMEOUT_S]]]
#
# KERNEL_CACHE_DIR defaults to what scripts/fetch-debian-kernel prints.
# LOG_FILE defaults to target/qemu/smoke.log. Staged next to run.sh:
#   modules/*.ko   af_key.ko and its dependencies (modinfo -F depends),
#                  modules/order lists them in insmod order
#   probeaddr      a static build (skipped with PROBEADDR_STATIC=none;
#                  PROBEADDR_STATIC=PATH uses a ready binary)
# The static build is
#   RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=target/static \
#     cargo build --release -p probeaddr-cli --target x86_64-unknown-linux-gnu
# Exit status: that of the guest's run.sh (number of failed checks), or 2.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${1:-}
if [ -z "$CACHE" ]; then
    CACHE=$("$ROOT/scripts/fetch-debian-kernel" | tail -n 1)
fi
LOG_FILE=${2:-$ROOT/target/qemu/smoke.log}
TIMEOUT=${3:-180}

KROOT=$CACHE/root
[ -d "$KROOT" ] || KROOT=$CACHE
KVER=$(basename "$(ls -d "$KROOT"/lib/modules/*/ | head -n 1)")
MODDIR=$KROOT/lib/modules/$KVER/kernel

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/qemu-smoke.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
cp "$HERE/smoke/run.sh" "$STAGE/run.sh"
mkdir "$STAGE/modules"

# depends= of a .ko: modinfo when there is one, else the .modinfo section.
depends() {
    if command -v modinfo >/dev/null 2>&1 || [ -x /sbin/modinfo ]; then
        PATH=$PATH:/sbin:/usr/sbin modinfo -F depends "$1"
    else
        readelf -p .modinfo "$1" | sed -n 's/.*\]  depends=//p'
    fi
}
# Depth-first: dependencies go into modules/order before their users.
find_ko() { # NAME -> path
    f=$(find "$MODDIR" -name "$1.ko" | head -n 1)
    [ -n "$f" ] || f=$(find "$MODDIR" -name "$(echo "$1" | tr _ -).ko" | head -n 1)
    [ -n "$f" ] || { echo "smoke: module $1 not found under $MODDIR" >&2; exit 2; }
    echo "$f"
}
# (sh has no local variables: nothing set before the recursion is used after.)
stage_module() { # NAME
    grep -qx "$1" "$STAGE/modules/order" 2>/dev/null && return 0
    deps=$(depends "$(find_ko "$1")" | tr , ' ')
    echo "smoke: $1.ko depends: ${deps:-(none)}" >&2
    for d in $deps; do stage_module "$d"; done
    cp "$(find_ko "$1")" "$STAGE/modules/$1.ko"
    echo "$1" >>"$STAGE/modules/order"
}
stage_module af_key

case ${PROBEADDR_STATIC:-build} in
    none) ;;
    build)
        echo "smoke: building static probeaddr" >&2
        (cd "$ROOT" && RUSTFLAGS='-C target-feature=+crt-static' \
            CARGO_TARGET_DIR="$ROOT/target/static" \
            cargo build --release -q -p probeaddr-cli --target x86_64-unknown-linux-gnu)
        BIN=$ROOT/target/static/x86_64-unknown-linux-gnu/release/probeaddr
        strip -o "$STAGE/probeaddr" "$BIN" 2>/dev/null || cp "$BIN" "$STAGE/probeaddr"
        ;;
    *)
        strip -o "$STAGE/probeaddr" "$PROBEADDR_STATIC" 2>/dev/null || cp "$PROBEADDR_STATIC" "$STAGE/probeaddr"
        ;;
esac

set +e
"$ROOT/scripts/qemu-guest" "$CACHE" "$STAGE" "$LOG_FILE" "$TIMEOUT"
rc=$?
# A boot with KASLR slide 0 proves nothing about slides; boot once more.
if grep -aq '^CHECK WARN kaslr' "$LOG_FILE"; then
    echo "smoke: KASLR slide was 0; booting again" >&2
    "$ROOT/scripts/qemu-guest" "$CACHE" "$STAGE" "$LOG_FILE" "$TIMEOUT"
    rc=$?
fi
set -e
grep -a '^CHECK ' "$LOG_FILE" >&2 || true
exit $rc
