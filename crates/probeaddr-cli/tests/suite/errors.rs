//! Bad input: one clear error line naming the file and the problem, exit 2.

use std::path::PathBuf;

use super::fixtures::{self, probeaddr};
use super::oracle;

/// A scratch copy of a fixture with some bytes changed, removed when dropped.
struct Patched {
    _dir: fixtures::Scratch,
    path: PathBuf,
}

impl std::ops::Deref for Patched {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

fn patched(name: &str, tag: &str, f: impl FnOnce(&mut Vec<u8>)) -> Patched {
    let mut bytes = std::fs::read(fixtures::path(name)).unwrap();
    f(&mut bytes);
    let dir = fixtures::Scratch::new(&format!("bad-{tag}"));
    let path = dir.join(tag);
    std::fs::write(&path, bytes).unwrap();
    Patched { _dir: dir, path }
}

fn err(bin: &std::path::Path, point: &str) -> String {
    probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        bin.as_os_str(),
        point.as_ref(),
    ])
    .error()
}

#[test]
fn missing_file() {
    assert_eq!(
        err("/nonexistent/prog".as_ref(), "main"),
        "/nonexistent/prog: no such file"
    );
}

#[test]
fn not_an_elf_file() {
    let p = patched("prog", "text", |b| *b = b"#!/bin/sh\necho hi\n".to_vec());
    assert_eq!(
        err(&p, "main"),
        format!(
            "{}: not an ELF file (starts with \"#!/b\", not \"\\x7fELF\")",
            p.display()
        )
    );
    let p = patched("prog", "empty", |b| b.clear());
    assert_eq!(
        err(&p, "main"),
        format!("{}: not an ELF file (empty file)", p.display())
    );
    assert!(err("/tmp".as_ref(), "main").contains("/tmp: is a directory"));
}

#[test]
fn truncated_elf_files() {
    let p = patched("prog", "trunc40", |b| b.truncate(40));
    assert_eq!(
        err(&p, "main"),
        format!(
            "{}: truncated or corrupt ELF file: ELF header cut short (40 of 64 bytes)",
            p.display()
        )
    );
    // Header intact, program and section headers gone.
    for len in [64usize, 100, 2000] {
        let p = patched("prog", &format!("trunc{len}"), |b| b.truncate(len));
        let e = err(&p, "main");
        assert!(
            e.starts_with(&format!("{}: truncated or corrupt ELF file: ", p.display())),
            "{len}: {e}"
        );
    }
    // Section headers past the end of the file.
    let p = patched("prog", "shoff", |b| {
        let bad = (b.len() as u64 + 4096).to_le_bytes();
        b[0x28..0x30].copy_from_slice(&bad);
    });
    let e = err(&p, "main");
    assert!(
        e.starts_with(&format!(
            "{}: truncated or corrupt ELF file: section headers",
            p.display()
        )),
        "{e}"
    );
    // The .symtab's sh_offset past the end of the file.
    let p = patched("prog", "symtab_off", |b| {
        corrupt_section(b, 2 /* SHT_SYMTAB */)
    });
    let e = err(&p, "main");
    assert!(
        e.contains("truncated or corrupt ELF file: section .symtab")
            && e.contains("extends past the end of the file"),
        "{e}"
    );
}

