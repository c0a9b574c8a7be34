#!/bin/sh
# Many-location costs on the Debian 6.1 debug vmlinux (scripts/fetch-debian-kernel):
# wall seconds, peak RSS KB and stderr lines per command, for one build or two.
#   OLD=/path/to/old/probeaddr NEW=target/release/probeaddr sh benches/compare-many.sh
set -eu
V=${PROBEADDR_BENCH_VMLINUX:-$HOME/.cache/probeaddr/debian-6.1.0-56-cloud-amd64/root/usr/lib/debug/boot/vmlinux-6.1.0-56-cloud-amd64}
NEW=${NEW:-target/release/probeaddr}
[ -f "$V" ] || { echo "no vmlinux at $V: run scripts/fetch-debian-kernel" >&2; exit 1; }
m() { /usr/bin/time -f "%e s %M KB" -o /tmp/compare-many.t "$@" >/dev/null 2>/tmp/compare-many.err || true
      echo "$(cat /tmp/compare-many.t | tail -1), $(grep -c . /tmp/compare-many.err) stderr lines"; }
set -f
for c in "get_current --offline" "ext4_* --offline" "ext4_* --offline --no-inlines" \
         "cr4_set_bits --offline" "* --no-inlines --offline --format kprobe"; do
    line="| \`resolve -k V $c\` |"
    [ -n "${OLD:-}" ] && line="$line $(m "$OLD" resolve -k "$V" $c) |"
    echo "$line $(m "$NEW" resolve -k "$V" $c) |"
done
echo "readelf -sW: $(/usr/bin/time -f '%e s' readelf -sW "$V" 2>&1 >/dev/null)"
echo "perf probe -D cr4_set_bits: $( (/usr/bin/time -f '%e s %M KB' perf probe -k "$V" -D cr4_set_bits >/dev/null) 2>&1 | tail -1)"
