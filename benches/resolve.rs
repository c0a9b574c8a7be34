//! Resolving one function by name in a large real binary.
//!
//! * `cold`: a new `Resolver` (map the ELF, index `.symtab`/`.dynsym`) and
//!   `resolve`, every iteration. The file's pages stay in the page cache, so
//!   this is "cold process, warm disk cache": what one CLI call costs.
//! * `warm`: `resolve` only, on a resolver that has the object open.
//!
//! The binary is `$PROBEADDR_BENCH_BIN`, else the largest `libLLVM` found
//! (preferring files with a `.symtab`); the function is
//! `$PROBEADDR_BENCH_FUNC`, else `LLVMParseIRInContext` (exported by every
//! libLLVM since LLVM 3.x). Without a usable binary the benchmarks are
//! skipped with a message, not a panic.
//!
//! Kernel benchmarks (group `kernel`):
//!
//! * `cold open + resolve <point>`: a new `Resolver` over the vmlinux (map
//!   the ELF, index its `.symtab`, read DWARF as needed) and `resolve` every iteration,
//!   for `init_once@fs/proc/inode.c` (eight `init_once` in the kernel, one in
//!   that file) and `vfs_read`. The vmlinux is `$PROBEADDR_BENCH_VMLINUX`,
//!   else the Debian 6.1 debug vmlinux that `scripts/fetch-debian-kernel`
//!   caches; missing: skipped with a message.
//! * `symbolize`: `/proc/kallsyms` (or `$PROBEADDR_BENCH_KALLSYMS`) parsed
//!   and address-indexed once, then `Symbolizer::symbolize` on a fixed
//!   pseudo-random set of 1,000,000 addresses inside text symbols; reported
//!   as elements (addresses) per second. Target: at least 1 M/s.
//!
//! Run: `cargo bench -p probeaddr --features internals --bench resolve`
//! (the hidden `internals` feature gives the setup here — choosing a binary,
//! drawing addresses — the readers; what is measured is the public API).
//! (`benches/compare.sh` and `benches/compare-kernel.sh` use the same defaults.)

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use probeaddr::internals::elf::ElfObject;
use probeaddr::internals::kallsyms::Kallsyms;
use probeaddr::internals::{SymbolIndex, SymbolKind};
use probeaddr::{KernelSymbols, ProbeSpec, Resolver, RuntimeAddr, Source};

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
            let obj = Resolver::new([Source::User(bin.clone())]);
            match obj.resolve(&spec).map(|r| r.locations) {
                Ok(locs) if !locs.is_empty() => {
                    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
                    eprintln!(
                        "resolve bench: {} ({:.1} MB{}); {func} -> {}{}",
                        bin.display(),
                        size as f64 / 1e6,
                        obj.notes()
                            .first()
                            .map(|n| format!("; {n}"))
                            .unwrap_or_default(),
                        locs[0].anchor,
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
    let mut g = c.benchmark_group("resolve_one_function");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("cold (open + resolve)", |b| {
        b.iter(|| {
            let obj = Resolver::new([Source::User(black_box(&s.bin).clone())]);
            black_box(obj.resolve(black_box(&spec)).expect("resolve"))
        })
    });
    g.finish();
}

fn warm(c: &mut Criterion) {
    let Some(s) = setup() else { return };
    let spec = ProbeSpec::parse(&s.func).expect("checked in setup");
    let obj = Resolver::new([Source::User(s.bin.clone())]);
    let mut g = c.benchmark_group("resolve_one_function");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("warm (resolve only)", |b| {
        b.iter(|| black_box(obj.resolve(black_box(&spec)).expect("resolve")))
    });
    g.finish();
}

/// The Debian 6.1 debug vmlinux cached by `scripts/fetch-debian-kernel`.
const DEFAULT_VMLINUX: &str = "/root/.cache/probeaddr/debian-6.1.0-56-cloud-amd64/root/usr/lib/debug/boot/vmlinux-6.1.0-56-cloud-amd64";

/// Kernel probe points resolved by the `kernel` group: single points, a
/// point with inlined sites, a glob, and a helper inlined everywhere (issue
/// 14's rows that the 6.1 vmlinux has).
const KERNEL_POINTS: &[&str] = &[
    "init_once@fs/proc/inode.c",
    "vfs_read",
    "cr4_set_bits",
    "ext4_*",
    "get_current",
];

/// The vmlinux, checked once (opened, and every point resolves): `None`,
/// with a message, if the kernel benchmarks cannot run here.
fn vmlinux() -> Option<&'static Path> {
    static VMLINUX: OnceLock<Option<PathBuf>> = OnceLock::new();
    VMLINUX
        .get_or_init(|| {
            let path = std::env::var_os("PROBEADDR_BENCH_VMLINUX")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_VMLINUX));
            if !path.is_file() {
                eprintln!(
                    "kernel bench: no vmlinux at {} (run scripts/fetch-debian-kernel, or set PROBEADDR_BENCH_VMLINUX); skipping",
                    path.display()
                );
                return None;
            }
            let kernel = Resolver::new([Source::Vmlinux(path.clone())]);
            for point in KERNEL_POINTS {
                let spec = ProbeSpec::parse(point).expect("valid probe point");
                match kernel.resolve(&spec).map(|r| r.locations) {
                    Ok(locs) if !locs.is_empty() => eprintln!(
                        "kernel bench: {point} -> {} ({} location(s)) in {}",
                        locs[0].anchor,
                        locs.len(),
                        path.display()
                    ),
                    Ok(_) => {
                        eprintln!("kernel bench: {point} not found in {}; skipping", path.display());
                        return None;
                    }
                    Err(e) => {
                        eprintln!("kernel bench: {point} in {}: {e}; skipping", path.display());
                        return None;
                    }
                }
            }
            Some(path)
        })
        .as_deref()
}

