//! Real Debian packages, installed by scripts/test (`libc6-dbg`): what a
//! distribution's debug files contain that fixtures do not, checked against
//! readelf and perf probe.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fixtures::{hexfield, probeaddr};
use super::oracle;

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

/// `resolve -x LIBC FLAGS... --format json POINTS...`: every location, in
/// one batch.
fn resolve_libc<S: AsRef<str>>(flags: &[&str], points: &[S]) -> Vec<serde_json::Value> {
    let mut args: Vec<String> = vec!["resolve".into(), "-x".into(), LIBC.into()];
    args.extend(flags.iter().map(|s| s.to_string()));
    args.extend(["--format".into(), "json".into()]);
    args.extend(points.iter().map(|p| p.as_ref().to_string()));
    probeaddr(&args).json()
}

/// libc's separate debug file (libc6-dbg), by build-id. Missing is a failure.
fn libc_debug_file() -> PathBuf {
    let id = oracle::readelf_build_id(Path::new(LIBC));
    let p = PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{}/{}.debug",
        &id[..2],
        &id[2..]
    ));
    assert!(
        p.exists(),
        "{} missing: install libc6-dbg (scripts/test does)",
        p.display()
    );
    p
}

/// `readelf -sW` FUNC symbols whose name carries a version:
/// `(name, version with its @ or @@, value)`.
fn versioned_functions(debug: &Path) -> Vec<(String, String, u64)> {
    // readelf complains about the debug file's missing interpreter on
    // stderr; the table on stdout is whole.
    let out = Command::new("readelf")
        .arg("-sW")
        .arg(debug)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 || f[3] != "FUNC" || f[6] == "UND" {
                return None;
            }
            let at = f[7].find('@').filter(|&i| i > 0)?;
            Some((
                f[7][..at].to_string(),
                f[7][at..].to_string(),
                u64::from_str_radix(f[1], 16).unwrap(),
            ))
        })
        .collect()
}

/// Where a plain name resolves among its versions: its default one (the
/// linker binds a plain reference so), else every compat one. `(version,
/// addr)` of each that must be a location, and the compat versions the
/// default's note must name.
fn plain_name_targets(versions: &[(&str, u64)]) -> (Vec<(String, u64)>, Vec<String>) {
    match versions.iter().find(|v| v.0.starts_with("@@")) {
        Some(d) => {
            let others = versions
                .iter()
                // (A compat version at the default's address is that location.)
                .filter(|v| !v.0.starts_with("@@") && v.1 != d.1)
                .map(|v| v.0.to_string())
                .collect();
            (vec![(d.0.to_string(), d.1)], others)
        }
        None => (
            versions.iter().map(|v| (v.0.to_string(), v.1)).collect(),
            Vec::new(),
        ),
    }
}

