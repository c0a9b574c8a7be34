#!/bin/sh
# Compare probeaddr with perf probe and SystemTap at resolving kernel probe
# points offline against a debug vmlinux: wall time (median of N runs), peak
# RSS (median of N runs of /usr/bin/time -f %M) and each tool's answer, side
# by side. Then the end-to-end throughput of `probeaddr symbolize` fed
# 1,000,000 addresses on standard input. Prints a Markdown report on stdout;
# progress goes to stderr.
#
# Usage: benches/compare-kernel.sh [VMLINUX [RUNS]]
#   VMLINUX  default: $PROBEADDR_BENCH_VMLINUX, else the Debian 6.1 debug
#            vmlinux cached by scripts/fetch-debian-kernel
#            (the same default as benches/resolve.rs)
#   RUNS     default: 5 (one extra warm-up run per tool is not counted)
#
# Environment:
#   PROBEADDR_EXE=/path/to/probeaddr   skip the release build
#   PROBEADDR_BENCH_KALLSYMS=FILE      kallsyms for the symbolize test
#                                      (default /proc/kallsyms; needs root)
#   PROBEADDR_SYMBOLIZE_N=N            addresses for it (default 1000000)
#   PROBEADDR_DROP_CACHES=1            also one true cold-cache run per tool
#                                      (sync; echo 3 >/proc/sys/vm/drop_caches
#                                      before each; root only; disturbs the
#                                      whole machine)
#   STAP_BUILD=DIR                     a kernel build tree for stap -r; without
#                                      it a minimal one is faked in a temp dir
#                                      (see below)
#
# SystemTap wants a kernel build tree even for -p2 (it checks .config and
# Module.symvers, reads System.map and vmlinux from it). The script fakes one
# from the unpacked Debian packages: .config from boot/config-KVER next to
# the debug tree, System.map and vmlinux symlinked, an empty Module.symvers,
# include/config/kernel.release. That suffices for pass 2 (elaboration); -u
# keeps the empty probe body from being optimised away.
#
# Warm runs use a warm page cache (the warm-up run loads the file). Wall time
# is taken with `date +%s%N` around a bare run, so it includes about 1-2 ms
# of fork/exec overhead for every tool alike.

set -u

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
KVER_DEFAULT=6.1.0-56-cloud-amd64
DEFAULT_VMLINUX=${HOME:-/root}/.cache/probeaddr/debian-$KVER_DEFAULT/root/usr/lib/debug/boot/vmlinux-$KVER_DEFAULT
POINT1='init_once@fs/proc/inode.c'
POINT2='vfs_read'

log() { printf '%s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

VM=${1:-${PROBEADDR_BENCH_VMLINUX:-$DEFAULT_VMLINUX}}
RUNS=${2:-5}
KALLSYMS=${PROBEADDR_BENCH_KALLSYMS:-/proc/kallsyms}
NADDR=${PROBEADDR_SYMBOLIZE_N:-1000000}

if [ ! -f "$VM" ]; then
    log "compare-kernel.sh: no vmlinux at $VM (run scripts/fetch-debian-kernel, or give one as the first argument)"
    exit 2
fi
case $RUNS in '' | *[!0-9]* | 0)
    log "compare-kernel.sh: RUNS must be a positive integer"
    exit 2
    ;;
esac

# Kernel release from the file name (vmlinux-KVER), for stap.
KVER=$(basename -- "$VM" | sed -n 's/^vmlinux-//p')
# The unpacked package root: VM is ROOTFS/usr/lib/debug/boot/vmlinux-KVER.
ROOTFS=$(CDPATH= cd -- "$(dirname -- "$VM")/../../../.." 2>/dev/null && pwd)

TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
    if [ "$(id -u)" -eq 0 ] && have apt-get; then
        log "installing GNU time (apt-get install -y time)"
        apt-get install -y time >&2 || log "apt-get install time failed"
    fi
fi
[ -x "$TIME" ] || TIME=''

