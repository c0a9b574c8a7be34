//! Debian's 6.12 series (bookworm-backports' linux-image-6.12.95+deb12-cloud-amd64
//! with its -dbg package, fetched by `scripts/fetch-debian-kernel KVER
//! bookworm-backports`; scripts/test exports PROBEADDR_DEBIAN_KERNEL_612).
//! 6.12 differs from 6.1 where it matters here: objtool appends 25,000
//! `__pfx_*` padding symbols after the last object's symbols, and more
//! header helpers are inlined everywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fixtures::probeaddr;
use super::oracle;

const KVER: &str = "6.12.95+deb12-cloud-amd64";

/// The unpacked packages (a missing cache is a failure, not a pass).
fn root() -> PathBuf {
    super::debian::kernel_cache(
        "PROBEADDR_DEBIAN_KERNEL_612",
        KVER,
        &[format!("root/usr/lib/debug/boot/vmlinux-{KVER}")],
        &format!("scripts/fetch-debian-kernel {KVER} bookworm-backports"),
    )
    .join("root")
}

fn vmlinux() -> String {
    root()
        .join("usr/lib/debug/boot")
        .join(format!("vmlinux-{KVER}"))
        .display()
        .to_string()
}

fn xfs_ko() -> PathBuf {
    super::debian::xfs_ko_of(&root(), KVER)
}

#[test]
fn padding_symbols_take_their_functions_file() {
    let v = vmlinux();
    let funcs = oracle::readelf_funcs(Path::new(&v), false);
    // Every __pfx_X is followed by X, whose own STT_FILE is right when X is
    // a static (a global has none: those are checked against X's answer).
    let by_addr: BTreeMap<u64, &oracle::ReadelfSym> = funcs
        .iter()
        .filter(|f| !f.name.starts_with("__pfx_"))
        .map(|f| (f.value, f))
        .collect();
    let pads: Vec<(u64, &oracle::ReadelfSym)> = funcs
        .iter()
        .filter_map(|p| {
            let f = by_addr.get(&(p.value + p.size))?;
            (p.name.strip_prefix("__pfx_") == Some(f.name.as_str())).then_some((p.value, *f))
        })
        .collect();
    assert!(pads.len() > 25_000, "{}", pads.len());
    // objtool put them after the last object's symbols: readelf gives all
    // of them that object's file.
    let pad_files: std::collections::BTreeSet<Option<&str>> = funcs
        .iter()
        .filter(|p| p.name.starts_with("__pfx_") && p.bind == "LOCAL")
        .map(|p| p.file.as_deref())
        .collect();
    assert_eq!(pad_files.len(), 1, "{pad_files:?}");
    let mut checked_static = 0;
    for chunk in pads.chunks(4000) {
        let mut args = vec![
            "symbolize".to_string(),
            "-k".into(),
            v.clone(),
            "--offline".into(),
        ];
        for (pad, f) in chunk {
            args.push(format!("{pad:#x}"));
            args.push(format!("{:#x}", f.value));
        }
        let out = probeaddr(&args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), chunk.len() * 2);
        let file_of = |l: &str| {
            l.rsplit_once(" [")
                .map(|x| x.1.trim_end_matches(']').to_string())
        };
        for (k, (_, f)) in chunk.iter().enumerate() {
            let (pad_line, func_line) = (lines[2 * k], lines[2 * k + 1]);
            // (The name is any of the aliases at that address.)
            assert!(pad_line.contains(" __pfx_"), "{pad_line}");
            // An assembler function without DWARF (nop_func) has no file
            // to give; its padding then has none either.
            let file = file_of(pad_line);
            assert_eq!(file, file_of(func_line), "{pad_line} / {func_line}");
            match (&f.file, file) {
                (Some(stt), Some(file)) => {
                    assert!(
                        file == *stt || file.ends_with(&format!("/{stt}")),
                        "{pad_line}: readelf puts {} in {stt}",
                        f.name
                    );
                    checked_static += 1;
                }
                (Some(stt), None) => panic!("{pad_line}: readelf puts {} in {stt}", f.name),
                (None, _) => {}
            }
        }
    }
    assert!(checked_static > 10_000, "{checked_static}");
    // And padding is called padding.
    let e = probeaddr(["resolve", "-k", &v, "__pfx_vfs_read", "--offline"]).error();
    assert!(e.contains("is the padding before vfs_read"), "{e}");
}

