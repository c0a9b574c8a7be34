//! Line probes and prologues from DWARF line tables, against perf probe and gdb.

use super::fixtures::{self, hexfield, probeaddr};
use super::oracle;

fn offsets(bin: &std::path::Path, point: &str) -> Vec<u64> {
    let r = probeaddr([
        "resolve",
        "-x",
        bin.to_str().unwrap(),
        point,
        "--format",
        "json",
    ])
    .json();
    let mut v: Vec<u64> = r.iter().map(|r| hexfield(&r["anchor"], "offset")).collect();
    v.sort();
    v
}

#[test]
fn line_probes_match_perf_probe() {
    for name in [
        "prog",
        "prog-dwarf4",
        "prog-dwarf5",
        "prog-gz",
        "prog-nopie",
    ] {
        let bin = fixtures::path(name);
        // FUNC:N counts from the declaration line (helper in b.c is declared
        // on line 9, so :3 is line 12); SRC:N is absolute. FUNC:0 is the
        // entry, also where the declaration line has no code ('{' below).
        for point in [
            "helper@b.c:3",
            "helper@b.c:0",
            "a_call:0",
            "b.c:22",
            "b.c:19",
            "sub/b.c:5",
            "a_call:2",
            "helper@a.c:2",
        ] {
            let ours = offsets(&bin, point);
            assert!(!ours.is_empty());
            assert_eq!(
                ours,
                oracle::perf_probe_offsets(&bin, point),
                "{name} {point}"
            );
        }
    }
    // zstd-compressed DWARF: this machine's perf (elfutils 0.188) cannot
    // read it ("has no debug information"), so the oracle is perf on the
    // zlib build it was recompressed from (same code, same line table).
    let zstd = fixtures::path("prog-zstd");
    let gz = fixtures::path("prog-gz");
    for point in ["helper@b.c:3", "b.c:22", "sub/b.c:5", "a_call:2"] {
        assert_eq!(
            offsets(&zstd, point),
            oracle::perf_probe_offsets(&gz, point),
            "zstd {point}"
        );
    }
}

#[test]
fn line_probe_rows_name_their_line_and_function() {
    let bin = fixtures::path("prog");
    let p = bin.to_str().unwrap();
    let r = probeaddr(["resolve", "-x", p, "b.c:22", "--format", "json"]).json();
    assert_eq!(r.len(), 2);
    for row in &r {
        assert_eq!(row["symbol"], "main");
        assert_eq!(row["line"]["line"], 22);
        assert_eq!(row["line"]["file"], "b.c");
    }
    // gdb's first address for the line is ours.
    let gdb = std::process::Command::new("gdb")
        .args(["-batch", "-nx", "-ex", "info line b.c:22", p])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&gdb.stdout);
    let at = text
        .split("starts at address ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(
        hexfield(&r[0], "addr"),
        u64::from_str_radix(at.trim_start_matches("0x"), 16).unwrap()
    );
    // The SystemTap statement form is the same.
    let s = probeaddr([
        "resolve",
        &format!(r#"process("{p}").statement("*@b.c:22")"#),
        "--format",
        "json",
    ])
    .json();
    let a: Vec<u64> = r.iter().map(|x| hexfield(x, "addr")).collect();
    let b: Vec<u64> = s.iter().map(|x| hexfield(x, "addr")).collect();
    assert_eq!(a, b);
    let u = probeaddr(["resolve", "-x", p, "b.c:22", "--format", "uprobe"]);
    assert_eq!(
        u.stdout,
        format!(
            "p:probeaddr/main_L22 {p}:{:#x}\np:probeaddr/main_L22_1 {p}:{:#x}\n",
            a[0], a[1]
        )
    );
}

#[test]
fn lines_without_code_name_the_nearest() {
    let bin = fixtures::path("prog");
    let p = bin.to_str().unwrap();
    let e = probeaddr(["resolve", "-x", p, "b.c:15"]).error();
    assert!(
        e.ends_with(
            "'b.c:15': line 15 of b.c has no code (the nearest lines with code are 13 and 18)"
        ),
        "{e}"
    );
    let e = probeaddr(["resolve", "-x", p, "a_call:9"]).error();
    assert!(
        e.contains(
            "a_call [a.c]: line 16 has no code in a_call (the nearest line with code is 10)"
        ),
        "{e}"
    );
    let e = probeaddr(["resolve", "-x", p, "nosuch.c:3"]).error();
    assert!(
        e.contains("no compile unit has a file matching 'nosuch.c'"),
        "{e}"
    );
}

