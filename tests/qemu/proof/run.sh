#!/bin/sh
# Guest half of the kernel proof (crates/probeaddr-cli/tests/suite/qemu.rs):
# runs inside Debian's 6.1 cloud kernel under QEMU with KASLR on. The host
# made the plans from the debug vmlinux and .ko files; here probeaddr only
# links them (kallsyms, sysfs, build-ids) and the kernel shows where each
# probe landed. Everything is printed between markers for the host to check.
P=/payload
T=/sys/kernel/tracing
K=/sys/kernel/debug/kprobes/list

for m in $(cat $P/modules/order); do
    insmod $P/modules/$m || echo "INSMOD-FAIL $m"
done
echo "TEXT $(grep ' T _text$' /proc/kallsyms | cut -d' ' -f1)"
echo "AFKEY-TEXT $(cat /sys/module/af_key/sections/.text)"

for form in text symbol address; do
    if ! $P/probeaddr link $P/plan_all.json --format kprobe --form $form --group pa_$form >/tmp/defs.$form 2>/tmp/err.$form; then
        echo "LINK-FAIL $form"
        cat /tmp/err.$form
    fi
    echo "DEFS-BEGIN $form"
    cat /tmp/defs.$form
    echo "DEFS-END $form"
    while read -r line; do
        echo "$line" >>$T/kprobe_events || { echo "WRITE-FAIL $form $line"; tail -3 $T/error_log; }
    done </tmp/defs.$form
    echo "LIST-BEGIN $form"
    cat $K
    echo "LIST-END $form"
    sed 's/^[pr]:\([^ ]*\) .*/-:\1/' /tmp/defs.$form | while read -r del; do
        echo "$del" >>$T/kprobe_events || echo "REMOVE-FAIL $del"
    done
done

# One duplicated static, traced: its hits must all be that copy (%ip).
(
    sleep 2
    i=0
    while [ $i -lt 40 ]; do sleep 20 & i=$((i + 1)); done
    ls -R /proc >/dev/null 2>&1
) &
$P/probeaddr trace --plan $P/plan_proc.json --json --duration 8s >/tmp/hits 2>/tmp/trace.err
echo "TRACE-RC $?"
cat /tmp/trace.err
echo "HITS-COUNT $(wc -l </tmp/hits)"
echo "HITS-BEGIN"
head -20 /tmp/hits
echo "HITS-END"
echo "LEFTOVER-BEGIN"
cat $T/kprobe_events
echo "LEFTOVER-END"

# Fetch arguments on a live kernel: dd reads 4321 bytes of a 5000-byte
# file, once. First through a plan made on the host from DWARF (with
# jiffies, a global, at @_text+OFF), then through the guest's own BTF.
# Each trace runs dd itself after its probes are enabled and records dd's
# events only.
echo "UPTIME-BEFORE $(cut -d' ' -f1 /proc/uptime)"
$P/probeaddr trace --plan $P/plan_read.json --json -- dd if=$P/known of=/dev/null bs=4321 count=1 >/tmp/rhits 2>/tmp/rtrace.err
echo "READ-RC $?"
echo "UPTIME-AFTER $(cut -d' ' -f1 /proc/uptime)"
cat /tmp/rtrace.err
echo "READ-BEGIN"
cat /tmp/rhits
echo "READ-END"
$P/probeaddr resolve 'vfs_read count file->f_pos buf' --format kprobe >/tmp/btfdef 2>/tmp/btferr
echo "BTF-DEF-RC $?"
cat /tmp/btferr
echo "BTF-DEF-BEGIN"
cat /tmp/btfdef
echo "BTF-DEF-END"
$P/probeaddr trace 'vfs_read count file->f_pos' 'vfs_read%return $retval' 'do_sys_openat2 filename:ustring dfd' --json -- dd if=$P/known of=/dev/null bs=4321 count=1 >/tmp/bhits 2>/tmp/btrace.err
echo "BTF-TRACE-RC $?"
cat /tmp/btrace.err
echo "BTF-HITS-BEGIN"
cat /tmp/bhits
echo "BTF-HITS-END"
# shellcheck disable=SC2046
$P/probeaddr vars --format json $(cat $P/btf_funcs) >/tmp/bvars 2>/tmp/bvars.err
echo "BTF-VARS-RC $?"
cat /tmp/bvars.err
echo "BTF-VARS-BEGIN"
cat /tmp/bvars
echo "BTF-VARS-END"
# A loaded module's split BTF (/sys/kernel/btf/af_key), on the kernel's.
$P/probeaddr vars --format json 'module("af_key").function("pfkey_create")' >/tmp/mvars 2>/tmp/mvars.err
echo "MOD-VARS-RC $?"
cat /tmp/mvars.err
echo "MOD-VARS-BEGIN"
cat /tmp/mvars
echo "MOD-VARS-END"
echo "LEFTOVER2-BEGIN"
cat $T/kprobe_events
echo "LEFTOVER2-END"

# Negative controls: what the kernel itself refuses.
echo "p:neg/bare init_once" >>$T/kprobe_events 2>/tmp/e1
echo "NEG-BARE rc=$? $(cat /tmp/e1) | $(tail -3 $T/error_log | head -1)"
echo "p:neg/mid $(cat $P/mid.txt)" >>$T/kprobe_events 2>/tmp/e2
echo "NEG-MID rc=$? $(cat /tmp/e2) | $(tail -3 $T/error_log | head -1)"
echo "p:neg/int3 exc_int3" >>$T/kprobe_events 2>/tmp/e3
echo "NEG-INT3 rc=$? $(cat /tmp/e3)"
# A clone of a NOKPROBE_SYMBOL function: refused by name, not listed.
echo "p:neg/clone nmi_handle.part.0" >>$T/kprobe_events 2>/tmp/e4
echo "NEG-CLONE rc=$? $(cat /tmp/e4)"

# The kernel's own kprobe blacklist, to check probeaddr's offline one.
echo "BLACKLIST-BEGIN"
cat /sys/kernel/debug/kprobes/blacklist
echo "BLACKLIST-END"
exit 0
