//! `probeaddr trace`, `plan`, `link` and `cleanup`: live uprobes on the
//! fixtures (root and tracefs needed, as in CI), and plans linked against
//! stand-ins.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use super::fixtures::{self, probeaddr};

fn live() -> bool {
    if std::env::var_os("PROBEADDR_SKIP_LIVE").is_some() {
        eprintln!("PROBEADDR_SKIP_LIVE set: skipping");
        return false;
    }
    true
}

/// Read the tracer's stderr up to its "tracing N probe(s)" line: its probes
/// are registered and enabled then. Returns what it said; the rest of its
/// stderr is drained in the background so it never blocks on a full pipe.
fn wait_until_tracing(tracer: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut r = std::io::BufReader::new(tracer.stderr.take().unwrap());
    let mut said = String::new();
    loop {
        let mut l = String::new();
        assert!(r.read_line(&mut l).unwrap() > 0, "tracer ended: {said}");
        said.push_str(&l);
        if l.starts_with("probeaddr: tracing ") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut r, &mut std::io::sink()));
    said
}

/// A private copy of the prog fixture (uprobes attach to an inode).
fn private_prog(tag: &str) -> fixtures::PrivateCopy {
    fixtures::PrivateCopy::new(&fixtures::path("prog"), &format!("trace-{tag}"))
}

fn uprobe_events() -> String {
    std::fs::read_to_string("/sys/kernel/tracing/uprobe_events").unwrap_or_default()
}

