//! Resolving user-space probe points: exact addresses and file offsets,
//! checked against readelf, gdb, objdump and perf probe.

use std::collections::BTreeMap;

use super::fixtures::{self, hexfield, probeaddr};
use super::oracle;

fn rows(args: &[&str]) -> Vec<serde_json::Value> {
    let mut a = vec!["resolve", "--format", "json"];
    a.extend_from_slice(args);
    probeaddr(&a).json()
}

/// `{file: link_addr}` of the rows.
fn by_file(rows: &[serde_json::Value]) -> BTreeMap<String, u64> {
    rows.iter()
        .map(|r| (r["file"].as_str().unwrap().to_string(), hexfield(r, "addr")))
        .collect()
}

#[test]
fn every_helper_with_its_file_matches_gdb_and_readelf() {
    let prog = fixtures::path("prog");
    let p = prog.to_str().unwrap();
    let r = rows(&["-x", p, "helper"]);
    assert_eq!(r.len(), 3);
    let got = by_file(&r);
    // gdb resolves 'FILE'::helper through DWARF, independently of us.
    let want: BTreeMap<String, u64> = [
        ("a.c", "'a.c'::helper"),
        ("b.c", "'b.c'::helper"),
        ("sub/b.c", "'sub/b.c'::helper"),
    ]
    .iter()
    .map(|(f, e)| (f.to_string(), oracle::gdb_address(&prog, e, None)))
    .collect();
    assert_eq!(got, want);
    // readelf: the same three values; two of them follow an STT_FILE "b.c".
    let values: Vec<u64> = got.values().copied().collect();
    assert_eq!(oracle::readelf_values(&prog, "helper", None), values);
    assert_eq!(
        oracle::readelf_values(&prog, "helper", Some("b.c")),
        vec![got["b.c"], got["sub/b.c"]]
    );
    for row in &r {
        assert_eq!(row["matches"], 3);
        assert_eq!(row["binding"], "local");
        let a = hexfield(row, "addr");
        assert_eq!(
            hexfield(&row["anchor"], "offset"),
            oracle::readelf_file_offset(&prog, a)
        );
    }
    // The user is told the name is ambiguous and how to pin each copy.
    let run = probeaddr(["resolve", "-x", p, "helper"]);
    assert!(
        run.stderr
            .contains("'helper' matches 3 locations: helper [a.c], helper [b.c], helper [sub/b.c]"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("'helper@a.c', 'helper@fixtures/b.c'")
            || run.stderr.contains("'helper@a.c', 'helper@"),
        "{}",
        run.stderr
    );
}

#[test]
fn file_pins_agree_with_perf_probe() {
    let prog = fixtures::path("prog");
    let p = prog.to_str().unwrap();
    // perf matches @SRC on path suffixes through DWARF; b.c names two files.
    for point in [
        "helper@a.c",
        "helper@b.c",
        "helper@sub/b.c",
        "main@b.c",
        "a_call",
    ] {
        let mut ours: Vec<u64> = rows(&["-x", p, point])
            .iter()
            .map(|r| hexfield(&r["anchor"], "offset"))
            .collect();
        ours.sort();
        assert_eq!(ours, oracle::perf_probe_offsets(&prog, point), "{point}");
    }
    let sub = rows(&["-x", p, "helper@sub/b.c"]);
    assert_eq!(sub.len(), 1);
    assert_eq!(
        hexfield(&sub[0], "addr"),
        oracle::gdb_address(&prog, "'sub/b.c'::helper", None)
    );
    // A global gets its file from DWARF: main is in b.c, not in sub/b.c.
    let main = rows(&["-x", p, "main@b.c"]);
    assert_eq!(main.len(), 1);
    assert_eq!(main[0]["file"], "b.c");
    assert!(probeaddr(["resolve", "-x", p, "main@sub/b.c"])
        .error()
        .contains("'main' exists but not in a file matching 'sub/b.c'; it is in: b.c"));
    // The full path pins the top-level b.c alone.
    let top = fixtures::comp_dir().join("b.c");
    let r = rows(&["-x", p, &format!("helper@{}", top.display())]);
    assert_eq!(r.len(), 1);
    assert_eq!(
        hexfield(&r[0], "addr"),
        oracle::gdb_address(&prog, "'b.c'::helper", None)
    );
}

#[test]
fn systemtap_syntax_gives_the_same_answer() {
    let prog = fixtures::path("prog");
    let p = prog.to_str().unwrap();
    let perf = rows(&["-x", p, "helper@sub/b.c"]);
    let stap = rows(&[&format!(r#"process("{p}").function("helper@sub/b.c")"#)]);
    let strip = |v: &[serde_json::Value]| -> Vec<serde_json::Value> {
        v.iter()
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("point");
                r
            })
            .collect()
    };
    assert_eq!(strip(&perf), strip(&stap));
    let ret = rows(&[&format!(r#"process("{p}").function("helper@a.c").return"#)]);
    assert_eq!(ret[0]["kind"], "return");
    assert_eq!(
        ret[0]["probe"],
        format!(
            "r:probeaddr/helper__return {p}:{:#x}",
            oracle::gdb_address(&prog, "'a.c'::helper", None)
        )
    );
}

#[test]
fn uprobe_format_lines() {
    let prog = fixtures::path("prog");
    let p = prog.to_str().unwrap();
    let run = probeaddr(["resolve", "-x", p, "help*@*.c", "--format", "uprobe"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let a = oracle::gdb_address(&prog, "'a.c'::helper", None);
    let b = oracle::gdb_address(&prog, "'b.c'::helper", None);
    let s = oracle::gdb_address(&prog, "'sub/b.c'::helper", None);
    // PIE with .text at vaddr == offset: the file offset is the address.
    assert_eq!(
        run.stdout,
        format!(
            "p:probeaddr/helper_a_c {p}:{a:#x}\np:probeaddr/helper_b_c {p}:{b:#x}\np:probeaddr/helper_sub_b_c {p}:{s:#x}\n"
        )
    );
    let run = probeaddr([
        "resolve",
        "-x",
        p,
        "ev=helper@a.c%return",
        "helper@a.c+4",
        "--format",
        "uprobe",
        "--group",
        "mine",
    ]);
    assert_eq!(
        run.stdout,
        format!("r:mine/ev {p}:{a:#x}\np:mine/helper_0x4 {p}:{:#x}\n", a + 4)
    );
    assert!(
        probeaddr(["resolve", "-x", p, "main", "--group", "bad-group"])
            .error()
            .contains("invalid group name \"bad-group\"")
    );
}

#[test]
fn non_pie_and_moved_text_file_offsets() {
    for (name, base_differs) in [
        ("prog-nopie", true),
        ("prog-textoff", true),
        ("prog", false),
    ] {
        let bin = fixtures::path(name);
        let p = bin.to_str().unwrap();
        for (point, gdb) in [
            ("helper@a.c", "'a.c'::helper"),
            ("helper@sub/b.c", "'sub/b.c'::helper"),
            ("main", "main"),
        ] {
            let r = rows(&["-x", p, point]);
            assert_eq!(r.len(), 1, "{name} {point}");
            let addr = hexfield(&r[0], "addr");
            let off = hexfield(&r[0]["anchor"], "offset");
            assert_eq!(addr, oracle::gdb_address(&bin, gdb, None), "{name} {point}");
            assert_eq!(
                off,
                oracle::readelf_file_offset(&bin, addr),
                "{name} {point}"
            );
            assert_eq!(
                base_differs,
                off != addr,
                "{name} {point}: {off:#x} vs {addr:#x}"
            );
            assert_eq!(
                vec![off],
                oracle::perf_probe_offsets(&bin, point),
                "{name} {point}"
            );
        }
    }
}

#[test]
fn shared_library_locals_and_exports() {
    let lib = fixtures::path("libfix.so");
    let p = lib.to_str().unwrap();
    for (point, gdb) in [
        ("lib_entry", "lib_entry"),
        ("helper@lib.c", "'lib.c'::helper"),
        ("lib_weak", "lib_weak"),
    ] {
        let r = rows(&["-x", p, point]);
        assert_eq!(r.len(), 1, "{point}");
        let addr = hexfield(&r[0], "addr");
        assert_eq!(addr, oracle::gdb_address(&lib, gdb, None), "{point}");
        assert_eq!(
            vec![hexfield(&r[0]["anchor"], "offset")],
            oracle::perf_probe_offsets(&lib, point),
            "{point}"
        );
    }
    let r = rows(&["-x", p, "lib_weak"]);
    assert_eq!(r[0]["binding"], "weak");
}

#[test]
fn compiler_clones_found_and_cold_parts_only_by_name() {
    let bin = fixtures::path("clones");
    let p = bin.to_str().unwrap();
    let syms = oracle::readelf_funcs(&bin, false);
    let value = |n: &str| {
        syms.iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("gcc made no {n}: {syms:?}"))
            .value
    };
    for (point, symbol) in [
        ("scale", "scale.constprop.0"),
        ("first", "first.isra.0"),
        ("check", "check.part.0"),
    ] {
        // Out-of-line copies only (check is also partly inlined into main).
        let r = rows(&["-x", p, point, "--no-inlines"]);
        assert_eq!(r.len(), 1, "{point}: {r:?}");
        assert_eq!(r[0]["symbol"], symbol);
        assert_eq!(r[0]["function"], point);
        assert_eq!(r[0]["variant"], "clone");
        assert_eq!(hexfield(&r[0], "addr"), value(symbol));
        // A clone can be pinned by its full name.
        let r2 = rows(&["-x", p, symbol]);
        assert_eq!(hexfield(&r2[0], "addr"), value(symbol));
    }
    // report has a .cold part; only the entry is a probe point.
    let cold = value("report.cold");
    let r = rows(&["-x", p, "report"]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["symbol"], "report");
    assert_eq!(hexfield(&r[0], "addr"), value("report"));
    assert_ne!(hexfield(&r[0], "addr"), cold);
    let all = rows(&["-x", p, "*"]);
    assert!(all
        .iter()
        .all(|r| !r["symbol"].as_str().unwrap().ends_with(".cold")));
    // Named exactly, the cold part is a probe point of its own (an error
    // path), at readelf's address and said to be one.
    let c = rows(&["-x", p, "report.cold"]);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0]["symbol"], "report.cold");
    assert_eq!(hexfield(&c[0], "addr"), cold);
    assert!(
        c[0]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("is the split-off cold part")),
        "{c:?}"
    );
    // A glob never includes it.
    let e = probeaddr(["resolve", "-x", p, "rep*.cold"]).error();
    assert!(e.contains("'rep*.cold' is only a .cold part"), "{e}");
    // The table marks clones.
    let t = probeaddr(["resolve", "-x", p, "scale"]);
    assert!(
        t.stdout.contains("scale.constprop.0 (clone)"),
        "{}",
        t.stdout
    );
}

#[test]
fn function_sections_build() {
    let bin = fixtures::path("prog-fs");
    let p = bin.to_str().unwrap();
    let r = rows(&["-x", p, "helper@*.c"]);
    // -O2 inlines the helpers into their callers; whatever copies remain as
    // symbols must be exactly readelf's.
    let mut ours: Vec<u64> = r.iter().map(|r| hexfield(r, "addr")).collect();
    ours.sort();
    let mut theirs: Vec<u64> = oracle::readelf_funcs(&bin, false)
        .into_iter()
        .filter(|s| s.name.starts_with("helper"))
        .map(|s| s.value)
        .collect();
    theirs.sort();
    assert_eq!(ours, theirs);
    for point in ["a_call", "sub_call", "main"] {
        let r = rows(&["-x", p, point]);
        assert_eq!(r.len(), 1);
        assert_eq!(
            hexfield(&r[0], "addr"),
            oracle::gdb_address(&bin, point, None)
        );
        assert_eq!(
            vec![hexfield(&r[0]["anchor"], "offset")],
            oracle::perf_probe_offsets(&bin, point)
        );
    }
}

#[test]
fn stripped_binary_uses_build_id_debug_file() {
    let prog = fixtures::path("prog");
    let stripped = fixtures::path("prog-stripped");
    let dbg = fixtures::path("debug");
    assert!(
        oracle::readelf_funcs(&stripped, false).is_empty(),
        "fixture is not stripped"
    );
    let r = rows(&[
        "-x",
        stripped.to_str().unwrap(),
        "--debug-dir",
        dbg.to_str().unwrap(),
        "helper",
    ]);
    let got = by_file(&r);
    assert_eq!(
        got["a.c"],
        oracle::gdb_address(&prog, "'a.c'::helper", None)
    );
    assert_eq!(
        got["b.c"],
        oracle::gdb_address(&prog, "'b.c'::helper", None)
    );
    assert_eq!(
        got["sub/b.c"],
        oracle::gdb_address(&prog, "'sub/b.c'::helper", None)
    );
    // The stripped lib too.
    let lib = fixtures::path("libfix.so");
    let r = rows(&[
        "-x",
        fixtures::path("libfix-stripped.so").to_str().unwrap(),
        "--debug-dir",
        dbg.to_str().unwrap(),
        "helper",
    ]);
    assert_eq!(
        hexfield(&r[0], "addr"),
        oracle::gdb_address(&lib, "'lib.c'::helper", None)
    );
}

#[test]
fn stripped_binary_uses_debuglink() {
    let dl = fixtures::path("prog-dl");
    let r = rows(&[
        "-x",
        fixtures::path("prog-dl-stripped").to_str().unwrap(),
        "helper@sub/b.c",
    ]);
    assert_eq!(r.len(), 1);
    assert_eq!(
        hexfield(&r[0], "addr"),
        oracle::gdb_address(&dl, "'sub/b.c'::helper", None)
    );
    assert_eq!(
        vec![hexfield(&r[0]["anchor"], "offset")],
        oracle::perf_probe_offsets(&dl, "helper@sub/b.c")
    );
}

#[test]
fn offsets_on_instruction_boundaries_only() {
    let prog = fixtures::path("prog");
    let p = prog.to_str().unwrap();
    let a = oracle::gdb_address(&prog, "'a.c'::helper", None);
    let size = oracle::readelf_funcs(&prog, false)
        .into_iter()
        .find(|s| s.value == a)
        .unwrap()
        .size;
    let starts = oracle::objdump_boundaries(&prog, a, size);
    assert!(starts.len() > 3, "{starts:?}");
    for off in 0..size {
        let run = probeaddr([
            "resolve",
            "-x",
            p,
            "--format",
            "json",
            &format!("helper@a.c+{off}"),
        ]);
        if starts.contains(&off) {
            let r = run.json();
            assert_eq!(hexfield(&r[0], "addr"), a + off);
            assert_eq!(
                hexfield(&r[0]["anchor"], "offset"),
                oracle::readelf_file_offset(&prog, a + off)
            );
        } else {
            let e = run.error();
            let before = starts.iter().rev().find(|&&s| s < off).unwrap();
            let after = starts.iter().find(|&&s| s > off).unwrap();
            assert!(
                e.contains(&format!("offset {off:#x} is inside an instruction; the nearest instruction boundaries are +{before:#x} and +{after:#x}")),
                "{e}"
            );
            assert!(e.starts_with(&format!("{p}: helper [a.c]")), "{e}");
        }
    }
    let e = probeaddr(["resolve", "-x", p, &format!("helper@a.c+{size}")]).error();
    assert!(e.contains(&format!("offset {size:#x} is outside the function (size {size:#x}); the last instruction starts at +{:#x}", starts.last().unwrap())), "{e}");
}

#[test]
fn runtime_address_in_a_live_process_matches_gdb() {
    let prog = fixtures::path("prog");
    let p = prog.to_str().unwrap();
    // A long run; gdb attaches to it for the oracle.
    let mut child = std::process::Command::new(&prog)
        .arg("2000000000")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // spawn returns once the exec succeeded: prog is mapped already.
    let pid = child.id();
    let r = rows(&["-x", p, "helper@sub/b.c", "--pid", &pid.to_string()]);
    let gdb = oracle::gdb_address(&prog, "'sub/b.c'::helper", Some(pid));
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(hexfield(&r[0], "runtime_addr"), gdb);
    // The same from a saved maps file.
    let saved = std::env::temp_dir().join(format!("probeaddr-maps-{pid}"));
    std::fs::write(&saved, &maps).unwrap();
    let r = rows(&["-x", p, "helper@sub/b.c", "--maps", saved.to_str().unwrap()]);
    assert_eq!(hexfield(&r[0], "runtime_addr"), gdb);
    // A process that does not map the file.
    let e = probeaddr([
        "resolve",
        "-x",
        fixtures::path("libfix.so").to_str().unwrap(),
        "lib_entry",
        "--maps",
        saved.to_str().unwrap(),
    ])
    .error();
    assert!(e.contains("libfix.so is not mapped in maps file"), "{e}");
    std::fs::remove_file(saved).unwrap();
    let e = probeaddr(["resolve", "-x", p, "main", "--pid", "999999999"]).error();
    assert!(e.contains("no process with pid 999999999"), "{e}");
}

#[test]
fn libc_malloc_from_the_system() {
    let libc = std::path::Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6");
    let r = rows(&["-x", libc.to_str().unwrap(), "malloc"]);
    assert_eq!(r.len(), 1);
    let want: Vec<u64> = oracle::readelf_funcs(libc, true)
        .into_iter()
        .filter(|s| s.name == "malloc")
        .map(|s| s.value)
        .collect();
    assert_eq!(vec![hexfield(&r[0], "addr")], want);
    assert_eq!(
        hexfield(&r[0]["anchor"], "offset"),
        oracle::readelf_file_offset(libc, want[0])
    );
    assert_eq!(r[0]["binding"], "global");
}

#[test]
fn unique_lists_every_candidate_with_its_pin() {
    let prog = fixtures::path("prog");
    let p = prog.to_str().unwrap();
    let run = probeaddr(["resolve", "-x", p, "helper", "--unique"]);
    let e = run.error();
    assert_eq!(e, "'helper' matches 3 locations and --unique was given");
    assert!(run.stderr.contains("helper [a.c] at "), "{}", run.stderr);
    assert!(
        run.stderr.contains(": pin with 'helper@a.c'"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(": pin with 'helper@sub/b.c'"),
        "{}",
        run.stderr
    );
    // Each suggested pin resolves to exactly one location, with --unique.
    for pin in run
        .stderr
        .lines()
        .filter_map(|l| l.split("pin with '").nth(1))
        .map(|s| s.trim_end_matches('\''))
    {
        let r = rows(&["-x", p, pin, "--unique"]);
        assert_eq!(r.len(), 1, "{pin}");
    }
    assert_eq!(rows(&["-x", p, "helper@a.c", "--unique"]).len(), 1);
}

#[test]
fn an_address_point_is_the_function_holding_it() {
    let bin = fixtures::path("prog");
    let p = bin.to_str().unwrap();
    let helper = oracle::gdb_address(&bin, "'sub/b.c'::helper", None);
    let r = rows(&["-x", p, &format!("{helper:#x}"), "--unique"]);
    assert_eq!(r.len(), 1);
    assert_eq!(hexfield(&r[0], "addr"), helper);
    assert_eq!(r[0]["symbol"], "helper");
    assert_eq!(r[0]["file"], "sub/b.c");
    assert_eq!(r[0]["kind"], "entry");
    // An instruction boundary inside it (objdump's), as FUNC+OFF would be.
    let size = oracle::readelf_funcs(&bin, false)
        .into_iter()
        .find(|s| s.value == helper)
        .unwrap()
        .size;
    let b = oracle::objdump_boundaries(&bin, helper, size);
    let second = helper + b[1];
    let r = rows(&["-x", p, &format!("{second:#x}")]);
    assert_eq!(hexfield(&r[0], "addr"), second);
    assert_eq!(r[0]["kind"], "offset");
    assert_eq!(hexfield(&r[0], "offset"), second - helper);
    let long = b.windows(2).find(|w| w[1] - w[0] > 1).unwrap()[0];
    let e = probeaddr(["resolve", "-x", p, &format!("{:#x}", helper + long + 1)]).error();
    assert!(e.contains("is inside an instruction"), "{e}");
    let e = probeaddr(["resolve", "-x", p, &format!("{second:#x}%return")]).error();
    assert!(e.contains("a return probe needs a function entry"), "{e}");
    let e = probeaddr(["resolve", "-x", p, "0x10"]).error();
    assert!(
        e.contains("0x10 is in no function of the symbol table"),
        "{e}"
    );
}

/// The 32-bit fixture, or a failure that says what to install.
pub(super) fn prog32() -> std::path::PathBuf {
    fixtures::needing("prog32", "gcc-multilib")
}

#[test]
fn a_32_bit_program_resolves_like_any_other() {
    let bin = prog32();
    let p = bin.to_str().unwrap();
    for point in ["helper", "twice", "main"] {
        let r = rows(&["-x", p, point, "--unique"]);
        let want = oracle::readelf_values(&bin, point, None);
        assert_eq!(vec![hexfield(&r[0], "addr")], want, "{point}");
        assert_eq!(
            hexfield(&r[0]["anchor"], "offset"),
            oracle::readelf_file_offset(&bin, want[0]),
            "{point}"
        );
        assert_eq!(
            vec![hexfield(&r[0]["anchor"], "offset")],
            oracle::perf_probe_offsets(&bin, point),
            "{point}"
        );
        assert_eq!(r[0]["file"], "prog32.c");
    }
    // Prologues as gdb skips them, decoded as 32-bit code (push %ebp;
    // mov %esp,%ebp has no REX prefix).
    for point in ["helper", "twice"] {
        let r = rows(&["-x", p, point, "--skip-prologue"]);
        assert_eq!(
            hexfield(&r[0], "addr"),
            oracle::gdb_break_address(&bin, point),
            "{point}"
        );
        assert_ne!(hexfield(&r[0], "offset"), 0, "{point}");
    }
    // Instruction boundaries are objdump's 32-bit ones.
    let twice = oracle::readelf_values(&bin, "twice", None)[0];
    let size = oracle::readelf_funcs(&bin, false)
        .into_iter()
        .find(|s| s.name == "twice")
        .unwrap()
        .size;
    let b = oracle::objdump_boundaries(&bin, twice, size);
    for w in b.windows(2) {
        let r = rows(&["-x", p, &format!("twice+{:#x}", w[0])]);
        assert_eq!(hexfield(&r[0], "addr"), twice + w[0]);
        for mid in w[0] + 1..w[1] {
            let e = probeaddr(["resolve", "-x", p, &format!("twice+{mid:#x}")]).error();
            assert!(e.contains("is inside an instruction"), "+{mid:#x}: {e}");
        }
    }
}
