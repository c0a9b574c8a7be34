//! Kernel and module probe points against the kernel-like fixture (a vmlinux
//! linked at 0xffffffff81000000 with duplicated statics and `__pfx_` padding,
//! and an ET_REL module), with kallsyms and sysfs trees generated for a
//! random KASLR slide; and against this machine's live /proc/kallsyms.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::fixtures::{self, hexfield, probeaddr};
use super::oracle;

/// Stand-ins for /proc/kallsyms and /sys of a "running" fixture kernel.
pub(super) struct World {
    /// Removed with the world.
    _scratch: fixtures::Scratch,
    dir: PathBuf,
    vmlinux: PathBuf,
    ko: PathBuf,
    slide: u64,
    text: u64,
    /// Module section bases.
    bases: BTreeMap<String, u64>,
}

impl World {
    pub(super) fn vmlinux_path(&self) -> &str {
        self.vmlinux.to_str().unwrap()
    }
    pub(super) fn ko_path(&self) -> &str {
        self.ko.to_str().unwrap()
    }
    pub(super) fn kallsyms(&self) -> PathBuf {
        self.dir.join("kallsyms")
    }
    pub(super) fn sysfs(&self) -> PathBuf {
        self.dir.join("sys")
    }
    /// Common flags: vmlinux, module, stand-ins.
    fn args(&self) -> Vec<String> {
        vec![
            "-k".into(),
            self.vmlinux.display().to_string(),
            "-m".into(),
            self.ko.display().to_string(),
            "--kallsyms".into(),
            self.kallsyms().display().to_string(),
            "--sysfs".into(),
            self.sysfs().display().to_string(),
        ]
    }
    pub(super) fn resolve(&self, extra: &[&str]) -> super::fixtures::Run {
        let mut a: Vec<String> = vec!["resolve".into()];
        a.extend(self.args());
        a.extend(extra.iter().map(|s| s.to_string()));
        probeaddr(a)
    }
    fn json(&self, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut e = vec!["--format", "json"];
        e.extend_from_slice(extra);
        self.resolve(&e).json()
    }
}

/// A KASLR-like slide: a multiple of 2 MiB below 1 GiB, varying per run.
fn random_slide() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let r = (t ^ (std::process::id() as u64).wrapping_mul(0x9e3779b97f4a7c15)) % 511 + 1;
    r * 0x20_0000
}

pub(super) fn world(tag: &str) -> World {
    world_with(tag, random_slide(), |_| {})
}

/// Build stand-ins; `edit` may change the kallsyms text before it is written.
fn world_with(tag: &str, slide: u64, edit: impl FnOnce(&mut String)) -> World {
    let k = fixtures::path("kernel");
    let vmlinux = k.join("vmlinux");
    let ko = k.join("modules/fixmod.ko");
    let scratch = fixtures::Scratch::new(&format!("kworld-{tag}"));
    let dir = scratch.to_path_buf();
    // kallsyms: System.map (made by the kernel's own mksysmap rules) + slide,
    // then the module's functions at their section bases.
    let map = std::fs::read_to_string(k.join("System.map")).unwrap();
    let mut ks = String::new();
    let mut text = 0;
    for line in map.lines() {
        let mut f = line.split(' ');
        let (a, t, n) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let a = u64::from_str_radix(a, 16).unwrap();
        if n == "_text" {
            text = a;
        }
        if a >= 0xffff_ffff_8000_0000 {
            writeln!(ks, "{:016x} {t} {n}", a.wrapping_add(slide)).unwrap();
        }
    }
    let secs = oracle::readelf_sections(&ko);
    let mut bases = BTreeMap::new();
    for (i, (_, name)) in secs
        .iter()
        .filter(|(_, n)| n.starts_with(".text") || n.ends_with(".text"))
        .enumerate()
    {
        bases.insert(name.clone(), 0xffff_ffff_c0a0_0000 + i as u64 * 0x1000);
    }
    for (name, value, ty, ndx) in oracle::readelf_all(&ko) {
        let Ok(n) = ndx.parse::<u32>() else { continue };
        let Some(base) = secs.get(&n).and_then(|s| bases.get(s)) else {
            continue;
        };
        if ty == "FUNC" {
            writeln!(ks, "{:016x} t {name}\t[fixmod]", base + value).unwrap();
        }
    }
    edit(&mut ks);
    std::fs::write(dir.join("kallsyms"), ks).unwrap();
    // sysfs: kernel/notes, module/fixmod/{sections,notes}.
    let sys = dir.join("sys");
    std::fs::create_dir_all(sys.join("kernel")).unwrap();
    std::fs::write(
        sys.join("kernel/notes"),
        oracle::section_bytes(&vmlinux, ".notes"),
    )
    .unwrap();
    std::fs::create_dir_all(sys.join("module/fixmod/sections")).unwrap();
    std::fs::create_dir_all(sys.join("module/fixmod/notes")).unwrap();
    for (s, b) in &bases {
        std::fs::write(
            sys.join("module/fixmod/sections").join(s),
            format!("0x{b:016x}\n"),
        )
        .unwrap();
    }
    std::fs::write(
        sys.join("module/fixmod/notes/.note.gnu.build-id"),
        oracle::section_bytes(&ko, ".note.gnu.build-id"),
    )
    .unwrap();
    assert_eq!(text, 0xffff_ffff_8100_0000);
    World {
        _scratch: scratch,
        dir,
        vmlinux,
        ko,
        slide,
        text,
        bases,
    }
}