#[test]
fn versioned_libc_functions_resolve_by_their_plain_names() {
    let debug = libc_debug_file();
    // The debug file's .symtab spells versions into names where the source
    // chose them (fopen@@GLIBC_2.2.5, memcpy@GLIBC_2.2.5); .dynsym has the
    // version of every export (memcpy@@GLIBC_2.14, only there).
    let mut want = versioned_functions(&debug);
    assert!(want.len() > 500, "{}", want.len());
    want.extend(dynsym_versioned_functions(Path::new(LIBC)));
    want.sort();
    want.dedup();
    let mut by_name: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
    for (n, v, a) in &want {
        by_name.entry(n).or_default().push((v, *a));
    }
    // Every plain name, in one batch: its default version (or, without
    // one, each compat version) is a location, at readelf's address and
    // file offset; a compat version elsewhere is named in a note.
    let names: Vec<&str> = by_name.keys().copied().collect();
    let got = resolve_libc(&["--no-inlines"], &names);
    let mut found: BTreeMap<&str, Vec<&serde_json::Value>> = BTreeMap::new();
    for l in &got {
        let point = l["point"].as_str().unwrap();
        let name = by_name.get_key_value(point).map(|(k, _)| *k).unwrap();
        found.entry(name).or_default().push(l);
    }
    let (mut checked, mut noted, mut compat_only) = (0, 0, 0);
    for (name, versions) in &by_name {
        let locs = found
            .get(name)
            .unwrap_or_else(|| panic!("{name}: not found"));
        let (targets, others) = plain_name_targets(versions);
        if !versions.iter().any(|v| v.0.starts_with("@@")) {
            compat_only += 1;
        }
        // No other version of the name is a location (a static of the same
        // name without a version may be).
        let versioned: Vec<u64> = locs
            .iter()
            .filter(|l| l["version"].is_string())
            .map(|l| hexfield(l, "func_addr"))
            .collect();
        let mut want_addrs: Vec<u64> = targets.iter().map(|t| t.1).collect();
        want_addrs.dedup();
        assert_eq!(versioned, want_addrs, "{name}: {locs:?}");
        for (version, addr) in &targets {
            let l = locs
                .iter()
                .find(|l| hexfield(l, "func_addr") == *addr)
                .unwrap();
            assert_eq!(
                hexfield(&l["anchor"], "offset"),
                oracle::readelf_file_offset(Path::new(LIBC), *addr)
            );
            // Two versions at one address are one location (the one kept
            // names either); one version at its own address names it.
            if versions.iter().filter(|v| v.1 == *addr).count() == 1 {
                assert_eq!(l["version"], version.as_str(), "{name} at {addr:#x}");
            }
            let notes = l["notes"].to_string();
            for o in &others {
                assert!(notes.contains(&format!("{name}{o}")), "{name}: {notes}");
                noted += 1;
            }
            checked += 1;
        }
    }
    // (Debian 12: 2,594 names, 31 notes, 251 with compat versions only.)
    assert!(
        checked > 2000 && noted > 20 && compat_only > 100,
        "{checked} {noted} {compat_only}"
    );
    // perf probe finds the default version of each of these, and so do we
    // (and nothing else).
    for f in [
        "fopen",
        "fclose",
        "pthread_create",
        "pthread_mutex_lock",
        "dlopen",
        "realpath",
        "__libc_start_main",
        "pthread_cond_wait",
        "posix_spawn",
    ] {
        let perf = oracle::perf_probe_offsets(Path::new(LIBC), f);
        assert_eq!(perf.len(), 1, "{f}: {perf:?}");
        let ours: Vec<u64> = got
            .iter()
            .filter(|l| l["point"] == f)
            .map(|l| hexfield(&l["anchor"], "offset"))
            .collect();
        assert_eq!(ours, perf, "{f}");
    }
    // Every version (`NAME@*`) is a location, each named as such; the
    // default keeps the plain event name.
    let r = probeaddr([
        "resolve",
        "-x",
        LIBC,
        "realpath@*",
        "--no-inlines",
        "--format",
        "uprobe",
    ]);
    let compat = want
        .iter()
        .find(|w| w.0 == "realpath" && !w.1.starts_with("@@"))
        .unwrap();
    assert!(
        r.stdout.contains(&format!(
            "p:probeaddr/realpath_GLIBC_2_2_5 /usr/lib/x86_64-linux-gnu/libc.so.6:{:#x}\n",
            oracle::readelf_file_offset(Path::new(LIBC), compat.2)
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(
            "realpath@@GLIBC_2.3 [canonicalize.c], realpath@GLIBC_2.2.5 [canonicalize.c]"
        ),
        "{}",
        r.stderr
    );
    // Closest names are plain names, usable as written.
    let e = probeaddr(["resolve", "-x", LIBC, "fopne", "--no-inlines"]).error();
    assert!(e.contains("closest: fopen"), "{e}");
}

/// Every versioned function by `NAME@VERSION` as readelf spells it
/// (`fopen@@GLIBC_2.2.5` the default, `realpath@GLIBC_2.2.5` a compat one):
/// one location each, at readelf's address; and the pins of a name with
/// two versions are those spellings, which select one each.
#[test]
fn a_symbol_version_selects_that_version() {
    let want = versioned_functions(&libc_debug_file());
    let points: Vec<String> = want.iter().map(|(n, v, _)| format!("{n}{v}")).collect();
    let got = resolve_libc(&["--no-inlines", "--unique"], &points);
    let mut at: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for l in &got {
        at.entry(l["point"].as_str().unwrap().to_string())
            .or_default()
            .push(hexfield(l, "func_addr"));
    }
    for ((n, v, addr), p) in want.iter().zip(&points) {
        assert_eq!(at.get(p), Some(&vec![*addr]), "{n}{v}");
    }
    assert_eq!(at.len(), want.len());
    // A compat version is also found without its '@'s' kind: one '@'
    // matches any version so named.
    let l = resolve_libc(&["--no-inlines", "--unique"], &["realpath@GLIBC_2.3"]);
    assert_eq!(l[0]["version"], "@@GLIBC_2.3");
    // A plain name is its default version, so it is unique; every version
    // is not, and its pins are the versions' spellings.
    let l = resolve_libc(&["--no-inlines", "--unique"], &["realpath"]);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["version"], "@@GLIBC_2.3");
    let e = probeaddr([
        "resolve",
        "-x",
        LIBC,
        "realpath@*",
        "--unique",
        "--no-inlines",
    ])
    .stderr;
    assert!(
        e.contains("pin with 'realpath@@GLIBC_2.3'")
            && e.contains("pin with 'realpath@GLIBC_2.2.5'"),
        "{e}"
    );
    // `@@` names the default version only: the compat one so spelled is
    // refused, saying how to write it.
    let e = probeaddr(["resolve", "-x", LIBC, "realpath@@GLIBC_2.2.5"]).error();
    assert!(
        e.contains("realpath@GLIBC_2.2.5 is a compat version, not the default ('@@'): write 'realpath@GLIBC_2.2.5'; its versions: realpath@@GLIBC_2.3, realpath@GLIBC_2.2.5"),
        "{e}"
    );
    let e = probeaddr(["resolve", "-x", LIBC, "realpath@GLIBC_9"]).error();
    assert!(
        e.contains("not in a file or version matching 'GLIBC_9'; it is in: canonicalize.c; its versions: realpath@@GLIBC_2.3, realpath@GLIBC_2.2.5"),
        "{e}"
    );
}

/// libc without its debug file: a copy whose build-id and .gnu_debuglink
/// name no file (the bytes are changed in place, so the layout is libc's).
fn libc_without_debug_file() -> super::fixtures::PrivateCopy {
    let copy = super::fixtures::PrivateCopy::new(Path::new(LIBC), "libc-nodbg");
    let mut bytes = std::fs::read(&*copy).unwrap();
    let id = oracle::readelf_build_id(Path::new(LIBC));
    let raw: Vec<u8> = (0..id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap())
        .collect();
    let at = bytes
        .windows(raw.len())
        .position(|w| w == raw)
        .expect("build-id bytes");
    bytes[at] ^= 0xff;
    let link = format!("{}.debug", &id[2..]);
    let at = bytes
        .windows(link.len())
        .position(|w| w == link.as_bytes())
        .expect(".gnu_debuglink name");
    bytes[at] = b'X';
    std::fs::write(&*copy, bytes).unwrap();
    copy
}

/// `readelf --dyn-syms -W` functions defined with a version:
/// `(name, version with its @ or @@, value)`.
fn dynsym_versioned_functions(bin: &Path) -> Vec<(String, String, u64)> {
    let out = Command::new("readelf")
        .args(["--dyn-syms", "-W"])
        .arg(bin)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 || !["FUNC", "IFUNC"].contains(&f[3]) || f[6] == "UND" {
                return None;
            }
            let at = f[7].find('@').filter(|&i| i > 0)?;
            Some((
                f[7][..at].to_string(),
                f[7][at..].to_string(),
                u64::from_str_radix(f[1], 16).unwrap(),
            ))
        })
        .collect()
}