fn kernel_cold(c: &mut Criterion) {
    let Some(path) = vmlinux() else { return };
    let mut g = c.benchmark_group("kernel");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for point in KERNEL_POINTS {
        let spec = ProbeSpec::parse(point).expect("valid probe point");
        g.bench_function(format!("cold open + resolve {point}"), |b| {
            b.iter(|| {
                let kernel = Resolver::new([Source::Vmlinux(black_box(path).to_path_buf())]);
                black_box(kernel.resolve(black_box(&spec)).expect("resolve"))
            })
        });
    }
    g.finish();
}

/// Number of addresses symbolized per iteration.
const SYMBOLIZE_N: usize = 1_000_000;

/// splitmix64: a fixed, dependency-free pseudo-random sequence.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` addresses, each inside a text symbol of `ks`: a random text symbol,
/// plus a random offset below the distance to the next higher address (at
/// most 4 KiB). Same seed, same listing: same addresses.
fn text_addresses(ks: &Kallsyms, n: usize) -> Vec<RuntimeAddr> {
    let syms = ks.symbols();
    let mut starts: Vec<u64> = syms.iter().map(|s| s.addr.get()).collect();
    starts.sort_unstable();
    starts.dedup();
    let ranges: Vec<(u64, u64)> = syms
        .iter()
        .filter(|s| s.is_text() && s.addr.get() != 0)
        .map(|s| {
            let a = s.addr.get();
            let i = starts.partition_point(|&x| x <= a);
            let next = starts.get(i).copied().unwrap_or(a + 16);
            (a, (next - a).clamp(1, 4096))
        })
        .collect();
    if ranges.is_empty() {
        return Vec::new();
    }
    let mut state = 0x005e_ed0f_9b0b_u64;
    (0..n)
        .map(|_| {
            let (a, len) = ranges[(splitmix64(&mut state) % ranges.len() as u64) as usize];
            RuntimeAddr(a + splitmix64(&mut state) % len)
        })
        .collect()
}

