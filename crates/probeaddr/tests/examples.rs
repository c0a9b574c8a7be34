//! The library's examples, run as a user of the crate would, their answers
//! checked against readelf.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A built example (`cargo test` builds every example of the package).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        p.exists(),
        "{} not built (cargo test builds examples)",
        p.display()
    );
    p
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `readelf -sW` (or `--dyn-syms`): the values of symbols named `name`
/// (of type `kind`: `FUNC`, `NOTYPE`…).
fn readelf_sym(bin: &Path, table: &str, kind: &str, name: &str) -> Vec<u64> {
    run(Command::new("readelf").args(["-W", table]).arg(bin))
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && f[3] == kind && f[7].split('@').next() == Some(name))
                .then(|| u64::from_str_radix(f[1], 16).unwrap())
        })
        .collect()
}

fn readelf_func(bin: &Path, table: &str, name: &str) -> Vec<u64> {
    readelf_sym(bin, table, "FUNC", name)
}

/// A link-time address as a file offset, from `readelf -lW`'s PT_LOADs.
fn file_offset(bin: &Path, addr: u64) -> u64 {
    let text = run(Command::new("readelf").arg("-lW").arg(bin));
    text.lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .take(5)
                .map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).unwrap())
                .collect();
            (f[0], f[1], f[4])
        })
        .find(|&(_, v, filesz)| v <= addr && addr < v + filesz)
        .map(|(off, v, _)| addr - v + off)
        .unwrap()
}

#[test]
fn uprobe_offset_of_malloc_in_libc() {
    let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
    let out = run(&mut Command::new(example("uprobe_offset")));
    let addrs = readelf_func(libc, "--dyn-syms", "malloc");
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    let off = file_offset(libc, addrs[0]);
    assert_eq!(out, format!("malloc {}:{off:#x}\n", libc.display()));
}

#[test]
fn kprobe_symbol_and_offset_for_one_init_once() {
    let dir = std::env::var_os("PROBEADDR_DEBIAN_KERNEL")
        .map(PathBuf::from)
        .expect("PROBEADDR_DEBIAN_KERNEL: the Debian kernel scripts/test fetches");
    let v = dir.join("root/usr/lib/debug/boot/vmlinux-6.1.0-56-cloud-amd64");
    let out = run(Command::new(example("kprobe_symbol_offset")).arg(&v));
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f.len(), 4, "{out}");
    // _text+0x3ea470 is stap's _stext+0x3ea470 (BENCHMARKS.md); readelf
    // puts init_once of fs/proc/inode.c there and the symbol before it.
    assert_eq!(f[2], "_text+0x3ea470");
    let text = readelf_sym(&v, "-s", "NOTYPE", "_text");
    assert_eq!(text.len(), 1);
    let init_once = text[0] + 0x3ea470;
    assert!(readelf_func(&v, "-s", "init_once").contains(&init_once));
    let sym = readelf_func(&v, "-s", f[0]);
    assert_eq!(sym.len(), 1, "{} must be unique", f[0]);
    let off = u64::from_str_radix(f[1].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(sym[0] + off, init_once);
    assert_eq!((f[0], f[1]), ("task_statm", "0xa0"));
    // This machine does not run Debian's kernel: no runtime address.
    assert_eq!(f[3], "None");
}

/// A USDT marker's attach point in python3.11: the uprobe's file offset
/// and the semaphore's, from `readelf -n`'s addresses and readelf's
/// PT_LOADs (no `.stapsdt.base` move: the note's base is the section's).
#[test]
fn attach_point_of_a_usdt_marker() {
    let py = Path::new("/usr/bin/python3.11");
    let out = run(&mut Command::new(example("attach_point")));
    let notes = run(Command::new("readelf").arg("-n").arg(py));
    let mut lines = notes
        .lines()
        .skip_while(|l| !l.contains("Name: function__entry"));
    let loc = lines.nth(1).unwrap();
    let f: Vec<u64> = loc
        .split(',')
        .map(|p| u64::from_str_radix(p.rsplit("0x").next().unwrap().trim(), 16).unwrap())
        .collect();
    let (pc, sem) = (f[0], f[2]);
    assert_eq!(
        out,
        format!(
            "{} {:#x} {:#x}\n",
            py.display(),
            file_offset(py, pc),
            file_offset(py, sem)
        )
    );
}
