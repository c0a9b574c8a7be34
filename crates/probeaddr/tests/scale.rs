//! Cost that grows with the work: resolving `'*' --no-inlines`, and
//! `list '*'` and `lines '*'`, over a kernel-like vmlinux of 5,000 and of
//! 20,000 generated functions must do O(n log n) work. Work is counted as heap allocations (calls and bytes),
//! not time: four times the functions may cost at most about five times the
//! allocations (n log n gives 4.6x; anything quadratic, 16x). Measured: 4.00x
//! for both; pinning a tenth of the locations one by one (`Location::pin`,
//! which indexes all of them each time) instead of in one batch makes it
//! 14.7x, and this test fails.
//!
//! The fixture is generated and built here (gcc, ld, the kernel fixture's
//! linker script): files of 200 functions each, and in every file a
//! `static` `helper` and `init_once` (the kernel's ambiguous names, whose
//! pins and nearest unique anchors are where quadratic costs hid).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use probeaddr::{ProbeSpec, ResolveOptions, Resolver, Source};

struct Counting;

static CALLS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new as u64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const PER_FILE: usize = 200;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A vmlinux of `files` files of [`PER_FILE`] functions in `dir`.
fn build(dir: &Path, files: usize) -> PathBuf {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::create_dir_all(dir.join("gen")).unwrap();
    let mut sources = Vec::new();
    for f in 0..files {
        let mut c = String::from("#define N __attribute__((noinline, used))\n");
        // Two statics of the same name in every file.
        c.push_str("static N int helper(int x) { return x * 3 + 1; }\n");
        c.push_str("static N int init_once(int x) { return helper(x) ^ 5; }\n");
        // And a helper inlined into every other function (the kernel's
        // `get_current`): `list` pairs each copy with its sites.
        c.push_str(
            "static inline __attribute__((always_inline)) int twice(int x) { return x * 2 - 7; }\n",
        );
        for i in 0..PER_FILE - 2 {
            c.push_str(&format!(
                "N int f{f}_{i}(int x) {{ return twice(init_once(x + {i}) * {}); }}\n",
                i + 2
            ));
        }
        let rel = format!("gen/file{f}.c");
        std::fs::write(dir.join(&rel), c).unwrap();
        sources.push(rel);
    }
    std::fs::write(
        dir.join("gen/head.c"),
        "void startup_64(void) { }\nunsigned long jiffies_64;\n",
    )
    .unwrap();
    sources.push("gen/head.c".into());
    // Two compilers at once (CI has two cores).
    let objs: Vec<String> = sources.iter().map(|s| s.replace(".c", ".o")).collect();
    std::thread::scope(|s| {
        for half in [0, 1] {
            let (sources, objs) = (&sources, &objs);
            s.spawn(move || {
                for (src, obj) in sources.iter().zip(objs).skip(half).step_by(2) {
                    run(Command::new("gcc").current_dir(dir).args([
                        "-O2",
                        "-g",
                        "-mcmodel=kernel",
                        "-fno-pic",
                        "-fno-pie",
                        "-ffreestanding",
                        "-fno-asynchronous-unwind-tables",
                        "-c",
                        src,
                        "-o",
                        obj,
                    ]));
                }
            });
        }
    });
    let out = dir.join("vmlinux");
    run(Command::new("ld")
        .current_dir(dir)
        .args(["-m", "elf_x86_64", "-z", "max-page-size=0x200000"])
        .args(["--build-id=sha1", "-T"])
        .arg(ws.join("tests/fixtures/kernel/vmlinux.lds"))
        .arg("-o")
        .arg(&out)
        .args(&objs));
    out
}

/// readelf's count of FUNC symbols with code (the oracle for how many
/// locations `'*'` has).
fn readelf_functions(vmlinux: &Path) -> usize {
    let out = Command::new("readelf")
        .arg("-sW")
        .arg(vmlinux)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 8 && f[3] == "FUNC" && f[2] != "0" && f[6] != "UND"
        })
        .count()
}