# Build probeaddr.
if [ -n "${PROBEADDR_EXE:-}" ]; then
    PA=$PROBEADDR_EXE
    BUILD_NOTE="prebuilt (PROBEADDR_EXE)"
else
    PA=${CARGO_TARGET_DIR:-$ROOT/target}/release/probeaddr
    log "building probeaddr (cargo build --release -p probeaddr-cli)"
    if (cd "$ROOT" && cargo build --release -p probeaddr-cli >&2); then
        BUILD_NOTE="cargo build --release -p probeaddr-cli"
    elif [ -x "$PA" ]; then
        BUILD_NOTE="**build failed; used the existing $PA**"
        log "compare-kernel.sh: build failed; using the existing $PA"
    else
        log "compare-kernel.sh: build failed and no existing probeaddr binary"
        exit 1
    fi
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/probeaddr-compare-kernel.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

now_ns() { date +%s%N; }

median() { # numbers on stdin, one a line
    sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

DROP=${PROBEADDR_DROP_CACHES:-0}
if [ "$DROP" = 1 ] && { [ "$(id -u)" -ne 0 ] || [ ! -w /proc/sys/vm/drop_caches ]; }; then
    log "compare-kernel.sh: PROBEADDR_DROP_CACHES=1 needs root; no cold-cache runs"
    DROP=0
fi
drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches; }

COLD=$TMP/cold
: >"$COLD"

# measure NAME CMD...: sets M_STATUS (ok|failed), M_WALL, M_MIN, M_MAX (ms),
# M_RSS (MB); the last run's stdout is in $TMP/NAME.out, stderr in .err.
# With DROP=1, first one cold-cache run under /usr/bin/time (wall and RSS of
# that one run are appended to $COLD as "NAME WALL_MS RSS_MB").
measure() {
    name=$1
    shift
    : >"$TMP/$name.wall"
    : >"$TMP/$name.rss"
    if [ "$DROP" = 1 ]; then
        drop_caches
        t0=$(now_ns)
        if [ -n "$TIME" ]; then
            "$TIME" -f %M -o "$TMP/$name.ct" "$@" >/dev/null 2>&1
        else
            "$@" >/dev/null 2>&1
        fi
        t1=$(now_ns)
        crss=n/a
        [ -n "$TIME" ] && crss=$(tail -n 1 "$TMP/$name.ct" | awk '{ printf "%.1f", $1 / 1024 }')
        echo "$name $(((t1 - t0) / 1000)) $crss" | awk '{ printf "%s %.1f %s\n", $1, $2 / 1000, $3 }' >>"$COLD"
    fi
    # Warm-up (also the run whose output is shown).
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    rc=$?
    M_STATUS=ok
    [ $rc -eq 0 ] || M_STATUS="failed (exit $rc)"
    i=0
    while [ $i -lt "$RUNS" ]; do
        t0=$(now_ns)
        "$@" >/dev/null 2>&1
        t1=$(now_ns)
        echo $(((t1 - t0) / 1000)) >>"$TMP/$name.wall" # microseconds
        if [ -n "$TIME" ]; then
            "$TIME" -f %M -o "$TMP/$name.t" "$@" >/dev/null 2>&1
            tail -n 1 "$TMP/$name.t" >>"$TMP/$name.rss"
        fi
        i=$((i + 1))
    done
    M_WALL=$(median <"$TMP/$name.wall" | awk '{ printf "%.1f", $1 / 1000 }')
    M_MIN=$(sort -n "$TMP/$name.wall" | head -n 1 | awk '{ printf "%.1f", $1 / 1000 }')
    M_MAX=$(sort -n "$TMP/$name.wall" | tail -n 1 | awk '{ printf "%.1f", $1 / 1000 }')
    if [ -n "$TIME" ]; then
        M_RSS=$(median <"$TMP/$name.rss" | awk '{ printf "%.1f", $1 / 1024 }')
    else
        M_RSS="n/a (no /usr/bin/time)"
    fi
}

ROWS=$TMP/rows
: >"$ROWS"
PA_WALL=''

