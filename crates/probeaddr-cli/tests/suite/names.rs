//! C++ and Rust names: g++ and rustc fixtures built at test time, probed by
//! their source spellings, against `nm -C`, gdb and perf probe.

use super::fixtures::{self, hexfield, probeaddr};
use super::oracle;

fn built(name: &str) -> std::path::PathBuf {
    fixtures::needing(name, "g++, rustc and golang-go")
}

/// `resolve -x BIN POINT --format json` (with `extra` flags).
fn rows(bin: &std::path::Path, point: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut a = vec![
        "resolve",
        "-x",
        bin.to_str().unwrap(),
        point,
        "--format",
        "json",
    ];
    a.extend(extra);
    probeaddr(&a).json()
}

#[test]
fn cpp_names_resolve_as_nm_demangles_them() {
    let bin = built("names-cpp");
    let nm = oracle::nm_demangled(&bin);
    let addr_of = |n: &str| {
        nm.iter()
            .find(|(_, m)| m == n)
            .unwrap_or_else(|| panic!("nm -C has no {n}: {nm:?}"))
            .0
    };
    let mut checked = 0;
    for (point, want) in [
        (
            "ns::Klass::method",
            &["ns::Klass::method(int)", "ns::Klass::method(double)"][..],
        ),
        ("ns::Klass::method(int)", &["ns::Klass::method(int)"][..]),
        (
            "ns::Klass::method(double)",
            &["ns::Klass::method(double)"][..],
        ),
        (
            "ns::twice",
            &[
                "int ns::twice<int>(int)",
                "double ns::twice<double>(double)",
            ][..],
        ),
        (
            "ns::twice<double>",
            &["double ns::twice<double>(double)"][..],
        ),
        (
            "ns::Klass::smethod@names_b.cc",
            &["ns::Klass::smethod(int)"][..],
        ),
        (
            "ns::*",
            &[
                "ns::Klass::method(int)",
                "ns::Klass::method(double)",
                "int ns::twice<int>(int)",
                "double ns::twice<double>(double)",
                "ns::Klass::smethod(int)",
            ][..],
        ),
        // DWARF's own name of the function, as perf finds it.
        (
            "method",
            &["ns::Klass::method(int)", "ns::Klass::method(double)"][..],
        ),
        // A lambda, by the name its mangling gives it.
        (
            "main::{lambda(int)#1}::operator()",
            &["main::{lambda(int)#1}::operator()(int) const"][..],
        ),
        // File-local functions of one name in two files: both, each
        // pinned by its name and file.
        ("local", &["local(int)", "local(int)"][..]),
    ] {
        let got = rows(&bin, point, &[]);
        let mut names: Vec<(String, u64)> = got
            .iter()
            .map(|l| {
                (
                    l["demangled"].as_str().unwrap().to_string(),
                    hexfield(l, "func_addr"),
                )
            })
            .collect();
        // (A name twice in nm -C is at each of its addresses.)
        let mut want: Vec<(String, u64)> = want
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let k = want[..i].iter().filter(|m| *m == n).count();
                let at: Vec<u64> = nm.iter().filter(|(_, m)| m == n).map(|(a, _)| *a).collect();
                (
                    n.to_string(),
                    *at.get(k).unwrap_or_else(|| panic!("nm -C: {n}")),
                )
            })
            .collect();
        names.sort();
        want.sort();
        assert_eq!(names, want, "{point}");
        // Every pin selects its location alone.
        for l in got.iter().filter(|l| l["matches"].as_u64() > Some(1)) {
            let pin = l["pin"]
                .as_str()
                .unwrap_or_else(|| panic!("{point}: no pin: {l}"));
            let one = rows(&bin, pin, &["--unique"]);
            assert_eq!(one.len(), 1, "{point}: pin {pin}");
            assert_eq!(
                hexfield(&one[0], "func_addr"),
                hexfield(l, "func_addr"),
                "{pin}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2 + 2 + 5 + 2 + 2);
    // A misspelt name is told the demangled names closest to it.
    let e = probeaddr(["resolve", "-x", bin.to_str().unwrap(), "ns::Klass::methd"]).error();
    assert!(
        e.contains("closest: ns::Klass::method, ns::Klass::smethod"),
        "{e}"
    );
    // gdb agrees on an overload's address.
    assert_eq!(
        oracle::gdb_address(&bin, "'ns::Klass::method(int)'", None),
        addr_of("ns::Klass::method(int)")
    );
    // perf probe finds one of the two `method`s by its DWARF name.
    let perf = oracle::perf_probe_offsets(&bin, "method");
    assert_eq!(perf.len(), 1, "{perf:?}");
    assert!(rows(&bin, "method", &[])
        .iter()
        .any(|l| hexfield(&l["anchor"], "offset") == perf[0]));
}

#[test]
fn rust_names_in_both_manglings() {
    for b in ["names-rust-legacy", "names-rust-v0"] {
        let bin = built(b);
        let raw: Vec<String> = oracle::readelf_funcs(&bin, false)
            .into_iter()
            .filter(|f| f.name.contains("6Parser4next"))
            .map(|f| format!("{}@{:#x}", f.name, f.value))
            .collect();
        assert_eq!(raw.len(), 1, "{b}: {raw:?}");
        let addr = u64::from_str_radix(raw[0].rsplit("@0x").next().unwrap(), 16).unwrap();
        for point in [
            "mycrate::parse::Parser::next",
            "mycrate::parse::Parser::next@names.rs",
            "mycrate::parse::*",
        ] {
            let got = rows(&bin, point, &[]);
            assert_eq!(got.len(), 1, "{b} {point}: {got:?}");
            assert_eq!(hexfield(&got[0], "func_addr"), addr, "{b} {point}");
            assert_eq!(got[0]["demangled"], "mycrate::parse::Parser::next", "{b}");
            // The source file, not rustc's codegen unit.
            assert_eq!(got[0]["file"], "names.rs", "{b}");
        }
        // A non-ASCII name (legacy mangling escapes it as `$u..$`, v0 as
        // punycode) by its source spelling, at nm -C's address.
        // (binutils 2.40 leaves legacy's escapes as they are:
        // `mycrate::gr$uf6$$udf$e` is U+00F6 ö and U+00DF ß.)
        let nm = oracle::nm_demangled(&bin);
        let at = nm
            .iter()
            .find(|(_, n)| n == "mycrate::größe" || n == "mycrate::gr$uf6$$udf$e")
            .unwrap_or_else(|| panic!("{b}: {nm:?}"))
            .0;
        for point in ["mycrate::größe", "größe", "mycrate::grö*"] {
            let got = rows(&bin, point, &["--unique"]);
            assert_eq!(hexfield(&got[0], "func_addr"), at, "{b} {point}");
            assert_eq!(got[0]["demangled"], "mycrate::größe", "{b} {point}");
        }
        // nm -C spells v0's inherent method `<mycrate::parse::Parser>::next`.
        assert!(
            nm.iter()
                .any(|(a, n)| *a == addr && n.ends_with("Parser>::next")
                    || n == "mycrate::parse::Parser::next"),
            "{b}: {nm:?}"
        );
    }
}

#[test]
fn go_names_as_the_symbol_table_spells_them() {
    let bin = built("go-server");
    let nm = oracle::nm_demangled(&bin);
    // Two methods named (*Server).Serve, one in package main and one in a
    // package with an import path (as net/http.(*Server).Serve): '/' and
    // '.' belong to the name, and a glob on one package leaves the other.
    let srv = "example.com/fixture/srv.(*Server).Serve";
    for (point, name, file) in [
        ("main.(*Server).Serve", "main.(*Server).Serve", "main.go"),
        ("main.(*Server).*", "main.(*Server).Serve", "main.go"),
        ("main.helper", "main.helper", "main.go"),
        (srv, srv, "srv.go"),
        ("example.com/fixture/srv.*", srv, "srv.go"),
        ("example.com/*/srv.(*Server).Serve", srv, "srv.go"),
    ] {
        let addr = nm.iter().find(|(_, n)| n == name).unwrap().0;
        let got = rows(&bin, point, &[]);
        assert_eq!(got.len(), 1, "{point}: {got:?}");
        assert_eq!(hexfield(&got[0], "func_addr"), addr, "{point}");
        assert_eq!(got[0]["symbol"], name);
        // A Go unit is a package ("main"): the file is the function's
        // declaration file, as llvm-dwarfdump gives it.
        let dd = oracle::llvm_dwarfdump_name(&bin, name);
        let decl = dd
            .lines()
            .find_map(|l| l.trim().strip_prefix("DW_AT_decl_file\t(\""))
            .and_then(|l| l.strip_suffix("\")"))
            .unwrap_or_else(|| panic!("{dd}"));
        let want_decl = if file == "main.go" {
            "/go/main.go"
        } else {
            "/go/srv/srv.go"
        };
        assert!(decl.ends_with(want_decl), "{decl}");
        assert_eq!(got[0]["file"], file, "{point}");
        assert_eq!(got[0]["source_path"], decl, "{point}");
        let pinned = rows(&bin, &format!("{point}@{file}"), &["--unique"]);
        assert_eq!(hexfield(&pinned[0], "func_addr"), addr, "{point}@{file}");
    }
    for name in ["main.(*Server).Serve", srv] {
        assert_eq!(
            oracle::gdb_address(&bin, &format!("'{name}'"), None),
            nm.iter().find(|(_, n)| n == name).unwrap().0,
            "{name}"
        );
    }
    // The two methods are different functions at different addresses.
    let both = rows(&bin, "*.(*Server).Serve", &[]);
    assert_eq!(both.len(), 2, "{both:?}");
}

/// Functions whose symbols are asm labels (`int visible() asm("hidden_label")`)
/// are found by their source names through DWARF, as perf finds them: the
/// out-of-line copy at the label's symbol (readelf's address), named so in
/// a note, beside the inlined site; for a return probe and a line too.
#[test]
fn functions_the_symbol_table_names_otherwise_are_found_by_their_dwarf_names() {
    let bin = fixtures::path("renamed");
    let funcs = oracle::readelf_funcs(&bin, false);
    let at = |n: &str| funcs.iter().find(|f| f.name == n).unwrap().value;
    let (hidden, quiet) = (at("hidden_label"), at("quiet_impl"));
    // DWARF names the label's code by the source's name.
    let dd = oracle::llvm_dwarfdump_name(&bin, "visible");
    assert!(
        dd.contains(&format!("DW_AT_low_pc\t({hidden:#018x})")),
        "{dd}"
    );
    assert!(!funcs
        .iter()
        .any(|f| f.name == "visible" || f.name == "quiet"));

    let r = rows(&bin, "visible", &[]);
    let mut offsets: Vec<u64> = r.iter().map(|l| hexfield(&l["anchor"], "offset")).collect();
    offsets.sort();
    assert_eq!(offsets, oracle::perf_probe_offsets(&bin, "visible"));
    assert_eq!(r.len(), 2, "{r:?}");
    let copy = r.iter().find(|l| l["inlined_into"].is_null()).unwrap();
    assert_eq!(hexfield(copy, "func_addr"), hidden);
    assert_eq!(copy["symbol"], "hidden_label");
    assert!(
        copy["notes"].to_string().contains(
            "the symbol table names this copy of visible 'hidden_label'; DWARF's DW_AT_name is visible (an asm label"
        ),
        "{}",
        copy["notes"]
    );
    let site = r.iter().find(|l| l["inlined_into"] == "main").unwrap();
    assert_eq!(site["function"], "visible");
    // Each pin selects its location alone.
    for l in &r {
        let pin = l["pin"].as_str().unwrap();
        let again = rows(&bin, pin, &["--unique"]);
        assert_eq!(again.len(), 1, "{pin}");
        assert_eq!(again[0]["addr"], l["addr"], "{pin}");
    }

    // Never inlined: the one copy, also for a return probe and a line.
    let q = rows(&bin, "quiet", &["--unique"]);
    assert_eq!(hexfield(&q[0], "func_addr"), quiet);
    assert_eq!(oracle::perf_probe_offsets(&bin, "quiet"), [quiet]);
    let r = rows(&bin, "quiet%return", &["--unique"]);
    assert_eq!(
        (hexfield(&r[0], "func_addr"), r[0]["kind"].as_str()),
        (quiet, Some("return"))
    );
    // quiet:2 is line 10, which gdb (naming it <quiet>) places at the
    // entry; perf refuses it for sharing that address with line 9, and
    // takes quiet:0 (the entry) instead.
    let l = rows(&bin, "quiet:2", &["--unique"]);
    assert_eq!(hexfield(&l[0], "func_addr"), quiet);
    assert_eq!(l[0]["line"]["line"], 10, "{:?}", l[0]);
    assert_eq!(
        hexfield(&l[0], "addr"),
        oracle::gdb_line_address(&bin, "renamed.c:10")
    );
    let l = rows(&bin, "quiet:0", &["--unique"]);
    assert_eq!(
        vec![hexfield(&l[0]["anchor"], "offset")],
        oracle::perf_probe_offsets(&bin, "quiet:0")
    );
}

/// A C function named in UTF-8 (`café`): the parser takes the name, and it
/// resolves at nm's and gdb's address, with perf agreeing. (readelf 2.40
/// prints such a name cut to `caf` and one byte unless told
/// `--unicode=escape`, which gives `caf\u00e9`: nm prints the bytes.)
#[test]
fn a_name_that_is_not_ascii_resolves() {
    let bin = fixtures::path("nonascii");
    let addr = oracle::nm_demangled(&bin)
        .into_iter()
        .find(|(_, n)| n == "café")
        .unwrap()
        .0;
    assert_eq!(oracle::gdb_address(&bin, "café", None), addr);
    for point in ["café", "caf?", "café@nonascii.c"] {
        let got = rows(&bin, point, &["--unique"]);
        assert_eq!(hexfield(&got[0], "func_addr"), addr, "{point}");
        assert_eq!(got[0]["symbol"], "café");
    }
    // perf cannot name the event itself ("café" is an invalid event name):
    // given one, it agrees. probeaddr names it from the ASCII it can keep.
    assert_eq!(
        oracle::perf_probe_offsets(&bin, "caf=café"),
        [oracle::readelf_file_offset(&bin, addr)]
    );
    let u = probeaddr([
        "resolve",
        "-x",
        bin.to_str().unwrap(),
        "café",
        "--format",
        "uprobe",
    ]);
    assert!(u.stdout.starts_with("p:probeaddr/caf "), "{}", u.stdout);
    // A syntax error after it still points at its column.
    let e = probeaddr(["resolve", "-x", bin.to_str().unwrap(), "café:x"]).error();
    assert!(e.contains("at column 6"), "{e}");
}
