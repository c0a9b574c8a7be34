//! The name → compile units index (sources/unitnames.rs): what it finds is
//! exactly what a scan of `.debug_info` finds, it is kept on disk by
//! build-id and read back, a damaged copy is rebuilt, and DWARF whose
//! origins cross units (LTO) gets no index at all.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::fixtures::{self, hexfield, probeaddr_env, Run, Scratch};
use super::{debian, oracle};

/// Resolve `point` in `target` (`-x FILE` or `-k FILE --offline`) with the
/// index cached under `cache`, and again with the index turned off.
fn both(target: &[&str], point: &str, cache: &Path) -> (Run, Run) {
    let mut args: Vec<&str> = vec!["resolve"];
    args.extend_from_slice(target);
    args.extend_from_slice(&[point, "--format", "json"]);
    let indexed = probeaddr_env(&args, &[("PROBEADDR_CACHE_DIR", cache.as_os_str())]);
    let scanned = probeaddr_env(
        &args,
        &[
            ("PROBEADDR_CACHE_DIR", cache.as_os_str()),
            ("PROBEADDR_UNIT_INDEX", OsStr::new("off")),
        ],
    );
    (indexed, scanned)
}

/// The index files under `cache`.
fn indexes(cache: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(cache.join("unitnames")) {
        Ok(d) => {
            let mut v: Vec<PathBuf> = d.map(|e| e.unwrap().path()).collect();
            v.sort();
            v
        }
        Err(_) => Vec::new(),
    }
}

fn addrs(run: &Run) -> Vec<u64> {
    let mut v: Vec<u64> = run.json().iter().map(|l| hexfield(l, "addr")).collect();
    v.sort();
    v
}

#[test]
fn an_inlined_header_helper_is_found_through_the_index_as_by_a_scan() {
    let cache = Scratch::new("unitnames-user");
    for (bin, indexed) in [("prog-inline", true), ("prog-inline-lto", false)] {
        let p = fixtures::path(bin);
        let s = p.display().to_string();
        let want = oracle::llvm_inlined_entries(&p, "twice");
        assert!(want.len() >= 2, "{bin}: llvm-dwarfdump lists {want:x?}");
        let (a, b) = both(&["-x", &s], "twice", &cache);
        assert_eq!(a.stdout, b.stdout, "{bin}: index and scan disagree");
        assert_eq!(addrs(&a), want, "{bin}: {}", a.stdout);
        // LTO's inlined sites name origins in another unit: no index.
        let id = oracle::readelf_build_id(&p);
        let file = cache.join("unitnames").join(format!("{id}.idx"));
        assert_eq!(file.exists(), indexed, "{bin}: {}", file.display());
    }
    assert_eq!(indexes(&cache).len(), 1);
}

#[test]
fn the_kernel_index_finds_what_a_scan_of_debug_info_finds_and_survives_damage() {
    let root = debian::root();
    let v = debian::vmlinux(&root);
    let target = ["-k", v.as_str(), "--offline"];
    let cache = Scratch::new("unitnames-kernel");
    let id = oracle::readelf_build_id(Path::new(&v));
    let file = cache.join("unitnames").join(format!("{id}.idx"));
    // Literal names with inlined sites in many units (jhash, may_create of
    // fs/namei.c, cr4_set_bits), a name in eight files, and patterns, whose
    // units the index gives by testing every name it holds.
    let points = [
        ("cr4_set_bits", 5),
        ("jhash", 25),
        ("may_create", 3),
        ("init_once", 8),
        ("init_once@fs/proc/inode.c", 1),
        ("ZSTD_*", 376),
        ("jbd2_*", 274),
    ];
    for (i, (point, n)) in points.iter().enumerate() {
        let (a, b) = both(&target, point, &cache);
        assert_eq!(a.stdout, b.stdout, "{point}: index and scan disagree");
        assert_eq!(a.json().len(), *n, "{point}");
        if i == 0 {
            assert!(file.exists(), "the first query writes {}", file.display());
        }
    }
    assert_eq!(indexes(&cache), vec![file.clone()]);
    // A damaged copy (one byte changed, or cut short) is not believed: the
    // answer is the same, and the index is written anew.
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x5a;
    for damaged in [bad, good[..good.len() / 3].to_vec()] {
        std::fs::write(&file, &damaged).unwrap();
        let (a, b) = both(&target, "jhash", &cache);
        assert_eq!(a.stdout, b.stdout);
        assert_eq!(a.json().len(), 25);
        assert_eq!(std::fs::read(&file).unwrap(), good, "rebuilt the same");
    }
}