/// Every function of libc's `.dynsym` resolves to the same address with
/// and without libc6-dbg, and in a copy objcopy has removed sections from: by plain name (the default version, or each
/// compat one where there is none) and by `NAME@VERSION` as readelf spells
/// it. Without the debug file the versions come from `.gnu.version`.
#[test]
fn dynsym_functions_resolve_alike_with_and_without_the_debug_file() {
    libc_debug_file();
    let bare = libc_without_debug_file();
    let want = dynsym_versioned_functions(Path::new(LIBC));
    assert!(want.len() > 2000, "{}", want.len());
    let mut by_name: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
    for (n, v, a) in &want {
        by_name.entry(n).or_default().push((v, *a));
    }
    let names: Vec<&str> = by_name.keys().copied().collect();
    let spelled: Vec<String> = want.iter().map(|(n, v, _)| format!("{n}{v}")).collect();
    // And objcopy's copy without those sections: it renumbers the section
    // headers but not .dynsym's indexes, so each entry names the section
    // after its own; they are placed by address, and said so.
    let scratch = super::fixtures::Scratch::new("libc-objcopy");
    let stripped = scratch.join("libc.so.6");
    let out = Command::new("objcopy")
        .args([
            "--remove-section",
            ".gnu_debuglink",
            "--remove-section",
            ".note.gnu.build-id",
        ])
        .arg(LIBC)
        .arg(&stripped)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = probeaddr(["resolve", "-x", stripped.to_str().unwrap(), "realpath"]);
    assert!(
        r.stderr
            .contains(" .dynsym functions name a section that does not hold them (e.g. ")
            && r.stderr
                .contains("placed by address, as the dynamic linker places them"),
        "{}",
        r.stderr
    );
    let mut per_file = Vec::new();
    for bin in [Path::new(LIBC), &*bare, &stripped] {
        let resolve = |flags: &[&str], points: &[String]| -> Vec<serde_json::Value> {
            let mut args: Vec<String> =
                vec!["resolve".into(), "-x".into(), bin.display().to_string()];
            args.extend(flags.iter().map(|s| s.to_string()));
            args.extend(["--format".into(), "json".into()]);
            args.extend(points.iter().cloned());
            probeaddr(&args).json()
        };
        let plain: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        // A static of the same name may be a location with the debug
        // file: keep the versioned ones (.dynsym has only those).
        let mut at: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for l in resolve(&["--no-inlines"], &plain) {
            if l["version"].is_string() {
                at.entry(l["point"].as_str().unwrap().to_string())
                    .or_default()
                    .push(hexfield(&l, "func_addr"));
            }
        }
        for (name, versions) in &by_name {
            let (targets, _) = plain_name_targets(versions);
            let mut addrs: Vec<u64> = targets.iter().map(|t| t.1).collect();
            addrs.dedup();
            assert_eq!(at.get(*name), Some(&addrs), "{}: {name}", bin.display());
        }
        // By readelf's spelling, one location each.
        let mut by_spelling: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for l in resolve(&["--no-inlines", "--unique"], &spelled) {
            by_spelling
                .entry(l["point"].as_str().unwrap().to_string())
                .or_default()
                .push(hexfield(&l, "func_addr"));
        }
        for ((n, v, addr), p) in want.iter().zip(&spelled) {
            assert_eq!(
                by_spelling.get(p),
                Some(&vec![*addr]),
                "{}: {n}{v}",
                bin.display()
            );
        }
        per_file.push((at, by_spelling));
    }
    assert!(per_file[0] == per_file[1] && per_file[1] == per_file[2]);
}

/// Resolve `points` in libc in one batch; `(point, pin, addr)` of each
/// location that has a pin.
fn libc_pins(points: &[String], extra: &[&str]) -> Vec<(String, String, u64)> {
    resolve_libc(extra, points)
        .iter()
        .filter_map(|l| {
            // Every location among several has a pin (its address at worst).
            if l["matches"].as_u64().unwrap() > 1 {
                assert!(l["pin"].is_string(), "{l}");
            }
            Some((
                l["point"].as_str()?.to_string(),
                l["pin"].as_str()?.to_string(),
                hexfield(l, "addr"),
            ))
        })
        .collect()
}