#[test]
fn bare_names_find_every_inlined_site_as_perf_does() {
    let v = vmlinux();
    // (point, probes perf defines): may_create is a static of fs/namei.c
    // inlined only; cr4_set_bits and ZSTD_count_2segments are header
    // helpers inlined in many units.
    for (point, n) in [
        ("may_create", 8),
        ("cr4_set_bits", 6),
        ("ZSTD_count_2segments", 85),
    ] {
        let mut perf = oracle::perf_probe_kernel_targets(Path::new(&v), point);
        perf.sort();
        assert_eq!(perf.len(), n, "perf probe -k V -D {point}: {perf:?}");
        let mut ours: Vec<String> =
            probeaddr(["resolve", "-k", &v, point, "--offline", "--format", "json"])
                .json()
                .iter()
                .map(oracle::perf_target)
                .collect();
        ours.sort();
        assert_eq!(ours, perf, "{point}");
    }
}

#[test]
fn module_sites_and_copies_equal_perf_probe() {
    let ko = xfs_ko();
    // 3 out-of-line copies (perf names each `uuid_copy+0`; that name is not
    // unique in the module, so our own module form is the nearest unique
    // symbol) and 14 inlined sites.
    for (point, n) in [
        ("uuid_copy", 17),
        ("xfs_buf_daddr", 73),
        ("ERR_PTR", 9),
        ("xfs_fs_fill_super:30", 1),
    ] {
        let perf = oracle::perf_probe_module_targets(&ko, point);
        assert_eq!(perf.len(), n, "perf probe -m xfs.ko -D {point}: {perf:?}");
        assert_eq!(
            super::debian::module_targets(&ko, point, &[]),
            perf,
            "{point}"
        );
    }
}

#[test]
fn every_dups_pin_resolves_to_its_instance_alone_on_6_12() {
    let (_, pins) = super::debian::dups_pins_round_trip(&vmlinux());
    assert!(pins.len() > 800, "{}", pins.len());
}

#[test]
fn bare_header_helpers_have_every_inlined_site_llvm_dwarfdump_lists() {
    let v = vmlinux();
    // Inlined everywhere, far beyond perf ("Too many( > 128) probe point
    // found"). One dump of the vmlinux (minutes) serves every name.
    // (name, distinct inlined entries, out-of-line copies).
    let names = [
        ("strnlen", 670, 1),
        ("memcmp", 387, 1),
        ("sized_strscpy", 265, 1),
        ("kmemdup_noprof", 128, 1),
    ];
    let want = oracle::llvm_inlined_entries_of(
        Path::new(&v),
        &names.iter().map(|n| n.0).collect::<Vec<_>>(),
    );
    for (name, sites, copies) in names {
        let want: std::collections::BTreeSet<u64> = want[name].iter().copied().collect();
        assert_eq!(want.len(), sites, "{name}");
        let rows = probeaddr(["resolve", "-k", &v, name, "--offline", "--format", "json"]).json();
        let ours: std::collections::BTreeSet<u64> = rows
            .iter()
            .filter(|r| !r["inlined_into"].is_null())
            .map(|r| super::fixtures::hexfield(r, "addr"))
            .collect();
        assert_eq!(ours, want, "{name}");
        let n = rows.iter().filter(|r| r["inlined_into"].is_null()).count();
        assert_eq!(n, copies, "{name}");
    }
}
