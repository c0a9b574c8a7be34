#!/bin/sh
# Compare probeaddr with perf probe, gdb and addr2line at resolving one
# function by name in a large binary: wall time (median of N runs) and peak
# RSS (median of N runs of /usr/bin/time -f %M), plus each tool's answer so a
# reader can see that they agree. Prints a Markdown report on stdout;
# progress goes to stderr.
#
# Usage: benches/compare.sh [BIN [FUNC [RUNS]]]
#   BIN   default: $PROBEADDR_BENCH_BIN, else the largest libLLVM found
#         (rustup toolchains, /usr/lib/x86_64-linux-gnu), preferring files
#         with a .symtab -- the same default as benches/resolve.rs
#   FUNC  default: $PROBEADDR_BENCH_FUNC, else LLVMParseIRInContext
#   RUNS  default: 5 (one extra warm-up run per tool is not counted)
#
# Environment: PROBEADDR_EXE=/path/to/probeaddr skips the release build.
#
# All runs are with a warm page cache (the warm-up run loads the file).
# Wall time is taken with `date +%s%N` around a bare run, so it includes
# about 1-2 ms of fork/exec overhead for every tool alike.

set -u

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
DEFAULT_FUNC=LLVMParseIRInContext

log() { printf '%s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

has_symtab() {
    have readelf || return 1
    readelf -SW "$1" 2>/dev/null | grep -q ' \.symtab '
}

pick_binary() {
    best=''
    best_size=-1
    best_sym=0
    for f in "${RUSTUP_HOME:-${HOME:-}/.rustup}"/toolchains/*/lib/libLLVM*.so* \
        /usr/lib/x86_64-linux-gnu/libLLVM*.so*; do
        [ -f "$f" ] || continue
        # Symlinked toolchains name the same file twice: use its real path.
        f=$(readlink -f -- "$f" 2>/dev/null || printf '%s' "$f")
        size=$(wc -c <"$f" 2>/dev/null) || continue
        if has_symtab "$f"; then sym=1; else sym=0; fi
        if [ "$sym" -gt "$best_sym" ] || { [ "$sym" -eq "$best_sym" ] && [ "$size" -gt "$best_size" ]; }; then
            best=$f
            best_size=$size
            best_sym=$sym
        fi
    done
    printf '%s' "$best"
}

BIN=${1:-${PROBEADDR_BENCH_BIN:-}}
FUNC=${2:-${PROBEADDR_BENCH_FUNC:-$DEFAULT_FUNC}}
RUNS=${3:-5}

if [ -z "$BIN" ]; then
    BIN=$(pick_binary)
fi
if [ -z "$BIN" ] || [ ! -f "$BIN" ]; then
    log "compare.sh: no binary (give one as the first argument or set PROBEADDR_BENCH_BIN)"
    exit 2
fi
case $RUNS in '' | *[!0-9]* | 0)
    log "compare.sh: RUNS must be a positive integer"
    exit 2
    ;;
esac

# /usr/bin/time (GNU time) for peak RSS.
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
        log "compare.sh: build failed; using the existing $PA"
    else
        log "compare.sh: build failed and no existing probeaddr binary"
        exit 1
    fi
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/probeaddr-compare.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

now_ns() { date +%s%N; }

median() { # numbers on stdin, one a line
    sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# measure NAME CMD...: sets M_STATUS (ok|failed), M_WALL, M_MIN, M_MAX (ms),
# M_RSS (MB); the command's stdout of the last run is in $TMP/NAME.out.
measure() {
    name=$1
    shift
    : >"$TMP/$name.wall"
    : >"$TMP/$name.rss"
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

# row TOOL COMMAND ANSWER
row() {
    if [ -n "$PA_WALL" ] && [ "$M_STATUS" = ok ]; then
        ratio=$(awk -v a="$M_WALL" -v b="$PA_WALL" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')
    else
        ratio=-
    fi
    if [ "$M_STATUS" = ok ]; then
        printf '| %s | `%s` | %s | %s | %s-%s | %s | %s |\n' "$1" "$2" "$3" "$M_WALL" "$M_MIN" "$M_MAX" "$M_RSS" "$ratio" >>"$ROWS"
    else
        err=$(head -n 1 "$TMP/$CUR.err" | tr '|' '/' | cut -c1-120)
        printf '| %s | `%s` | %s: %s | %s | %s-%s | %s | %s |\n' "$1" "$2" "$M_STATUS" "$err" "$M_WALL" "$M_MIN" "$M_MAX" "$M_RSS" "-" >>"$ROWS"
    fi
}

missing() { # TOOL COMMAND
    printf '| %s | `%s` | not installed | - | - | - | - |\n' "$1" "$2" >>"$ROWS"
}

first_match() { # PATTERN FILE: the first match of an extended regex
    grep -Eo "$1" "$2" 2>/dev/null | head -n 1
}

# 1. probeaddr
LINK_ADDR=''
CUR=probeaddr
if [ -x "$PA" ]; then
    log "probeaddr ..."
    measure probeaddr "$PA" resolve -x "$BIN" "$FUNC" --format uprobe
    [ "$M_STATUS" = ok ] && PA_WALL=$M_WALL
    off=$(sed -n 's/.*:\(0x[0-9a-fA-F]*\)$/\1/p' "$TMP/probeaddr.out" | tr '\n' ' ' | sed 's/ $//')
    "$PA" resolve -x "$BIN" "$FUNC" --format json >"$TMP/probeaddr.json" 2>/dev/null
    LINK_ADDR=$(first_match '"link_addr": *"0x[0-9a-fA-F]+"' "$TMP/probeaddr.json" | grep -Eo '0x[0-9a-fA-F]+')
    nloc=$(grep -c '^p:' "$TMP/probeaddr.out")
    row probeaddr "probeaddr resolve -x BIN $FUNC --format uprobe" "file offset ${off:-?} (link addr ${LINK_ADDR:-?}; $nloc location(s))"
else
    missing probeaddr "probeaddr resolve -x BIN $FUNC --format uprobe"
fi

# 2. perf probe
CUR=perf
if have perf; then
    log "perf probe ..."
    measure perf perf probe -x "$BIN" -D "$FUNC"
    off=$(sed -n 's/.*:\(0x[0-9a-fA-F]*\)$/\1/p' "$TMP/perf.out" | tr '\n' ' ' | sed 's/ $//')
    row "perf probe" "perf probe -x BIN -D $FUNC" "file offset ${off:-?}"
else
    missing "perf probe" "perf probe -x BIN -D $FUNC"
fi

# 3. gdb
CUR=gdb
if have gdb; then
    log "gdb ..."
    measure gdb gdb -batch -nx -ex "info address $FUNC" "$BIN"
    addr=$(first_match 'is at 0x[0-9a-fA-F]+' "$TMP/gdb.out" | sed 's/is at //')
    row gdb "gdb -batch -nx -ex 'info address $FUNC' BIN" "link addr ${addr:-? ($(head -n 1 "$TMP/gdb.out" | tr '|' '/'))}"
else
    missing gdb "gdb -batch -nx -ex 'info address $FUNC' BIN"
fi

# 4. addr2line (the reverse direction: address -> name)
CUR=addr2line
if ! have addr2line; then
    missing addr2line "addr2line -f -e BIN ADDR"
elif [ -z "$LINK_ADDR" ]; then
    printf '| addr2line | `addr2line -f -e BIN ADDR` | skipped: no address from probeaddr | - | - | - | - |\n' >>"$ROWS"
else
    log "addr2line ..."
    measure addr2line addr2line -f -e "$BIN" "$LINK_ADDR"
    name=$(head -n 1 "$TMP/addr2line.out")
    row addr2line "addr2line -f -e BIN $LINK_ADDR" "$LINK_ADDR is in \`${name:-?}\`"
fi

# Report.
size_mb=$(awk -v s="$(wc -c <"$BIN")" 'BEGIN { printf "%.1f", s / 1e6 }')
if has_symtab "$BIN"; then symtab=yes; else symtab=no; fi
echo "## Resolving \`$FUNC\` in \`$BIN\`"
echo
echo "- binary: $size_mb MB, .symtab: $symtab"
echo "- machine: $(nproc) CPUs, $(uname -sr), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- probeaddr: $BUILD_NOTE"
have perf && echo "- $(perf --version 2>/dev/null)"
have gdb && echo "- $(gdb --version 2>/dev/null | head -n 1)"
have addr2line && echo "- $(addr2line --version 2>/dev/null | head -n 1)"
echo "- $RUNS timed runs per tool after one warm-up run (page cache warm); wall = median, min-max; peak RSS = median of /usr/bin/time -f %M"
echo
echo "| tool | command | answer | wall ms (median) | wall ms (min-max) | peak RSS MB | time vs probeaddr |"
echo "|---|---|---|---:|---:|---:|---:|"
cat "$ROWS"
