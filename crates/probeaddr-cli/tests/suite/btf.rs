//! Fetch arguments from BTF alone: Debian 6.1's `.BTF` (cut out of the
//! vmlinux and of xfs.ko at readelf's offsets, as /sys/kernel/btf holds
//! them) with a kallsyms listing made by `nm`, checked parameter by
//! parameter against what the same kernel's DWARF says at each entry.

use std::collections::BTreeMap;
use std::path::Path;

use super::debian::{root, vmlinux, xfs_ko_of, KVER};
use super::fixtures::{probeaddr, Scratch};
use super::oracle;

/// `/sys/kernel/btf` and `/proc/kallsyms` of the Debian kernel with xfs
/// loaded, rebuilt from its files.
fn btf_system(dir: &Path) -> (String, String) {
    let r = root();
    let v = vmlinux(&r);
    let ko = xfs_ko_of(&r, KVER);
    std::fs::create_dir_all(dir.join("btf")).unwrap();
    std::fs::write(
        dir.join("btf/vmlinux"),
        oracle::readelf_section_bytes(Path::new(&v), ".BTF"),
    )
    .unwrap();
    std::fs::write(
        dir.join("btf/xfs"),
        oracle::readelf_section_bytes(&ko, ".BTF"),
    )
    .unwrap();
    std::fs::write(
        dir.join("kallsyms"),
        oracle::nm_kallsyms(Path::new(&v), &[(&ko, "xfs", 0xffffffffc0000000)]),
    )
    .unwrap();
    (
        dir.join("kallsyms").display().to_string(),
        dir.join("btf").display().to_string(),
    )
}

/// `probeaddr vars OBJECT --offline --format json POINTS...`, where OBJECT
/// is what the variables are read from (`-k VMLINUX`, `--kallsyms K --btf
/// DIR`, `-m KO`).
pub(super) fn vars_json<S: AsRef<str>>(object: &[&str], points: &[S]) -> super::fixtures::Run {
    let mut args: Vec<&str> = vec!["vars"];
    args.extend(object);
    args.extend(["--offline", "--format", "json"]);
    args.extend(points.iter().map(AsRef::as_ref));
    probeaddr(&args)
}

/// Each function's parameters at its out-of-line entry, from `vars`
/// JSON: `(name, type, fetch argument or None)`.
pub(super) type Params = Vec<(String, String, Option<String>)>;

pub(super) fn params_by_function(json: &str) -> BTreeMap<String, Params> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
    let mut out = BTreeMap::new();
    for l in rows {
        if l["kind"] != "entry" || !l["inlined_into"].is_null() || l["symbol"] != l["function"] {
            continue;
        }
        let params = l["variables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["kind"] == "parameter")
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_string(),
                    v["type"].as_str().unwrap().to_string(),
                    v["fetch"].as_str().map(str::to_string),
                )
            })
            .collect();
        out.insert(l["function"].as_str().unwrap().to_string(), params);
    }
    out
}

/// Functions named once in the whole image, spread over it, and functions
/// whose parameters are what BTF's placing has to get right; from a
/// kallsyms listing of the Debian 6.1 vmlinux (modules left out).
pub(super) fn fifty_functions(listing: &str) -> Vec<String> {
    // Every 429th global text symbol in name order, of those named once
    // and without a compiler suffix.
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for l in listing.lines().filter(|l| !l.contains('[')) {
        *count
            .entry(l.split_whitespace().nth(2).unwrap())
            .or_default() += 1;
    }
    let globals: Vec<&str> = listing
        .lines()
        .filter(|l| !l.contains('['))
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [_, "T", n] if count[n] == 1 && !n.contains('.') && !n.starts_with('_') => Some(n),
            _ => None,
        })
        .collect();
    let mut names = globals.clone();
    names.sort_unstable();
    let picked: Vec<&str> = names.iter().step_by(429).copied().collect();
    assert_eq!(picked.len(), 44, "{} globals", names.len());
    // And functions whose parameters are what BTF's placing has to get
    // right: a struct in one register (pte_t, kuid_t), 16-byte structs in
    // two (timespec64, and sockptr_t before tcp_setsockopt's optlen and
    // do_ip_getsockopt's), fourteen arguments (eight on the stack).
    picked
        .iter()
        .copied()
        .chain([
            "set_pte_vaddr",
            "from_kuid",
            "timespec64_add_safe",
            "__alloc_pages",
            "tcp_setsockopt",
            "do_ip_getsockopt",
            "rtnl_fill_ifinfo",
            "tcf_fill_node",
        ])
        .map(str::to_string)
        .collect()
}