/// Hits per event from `trace --json` output.
fn hits(stdout: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        *m.entry(v["event"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

#[test]
fn trace_a_command_entry_return_and_line() {
    if !live() {
        return;
    }
    let prog = private_prog("cmd");
    let p = prog.to_str().unwrap();
    let run = probeaddr([
        "trace",
        "-x",
        p,
        "helper@sub/b.c",
        "helper@sub/b.c%return",
        "b.c:24",
        "--json",
        "--arg",
        "x=%di:s32",
        "--",
        p,
        "4",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let h = hits(&run.stdout);
    // sub/b.c's helper runs 3n times; line 24 (the a_call loop) 2n times at each of its rows.
    assert_eq!(h["helper"], 12, "{h:?}");
    assert_eq!(h["helper__return"], 12, "{h:?}");
    assert_eq!(h["main_L24"], 8, "{h:?}");
    assert_eq!(h["main_L24_1"], 8, "{h:?}");
    let first: serde_json::Value =
        serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert!(
        first["location"].as_str().unwrap().contains(" [")
            && first["detail"].as_str().unwrap().contains("x="),
        "{first}"
    );
    // Nothing left behind.
    assert!(!uprobe_events().contains(&format!("probeaddr_{}", std::process::id())));
}

#[test]
fn pid_filter_counts_only_that_process() {
    if !live() {
        return;
    }
    let prog = private_prog("pid");
    let p = prog.to_str().unwrap();
    // Two instances run; only the one given with --pid is traced. The
    // filtered process waits on a fifo until the tracer is ready.
    let fifo = std::env::temp_dir().join(format!("probeaddr-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let sh = format!("read x < {}; exec {p} 5", fifo.display());
    let mut a = Command::new("sh")
        .args(["-c", &sh])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut tracer = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .args([
            "trace",
            "-x",
            p,
            "helper@sub/b.c",
            "--json",
            "--duration",
            "3s",
            "--pid",
            &a.id().to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Ready when it says so (its probes are enabled), not after a guess.
    let err = wait_until_tracing(&mut tracer);
    // Another process running the same file: must not count.
    assert!(Command::new(&prog)
        .arg("7")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    std::fs::write(&fifo, "go\n").unwrap();
    a.wait().unwrap();
    let out = tracer.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let h = hits(&stdout);
    // sub/b.c's helper runs 3n times: 15 in the traced process (n=5), and
    // 21 in the other one (n=7), which must not show.
    assert_eq!(h.values().sum::<usize>(), 15, "{h:?} {err}");
    std::fs::remove_file(fifo).unwrap();
}

#[test]
fn ctrl_c_and_sigterm_remove_the_group() {
    if !live() {
        return;
    }
    let prog = private_prog("sig");
    for sig in ["INT", "TERM"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
            .args(["trace", "-x", prog.to_str().unwrap(), "helper"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let group = format!("probeaddr_{}", child.id());
        let said = wait_until_tracing(&mut child);
        assert!(
            uprobe_events().contains(&group),
            "{sig}: {group} not registered: {said}"
        );
        assert!(Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        child.wait().unwrap();
        assert!(
            !uprobe_events().contains(&group),
            "{sig}: {group} left behind; {said}"
        );
        assert!(!Path::new("/sys/kernel/tracing/instances")
            .join(&group)
            .exists());
    }
}

#[test]
fn sigkill_leaves_a_group_that_cleanup_removes() {
    if !live() {
        return;
    }
    let prog = private_prog("kill");
    let mut child = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .args(["trace", "-x", prog.to_str().unwrap(), "helper@a.c"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let group = format!("probeaddr_{}", child.id());
    wait_until_tracing(&mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(uprobe_events().contains(&group), "SIGKILL cannot clean up");
    // The next run says so; cleanup removes only groups whose process is gone.
    let run = probeaddr(["cleanup"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains(&format!("removed group {group} (1 events)")),
        "{}",
        run.stdout
    );
    assert!(!uprobe_events().contains(&group));
}

#[test]
fn a_failing_probe_rolls_back_the_ones_before_it() {
    if !live() {
        return;
    }
    let prog = private_prog("rollback");
    let p = prog.to_str().unwrap();
    // A plan whose second probe fetches a register x86-64 does not have:
    // the kernel refuses it (error_log: invalid register), and the first
    // probe, already registered, must be removed.
    let plan = probeaddr(["plan", "-x", p, "helper@a.c", "helper@sub/b.c"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let mut v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    v["locations"][1]["args"] = serde_json::json!(["x=%nosuchreg"]);
    let f = std::env::temp_dir().join(format!("probeaddr-plan-rb-{}.json", std::process::id()));
    std::fs::write(&f, v.to_string()).unwrap();
    let run = probeaddr(["trace", "--plan", f.to_str().unwrap(), "--duration", "1s"]);
    let e = run.error();
    assert!(
        e.contains("the kernel refused")
            && e.contains("the 1 probe(s) registered before it were removed"),
        "{e}"
    );
    assert!(
        run.stderr.to_lowercase().contains("register"),
        "the kernel's reason is shown: {}",
        run.stderr
    );
    assert!(!uprobe_events().contains(p), "{}", uprobe_events());
    std::fs::remove_file(f).unwrap();
}

#[test]
fn whitespace_paths_and_bad_arguments_are_refused_before_writing() {
    let p = fixtures::path("with space/prog");
    let e = probeaddr([
        "trace",
        "-x",
        p.to_str().unwrap(),
        "main",
        "--duration",
        "1s",
        "--tracefs",
        "/nonexistent",
    ])
    .error();
    assert!(
        e.contains("contains a space, which uprobe_events cannot take"),
        "{e}"
    );
    let q = fixtures::path("prog");
    let e = probeaddr([
        "trace",
        "-x",
        q.to_str().unwrap(),
        "main",
        "--arg",
        "bad name=%di",
        "--tracefs",
        "/nonexistent",
    ])
    .error();
    assert!(e.contains("contains whitespace"), "{e}");
}

#[test]
fn plan_on_the_build_host_link_on_the_target() {
    let prog = fixtures::path("prog");
    let p = prog.to_str().unwrap();
    let plan = probeaddr(["plan", "-x", p, "helper@sub/b.c", "b.c:22"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let f = std::env::temp_dir().join(format!("probeaddr-plan-{}.json", std::process::id()));
    std::fs::write(&f, &plan.stdout).unwrap();
    let linked = probeaddr(["link", f.to_str().unwrap(), "--format", "uprobe"]);
    let want = probeaddr([
        "resolve",
        "-x",
        p,
        "helper@sub/b.c",
        "b.c:22",
        "--format",
        "uprobe",
    ]);
    assert_eq!(linked.stdout, want.stdout, "{}", linked.stderr);
    // Another build at that path: refused.
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let mut other = v.clone();
    other["locations"][0]["object"]["path"] = serde_json::json!(fixtures::path("prog-other"));
    std::fs::write(&f, other.to_string()).unwrap();
    let e = probeaddr(["link", f.to_str().unwrap(), "--format", "uprobe"]).error();
    assert!(
        e.contains("the plan was made for build-id")
            && e.contains("make the plan from this build's debug info"),
        "{e}"
    );
    std::fs::write(&f, "{\"schema\": 9, \"locations\": []}").unwrap();
    assert!(probeaddr(["link", f.to_str().unwrap()])
        .error()
        .contains("plan schema 9"));
    std::fs::write(&f, "garbage").unwrap();
    assert!(probeaddr(["link", f.to_str().unwrap()])
        .error()
        .contains("not a probeaddr plan"));
    std::fs::remove_file(f).unwrap();
}

#[test]
fn two_traces_of_one_binary_do_not_disturb_each_other() {
    if !live() {
        return;
    }
    let prog = private_prog("two");
    let p = prog.to_str().unwrap();
    // Both attach to the same file; each runs its own command and sees its
    // own hits only (own group, own trace instance, pid of its command).
    let spawn = |n: &str| {
        Command::new(env!("CARGO_BIN_EXE_probeaddr"))
            .args(["trace", "-x", p, "helper@sub/b.c", "--json", "--", p, n])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn("3");
    let b = spawn("5");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{} {}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    // Hits per pid: uprobes fire in every process running the file, so a
    // run may also see the other's command; but its own command's 3n hits
    // are all there, whichever run finished and removed its group first.
    let per_pid = |out: &[u8]| -> BTreeMap<u64, usize> {
        let mut m = BTreeMap::new();
        for l in String::from_utf8_lossy(out).lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            *m.entry(v["pid"].as_u64().unwrap()).or_default() += 1;
        }
        m
    };
    let (pa, pb) = (per_pid(&a.stdout), per_pid(&b.stdout));
    assert!(pa.values().any(|&c| c == 9), "run a: {pa:?}");
    assert!(pb.values().any(|&c| c == 15), "run b: {pb:?}");
    assert!(
        pa.values().chain(pb.values()).all(|&c| c == 9 || c == 15),
        "{pa:?} {pb:?}"
    );
    assert!(!uprobe_events().contains(p));
}

/// `trace -- CMD` counts the command and its children only (not probeaddr,
/// not another process running the same file), armed before the command's
/// first instruction, and exits with the command's status.
#[test]
fn a_traced_command_is_its_own_process_tree_and_its_status_is_ours() {
    if !live() {
        return;
    }
    let prog = private_prog("tree");
    let p = prog.to_str().unwrap();
    let fifo = std::env::temp_dir().join(format!("probeaddr-tree-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // The command waits on the fifo, then runs prog twice (children) and
    // exits 7.
    let script = format!("read x < {}; {p} 2; {p} 3; exit 7", fifo.display());
    let mut tracer = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .args([
            "trace",
            "-x",
            p,
            "helper@sub/b.c",
            "--json",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = wait_until_tracing(&mut tracer);
    // Another process running the same file, not the command's: not counted.
    assert!(Command::new(&prog)
        .arg("7")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    std::fs::write(&fifo, "go\n").unwrap();
    let out = tracer.wait_with_output().unwrap();
    let h = hits(&String::from_utf8_lossy(&out.stdout));
    // sub/b.c's helper runs 3n times: 6 + 9 in the children; 21 elsewhere.
    assert_eq!(h.values().sum::<usize>(), 15, "{h:?} {said}");
    assert_eq!(out.status.code(), Some(7), "{said}");
    std::fs::remove_file(fifo).unwrap();
}

/// `--skip-prologue` on libc's `system`, live: `system(NULL)` returns after
/// its first test, so a probe past that test would see one call of two.
#[test]
fn a_skipped_prologue_still_sees_every_call() {
    if !live() {
        return;
    }
    let prog = fixtures::path("system");
    let p = prog.to_str().unwrap();
    let run = probeaddr([
        "trace",
        "-x",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "system",
        "--skip-prologue",
        "--json",
        "--",
        p,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let h = hits(&run.stdout);
    assert_eq!(h.values().sum::<usize>(), 2, "{h:?} {}", run.stderr);
}

/// A 32-bit program's uprobes, live: the kernel probes compat tasks too.
#[test]
fn a_32_bit_program_is_traced_like_any_other() {
    if !live() {
        return;
    }
    let bin = super::resolve::prog32();
    let p = fixtures::PrivateCopy::new(&bin, "trace-32");
    let ps = p.as_str();
    let run = probeaddr([
        "trace", "-x", ps, "twice", "helper", "--json", "--", ps, "3",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let h = hits(&run.stdout);
    assert_eq!(h["twice"], 3, "{h:?}");
    assert_eq!(h["helper"], 6, "{h:?}");
}