# row TOOL COMMAND ANSWER (uses $CUR for the error file)
row() {
    if [ -n "$PA_WALL" ] && [ "$M_STATUS" = ok ]; then
        ratio=$(awk -v a="$M_WALL" -v b="$PA_WALL" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')
    else
        ratio=-
    fi
    if [ "$M_STATUS" = ok ]; then
        printf '| %s | `%s` | %s | %s | %s-%s | %s | %s |\n' "$1" "$2" "$3" "$M_WALL" "$M_MIN" "$M_MAX" "$M_RSS" "$ratio" >>"$ROWS"
    else
        err=$(grep -v '^Tip:' "$TMP/$CUR.err" | head -n 3 | tr '|\n' '/ ' | cut -c1-200)
        printf '| %s | `%s` | %s: %s | %s | %s-%s | %s | %s |\n' "$1" "$2" "$M_STATUS" "$err" "$M_WALL" "$M_MIN" "$M_MAX" "$M_RSS" "-" >>"$ROWS"
    fi
}

missing() { # TOOL COMMAND WHY
    printf '| %s | `%s` | %s | - | - | - | - |\n' "$1" "$2" "$3" >>"$ROWS"
}

section() { # TITLE
    printf '| **%s** | | | | | | |\n' "$1" >>"$ROWS"
}

oneline() { # FILE: its lines joined with "; ", without Markdown pipes
    grep -v '^$' "$1" 2>/dev/null | tr '|' '/' | awk 'NR > 1 { printf "; " } { printf "%s", $0 } END { print "" }'
}

# Fake a kernel build tree for stap (unless STAP_BUILD is given).
STAP_NOTE=''
STAP_TREE=${STAP_BUILD:-}
if have stap && [ -z "$STAP_TREE" ]; then
    B=$TMP/stap-build
    mkdir -p "$B/include/config"
    cfg=$ROOTFS/boot/config-$KVER
    map=$ROOTFS/usr/lib/debug/boot/System.map-$KVER
    [ -s "$map" ] && [ "$(wc -c <"$map")" -gt 1000 ] || map=$ROOTFS/boot/System.map-$KVER
    if [ -n "$KVER" ] && [ -f "$cfg" ] && [ -f "$map" ]; then
        cp "$cfg" "$B/.config"
        echo "$KVER" >"$B/include/config/kernel.release"
        ln -s "$VM" "$B/vmlinux"
        ln -s "$map" "$B/System.map"
        : >"$B/Module.symvers"
        STAP_TREE=$B
        STAP_NOTE="stap -r points at a faked build tree (.config, System.map, vmlinux, empty Module.symvers)"
    else
        STAP_NOTE="no build tree for stap: need $cfg and $map (or set STAP_BUILD)"
    fi
fi

# probeaddr, perf probe and stap on one probe point.
# point_rows POINT SLUG [STAP_SCRIPT]
point_rows() {
    point=$1
    slug=$2
    stap_script=${3:-}
    section "$point"
    CUR=pa_$slug
    log "probeaddr $point ..."
    measure "$CUR" "$PA" resolve -k "$VM" "$point" --offline --format kprobe
    PA_WALL=''
    [ "$M_STATUS" = ok ] && PA_WALL=$M_WALL
    ans=$(oneline "$TMP/$CUR.out")
    # "NAME is not unique (N symbols)": then a bare NAME+OFF is ambiguous.
    nsyms=$(sed -n 's/.* is not unique (\([0-9]*\) symbols).*/\1/p' "$TMP/$CUR.err" | head -n 1)
    fname=${point%%@*}
    extra=''
    [ -n "$nsyms" ] && extra=" (probeaddr notes: \`$fname\` is not unique, $nsyms symbols)"
    row probeaddr "probeaddr resolve -k VMLINUX '$point' --offline --format kprobe" "\`$ans\`$extra"

    CUR=perf_$slug
    if have perf; then
        log "perf probe $point ..."
        measure "$CUR" perf probe -k "$VM" -D "$point"
        ans=$(oneline "$TMP/$CUR.out")
        amb=''
        case $ans in
        *" $fname+"*)
            [ -n "$nsyms" ] && amb=" **ambiguous**: \`$fname\` names $nsyms functions, and a kprobe on \`$fname+OFF\` cannot say which (the kernel refuses a non-unique name)"
            ;;
        esac
        row "perf probe" "perf probe -k VMLINUX -D '$point'" "\`$ans\`$amb"
    else
        missing "perf probe" "perf probe -k VMLINUX -D '$point'" "not installed"
    fi

    CUR=stap_$slug
    script=${stap_script:-"probe kernel.function(\"$point\") {}"}
    if ! have stap; then
        missing stap "stap -u -p2 -r BUILD -e '$script'" "not installed"
    elif [ -z "$STAP_TREE" ]; then
        missing stap "stap -u -p2 -r BUILD -e '$script'" "skipped: $STAP_NOTE"
    else
        log "stap $point ..."
        measure "$CUR" stap -u -p2 -r "$STAP_TREE" -e "$script"
        ans=$(grep -v '^#' "$TMP/$CUR.out" | sed 's/ *\/\* <-.*//' | awk 'NR > 1 { printf "; " } { printf "%s", $0 } END { print "" }')
        row stap "stap -u -p2 -r BUILD -e '$script'" "\`$ans\`"
    fi
}

