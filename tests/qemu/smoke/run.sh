#!/bin/sh
# Guest payload for scripts/qemu-guest: checks, on the Debian
# 6.1.0-56-cloud-amd64 kernel booted with KASLR, the kernel facts probeaddr
# relies on. Run through tests/qemu/smoke.sh, which stages this file with
# modules/{xfrm_algo,af_key}.ko and a static probeaddr next to it; checks
# whose files are missing are reported as SKIP.
#
# Every check prints `CHECK ok|FAIL|WARN|SKIP NAME: detail`; the exit status is
# the number of FAILs.
#
# init_once in fs/proc/inode.c is at link address 0xffffffff813ea470 in the
# debug vmlinux, so _text+0x3ea470 (_text links at 0xffffffff81000000).
# There are several static functions named init_once in the kernel.
set -u
T=/sys/kernel/tracing
L=/sys/kernel/debug/kprobes/list
OFF=0x3ea470
FAILS=0
P=/payload

check() { # STATUS NAME DETAIL
    echo "CHECK $1 $2: $3"
    [ "$1" != FAIL ] || FAILS=$((FAILS + 1))
}
section() { echo; echo "=== $*"; }
# Add a kprobe_events line; print the write's error and the error_log.
add_kprobe() { # LINE -> sets ADD_ERR to the write error ("" on success)
    : >$T/error_log 2>/dev/null
    ADD_ERR=$( (echo "$1" >>$T/kprobe_events) 2>&1 )
    if [ -z "$ADD_ERR" ]; then
        echo "added: $1"
    else
        echo "write '$1' failed: $ADD_ERR"
        echo "error_log:"
        sed 's/^/  /' $T/error_log
    fi
}

section uname
uname -r
uname -a

section _text / KASLR
TEXT_LINE=$(grep ' _text$' /proc/kallsyms)
echo "$TEXT_LINE"
TEXT=${TEXT_LINE%% *}
echo "cmdline: $(cat /proc/cmdline)"
if [ "$TEXT" = ffffffff81000000 ]; then
    # KASLR can pick slide 0 (one 2 MiB slot of ~490); WARN unless it is off.
    case " $(cat /proc/cmdline) " in
        *" nokaslr "*) check FAIL kaslr "nokaslr on the command line" ;;
        *) check WARN kaslr "_text is at the link address 0xffffffff81000000 (slide 0 this boot)" ;;
    esac
elif [ "$TEXT" = 0000000000000000 ]; then
    check FAIL kaslr "kallsyms addresses are hidden (kptr_restrict?)"
else
    check ok kaslr "_text=0x$TEXT slide=0x$(printf %x $((0x$TEXT - 0xffffffff81000000)))"
fi
WANT=$(printf %016x $((0x$TEXT + OFF)))
echo "expected init_once (fs/proc/inode.c) at _text+$OFF = 0x$WANT"

section kallsyms init_once
grep -w 'init_once' /proc/kallsyms
N=$(grep -c ' init_once$' /proc/kallsyms)
echo "init_once symbols in kallsyms: $N"
AT=$(grep "^$WANT " /proc/kallsyms)
echo "kallsyms at 0x$WANT: $AT"
case $AT in
    *" init_once") check ok kallsyms-at-offset "$AT" ;;
    *) check FAIL kallsyms-at-offset "0x$WANT is '$AT', not init_once" ;;
esac

section kprobe _text+$OFF
echo 0 >$T/tracing_on
: >$T/trace
add_kprobe "p:pa_smoke/io _text+$OFF"
if [ -z "$ADD_ERR" ]; then
    echo "kprobe_events:"; sed 's/^/  /' $T/kprobe_events
    echo "kprobes/list:"; sed 's/^/  /' $L
    GOT=$(grep -E ' k +init_once\+0x0' $L | head -n 1)
    GOT=${GOT%% *}
    if [ "$GOT" = "$WANT" ]; then
        check ok text-offset "registered at 0x$GOT = _text+$OFF ($(grep "^$GOT " $L | tr -s ' '))"
    else
        check FAIL text-offset "kprobes/list has '$GOT', want $WANT"
    fi
else
    check FAIL text-offset "could not add: $ADD_ERR"
fi

section ambiguous bare name
add_kprobe "p:pa_smoke/bad init_once"
case $ADD_ERR in
    *"Cannot assign requested address"*|*"not available"*)
        check ok ambiguous-name "EADDRNOTAVAIL; error_log: $(grep -o 'The symbol is not unique' $T/error_log)" ;;
    "") check FAIL ambiguous-name "accepted"; echo '-:pa_smoke/bad' >>$T/kprobe_events ;;
    *) check FAIL ambiguous-name "unexpected error: $ADD_ERR" ;;
esac