fn symbolize(c: &mut Criterion) {
    let path = std::env::var_os("PROBEADDR_BENCH_KALLSYMS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc/kallsyms"));
    let t0 = std::time::Instant::now();
    let ks = match Kallsyms::read(&path) {
        Ok(ks) => ks,
        Err(e) => {
            eprintln!(
                "symbolize bench: cannot read {}: {e}; skipping",
                path.display()
            );
            return;
        }
    };
    if ks.addresses_hidden() {
        eprintln!(
            "symbolize bench: {} shows no addresses (kptr_restrict; run as root); skipping",
            path.display()
        );
        return;
    }
    ks.by_address();
    let parse = t0.elapsed();
    let addrs = text_addresses(&ks, SYMBOLIZE_N);
    if addrs.is_empty() {
        eprintln!(
            "symbolize bench: no text symbols in {}; skipping",
            path.display()
        );
        return;
    }
    let resolver = Resolver::new([Source::Kallsyms(
        KernelSymbols::read(&path).expect("read above"),
    )]);
    let symbolizer = resolver.symbolizer().expect("kallsyms with addresses");
    let found = addrs
        .iter()
        .filter(|&&a| symbolizer.symbolize(a).symbol.is_some())
        .count();
    eprintln!(
        "symbolize bench: {} ({} symbols, {} text) read + address-indexed in {:.1} ms; {} addresses, {} symbolized",
        path.display(),
        ks.symbols().len(),
        ks.symbols().iter().filter(|s| s.is_text()).count(),
        parse.as_secs_f64() * 1e3,
        addrs.len(),
        found
    );
    let mut g = c.benchmark_group("kernel");
    g.throughput(Throughput::Elements(addrs.len() as u64))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function(
        format!("symbolize {} addresses (warm kallsyms)", addrs.len()),
        |b| {
            b.iter(|| {
                let mut hits = 0usize;
                let mut sum = 0u64;
                for &a in black_box(&addrs) {
                    let s = symbolizer.symbolize(a);
                    if s.symbol.is_some() {
                        hits += 1;
                        sum = sum.wrapping_add(s.offset);
                    }
                }
                black_box((hits, sum))
            })
        },
    );
    g.finish();
}

/// Addresses symbolized per iteration from the vmlinux (as many as the CLI
/// rows of `compare-cost.sh`: with lines, the rate grows with the batch).
const VMLINUX_SYMBOLIZE_N: usize = 1_000_000;

/// `symbolize_many` over the vmlinux (warm: opened and indexed once), with
/// files, then with lines too: addresses drawn inside its functions.
fn symbolize_vmlinux(c: &mut Criterion) {
    let Some(path) = vmlinux() else { return };
    let elf = ElfObject::open(path).expect("opened by vmlinux()");
    let idx = SymbolIndex::build(&elf, Some(&elf)).expect("indexed");
    let funcs: Vec<(u64, u64)> = idx
        .symbols()
        .iter()
        .filter(|s| s.kind == SymbolKind::Function && s.size > 0)
        .map(|s| (s.addr.get(), s.size))
        .collect();
    assert!(
        !funcs.is_empty(),
        "no sized functions in {}",
        path.display()
    );
    let mut state = 7u64;
    let addrs: Vec<RuntimeAddr> = (0..VMLINUX_SYMBOLIZE_N)
        .map(|_| {
            let (a, size) = funcs[splitmix64(&mut state) as usize % funcs.len()];
            RuntimeAddr(a + splitmix64(&mut state) % size)
        })
        .collect();
    let resolver = Resolver::new([Source::Vmlinux(path.to_path_buf())]);
    let mut g = c.benchmark_group("kernel");
    g.throughput(Throughput::Elements(addrs.len() as u64))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for lines in [false, true] {
        let s = resolver.symbolizer().expect("a vmlinux");
        let s = if lines { s.with_lines() } else { s };
        let what = if lines { "files and lines" } else { "files" };
        g.bench_function(
            format!("symbolize_many {} vmlinux addresses ({what})", addrs.len()),
            |b| {
                b.iter(|| {
                    let answers = s.symbolize_many(black_box(&addrs));
                    let named = answers.iter().filter(|a| a.file.is_some()).count();
                    black_box(named)
                })
            },
        );
    }
    g.finish();
}

criterion_group!(
    benches,
    cold,
    warm,
    kernel_cold,
    symbolize,
    symbolize_vmlinux
);
criterion_main!(benches);