point_rows "$POINT1" init_once
point_rows "$POINT2" vfs_read
# Fetch arguments: three variables, two through a struct pointer.
point_rows "vfs_read count file->f_pos buf" vfs_read_args \
    'probe kernel.function("vfs_read") { printf("%d %d %p\n", $count, $file->f_pos, $buf) }'

# Symbolize throughput: NADDR addresses inside text symbols of kallsyms.
SYM_LINE=''
if [ ! -r "$KALLSYMS" ]; then
    SYM_LINE="skipped: cannot read $KALLSYMS"
elif ! have python3; then
    SYM_LINE="skipped: python3 (used to draw the addresses) is not installed"
else
    log "generating $NADDR addresses from $KALLSYMS ..."
    python3 - "$KALLSYMS" "$NADDR" >"$TMP/addrs" <<'EOF'
import bisect, random, sys
path, n = sys.argv[1], int(sys.argv[2])
starts, text = set(), []
for line in open(path):
    p = line.split()
    if len(p) < 3:
        continue
    a = int(p[0], 16)
    starts.add(a)
    if p[1] in "TtWw" and a:
        text.append(a)
if not text:
    sys.exit("no text symbols with addresses (kptr_restrict? run as root)")
starts = sorted(starts)
ranges = []
for a in text:
    i = bisect.bisect_right(starts, a)
    nxt = starts[i] if i < len(starts) else a + 16
    ranges.append((a, max(1, min(nxt - a, 4096))))
rng = random.Random(1)
out = []
for _ in range(n):
    a, size = ranges[rng.randrange(len(ranges))]
    out.append("%x\n" % (a + rng.randrange(size)))
