//! Fetch arguments (`compute n s->len s->name:string`) on the args fixture
//! at -O0, -O2 and -O2 -fno-omit-frame-pointer: the same fetch arguments as
//! `perf probe -D` where perf is right, the program's own printed values
//! when the uprobes fire, and an error naming the variable where no fetch
//! argument can read it.

use std::collections::BTreeMap;

use super::fixtures::{self, probeaddr};
use super::oracle;

const BUILDS: [&str; 3] = ["args-O0", "args-O2", "args-O2fp"];

/// What perf can also compute. Differences, each checked below: perf
/// types an unsigned integer as hex (`tag=%dx:x16`) where probeaddr writes
/// `u16` (the same bits, printed in decimal as the source has them); perf
/// cannot read bitfields at all ("Failed to get the offset of mode"); and
/// perf writes globals as `@counter+0`, which uprobe_events refuses (it
/// takes only `@+FILE_OFFSET`).
const COMMON: &str = "n s->len s->name:string s->in.c s->pin->a s->arr[1] tag s->label:string";

fn uprobe_line(bin: &std::path::Path, point: &str) -> (String, Vec<String>) {
    let r = probeaddr([
        "resolve",
        "-x",
        bin.to_str().unwrap(),
        point,
        "--format",
        "uprobe",
    ]);
    assert_eq!(r.code, 0, "{point}: {}", r.stderr);
    let line = r
        .stdout
        .lines()
        .next()
        .unwrap_or_else(|| panic!("{point}: no probe"));
    let mut w = line.split_whitespace().skip(1);
    let target = w.next().unwrap().to_string();
    (target, w.map(str::to_string).collect())
}

/// `probeaddr COMMAND -x BIN POINT --format json`: its locations.
fn json_rows(command: &str, bin: &std::path::Path, point: &str) -> Vec<serde_json::Value> {
    probeaddr([
        command,
        "-x",
        bin.to_str().unwrap(),
        point,
        "--format",
        "json",
    ])
    .json()
}

/// `@+OFFSET` for link-time address `addr`, from the probe of location
/// `row`: the kernel adds the probe's mapping base (its runtime address
/// minus its file offset) to the offset.
fn file_offset_of(row: &serde_json::Value, addr: u64) -> String {
    let off = addr - fixtures::hexfield(row, "addr") + fixtures::hexfield(&row["anchor"], "offset");
    format!("@+{off:#x}")
}

#[test]
fn fetch_arguments_equal_perf_probe_at_three_optimisation_levels() {
    let mut compared = 0;
    for b in BUILDS {
        let bin = fixtures::path(b);
        for point in [format!("compute {COMMON}"), "other v unused".to_string()] {
            let perf = oracle::perf_probe_args(&bin, &point);
            assert_eq!(perf.len(), 1, "{b} {point}: {perf:?}");
            let (ptarget, pargs) = &perf[0];
            let (target, args) = uprobe_line(&bin, &point);
            // perf gives the absolute path; both are PATH:0xOFFSET.
            assert_eq!(
                target.rsplit(':').next(),
                ptarget.rsplit(':').next(),
                "{b} {point}"
            );
            // perf types every unsigned integer as hex.
            let hex: Vec<String> = args.iter().map(|a| a.replace(":u16", ":x16")).collect();
            assert_eq!(&hex, pargs, "{b} {point}");
            compared += args.len();
        }
    }
    // 8 + 2 arguments in each of three builds.
    assert_eq!(compared, 30);
}

