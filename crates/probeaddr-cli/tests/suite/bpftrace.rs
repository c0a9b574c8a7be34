//! `--format bpftrace` against the installed bpftrace (Debian 12: 0.17):
//! the specs attach, and the values bpftrace reads there are the ones the
//! fixture prints. bpftrace's manual calls the number in
//! `uprobe:BINARY:NUMBER` an offset; it is a virtual address, and the test
//! shows bpftrace refusing a non-PIE's file offset.

use std::path::Path;
use std::process::Command;

use super::debian::{root, vmlinux};
use super::fixtures::{self, probeaddr};
use super::oracle;

/// `bpftrace -e PROGRAM -c BIN`: everything it and the command printed.
fn bpftrace(program: &str, bin: &Path) -> (bool, String) {
    let out = Command::new("bpftrace")
        .args(["-e", program, "-c"])
        .arg(bin)
        .output()
        .expect("bpftrace (Debian bpftrace) is needed: scripts/test installs it");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The value of `key=` on the first line starting with `prefix`.
fn printed(text: &str, prefix: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_string))
        })
        .unwrap_or_else(|| panic!("no {prefix}…{key}= in {text}"))
}

#[test]
fn bpftrace_attaches_where_the_specs_say_and_reads_the_arguments() {
    for b in ["args-nopie", "args-O2"] {
        let bin = fixtures::PrivateCopy::new(&fixtures::path(b), &format!("bt-{b}"));
        let p = bin.as_str();
        let run = probeaddr([
            "resolve",
            "-x",
            p,
            "compute",
            "compute%return",
            "--format",
            "bpftrace",
        ]);
        assert_eq!(run.code, 0, "{b}: {}", run.stderr);
        let specs: Vec<&str> = run.stdout.lines().collect();
        // The virtual address of compute, as readelf has it.
        let funcs = oracle::readelf_funcs(&bin, false);
        let vaddr = funcs.iter().find(|f| f.name == "compute").unwrap().value;
        let canon = std::fs::canonicalize(&bin).unwrap();
        let c = canon.to_str().unwrap();
        assert_eq!(
            specs,
            [
                format!("uprobe:{c}:{vaddr:#x}"),
                format!("uretprobe:{c}:{vaddr:#x}")
            ],
            "{b}"
        );
        let program = format!(
            "{} {{ printf(\"bt n=%d\\n\", arg0); }} {} {{ printf(\"bt ret=%d\\n\", retval); }}",
            specs[0], specs[1]
        );
        let (ok, out) = bpftrace(&program, &bin);
        assert!(ok, "{b}: {out}");
        assert_eq!(
            printed(&out, "bt n=", "n"),
            printed(&out, "compute ", "n"),
            "{b}: {out}"
        );
        assert_eq!(
            printed(&out, "bt ret=", "ret"),
            printed(&out, "main ", "ret"),
            "{b}: {out}"
        );
        if b == "args-nopie" {
            // What the manual's word "offset" would give: refused.
            let off = oracle::readelf_file_offset(&bin, vaddr);
            assert_ne!(off, vaddr);
            let (ok, out) = bpftrace(&format!("uprobe:{c}:{off:#x} {{ exit(); }}"), &bin);
            assert!(!ok && out.contains("Could not resolve address"), "{out}");
        }
    }
}

/// Kernel specs from the Debian 6.1 vmlinux: a line is FN+OFF (perf's
/// `vfs_read+357`), and a name of several copies is refused with why.
#[test]
fn kernel_specs_name_only_what_bpftrace_can() {
    let v = vmlinux(&root());
    let run = probeaddr([
        "resolve",
        "-k",
        &v,
        "--offline",
        "--format",
        "bpftrace",
        "vfs_read",
        "vfs_read:20",
        "vfs_read%return",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            "kprobe:vfs_read",
            &format!("kprobe:vfs_read+{:#x}", 357),
            "kretprobe:vfs_read"
        ]
    );
    let run = probeaddr([
        "resolve",
        "-k",
        &v,
        "--offline",
        "--format",
        "bpftrace",
        "init_once",
    ]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.is_empty());
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.contains("names its 8 symbols alike"))
            .count(),
        8,
        "{}",
        run.stderr
    );
}