/// readelf's `init_once` copies: (address, STT_FILE).
fn readelf_init_once(vmlinux: &Path) -> Vec<(u64, String)> {
    oracle::readelf_funcs(vmlinux, false)
        .into_iter()
        .filter(|s| s.name == "init_once")
        .map(|s| (s.value, s.file.unwrap()))
        .collect()
}

#[test]
fn every_init_once_with_its_path_and_every_form() {
    let w = world("every");
    let rows = w.json(&["init_once"]);
    let want = readelf_init_once(&w.vmlinux);
    assert_eq!(rows.len(), want.len());
    assert_eq!(want.len(), 4, "fixture has four init_once");
    let all = oracle::readelf_all(&w.vmlinux);
    let kallsyms = std::fs::read_to_string(w.kallsyms()).unwrap();
    for (row, (addr, stt)) in rows.iter().zip(&want) {
        let ctx = format!("slide {:#x}, {row}", w.slide);
        assert_eq!(hexfield(row, "func_addr"), *addr, "{ctx}");
        let file = row["file"].as_str().unwrap();
        // The path from DWARF, checked with gdb; its basename is readelf's STT_FILE.
        assert_eq!(file, oracle::gdb_file_at(&w.vmlinux, *addr), "{ctx}");
        assert!(file.ends_with(&format!("/{stt}")), "{ctx}");
        let f = &row["forms"];
        assert_eq!(f["text"], format!("_text+{:#x}", addr - w.text), "{ctx}");
        assert_eq!(f["address"], format!("{:#x}", addr + w.slide), "{ctx}");
        assert!(f["symbol"].is_null(), "init_once is not unique: {ctx}");
        assert_eq!(row["name_count"], 5, "4 in vmlinux + 1 in fixmod: {ctx}");
        // Nearest unique: a function of the same section before it, unique in
        // kallsyms, never __pfx_, and it names the same address.
        let nearest = f["nearest"].as_str().unwrap();
        let (p, off) = nearest.split_once('+').unwrap();
        let off = u64::from_str_radix(off.trim_start_matches("0x"), 16).unwrap();
        assert!(!p.starts_with("__pfx_"), "{ctx}");
        let pv: Vec<&(String, u64, String, String)> = all.iter().filter(|s| s.0 == p).collect();
        assert_eq!(pv.len(), 1, "{p} unique in vmlinux: {ctx}");
        assert_eq!(pv[0].2, "FUNC");
        assert_eq!(pv[0].1 + off, *addr, "{ctx}");
        assert_eq!(
            kallsyms
                .lines()
                .filter(|l| l.split_whitespace().nth(2) == Some(p))
                .count(),
            1,
            "{ctx}"
        );
        // No unique function lies between it and init_once.
        for s in all.iter().filter(|s| {
            s.2 == "FUNC" && s.1 > pv[0].1 && s.1 <= *addr && !s.0.starts_with("__pfx_")
        }) {
            assert!(
                all.iter().filter(|o| o.0 == s.0).count() > 1,
                "{} is unique and nearer: {ctx}",
                s.0
            );
        }
        assert_eq!(
            row["probe"],
            format!(
                "p:probeaddr/{} _text+{:#x}",
                row["event"].as_str().unwrap(),
                addr - w.text
            )
        );
    }
}

#[test]
fn pinning_by_path_systemtap_and_perf_syntax() {
    let w = world("pin");
    let proc_addr = readelf_init_once(&w.vmlinux)
        .into_iter()
        .find(|(a, _)| oracle::gdb_file_at(&w.vmlinux, *a) == "fs/proc/inode.c")
        .unwrap()
        .0;
    for point in [
        "init_once@fs/proc/inode.c",
        "init_once@proc/inode.c",
        r#"kernel.function("init_once@fs/proc/inode.c")"#,
    ] {
        let r = w.json(&[point, "--unique"]);
        assert_eq!(r.len(), 1, "{point}");
        assert_eq!(hexfield(&r[0], "func_addr"), proc_addr, "{point}");
    }
    // inode.c names two files; @inode.c matches both, like STT_FILE would.
    assert_eq!(w.json(&["init_once@inode.c"]).len(), 2);
    let run = w.resolve(&["init_once@inode.c", "--unique"]);
    assert!(run
        .error()
        .contains("matches 2 locations and --unique was given"));
    assert!(
        run.stderr.contains("pin with 'init_once@fs/inode.c'")
            && run.stderr.contains("pin with 'init_once@proc/inode.c'"),
        "{}",
        run.stderr
    );
    let ret = w.json(&["init_once@fs/proc/inode.c%return"]);
    assert_eq!(
        ret[0]["probe"],
        format!(
            "r:probeaddr/init_once__return _text+{:#x}",
            proc_addr - w.text
        )
    );
    let k = w.resolve(&["init_once@fs/proc/inode.c", "--format", "kprobe"]);
    assert_eq!(
        k.stdout,
        format!("p:probeaddr/init_once _text+{:#x}\n", proc_addr - w.text)
    );
    let k = w.resolve(&[
        "init_once@fs/proc/inode.c",
        "--format",
        "kprobe",
        "--form",
        "address",
    ]);
    assert_eq!(
        k.stdout,
        format!("p:probeaddr/init_once {:#x}\n", proc_addr + w.slide)
    );
    let k = w.resolve(&[
        "init_once@fs/proc/inode.c",
        "--format",
        "kprobe",
        "--form",
        "symbol",
    ]);
    assert!(
        k.stdout.starts_with("p:probeaddr/init_once ") && !k.stdout.contains("init_once+"),
        "{}",
        k.stdout
    );
}