/// Compare BTF's parameters with DWARF's, function by function: how many
/// functions, parameters read alike, parameters neither reads, functions
/// BTF has no prototype of (`stderr` says), functions DWARF says nothing of.
pub(super) fn compare(
    chosen: &[&str],
    dwarf: &BTreeMap<String, Params>,
    ours: &BTreeMap<String, Params>,
    stderr: &str,
) -> (usize, usize, usize, Vec<String>, Vec<String>) {
    let (mut functions, mut placed, mut both_unreadable) = (0, 0, 0);
    let mut no_prototype = Vec::new();
    let mut dwarf_silent = Vec::new();
    for f in chosen {
        let Some(d) = dwarf.get(*f) else {
            panic!("DWARF gives no entry of {f}: {}", stderr)
        };
        let Some(b) = ours.get(*f) else {
            // pahole leaves out what it cannot describe; BTF says so.
            assert!(
                stderr.contains(&format!("no prototype for '{f}'")),
                "{f}: {}",
                stderr
            );
            no_prototype.push(f.to_string());
            continue;
        };
        functions += 1;
        if d.is_empty() && !b.is_empty() {
            // GCC left some out-of-line copies without a subprogram DIE
            // (llvm-dwarfdump --lookup finds only the unit for
            // blk_freeze_queue's): DWARF has nothing there, BTF has the
            // prototype.
            dwarf_silent.push(f.to_string());
            continue;
        }
        // The same parameters, in order, of the same types.
        let shape = |p: &Params| -> Vec<(String, String)> {
            p.iter().map(|(n, t, _)| (n.clone(), t.clone())).collect()
        };
        assert_eq!(shape(b), shape(d), "{f}");
        for ((name, _, bf), (_, _, df)) in b.iter().zip(d) {
            match (bf, df) {
                (Some(x), Some(y)) => {
                    assert_eq!(x, y, "{f}: {name}");
                    placed += 1;
                }
                // DWARF has no location for an unused parameter; BTF
                // places it all the same (the register holds it).
                (Some(_), None) => {}
                (None, None) => both_unreadable += 1,
                (None, Some(y)) => panic!("{f}: {name}: DWARF reads {y}, BTF nothing"),
            }
        }
    }
    (
        functions,
        placed,
        both_unreadable,
        no_prototype,
        dwarf_silent,
    )
}

#[test]
fn btf_parameters_equal_dwarf_at_the_entries_of_fifty_functions() {
    let tmp = Scratch::new("btf");
    let (kallsyms, btf) = btf_system(&tmp);
    let v = vmlinux(&root());
    let chosen = fifty_functions(&std::fs::read_to_string(&kallsyms).unwrap());
    let chosen: Vec<&str> = chosen.iter().map(String::as_str).collect();
    let dwarf = params_by_function(&vars_json(&["-k", &v], &chosen).stdout);
    let from_btf = vars_json(&["--kallsyms", &kallsyms, "--btf", &btf], &chosen);
    let ours = params_by_function(&from_btf.stdout);

    let (functions, placed, both_unreadable, no_prototype, dwarf_silent) =
        compare(&chosen, &dwarf, &ours, &from_btf.stderr);
    // 51 functions compared, and blk_freeze_queue, where only BTF speaks.
    // The 7 parameters neither reads are structs by value (sockptr_t,
    // timespec64, pte_t, kuid_t): DWARF splits them in pieces, and BTF's
    // convention puts them in registers whose value is not one number.
    assert_eq!(
        (
            functions,
            placed,
            both_unreadable,
            no_prototype,
            dwarf_silent
        ),
        (52, 139, 7, vec![], vec!["blk_freeze_queue".to_string()]),
    );

    // `$argN` is the kernel's Nth argument slot; BTF types it with the Nth
    // parameter's type when that parameter is in that slot, which is where
    // DWARF puts it at the entry.
    let slots = ["%di", "%si", "%dx", "%cx", "%r8", "%r9"];
    let slot = |i: usize| match slots.get(i) {
        Some(r) => r.to_string(),
        None => format!("+{}(%sp)", 8 * (i - 5)),
    };
    let points: Vec<String> = chosen
        .iter()
        .filter(|f| !dwarf[**f].is_empty())
        .map(|f| {
            let n = dwarf[*f].len();
            let args: Vec<String> = (1..=n).map(|i| format!("$arg{i}")).collect();
            format!("{f} {}", args.join(" "))
        })
        .collect();
    let mut resolve = vec![
        "resolve",
        "--kallsyms",
        &kallsyms,
        "--btf",
        &btf,
        "--offline",
        "--format",
        "json",
    ];
    resolve.extend(points.iter().map(String::as_str));
    let run = probeaddr(&resolve);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (mut typed, mut untyped) = (0, 0);
    let mut seen = 0;
    // A clone (`.constprop.0`) of a function is its location too; its
    // arguments are its own and are not BTF's to say.
    for l in run.json().iter().filter(|l| l["symbol"] == l["function"]) {
        let f = l["function"].as_str().unwrap();
        seen += 1;
        for (i, a) in l["args"].as_array().unwrap().iter().enumerate() {
            let body = a.as_str().unwrap().split_once('=').unwrap().1;
            match &dwarf[f][i].2 {
                Some(d) if d.split(':').next() == Some(slot(i).as_str()) => {
                    assert_eq!(body, d, "{f} $arg{}", i + 1);
                    typed += 1;
                }
                _ => {
                    assert_eq!(body, format!("{}:x64", slot(i)), "{f} $arg{}", i + 1);
                    untyped += 1;
                }
            }
        }
    }
    assert_eq!(seen, points.len());
    assert_eq!((typed, untyped), (138, 8));
}