/// Point the first section of type `sh_type` past the end of the file.
fn corrupt_section(b: &mut [u8], sh_type: u32) {
    let shoff = u64::from_le_bytes(b[0x28..0x30].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(b[0x3c..0x3e].try_into().unwrap()) as usize;
    let len = b.len() as u64;
    for i in 0..shnum {
        let sh = shoff + i * 64;
        if u32::from_le_bytes(b[sh + 4..sh + 8].try_into().unwrap()) == sh_type {
            b[sh + 24..sh + 32].copy_from_slice(&(len - 8).to_le_bytes());
            return;
        }
    }
    panic!("no section of type {sh_type}");
}

#[test]
fn unsupported_class_byte_order_machine() {
    // A 64-bit x86-64 file that says it is 32-bit: i386 is read, x86-64
    // code in ELFCLASS32 (x32) is not.
    let p = patched("prog", "class32", |b| b[4] = 1);
    assert_eq!(
        err(&p, "main"),
        format!(
            "{}: unsupported machine x86-64 (e_machine 62) in a 32-bit ELF file; probeaddr decodes x86-64 and 32-bit x86 instructions only",
            p.display()
        )
    );
    let p = patched("prog", "bigendian", |b| b[5] = 2);
    assert!(err(&p, "main").contains("unsupported byte order: big-endian"));
    let p = patched("prog", "aarch64", |b| {
        b[18..20].copy_from_slice(&183u16.to_le_bytes())
    });
    assert_eq!(
        err(&p, "main"),
        format!("{}: unsupported machine AArch64 (e_machine 183) in a 64-bit ELF file; probeaddr decodes x86-64 and 32-bit x86 instructions only", p.display())
    );
    let p = patched("prog", "core", |b| {
        b[16..18].copy_from_slice(&4u16.to_le_bytes())
    });
    assert!(err(&p, "main").contains("a core dump, not a program or library"));
}

#[test]
fn no_symbols_and_no_debug_file_lists_searched_paths() {
    let p = fixtures::path("prog-static");
    let e = err(&p, "main");
    assert!(e.starts_with(&format!("{}: no symbol table (.symtab or .dynsym) and no debug file found; searched: /usr/lib/debug/.build-id/", p.display())), "{e}");
    assert!(
        e.ends_with(".debug; install its debug package or pass --debug-dir"),
        "{e}"
    );
    // A stripped PIE keeps .dynsym: probeaddr says so, and statics are not found.
    let s = fixtures::path("prog-stripped");
    let run = probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        s.as_os_str(),
        "helper".as_ref(),
    ]);
    let e = run.error();
    assert!(
        e.contains("no function matches 'helper'") && e.contains("only .dynsym was available"),
        "{e}"
    );
    assert!(
        run.stderr
            .contains("using .dynsym, so static functions are not visible"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_match_suggests_closest_names() {
    let p = fixtures::path("prog");
    assert_eq!(
        err(&p, "helpr"),
        format!(
            "{}: 'helpr': no function matches 'helpr'; closest: helper",
            p.display()
        )
    );
    assert_eq!(
        err(&p, "a_cal"),
        format!(
            "{}: 'a_cal': no function matches 'a_cal'; closest: a_call",
            p.display()
        )
    );
    let e = err(&p, "helper@c.c");
    assert_eq!(e, format!("{}: 'helper@c.c': 'helper' exists but not in a file matching 'c.c'; it is in: a.c, b.c, sub/b.c", p.display()));
    assert_eq!(
        err(&p, "counter"),
        format!(
            "{}: 'counter': 'counter' is a data object or label, not a function",
            p.display()
        )
    );
}

#[test]
fn whitespace_path_refused_in_uprobe_output() {
    let p = fixtures::path("with space/prog");
    let run = probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        p.as_os_str(),
        "main".as_ref(),
        "--format".as_ref(),
        "uprobe".as_ref(),
    ]);
    let e = run.error();
    assert!(
        e.contains("contains a space, which uprobe_events cannot take"),
        "{e}"
    );
    assert_eq!(run.stdout, "");
    // The table still shows the location, without a definition.
    let run = probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        p.as_os_str(),
        "main".as_ref(),
    ]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("warning: no uprobe definition"),
        "{}",
        run.stderr
    );
}

#[test]
fn malformed_probe_points_point_at_the_column() {
    let p = fixtures::path("prog");
    let run = probeaddr(["resolve", r#"process("x".function("f")"#]);
    assert_eq!(
        run.error(),
        r#"malformed probe point 'process("x".function("f")' at column 12: expected ')'"#
    );
    assert!(
        run.stderr
            .contains("  process(\"x\".function(\"f\")\n             ^"),
        "{}",
        run.stderr
    );
    let e = probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        p.as_os_str(),
        "helper+0xzz".as_ref(),
    ])
    .error();
    assert_eq!(
        e,
        "malformed probe point 'helper+0xzz' at column 8: bad offset '0xzz' (decimal or 0x hex)"
    );
    // perf syntax without -x is a kernel probe point, as in perf probe.
    let e = probeaddr(["resolve", "helper", "--offline"]).error();
    assert!(
        e.contains("no kernel symbols: give --vmlinux, --kallsyms or --system-map"),
        "{e}"
    );
}

