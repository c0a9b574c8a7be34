//! Proof on a real kernel: Debian's linux-image-6.1.0-56-cloud-amd64 booted
//! in QEMU (TCG, KASLR on) by scripts/qemu-guest, running a static probeaddr
//! that links plans made here from the debug vmlinux and .ko files. The
//! kernel's own /sys/kernel/debug/kprobes/list says where each probe landed.
//! Needs the Debian kernel cache (scripts/test fetches it); without it the test fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fixtures::{hexfield, probeaddr};
use super::oracle;

use super::debian::KVER;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A static probeaddr for the guest (its own target dir, so it does not
/// fight the test build for the lock).
fn static_probeaddr() -> PathBuf {
    let ws = workspace();
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "probeaddr-cli",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", ws.join("target/static"))
        .current_dir(&ws)
        .status()
        .unwrap();
    assert!(status.success(), "static build failed");
    ws.join("target/static/x86_64-unknown-linux-gnu/release/probeaddr")
}

fn hexnum(s: &str) -> u64 {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| panic!("not hex: {s:?}"))
}

/// Lines between `BEGIN tag` and `END tag` markers.
fn section<'a>(log: &'a str, begin: &str, end: &str) -> Vec<&'a str> {
    log.lines()
        .skip_while(|l| *l != begin)
        .skip(1)
        .take_while(|l| *l != end)
        .collect()
}

