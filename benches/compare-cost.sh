#!/bin/sh
# Every issue-14 row on the Debian 6.1 debug vmlinux (scripts/fetch-debian-kernel),
# in one run, with the peer each is measured against and the ratio:
#   sh benches/compare-cost.sh              (uses target/release/probeaddr)
# Figures are whole-process wall seconds and peak RSS (GNU time), page cache
# warm (each command runs once before it is timed). The name index is built
# into a fresh cache first, and that first run is reported on its own row.
set -eu
V=${PROBEADDR_BENCH_VMLINUX:-$HOME/.cache/probeaddr/debian-6.1.0-56-cloud-amd64/root/usr/lib/debug/boot/vmlinux-6.1.0-56-cloud-amd64}
P=${NEW:-target/release/probeaddr}
[ -f "$V" ] || { echo "no vmlinux at $V: run scripts/fetch-debian-kernel" >&2; exit 1; }
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE" /tmp/compare-cost.t /tmp/compare-cost.w' EXIT
export PROBEADDR_CACHE_DIR="$CACHE"
set -f
# t CMD...: "SECONDS MAXRSS_KB": the median wall time of 5 warm runs (after
# one more to warm the cache, which must print an answer: an error's time is
# not a row; a glob's exit status 2 for the locations the kernel refuses
# is) and the peak RSS of one more.
t() { [ "$("$@" 2>/dev/null | head -c 64 | wc -c)" -gt 0 ] || { echo "no answer from: $*" >&2; exit 1; }
      for _ in 1 2 3 4 5; do
          a=$(date +%s%N); "$@" >/dev/null 2>&1 || true; b=$(date +%s%N)
          echo $(((b - a) / 1000))
      done | sort -n | sed -n 3p > /tmp/compare-cost.w
      /usr/bin/time -f "%M" -o /tmp/compare-cost.t "$@" >/dev/null 2>&1 || true
      echo "$(awk '{ printf "%.3f", $1 / 1e6 }' /tmp/compare-cost.w) $(tail -1 /tmp/compare-cost.t)"; }
# ratio OURS PEER: how many times faster probeaddr is, or how many times
# the peer's time it takes.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a <= 0 || b <= 0) print "-";
          else if (b >= a) printf "%.1fx faster\n", b / a; else printf "%.1fx the peer\x27s time\n", a / b }'; }
row() { # row LABEL "ours" "peer-label" "peer"
    set -- "$1" $2 "$3" $4
    echo "| $1 | $2 s, $(($3 / 1024)) MB | $4 ${5:-} s | $(ratio "$2" "${5:-0}") |"
}
echo "| command | probeaddr | peer | ratio |"
echo "|---|---|---|---|"
first=$( /usr/bin/time -f "%e %M" -o /tmp/compare-cost.t "$P" resolve -k "$V" vfs_read --offline >/dev/null 2>&1; tail -1 /tmp/compare-cost.t )
row "first query, building the name index (\`vfs_read --offline\`, empty cache; one run)" "$first" "-" ""
for pt in vfs_read 'init_once@fs/proc/inode.c' cr4_set_bits; do
    ours=$(t "$P" resolve -k "$V" "$pt" --offline --format kprobe)
    perf=$(t perf probe -k "$V" -D "$pt" | cut -d' ' -f1)
    row "\`resolve -k V $pt --offline\`" "$ours" "perf probe -D" "$perf"
done
# The issue's inlined-site points are on Debian's 6.12 kernel
# (scripts/fetch-debian-kernel 6.12.95+deb12-cloud-amd64 bookworm-backports);
# 6.1 has no ZSTD_count_2segments.
V612=${PROBEADDR_BENCH_VMLINUX_612:-$HOME/.cache/probeaddr/debian-6.12.95+deb12-cloud-amd64/root/usr/lib/debug/boot/vmlinux-6.12.95+deb12-cloud-amd64}
if [ -f "$V612" ]; then
    for pt in cr4_set_bits ZSTD_count_2segments; do
        ours=$(t "$P" resolve -k "$V612" "$pt" --offline --format kprobe)
        perf=$(t perf probe -k "$V612" -D "$pt" | cut -d' ' -f1)
        row "\`resolve -k V612 $pt --offline\`" "$ours" "perf probe -D" "$perf"
    done
else
    echo "(no 6.12 vmlinux at $V612: its rows are left out)" >&2
fi
cat_s=$(t cat /proc/kallsyms | cut -d' ' -f1)
live=$(t "$P" resolve -k "$V" vfs_read --no-build-id-check --format kprobe)
row "\`resolve -k V vfs_read\` live (reads /proc/kallsyms)" "$live" "cat /proc/kallsyms" "$cat_s"
readelf_s=$(t readelf -sW "$V" | cut -d' ' -f1)
for c in "* --no-inlines" "ext4_* --no-inlines" "ext4_*" "get_current"; do
    ours=$(t "$P" resolve -k "$V" $c --offline --format kprobe)
    row "\`resolve -k V $c --offline\`" "$ours" "readelf -sW" "$readelf_s"
done
ours=$(t "$P" dups -k "$V")
row "\`dups -k V\` (every ambiguous name, whole kernel)" "$ours" "readelf -sW" "$readelf_s"
ours=$(t "$P" list -k "$V" 'ext4_*')
row "\`list -k V 'ext4_*'\`" "$ours" "readelf -sW" "$readelf_s"
ours=$(t "$P" list -k "$V" '*')
row "\`list -k V '*'\` (every function and inlined site)" "$ours" "readelf -sW" "$readelf_s"
ours=$(t "$P" lines -k "$V" '*')
row "\`lines -k V '*'\` (every function's lines)" "$ours" "readelf -sW" "$readelf_s"
# Symbolize 1,000,000 addresses drawn inside the vmlinux's functions
# (awk's rand with a fixed seed): names and files, then lines too.
ADDRS="$CACHE/addrs"
# (awk's numbers are doubles: the top half of an address is kept as text.)
readelf -sW "$V" | awk '
    function hex(t, i, v) { for (i = 1; i <= length(t); i++)
        v = v * 16 + index("0123456789abcdef", substr(t, i, 1)) - 1; return v }
    $4 == "FUNC" && $3 > 0 && length($2) == 16 { hi[n] = substr($2, 1, 8); lo[n] = hex(substr($2, 9)); s[n++] = $3 }
    END { srand(7); for (i = 0; i < 1000000; i++) { j = int(rand() * n);
          printf "%s%08x\n", hi[j], lo[j] + int(rand() * s[j]) } }' > "$ADDRS"
for l in "" "-l"; do
    ours=$(t sh -c "\"$P\" symbolize -k \"$V\" --offline $l < \"$ADDRS\"")
    row "\`symbolize -k V --offline $l\` (1,000,000 addresses)" "$ours" "-" ""
done
# Every inlined site of the kernel takes minutes: ALL_INLINES=1 to include it.
if [ -n "${ALL_INLINES:-}" ]; then
    ours=$(t "$P" resolve -k "$V" '*' --offline --format kprobe)
    row "\`resolve -k V '*' --offline\` (every inlined site)" "$ours" "readelf -sW" "$readelf_s"
fi
