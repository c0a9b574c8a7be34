//! USDT markers: a `<sys/sdt.h>` fixture and Debian's /usr/bin/python3.11,
//! against `readelf -n` and `bpftrace -l`, and a live uprobe through a
//! marker's semaphore reading the arguments it passed.

use std::path::Path;
use std::process::Command;

use super::fixtures::{self, probeaddr};
use super::oracle;

fn usdt_fixture() -> std::path::PathBuf {
    fixtures::needing("usdt", "systemtap-sdt-dev")
}

/// `.stapsdt.base`'s address, from readelf, if the file has one.
fn stapsdt_base(bin: &Path) -> Option<u64> {
    let out = Command::new("readelf")
        .args(["-SW"])
        .arg(bin)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains(" .stapsdt.base "))
        .and_then(|l| l.split(']').nth(1))
        .and_then(|r| r.split_whitespace().nth(2).map(str::to_string))
        .map(|a| u64::from_str_radix(&a, 16).unwrap())
}

#[test]
fn markers_are_what_readelf_says() {
    let python = Path::new("/usr/bin/python3.11");
    let libstdcxx = Path::new("/usr/lib/x86_64-linux-gnu/libstdc++.so.6");
    let mut counted = Vec::new();
    for bin in [usdt_fixture().as_path(), python, libstdcxx] {
        let notes = oracle::readelf_sdt_notes(bin);
        let run = probeaddr([
            "list",
            "-x",
            bin.to_str().unwrap(),
            "--usdt",
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let ours: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(ours.len(), notes.len(), "{}", bin.display());
        let base = stapsdt_base(bin);
        for ((p, n, pc, note_base, sem, args), o) in notes.iter().zip(&ours) {
            let m = &o["marker"];
            assert_eq!(
                (m["provider"].as_str(), m["name"].as_str()),
                (Some(p.as_str()), Some(n.as_str()))
            );
            assert_eq!(m["args"], args.as_str());
            // The note's address, moved with .stapsdt.base.
            let addr = match base {
                Some(b) => pc + b - note_base,
                None => *pc,
            };
            assert_eq!(fixtures::hexfield(o, "addr"), addr, "{p}:{n}");
            assert_eq!(
                fixtures::hexfield(&o["anchor"], "offset"),
                oracle::readelf_file_offset(bin, addr),
                "{p}:{n}"
            );
            match *sem {
                0 => assert!(m["semaphore"].is_null(), "{p}:{n}"),
                s => assert_eq!(
                    u64::from_str_radix(
                        m["semaphore"].as_str().unwrap().trim_start_matches("0x"),
                        16
                    )
                    .unwrap(),
                    oracle::readelf_file_offset(bin, s),
                    "{p}:{n}"
                ),
            }
        }
        // bpftrace lists the same markers.
        let out = Command::new("bpftrace")
            // (bpftrace's parser takes a '+' in a path only quoted.)
            .args([
                "-l",
                &format!(
                    "usdt:\"{}\":*",
                    std::fs::canonicalize(bin).unwrap().display()
                ),
            ])
            .output()
            .expect("bpftrace is needed: scripts/test installs it");
        let mut theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                l.rsplitn(3, ':')
                    .take(2)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .collect();
        let mut mine: Vec<String> = notes.iter().map(|n| format!("{}:{}", n.0, n.1)).collect();
        theirs.sort();
        mine.sort();
        assert_eq!(theirs, mine, "{}", bin.display());
        counted.push(notes.len());
    }
    assert_eq!(counted, [2, 8, 3]);
}

#[test]
fn a_marker_probe_raises_its_semaphore_and_reads_its_arguments() {
    let built = usdt_fixture();
    let bin = fixtures::PrivateCopy::new(&built, "usdt");
    let p = bin.as_str();
    let canon = std::fs::canonicalize(&bin).unwrap();
    // Three spellings of one marker.
    let mut lines = Vec::new();
    for point in [
        "%fixture:tick".to_string(),
        "sdt_fixture:tick".to_string(),
        format!("process(\"{p}\").provider(\"fixture\").mark(\"tick\")"),
    ] {
        let r = probeaddr(["resolve", "-x", p, &point, "--format", "uprobe", "--unique"]);
        assert_eq!(r.code, 0, "{point}: {}", r.stderr);
        lines.push(r.stdout);
    }
    assert!(lines.iter().all(|l| *l == lines[0]), "{lines:?}");
    let notes = oracle::readelf_sdt_notes(&bin);
    let tick = notes.iter().find(|n| n.1 == "tick").unwrap();
    let off = oracle::readelf_file_offset(&bin, tick.2);
    let sem = oracle::readelf_file_offset(&bin, tick.4);
    assert_eq!(
        lines[0].split_whitespace().nth(1).unwrap(),
        format!("{}:{off:#x}({sem:#x})", canon.display())
    );
    let r = probeaddr(["resolve", "-x", p, "%fixture:done", "--format", "uprobe"]);
    let counter = oracle::readelf_objects(&bin, "counter", None)[0];
    let done = notes.iter().find(|n| n.1 == "done").unwrap();
    // `-8@counter(%rip)`: the global, at its offset from the probe's mapping.
    let want = counter - done.2 + oracle::readelf_file_offset(&bin, done.2);
    assert!(
        r.stdout
            .trim_end()
            .ends_with(&format!(" arg1=@+{want:#x}:s64")),
        "{}",
        r.stdout
    );

    let run = probeaddr([
        "trace",
        "-x",
        p,
        "%fixture:tick",
        "%fixture:done",
        "--json",
        "--",
        p,
    ]);
    let hits = run.hits();
    // The program saw its semaphore raised at each marker (the kernel
    // counts attached uprobes in it), and the values it passed.
    assert_eq!(run.stderr.matches("armed i=").count(), 3, "{}", run.stderr);
    let ticks: Vec<(i64, i64)> = hits
        .iter()
        .filter(|h| h["event"] == "tick")
        .map(|h| {
            (
                h["args"]["arg1"].as_i64().unwrap(),
                h["args"]["arg2"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ticks, [(0, -7), (1, 93), (2, 193)]);
    let done: Vec<i64> = hits
        .iter()
        .filter(|h| h["event"] == "done")
        .map(|h| h["args"]["arg1"].as_i64().unwrap())
        .collect();
    assert_eq!(done, [42]);
    assert!(run.stderr.contains("done counter=42"), "{}", run.stderr);
}

/// bpftrace names a marker itself (and then raises its semaphore), and
/// reads the same first argument.
#[test]
fn bpftrace_takes_a_marker_by_name() {
    let built = usdt_fixture();
    let bin = fixtures::PrivateCopy::new(&built, "usdt-bt");
    let p = bin.as_str();
    let r = probeaddr(["resolve", "-x", p, "%fixture:tick", "--format", "bpftrace"]);
    let canon = std::fs::canonicalize(&bin).unwrap();
    assert_eq!(
        r.stdout.trim(),
        format!("usdt:{}:fixture:tick", canon.display())
    );
    let out = Command::new("bpftrace")
        .args([
            "-e",
            &format!("{} {{ printf(\"bt %d\\n\", arg0); }}", r.stdout.trim()),
            "-c",
            p,
        ])
        .output()
        .expect("bpftrace");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<&str> = text.lines().filter(|l| l.starts_with("bt ")).collect();
    assert_eq!(got, ["bt 0", "bt 1", "bt 2"], "{text}");
    assert_eq!(text.matches("armed i=").count(), 3, "{text}");
    // A path bpftrace's parser takes only quoted ('+'), quoted; bpftrace
    // lists exactly that marker for it.
    let lib = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
    let r = probeaddr([
        "resolve",
        "-x",
        lib,
        "%libstdcxx:throw",
        "--format",
        "bpftrace",
    ]);
    let real = std::fs::canonicalize(lib).unwrap();
    let spec = format!("usdt:\"{}\":libstdcxx:throw", real.display());
    assert_eq!(r.stdout.trim(), spec);
    let out = Command::new("bpftrace")
        .args(["-l", &spec])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("usdt:{}:libstdcxx:throw", real.display())
    );
}