#[test]
fn globals_are_file_offsets_from_the_probes_mapping_and_statics_keep_their_file() {
    for b in BUILDS {
        let bin = fixtures::path(b);
        for (point, file, want) in [
            ("compute counter same", "args.c", ["counter", "same"]),
            ("other same same", "args_other.c", ["same", "same"]),
            // args_other.c's DWARF does not mention counter: its symbol
            // places it, and the type is the user's.
            ("other counter:s32", "args_other.c", ["counter", ""]),
        ] {
            let rows = json_rows("resolve", &bin, point);
            assert_eq!(rows.len(), 1);
            let got = rows[0]["args"].as_array().unwrap();
            assert_eq!(
                got.len(),
                want.iter().filter(|w| !w.is_empty()).count(),
                "{point}"
            );
            for (arg, var) in got.iter().zip(want) {
                let arg = arg.as_str().unwrap();
                let addr = match var {
                    "counter" => oracle::readelf_objects(&bin, "counter", None),
                    _ => oracle::readelf_objects(&bin, "same", Some(file)),
                };
                assert_eq!(addr.len(), 1, "{b}: {var} in {file}");
                let body = arg.split_once('=').unwrap().1;
                assert_eq!(
                    body,
                    format!("{}:s32", file_offset_of(&rows[0], addr[0])),
                    "{b} {point}"
                );
            }
            // The same name twice is recorded twice, under two names.
            if point == "other same same" {
                let names: Vec<&str> = rows[0]["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().split('=').next().unwrap())
                    .collect();
                assert_eq!(names, ["same", "same_2"]);
            }
        }
    }
}

/// The fixture's own line `compute n=3 len=4096 ...` as a map.
fn printed(stdout: &str, prefix: &str) -> BTreeMap<String, String> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in {stdout}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|w| w.split_once('='))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn uprobes_read_the_values_the_program_prints() {
    if std::env::var_os("PROBEADDR_SKIP_LIVE").is_some() {
        eprintln!("PROBEADDR_SKIP_LIVE set: skipping");
        return;
    }
    for b in BUILDS {
        let bin = fixtures::PrivateCopy::new(&fixtures::path(b), &format!("args-{b}"));
        let p = bin.as_str();
        let run = probeaddr([
            "trace",
            "-x",
            p,
            "compute n len=s->len s->name:string s->in.mode s->in.flag s->in.c s->pin->a arr1=s->arr[1] counter same tag s->label:string",
            "compute%return $retval",
            "other v same",
            "--json",
            "--",
            p,
        ]);
        let mut hits = BTreeMap::new();
        // The traced program's own output goes to stderr, beside the
        // tracer's notes: stdout is the hits alone.
        let own = run.stderr.clone();
        for v in run.hits() {
            let args: BTreeMap<String, String> = v["args"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_string)))
                .collect();
            // Unoptimised code is probed after its prologue
            // (compute_0x1a): name hits by function.
            let ev = v["event"].as_str().unwrap();
            let key = if ev.ends_with("__return") {
                "compute__return"
            } else {
                ev.split('_').next().unwrap()
            };
            assert!(
                hits.insert(key.to_string(), args).is_none(),
                "{b}: {ev} twice"
            );
        }
        // The table shows the values by name, as the kernel formats them.
        if b == "args-O2" {
            let bin2 = fixtures::PrivateCopy::new(&fixtures::path(b), "args-t");
            let p2 = bin2.as_str();
            let table = probeaddr(["trace", "-x", p2, "compute n s->name:string", "--", p2]);
            assert_eq!(table.code, 0, "{}", table.stderr);
            // The program's own output is beside the hits here (only
            // --json keeps stdout for hits alone).
            let n = &printed(&table.stdout, "compute ")["n"];
            assert!(
                table
                    .stdout
                    .lines()
                    .any(|l| l.ends_with(&format!(" n={n} name=\"{p2}\""))),
                "{}",
                table.stdout
            );
        }
        let mut want = printed(&own, "compute ");
        // The program prints its argv[0]; arr[1] is printed as arr1.
        want.insert("name".into(), p.to_string());
        want.insert("label".into(), "label7".into());
        assert_eq!(hits["compute"], want, "{b}");
        assert_eq!(hits["other"], printed(&own, "other "), "{b}");
        assert_eq!(
            hits["compute__return"],
            BTreeMap::from([("retval".to_string(), printed(&own, "main ")["ret"].clone())]),
            "{b}"
        );
    }
}