#[test]
fn build_id_mismatch_is_an_error_unless_overridden() {
    let s = fixtures::path("prog-stripped");
    let m = fixtures::path("mismatch");
    let args = [
        "resolve".as_ref(),
        "-x".as_ref(),
        s.as_os_str(),
        "--debug-dir".as_ref(),
        m.as_os_str(),
        "a_call".as_ref(),
    ];
    let e = probeaddr(args).error();
    assert!(
        e.starts_with(&format!(
            "{}: build-id mismatch: {} has ",
            s.display(),
            s.display()
        )),
        "{e}"
    );
    assert!(
        e.contains("use the debug file of this exact build (or --no-build-id-check to override)"),
        "{e}"
    );
    let mut over = args.to_vec();
    over.push("--no-build-id-check".as_ref());
    assert_eq!(probeaddr(over).code, 0);
    // .gnu_debuglink whose file is another build's: the CRC says so.
    let b = fixtures::path("prog-badcrc");
    let e = err(&b, "helper");
    assert!(
        e.contains(".debug/badcrc.debug has CRC") && e.contains("it belongs to another build"),
        "{e}"
    );
}

#[test]
fn every_failing_point_is_reported() {
    let p = fixtures::path("prog");
    let run = probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        p.as_os_str(),
        "helpr".as_ref(),
        "main".as_ref(),
        "nope".as_ref(),
        "--format".as_ref(),
        "uprobe".as_ref(),
    ]);
    assert_eq!(run.code, 2);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("probeaddr: error:"))
        .collect();
    // Both bad points, then why main's definition is not printed either
    // (all or nothing; a_batch_of_probe_definitions_is_all_or_nothing).
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].contains("'helpr'") && errors[1].contains("'nope'"),
        "{errors:?}"
    );
    assert!(
        errors[2].contains("no probe definition printed (1 resolved"),
        "{errors:?}"
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn fuzz_found_segment_past_the_end_is_refused() {
    // fuzz/elf_symbols: a PT_LOAD claiming file bytes past the end of the
    // file gave file offsets outside it. Minimized input committed.
    let p = fixtures::src_dir().join("fuzz/elf-pt-load-past-eof");
    let e = err(&p, "main");
    assert!(
        e.contains("truncated or corrupt ELF file: PT_LOAD at")
            && e.contains("past the end of the file"),
        "{e}"
    );
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

/// The header of `.symtab`'s string table (its sh_link), not `.dynstr`.
fn symtab_strtab(b: &[u8]) -> usize {
    let symtab = section_header(b, 2);
    let link = u32::from_le_bytes(b[symtab + 40..symtab + 44].try_into().unwrap()) as usize;
    u64_at(b, 0x28) as usize + link * 64
}

/// Where the header of the first section of `sh_type` is.
fn section_header(b: &[u8], sh_type: u32) -> usize {
    let shoff = u64_at(b, 0x28) as usize;
    let n = u16_at(b, 0x3c) as usize;
    (0..n)
        .map(|i| shoff + i * 64)
        .find(|&sh| u32::from_le_bytes(b[sh + 4..sh + 8].try_into().unwrap()) == sh_type)
        .unwrap()
}

#[test]
fn truncated_at_every_header_boundary() {
    let bytes = std::fs::read(fixtures::path("prog")).unwrap();
    let phoff = u64_at(&bytes, 0x20) as usize;
    let phend = phoff + u16_at(&bytes, 0x38) as usize * 56;
    let shoff = u64_at(&bytes, 0x28) as usize;
    let symtab = section_header(&bytes, 2);
    let strtab_at = u64_at(&bytes, symtab_strtab(&bytes) + 24) as usize;
    let sym_at = u64_at(&bytes, symtab + 24) as usize;
    for cut in [
        16,
        63,
        64,
        phoff,
        phend - 1,
        phend,
        sym_at,
        strtab_at,
        shoff,
        shoff + 64,
        bytes.len() - 1,
    ] {
        for len in [cut.saturating_sub(1), cut, cut + 1]
            .into_iter()
            .filter(|&l| l < bytes.len())
        {
            let p = patched("prog", &format!("cut{len}"), |b| b.truncate(len));
            let run = probeaddr([
                "resolve".as_ref(),
                "-x".as_ref(),
                p.as_os_str(),
                "main".as_ref(),
            ]);
            let e = run.error();
            assert!(
                e.contains("truncated or corrupt ELF file") || e.contains("not an ELF file"),
                "cut at {len}: {e}"
            );
        }
    }
}

#[test]
fn symbol_names_without_nul_and_overlapping_sections() {
    // .strtab one byte short: the last name has no terminating NUL.
    let p = patched("prog", "nonul", |b| {
        let strtab = symtab_strtab(b);
        let size = u64_at(b, strtab + 32);
        b[strtab + 32..strtab + 40].copy_from_slice(&(size - 1).to_le_bytes());
    });
    let run = probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        p.as_os_str(),
        "helper".as_ref(),
    ]);
    let e = run.error();
    assert!(
        e.contains("truncated or corrupt ELF file: symbol") && e.contains("name"),
        "{e}"
    );
    // .strtab moved over the program's code: names become garbage. No
    // wrong address may come out: DWARF still names helper's three
    // copies, each found at readelf's address (of the intact fixture)
    // through the symbol that starts there, and said so.
    let p = patched("prog", "overlap", |b| {
        let text = section_header(b, 1);
        let text_off = u64_at(b, text + 24);
        let strtab = symtab_strtab(b);
        b[strtab + 24..strtab + 32].copy_from_slice(&text_off.to_le_bytes());
    });
    let run = probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        p.as_os_str(),
        "helper".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let mut want: Vec<String> = super::oracle::readelf_funcs(&fixtures::path("prog"), false)
        .iter()
        .filter(|f| f.name == "helper")
        .map(|f| format!("{:#x}", f.value))
        .collect();
    want.sort();
    let mut got: Vec<String> = run
        .json()
        .iter()
        .map(|l| l["func_addr"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, want, "{}", run.stdout);
    // (One line: the three notes are alike, and notes are said once.)
    assert!(
        run.stderr
            .contains("the symbol table names this copy of helper '"),
        "{}",
        run.stderr
    );
}

/// A `.symtab` function whose `st_shndx` names a section that does not
/// hold it is corrupt: left out, and said so — not probed at an address
/// its own table contradicts. The other copies still resolve.
#[test]
fn a_function_outside_its_section_is_left_out_and_said_so() {
    let b = std::fs::read(fixtures::path("prog")).unwrap();
    let symtab = section_header(&b, 2);
    let (off, size) = (
        u64_at(&b, symtab + 24) as usize,
        u64_at(&b, symtab + 32) as usize,
    );
    let strtab = u64_at(&b, symtab_strtab(&b) + 24) as usize;
    let dynsym = (0..u16_at(&b, 0x3c) as usize)
        .find(|&i| {
            let sh = u64_at(&b, 0x28) as usize + i * 64;
            u32::from_le_bytes(b[sh + 4..sh + 8].try_into().unwrap()) == 11
        })
        .unwrap() as u16;
    let entry = (off..off + size)
        .step_by(24)
        .find(|&e| {
            let name = strtab + u32::from_le_bytes(b[e..e + 4].try_into().unwrap()) as usize;
            b[name..].starts_with(b"helper\0") && b[e + 4] & 0xf == 2
        })
        .unwrap();
    let moved = u64_at(&b, entry + 8);
    // Point it at .dynsym (allocated, not code, not where helper is).
    let p = patched("prog", "outside", |b| {
        b[entry + 6..entry + 8].copy_from_slice(&dynsym.to_le_bytes());
    });
    let mut want: Vec<u64> = super::oracle::readelf_funcs(&fixtures::path("prog"), false)
        .iter()
        .filter(|f| f.name == "helper" && f.value != moved)
        .map(|f| f.value)
        .collect();
    want.sort();
    assert_eq!(want.len(), 2);
    let run = probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        p.as_os_str(),
        "helper".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let mut got: Vec<u64> = run
        .json()
        .iter()
        .map(|l| fixtures::hexfield(l, "func_addr"))
        .collect();
    got.sort();
    assert_eq!(got, want);
    assert!(
        run.stderr.contains(&format!(
            "note: {}: 1 function lies outside the section named and outside every executable section (e.g. helper at {moved:#x} names section {dynsym} (.dynsym, 0x",
            p.display()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn stt_file_without_locals_attributes_nothing() {
    let p = fixtures::path("prog-nolocal");
    // readelf: STT_FILE nolocal.c, then no local symbol of that file.
    let syms = super::oracle::readelf_funcs(&p, false);
    assert!(syms
        .iter()
        .any(|s| s.name == "nolocal_fn" && s.bind == "GLOBAL" && s.file.is_none()));
    let e = err(&p, "nolocal_fn@nolocal.c");
    assert!(e.contains("'nolocal_fn' exists but not in a file matching 'nolocal.c'; it is in: (no file: a global symbol and no DWARF)"), "{e}");
    assert_eq!(
        probeaddr([
            "resolve".as_ref(),
            "-x".as_ref(),
            p.as_os_str(),
            "nolocal_fn".as_ref()
        ])
        .code,
        0
    );
}

#[test]
fn headers_claiming_billions_of_sections_or_symbols_allocate_nothing() {
    // e_shnum = 0 moves the count to section 0's sh_size: claim 4 billion.
    let p = patched("prog", "4g-sections", |b| {
        b[0x3c..0x3e].copy_from_slice(&0u16.to_le_bytes());
        let shoff = u64_at(b, 0x28) as usize;
        b[shoff + 32..shoff + 40].copy_from_slice(&0xffff_ffffu64.to_le_bytes());
    });
    let e = err(&p, "main");
    assert!(
        e.contains("truncated or corrupt ELF file: section headers"),
        "{e}"
    );
    // A .symtab claiming 4 billion 24-byte symbols.
    let p = patched("prog", "4g-symbols", |b| {
        let symtab = section_header(b, 2);
        b[symtab + 32..symtab + 40].copy_from_slice(&(0xffff_ffffu64 * 24).to_le_bytes());
    });
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 262144; exec {} resolve -x '{}' main",
            env!("CARGO_BIN_EXE_probeaddr"),
            p.display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("section .symtab") && stderr.contains("extends past the end of the file"),
        "{stderr}"
    );
}

#[test]
fn fuzz_found_compressed_section_claiming_terabytes() {
    // fuzz/dwarf: a zlib section header claiming 0x2000000000314 bytes made
    // the decompressor try to allocate them. Minimized input committed; run
    // under a 256 MB address-space limit.
    let p = fixtures::src_dir().join("fuzz/dwarf-huge-uncompressed-size");
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 262144; exec {} resolve -x '{}' b.c:22",
            env!("CARGO_BIN_EXE_probeaddr"),
            p.display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("this file's DWARF is unreadable")
            && stderr.contains("more than any compression gives"),
        "{stderr}"
    );
}

/// A FIFO, a device or a directory given as a file is refused by name,
/// before anything opens it (opening a FIFO waits for a writer forever;
/// `timeout` fails the test if it hangs).
#[test]
fn fifos_devices_and_directories_are_not_files() {
    let dir = std::env::temp_dir().join(format!("probeaddr-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let run = |args: &[&str]| {
        let out = std::process::Command::new("timeout")
            .arg("20")
            .arg(env!("CARGO_BIN_EXE_probeaddr"))
            .args(args)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(124), "{args:?} hung");
        super::fixtures::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let f = fifo.to_str().unwrap();
    let d = dir.to_str().unwrap();
    for (args, want) in [
        (
            vec!["resolve", "-x", f, "main"],
            format!("{f}: is a FIFO, not a regular file"),
        ),
        (
            vec!["resolve", "-x", "/dev/zero", "main"],
            "/dev/zero: is a character device, not a regular file".into(),
        ),
        (
            vec!["resolve", "-x", d, "main"],
            format!("{d}: is a directory, not a file"),
        ),
        (
            vec!["resolve", "-k", f, "--offline", "vfs_read"],
            format!("{f}: is a FIFO, not a regular file"),
        ),
        (
            vec!["resolve", "--kallsyms", f, "vfs_read"],
            format!("{f}: is a FIFO, not a regular file"),
        ),
        (
            vec!["link", f],
            format!("{f}: is a FIFO, not a regular file"),
        ),
    ] {
        assert_eq!(run(&args).error(), want, "{args:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Stand-ins for /sys and tracefs must exist: a typo is not a system with
/// no modules loaded.
#[test]
fn missing_stand_in_directories_are_errors() {
    let k = fixtures::path("kernel/vmlinux");
    let e = probeaddr([
        "resolve",
        "-k",
        k.to_str().unwrap(),
        "--sysfs",
        "/nonexistent/sys",
        "vfs_read",
    ])
    .error();
    assert_eq!(e, "/nonexistent/sys: does not exist (given with --sysfs)");
    let e = probeaddr(["cleanup", "--tracefs", "/nonexistent/tracing"]).error();
    assert_eq!(
        e,
        "/nonexistent/tracing: does not exist (given with --tracefs)"
    );
    let prog = fixtures::path("prog");
    let e = probeaddr([
        "resolve",
        "-x",
        prog.to_str().unwrap(),
        "--sysfs",
        prog.to_str().unwrap(),
        "main",
    ])
    .error();
    assert_eq!(
        e,
        format!(
            "{}: is not a directory (given with --sysfs)",
            prog.display()
        )
    );
}

/// A debug file of another build found first does not end the search
/// (gdb tries the next candidate): the right one in a later directory is
/// used, and the mismatch is the error only when nothing better turns up.
/// A `--debug-dir` holding a debuglink's file is searched too.
#[test]
fn the_debug_file_search_goes_past_a_wrong_build() {
    let s = fixtures::path("prog-stripped");
    let m = fixtures::path("mismatch");
    let good = fixtures::path("debug");
    let r = probeaddr([
        "resolve".as_ref(),
        "-x".as_ref(),
        s.as_os_str(),
        "--debug-dir".as_ref(),
        m.as_os_str(),
        "--debug-dir".as_ref(),
        good.as_os_str(),
        "helper@sub/b.c".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
    ])
    .json();
    assert_eq!(r.len(), 1);
    let prog = fixtures::path("prog");
    assert_eq!(
        super::fixtures::hexfield(&r[0], "addr"),
        oracle::gdb_address(&prog, "'sub/b.c'::helper", None)
    );
    // prog-dl-stripped alone in a directory; its .gnu_debuglink file in another.
    let dir = std::env::temp_dir().join(format!("probeaddr-dl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("dbg")).unwrap();
    let bin = dir.join("bin/prog-dl-stripped");
    std::fs::copy(fixtures::path("prog-dl-stripped"), &bin).unwrap();
    std::fs::copy(
        fixtures::path(".debug/prog-dl.debug"),
        dir.join("dbg/prog-dl.debug"),
    )
    .unwrap();
    let e = probeaddr(["resolve", "-x", bin.to_str().unwrap(), "helper@sub/b.c"]).error();
    assert!(e.contains("no function matches 'helper'"), "{e}");
    let r = probeaddr([
        "resolve",
        "-x",
        bin.to_str().unwrap(),
        "--debug-dir",
        dir.join("dbg").to_str().unwrap(),
        "helper@sub/b.c",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(r.len(), 1);
    assert_eq!(
        super::fixtures::hexfield(&r[0], "addr"),
        oracle::gdb_address(&fixtures::path("prog-dl"), "'sub/b.c'::helper", None)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A flag a command would ignore is not offered: clap refuses it, names
/// it, and exits 2 (`trace` prints hits, never a `--format`; a plan is
/// JSON; `vars` is a table or JSON; `--externs` is `vars`' alone).
#[test]
fn flags_a_command_would_ignore_are_refused() {
    for (args, flag) in [
        (&["trace", "--format", "json", "main"][..], "'--format'"),
        (&["trace", "--group", "g", "main"][..], "'--group'"),
        (&["plan", "--format", "table", "main"][..], "'--format'"),
        (&["plan", "--form", "text", "main"][..], "'--form'"),
        (&["resolve", "--externs", "main"][..], "'--externs'"),
    ] {
        let r = probeaddr(args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(
            r.stderr
                .contains(&format!("unexpected argument {flag} found")),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = probeaddr(["vars", "--format", "uprobe", "main"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("[possible values: table, json]"),
        "{}",
        r.stderr
    );
}

/// Probe definitions are all or nothing: a batch with a point that fails
/// prints none (so `>> uprobe_events` never registers half of it) and
/// says so; `--keep-going` prints the ones that resolved, still exit 2.
#[test]
fn a_batch_of_probe_definitions_is_all_or_nothing() {
    let prog = fixtures::path("prog");
    let p = prog.to_str().unwrap();
    let alone = probeaddr(["resolve", "-x", p, "helper@a.c", "--format", "uprobe"]);
    assert_eq!(alone.code, 0, "{}", alone.stderr);
    assert_eq!(alone.stdout.lines().count(), 1, "{}", alone.stdout);
    for format in ["uprobe", "bpftrace"] {
        let batch = probeaddr([
            "resolve",
            "-x",
            p,
            "helper@a.c",
            "nosuch",
            "--format",
            format,
        ]);
        assert_eq!(batch.code, 2);
        assert_eq!(batch.stdout, "", "{format}");
        assert!(
            batch
                .stderr
                .contains("'nosuch': no function matches 'nosuch'")
                && batch
                    .stderr
                    .contains("no probe definition printed (1 resolved, but not every point did"),
            "{}",
            batch.stderr
        );
    }
    let kept = probeaddr([
        "resolve",
        "-x",
        p,
        "helper@a.c",
        "nosuch",
        "--format",
        "uprobe",
        "--keep-going",
    ]);
    assert_eq!(kept.code, 2);
    assert_eq!(kept.stdout, alone.stdout);
}