sys.stdout.write("".join(out))
EOF
    if [ $? -ne 0 ] || [ ! -s "$TMP/addrs" ]; then
        SYM_LINE="skipped: could not draw addresses from $KALLSYMS"
    else
        log "probeaddr symbolize ($NADDR addresses) ..."
        : >"$TMP/sym.wall"
        : >"$TMP/sym.rss"
        "$PA" symbolize --kallsyms "$KALLSYMS" <"$TMP/addrs" >"$TMP/sym.out" 2>"$TMP/sym.err"
        src=$?
        i=0
        while [ $i -lt "$RUNS" ]; do
            t0=$(now_ns)
            "$PA" symbolize --kallsyms "$KALLSYMS" <"$TMP/addrs" >/dev/null 2>&1
            t1=$(now_ns)
            echo $(((t1 - t0) / 1000)) >>"$TMP/sym.wall"
            if [ -n "$TIME" ]; then
                "$TIME" -f %M -o "$TMP/sym.t" "$PA" symbolize --kallsyms "$KALLSYMS" <"$TMP/addrs" >/dev/null 2>&1
                tail -n 1 "$TMP/sym.t" >>"$TMP/sym.rss"
            fi
            i=$((i + 1))
        done
        # The kallsyms read alone: symbolize one address.
        : >"$TMP/one.wall"
        i=0
        while [ $i -lt "$RUNS" ]; do
            t0=$(now_ns)
            "$PA" symbolize --kallsyms "$KALLSYMS" "$(head -n 1 "$TMP/addrs")" >/dev/null 2>&1
            t1=$(now_ns)
            echo $(((t1 - t0) / 1000)) >>"$TMP/one.wall"
            i=$((i + 1))
        done
        wall=$(median <"$TMP/sym.wall" | awk '{ printf "%.1f", $1 / 1000 }')
        one=$(median <"$TMP/one.wall" | awk '{ printf "%.1f", $1 / 1000 }')
        rss=n/a
        [ -n "$TIME" ] && rss=$(median <"$TMP/sym.rss" | awk '{ printf "%.1f", $1 / 1024 }')
        rate=$(awk -v n="$NADDR" -v w="$wall" 'BEGIN { printf "%.2f", n / w / 1000 }')
        rate2=$(awk -v n="$NADDR" -v w="$wall" -v o="$one" 'BEGIN { if (w > o) printf "%.2f", n / (w - o) / 1000; else print "-" }')
        lines=$(wc -l <"$TMP/sym.out" | tr -d ' ')
        unres=$(grep -vc '+0x' "$TMP/sym.out")
        nks=$(wc -l <"$KALLSYMS" | tr -d ' ')
        SYM_LINE="| \`probeaddr symbolize --kallsyms $KALLSYMS < ADDRS\` | $NADDR | $wall | $one | **$rate M/s** | $rate2 M/s | $rss | exit $src, $lines lines, $unres without +0x |"
        SYM_NOTE="$NADDR addresses drawn (Python random.Random(1)) from the $nks lines of $KALLSYMS: a random text symbol (T/t/W/w) plus a random offset below the gap to the next symbol (at most 4 KiB). Sample output: $(head -n 2 "$TMP/sym.out" | tr '\n' ';' | sed 's/;$//; s/;/; /')"
    fi
fi

# Report.
size_mb=$(awk -v s="$(wc -c <"$VM")" 'BEGIN { printf "%.1f", s / 1e6 }')
echo "## Kernel probe points in \`$VM\`"
echo
echo "- vmlinux: $size_mb MB (kernel $KVER)"
echo "- machine: $(nproc) CPUs, $(uname -sr), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- probeaddr: $BUILD_NOTE"
have perf && echo "- $(perf --version 2>/dev/null)"
have stap && echo "- $(stap --version 2>&1 | head -n 1)${STAP_NOTE:+; $STAP_NOTE}"
echo "- $RUNS timed runs per tool after one warm-up run (page cache warm); wall = median, min-max; peak RSS = median of /usr/bin/time -f %M"
echo
echo "| tool | command | answer | wall ms (median) | wall ms (min-max) | peak RSS MB | time vs probeaddr |"
echo "|---|---|---|---:|---:|---:|---:|"
cat "$ROWS"
if [ -s "$COLD" ]; then
    echo
    echo "### True cold cache (sync; echo 3 > /proc/sys/vm/drop_caches before each run; one run)"
    echo
    echo "| run | wall ms | peak RSS MB |"
    echo "|---|---:|---:|"
    awk '{ printf "| %s | %s | %s |\n", $1, $2, $3 }' "$COLD"
fi
echo
echo "### End-to-end symbolize throughput"
echo
case $SYM_LINE in
'|'*)
    echo "| command | addresses | wall ms (median) | wall ms, 1 address | addresses/s (total) | addresses/s (minus the 1-address run) | peak RSS MB | output |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    echo "$SYM_LINE"
    echo
    echo "$SYM_NOTE"
    ;;
*) echo "$SYM_LINE" ;;
esac
