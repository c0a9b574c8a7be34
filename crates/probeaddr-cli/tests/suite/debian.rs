//! Debian's linux-image-6.1.0-56-cloud-amd64 with its -dbg package, fetched by
//! scripts/fetch-debian-kernel (scripts/test exports PROBEADDR_DEBIAN_KERNEL).
//! Expected values were established with readelf, gdb and llvm-dwarfdump;
//! the tests recompute what they can with readelf at run time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::fixtures::{hexfield, probeaddr, probeaddr_env};
use super::oracle;

pub(super) const KVER: &str = "6.1.0-56-cloud-amd64";

/// The Debian kernel cache (scripts/fetch-debian-kernel, run by
/// scripts/test): the packages unpacked under `root/`. Missing is a
/// failure, not a pass.
pub(super) fn cache() -> PathBuf {
    kernel_cache(
        "PROBEADDR_DEBIAN_KERNEL",
        KVER,
        &[
            format!("root/usr/lib/debug/boot/vmlinux-{KVER}"),
            format!("root/boot/vmlinuz-{KVER}"),
        ],
        "scripts/fetch-debian-kernel",
    )
}

/// A Debian kernel cache: `$ENV`, else `~/.cache/probeaddr/debian-KVER`,
/// holding each of `need` (else the test fails, naming `fetch`).
pub(super) fn kernel_cache(env: &str, kver: &str, need: &[String], fetch: &str) -> PathBuf {
    let dir = std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            Some(
                PathBuf::from(home)
                    .join(".cache/probeaddr")
                    .join(format!("debian-{kver}")),
            )
        })
        .unwrap_or_else(|| panic!("{env} or HOME is needed to find the Debian kernel {kver}"));
    for need in need {
        assert!(
            dir.join(need).exists(),
            "Debian kernel cache not complete ({} has no {need}): run {fetch} (scripts/test does)",
            dir.display()
        );
    }
    dir
}

/// The unpacked packages.
pub(super) fn root() -> PathBuf {
    cache().join("root")
}

pub(super) fn vmlinux(r: &std::path::Path) -> String {
    r.join("usr/lib/debug/boot")
        .join(format!("vmlinux-{KVER}"))
        .display()
        .to_string()
}

#[test]
fn eight_init_once_with_their_paths() {
    let r = root();
    let v = vmlinux(&r);
    let run = probeaddr([
        "resolve",
        "-k",
        &v,
        "init_once",
        "--offline",
        "--format",
        "json",
    ]);
    let rows = run.json();
    let got: BTreeMap<String, u64> = rows
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                hexfield(r, "func_addr"),
            )
        })
        .collect();
    let want: BTreeMap<String, u64> = [
        ("fs/inode.c", 0xffffffff813704f0),
        ("fs/proc/inode.c", 0xffffffff813ea470),
        ("fs/ext4/super.c", 0xffffffff81460eb0),
        ("fs/hugetlbfs/inode.c", 0xffffffff81488d90),
        ("ipc/mqueue.c", 0xffffffff8149e620),
        ("block/bdev.c", 0xffffffff815394c0),
        ("drivers/dax/super.c", 0xffffffff8171af30),
        ("net/socket.c", 0xffffffff81780490),
    ]
    .iter()
    .map(|(f, a)| (f.to_string(), *a))
    .collect();
    assert_eq!(got, want);
    // readelf agrees on the addresses.
    let vp = std::path::Path::new(&v);
    let re: BTreeSet<u64> = oracle::readelf_funcs(vp, false)
        .into_iter()
        .filter(|s| s.name == "init_once")
        .map(|s| s.value)
        .collect();
    assert_eq!(re, want.values().copied().collect());
    for row in &rows {
        let a = hexfield(row, "func_addr");
        assert_eq!(
            row["forms"]["text"],
            format!("_text+{:#x}", a - 0xffffffff81000000)
        );
        assert!(row["forms"]["symbol"].is_null());
        assert_eq!(row["name_count"], 8);
    }
}