#[test]
fn skip_prologue_matches_gdb_breakpoints() {
    let bin = fixtures::path("prog");
    let p = bin.to_str().unwrap();
    for (point, gdb, spec) in [
        ("helper@a.c", "'a.c'::helper", "a.c:helper"),
        ("helper@sub/b.c", "'sub/b.c'::helper", "sub/b.c:helper"),
        ("main", "main", "main"),
    ] {
        let r = probeaddr([
            "resolve",
            "-x",
            p,
            point,
            "--skip-prologue",
            "--format",
            "json",
        ])
        .json();
        let out = std::process::Command::new("gdb")
            .args(["-batch", "-nx", "-ex", &format!("break {spec}"), p])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let at = text
            .split("Breakpoint 1 at ")
            .nth(1)
            .unwrap_or_else(|| panic!("gdb: {text}"))
            .split(':')
            .next()
            .unwrap();
        assert_eq!(
            hexfield(&r[0], "addr"),
            u64::from_str_radix(at.trim_start_matches("0x"), 16).unwrap(),
            "{point}"
        );
        // Without the flag: the entry.
        let r0 = probeaddr(["resolve", "-x", p, point, "--format", "json"]).json();
        assert_eq!(
            hexfield(&r0[0], "addr"),
            oracle::gdb_address(&bin, gdb, None)
        );
    }
}

#[test]
fn no_dwarf_and_split_dwarf_are_clear_errors() {
    let e = probeaddr([
        "resolve",
        "-x",
        fixtures::path("prog-static").to_str().unwrap(),
        "b.c:22",
    ])
    .error();
    assert!(e.contains("no symbol table"), "{e}");
    let s = fixtures::path("prog-split");
    let e = probeaddr(["resolve", "-x", s.to_str().unwrap(), "b.c:22"]).error();
    assert!(e.contains("split DWARF (-gsplit-dwarf"), "{e}");
    // A line of one function: only that function's unit is checked, and
    // it is a skeleton too.
    let e = probeaddr(["resolve", "-x", s.to_str().unwrap(), "main:2"]).error();
    assert!(e.contains("split DWARF (-gsplit-dwarf"), "{e}");
}

