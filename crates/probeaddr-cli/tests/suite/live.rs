//! Live uprobes: register what probeaddr printed, run the fixture, count hits.
//! Needs root and tracefs (CI has both); set PROBEADDR_SKIP_LIVE=1 elsewhere.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::fixtures::{self, probeaddr};

/// Registered events and a private trace instance, removed on drop (also
/// when an assertion fails), touching nothing else in tracefs.
struct Session {
    tracefs: PathBuf,
    /// A private copy of the fixture: uprobes attach to an inode, so other
    /// tests running the shared fixture cannot add hits to ours.
    prog: PathBuf,
    group: String,
    events: Vec<String>,
    instance: PathBuf,
}

fn tracefs() -> Option<PathBuf> {
    for d in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(d).join("uprobe_events").exists() {
            return Some(d.into());
        }
    }
    let _ = std::process::Command::new("mount")
        .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        .status();
    Path::new("/sys/kernel/tracing/uprobe_events")
        .exists()
        .then(|| "/sys/kernel/tracing".into())
}

impl Session {
    fn new(tag: &str) -> Option<Session> {
        if std::env::var_os("PROBEADDR_SKIP_LIVE").is_some() {
            eprintln!("PROBEADDR_SKIP_LIVE set: skipping live uprobe test");
            return None;
        }
        let t = tracefs().expect(
            "tracefs with uprobe_events is needed (run as root, or set PROBEADDR_SKIP_LIVE=1)",
        );
        let group = format!("pa_test_{tag}_{}", std::process::id());
        let instance = t.join("instances").join(&group);
        fs::create_dir(&instance).expect("creating a trace instance (root needed)");
        let prog = std::env::temp_dir().join(&group);
        fs::copy(fixtures::path("prog"), &prog).unwrap();
        Some(Session {
            tracefs: t,
            prog,
            group,
            events: Vec::new(),
            instance,
        })
    }

    fn register(&mut self, line: &str) {
        let ev = line
            .split_whitespace()
            .next()
            .unwrap()
            .split('/')
            .nth(1)
            .unwrap()
            .to_string();
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.tracefs.join("uprobe_events"))
            .unwrap();
        f.write_all(format!("{line}\n").as_bytes())
            .unwrap_or_else(|e| panic!("kernel refused {line:?}: {e}"));
        self.events.push(ev);
    }

    fn enable(&self) {
        fs::write(
            self.instance
                .join("events")
                .join(&self.group)
                .join("enable"),
            "1",
        )
        .unwrap();
    }

    /// Run the private copy of the fixture; returns its pid.
    fn run_prog(&self, n: usize) -> u32 {
        let child = std::process::Command::new(&self.prog)
            .arg(n.to_string())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(child.wait_with_output().unwrap().status.success());
        pid
    }

    /// Hits per event name from process `pid`.
    fn hits(&self, pid: u32) -> std::collections::BTreeMap<String, usize> {
        let text = fs::read_to_string(self.instance.join("trace")).unwrap();
        let mut m = std::collections::BTreeMap::new();
        for ev in &self.events {
            m.insert(ev.clone(), 0);
        }
        // "            comm-PID     [001] ..... 102.888803: EVENT: (0x...)"
        let from_pid = |l: &str| {
            l.split_whitespace()
                .next()
                .and_then(|t| t.rsplit('-').next())
                == Some(&*pid.to_string())
        };
        for line in text.lines().filter(|l| !l.starts_with('#') && from_pid(l)) {
            for ev in &self.events {
                if line.contains(&format!(" {ev}: ")) {
                    *m.get_mut(ev).unwrap() += 1;
                }
            }
        }
        m
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = fs::write(
            self.instance
                .join("events")
                .join(&self.group)
                .join("enable"),
            "0",
        );
        let _ = fs::remove_dir(&self.instance);
        let _ = fs::remove_file(&self.prog);
        if let Ok(mut f) = fs::OpenOptions::new()
            .append(true)
            .open(self.tracefs.join("uprobe_events"))
        {
            for ev in &self.events {
                let _ = f.write_all(format!("-:{}/{ev}\n", self.group).as_bytes());
            }
        }
    }
}

#[test]
fn uprobe_on_each_same_named_static_hits_only_that_copy() {
    let Some(mut s) = Session::new("helper") else {
        return;
    };
    let prog = s.prog.clone();
    let run = probeaddr([
        "resolve",
        "-x",
        prog.to_str().unwrap(),
        "helper",
        "--format",
        "uprobe",
        "--group",
        &s.group,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in run.stdout.lines() {
        s.register(line);
    }
    s.enable();
    // b.c's helper runs N times, a.c's 2N, sub/b.c's 3N.
    let n = 7;
    let pid = s.run_prog(n);
    let hits = s.hits(pid);
    let want: std::collections::BTreeMap<String, usize> = [
        ("helper_a_c", 2 * n),
        ("helper_b_c", n),
        ("helper_sub_b_c", 3 * n),
    ]
    .iter()
    .map(|(e, c)| (e.to_string(), *c))
    .collect();
    assert_eq!(hits, want);
    drop(s);
}

#[test]
fn uprobe_on_a_pinned_copy_and_its_return() {
    let Some(mut s) = Session::new("pin") else {
        return;
    };
    let prog = s.prog.clone();
    let run = probeaddr([
        "resolve",
        "-x",
        prog.to_str().unwrap(),
        "helper@sub/b.c",
        "helper@sub/b.c%return",
        "helper@a.c+4",
        "--unique",
        "--format",
        "uprobe",
        "--group",
        &s.group,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in run.stdout.lines() {
        s.register(line);
    }
    s.enable();
    let pid = s.run_prog(5);
    let hits = s.hits(pid);
    assert_eq!(hits["helper"], 15, "{hits:?}");
    assert_eq!(hits["helper__return"], 15, "{hits:?}");
    assert_eq!(hits["helper_0x4"], 10, "{hits:?}");
}

#[test]
fn uprobe_on_a_source_line_fires_on_that_line() {
    let Some(mut s) = Session::new("line") else {
        return;
    };
    let prog = s.prog.clone();
    // b.c:22 is `s += helper(i);` in the first loop: two is_stmt rows (the
    // call and the addition), each executed once per iteration.
    let run = probeaddr([
        "resolve",
        "-x",
        prog.to_str().unwrap(),
        "b.c:22",
        "b.c:24",
        "--format",
        "uprobe",
        "--group",
        &s.group,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 4, "{}", run.stdout);
    for line in run.stdout.lines() {
        s.register(line);
    }
    s.enable();
    let pid = s.run_prog(6);
    let hits = s.hits(pid);
    // line 22 runs n times, line 24 (the a_call loop) 2n times, at each row.
    assert_eq!(hits["main_L22"], 6, "{hits:?}");
    assert_eq!(hits["main_L22_1"], 6, "{hits:?}");
    assert_eq!(hits["main_L24"], 12, "{hits:?}");
    assert_eq!(hits["main_L24_1"], 12, "{hits:?}");
}