#[test]
fn plans_link_and_probe_in_a_real_kaslr_kernel() {
    let cache = super::debian::cache();
    let root = cache.join("root");
    let vmlinux = root
        .join("usr/lib/debug/boot")
        .join(format!("vmlinux-{KVER}"));
    let moddir = root.join("lib/modules").join(KVER).join("kernel");
    // The same modules with DWARF (the debug package's), for the plan;
    // the guest loads the stripped ones, of the same build-ids.
    let debug_moddir = root
        .join("usr/lib/debug/lib/modules")
        .join(KVER)
        .join("kernel");
    let v = vmlinux.to_str().unwrap();
    let payload = std::env::temp_dir().join(format!("probeaddr-qemu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&payload);
    std::fs::create_dir_all(payload.join("modules")).unwrap();

    // Plans, made here: every init_once and every cmask_show copy, and a
    // module function; and the fs/proc/inode.c copy alone, fetching %ip.
    let all = probeaddr([
        "plan",
        "-k",
        v,
        "--module-dir",
        debug_moddir.to_str().unwrap(),
        "--offline",
        "init_once",
        "cmask_show",
        // With two of the module's statics: the kernel must find
        // @SYM itself when the definition is written.
        r#"module("af_key").function("pfkey_create") $pfkey_net_id $key_proto.obj_size"#,
    ]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    std::fs::write(payload.join("plan_all.json"), &all.stdout).unwrap();
    let plan: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    let probes = plan["locations"].as_array().unwrap();
    assert_eq!(probes.len(), 8 + 5 + 1);
    let proc = probeaddr([
        "plan",
        "-k",
        v,
        "--offline",
        "init_once@fs/proc/inode.c",
        "--arg",
        "ip=%ip",
    ]);
    assert_eq!(proc.code, 0, "{}", proc.stderr);
    std::fs::write(payload.join("plan_proc.json"), &proc.stdout).unwrap();
    let proc_off = hexfield(
        &serde_json::from_str::<serde_json::Value>(&proc.stdout).unwrap()["locations"][0]["anchor"],
        "offset",
    );
    std::fs::write(
        payload.join("mid.txt"),
        format!("_text+{:#x}", proc_off + 1),
    )
    .unwrap();

    // Fetch arguments: vfs_read's, and jiffies, from DWARF here; a file
    // for dd to read 4321 bytes of; the functions whose parameters the
    // guest's BTF must place as this DWARF does.
    let read = probeaddr([
        "plan",
        "-k",
        v,
        "--offline",
        "vfs_read count file->f_pos buf jiffies:u64",
    ]);
    assert_eq!(read.code, 0, "{}", read.stderr);
    std::fs::write(payload.join("plan_read.json"), &read.stdout).unwrap();
    let read_args: Vec<String> = serde_json::from_str::<serde_json::Value>(&read.stdout).unwrap()
        ["locations"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    std::fs::write(payload.join("known"), vec![b'x'; 5000]).unwrap();
    let funcs = super::btf::fifty_functions(&oracle::nm_kallsyms(&vmlinux, &[]));
    std::fs::write(payload.join("btf_funcs"), funcs.join("\n")).unwrap();
    let dwarf = super::btf::params_by_function(&super::btf::vars_json(&["-k", v], &funcs).stdout);

    // probeaddr itself refuses both negative controls before writing anything.
    let e = probeaddr([
        "resolve",
        "-k",
        v,
        "--offline",
        "init_once@fs/proc/inode.c+1",
    ])
    .error();
    assert!(e.contains("is inside an instruction"), "{e}");
    let sym = probeaddr([
        "resolve",
        "-k",
        v,
        "--offline",
        "init_once",
        "--format",
        "kprobe",
        "--form",
        "symbol",
    ]);
    assert_eq!(sym.stdout.lines().count(), 8);
    assert!(
        !sym.stdout.contains(" init_once+"),
        "never the ambiguous name: {}",
        sym.stdout
    );

    // Payload: the guest script, a static probeaddr, af_key and its dependency.
    std::fs::copy(
        workspace().join("tests/qemu/proof/run.sh"),
        payload.join("run.sh"),
    )
    .unwrap();
    std::fs::copy(static_probeaddr(), payload.join("probeaddr")).unwrap();
    for m in ["net/xfrm/xfrm_algo.ko", "net/key/af_key.ko"] {
        let name = Path::new(m).file_name().unwrap();
        std::fs::copy(moddir.join(m), payload.join("modules").join(name)).unwrap();
    }
    std::fs::write(payload.join("modules/order"), "xfrm_algo.ko\naf_key.ko\n").unwrap();

    // Boot; KASLR may, rarely, pick slide 0: then boot again.
    let log_path = payload.with_extension("log");
    let mut log = String::new();
    for _ in 0..3 {
        let st = Command::new("sh")
            .arg(workspace().join("scripts/qemu-guest"))
            .arg(&cache)
            .arg(&payload)
            .arg(&log_path)
            .arg("240")
            .status()
            .unwrap();
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert_eq!(st.code(), Some(0), "guest failed:\n{log}");
        let text = log
            .lines()
            .find_map(|l| l.strip_prefix("TEXT "))
            .map(hexnum)
            .unwrap();
        if text != 0xffff_ffff_8100_0000 {
            break;
        }
    }
    let text = log
        .lines()
        .find_map(|l| l.strip_prefix("TEXT "))
        .map(hexnum)
        .unwrap();
    assert_ne!(text, 0xffff_ffff_8100_0000, "KASLR is on: _text moved");
    assert!(
        !log.contains("INSMOD-FAIL")
            && !log.contains("LINK-FAIL")
            && !log.contains("WRITE-FAIL")
            && !log.contains("REMOVE-FAIL"),
        "{log}"
    );
    let afkey = log
        .lines()
        .find_map(|l| l.strip_prefix("AFKEY-TEXT "))
        .map(hexnum)
        .unwrap();

    // Every probe, in every form, at the address the plan meant.
    let mut want: BTreeMap<u64, String> = BTreeMap::new();
    for p in probes {
        let a = &p["anchor"];
        let addr = match a["kind"].as_str().unwrap() {
            "kernel_text" => text + hexfield(a, "offset"),
            "module_section" => {
                assert_eq!(a["section"], ".text");
                afkey + hexfield(a, "offset")
            }
            k => panic!("{k}"),
        };
        want.insert(addr, format!("{} [{}]", p["symbol"], p["file"]));
    }
    for form in ["text", "symbol", "address"] {
        let defs = section(
            &log,
            &format!("DEFS-BEGIN {form}"),
            &format!("DEFS-END {form}"),
        );
        assert_eq!(defs.len(), probes.len(), "{form}: {defs:?}");
        match form {
            "text" => assert_eq!(
                defs.iter().filter(|d| d.contains(" _text+0x")).count(),
                13,
                "{defs:?}"
            ),
            "symbol" => assert!(
                defs.iter()
                    .all(|d| !d.contains(" init_once+") && !d.contains(" cmask_show+")),
                "{defs:?}"
            ),
            _ => {}
        }
        assert!(
            defs.iter().any(|d| d.contains(" af_key:pfkey_create+0x0 ")) || form == "address",
            "{defs:?}"
        );
        // The module's statics by their own symbols, unique kernel-wide
        // (key_proto.obj_size is 0x160 into struct proto, as gdb says).
        assert!(
            defs.iter().any(|d| d
                .ends_with(" pfkey_net_id=@pfkey_net_id+0x0:u32 obj_size=@key_proto+0x160:u32")),
            "{defs:?}"
        );
        let list = section(
            &log,
            &format!("LIST-BEGIN {form}"),
            &format!("LIST-END {form}"),
        );
        let placed: Vec<u64> = list
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .map(hexnum)
            .collect();
        for (addr, what) in &want {
            assert!(
                placed.contains(addr),
                "{form}: {what} not at {addr:#x}; kprobes/list:\n{}",
                list.join("\n")
            );
        }
        assert_eq!(placed.len(), want.len(), "{form}: {list:?}");
        // kprobes/list names each init_once copy init_once+0x0: the name
        // alone could not have told them apart, the addresses do.
    }

    // Hits of the traced copy come from that copy only.
    let count: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("HITS-COUNT "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(count > 0, "init_once@fs/proc/inode.c never fired:\n{log}");
    // x86 kprobes report regs->ip one past the probed address (the int3
    // convention, kept by ftrace-based kprobes too).
    let want_ip = format!("ip=0x{:x}", text + proc_off + 1);
    for h in section(&log, "HITS-BEGIN", "HITS-END") {
        let v: serde_json::Value = serde_json::from_str(h).unwrap_or_else(|e| panic!("{h}: {e}"));
        assert!(
            v["detail"].as_str().unwrap().contains(&want_ip),
            "{h} (want {want_ip})"
        );
        assert_eq!(v["location"], "init_once [fs/proc/inode.c] +0x0");
    }
    assert!(log.contains("TRACE-RC 0"), "{log}");
    assert!(
        section(&log, "LEFTOVER-BEGIN", "LEFTOVER-END").is_empty(),
        "trace left probes behind"
    );

    check_fetch_arguments(&log, &read_args, &funcs, &dwarf);

    // The kernel refuses what probeaddr never writes.
    let bare = log.lines().find(|l| l.starts_with("NEG-BARE")).unwrap();
    assert!(
        bare.contains("Cannot assign requested address")
            && bare.contains("The symbol is not unique"),
        "EADDRNOTAVAIL: {bare}"
    );
    let mid = log.lines().find(|l| l.starts_with("NEG-MID")).unwrap();
    assert!(
        mid.contains("Invalid or incomplete multibyte")
            && mid.contains("not an instruction boundary"),
        "EILSEQ: {mid}"
    );
    // The kernel's own blacklist: every function it lists, probeaddr
    // refuses offline from the vmlinux alone, and none it does not list
    // (outside .init.text, which the running kernel has freed).
    let int3 = log.lines().find(|l| l.starts_with("NEG-INT3")).unwrap();
    assert!(int3.contains("Invalid argument"), "EINVAL: {int3}");
    // A clone of a listed function is refused by name (within_kprobe_blacklist
    // looks up the name before the '.'), though the list does not show it.
    let clone = log.lines().find(|l| l.starts_with("NEG-CLONE")).unwrap();
    assert!(clone.contains("Invalid argument"), "EINVAL: {clone}");
    check_blacklist(v, text, &section(&log, "BLACKLIST-BEGIN", "BLACKLIST-END"));
    let _ = std::fs::remove_dir_all(&payload);
    let _ = std::fs::remove_file(payload.with_extension("log"));
}

/// `/sys/kernel/debug/kprobes/blacklist` of the guest (`0xSTART-0xEND\tSYM`,
/// runtime addresses with `_text` at `text`) against probeaddr's offline
/// verdict on the vmlinux's functions.
fn check_blacklist(v: &str, text: u64, guest: &[&str]) {
    const LINK_TEXT: u64 = 0xffff_ffff_8100_0000;
    let mut listed: Vec<(u64, u64)> = Vec::new();
    for l in guest {
        let (range, sym) = l.split_once('\t').unwrap_or_else(|| panic!("{l:?}"));
        if sym.contains('[') {
            continue; // a module's
        }
        let (a, b) = range.split_once('-').unwrap();
        listed.push((hexnum(a) - text + LINK_TEXT, hexnum(b) - text + LINK_TEXT));
    }
    assert!(listed.len() > 100, "{guest:?}");
    let funcs = super::oracle::readelf_funcs(Path::new(v), false);
    let init = super::oracle::readelf_sections(Path::new(v))
        .into_iter()
        .find(|(_, n)| n == ".init.text")
        .map(|(i, _)| i.to_string())
        .unwrap();
    let in_list = |a: u64| listed.iter().any(|&(s, e)| s <= a && a < e);
    // Blacklisted functions by their (unique) names, and every 97th other
    // function, in one batch.
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &funcs {
        *count.entry(f.name.as_str()).or_default() += 1;
    }
    let mut names: Vec<&str> = Vec::new();
    let mut others = 0;
    for f in &funcs {
        if count[f.name.as_str()] != 1 || f.name.contains('.') || f.name.starts_with("__pfx_") {
            continue;
        }
        if in_list(f.value) {
            names.push(&f.name);
        } else if f.ndx != init {
            others += 1;
            if others % 97 == 0 {
                names.push(&f.name);
            }
        }
    }
    let mut args = vec![
        "resolve",
        "-k",
        v,
        "--offline",
        "--no-inlines",
        "--format",
        "json",
    ];
    args.extend(names.iter().copied());
    let got = probeaddr(&args).json();
    let (mut refused, mut allowed) = (0, 0);
    for l in &got {
        let a = hexfield(l, "addr");
        let ours = !l["kprobe_refused"].is_null();
        let by_name = l["kprobe_refused"]
            .as_str()
            .is_some_and(|r| r.contains("is a clone of"));
        assert_eq!(
            ours,
            in_list(a) || by_name,
            "{} at {a:#x}: {}",
            l["symbol"],
            l["kprobe_refused"]
        );
        if ours {
            refused += 1;
        } else {
            allowed += 1;
        }
    }
    assert!(
        refused > 100 && allowed > 100,
        "{refused} refused, {allowed} allowed"
    );
    eprintln!(
        "kprobe blacklist: {refused} refused and {allowed} allowed, as the guest kernel lists"
    );
}

/// The values a real kernel fetched: dd's read(2) of 4321 bytes, through
/// the host's DWARF plan and through the guest's own BTF; and the guest's
/// BTF placing the parameters of the fifty functions as DWARF does.
fn check_fetch_arguments(
    log: &str,
    read_args: &[String],
    funcs: &[String],
    dwarf: &BTreeMap<String, super::btf::Params>,
) {
    assert_eq!(
        read_args,
        [
            "count=%dx:u64",
            "f_pos=+104(%di):s64",
            "buf=%si:x64",
            &format!(
                "jiffies_u64=@_text+{:#x}:u64",
                oracle::readelf_objects(
                    &super::debian::root()
                        .join("usr/lib/debug/boot")
                        .join(format!("vmlinux-{KVER}")),
                    "jiffies",
                    None
                )[0] - 0xffff_ffff_8100_0000
            ),
        ]
    );
    assert!(log.contains("READ-RC 0"), "{log}");
    let uptime = |tag: &str| -> f64 {
        log.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (before, after) = (uptime("UPTIME-BEFORE "), uptime("UPTIME-AFTER "));
    let hits: Vec<serde_json::Value> = section(log, "READ-BEGIN", "READ-END")
        .iter()
        .map(|h| serde_json::from_str(h).unwrap_or_else(|e| panic!("{h}: {e}")))
        .collect();
    // dd's own read of its input; its other reads (none, with busybox)
    // would have other counts.
    let dd: Vec<&serde_json::Value> = hits.iter().filter(|h| h["args"]["count"] == 4321).collect();
    assert_eq!(dd.len(), 1, "{hits:?}");
    let a = &dd[0]["args"];
    assert_eq!(a["f_pos"], 0, "a fresh file is read from its start");
    let buf = hexnum(a["buf"].as_str().unwrap());
    assert!(
        buf != 0 && buf < 0x0000_8000_0000_0000,
        "dd's buffer is user memory: {a}"
    );
    // jiffies counts HZ=250 ticks from INITIAL_JIFFIES (2^32 - 300 s of
    // ticks, to wrap early); /proc/uptime was read just before and after.
    let jiffies = a["jiffies_u64"].as_i64().unwrap() as f64;
    let since_boot = (jiffies - (4294967296.0 - 300.0 * 250.0)) / 250.0;
    assert!(
        since_boot > before - 1.0 && since_boot < after + 1.0,
        "jiffies {jiffies} is {since_boot} s after boot, uptime {before}..{after}"
    );

    // The guest's BTF: the same fetch arguments as the host's DWARF.
    assert!(log.contains("BTF-DEF-RC 0"), "{log}");
    let def = section(log, "BTF-DEF-BEGIN", "BTF-DEF-END");
    assert_eq!(def.len(), 1, "{def:?}");
    assert!(
        def[0].ends_with(" count=%dx:u64 f_pos=+104(%di):s64 buf=%si:x64"),
        "{def:?}"
    );
    assert!(log.contains("BTF-TRACE-RC 0"), "{log}");
    let hits: Vec<serde_json::Value> = section(log, "BTF-HITS-BEGIN", "BTF-HITS-END")
        .iter()
        .map(|h| serde_json::from_str(h).unwrap_or_else(|e| panic!("{h}: {e}")))
        .collect();
    let entry: Vec<_> = hits.iter().filter(|h| h["args"]["count"] == 4321).collect();
    assert_eq!(entry.len(), 1, "{hits:?}");
    assert_eq!(entry[0]["args"]["f_pos"], 0);
    // And the read returned the 4321 bytes it asked for.
    let returned: Vec<_> = hits
        .iter()
        .filter(|h| h["args"]["retval"] == 4321)
        .collect();
    assert_eq!(returned.len(), 1, "{hits:?}");
    // open(2)'s path, read from user memory (':ustring') through BTF's
    // 'const char *filename': dd opens its input once.
    let opened: Vec<_> = hits
        .iter()
        .filter(|h| h["args"]["filename_ustring"] == "/payload/known")
        .collect();
    assert_eq!(opened.len(), 1, "{hits:?}");
    assert_eq!(opened[0]["args"]["dfd"], -100, "AT_FDCWD");
    assert!(
        section(log, "LEFTOVER2-BEGIN", "LEFTOVER2-END").is_empty(),
        "trace left probes behind"
    );

    // af_key's parameters from its split BTF in the guest, as its DWARF
    // here says.
    assert!(log.contains("MOD-VARS-RC 0"), "{log}");
    let guest =
        super::btf::params_by_function(&section(log, "MOD-VARS-BEGIN", "MOD-VARS-END").join("\n"));
    let ko = super::debian::root()
        .join("usr/lib/debug/lib/modules")
        .join(KVER)
        .join("kernel/net/key/af_key.ko");
    let host = super::btf::params_by_function(
        &super::btf::vars_json(
            &["-m", ko.to_str().unwrap()],
            &[r#"module("af_key").function("pfkey_create")"#],
        )
        .stdout,
    );
    assert_eq!(guest["pfkey_create"].len(), 4, "{guest:?}");
    assert_eq!(guest["pfkey_create"], host["pfkey_create"]);

    let ours =
        super::btf::params_by_function(&section(log, "BTF-VARS-BEGIN", "BTF-VARS-END").join("\n"));
    let chosen: Vec<&str> = funcs.iter().map(String::as_str).collect();
    assert_eq!(
        super::btf::compare(&chosen, dwarf, &ours, log),
        (52, 139, 7, vec![], vec!["blk_freeze_queue".to_string()])
    );
}