/// Every pin probeaddr suggests for libc's duplicated functions resolves,
/// with `--unique` and the same options, to that location alone: copies in
/// files that #include others (vfwprintf-internal.c, strtof_l.c), clones
/// named exactly (str_to_mpn.part.0.constprop.0), and inlined sites.
#[test]
fn every_pin_of_libcs_duplicated_functions_resolves_alone() {
    let debug = libc_debug_file();
    // Duplicated function names, from readelf (versions stripped).
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (name, _, kind, ndx) in oracle::readelf_all(&debug) {
        if kind == "FUNC" && ndx != "UND" {
            let name = name.split('@').next().unwrap();
            *count.entry(name.to_string()).or_default() += 1;
        }
    }
    // .cold parts are not entry points (nothing resolves to them by name).
    let dups: Vec<String> = count
        .into_iter()
        .filter(|c| c.1 > 1 && !c.0.split('.').any(|p| p == "cold"))
        .map(|c| c.0)
        .collect();
    assert!(dups.len() > 200, "{}", dups.len());
    let with_inlines: Vec<String> = [
        "str_to_mpn",
        "outstring_func",
        "char_buffer_add_slow",
        "free_mem",
        "_i18n_number_rewrite",
    ]
    .map(String::from)
    .to_vec();
    let mut checked = 0;
    for (points, extra) in [(&dups, &["--no-inlines"][..]), (&with_inlines, &[][..])] {
        let pins = libc_pins(points, extra);
        assert!(pins.len() > 20, "{}", pins.len());
        let flags: Vec<&str> = ["--unique"].iter().chain(extra).copied().collect();
        let pin_points: Vec<&str> = pins.iter().map(|p| p.1.as_str()).collect();
        let back = resolve_libc(&flags, &pin_points);
        let mut by: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for l in &back {
            by.entry(l["point"].as_str().unwrap().to_string())
                .or_default()
                .push(hexfield(l, "addr"));
        }
        // (Two names of one function, lio_listio and lio_listio64, share an
        // address pin: the batch holds it twice.)
        for v in by.values_mut() {
            v.dedup();
        }
        for (point, pin, addr) in &pins {
            assert_eq!(by.get(pin), Some(&vec![*addr]), "{point}: pin {pin}");
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");
}

/// DWARF 5 with a relative comp_dir (glibc: `./malloc`, whose directory 0
/// is the same) names files as gdb does, not `malloc/malloc/malloc.c`.
#[test]
fn dwarf5_relative_compilation_directories_are_not_doubled() {
    libc_debug_file();
    let r = probeaddr([
        "resolve",
        "-x",
        LIBC,
        "__libc_malloc:20",
        "--format",
        "json",
    ])
    .json();
    assert!(!r.is_empty());
    for l in &r {
        let file = l["line"]["file"].as_str().unwrap();
        let gdb = oracle::gdb_file_at(Path::new(LIBC), hexfield(l, "addr"));
        assert_eq!(file, gdb.trim_start_matches("./"), "{l}");
        assert_eq!(file, "malloc/malloc.c");
    }
}

/// glibc's internal aliases belong to their function: `_IO_un_link` finds
/// `__GI__IO_un_link.part.0` as perf does. A `.cold` part resolves when named
/// exactly (with a note), never as part of its function.
#[test]
fn prefixed_clones_and_cold_parts_named_exactly() {
    let debug = libc_debug_file();
    let mut ours: Vec<u64> = probeaddr(["resolve", "-x", LIBC, "_IO_un_link", "--format", "json"])
        .json()
        .iter()
        .map(|l| hexfield(&l["anchor"], "offset"))
        .collect();
    ours.sort();
    assert_eq!(
        ours,
        oracle::perf_probe_offsets(Path::new(LIBC), "_IO_un_link")
    );
    assert_eq!(ours.len(), 3);
    // strfromd.cold, from readelf.
    let out = Command::new("readelf")
        .arg("-sW")
        .arg(&debug)
        .output()
        .unwrap();
    let cold = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && f[7] == "strfromd.cold")
                .then(|| u64::from_str_radix(f[1], 16).unwrap())
        })
        .unwrap();
    let run = probeaddr(["resolve", "-x", LIBC, "strfromd.cold", "--format", "json"]);
    let r = run.json();
    assert_eq!(r.len(), 1);
    assert_eq!(hexfield(&r[0], "addr"), cold);
    assert_eq!(r[0]["variant"], "cold");
    assert!(
        run.stderr
            .contains("strfromd.cold is the split-off cold part of strfromd"),
        "{}",
        run.stderr
    );
    // strfromd alone never lands there.
    let plain = probeaddr([
        "resolve",
        "-x",
        LIBC,
        "strfromd",
        "--no-inlines",
        "--format",
        "json",
    ])
    .json();
    assert!(plain.iter().all(|l| hexfield(l, "addr") != cold));
}

/// libc's functions split hot/cold (`X` and `X.cold`) whose name is unique
/// in the debug file's `.symtab`: `(name, entry)` from readelf.
fn hot_cold_split_functions(debug: &Path) -> Vec<(String, u64)> {
    let funcs: Vec<(String, u64)> = oracle::readelf_funcs(debug, false)
        .into_iter()
        .map(|s| (s.name, s.value))
        .collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, _) in &funcs {
        *count.entry(n).or_default() += 1;
    }
    let mut out: Vec<(String, u64)> = funcs
        .iter()
        .filter(|(n, _)| count[n.as_str()] == 1 && count.contains_key(format!("{n}.cold").as_str()))
        .cloned()
        .collect();
    out.sort();
    out
}