/// Allocations (calls, bytes) of resolving `'*' --no-inlines`, and the
/// number of locations.
fn cost(vmlinux: &Path) -> (u64, u64, usize) {
    let spec = ProbeSpec::parse("*").unwrap();
    let options = ResolveOptions {
        no_inlines: true,
        ..ResolveOptions::default()
    };
    let (c0, b0) = (CALLS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    let locations = Resolver::with_options([Source::Vmlinux(vmlinux.to_path_buf())], options)
        .resolve(&spec)
        .unwrap()
        .locations;
    // And the pin of each (the CLI's JSON gives them all).
    let pins = probeaddr::pins(&locations);
    let n = locations.len();
    // Every `helper` and `init_once` is pinned, by its own file.
    let pinned = |name: &str| {
        locations
            .iter()
            .zip(&pins)
            .filter(|(l, p)| l.symbol == name && p.as_deref().is_some_and(|p| p.contains(".c")))
            .count()
    };
    assert_eq!(pinned("helper"), pinned("init_once"));
    assert_eq!(pinned("helper") * PER_FILE, n - 1, "one helper per file");
    (
        CALLS.load(Ordering::Relaxed) - c0,
        BYTES.load(Ordering::Relaxed) - b0,
        n,
    )
}

/// Allocations (calls, bytes) of `list '*'` and of `lines '*'`, checked
/// for what they must hold: every function, and `twice` inlined once into
/// each generated one.
fn list_and_lines_cost(vmlinux: &Path, functions: usize) -> ((u64, u64), (u64, u64)) {
    let spec = ProbeSpec::parse("*").unwrap();
    let resolver = Resolver::new([Source::Vmlinux(vmlinux.to_path_buf())]);
    let (c0, b0) = (CALLS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    let (listed, _) = resolver.list(&spec).unwrap();
    let (c1, b1) = (CALLS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    let lines = resolver.lines(&spec).unwrap();
    let (c2, b2) = (CALLS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    // `twice` has no copy of its own: each site is listed, as inlined only.
    let files = (functions - 1) / PER_FILE;
    let twice: Vec<_> = listed.iter().filter(|f| f.symbol == "twice").collect();
    assert_eq!(twice.len(), files * (PER_FILE - 2));
    assert!(twice
        .iter()
        .all(|f| f.entry.is_none() && f.inlined_sites.len() == 1));
    assert_eq!(listed.len(), functions + twice.len());
    // Every function has lines, and each generated one a line of `twice`.
    assert_eq!(lines.len(), functions);
    let with_twice = lines
        .iter()
        .filter(|f| f.lines.iter().any(|l| l.inlined))
        .count();
    assert_eq!(with_twice, files * (PER_FILE - 2));
    ((c1 - c0, b1 - b0), (c2 - c1, b2 - b1))
}

#[test]
fn resolving_every_function_costs_n_log_n_not_n_squared() {
    let root = std::env::temp_dir().join(format!("probeaddr-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let small = build(&root.join("small"), 5_000 / PER_FILE);
    let large = build(&root.join("large"), 20_000 / PER_FILE);
    let (sc, sb, sn) = cost(&small);
    let (lc, lb, ln) = cost(&large);
    assert_eq!(sn, readelf_functions(&small));
    assert_eq!(ln, readelf_functions(&large));
    assert!(ln > 20_000, "{ln}");
    let calls = lc as f64 / sc as f64;
    let bytes = lb as f64 / sb as f64;
    eprintln!("{sn} -> {ln} locations: allocations {sc} -> {lc} ({calls:.2}x), bytes {sb} -> {lb} ({bytes:.2}x)");
    assert!(
        calls < 5.5,
        "allocations grew {calls:.2}x for 4x the functions"
    );
    assert!(
        bytes < 5.5,
        "allocated bytes grew {bytes:.2}x for 4x the functions"
    );
    // `list '*'` and `lines '*'` (every function, every inlined site, every
    // line) grow the same way. Pairing each copy with the sites by a scan
    // of all of them made `list '*'` take 13 minutes on a kernel.
    let (s_list, s_lines) = list_and_lines_cost(&small, sn);
    let (l_list, l_lines) = list_and_lines_cost(&large, ln);
    for (what, s, l) in [("list", s_list, l_list), ("lines", s_lines, l_lines)] {
        let calls = l.0 as f64 / s.0 as f64;
        let bytes = l.1 as f64 / s.1 as f64;
        eprintln!(
            "{what} '*': allocations {} -> {} ({calls:.2}x), bytes {} -> {} ({bytes:.2}x)",
            s.0, l.0, s.1, l.1
        );
        assert!(
            calls < 5.5,
            "{what}: allocations grew {calls:.2}x for 4x the functions"
        );
        assert!(
            bytes < 5.5,
            "{what}: allocated bytes grew {bytes:.2}x for 4x the functions"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
