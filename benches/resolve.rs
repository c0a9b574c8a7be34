//! Resolving one function by name in a large real binary.
//!
//! * `cold`: `UserObject::open` (map the ELF, index `.symtab`/`.dynsym`) and
//!   `resolve`, every iteration. The file's pages stay in the page cache, so
//!   this is "cold process, warm disk cache": what one CLI call costs.
//! * `warm`: `resolve` only, on an object opened once.
//!
//! The binary is `$PROBEADDR_BENCH_BIN`, else the largest `libLLVM` found
//! (preferring files with a `.symtab`); the function is
//! `$PROBEADDR_BENCH_FUNC`, else `LLVMParseIRInContext` (exported by every
//! libLLVM since LLVM 3.x). Without a usable binary the benchmarks are
//! skipped with a message, not a panic.
//!
//! Run: `cargo bench -p probeaddr --bench resolve`
//! (`benches/compare.sh` uses the same defaults.)

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use probeaddr::resolve::{ResolveOptions, UserObject};
use probeaddr::sources::debuginfo::DebugSearch;
use probeaddr::sources::elf::ElfObject;
use probeaddr::ProbeSpec;

const DEFAULT_FUNC: &str = "LLVMParseIRInContext";

/// Files in `dir` whose name starts with `prefix` and contains `.so`.
fn libs_in(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with(prefix) && n.contains(".so")
        })
        .map(|e| e.path())
        .collect()
}

/// Candidate large binaries: libLLVM from rustup toolchains and the distribution.
fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let rustup = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
    if let Some(rustup) = rustup {
        if let Ok(rd) = std::fs::read_dir(rustup.join("toolchains")) {
            for tc in rd.filter_map(|e| e.ok()) {
                out.extend(libs_in(&tc.path().join("lib"), "libLLVM"));
            }
        }
    }
    out.extend(libs_in(Path::new("/usr/lib/x86_64-linux-gnu"), "libLLVM"));
    // Symlinked toolchains name the same file twice: report its real path,
    // and break ties by name, as compare.sh does.
    let mut out: Vec<PathBuf> = out
        .into_iter()
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The benchmark binary: the env var, else the largest candidate with a
/// `.symtab`, else the largest with a `.dynsym`.
fn pick_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROBEADDR_BENCH_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut best: Option<(bool, u64, PathBuf)> = None;
    for p in candidates() {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let Ok(elf) = ElfObject::open(&p) else {
            continue;
        };
        if !elf.has_symtab() && !elf.has_dynsym() {
            continue;
        }
        let key = (elf.has_symtab(), meta.len(), p);
        if best.as_ref().is_none_or(|b| (key.0, key.1) > (b.0, b.1)) {
            best = Some(key);
        }
    }
    best.map(|b| b.2)
}

struct Setup {
    bin: PathBuf,
    func: String,
}

/// The binary and function, checked once: `None` (with a message) if the
/// benchmark cannot run here.
fn setup() -> Option<&'static Setup> {
    static SETUP: OnceLock<Option<Setup>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let func =
                std::env::var("PROBEADDR_BENCH_FUNC").unwrap_or_else(|_| DEFAULT_FUNC.to_string());
            let Some(bin) = pick_binary() else {
                eprintln!(
                    "resolve bench: no large binary found (set PROBEADDR_BENCH_BIN=/path/to/elf); skipping"
                );
                return None;
            };
            let spec = match ProbeSpec::parse(&func) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("resolve bench: bad PROBEADDR_BENCH_FUNC {func:?}: {e}; skipping");
                    return None;
                }
            };
            let obj = match UserObject::open(&bin, &DebugSearch::default()) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("resolve bench: cannot open {}: {e}; skipping", bin.display());
                    return None;
                }
            };
            match obj.resolve(&spec, &ResolveOptions::default()) {
                Ok(locs) if !locs.is_empty() => {
                    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
                    eprintln!(
                        "resolve bench: {} ({:.1} MB, {} symbols indexed, symbols from {:?}); {func} -> file offset {}{}",
                        bin.display(),
                        size as f64 / 1e6,
                        obj.analysed().index().map_or(0, |i| i.len()),
                        obj.symbol_source(),
                        locs[0].file_offset,
                        if locs.len() > 1 {
                            format!(" (+{} more)", locs.len() - 1)
                        } else {
                            String::new()
                        }
                    );
                    Some(Setup { bin, func })
                }
                Ok(_) => {
                    eprintln!("resolve bench: {func} not found in {}; skipping", bin.display());
                    None
                }
                Err(e) => {
                    eprintln!("resolve bench: {func} in {}: {e}; skipping", bin.display());
                    None
                }
            }
        })
        .as_ref()
}

fn cold(c: &mut Criterion) {
    let Some(s) = setup() else { return };
    let spec = ProbeSpec::parse(&s.func).expect("checked in setup");
    let search = DebugSearch::default();
    let opts = ResolveOptions::default();
    let mut g = c.benchmark_group("resolve_one_function");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("cold (open + resolve)", |b| {
        b.iter(|| {
            let obj = UserObject::open(black_box(&s.bin), &search).expect("open");
            let locs = obj.resolve(black_box(&spec), &opts).expect("resolve");
            black_box(locs)
        })
    });
    g.finish();
}

fn warm(c: &mut Criterion) {
    let Some(s) = setup() else { return };
    let spec = ProbeSpec::parse(&s.func).expect("checked in setup");
    let opts = ResolveOptions::default();
    let obj = UserObject::open(&s.bin, &DebugSearch::default()).expect("checked in setup");
    let mut g = c.benchmark_group("resolve_one_function");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("warm (resolve only)", |b| {
        b.iter(|| black_box(obj.resolve(black_box(&spec), &opts).expect("resolve")))
    });
    g.finish();
}

criterion_group!(benches, cold, warm);
criterion_main!(benches);