#[test]
fn hot_cold_split_functions_keep_their_dwarf_and_enter_at_the_hot_part() {
    let debug = libc_debug_file();
    let split = hot_cold_split_functions(&debug);
    // The cold part lies lower in memory than the entry: DWARF's lowest
    // address is not the entry, its first listed range is.
    assert!(split.len() >= 70, "{}", split.len());
    let funcs = oracle::readelf_funcs(&debug, false);
    let rows = oracle::objdump_line_rows(&debug);
    let mut checked_perf = 0;
    for (name, entry) in &split {
        let list = probeaddr(["list", "-x", LIBC, name, "--format", "json"]).json();
        assert_eq!(list.len(), 1, "{name}: {list:?}");
        assert_eq!(hexfield(&list[0], "entry"), *entry, "{name}");
        assert!(list[0]["decl_line"].as_u64().is_some(), "{name}: {list:?}");
        let lines = probeaddr(["lines", "-x", LIBC, name, "--format", "json"]).json();
        assert_eq!(lines.len(), 1, "{name}");
        let own: Vec<&serde_json::Value> = lines[0]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["inlined"] == false)
            .collect();
        assert!(!own.is_empty(), "{name}: no lines");
        // Own lines are sorted and counted from the declaration line, never
        // negative; lines of other files come after them.
        let rel: Vec<u64> = own
            .iter()
            .map(|l| l["relative"].as_u64().unwrap())
            .collect();
        assert!(rel.windows(2).all(|w| w[0] < w[1]), "{name}: {rel:?}");
        let flags: Vec<bool> = lines[0]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["inlined"].as_bool().unwrap())
            .collect();
        assert!(flags.windows(2).all(|w| w[0] <= w[1]), "{name}");
        // A line probe in the function (its last line, so that it is not
        // the entry itself) is every is_stmt row of that line inside the
        // function, hot or cold part, in binutils' decoded line table. perf
        // finds those too, and adds the entry of code inlined from that
        // line (another file's row), where gdb and probeaddr do not: a hit
        // there would count the line twice. perf takes a few hundred ms per
        // call, so a dozen of them.
        if checked_perf < 12 && !name.starts_with("__GI_") {
            let n = *rel.last().unwrap();
            let point = format!("{name}:{n}");
            let file = lines[0]["decl_file"].as_str().unwrap();
            let base = file.rsplit('/').next().unwrap();
            let line = lines[0]["decl_line"].as_u64().unwrap() + n;
            let parts: Vec<(u64, u64)> = funcs
                .iter()
                .filter(|s| s.name == *name || s.name == format!("{name}.cold"))
                .map(|s| (s.value, s.value + s.size))
                .collect();
            let mut want: Vec<u64> = rows
                .iter()
                .filter(|r| r.0 == base && r.1 == line && r.3)
                .filter(|r| parts.iter().any(|p| p.0 <= r.2 && r.2 < p.1))
                .map(|r| r.2)
                .collect();
            want.sort();
            want.dedup();
            let got = probeaddr(["resolve", "-x", LIBC, &point, "--format", "json"]).json();
            let mut addrs: Vec<u64> = got.iter().map(|l| hexfield(l, "addr")).collect();
            addrs.sort();
            assert_eq!(addrs, want, "{point} ({file}:{line})");
            let ours: Vec<u64> = got
                .iter()
                .map(|l| hexfield(&l["anchor"], "offset"))
                .collect();
            let perf = oracle::perf_probe_offsets(Path::new(LIBC), &point);
            assert!(
                ours.iter().all(|o| perf.contains(o)),
                "{point}: {ours:x?} vs perf {perf:x?}"
            );
            checked_perf += 1;
        }
    }
    assert_eq!(checked_perf, 12);
    // A function included into seven other files: every copy, as perf finds.
    let point = "round_and_return@strtod_l.c";
    let mut ours: Vec<u64> = probeaddr(["resolve", "-x", LIBC, point, "--format", "json"])
        .json()
        .iter()
        .map(|l| hexfield(&l["anchor"], "offset"))
        .collect();
    ours.sort();
    assert_eq!(ours.len(), 8);
    assert_eq!(ours, oracle::perf_probe_offsets(Path::new(LIBC), point));
}

const KRB5: &str = "/usr/lib/x86_64-linux-gnu/libkrb5.so.3.3";

#[test]
fn an_inlined_site_is_entered_at_its_first_range_not_its_cold_part() {
    // libkrb5-dbg (scripts/test installs it): cm_get_ssflags exists only
    // inlined into service_fds, whose cold part holds the site's lowest
    // address. gdb and perf enter it at the first range DWARF lists.
    let id = oracle::readelf_build_id(Path::new(KRB5));
    assert!(
        Path::new(&format!(
            "/usr/lib/debug/.build-id/{}/{}.debug",
            &id[..2],
            &id[2..]
        ))
        .exists(),
        "install libkrb5-dbg (scripts/test does)"
    );
    let list = probeaddr(["list", "-x", KRB5, "cm_get_ssflags", "--format", "json"]).json();
    let sites: Vec<u64> = list
        .iter()
        .flat_map(|f| f["inlined_sites"].as_array().unwrap().iter())
        .map(|s| hexfield(s, "address"))
        .collect();
    let perf = oracle::perf_probe_offsets(Path::new(KRB5), "cm_get_ssflags");
    assert_eq!(sites, perf);
    let ours: Vec<u64> = probeaddr(["resolve", "-x", KRB5, "cm_get_ssflags", "--format", "json"])
        .json()
        .iter()
        .map(|l| hexfield(&l["anchor"], "offset"))
        .collect();
    assert_eq!(ours, perf);
    // The cold part is elsewhere: the site is inside service_fds proper
    // (the debug file's .symtab; the library keeps only .dynsym).
    let debug = format!("/usr/lib/debug/.build-id/{}/{}.debug", &id[..2], &id[2..]);
    let host: Vec<(u64, u64)> = oracle::readelf_funcs(Path::new(&debug), false)
        .into_iter()
        .filter(|s| s.name == "service_fds")
        .map(|s| (s.value, s.size))
        .collect();
    assert_eq!(host.len(), 1);
    let (start, size) = host[0];
    assert!(
        start <= sites[0] && sites[0] < start + size,
        "{sites:x?} {host:x?}"
    );
}