#[test]
fn a_modules_split_btf_gives_its_parameters_as_its_dwarf_does() {
    let tmp = Scratch::new("btf-module");
    let (kallsyms, btf) = btf_system(&tmp);
    let ko = xfs_ko_of(&root(), KVER);
    let functions = [
        "xfs_fs_fill_super",
        "xfs_iget",
        "xfs_trans_alloc",
        "xfs_bmapi_read",
        "xfs_buf_read_map",
    ];
    let points: Vec<String> = functions
        .iter()
        .map(|f| format!("module(\"xfs\").function(\"{f}\")"))
        .collect();
    let dwarf = params_by_function(&vars_json(&["-m", ko.to_str().unwrap()], &points).stdout);
    let run = vars_json(&["--kallsyms", &kallsyms, "--btf", &btf], &points);
    let ours = params_by_function(&run.stdout);
    let mut placed = 0;
    for f in functions {
        let (d, b) = (
            &dwarf[f],
            ours.get(f).unwrap_or_else(|| panic!("{f}: {}", run.stderr)),
        );
        assert_eq!(b.len(), d.len(), "{f}");
        for ((bn, bt, bf), (dn, dt, df)) in b.iter().zip(d) {
            assert_eq!((bn, bt), (dn, dt), "{f}");
            if let Some(df) = df {
                assert_eq!(bf.as_ref(), Some(df), "{f}: {bn}");
                placed += 1;
            }
        }
    }
    assert_eq!(placed, 27);
    // A module's BTF is a split file beside the kernel's: one file cannot
    // give it.
    let e = probeaddr([
        "resolve",
        "--kallsyms",
        &kallsyms,
        "--btf",
        tmp.join("btf/vmlinux").to_str().unwrap(),
        "--offline",
        r#"module("xfs").function("xfs_fs_fill_super") $sb"#,
    ])
    .error();
    assert!(e.contains("give a directory like /sys/kernel/btf"), "{e}");
}

/// A vmlinux without DWARF (objcopy --strip-debug) reads its own .BTF,
/// and gives what the debug vmlinux's DWARF gives at the entries; without
/// .BTF as well, the error says what is missing.
#[test]
fn a_vmlinux_without_dwarf_reads_its_own_btf() {
    let tmp = Scratch::new("btf-strip");
    let v = vmlinux(&root());
    let stripped = tmp.join("vmlinux");
    let bare = tmp.join("vmlinux-bare");
    // (.BTF cannot be removed, symbols point into it: it is renamed.)
    for (out, extra) in [(&stripped, None), (&bare, Some(".BTF=.not_btf"))] {
        let mut cmd = std::process::Command::new("objcopy");
        cmd.arg("--strip-debug");
        if let Some(rename) = extra {
            cmd.args(["--rename-section", rename]);
        }
        let st = cmd.arg(&v).arg(out).status().expect("objcopy (binutils)");
        assert!(st.success());
    }
    let points = [
        "vfs_read count file->f_pos buf",
        "tcp_setsockopt level optlen",
        "vfs_read%return $retval",
    ];
    let kprobe = |vm: &str| {
        let mut a = vec!["resolve", "-k", vm, "--offline", "--format", "kprobe"];
        a.extend(points);
        probeaddr(&a)
    };
    let from_dwarf = kprobe(&v);
    let from_btf = kprobe(stripped.to_str().unwrap());
    assert_eq!(from_btf.code, 0, "{}", from_btf.stderr);
    assert_eq!(from_btf.stdout, from_dwarf.stdout);
    assert_eq!(from_btf.stdout.lines().count(), 3);
    let e = probeaddr([
        "resolve",
        "-k",
        bare.to_str().unwrap(),
        "--offline",
        "vfs_read count",
    ])
    .error();
    assert!(
        e.contains("needs DWARF (or, at a kernel function's entry, BTF)"),
        "{e}"
    );
}