#[test]
fn perf_probe_prints_an_ambiguous_name_probeaddr_does_not() {
    let r = root();
    let v = vmlinux(&r);
    // perf probe's offline answer for one pinned copy is "init_once+0",
    // which the kernel refuses (EADDRNOTAVAIL, 8 matches) or, before 6.6,
    // resolves to whichever copy kallsyms lists first. perf is wrong here;
    // the address it meant is fs/proc/inode.c's, which probeaddr writes as
    // _text+0x3ea470 (readelf: 0xffffffff813ea470 - _text 0xffffffff81000000).
    let out = std::process::Command::new("perf")
        .args(["probe", "-q", "-k", &v, "-D", "init_once@fs/proc/inode.c"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "p:probe/init_once init_once+0"
    );
    let run = probeaddr([
        "resolve",
        "-k",
        &v,
        "init_once@fs/proc/inode.c",
        "--offline",
        "--format",
        "kprobe",
        "--unique",
    ]);
    assert_eq!(
        run.stdout, "p:probeaddr/init_once _text+0x3ea470\n",
        "{}",
        run.stderr
    );
    // Where the name is unique, both agree: vfs_read+0.
    let out = std::process::Command::new("perf")
        .args(["probe", "-q", "-k", &v, "-D", "vfs_read"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "p:probe/vfs_read vfs_read+0"
    );
    let r = probeaddr([
        "resolve",
        "-k",
        &v,
        "vfs_read",
        "--offline",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(r[0]["forms"]["symbol"], "vfs_read+0x0");
    assert_eq!(r[0]["forms"]["text"], "_text+0x34cc50");
    assert_eq!(r[0]["file"], "fs/read_write.c");
}

#[test]
fn header_statics_are_pinned_by_their_compile_unit() {
    let r = root();
    let v = vmlinux(&r);
    let rows = probeaddr([
        "resolve",
        "-k",
        &v,
        "jhash",
        "--offline",
        "--format",
        "json",
    ])
    .json();
    let files: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["symbol"] == "jhash")
        .map(|r| r["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 17);
    for f in [
        "kernel/bpf/hashtab.c",
        "lib/rhashtable.c",
        "net/ipv6/seg6_hmac.c",
        "ipc/util.c",
    ] {
        assert!(files.contains(f), "{f}");
    }
    // jhash.constprop.0 is a clone, found by jhash too.
    assert!(rows
        .iter()
        .any(|r| r["symbol"] == "jhash.constprop.0" && r["variant"] == "clone"));
    let one = probeaddr([
        "resolve",
        "-k",
        &v,
        "jhash@rhashtable.c",
        "--offline",
        "--format",
        "json",
        "--unique",
    ])
    .json();
    assert_eq!(hexfield(&one[0], "func_addr"), 0xffffffff815a0980);
    // Three cmask_show in three core.c: basenames do not separate them, paths do.
    let rows = probeaddr([
        "resolve",
        "-k",
        &v,
        "cmask_show@core.c",
        "--offline",
        "--format",
        "json",
    ])
    .json();
    let files: BTreeSet<&str> = rows.iter().map(|r| r["file"].as_str().unwrap()).collect();
    assert_eq!(
        files,
        BTreeSet::from([
            "arch/x86/events/amd/core.c",
            "arch/x86/events/intel/core.c",
            "arch/x86/events/zhaoxin/core.c"
        ])
    );
}

#[test]
fn duplicated_function_names_match_readelf() {
    let r = root();
    let v = vmlinux(&r);
    let run = probeaddr([
        "dups",
        "--vmlinux",
        &v,
        "--offline",
        "--functions",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ours: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for s in oracle::readelf_funcs(std::path::Path::new(&v), false) {
        *by.entry(s.name).or_default() += 1;
    }
    by.retain(|_, c| *c > 1);
    assert_eq!(by.len(), 300);
    assert_eq!(by.values().sum::<usize>(), 873);
    let got: BTreeMap<String, usize> = ours
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["count"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(got, by);
    let io = ours.iter().find(|d| d["name"] == "init_once").unwrap();
    let pins: BTreeSet<&str> = io["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["pin"].as_str().unwrap())
        .collect();
    assert!(
        pins.contains("init_once@proc/inode.c") && pins.contains("init_once@socket.c"),
        "{pins:?}"
    );
}

#[test]
fn af_key_module_function() {
    let r = root();
    let dir = r.join("lib/modules").join(KVER).join("kernel");
    let run = probeaddr([
        "resolve",
        "--module-dir",
        dir.to_str().unwrap(),
        r#"module("af_key").function("pfkey_create")"#,
        "--offline",
        "--format",
        "json",
    ]);
    let rows = run.json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["section"], ".text");
    assert_eq!(hexfield(&rows[0], "func_addr"), 0x2070);
    assert_eq!(rows[0]["forms"]["module"], "af_key:pfkey_create+0x0");
    // pfkey_* never yields a .cold part.
    let ko = dir.join("net/key/af_key.ko");
    let all = probeaddr([
        "resolve",
        "-m",
        ko.to_str().unwrap(),
        "pfkey_*",
        "--offline",
        "--format",
        "json",
    ])
    .json();
    assert!(all
        .iter()
        .all(|r| !r["symbol"].as_str().unwrap().ends_with(".cold")));
    let want: BTreeSet<String> = oracle::readelf_funcs(&ko, false)
        .into_iter()
        .filter(|s| s.name.starts_with("pfkey_") && !s.name.ends_with(".cold"))
        .map(|s| s.name)
        .collect();
    let got: BTreeSet<String> = all
        .iter()
        .map(|r| r["symbol"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn vfs_read_line_20_equals_perf_probe() {
    let r = root();
    let v = vmlinux(&r);
    // perf probe -k VMLINUX -D vfs_read:20 prints `vfs_read+357`.
    let out = std::process::Command::new("perf")
        .args(["probe", "-q", "-k", &v, "-D", "vfs_read:20"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "p:probe/vfs_read_L20 vfs_read+357"
    );
    let run = probeaddr([
        "resolve",
        "-k",
        &v,
        "vfs_read:20",
        "--offline",
        "--format",
        "kprobe",
        "--form",
        "symbol",
    ]);
    assert_eq!(
        run.stdout,
        format!("p:probeaddr/vfs_read_L20 vfs_read+{:#x}\n", 357),
        "{}",
        run.stderr
    );
    let j = probeaddr([
        "resolve",
        "-k",
        &v,
        "vfs_read:20",
        "--offline",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(j[0]["line"]["file"], "fs/read_write.c");
    assert_eq!(j[0]["line"]["line"], 470);
    assert_eq!(
        j[0]["forms"]["text"],
        format!("_text+{:#x}", 0x34cc50 + 357)
    );
    // `lines` in perf -L's shape: vfs_read's own lines, counted from its
    // declaration (fs/read_write.c:450) and sorted, with line 20 at perf's
    // vfs_read+357; lines of the headers and statics inlined into it come
    // after, marked, never with a negative relative number.
    let l = probeaddr(["lines", "-k", &v, "vfs_read", "--format", "json"]).json();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["decl_line"], 450);
    let rows = l[0]["lines"].as_array().unwrap();
    let own: Vec<&serde_json::Value> = rows.iter().filter(|r| r["inlined"] == false).collect();
    assert!(own.iter().all(|r| r["file"] == "fs/read_write.c"));
    let rel: Vec<u64> = own
        .iter()
        .map(|r| r["relative"].as_u64().unwrap())
        .collect();
    assert!(rel.windows(2).all(|w| w[0] < w[1]), "{rel:?}");
    let l20 = own.iter().find(|r| r["relative"] == 20).unwrap();
    assert_eq!(l20["symbol"], "vfs_read");
    assert_eq!(hexfield(l20, "offset"), 357);
    let atomic = rows
        .iter()
        .find(|r| r["file"] == "arch/x86/include/asm/atomic64_64.h")
        .unwrap();
    assert_eq!(atomic["inlined"], true);
    assert!(atomic["relative"].is_null());
    let first_inlined = rows.iter().position(|r| r["inlined"] == true).unwrap();
    assert!(rows[first_inlined..].iter().all(|r| r["inlined"] == true));
}

#[test]
fn list_names_each_init_once_with_its_declaration() {
    let r = root();
    let v = vmlinux(&r);
    let run = probeaddr(["list", "-k", &v, "init_once", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let got: BTreeSet<String> = j
        .iter()
        .map(|f| format!("{}:{}", f["decl_file"].as_str().unwrap(), f["decl_line"]))
        .collect();
    let want: BTreeSet<String> = [
        "fs/inode.c:432",
        "fs/proc/inode.c:86",
        "fs/ext4/super.c:1458",
        "fs/hugetlbfs/inode.c:1293",
        "ipc/mqueue.c:490",
        "block/bdev.c:438",
        "drivers/dax/super.c:525",
        "net/socket.c:330",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(got, want);
}

#[test]
fn jhash_inlined_sites_equal_perf_probe() {
    let r = root();
    let v = vmlinux(&r);
    // perf lists every copy: 21 out of line (`jhash+0`, ambiguous as
    // always) and the inlined sites as `host+offset` (decimal).
    let perf = oracle::perf_probe_kernel_targets(std::path::Path::new(&v), "jhash");
    let perf_inline: BTreeSet<String> = perf
        .iter()
        .filter(|t| !t.starts_with("jhash"))
        .cloned()
        .collect();
    let rows = probeaddr([
        "resolve",
        "-k",
        &v,
        "jhash",
        "--offline",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(rows.len(), perf.len());
    let ours_inline: BTreeSet<String> = rows
        .iter()
        .filter(|r| !r["inlined_into"].is_null())
        .map(oracle::perf_target)
        .collect();
    assert_eq!(ours_inline, perf_inline);
    assert_eq!(ours_inline.len(), 4);
    // .inline selects just those; a return probe never lands on them.
    let inl = probeaddr([
        "resolve",
        "-k",
        &v,
        r#"kernel.function("jhash").inline"#,
        "--offline",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(inl.len(), 4);
    let ret = probeaddr([
        "resolve",
        "-k",
        &v,
        r#"kernel.function("vfs_read").return"#,
        "--offline",
        "--format",
        "kprobe",
    ]);
    assert_eq!(
        ret.stdout, "r:probeaddr/vfs_read__return _text+0x34cc50\n",
        "{}",
        ret.stderr
    );
}

#[test]
fn kallsyms_cost_counts_match_readelf_and_the_kernels_own_tables() {
    let r = root();
    let v = vmlinux(&r);
    let run = probeaddr(["kallsyms-cost", "-k", &v, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    // Independent counts from readelf -sW.
    let text = String::from_utf8(
        std::process::Command::new("readelf")
            .args(["-sW", &v])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 8 && f[0].ends_with(':') && f[0] != "Num:")
        .collect();
    let files = rows.iter().filter(|f| f[3] == "FILE").count();
    let local_funcs = rows
        .iter()
        .filter(|f| f[3] == "FUNC" && f[4] == "LOCAL")
        .count();
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for f in rows.iter().filter(|f| f[3] == "FUNC") {
        *by.entry(f[7]).or_default() += 1;
    }
    let dups: Vec<usize> = by.values().copied().filter(|c| *c > 1).collect();
    assert_eq!(
        (files, local_funcs, dups.len(), dups.iter().sum::<usize>()),
        (2166, 23833, 300, 873)
    );
    assert_eq!(j["stt_file_entries"], files);
    assert_eq!(j["local_functions"], local_funcs);
    assert_eq!(j["duplicated_function_names"], dups.len());
    assert_eq!(j["duplicated_function_symbols"], 873);
    // The symbol list is exactly the kernel's (kallsyms_num_syms = 87,347),
    // and the kernel's compression, re-done here, gives its kallsyms_names
    // byte for byte (the symbol spans 5 more bytes: alignment padding).
    assert_eq!(j["symbols"], 87347);
    assert_eq!(j["names_compressed"], 1131131);
    assert_eq!(j["vmlinux_kallsyms_names"], 1131136);
    // Basenames leave the 22 function pairs of the 2008 discussion.
    let bt = j["schemes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scheme"] == "bottomley-basename")
        .unwrap();
    assert_eq!(bt["ambiguous_groups"], 22);
    let path = j["schemes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scheme"] == "bottomley-path")
        .unwrap();
    assert_eq!(path["ambiguous_groups"], 0);
}

/// This machine does not run Debian's 6.1 kernel: linked against it (the
/// live /proc/kallsyms and /sys), the vmlinux's definitions are refused, as
/// writing them would probe other code; offline they are the analysed
/// build's (stap: `_stext+0x3ea470`, BENCHMARKS.md).
#[test]
fn definitions_for_a_kernel_that_runs_another_build_are_refused() {
    let r = root();
    let v = vmlinux(&r);
    let live = probeaddr([
        "resolve",
        "-k",
        &v,
        "init_once@fs/proc/inode.c",
        "--format",
        "kprobe",
    ]);
    let e = live.error();
    assert!(
        e.starts_with("init_once [fs/proc/inode.c]: no probe definition: ")
            && e.contains("would probe other code"),
        "{e}"
    );
    let off = probeaddr([
        "resolve",
        "-k",
        &v,
        "--offline",
        "init_once@fs/proc/inode.c",
        "--format",
        "kprobe",
    ]);
    assert_eq!(
        off.stdout, "p:probeaddr/init_once _text+0x3ea470\n",
        "{}",
        off.stderr
    );
}

/// Every pin `dups` prints for Debian's kernel resolves, with `--unique`, to
/// that instance alone: counted as `resolve` matches, with compiler clones
/// (cr4_set_bits.constprop.0) and #included files (fs/compat_binfmt_elf.c
/// compiles fs/binfmt_elf.c, so `elf_core_dump@binfmt_elf.c` names both).
/// readelf confirms each address. Padding and cold parts are not listed.
#[test]
fn every_dups_pin_resolves_to_its_instance_alone() {
    let r = root();
    let v = vmlinux(&r);
    let (d, pins) = dups_pins_round_trip(&v);
    assert!(pins.len() > 800, "{}", pins.len());
    // The two copies of binfmt_elf.c's statics: fs/binfmt_elf.c is
    // #included by fs/compat_binfmt_elf.c, so no file names the first
    // alone; its address does.
    let ecd = d.iter().find(|g| g["name"] == "elf_core_dump").unwrap();
    let ecd_pins: Vec<&str> = ecd["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["pin"].as_str())
        .collect();
    let first = oracle::readelf_values(
        std::path::Path::new(&v),
        "elf_core_dump",
        Some("binfmt_elf.c"),
    );
    assert_eq!(first.len(), 1);
    assert_eq!(
        ecd_pins,
        [
            format!("{:#x}", first[0]).as_str(),
            "elf_core_dump@compat_binfmt_elf.c"
        ]
    );
}

/// `dups -k V` on a vmlinux: no padding, label or `.cold` name is listed,
/// every function instance with a file has a pin, and every pin, resolved
/// with `--unique`, gives that instance alone, at a FUNC readelf lists.
/// Returns the groups and the `(pin, address)` pairs.
pub(super) fn dups_pins_round_trip(v: &str) -> (Vec<serde_json::Value>, Vec<(String, u64)>) {
    let run = probeaddr(["dups", "-k", v, "--offline", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert!(d.iter().all(|g| {
        let n = g["name"].as_str().unwrap();
        !n.starts_with("__pfx_") && !n.starts_with(".L") && !n.ends_with(".cold")
    }));
    let mut pins: Vec<(String, u64)> = Vec::new();
    for g in &d {
        for i in g["instances"].as_array().unwrap() {
            let text = matches!(i["type"].as_str().unwrap(), "t" | "T" | "w" | "W");
            match i["pin"].as_str() {
                Some(p) => pins.push((p.to_string(), hexfield(i, "address"))),
                // Every function instance with a file has one.
                None => assert!(!text || i["file"].is_null(), "{}: {i}", g["name"]),
            }
        }
    }
    let mut args = vec![
        "resolve".to_string(),
        "-k".into(),
        v.to_string(),
        "--offline".into(),
        "--no-inlines".into(),
        "--unique".into(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(pins.iter().map(|p| p.0.clone()));
    let out = probeaddr(&args).json();
    let mut by_point: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for l in &out {
        by_point
            .entry(l["point"].as_str().unwrap().to_string())
            .or_default()
            .push(hexfield(l, "func_addr"));
    }
    let funcs = oracle::readelf_funcs(std::path::Path::new(v), false);
    let values: BTreeSet<u64> = funcs.iter().map(|f| f.value).collect();
    for (pin, addr) in &pins {
        assert_eq!(by_point.get(pin), Some(&vec![*addr]), "{pin}");
        assert!(
            values.contains(addr),
            "{pin}: readelf has no FUNC at {addr:#x}"
        );
    }
    (d, pins)
}

/// A kernel `.cold` part named exactly is a probe point (an error path),
/// at readelf's address, in `_text` form.
#[test]
fn a_kernel_cold_part_named_exactly() {
    let r = root();
    let v = vmlinux(&r);
    let f = oracle::readelf_funcs(std::path::Path::new(&v), false)
        .into_iter()
        .find(|f| f.name == "fam10h_check_enable_mmcfg.cold")
        .unwrap();
    let text = oracle::readelf_all(std::path::Path::new(&v))
        .into_iter()
        .find(|s| s.0 == "_text")
        .unwrap()
        .1;
    let k = probeaddr([
        "resolve",
        "-k",
        &v,
        "--offline",
        "fam10h_check_enable_mmcfg.cold",
        "--format",
        "kprobe",
    ]);
    assert_eq!(
        k.stdout,
        format!(
            "p:probeaddr/fam10h_check_enable_mmcfg_cold _text+{:#x}\n",
            f.value - text
        )
    );
    assert!(
        k.stderr.contains("cold part of fam10h_check_enable_mmcfg"),
        "{}",
        k.stderr
    );
}

#[test]
fn symbolize_never_names_live_addresses_from_another_build_or_past_a_region() {
    let r = root();
    let v = vmlinux(&r);
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let addr_of = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 3 && f[2] == name).then(|| u64::from_str_radix(f[0], 16).unwrap())
            })
            .unwrap_or_else(|| panic!("{name} not in /proc/kallsyms"))
    };
    // This machine does not run Debian's 6.1 cloud kernel: its vmlinux must
    // not name this kernel's addresses. kallsyms does, without a file.
    let live = addr_of("vfs_read");
    assert_ne!(live, 0, "run as root: /proc/kallsyms hides addresses");
    let run = probeaddr(["symbolize", "-k", &v, &format!("{live:#x}")]);
    assert_eq!(
        run.stdout,
        format!("{live:#x} vfs_read+0x0\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("is not the running kernel"),
        "{}",
        run.stderr
    );
    // Offline, an address is the vmlinux's own: readelf's vfs_read + 0x10.
    let at = oracle::readelf_values(std::path::Path::new(&v), "vfs_read", None);
    assert_eq!(at.len(), 1);
    let a = at[0] + 0x10;
    let off = probeaddr(["symbolize", "-k", &v, "--offline", &format!("{a:#x}")]);
    assert_eq!(
        off.stdout,
        format!("{a:#x} vfs_read+0x10 [fs/read_write.c]\n"),
        "{}",
        off.stderr
    );
    // Past the marker that ends init text, and a megabyte past the last
    // symbol of all: in no function.
    let e = addr_of("_einittext") + 0x1000;
    let mut all: Vec<u64> = text
        .lines()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
        .collect();
    all.sort();
    let past = all.last().unwrap() + (2 << 20);
    let run = probeaddr(["symbolize", &format!("{e:#x}"), &format!("{past:#x}")]);
    assert_eq!(
        run.stdout,
        format!("{e:#x} ??\n{past:#x} ??\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn symbolize_lines_are_the_line_table_eu_addr2line_reads() {
    let r = root();
    let v = vmlinux(&r);
    let vp = std::path::Path::new(&v);
    // 600 addresses spread over the kernel's functions, each a third of
    // the way into its function (inlined code included).
    let mut funcs: Vec<oracle::ReadelfSym> = oracle::readelf_funcs(vp, false)
        .into_iter()
        .filter(|f| f.size > 0)
        .collect();
    funcs.sort_by_key(|f| f.value);
    funcs.dedup_by_key(|f| f.value);
    let step = funcs.len() / 600;
    let addrs: Vec<u64> = funcs
        .iter()
        .step_by(step)
        .map(|f| f.value + f.size / 3)
        .collect();
    // On standard input, with a line that is not an address among them:
    // answers keep the input's order, the bad line is named, the exit
    // status says so.
    let mut input: Vec<String> = addrs.iter().map(|a| format!("{a:x}")).collect();
    input.insert(300, "not-an-address".into());
    let run = super::fixtures::probeaddr_with_input(
        ["symbolize", "-k", &v, "--offline", "--lines"],
        &(input.join("\n") + "\n"),
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("not a hexadecimal address: \"not-an-address\""),
        "{}",
        run.stderr
    );
    let got: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(got.len(), addrs.len(), "{}", run.stderr);
    let want = oracle::eu_addr2line_many(vp, &addrs);
    let mut with_line = 0;
    for ((a, line), w) in addrs.iter().zip(&got).zip(&want) {
        assert!(line.starts_with(&format!("{a:#x} ")), "{line}");
        match line.split_once(" at ") {
            Some((_, at)) => {
                // Ours is relative to the unit's build directory when under
                // it, elfutils' joined to it: the same file when one ends
                // the other (or they are equal), and the same line.
                let (file, n) = at.rsplit_once(':').unwrap();
                // (elfutils adds `:COLUMN` where the row has one.)
                let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
                let w = match w.rsplit_once(':') {
                    Some((head, col))
                        if digits(col) && head.rsplit_once(':').is_some_and(|(_, l)| digits(l)) =>
                    {
                        head
                    }
                    _ => w.as_str(),
                };
                let (wfile, wn) = w.rsplit_once(':').unwrap();
                // (and leaves `dir/..` and `.` in paths, which ours folds.)
                let mut parts: Vec<&str> = Vec::new();
                for c in wfile.split('/') {
                    match c {
                        "." => {}
                        ".." if parts.last().is_some_and(|p| *p != "..") => {
                            parts.pop();
                        }
                        c => parts.push(c),
                    }
                }
                let wfile = parts.join("/");
                assert_eq!(n, wn, "{a:#x}: {line} / eu-addr2line {w}");
                assert!(
                    wfile == file || wfile.ends_with(&format!("/{file}")),
                    "{a:#x}: {line} / eu-addr2line {w}"
                );
                with_line += 1;
            }
            None => assert!(w.starts_with("??"), "{a:#x}: {line} / eu-addr2line {w}"),
        }
    }
    // Nearly every kernel function has line rows (assembly ones may not).
    assert!(with_line > addrs.len() * 9 / 10, "{with_line}");
}

#[test]
fn functions_the_kernel_refuses_to_kprobe_are_said_and_never_written() {
    let r = root();
    let v = vmlinux(&r);
    let vp = std::path::Path::new(&v);
    // readelf's markers and NOKPROBE_SYMBOL's _kbl_addr_ entries.
    let all = oracle::readelf_all(vp);
    let sym = |n: &str| all.iter().find(|s| s.0 == n).map(|s| s.1).unwrap();
    let (ns, ne) = (sym("__noinstr_text_start"), sym("__noinstr_text_end"));
    let exc_int3 = oracle::readelf_values(vp, "exc_int3", None)[0];
    assert!(ns <= exc_int3 && exc_int3 < ne);
    assert!(all.iter().any(|s| s.0 == "_kbl_addr_do_int3"));
    let got = probeaddr([
        "resolve",
        "-k",
        &v,
        "--offline",
        "--no-inlines",
        "--format",
        "json",
        "exc_int3",
        "do_int3",
        "start_kernel",
        "vfs_read",
    ])
    .json();
    let why = |n: &str| {
        got.iter()
            .find(|l| l["symbol"] == n)
            .map(|l| l["kprobe_refused"].clone())
            .unwrap()
    };
    assert_eq!(why("exc_int3"), "it is noinstr code (.noinstr.text)");
    assert_eq!(
        why("do_int3"),
        "NOKPROBE_SYMBOL(do_int3) lists it (_kprobe_blacklist)"
    );
    assert_eq!(
        why("start_kernel"),
        "it is in .init.text, which the kernel frees after boot"
    );
    assert!(why("vfs_read").is_null());
    // A listed function with a second name at its address: ftrace.S's
    // zero-size `ftrace_ops_list_func` label sits on
    // arch_ftrace_ops_list_func, which NOKPROBE_SYMBOL lists (objdump
    // reads the entry). The kernel blacklists the whole function
    // (kallsyms_lookup_size_offset: up to the next symbol), not one byte
    // of the zero-size name: a probe inside it is refused too. (Before,
    // probeaddr took the list's range from the zero-size name.)
    let listed = sym("arch_ftrace_ops_list_func");
    assert!(all
        .iter()
        .any(|s| s.0 == "ftrace_ops_list_func" && s.1 == listed && s.2 == "FUNC"));
    let kbl = sym("_kbl_addr_arch_ftrace_ops_list_func");
    let dump = oracle::run(std::process::Command::new("objdump").args([
        "-s".to_string(),
        format!("--start-address={kbl:#x}"),
        format!("--stop-address={:#x}", kbl + 8),
        v.clone(),
    ]));
    let words: Vec<&str> = dump.lines().last().unwrap().split_whitespace().collect();
    let le = |w: &str| u32::from_str_radix(w, 16).unwrap().swap_bytes() as u64;
    assert_eq!(le(words[1]) | le(words[2]) << 32, listed, "{dump}");
    let inside = probeaddr([
        "resolve",
        "-k",
        &v,
        "--offline",
        "--format",
        "json",
        "arch_ftrace_ops_list_func+0x2e",
    ])
    .json();
    assert_eq!(inside.len(), 1);
    assert_eq!(
        inside[0]["kprobe_refused"],
        "NOKPROBE_SYMBOL(arch_ftrace_ops_list_func) lists it (_kprobe_blacklist)"
    );
    // No definition is written for them: the kernel would say EINVAL.
    let run = probeaddr([
        "resolve",
        "-k",
        &v,
        "--offline",
        "exc_int3",
        "--format",
        "kprobe",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("exc_int3 [arch/x86/kernel/traps.c]: no probe definition: the kernel refuses kprobes here: it is noinstr code (.noinstr.text)"),
        "{}",
        run.stderr
    );
}

/// Debian's xfs.ko from the -dbg package.
fn xfs_ko() -> PathBuf {
    xfs_ko_of(&root(), KVER)
}

/// xfs.ko of kernel `kver` unpacked under `root`.
pub(super) fn xfs_ko_of(root: &std::path::Path, kver: &str) -> PathBuf {
    root.join("usr/lib/debug/lib/modules")
        .join(kver)
        .join("kernel/fs/xfs/xfs.ko")
}

/// Our kprobe targets of `point` in `ko` as perf prints them (`SYM+DECIMAL`,
/// sorted, repeats kept): each location by the symbol holding it, as perf
/// names it even where that name is not unique in the module.
pub(super) fn module_targets(ko: &std::path::Path, point: &str, extra: &[&str]) -> Vec<String> {
    let mut a = vec!["resolve", "-m", ko.to_str().unwrap(), point, "--offline"];
    a.extend(extra);
    a.extend(["--format", "json"]);
    let mut v: Vec<String> = probeaddr(&a)
        .json()
        .iter()
        .map(oracle::perf_target)
        .collect();
    v.sort();
    v
}

#[test]
fn module_dwarf_gives_inlined_sites_lines_and_paths_as_perf_does() {
    let ko = xfs_ko();
    // (point, how many probes perf defines). A module's DWARF is relocated
    // (its .rela.debug_* sections), so inlined sites, line probes and
    // source paths work in modules as in the vmlinux.
    let points = [
        ("uuid_copy", 26),
        ("xfs_buf_daddr", 70),
        ("xfs_verify_agbno", 16),
        ("xfs_is_shutdown", 64),
        ("kmem_cache_zalloc", 42),
        ("xfs_dir2_data_entsize", 24),
        // Instances with no code of their own (low_pc == high_pc): perf
        // keeps them at their entry, gdb drops them; so do we keep them.
        ("ERR_PTR", 6),
        // GCC's splitting leaves an "inlined" instance of the function in
        // its own body (no recursion in the source): gdb lists 4 locations,
        // perf 2 — the entry and the one real inlined site.
        ("xfs_attr3_rmt_blocks", 2),
        ("xfs_imap_valid", 1),
        ("xfs_fs_fill_super:30", 1),
        ("fs/xfs/xfs_super.c:1500", 1),
        ("xfs_fs_fill_super@fs/xfs/xfs_super.c", 1),
    ];
    for (point, n) in points {
        let perf = oracle::perf_probe_module_targets(&ko, point);
        assert_eq!(perf.len(), n, "perf probe -m xfs.ko -D {point}: {perf:?}");
        assert_eq!(module_targets(&ko, point, &[]), perf, "{point}");
    }
    // Too many for perf ("Too many( > 128) probe point found"): count the
    // inlined_subroutine DIEs llvm-dwarfdump prints for it.
    let mut dump = std::process::Command::new("llvm-dwarfdump")
        .arg("--debug-info")
        .arg(&ko)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("llvm-dwarfdump (Debian llvm) is needed");
    let mut inlined = 0;
    let mut after_tag = false;
    use std::io::BufRead;
    for line in std::io::BufReader::new(dump.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if after_tag && line.contains("DW_AT_abstract_origin") {
            inlined += usize::from(line.ends_with("\"__preempt_count_add\")"));
        }
        after_tag = line.ends_with("DW_TAG_inlined_subroutine");
    }
    assert!(dump.wait().unwrap().success());
    assert_eq!(inlined, 665);
    assert_eq!(module_targets(&ko, "__preempt_count_add", &[]).len(), 665);
    // Every pin suggested for a module location selects it alone.
    let rows = probeaddr([
        "resolve",
        "-m",
        ko.to_str().unwrap(),
        "uuid_copy",
        "--offline",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(rows.len(), 26);
    for r in &rows {
        let pin = r["pin"].as_str().unwrap_or_else(|| panic!("no pin: {r}"));
        let again = probeaddr([
            "resolve",
            "-m",
            ko.to_str().unwrap(),
            pin,
            "--offline",
            "--unique",
            "--format",
            "json",
        ])
        .json();
        assert_eq!(again.len(), 1, "{pin}");
        assert_eq!(again[0]["anchor"], r["anchor"], "{pin}");
    }
    // `lines` and `list` print a module's addresses as offsets in their
    // sections, as readelf and objdump do.
    let list = probeaddr([
        "list",
        "-m",
        ko.to_str().unwrap(),
        "xfs_attr3_rmt_blocks",
        "--format",
        "json",
    ])
    .json();
    let sym = oracle::readelf_funcs(&ko, false)
        .into_iter()
        .find(|s| s.name == "xfs_attr3_rmt_blocks")
        .unwrap();
    assert_eq!(hexfield(&list[0], "entry"), sym.value);
    assert_eq!(list[0]["decl_file"], "fs/xfs/libxfs/xfs_attr_remote.c");
    assert_eq!(
        list[0]["inlined_sites"][0]["in"],
        "xfs_attr_rmt_find_hole+0x31"
    );
}

/// Fetch arguments on Debian's vmlinux and xfs.ko equal `perf probe -k
/// VMLINUX [-m KO] -D`, but for perf's hex types of unsigned integers
/// (`count=%dx:x64`, where probeaddr writes the source's `u64`). A global
/// no unit at the probe describes (`jiffies` in vfs_read) perf cannot read
/// ("Failed to find the location of the 'jiffies' variable"); probeaddr
/// reads it at `_text` plus its offset, checked against readelf.
#[test]
fn kernel_fetch_arguments_equal_perf_probe() {
    let r = root();
    let v = vmlinux(&r);
    let ko = xfs_ko_of(&r, KVER);
    let ko = ko.to_str().unwrap();
    let mut compared = 0;
    let vmlinux = ["-k", v.as_str()];
    let module = ["-k", v.as_str(), "-m", ko];
    for (perf_object, our_object, point) in [
        (&vmlinux[..], &vmlinux[..], "vfs_read count file->f_pos buf"),
        (
            &vmlinux[..],
            &vmlinux[..],
            "do_sys_openat2 filename:string dfd how->flags",
        ),
        (
            &module[..],
            &module[2..],
            "xfs_fs_fill_super sb fc->source:string sb->s_flags",
        ),
    ] {
        let perf = oracle::perf_probe_args_in(perf_object, point);
        assert_eq!(perf.len(), 1, "{point}: {perf:?}");
        let mut args = vec!["resolve"];
        args.extend(our_object);
        args.extend([point, "--offline", "--format", "kprobe"]);
        let run = probeaddr(&args);
        assert_eq!(run.code, 0, "{point}: {}", run.stderr);
        let line = run.stdout.lines().next().unwrap();
        // perf types every unsigned integer as hex.
        let ours: Vec<String> = line
            .split_whitespace()
            .skip(2)
            .map(|a| a.replace(":u64", ":x64"))
            .collect();
        assert_eq!(ours, perf[0].1, "{point}");
        compared += ours.len();
    }
    assert_eq!(compared, 9);
    // jhash's length at its inlined sites, where perf gives up ("Sorry, we
    // don't support this variable location yet"): tcp_register_congestion_control
    // hashes sizeof(ca->name), TCP_CA_NAME_MAX = 16, a constant there.
    let run = probeaddr([
        "resolve",
        "-k",
        &v,
        "jhash length",
        "--offline",
        "--format",
        "kprobe",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 25, "{}", run.stdout);
    assert!(
        run.stdout.lines().any(
            |l| l.contains("jhash_in_tcp_register_congestion_control_0x4f ")
                && l.ends_with(" length=\\16:u32")
        ),
        "{}",
        run.stdout
    );
    let run = probeaddr([
        "resolve",
        "-k",
        &v,
        "vfs_read jiffies:u64",
        "--offline",
        "--format",
        "kprobe",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let vp = std::path::Path::new(&v);
    let jiffies = oracle::readelf_objects(vp, "jiffies", None);
    let text = 0xffffffff81000000u64;
    assert_eq!(jiffies.len(), 1);
    assert!(
        run.stdout
            .trim_end()
            .ends_with(&format!(" jiffies_u64=@_text+{:#x}:u64", jiffies[0] - text)),
        "{}",
        run.stdout
    );
}

/// A module's statics are read through their own symbols, `@SYM+OFF`,
/// when the kernel finds that name once (the QEMU proof writes these very
/// definitions into a running kernel); a name another module also has is
/// refused, as `kallsyms_lookup_name` could return either.
#[test]
fn module_statics_are_read_through_their_own_unique_symbols() {
    let r = root();
    let v = vmlinux(&r);
    let ko = r
        .join("usr/lib/debug/lib/modules")
        .join(KVER)
        .join("kernel/net/key/af_key.ko");
    let tmp = super::fixtures::Scratch::new("modstatic");
    let listing = oracle::nm_kallsyms(std::path::Path::new(&v), &[]);
    std::fs::write(tmp.join("kallsyms"), &listing).unwrap();
    std::fs::write(
        tmp.join("kallsyms2"),
        format!("{listing}ffffffffc1000000 b pfkey_net_id\t[other_mod]\n"),
    )
    .unwrap();
    let point = r#"module("af_key").function("pfkey_create") $pfkey_net_id $key_proto.obj_size"#;
    let ko_s = ko.to_str().unwrap();
    let ks = tmp.join("kallsyms");
    let run = probeaddr([
        "resolve",
        "-m",
        ko_s,
        "--kallsyms",
        ks.to_str().unwrap(),
        "--offline",
        point,
        "--format",
        "kprobe",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // readelf: both are data symbols of af_key.ko; gdb: obj_size's offset.
    let syms = oracle::readelf_all(&ko);
    for name in ["pfkey_net_id", "key_proto"] {
        assert_eq!(
            syms.iter()
                .filter(|(n, _, t, _)| n == name && t == "OBJECT")
                .count(),
            1,
            "{name}"
        );
    }
    let off = oracle::gdb_address(&ko, "((struct proto *)0)->obj_size", None);
    assert!(
        run.stdout.trim_end().ends_with(&format!(
            " pfkey_net_id=@pfkey_net_id+0x0:u32 obj_size=@key_proto+{off:#x}:u32"
        )),
        "{}",
        run.stdout
    );
    let ks2 = tmp.join("kallsyms2");
    let e = probeaddr([
        "resolve",
        "-m",
        ko_s,
        "--kallsyms",
        ks2.to_str().unwrap(),
        "--offline",
        point,
    ])
    .error();
    assert!(e.contains("'pfkey_net_id' is a module's static"), "{e}");
}

/// `get_current`, an `__always_inline` helper, is inlined at thousands of
/// sites (perf: "Failed to find symbol get_current"). Every site is
/// answered with a pin of its own that selects it alone, and what is said
/// about the sites is summarised, one line per kind, not one per site.
#[test]
fn a_helper_inlined_everywhere_gets_every_site_and_one_line_per_kind_of_note() {
    let r = root();
    let v = vmlinux(&r);
    let run = probeaddr([
        "resolve",
        "-k",
        &v,
        "get_current",
        "--offline",
        "--format",
        "json",
    ]);
    let rows = run.json();
    assert!(rows.len() > 5000, "{}", rows.len());
    assert!(rows.iter().all(|r| r["inlined_into"].is_string()));
    let pins: Vec<&str> = rows.iter().map(|r| r["pin"].as_str().unwrap()).collect();
    let distinct: BTreeSet<&str> = pins.iter().copied().collect();
    assert_eq!(distinct.len(), rows.len(), "two sites share a pin");
    // A sample of the pins, every 97th, each selects its site alone.
    let sample: Vec<usize> = (0..rows.len()).step_by(97).collect();
    let mut args = vec!["resolve".to_string(), "-k".into(), v.clone()];
    args.extend(sample.iter().map(|&i| pins[i].to_string()));
    args.extend(["--offline", "--format", "json"].map(String::from));
    let again = probeaddr(&args).json();
    assert_eq!(again.len(), sample.len());
    for (&i, a) in sample.iter().zip(&again) {
        assert_eq!(a["addr"], rows[i]["addr"], "{}", pins[i]);
    }
    // The notes: one summary of the match, and each kind of note once.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(lines.len() < 30, "{}", run.stderr);
    let matched: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("'get_current' matches"))
        .collect();
    assert_eq!(
        matched,
        [&format!(
            "probeaddr: note: 'get_current' matches {n} locations (0 out of line, {n} inlined sites); --format json gives each with the pin that selects it; add --unique to make this an error",
            n = rows.len()
        )
        .as_str()]
    );
    let unique: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r["notes"].as_array().unwrap())
        .filter_map(|n| n.as_str())
        .filter(|n| {
            n.ends_with(
                " is unique in this vmlinux; loaded modules were not checked (give --kallsyms)",
            )
        })
        .collect();
    assert!(unique.len() > 100, "{}", unique.len());
    let said: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("is unique in this vmlinux"))
        .collect();
    assert_eq!(said.len(), 1, "{}", run.stderr);
    assert!(
        said[0].contains(&format!("[and {} more like it: ", unique.len() - 1)),
        "{}",
        said[0]
    );
}

#[test]
fn work_past_a_second_shows_a_spinner_on_a_terminal_and_nothing_when_piped() {
    // `script` (util-linux) gives the command a terminal; the transcript is
    // what a user would see. The spinner would appear after a second of
    // work; at PROBEADDR_PROGRESS_DELAY_MS=0 it is drawn before the work
    // starts, so the test does not depend on how long 'ext4_*' takes. It is
    // cleared (CR, erase line) before the answer.
    let r = root();
    let v = vmlinux(&r);
    let exe = env!("CARGO_BIN_EXE_probeaddr");
    let cmd = format!(
        "PROBEADDR_PROGRESS_DELAY_MS=0 {exe} resolve -k {v} 'ext4_*' --offline --format kprobe >/dev/null"
    );
    let out = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .output()
        .expect("script (util-linux)");
    let seen = String::from_utf8_lossy(&out.stdout);
    let at = seen
        .find("resolving 'ext4_*' (0s)")
        .unwrap_or_else(|| panic!("no spinner in: {seen}"));
    let cleared = seen[at..]
        .find("\r\x1b[2K")
        .expect("the spinner is cleared");
    let note = seen
        .find("probeaddr: note: 'ext4_*' matches")
        .expect("the notes");
    assert!(at + cleared < note, "{seen}");
    assert!(!seen[note..].contains("resolving"), "{seen}");
    // Piped: the same notes, and no spinner, not even at no delay.
    let run = probeaddr_env(
        [
            "resolve",
            "-k",
            &v,
            "ext4_*",
            "--offline",
            "--format",
            "kprobe",
        ],
        &[("PROBEADDR_PROGRESS_DELAY_MS", std::ffi::OsStr::new("0"))],
    );
    assert!(run.stderr.contains("probeaddr: note: 'ext4_*' matches"));
    assert!(!run.stderr.contains("resolving"), "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "{}", run.stderr);
}