#[test]
fn skip_prologue_is_gdbs_break_and_never_past_a_branch_in_libc() {
    // Every fourth libc function exported under a name its debug file's
    // .symtab holds once: --skip-prologue against gdb's `break FUNC`, all
    // in one gdb run. libc is optimised code (location lists), where gdb
    // does not skip prologues: the entry, before `system`'s NULL test and
    // `execve`'s syscall.
    let debug = libc_debug_file();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for s in oracle::readelf_funcs(&debug, false) {
        *count.entry(s.name).or_default() += 1;
    }
    // (readelf_funcs gives names without their versions.)
    let mut names: Vec<String> = oracle::readelf_funcs(Path::new(LIBC), true)
        .into_iter()
        .map(|s| s.name)
        .filter(|n| count.get(n) == Some(&1))
        .collect();
    names.sort();
    names.dedup();
    let mut names: Vec<String> = names.into_iter().step_by(4).collect();
    for must in ["system", "execve"] {
        if !names.iter().any(|n| n == must) {
            names.push(must.to_string());
        }
    }
    assert!(names.len() > 400, "{}", names.len());
    let mut gdb = Command::new("gdb");
    gdb.args(["-batch", "-nx"]);
    for n in &names {
        gdb.args(["-ex", &format!("break {n}")]);
    }
    let out = gdb.arg(LIBC).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // One "Breakpoint N at 0xADDR: ..." per name, in order. A name gdb also
    // finds inlined ("(5 locations)") is left out: it is no longer one place.
    let gdb_at: Vec<Option<u64>> = text
        .lines()
        .filter(|l| l.starts_with("Breakpoint "))
        .map(|l| {
            let at = l.split(" at ").nth(1)?;
            if at.contains("locations)") {
                return None;
            }
            u64::from_str_radix(at.split(':').next()?.trim_start_matches("0x"), 16).ok()
        })
        .collect();
    assert_eq!(gdb_at.len(), names.len(), "{text}");
    let got = resolve_libc(&["--no-inlines", "--skip-prologue"], &names);
    let mut checked = 0;
    for (n, g) in names.iter().zip(&gdb_at) {
        let Some(g) = g else { continue };
        // The default version where there are several (gdb's choice too).
        let all: Vec<&serde_json::Value> =
            got.iter().filter(|l| l["point"] == n.as_str()).collect();
        let ours: Vec<u64> = all
            .iter()
            .filter(|l| all.len() == 1 || l["version"].as_str().is_none_or(|v| v.starts_with("@@")))
            .map(|l| hexfield(l, "addr"))
            .collect();
        assert_eq!(ours, vec![*g], "{n}");
        checked += 1;
    }
    assert!(checked > 400, "{checked}");
    for (n, entry) in [("system", "__libc_system"), ("execve", "execve")] {
        let at = got
            .iter()
            .find(|l| l["point"] == n)
            .map(|l| hexfield(l, "addr"))
            .unwrap();
        assert_eq!(vec![at], oracle::readelf_values(&debug, entry, None), "{n}");
    }
}

#[test]
fn gnu_indirect_functions_say_they_are_resolvers_and_name_their_implementations() {
    // readelf marks them IFUNC in the debug file's .symtab.
    let debug = libc_debug_file();
    let mut ifuncs: BTreeMap<String, u64> = BTreeMap::new();
    for (name, value, kind, ndx) in oracle::readelf_all(&debug) {
        if kind == "IFUNC" && ndx != "UND" {
            ifuncs.insert(name.split('@').next().unwrap().to_string(), value);
        }
    }
    assert!(ifuncs.len() > 100, "{}", ifuncs.len());
    let values: std::collections::BTreeSet<u64> = ifuncs.values().copied().collect();
    let mut points: Vec<String> = ifuncs.keys().cloned().collect();
    // And some ordinary functions, which must not be called resolvers.
    points.extend(["fopen", "system", "execve", "malloc", "_IO_new_fclose"].map(String::from));
    let got = resolve_libc(&["--no-inlines"], &points);
    let mut said = 0;
    for l in &got {
        let is = values.contains(&hexfield(l, "func_addr"));
        let notes = l["notes"].as_array().unwrap();
        let says = notes.iter().any(|n| {
            n.as_str()
                .unwrap()
                .contains("is a GNU indirect function (STT_GNU_IFUNC)")
        });
        assert_eq!(says, is, "{}: {notes:?}", l["symbol"]);
        said += usize::from(says);
    }
    assert!(said >= ifuncs.len(), "{said}");
    // strlen's implementations, as listed, are what the suggested glob finds.
    let strlen = got.iter().find(|l| l["point"] == "strlen").unwrap();
    let note = strlen["notes"][0].as_str().unwrap();
    let listed: Vec<&str> = note
        .split("one of ")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .split(", ")
        .collect();
    assert!(
        listed.contains(&"__strlen_avx2") && listed.contains(&"__strlen_sse2"),
        "{note}"
    );
    assert!(note.ends_with("probe them with '__strlen_*'"), "{note}");
    let mut globbed: Vec<String> = probeaddr([
        "resolve",
        "-x",
        LIBC,
        "__strlen_*",
        "--no-inlines",
        "--format",
        "json",
    ])
    .json()
    .iter()
    .map(|l| l["symbol"].as_str().unwrap().to_string())
    .collect();
    globbed.sort();
    assert_eq!(globbed, listed);
    // Each at readelf's address.
    for name in &listed {
        assert_eq!(
            oracle::readelf_values(&debug, name, None).len(),
            1,
            "{name}"
        );
    }
}

