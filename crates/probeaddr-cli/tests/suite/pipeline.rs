//! One pipeline: a probe point means the same in a user-space file, in the
//! kernel-like fixture and in Debian's kernel. Each case here once behaved
//! differently for user space and the kernel (issue 10: a return probe on a
//! function that exists only inlined; a line whose code lies in no function
//! of the symbol table; DWARF that cannot be read; debug directories), and
//! is checked in all three against gdb, readelf, eu-addr2line or perf.

use std::path::{Path, PathBuf};

use super::debian;
use super::fixtures::{self, hexfield, probeaddr};
use super::oracle;

fn kernel(name: &str) -> PathBuf {
    fixtures::path(&format!("kernel/{name}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("probeaddr-pipeline-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const NO_ENTRY: &str = "only inlined copies exist, and a return probe needs a function entry";

#[test]
fn return_probe_on_a_function_that_exists_only_inlined() {
    // User space: `twice` (inl.h) is inlined everywhere; readelf has no symbol.
    let p = fixtures::path("prog-inline");
    assert!(oracle::readelf_funcs(&p, false)
        .iter()
        .all(|f| f.name != "twice"));
    let e = probeaddr(["resolve", "-x", s(&p), "twice%return"]).error();
    assert!(e.ends_with(&format!("'twice%return': {NO_ENTRY}")), "{e}");
    // The kernel-like fixture: proc_ino_valid, a static of fs/proc/inode.c,
    // inlined into its caller; its entry form resolves to the inlined site.
    let v = kernel("vmlinux");
    assert!(oracle::readelf_funcs(&v, false)
        .iter()
        .all(|f| f.name != "proc_ino_valid"));
    for point in [
        "proc_ino_valid@fs/proc/inode.c%return",
        r#"kernel.function("proc_ino_valid@fs/proc/inode.c").return"#,
    ] {
        let e = probeaddr(["resolve", "-k", s(&v), "--offline", point]).error();
        assert!(e.ends_with(NO_ENTRY), "{point}: {e}");
    }
    let sites = probeaddr([
        "resolve",
        "-k",
        s(&v),
        "--offline",
        "proc_ino_valid@fs/proc/inode.c",
        "--format",
        "json",
    ])
    .json();
    assert!(!sites.is_empty());
    assert!(
        sites.iter().all(|r| r["inlined_into"].is_string()),
        "{sites:?}"
    );
    // Debian: wqattrs_hash (kernel/workqueue.c) exists only inlined into
    // alloc_unbound_pwq; perf places its entry at the same host+offset.
    let r = debian::root();
    let dv = debian::vmlinux(&r);
    let dvp = Path::new(&dv);
    assert!(oracle::readelf_funcs(dvp, false)
        .iter()
        .all(|f| f.name != "wqattrs_hash"));
    let e = probeaddr([
        "resolve",
        "-k",
        &dv,
        "--offline",
        "wqattrs_hash@kernel/workqueue.c%return",
    ])
    .error();
    assert!(e.ends_with(NO_ENTRY), "{e}");
    let entry = probeaddr([
        "resolve",
        "-k",
        &dv,
        "--offline",
        "wqattrs_hash@kernel/workqueue.c",
        "--format",
        "json",
    ])
    .json();
    let ours: Vec<String> = entry.iter().map(oracle::perf_target).collect();
    let perf = oracle::perf_probe_kernel_targets(dvp, "wqattrs_hash");
    assert_eq!(ours, perf);
    assert_eq!(ours, ["alloc_unbound_pwq+21"]);
}

#[test]
fn a_line_whose_code_is_in_no_function_is_an_error_with_its_address() {
    // User space: b.c's helper with its symbol removed (objcopy
    // --strip-symbol), its DWARF kept. gdb gives the line's address.
    let nosym = fixtures::path("prog-nohelper");
    let at = oracle::gdb_line_address(&nosym, "b.c:11");
    let e = probeaddr(["resolve", "-x", s(&nosym), "b.c:11"]).error();
    assert!(
        e.ends_with(&format!(
            "'b.c:11': line 11 of b.c at {at:#x} is in no function of the symbol table"
        )),
        "{e}"
    );
    // With the symbol, the same address is helper's line.
    let with = probeaddr([
        "resolve",
        "-x",
        s(&fixtures::path("prog")),
        "b.c:11",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(with.len(), 1);
    assert_eq!(
        (with[0]["symbol"].as_str(), hexfield(&with[0], "addr")),
        (Some("helper"), at)
    );
    // The kernel-like fixture: rest_init's symbol removed.
    let nosym = kernel("vmlinux-nosym");
    let at = oracle::gdb_line_address(&nosym, "init/main.c:24");
    let e = probeaddr(["resolve", "-k", s(&nosym), "--offline", "init/main.c:24"]).error();
    assert!(
        e.ends_with(&format!(
            "'init/main.c:24': line 24 of init/main.c at {at:#x} is in no function of the symbol table"
        )),
        "{e}"
    );
    let with = probeaddr([
        "resolve",
        "-k",
        s(&kernel("vmlinux")),
        "--offline",
        "init/main.c:24",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(
        (with[0]["symbol"].as_str(), hexfield(&with[0], "addr")),
        (Some("rest_init"), at)
    );
    // Debian: entry code (SYM_CODE_START(entry_SYSCALL_64)) has line rows
    // but no function symbol. eu-addr2line names the line of the address we
    // report, and no FUNC of readelf covers it.
    let r = debian::root();
    let dv = debian::vmlinux(&r);
    let e = probeaddr(["resolve", "-k", &dv, "--offline", "entry_64.S:101"]).error();
    let tail = e
        .split("'entry_64.S:101': line 101 of ")
        .nth(1)
        .unwrap_or_else(|| panic!("{e}"));
    let (file, rest) = tail.split_once(" at 0x").unwrap();
    assert!(file.ends_with("/arch/x86/entry/entry_64.S"), "{e}");
    let addr = u64::from_str_radix(rest.split_whitespace().next().unwrap(), 16).unwrap();
    assert!(
        rest.ends_with(" is in no function of the symbol table"),
        "{e}"
    );
    assert!(
        oracle::eu_addr2line(Path::new(&dv), addr).ends_with("arch/x86/entry/entry_64.S:101"),
        "{addr:#x}"
    );
    assert!(oracle::readelf_funcs(Path::new(&dv), false)
        .iter()
        .all(|f| !(f.value <= addr && addr < f.value + f.size.max(1))));
}

/// `FILE` with DWARF made unreadable by tests/fixtures/bad-dwarf.py.
fn bad_dwarf(input: &Path, out: &Path) {
    let st = std::process::Command::new("python3")
        .arg(fixtures::src_dir().join("bad-dwarf.py"))
        .arg(input)
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success());
}

fn objcopy(args: &[&str]) {
    let st = std::process::Command::new("objcopy")
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "objcopy {args:?}");
}

const UNREADABLE: &str = "needs DWARF line tables, and this file's DWARF is unreadable:";

#[test]
fn unreadable_dwarf_is_said_for_every_object_kind_and_symbols_still_serve() {
    // User space (a committed fuzz find).
    let p = fixtures::src_dir().join("fuzz/dwarf-huge-uncompressed-size");
    let e = probeaddr(["resolve", "-x", s(&p), "b.c:22"]).error();
    assert!(e.contains(&format!("'b.c:22' {UNREADABLE}")), "{e}");
    // The kernel-like fixture: a line probe is refused in words; function
    // entries still resolve from the symbol table, a static with its unit
    // named by its DWARF 5 line program (.debug_line is intact), whose
    // basename is its STT_FILE's.
    let v = kernel("vmlinux-baddwarf");
    let e = probeaddr(["resolve", "-k", s(&v), "--offline", "init/main.c:24"]).error();
    assert!(
        e.contains(&format!("'init/main.c:24' {UNREADABLE}"))
            && e.contains("claims 562949953421312 ")
            && e.contains("more than any compression gives"),
        "{e}"
    );
    let ri = oracle::readelf_funcs(&v, false)
        .into_iter()
        .find(|f| f.name == "rest_init")
        .unwrap();
    let r = probeaddr([
        "resolve",
        "-k",
        s(&v),
        "--offline",
        "rest_init",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(hexfield(&r[0], "func_addr"), ri.value);
    assert_eq!(ri.file.as_deref(), Some("main.c"));
    assert_eq!(r[0]["file"], "init/main.c");
    // Debian: its vmlinux without DWARF plus a .debug_info that cannot be read.
    let dir = scratch("debian-bad");
    let root = debian::root();
    let dv = debian::vmlinux(&root);
    let nodebug = dir.join("vmlinux-nodebug");
    let blob = dir.join("blob");
    std::fs::write(&blob, [0u8; 64]).unwrap();
    let with = dir.join("vmlinux-blob");
    let bad = dir.join("vmlinux-bad");
    objcopy(&["--strip-debug", &dv, s(&nodebug)]);
    objcopy(&[
        &format!("--add-section=.debug_info={}", blob.display()),
        "--set-section-flags=.debug_info=readonly,debug",
        s(&nodebug),
        s(&with),
    ]);
    bad_dwarf(&with, &bad);
    let e = probeaddr(["resolve", "-k", s(&bad), "--offline", "vfs_read:20"]).error();
    assert!(e.contains(&format!("'vfs_read:20' {UNREADABLE}")), "{e}");
    let vfs_read = oracle::readelf_funcs(Path::new(&dv), false)
        .into_iter()
        .find(|f| f.name == "vfs_read")
        .unwrap();
    let r = probeaddr([
        "resolve",
        "-k",
        s(&bad),
        "--offline",
        "vfs_read",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(hexfield(&r[0], "func_addr"), vfs_read.value);
    // Without any DWARF, the error says where it looked and what to install.
    let e = probeaddr(["resolve", "-k", s(&nodebug), "--offline", "vfs_read:20"]).error();
    assert!(
        e.ends_with("'vfs_read:20' needs DWARF line tables, and neither the file nor a debug file for it has .debug_info; use the unstripped vmlinux of the debug package (Debian: linux-image-*-dbg)"),
        "{e}"
    );
    // --debug-dir serves kernel points too: the vmlinux without DWARF finds
    // the debug vmlinux by build-id, and the line probe is the full one's.
    let dd = dir.join("debug");
    oracle::debug_dir_with(&dd, &oracle::readelf_build_id(&nodebug), Path::new(&dv));
    let split = probeaddr([
        "resolve",
        "-k",
        s(&nodebug),
        "--debug-dir",
        s(&dd),
        "--offline",
        "vfs_read:20",
        "--format",
        "kprobe",
    ]);
    let full = probeaddr([
        "resolve",
        "-k",
        &dv,
        "--offline",
        "vfs_read:20",
        "--format",
        "kprobe",
    ]);
    assert_eq!(split.code, 0, "{}", split.stderr);
    assert_eq!(split.stdout, full.stdout);
    assert_eq!(
        full.stdout,
        format!("p:probeaddr/vfs_read_L20 _text+{:#x}\n", 0x34cc50 + 357)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn debug_dirs_serve_the_kernel_fixture() {
    let nodebug = kernel("vmlinux-nodebug");
    let full = kernel("vmlinux");
    let e = probeaddr(["resolve", "-k", s(&nodebug), "--offline", "init/main.c:24"]).error();
    assert!(
        e.contains("neither the file nor a debug file for it has .debug_info"),
        "{e}"
    );
    let dir = scratch("fixture-debug");
    oracle::debug_dir_with(&dir, &oracle::readelf_build_id(&nodebug), &full);
    let with = probeaddr([
        "resolve",
        "-k",
        s(&nodebug),
        "--debug-dir",
        s(&dir),
        "--offline",
        "init/main.c:24",
        "--format",
        "json",
    ])
    .json();
    let at = oracle::gdb_line_address(&full, "init/main.c:24");
    assert_eq!(
        (with[0]["symbol"].as_str(), hexfield(&with[0], "addr")),
        (Some("rest_init"), at)
    );
    // Its file now comes from the debug file's compile unit.
    assert_eq!(with[0]["file"], "init/main.c");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every pin resolves, with `--unique`, to the location it was printed for
/// (the same address), for every kind of object: user-space copies, clones
/// and inlined sites; the kernel fixture's duplicated statics and header
/// inlines; Debian's eight init_once and jhash's copies and inlined sites.
#[test]
fn every_pin_resolves_to_its_location_alone() {
    /// Round-trip the pins of `point`'s locations: every inlined site's,
    /// and those of up to `copies` out-of-line copies (each resolution of a
    /// header static in Debian's kernel reads many units).
    fn round_trip(base: &[String], point: &str, copies: usize, min_pinned: usize) {
        let mut a = base.to_vec();
        a.extend([point.to_string(), "--format".into(), "json".into()]);
        let all = probeaddr(&a).json();
        assert!(all.len() > 1, "{point}: {all:?}");
        let mut pinned = 0;
        let mut out_of_line = 0;
        for l in &all {
            let Some(pin) = l["pin"].as_str() else {
                continue;
            };
            if l["inlined_into"].is_null() {
                out_of_line += 1;
                if out_of_line > copies {
                    continue;
                }
            }
            let mut b = base.to_vec();
            b.extend([
                pin.to_string(),
                "--unique".into(),
                "--format".into(),
                "json".into(),
            ]);
            let one = probeaddr(&b).json();
            assert_eq!(one.len(), 1, "{point}: pin {pin}");
            assert_eq!(
                hexfield(&one[0], "addr"),
                hexfield(l, "addr"),
                "{point}: pin {pin}"
            );
            assert_eq!(one[0]["anchor"], l["anchor"], "{point}: pin {pin}");
            pinned += 1;
        }
        assert!(
            pinned >= min_pinned,
            "{point}: {pinned} of {} pinned",
            all.len()
        );
    }
    let user = |f: &str| {
        vec![
            "resolve".to_string(),
            "-x".into(),
            fixtures::path(f).display().to_string(),
        ]
    };
    round_trip(&user("prog"), "helper", usize::MAX, 3);
    round_trip(&user("clones"), "check", usize::MAX, 2);
    round_trip(&user("prog-inline"), "twice", usize::MAX, 2);
    let k = vec![
        "resolve".to_string(),
        "-k".into(),
        kernel("vmlinux").display().to_string(),
        "--offline".into(),
    ];
    round_trip(&k, "init_once", usize::MAX, 2);
    round_trip(&k, "jhash", usize::MAX, 3);
    let root = debian::root();
    let d = vec![
        "resolve".to_string(),
        "-k".into(),
        debian::vmlinux(&root),
        "--offline".into(),
    ];
    round_trip(&d, "init_once", usize::MAX, 8);
    round_trip(&d, "jhash", 3, 7);
}