section mid-instruction offset
add_kprobe "p:pa_smoke/mid _text+$(printf 0x%x $((OFF + 1)))"
case $ADD_ERR in
    *"multibyte"*|*"byte sequence"*)
        check ok mid-instruction "EILSEQ" ;;
    "") check FAIL mid-instruction "accepted"; echo '-:pa_smoke/mid' >>$T/kprobe_events ;;
    *) check FAIL mid-instruction "unexpected error: $ADD_ERR" ;;
esac

section trigger init_once '(proc_inode_cache constructor)'
if [ -d $T/events/pa_smoke/io ]; then
    grep '^proc_inode_cache ' /proc/slabinfo | sed 's/^/slabinfo before: /'
    echo 1 >$T/events/pa_smoke/io/enable
    echo 1 >$T/tracing_on
    ls -R /proc >/dev/null 2>&1
    # More proc inodes: per-task directories of fresh processes.
    i=0
    while [ $i -lt 50 ]; do
        sleep 5 & pid=$!
        ls -l /proc/$pid /proc/$pid/task/$pid /proc/$pid/fd >/dev/null 2>&1
        i=$((i + 1))
    done
    echo 0 >$T/tracing_on
    echo 0 >$T/events/pa_smoke/io/enable
    grep '^proc_inode_cache ' /proc/slabinfo | sed 's/^/slabinfo after:  /'
    echo "kprobe_profile:"; sed 's/^/  /' $T/kprobe_profile
    HITS=$(grep -c ' io: ' $T/trace)
    echo "first trace lines:"; grep ' io: ' $T/trace | head -n 3 | sed 's/^/  /'
    if [ "$HITS" -gt 0 ]; then
        check ok init-once-fires "$HITS hits in trace"
    else
        check FAIL init-once-fires "no hits"
    fi
    kill $(jobs -p) 2>/dev/null
else
    check SKIP init-once-fires "no pa_smoke/io event"
fi

section af_key module
if [ -f $P/modules/af_key.ko ]; then
    for m in $(cat $P/modules/order 2>/dev/null || echo xfrm_algo af_key); do
        if out=$(insmod $P/modules/$m.ko 2>&1); then
            echo "insmod $m.ko: ok"
        else
            echo "insmod $m.ko: $out"
            dmesg | tail -n 5 | sed 's/^/  dmesg: /'
        fi
    done
    grep -E '^(af_key|xfrm_algo) ' /proc/modules
    SEC=$(cat /sys/module/af_key/sections/.text 2>/dev/null)
    echo "/sys/module/af_key/sections/.text: $SEC"
    grep pfkey_create /proc/kallsyms
    PK=$(grep ' pfkey_create' /proc/kallsyms | head -n 1)
    PK=${PK%% *}
    if [ -n "$SEC" ] && [ -n "$PK" ]; then
        check ok af_key-loaded ".text=$SEC pfkey_create=0x$PK (.text+0x$(printf %x $((0x$PK - SEC))))"
    else
        check FAIL af_key-loaded "section '$SEC' pfkey_create '$PK'"
    fi
    add_kprobe "p:pa_smoke/pk af_key:pfkey_create+0x0"
    if [ -z "$ADD_ERR" ]; then
        echo "kprobe_events:"; sed 's/^/  /' $T/kprobe_events
        echo "kprobes/list:"; sed 's/^/  /' $L
        GOT=$(grep -E 'pfkey_create\+0x0' $L | head -n 1)
        GOT=${GOT%% *}
        if [ -n "$PK" ] && [ "$GOT" = "$PK" ]; then
            check ok module-kprobe "af_key:pfkey_create+0x0 registered at 0x$GOT"
        else
            check FAIL module-kprobe "kprobes/list has '$GOT', kallsyms has '$PK'"
        fi
    else
        check FAIL module-kprobe "could not add: $ADD_ERR"
    fi
else
    check SKIP af_key-loaded "no $P/modules/af_key.ko"
fi

section probeaddr in the guest
if [ -x $P/probeaddr ]; then
    $P/probeaddr --version
    echo "\$ probeaddr symbolize 0x$WANT"
    OUT=$($P/probeaddr symbolize 0x$WANT 2>&1); rc=$?
    echo "$OUT"
    case $OUT in
        *init_once+0x0*) check ok probeaddr-symbolize "$(echo "$OUT" | head -n 1)" ;;
        *) check FAIL probeaddr-symbolize "rc=$rc: $OUT" ;;
    esac
    if [ -n "${PK:-}" ]; then
        echo "\$ probeaddr symbolize 0x$PK"
        $P/probeaddr symbolize 0x$PK 2>&1
    fi
else
    check SKIP probeaddr-symbolize "no $P/probeaddr"
fi

section cleanup
echo 0 >$T/tracing_on
for e in pk io; do
    [ -d $T/events/pa_smoke/$e ] && echo "-:pa_smoke/$e" >>$T/kprobe_events
done
echo "kprobe_events now: $(cat $T/kprobe_events | wc -l) lines"

section summary
echo "FAILS=$FAILS"
exit $FAILS