#[test]
fn unique_functions_data_and_offsets() {
    let w = world("uniq");
    let funcs = oracle::readelf_funcs(&w.vmlinux, false);
    let sk = funcs.iter().find(|s| s.name == "start_kernel").unwrap();
    let r = w.json(&["start_kernel"]);
    assert_eq!(r[0]["section"], ".init.text");
    assert_eq!(r[0]["forms"]["symbol"], "start_kernel+0x0");
    assert_eq!(
        r[0]["forms"]["address"],
        format!("{:#x}", sk.value + w.slide)
    );
    assert_eq!(r[0]["file"], "init/main.c");
    // Offsets: instruction boundaries from objdump.
    let sch = funcs.iter().find(|s| s.name == "schedule").unwrap();
    let starts = oracle::objdump_boundaries(&w.vmlinux, sch.value, sch.size);
    assert!(starts.len() >= 3);
    for off in 1..sch.size {
        let run = w.resolve(&["--format", "json", &format!("schedule+{off}")]);
        if starts.contains(&off) {
            let r = run.json();
            assert_eq!(r[0]["forms"]["symbol"], format!("schedule+{off:#x}"));
            assert_eq!(
                r[0]["forms"]["text"],
                format!("_text+{:#x}", sch.value + off - w.text)
            );
        } else {
            assert!(
                run.error()
                    .contains("is inside an instruction; the nearest instruction boundaries are"),
                "{off}"
            );
        }
    }
    // Data: the address for @ADDR fetchargs, @SYM since kallsyms lists it.
    let jiffies = oracle::readelf_all(&w.vmlinux)
        .into_iter()
        .find(|s| s.0 == "jiffies")
        .unwrap();
    let r = w.json(&[r#"kernel.data("jiffies")"#]);
    assert_eq!(hexfield(&r[0], "func_addr"), jiffies.1);
    assert_eq!(
        r[0]["forms"]["address"],
        format!("{:#x}", jiffies.1 + w.slide)
    );
    assert_eq!(r[0]["forms"]["data_symbol"], "@jiffies");
    assert!(r[0]["probe"].is_null());
}

#[test]
fn module_functions_in_their_sections() {
    let w = world("mod");
    let all = oracle::readelf_all(&w.ko);
    let secs = oracle::readelf_sections(&w.ko);
    for (point, name) in [
        (
            r#"module("fixmod").function("fixmod_create")"#,
            "fixmod_create",
        ),
        (r#"module("fixmod").function("init_once")"#, "init_once"),
        (r#"module("fixmod").function("fixmod_exit")"#, "fixmod_exit"),
    ] {
        let s = all.iter().find(|s| s.0 == name && s.2 == "FUNC").unwrap();
        let sec = &secs[&s.3.parse::<u32>().unwrap()];
        let r = w.json(&[point]);
        assert_eq!(r.len(), 1, "{point}");
        assert_eq!(r[0]["section"], sec.as_str());
        assert_eq!(hexfield(&r[0], "func_addr"), s.1);
        assert_eq!(r[0]["forms"]["module"], format!("fixmod:{name}+0x0"));
        assert_eq!(
            r[0]["forms"]["address"],
            format!("{:#x}", w.bases[sec] + s.1),
            "{point}"
        );
        assert!(r[0]["forms"]["text"].is_null());
        assert_eq!(
            r[0]["probe"],
            format!("p:probeaddr/{name} fixmod:{name}+0x0")
        );
    }
    // module init_once is unique in its module, not in the kernel.
    let r = w.json(&[r#"module("fixmod").function("init_once")"#]);
    assert!(r[0]["forms"]["symbol"].is_null());
    // -m alone makes perf syntax a module probe point; --module-dir finds it by name.
    let run = probeaddr([
        "resolve",
        "-m",
        w.ko.to_str().unwrap(),
        "fixmod_release",
        "--offline",
        "--format",
        "kprobe",
    ]);
    assert_eq!(
        run.stdout, "p:probeaddr/fixmod_release fixmod:fixmod_release+0x0\n",
        "{}",
        run.stderr
    );
    let dir = w.ko.parent().unwrap().to_str().unwrap();
    let run = probeaddr([
        "resolve",
        "--module-dir",
        dir,
        r#"module("fixmod").function("fixmod_*")"#,
        "--offline",
        "--format",
        "kprobe",
    ]);
    // fixmod_create, fixmod_release, fixmod_init, fixmod_exit, fixmod_fill_super
    assert_eq!(run.stdout.lines().count(), 5, "{}", run.stderr);
    let e = probeaddr([
        "resolve",
        "--module-dir",
        dir,
        r#"module("nosuch").function("x")"#,
        "--offline",
    ])
    .error();
    assert!(e.contains("unknown module nosuch"), "{e}");
}

#[test]
fn build_id_mismatch_omits_runtime_addresses() {
    let w = world("bid");
    // The "running" kernel has another build-id.
    let mut notes = std::fs::read(w.sysfs().join("kernel/notes")).unwrap();
    let n = notes.len();
    notes[n - 1] ^= 0xff;
    std::fs::write(w.sysfs().join("kernel/notes"), notes).unwrap();
    let run = w.resolve(&["--format", "json", "init_once@fs/proc/inode.c"]);
    let r = run.json();
    assert!(r[0]["forms"]["address"].is_null());
    assert!(r[0]["forms"]["text"].is_string());
    assert!(
        run.stderr.contains("is not the running kernel's"),
        "{}",
        run.stderr
    );
    let e = w
        .resolve(&[
            "init_once@fs/proc/inode.c",
            "--format",
            "kprobe",
            "--form",
            "address",
        ])
        .error();
    assert!(
        e.contains("no address form: runtime address omitted: the vmlinux's build-id"),
        "{e}"
    );
    let r = w.json(&["init_once@fs/proc/inode.c", "--no-build-id-check"]);
    assert!(r[0]["forms"]["address"].is_string());
    // No definition for a kernel that runs another build: it would probe
    // other code. --offline gives the analysed build's; --no-build-id-check
    // writes them anyway.
    let e = w
        .resolve(&["init_once@fs/proc/inode.c", "--format", "kprobe"])
        .error();
    assert!(
        e.contains(
            "init_once [fs/proc/inode.c]: no probe definition: it was computed from build-id "
        ) && e.contains("would probe other code"),
        "{e}"
    );
    let r = w.json(&["init_once@fs/proc/inode.c"]);
    assert!(r[0]["probe"].is_null() && r[0]["probe_error"].is_string());
    assert_eq!(r[0]["build_id"]["status"], "mismatch");
    let k = w.resolve(&[
        "init_once@fs/proc/inode.c",
        "--format",
        "kprobe",
        "--no-build-id-check",
    ]);
    assert_eq!(k.code, 0, "{}", k.stderr);
    let k2 = probeaddr([
        "resolve",
        "-k",
        w.vmlinux.to_str().unwrap(),
        "--offline",
        "init_once@fs/proc/inode.c",
        "--format",
        "kprobe",
    ]);
    assert_eq!(k2.code, 0, "{}", k2.stderr);
    assert_eq!(k.stdout, k2.stdout);
    assert!(k.stdout.starts_with("p:probeaddr/init_once _text+0x"));
}

#[test]
fn kallsyms_that_does_not_describe_the_vmlinux_is_refused() {
    // Move one unique function: text is no longer linearly relocated.
    let slide = random_slide();
    let w = world_with("nonlinear", slide, |ks| {
        let mut out = String::new();
        for l in ks.lines() {
            if l.ends_with(" T start_kernel") {
                let a = u64::from_str_radix(&l[..16], 16).unwrap() + 0x40;
                writeln!(out, "{a:016x} T start_kernel").unwrap();
            } else {
                writeln!(out, "{l}").unwrap();
            }
        }
        *ks = out;
    });
    // The notes match, so only the symbol check can catch it.
    let e = w.resolve(&["init_once@fs/proc/inode.c"]).error();
    assert!(
        e.contains("does not describe") && e.contains("start_kernel"),
        "{e}"
    );
    // Hidden addresses (kptr_restrict).
    let w = world_with("zero", slide, |ks| {
        *ks = ks
            .lines()
            .map(|l| format!("{}{}\n", "0".repeat(16), &l[16..]))
            .collect();
    });
    let e = w.resolve(&["init_once"]).error();
    assert!(
        e.contains("every address is 0: kernel.kptr_restrict hides them"),
        "{e}"
    );
    // A line cut short.
    let w = world_with("cut", slide, |ks| ks.push_str("ffffffff81000000 T\n"));
    let e = w.resolve(&["init_once"]).error();
    assert!(
        e.ends_with(": not a kallsyms line (ADDRESS TYPE NAME): \"ffffffff81000000 T\""),
        "{e}"
    );
    // Garbage.
    let w = world_with("garbage", slide, |ks| ks.push_str("this is not kallsyms\n"));
    let e = w.resolve(&["init_once"]).error();
    assert!(
        e.contains("kallsyms: line ") && e.contains(": bad address: \"this is not kallsyms\""),
        "{e}"
    );
}

#[test]
fn module_not_loaded_and_stripped_vmlinux() {
    let w = world("notloaded");
    std::fs::remove_dir_all(w.sysfs().join("module/fixmod")).unwrap();
    let run = w.resolve(&[
        "--format",
        "json",
        r#"module("fixmod").function("fixmod_create")"#,
    ]);
    let r = run.json();
    assert!(r[0]["forms"]["address"].is_null());
    assert_eq!(r[0]["forms"]["module"], "fixmod:fixmod_create+0x0");
    assert!(
        run.stderr.contains("module fixmod is not loaded"),
        "{}",
        run.stderr
    );
    let stripped = fixtures::path("kernel/vmlinux-stripped");
    let e = probeaddr([
        "resolve",
        "-k",
        stripped.to_str().unwrap(),
        "init_once",
        "--offline",
    ])
    .error();
    assert!(e.contains("stripped vmlinux: no .symtab"), "{e}");
}

#[test]
fn dups_and_symbolize_on_the_fixture() {
    let w = world("dups");
    let mut a: Vec<String> = vec!["dups".into()];
    a.extend(w.args());
    a.extend(["--format".into(), "json".into()]);
    let v: Vec<serde_json::Value> = serde_json::from_str(&probeaddr(a).stdout).unwrap();
    let io = v.iter().find(|d| d["name"] == "init_once").unwrap();
    assert_eq!(io["count"], 5);
    let files: BTreeSet<&str> = io["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["file"].as_str())
        .collect();
    assert_eq!(
        files,
        BTreeSet::from([
            "block/bdev.c",
            "fs/ext4/super.c",
            "fs/inode.c",
            "fs/proc/inode.c"
        ])
    );
    assert!(io["instances"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["module"] == "fixmod"));
    // symbolize: init_once@fs/proc/inode.c + 4 at runtime.
    let proc_addr = readelf_init_once(&w.vmlinux)
        .into_iter()
        .find(|(a, _)| oracle::gdb_file_at(&w.vmlinux, *a) == "fs/proc/inode.c")
        .unwrap()
        .0;
    let rt = proc_addr + w.slide + 4;
    let mut a: Vec<String> = vec![
        "symbolize".into(),
        format!("{rt:#x}"),
        format!("{:#x}", w.bases[".text.fixmod_create"] + 0x12),
    ];
    a.extend(w.args());
    let out = probeaddr(a);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "{rt:#x} init_once+0x4 [fs/proc/inode.c]\n{:#x} fixmod_create+0x2 (fixmod)\n",
            w.bases[".text.fixmod_create"] + 0x12
        )
    );
}

/// Names that occur more than once in this machine's /proc/kallsyms,
/// counted without probeaddr.
fn live_duplicates() -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for l in text.lines() {
        if let Some(n) = l.split_whitespace().nth(2) {
            *m.entry(n.to_string()).or_default() += 1;
        }
    }
    m.retain(|_, c| *c > 1);
    m
}

/// The live duplicates a probe point can mean: not `__pfx_` padding, not a
/// `.cold` part, not a `.L` label.
fn live_probeable_duplicates() -> BTreeMap<String, usize> {
    let mut m = live_duplicates();
    m.retain(|n, _| {
        !n.starts_with("__pfx_")
            && !n.starts_with('.')
            && !n.split('.').skip(1).any(|p| p == "cold")
    });
    m
}

#[test]
fn dups_on_the_live_kallsyms() {
    let run = probeaddr(["dups", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let ours: BTreeMap<String, usize> = v
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["count"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let want = live_probeable_duplicates();
    assert!(
        want.len() > 100,
        "this machine has hundreds of duplicated names"
    );
    assert!(
        live_duplicates().len() > want.len(),
        "padding and cold parts are left out"
    );
    assert_eq!(ours, want);
}

#[test]
fn symbolize_round_trips_on_the_live_kallsyms() {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let dups = live_duplicates();
    // Unique vmlinux text symbols with a known next symbol, so +1 stays inside.
    let mut by_addr: Vec<(u64, &str, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let a = u64::from_str_radix(f.next()?, 16).ok()?;
            let t = f.next()?;
            let n = f.next()?;
            (f.next().is_none()).then_some((a, t, n))
        })
        .collect();
    by_addr.sort();
    let mut at: BTreeMap<u64, usize> = BTreeMap::new();
    for (a, _, _) in &by_addr {
        *at.entry(*a).or_default() += 1;
    }
    let picks: Vec<(u64, &str)> = by_addr
        .windows(2)
        .filter(|w| matches!(w[0].1, "T" | "t") && w[1].0 > w[0].0 + 1 && w[0].0 > 0)
        .filter(|w| !dups.contains_key(w[0].2) && !w[0].2.starts_with("__pfx_"))
        .filter(|w| at[&w[0].0] == 1)
        .step_by(997)
        .map(|w| (w[0].0, w[0].2))
        .collect();
    assert!(picks.len() > 10);
    let mut args = vec!["symbolize".to_string()];
    args.extend(picks.iter().map(|(a, _)| format!("{:#x}", a + 1)));
    let run = probeaddr(args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let want: String = picks
        .iter()
        .map(|(a, n)| format!("{:#x} {n}+0x1\n", a + 1))
        .collect();
    assert_eq!(run.stdout, want);
}

#[test]
fn module_build_id_mismatch_omits_its_runtime_address() {
    let w = world("modbid");
    let p = w.sysfs().join("module/fixmod/notes/.note.gnu.build-id");
    let mut b = std::fs::read(&p).unwrap();
    let n = b.len();
    b[n - 1] ^= 0x55;
    std::fs::write(&p, b).unwrap();
    let run = w.resolve(&[
        "--format",
        "json",
        r#"module("fixmod").function("fixmod_create")"#,
    ]);
    let r = run.json();
    assert!(r[0]["forms"]["address"].is_null());
    assert!(
        run.stderr.contains("but the loaded module fixmod has"),
        "{}",
        run.stderr
    );
    let e = w
        .resolve(&[
            r#"module("fixmod").function("fixmod_create")"#,
            "--format",
            "kprobe",
            "--form",
            "address",
        ])
        .error();
    assert!(
        e.contains("no address form: runtime address omitted:")
            && e.contains("but the loaded module fixmod has"),
        "{e}"
    );
}

#[test]
fn system_map_alone_gives_relocatable_forms() {
    let map = fixtures::path("kernel/System.map");
    let vm = fixtures::path("kernel/vmlinux");
    let funcs = oracle::readelf_funcs(&vm, false);
    let sk = funcs.iter().find(|s| s.name == "start_kernel").unwrap();
    let run = probeaddr([
        "resolve",
        "--system-map",
        map.to_str().unwrap(),
        "--offline",
        "--format",
        "json",
        "start_kernel",
        "init_once",
    ]);
    let r = run.json();
    assert_eq!(
        r[0]["forms"]["text"],
        format!("_text+{:#x}", sk.value - 0xffff_ffff_8100_0000)
    );
    assert_eq!(r[0]["forms"]["symbol"], "start_kernel+0x0");
    assert!(r[0]["forms"]["address"].is_null());
    let io: Vec<&serde_json::Value> = r.iter().filter(|x| x["symbol"] == "init_once").collect();
    assert_eq!(io.len(), 4);
    assert!(io
        .iter()
        .all(|x| x["file"].is_null() && x["forms"]["nearest"].is_string()));
    let e = probeaddr([
        "resolve",
        "--system-map",
        map.to_str().unwrap(),
        "--offline",
        "init_once@fs/inode.c",
    ])
    .error();
    assert!(
        e.contains("kallsyms has no file names, so @fs/inode.c cannot be matched; give --vmlinux"),
        "{e}"
    );
}

#[test]
fn plan_made_offline_links_against_the_running_kernel() {
    let w = world("plan");
    let plan = probeaddr([
        "plan",
        "-k",
        w.vmlinux.to_str().unwrap(),
        "-m",
        w.ko.to_str().unwrap(),
        "--offline",
        "init_once@fs/proc/inode.c",
        r#"module("fixmod").function("fixmod_create")"#,
    ]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let f = w.dir.join("plan.json");
    std::fs::write(&f, &plan.stdout).unwrap();
    let proc_addr = readelf_init_once(&w.vmlinux)
        .into_iter()
        .find(|(a, _)| oracle::gdb_file_at(&w.vmlinux, *a) == "fs/proc/inode.c")
        .unwrap()
        .0;
    let create = oracle::readelf_all(&w.ko)
        .into_iter()
        .find(|s| s.0 == "fixmod_create" && s.2 == "FUNC")
        .unwrap();
    let link = |extra: &[&str]| {
        let mut a = vec![
            "link".to_string(),
            f.display().to_string(),
            "--kallsyms".into(),
            w.kallsyms().display().to_string(),
            "--sysfs".into(),
            w.sysfs().display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        probeaddr(a)
    };
    let k = link(&["--format", "kprobe"]);
    assert_eq!(
        k.stdout,
        format!("p:probeaddr/init_once _text+{:#x}\np:probeaddr/fixmod_create fixmod:fixmod_create+0x0\n", proc_addr - w.text),
        "{}",
        k.stderr
    );
    let a = link(&["--format", "kprobe", "--form", "address"]);
    assert_eq!(
        a.stdout,
        format!(
            "p:probeaddr/init_once {:#x}\np:probeaddr/fixmod_create {:#x}\n",
            proc_addr + w.slide,
            w.bases[".text.fixmod_create"] + create.1
        ),
        "{}",
        a.stderr
    );
    // A target running another build is refused.
    let mut notes = std::fs::read(w.sysfs().join("kernel/notes")).unwrap();
    let n = notes.len();
    notes[n - 1] ^= 1;
    std::fs::write(w.sysfs().join("kernel/notes"), notes).unwrap();
    let e = link(&["--format", "kprobe"]).error();
    assert!(
        e.contains("the running kernel: the plan was made for build-id"),
        "{e}"
    );
    assert_eq!(link(&["--format", "kprobe", "--no-build-id-check"]).code, 0);
}

#[test]
fn a_small_export_resolves_pinned_statics_and_links_to_the_running_kernel() {
    let w = world("export");
    let proc_addr = readelf_init_once(&w.vmlinux)
        .into_iter()
        .find(|(a, _)| oracle::gdb_file_at(&w.vmlinux, *a) == "fs/proc/inode.c")
        .unwrap()
        .0;
    for scheme in ["bottomley", "sidetable"] {
        let ex = probeaddr([
            "kallsyms-export",
            "-k",
            w.vmlinux.to_str().unwrap(),
            "--scheme",
            scheme,
        ]);
        assert_eq!(ex.code, 0, "{}", ex.stderr);
        let f = w.dir.join(format!("export-{scheme}.txt"));
        std::fs::write(&f, &ex.stdout).unwrap();
        // No vmlinux on the target: the export, and its live kallsyms and sysfs.
        let run = probeaddr([
            "resolve",
            "--symbols",
            f.to_str().unwrap(),
            "--kallsyms",
            w.kallsyms().to_str().unwrap(),
            "--sysfs",
            w.sysfs().to_str().unwrap(),
            "init_once@fs/proc/inode.c",
            "--unique",
            "--format",
            "json",
        ]);
        let r = run.json();
        assert_eq!(r.len(), 1, "{scheme}");
        assert_eq!(r[0]["file"], "fs/proc/inode.c", "{scheme}");
        assert_eq!(
            r[0]["forms"]["text"],
            format!("_text+{:#x}", proc_addr - w.text),
            "{scheme}"
        );
        assert_eq!(
            r[0]["forms"]["address"],
            format!("{:#x}", proc_addr + w.slide),
            "{scheme}: {}",
            run.stderr
        );
        // The export is far smaller than the vmlinux it replaces.
        assert!(
            std::fs::metadata(&f).unwrap().len() * 10
                < std::fs::metadata(&w.vmlinux).unwrap().len()
        );
    }
    // Made for another build: linked addresses are refused.
    let ex = probeaddr(["kallsyms-export", "-k", w.vmlinux.to_str().unwrap()]);
    let f = w.dir.join("export-other.txt");
    std::fs::write(&f, ex.stdout.replacen("build-id ", "build-id 00", 1)).unwrap();
    let run = probeaddr([
        "resolve",
        "--symbols",
        f.to_str().unwrap(),
        "--kallsyms",
        w.kallsyms().to_str().unwrap(),
        "--sysfs",
        w.sysfs().to_str().unwrap(),
        "init_once@fs/proc/inode.c",
        "--format",
        "json",
    ]);
    let r = run.json();
    assert!(r[0]["forms"]["address"].is_null());
    assert!(
        run.stderr.contains("was made for build-id 00"),
        "{}",
        run.stderr
    );
}

#[test]
fn cost_study_byte_counts_on_the_fixture_computed_by_hand() {
    let vm = fixtures::path("kernel/vmlinux");
    let run = probeaddr([
        "kallsyms-cost",
        "-k",
        vm.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    // By hand, from readelf: the symbols kallsyms keeps are the allocated,
    // defined ones minus kallsyms.c's ignore list (here: none but the ABS
    // and non-alloc ones); locals carry the STT_FILE before them.
    let all = oracle::readelf_funcs(&vm, false);
    let locals: Vec<&oracle::ReadelfSym> = all.iter().filter(|s| s.bind == "LOCAL").collect();
    assert_eq!(r["local_functions"], locals.len());
    let text = String::from_utf8(
        std::process::Command::new("readelf")
            .args(["-sW"])
            .arg(&vm)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let files = text
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("FILE"))
        .count();
    assert_eq!(r["stt_file_entries"], files);
    // Bottomley with basenames adds len(basename) + 1 ('|') per local in kallsyms.
    let mut base: Option<String> = None;
    let mut want_raw = 0u64;
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 8 || !f[0].ends_with(':') || f[0] == "Num:" {
            continue;
        }
        if f[3] == "FILE" {
            base = Some(f[7].to_string());
            continue;
        }
        // Kept: local, defined in an allocated section (not ABS/UND), not a section symbol.
        if f[4] == "LOCAL"
            && f[3] != "SECTION"
            && f[6] != "ABS"
            && f[6] != "UND"
            && !f[7].starts_with(".L")
        {
            if let Some(b) = &base {
                want_raw += b.len() as u64 + 1;
            }
        }
    }
    let bt = r["schemes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scheme"] == "bottomley-basename")
        .unwrap();
    assert_eq!(bt["added_raw"], want_raw);
    // The fixture: four init_once, two cmask_show (both core.c), three jhash.
    let today = &r["schemes"][0];
    assert!(today["ambiguous_names"].as_u64().unwrap() >= 3);
    // Basenames separate all but the two core.c cmask_show and the two
    // inode.c init_once, and their __pfx_ padding symbols (FUNC as well).
    assert_eq!(bt["ambiguous_names"], 4, "{bt}");
    assert_eq!(bt["ambiguous_symbols"], 8, "{bt}");
    let path = r["schemes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scheme"] == "bottomley-path")
        .unwrap();
    assert_eq!(path["ambiguous_names"], 0);
}

#[test]
fn cost_study_formats_chart_and_text_only() {
    let vm = fixtures::path("kernel/vmlinux");
    let v = vm.to_str().unwrap();
    let svg = std::env::temp_dir().join(format!("probeaddr-cost-{}.svg", std::process::id()));
    let csv = probeaddr([
        "kallsyms-cost",
        "-k",
        v,
        "--format",
        "csv",
        "--chart",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines[0], "scheme,added_raw,added_compressed,ambiguous_names,ambiguous_groups,ambiguous_symbols,description");
    assert_eq!(lines.len(), 1 + 8);
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(
        chart.starts_with("<svg")
            && chart.contains("bottomley-basename")
            && chart.trim_end().ends_with("</svg>")
    );
    std::fs::remove_file(svg).unwrap();
    let all: serde_json::Value =
        serde_json::from_str(&probeaddr(["kallsyms-cost", "-k", v, "--format", "json"]).stdout)
            .unwrap();
    let text: serde_json::Value = serde_json::from_str(
        &probeaddr(["kallsyms-cost", "-k", v, "--text-only", "--format", "json"]).stdout,
    )
    .unwrap();
    // --text-only drops the data symbols (jiffies, boot_command_line...).
    let data = oracle::readelf_all(&vm)
        .into_iter()
        .filter(|s| s.2 == "OBJECT")
        .count();
    assert!(data > 0);
    assert!(text["symbols"].as_u64().unwrap() + data as u64 <= all["symbols"].as_u64().unwrap());
    let md = probeaddr(["kallsyms-cost", "-k", v, "--format", "markdown"]);
    assert!(
        md.stdout.contains("| bottomley-basename |") && md.stdout.contains("file\\|name"),
        "{}",
        md.stdout
    );
}

#[test]
fn missing_or_unreadable_sysfs_files() {
    let w = world("sysfsbad");
    // A section file that is a directory (unreadable as a file).
    let sec = w.sysfs().join("module/fixmod/sections/.text.fixmod_create");
    std::fs::remove_file(&sec).unwrap();
    std::fs::create_dir(&sec).unwrap();
    let e = w
        .resolve(&[
            r#"module("fixmod").function("fixmod_create")"#,
            "--format",
            "kprobe",
            "--form",
            "address",
        ])
        .error();
    assert!(
        e.contains(".text.fixmod_create") && e.contains("runtime address omitted"),
        "{e}"
    );
    // A missing section file.
    std::fs::remove_dir(&sec).unwrap();
    let e = w
        .resolve(&[
            r#"module("fixmod").function("fixmod_create")"#,
            "--format",
            "kprobe",
            "--form",
            "address",
        ])
        .error();
    assert!(
        e.contains("module fixmod has no section .text.fixmod_create loaded"),
        "{e}"
    );
    // No kernel/notes: the build-id cannot be compared, the symbols still are.
    std::fs::remove_file(w.sysfs().join("kernel/notes")).unwrap();
    let r = w.json(&["init_once@fs/proc/inode.c"]);
    assert!(r[0]["forms"]["address"].is_string());
}

/// The running kernel's own kprobe blacklist (debugfs, under --sysfs here)
/// is read when linking: a module function it lists is refused although
/// nothing in the .ko says so, and nothing else is.
#[test]
fn the_running_kernels_kprobe_blacklist_refuses_what_it_lists() {
    let w = world("kbl");
    let all = oracle::readelf_all(&w.ko);
    let secs = oracle::readelf_sections(&w.ko);
    let s = all
        .iter()
        .find(|s| s.0 == "fixmod_create" && s.2 == "FUNC")
        .unwrap();
    let at = w.bases[&secs[&s.3.parse::<u32>().unwrap()]] + s.1;
    let dbg = w.sysfs().join("kernel/debug/kprobes");
    std::fs::create_dir_all(&dbg).unwrap();
    std::fs::write(
        dbg.join("blacklist"),
        format!(
            "0x{at:016x}-0x{:016x}\tfixmod_create\n0x0000000000000000-0x0000000000000000\thidden\n",
            at + 0x10
        ),
    )
    .unwrap();
    let point = r#"module("fixmod").function("fixmod_create")"#;
    let r = w.json(&[point]);
    assert_eq!(hexfield(&r[0], "runtime_addr"), at, "{}", r[0]);
    let why = r[0]["kprobe_refused"].as_str().unwrap();
    assert_eq!(
        why,
        format!(
            "the running kernel's kprobe blacklist lists fixmod_create ({at:#x}-{:#x})",
            at + 0x10
        )
    );
    let run = w.resolve(&["--format", "kprobe", point]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("the kernel refuses kprobes here"),
        "{}",
        run.stderr
    );
    // Its neighbour is not listed.
    let r = w.json(&[r#"module("fixmod").function("fixmod_release")"#]);
    assert!(r[0]["kprobe_refused"].is_null(), "{}", r[0]);
}