#[test]
fn inline_only_statics_of_other_files_are_found() {
    // A static of one file, inlined everywhere it is used, has the same
    // name as an out-of-line function elsewhere: every site is a location,
    // and --unique refuses the name. perf finds at least as many for all
    // but cancel_handler; each site perf does not list is checked with
    // elfutils, which must name the function inlined at that address.
    let python = "/usr/bin/python3.11d";
    assert!(
        Path::new(python).exists(),
        "install python3.11-dbg (scripts/test does)"
    );
    for (bin, name, at_least) in [
        (python, "valid_index", 6),
        (LIBC, "__cmsg_nxthdr", 3),
        (LIBC, "profil_count", 2),
        (LIBC, "cancel_handler", 8),
    ] {
        let bin = Path::new(bin);
        let b = bin.to_str().unwrap();
        let got = probeaddr(["resolve", "-x", b, name, "--format", "json"]).json();
        let mut ours: Vec<u64> = got
            .iter()
            .map(|l| hexfield(&l["anchor"], "offset"))
            .collect();
        ours.sort();
        assert_eq!(ours.len(), at_least, "{name}: {ours:x?}");
        let perf = oracle::perf_probe_offsets(bin, name);
        assert!(
            perf.iter().all(|p| ours.contains(p)),
            "{name}: perf {perf:x?} ours {ours:x?}"
        );
        for l in &got {
            let off = hexfield(&l["anchor"], "offset");
            if perf.contains(&off) {
                continue;
            }
            let chain = oracle::eu_inline_chain(bin, hexfield(l, "addr"));
            assert!(
                chain.iter().any(|f| f == name),
                "{name} at {off:#x}: elfutils says {chain:?}"
            );
        }
        let e = probeaddr(["resolve", "-x", b, name, "--unique"]).error();
        assert!(e.contains(&format!("matches {at_least} locations")), "{e}");
    }
}

#[test]
fn inlined_sites_whose_declaration_dwz_moved_to_a_partial_unit() {
    // libkrb5-dbg is dwz-compressed: explicit_bzero's declaration lives in a
    // DW_TAG_partial_unit, and each compile unit's inlined copy refers to it
    // across units (DW_FORM_ref_addr). perf finds none of them.
    let id = oracle::readelf_build_id(Path::new(KRB5));
    let debug = PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{}/{}.debug",
        &id[..2],
        &id[2..]
    ));
    assert!(debug.exists(), "install libkrb5-dbg (scripts/test does)");
    let want = oracle::llvm_inlined_entries(&debug, "explicit_bzero");
    assert_eq!(want.len(), 33, "{want:x?}");
    let mut ours: Vec<u64> =
        probeaddr(["resolve", "-x", KRB5, "explicit_bzero", "--format", "json"])
            .json()
            .iter()
            .map(|l| hexfield(l, "addr"))
            .collect();
    ours.sort();
    assert_eq!(ours, want);
}

