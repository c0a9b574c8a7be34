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
        // nm -C spells v0's inherent method `<mycrate::parse::Parser>::next`.
        let nm = oracle::nm_demangled(&bin);
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
    for (point, name) in [
        ("main.(*Server).Serve", "main.(*Server).Serve"),
        ("main.(*Server).*", "main.(*Server).Serve"),
        ("main.helper", "main.helper"),
    ] {
        let addr = nm.iter().find(|(_, n)| n == name).unwrap().0;
        let got = rows(&bin, point, &[]);
        assert_eq!(got.len(), 1, "{point}: {got:?}");
        assert_eq!(hexfield(&got[0], "func_addr"), addr, "{point}");
        assert_eq!(got[0]["symbol"], name);
    }
    assert_eq!(
        oracle::gdb_address(&bin, "'main.(*Server).Serve'", None),
        nm.iter()
            .find(|(_, n)| n == "main.(*Server).Serve")
            .unwrap()
            .0
    );
}