#[test]
fn what_cannot_be_read_is_an_error_naming_the_variable_and_why() {
    let o2 = fixtures::path("args-O2");
    let o0 = fixtures::path("args-O0");
    for (bin, point, says) in [
        // perf agrees: "Failed to find the location of the 'k' variable at this address".
        (
            &o2,
            "compute k",
            "'k' cannot be read there: optimized out at this address",
        ),
        (&o2, "compute s->nope", "'s' has no member 'nope'"),
        (&o2, "compute s->in", "'s->in' is a struct: name a member"),
        (&o2, "compute s->arr", "'s->arr' is an array"),
        (&o2, "compute s.len", "'s' is a pointer: use '->len'"),
        (&o2, "compute *n", "'n' is an integer, not a pointer"),
        (
            &o2,
            "compute nosuch",
            "no variable 'nosuch' in scope there (in scope: n, s, tag, k; and the unit's globals), and the symbol table has no global data symbol 'nosuch'",
        ),
        (
            &o2,
            "compute $retval",
            "only a return probe (%return) can read",
        ),
        (&o2, "compute%return n", "only '$retval' can be read"),
        (
            &o0,
            "compute+4 $arg1",
            "hold the arguments only at a function's entry",
        ),
        (&o2, "compute n:u7", "unknown type 'u7x'"),
    ] {
        let point = if point.ends_with(":u7") {
            "compute n:u7x"
        } else {
            point
        };
        let err = probeaddr(["resolve", "-x", bin.to_str().unwrap(), point]).error();
        assert!(err.contains(says), "{point}: {err}");
    }
    // Past the entry, an entry value is gone; $vars says what it left out.
    let r = probeaddr([
        "resolve",
        "-x",
        o2.to_str().unwrap(),
        "compute:6 $vars",
        "--format",
        "uprobe",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("$vars: 'tag' left out: its value is the one register dx held at the function's entry (DW_OP_entry_value)"),
        "{}",
        r.stderr
    );
}

#[test]
fn arguments_at_an_entry_by_the_calling_convention_and_raw() {
    let o2 = fixtures::path("args-O2");
    let (_, args) = uprobe_line(&o2, "compute $arg1 $arg2:u64 $arg3 x=%dx:u16 $params");
    assert_eq!(
        args,
        [
            // The Nth argument slot, typed as the Nth parameter where
            // DWARF says that parameter is in that slot.
            "arg1=%di:s32",
            "arg2=%si:u64",
            "arg3=%dx:u16",
            "x=%dx:u16",
            "n=%di:s32",
            "s=%si:x64",
            "tag=%dx:u16"
        ]
    );
    // stap syntax reads the same.
    let stap = format!(
        "process(\"{}\").function(\"compute\") $n $s->len $$parms",
        o2.display()
    );
    let r = probeaddr(["resolve", &stap, "--format", "uprobe"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r.stdout.lines().next().unwrap();
    assert!(
        line.ends_with(" n=%di:s32 len=+0(%si):s64 n_2=%di:s32 s=%si:x64 tag=%dx:u16"),
        "{line}"
    );
}

#[test]
fn vars_lists_what_perf_lists_with_how_to_read_each() {
    for b in BUILDS {
        let bin = fixtures::path(b);
        for point in ["compute", "other"] {
            let perf = oracle::perf_probe_vars(&bin, point);
            let rows = json_rows("vars", &bin, point);
            assert_eq!(rows.len(), 1, "{b} {point}");
            let mut ours: Vec<(String, String)> = rows[0]["variables"]
                .as_array()
                .unwrap()
                .iter()
                // perf leaves out what has no location there; probeaddr
                // lists it with why (checked below).
                .filter(|v| {
                    !v["unavailable"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("optimized out"))
                })
                // perf writes `struct rec*`, probeaddr `struct rec *`.
                .map(|v| {
                    (
                        v["type"].as_str().unwrap().replace(" *", "*"),
                        v["name"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            ours.sort();
            assert_eq!(ours, perf, "{b} {point}");
        }
    }
    // How each is read, or why not, at the -O2 entry: the same fetch
    // arguments resolve gives.
    let o2 = fixtures::path("args-O2");
    let rows = json_rows("vars", &o2, "compute");
    let got: Vec<(String, String)> = rows[0]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let how = v["fetch"].as_str().or(v["unavailable"].as_str()).unwrap();
            (v["name"].as_str().unwrap().to_string(), how.to_string())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("n", "%di:s32"),
            ("s", "%si:x64"),
            ("tag", "%dx:u16"),
            (
                "k",
                "optimized out at this address (its location list does not cover it)"
            ),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // --externs adds the unit's globals, each file's own static.
    let r = probeaddr(["vars", "-x", o2.to_str().unwrap(), "other", "--externs"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let same = oracle::readelf_objects(&o2, "same", Some("args_other.c"));
    let rows = json_rows("resolve", &o2, "other");
    assert!(
        r.stdout
            .contains(&format!("same\t{}:s32", file_offset_of(&rows[0], same[0]))),
        "{}",
        r.stdout
    );
}

/// i386: every argument on the stack above the return address, read live
/// from a 32-bit process; and what a 64-bit kernel cannot read there
/// refused, where perf writes a fetch argument that reads garbage.
#[test]
fn i386_arguments_are_stack_slots_read_live() {
    let built = fixtures::needing("args-O2-m32", "gcc-multilib");
    let (_, args) = uprobe_line(&built, "compute $arg1 $arg3 n tag counter");
    let row = &json_rows("resolve", &built, "compute")[0];
    let counter = oracle::readelf_objects(&built, "counter", None);
    assert_eq!(
        args,
        [
            "arg1=+4(%sp):s32",
            "arg3=+12(%sp):u16",
            "n=+4(%sp):s32",
            "tag=+12(%sp):u16",
            &format!("counter={}:s32", file_offset_of(row, counter[0])),
        ]
    );
    // perf places n and tag alike (`$stack` is %sp; it types unsigned as
    // hex), and writes s->len as +0(+8($stack)):s32. Traced below, that
    // does not read the 4096 the program has: a 64-bit kernel follows
    // +8($stack) as 8 bytes, the pointer and tag above it. probeaddr
    // refuses it instead.
    let perf = oracle::perf_probe_args(&built, "compute n tag s->len");
    assert_eq!(
        perf[0].1,
        [
            "n=+4($stack):s32",
            "tag=+12($stack):x16",
            "len=+0(+8($stack)):s32"
        ]
    );
    let e = probeaddr(["resolve", "-x", built.to_str().unwrap(), "compute s->len"]).error();
    assert!(e.contains("which a 64-bit kernel reads as 8 bytes"), "{e}");

    let bin = fixtures::PrivateCopy::new(&built, "args32");
    let p = bin.as_str();
    let run = probeaddr([
        "trace",
        "-x",
        p,
        "compute $arg1 $arg3 n tag counter perf_len=+0(+8(%sp)):s32",
        "compute%return $retval",
        "--json",
        "--",
        p,
    ]);
    let hits = run.hits();
    // The program's own output, beside the tracer's notes.
    let printed = printed(&run.stderr, "compute ");
    let ret = super::args::printed(&run.stderr, "main ")["ret"].clone();
    assert_eq!(hits.len(), 2, "{}", run.stdout);
    let a = &hits[0]["args"];
    for (k, want) in [
        ("arg1", "n"),
        ("n", "n"),
        ("arg3", "tag"),
        ("tag", "tag"),
        ("counter", "counter"),
    ] {
        assert_eq!(a[k].to_string(), printed[want], "{k}");
    }
    assert_eq!(hits[1]["args"]["retval"].to_string(), ret);
    // perf's s->len, written raw: not the 4096 the program printed.
    assert_eq!(printed["len"], "4096");
    assert_ne!(a["perf_len"].to_string(), "4096", "{a}");
}

/// Variables at inlined sites, against perf -V and perf -D on the inlined
/// header helper of prog-inline (-O2). perf lists `x` where twice is
/// inlined at inl1_b's entry, and reads it as +1(%di): memory at rdi+1.
/// DWARF (llvm-dwarfdump) says `DW_OP_breg5 RDI+1, DW_OP_stack_value`:
/// the value rdi+1, which no fetch argument computes; probeaddr says so.
/// Where x has no location, perf writes the constant 0xdeade12d, and
/// probeaddr says it is optimized out.
#[test]
fn variables_at_inlined_sites_are_what_dwarf_says_where_perf_is_wrong() {
    let bin = fixtures::path("prog-inline");
    let perf = oracle::perf_probe_vars_at_each(&bin, "twice");
    let rows = json_rows("vars", &bin, "twice");
    assert_eq!(rows.len(), perf.len(), "{perf:?}");
    let mut compared = 0;
    for r in &rows {
        // perf names a site by the function holding it and the offset.
        let off = fixtures::hexfield(r, "offset");
        let at = format!("{}+{off}", r["symbol"].as_str().unwrap());
        let theirs = perf
            .get(&at)
            .unwrap_or_else(|| panic!("perf has no {at}: {perf:?}"));
        let vars = r["variables"].as_array().unwrap();
        // Every variable perf lists is listed, with its type.
        for (t, n) in theirs {
            assert!(
                vars.iter()
                    .any(|v| v["name"] == n.as_str() && v["type"] == t.as_str()),
                "{at}: {n}"
            );
            compared += 1;
        }
        let x = vars.iter().find(|v| v["name"] == "x").unwrap();
        assert!(x["fetch"].is_null(), "{at}: {x}");
        let why = x["unavailable"].as_str().unwrap();
        if at == "inl1_b+0" {
            assert!(why.contains("a register plus a constant"), "{why}");
        } else {
            assert!(why.starts_with("optimized out"), "{at}: {why}");
        }
    }
    assert_eq!((rows.len(), compared), (4, 1));
    let dwarf = oracle::llvm_dwarfdump_name(&bin, "x");
    assert!(
        dwarf.contains("DW_OP_breg5 RDI+1, DW_OP_stack_value"),
        "{dwarf}"
    );
    let perf_d = oracle::perf_probe_args(&bin, "twice x");
    let bodies: Vec<&str> = perf_d
        .iter()
        .map(|(_, a)| a[0].split_once('=').unwrap().1)
        .collect();
    assert_eq!(
        bodies.iter().filter(|b| **b == "+1(%di):s32").count(),
        1,
        "{bodies:?}"
    );
    assert_eq!(
        bodies.iter().filter(|b| **b == "\\deade12d:s32").count(),
        3,
        "{bodies:?}"
    );
    let e = probeaddr(["resolve", "-x", bin.to_str().unwrap(), "twice x"]).error();
    assert!(e.contains("'x'"), "{e}");
}