#[test]
fn inlined_sites_match_perf_probe() {
    let bin = fixtures::path("clones");
    let p = bin.to_str().unwrap();
    // check() is split: check.part.0 out of line, and its test inlined into main.
    let all = probeaddr(["resolve", "-x", p, "check", "--format", "json"]).json();
    let mut offs: Vec<u64> = all
        .iter()
        .map(|r| hexfield(&r["anchor"], "offset"))
        .collect();
    offs.sort();
    assert_eq!(offs, oracle::perf_probe_offsets(&bin, "check"));
    let inl: Vec<&serde_json::Value> = all
        .iter()
        .filter(|r| !r["inlined_into"].is_null())
        .collect();
    assert_eq!(inl.len(), 1);
    assert_eq!(inl[0]["inlined_into"], "main");
    assert_eq!(inl[0]["function"], "check");
    assert_eq!(inl[0]["symbol"], "main");
    // .inline: only the inlined site; .call and --no-inlines: only the copy.
    let only = probeaddr([
        "resolve",
        &format!(r#"process("{p}").function("check").inline"#),
        "--format",
        "json",
    ])
    .json();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["link_addr"], inl[0]["link_addr"]);
    let call = probeaddr([
        "resolve",
        &format!(r#"process("{p}").function("check").call"#),
        "--format",
        "json",
    ])
    .json();
    assert_eq!(call.len(), 1);
    assert_eq!(call[0]["symbol"], "check.part.0");
    // A return probe covers function entries only.
    let ret = probeaddr(["resolve", "-x", p, "check%return", "--format", "uprobe"]);
    assert_eq!(ret.stdout.lines().count(), 1, "{}", ret.stderr);
    assert!(
        ret.stdout.starts_with("r:probeaddr/check_part_0__return "),
        "{}",
        ret.stdout
    );
    let e = probeaddr([
        "resolve",
        &format!(r#"process("{p}").function("check").inline.return"#),
    ])
    .error();
    assert!(e.contains("'.return' cannot apply to inlined sites"), "{e}");
}

#[test]
fn lines_lists_the_line_table_rows_of_a_function() {
    let bin = fixtures::path("prog");
    let p = bin.to_str().unwrap();
    let run = probeaddr(["lines", "-x", p, "helper@sub/b.c", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v.len(), 1);
    let ours: Vec<(u64, u64)> = v[0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap(),
                u64::from_str_radix(l["address"].as_str().unwrap().trim_start_matches("0x"), 16)
                    .unwrap(),
            )
        })
        .collect();
    // objdump's decoded line table for sub/b.c, rows inside helper.
    let entry = oracle::gdb_address(&bin, "'sub/b.c'::helper", None);
    let size = oracle::readelf_funcs(&bin, false)
        .into_iter()
        .find(|s| s.value == entry)
        .unwrap()
        .size;
    let text = String::from_utf8(
        std::process::Command::new("objdump")
            .args(["--dwarf=decodedline"])
            .arg(&bin)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mut want: Vec<(u64, u64)> = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 3 && f[0] == "b.c" {
            if let (Ok(line), Some(a)) = (f[1].parse::<u64>(), f[2].strip_prefix("0x")) {
                let a = u64::from_str_radix(a, 16).unwrap();
                if a >= entry && a < entry + size && !want.iter().any(|w| w.0 == line) {
                    want.push((line, a));
                }
            }
        }
    }
    assert_eq!(ours, want);
    assert_eq!(v[0]["decl_line"], 2);
}

#[test]
fn list_shows_copies_and_inlined_sites() {
    let bin = fixtures::path("clones");
    let run = probeaddr([
        "list",
        "-x",
        bin.to_str().unwrap(),
        "check",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["symbol"], "check.part.0");
    assert_eq!(v[0]["decl_file"], "clones.c");
    assert_eq!(v[0]["decl_line"], 21);
    let sites = v[0]["inlined_sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0]["caller"], "main");
    let perf = oracle::perf_probe_offsets(&bin, "check");
    let a = u64::from_str_radix(
        sites[0]["address"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert!(perf.contains(&a), "{perf:?} {a:#x}");
}

#[test]
fn header_inline_sites_in_two_files_match_perf_probe() {
    let bin = fixtures::path("prog-inline");
    let p = bin.to_str().unwrap();
    let all = probeaddr(["resolve", "-x", p, "twice", "--format", "json"]).json();
    assert!(all.len() >= 4, "{all:?}");
    assert!(all
        .iter()
        .all(|r| !r["inlined_into"].is_null() && r["decl_file"] == "inl.h"));
    let mut offs: Vec<u64> = all
        .iter()
        .map(|r| hexfield(&r["anchor"], "offset"))
        .collect();
    offs.sort();
    assert_eq!(offs, oracle::perf_probe_offsets(&bin, "twice"));
    // @inl.h names every copy; @inl1.c only the copies compiled there.
    assert_eq!(
        probeaddr(["resolve", "-x", p, "twice@inl.h", "--format", "json"])
            .json()
            .len(),
        all.len()
    );
    let in1 = probeaddr(["resolve", "-x", p, "twice@inl1.c", "--format", "json"]).json();
    assert!(!in1.is_empty() && in1.len() < all.len());
    assert!(in1.iter().all(|r| r["file"] == "inl1.c"), "{in1:?}");
    let callers: std::collections::BTreeSet<&str> = in1
        .iter()
        .map(|r| r["inlined_into"].as_str().unwrap())
        .collect();
    assert_eq!(
        callers,
        std::collections::BTreeSet::from(["inl1_a", "inl1_b"])
    );
    // No out-of-line copy: a return probe has nothing to attach to.
    let e = probeaddr(["resolve", "-x", p, "twice%return"]).error();
    assert!(
        e.contains("only inlined copies exist, and a return probe needs a function entry"),
        "{e}"
    );
}

#[test]
fn dwarf_comes_from_a_debug_file_when_the_object_has_only_symbols() {
    let bin = fixtures::path("prog-nodebug");
    let p = bin.to_str().unwrap();
    let e = probeaddr(["resolve", "-x", p, "b.c:22"]).error();
    assert!(e.contains("needs DWARF line tables"), "{e}");
    let dbg = fixtures::path("debug");
    let r = probeaddr([
        "resolve",
        "-x",
        p,
        "b.c:22",
        "--debug-dir",
        dbg.to_str().unwrap(),
        "--format",
        "json",
    ])
    .json();
    let mut offs: Vec<u64> = r.iter().map(|r| hexfield(&r["anchor"], "offset")).collect();
    offs.sort();
    assert_eq!(
        offs,
        oracle::perf_probe_offsets(&fixtures::path("prog"), "b.c:22")
    );
}

#[test]
fn symbol_table_and_dwarf_disagreeing_is_said() {
    let bin = fixtures::path("prog-disagree");
    let p = bin.to_str().unwrap();
    // readelf: lonely follows STT_FILE renamed.c; gdb: it is in disagree.c.
    let f = oracle::readelf_funcs(&bin, false)
        .into_iter()
        .find(|s| s.name == "lonely")
        .unwrap();
    assert_eq!(f.file.as_deref(), Some("renamed.c"));
    assert_eq!(oracle::gdb_file_at(&bin, f.value), "disagree.c");
    for point in ["lonely@renamed.c", "lonely@disagree.c"] {
        let run = probeaddr(["resolve", "-x", p, point, "--format", "json"]);
        let r = run.json();
        assert_eq!(hexfield(&r[0], "addr"), f.value, "{point}");
        assert!(
            run.stderr.contains(&format!("lonely at {:#x}: the symbol table names file renamed.c (STT_FILE) but DWARF's compile unit there is disagree.c", f.value)),
            "{point}: {}",
            run.stderr
        );
    }
}

#[test]
fn dwarf_abstract_origin_cycles_end_instead_of_looping() {
    // Patch the clones fixture so that two inlined copies of check() name
    // each other as DW_AT_abstract_origin (A -> B -> A), as a malformed or
    // hostile debug file could. Offsets come from readelf's own dump.
    let bin = fixtures::path("clones");
    let dump = String::from_utf8(
        std::process::Command::new("readelf")
            .arg("--debug-dump=info")
            .arg(&bin)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mut sites: Vec<(u64, u64)> = Vec::new(); // (die offset, abstract_origin attribute offset)
    let mut die = None;
    for l in dump.lines() {
        let t = l.trim_start();
        if t.contains("(DW_TAG_inlined_subroutine)") {
            die = t
                .split(['<', '>'])
                .nth(3)
                .and_then(|h| u64::from_str_radix(h, 16).ok());
        } else if t.contains("DW_AT_abstract_origin") {
            if let (Some(d), Some(a)) = (
                die.take(),
                t.split(['<', '>'])
                    .nth(1)
                    .and_then(|h| u64::from_str_radix(h, 16).ok()),
            ) {
                sites.push((d, a));
            }
        } else if t.starts_with('<') && t.contains("Abbrev Number") {
            die = None;
        }
    }
    assert!(sites.len() >= 2, "{sites:?}");
    let secs = String::from_utf8(
        std::process::Command::new("readelf")
            .args(["-SW"])
            .arg(&bin)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let info_off = secs
        .lines()
        .find(|l| l.contains(" .debug_info "))
        .and_then(|l| {
            l.split_whitespace()
                .skip_while(|w| *w != ".debug_info")
                .nth(3)
        })
        .map(|h| u64::from_str_radix(h, 16).unwrap())
        .unwrap();
    let mut bytes = std::fs::read(&bin).unwrap();
    let (a, b) = (sites[0], sites[1]);
    // ref4 values are relative to the unit, which starts at offset 0 here.
    bytes[(info_off + a.1) as usize..(info_off + a.1 + 4) as usize]
        .copy_from_slice(&(b.0 as u32).to_le_bytes());
    bytes[(info_off + b.1) as usize..(info_off + b.1 + 4) as usize]
        .copy_from_slice(&(a.0 as u32).to_le_bytes());
    let p = std::env::temp_dir().join(format!("probeaddr-cycle-{}", std::process::id()));
    std::fs::write(&p, &bytes).unwrap();
    for args in [
        vec!["resolve", "-x", p.to_str().unwrap(), "check"],
        vec!["list", "-x", p.to_str().unwrap(), "check"],
        vec!["resolve", "-x", p.to_str().unwrap(), "*"],
    ] {
        // coreutils' timeout ends a run that loops (exit 124).
        let out = std::process::Command::new("timeout")
            .arg("20")
            .arg(env!("CARGO_BIN_EXE_probeaddr"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .output()
            .unwrap();
        let status = out.status;
        assert_ne!(
            status.code(),
            Some(124),
            "{args:?} did not finish: a DWARF cycle looped"
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // The out-of-line copy is still found; the cycled sites have no
        // name, and the user is told the chain was cut.
        assert!(status.code() == Some(0), "{args:?}: {err}");
        assert!(
            err.contains("chain that does not end (a cycle); it was cut after 8 links"),
            "{args:?}: {err}"
        );
    }
    std::fs::remove_file(p).unwrap();
}