#[test]
fn inlined_sites_declared_in_the_dwz_supplementary_file() {
    // The spake plugin's debug file refers to krb5's dwz supplementary file
    // (.gnu_debugaltlink: /usr/lib/debug/.dwz/x86_64-linux-gnu/libkrb5-3.debug)
    // for 222 inlined functions' declarations (DW_FORM_GNU_ref_alt) and 596
    // names (DW_FORM_GNU_strp_alt). perf matches the declaration but finds
    // no instance; llvm-dwarfdump reads no unit of it; elfutils reads both.
    let spake = "/usr/lib/x86_64-linux-gnu/krb5/plugins/preauth/spake.so";
    let id = oracle::readelf_build_id(Path::new(spake));
    let debug = PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{}/{}.debug",
        &id[..2],
        &id[2..]
    ));
    let sup = Path::new("/usr/lib/debug/.dwz/x86_64-linux-gnu/libkrb5-3.debug");
    assert!(
        debug.exists() && sup.exists(),
        "install libkrb5-dbg (scripts/test does)"
    );
    let (want, ranges_only) = oracle::eu_inlined_sites_with_sup(&debug, sup);
    assert_eq!(want.len(), 89, "{:?}", want.keys());
    assert_eq!(want["explicit_bzero"].len(), 14);
    assert_eq!(want["zapfree"].len(), 14);
    let mut args = vec!["resolve", "-x", spake, "--format", "json"];
    let names: BTreeSet<&String> = want.keys().chain(ranges_only.keys()).collect();
    args.extend(names.iter().map(|n| n.as_str()));
    let rows = probeaddr(&args).json();
    let mut ours: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r["inlined_into"].is_null()) {
        ours.entry(r["function"].as_str().unwrap().to_string())
            .or_default()
            .insert(hexfield(r, "addr"));
    }
    // Ours has every entry elfutils prints, and one more per instance that
    // has only DW_AT_ranges; eu-addr2line confirms each of those.
    let mut confirmed = 0;
    for &name in &names {
        let addrs = want.get(name).cloned().unwrap_or_default();
        let got = ours.get(name).cloned().unwrap_or_default();
        assert!(
            got.is_superset(&addrs),
            "{name}: elfutils {addrs:x?} ours {got:x?}"
        );
        let extra: Vec<u64> = got.difference(&addrs).copied().collect();
        assert_eq!(
            extra.len(),
            ranges_only.get(name).copied().unwrap_or(0),
            "{name}: {extra:x?}"
        );
        for a in extra {
            let chain = oracle::eu_inline_chain(Path::new(spake), a);
            assert!(
                chain.iter().any(|f| f == name),
                "{name} at {a:#x}: elfutils says {chain:?}"
            );
            confirmed += 1;
        }
    }
    assert!(ours.keys().all(|n| names.contains(n)));
    assert_eq!(confirmed, ranges_only.values().sum::<usize>());
    assert_eq!(confirmed, 5);
    // A debug file whose .gnu_debugaltlink names a file that is nowhere
    // (found first: --debug-dir is searched before /usr/lib/debug): the
    // inlined functions declared there are missing, and a name not found
    // says which file and where it was looked for.
    let dir = super::fixtures::Scratch::new("nosup");
    let link = dir.join("altlink");
    let mut raw = b"/nonexistent/dwz/krb5.debug\0".to_vec();
    let sup_id = oracle::readelf_build_id(sup);
    let sup_bytes: Vec<u8> = (0..sup_id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&sup_id[i..i + 2], 16).unwrap())
        .collect();
    raw.extend(&sup_bytes);
    std::fs::write(&link, raw).unwrap();
    let at = dir.join(".build-id").join(&id[..2]);
    std::fs::create_dir_all(&at).unwrap();
    let copy = at.join(format!("{}.debug", &id[2..]));
    let st = Command::new("objcopy")
        .arg(format!(
            "--update-section=.gnu_debugaltlink={}",
            link.display()
        ))
        .arg(&debug)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success());
    let d = dir.to_str().unwrap();
    let e = probeaddr(["resolve", "-x", spake, "--debug-dir", d, "explicit_bzero"]).error();
    let missing = e.clone();
    assert!(
        e.contains(".gnu_debugaltlink names /nonexistent/dwz/krb5.debug, build-id ff9873d6566d04c8bda6113d864b0cf00e3beac5) was not found")
            && e.contains(&format!("{d}/.build-id/ff/9873d6566d04c8bda6113d864b0cf00e3beac5.debug (absent)")),
        "{e}"
    );
    // DWARF 5 names it in .debug_sup instead (version 5, not itself
    // supplementary, the path, a ULEB128 length, the build-id).
    let mut raw = vec![5, 0, 0];
    raw.extend(sup.to_str().unwrap().as_bytes());
    raw.push(0);
    raw.push(sup_bytes.len() as u8);
    raw.extend(&sup_bytes);
    std::fs::write(&link, raw).unwrap();
    let st = Command::new("objcopy")
        .args(["--remove-section=.gnu_debugaltlink"])
        .arg(format!("--add-section=.debug_sup={}", link.display()))
        .arg(&debug)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success());
    let rows = probeaddr([
        "resolve",
        "-x",
        spake,
        "--debug-dir",
        d,
        "explicit_bzero",
        "--format",
        "json",
    ])
    .json();
    let got: BTreeSet<u64> = rows.iter().map(|r| hexfield(r, "addr")).collect();
    assert_eq!(got, want["explicit_bzero"], "{missing}");
}

#[test]
fn a_live_process_names_the_implementation_an_indirect_function_was_bound_to() {
    let debug = libc_debug_file();
    // A shell that says "ready" has its libc mapped and bound; it then
    // waits on its stdin.
    let mut child = Command::new("sh")
        .args(["-c", "echo ready; read x"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready, "ready\n");
    let got = probeaddr([
        "resolve", "-x", LIBC, "strlen", "--pid", &pid, "--format", "json",
    ])
    .json();
    let note = got[0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .find(|n| n.contains("the dynamic linker bound it to"))
        .unwrap_or_else(|| panic!("{:?}", got[0]["notes"]))
        .to_string();
    let runtime = u64::from_str_radix(
        note.split(" bound it to 0x")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap(),
        16,
    )
    .unwrap();
    let offset = u64::from_str_radix(
        note.split("file offset 0x")
            .nth(1)
            .unwrap()
            .split(':')
            .next()
            .unwrap(),
        16,
    )
    .unwrap();
    // gdb, attached, names what is at that address: one of strlen's
    // implementations, whose readelf value has that file offset.
    let out = Command::new("gdb")
        .args([
            "-batch",
            "-nx",
            "-p",
            &pid,
            "-ex",
            &format!("info symbol {runtime:#x}"),
        ])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(" in section .text of "))
        .unwrap_or_else(|| panic!("gdb: {text}"));
    let name = line.split_whitespace().next().unwrap();
    assert!(name.starts_with("__strlen_"), "{line}");
    let value = oracle::readelf_values(&debug, name, None);
    assert_eq!(value.len(), 1, "{name}");
    assert_eq!(
        oracle::readelf_file_offset(Path::new(LIBC), value[0]),
        offset,
        "{name}"
    );
    assert!(
        note.ends_with(&format!(
            "probe that implementation with '{LIBC}:{offset:#x}'"
        )),
        "{note}"
    );
}
