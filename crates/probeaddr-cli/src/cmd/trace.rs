//! `probeaddr link`, `trace` and `cleanup`.
//!
//! `trace` always goes through a plan: resolve (or read a plan file), link
//! on this machine, register every probe in a group of its own
//! (`probeaddr_<pid>`), enable them all, stream hits from the group's own
//! trace instance, and remove everything on exit, Ctrl-C, SIGTERM, or when
//! the traced command ends.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use probeaddr::emit::event::{name_events, EventNamer, GroupName};
use probeaddr::emit::json::{Document, Entry};
use probeaddr::emit::ProbeType;
use probeaddr::tracefs::{parse_hit, Session, Tracefs};
use probeaddr::{Error, ErrorKind, FormChoice, Linked, Linker, Location, Plan, ProbeDef};

use crate::flags::{CleanupArgs, Format, LinkArgs, TraceArgs};
use crate::print::{self, describe, print_cells, report, Notes};
use crate::setup;

/// `--tracefs DIR` (which must be a directory), else the system's
/// (mounted if need be).
fn tracefs(dir: Option<&Path>) -> Result<Tracefs, Error> {
    match dir {
        Some(d) => crate::setup::directory(d, "--tracefs").map(|()| Tracefs::new(d)),
        None => Tracefs::system(),
    }
}

fn read_plan(p: &Path) -> Result<Plan, Error> {
    Plan::read(p)
}

/// A plan's locations linked on this machine, each with its event name and
/// definition. A target running another build than the plan's is refused.
fn link_plan(
    locations: &[Location],
    linker: &Linker,
    form: FormChoice,
) -> Result<Vec<(Linked, ProbeDef)>, Error> {
    let linked = linker.link_all(locations)?;
    for l in &linked {
        l.require_same_build()?;
    }
    let events = name_events(locations, &mut EventNamer::new());
    linked
        .into_iter()
        .zip(events)
        .map(|(l, ev)| {
            let d = ProbeDef::new(&l, &ev, form)?;
            Ok((l, d))
        })
        .collect()
}

/// `probeaddr link`.
pub fn link(args: &LinkArgs, out: &mut dyn Write) -> Result<bool> {
    let group = match GroupName::new(&args.group) {
        Ok(g) => g,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let linked = match read_plan(&args.plan).and_then(|p| {
        link_plan(
            &p.locations,
            &Linker::new(args.kernel.linker_config(!args.no_build_id_check)?),
            setup::form(args.form),
        )
    }) {
        Ok(l) => l,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    match args.format {
        Format::Kprobe | Format::Uprobe => {
            let want = if args.format == Format::Kprobe {
                ProbeType::Kprobe
            } else {
                ProbeType::Uprobe
            };
            for (_, d) in linked.iter().filter(|(_, d)| d.kind == want) {
                writeln!(out, "{}", d.line(&group))?;
            }
        }
        Format::Bpftrace => {
            let mut ok = true;
            for (l, _) in &linked {
                match probeaddr::bpftrace_probe(l) {
                    Ok(spec) => writeln!(out, "{spec}")?,
                    Err(e) => {
                        report(&e);
                        ok = false;
                    }
                }
            }
            return Ok(ok);
        }
        Format::Json | Format::Plan => {
            // The locations of one probe point are consecutive in a plan.
            let mut entries: Vec<Entry<'_>> = Vec::new();
            for g in linked.chunk_by(|a, b| a.0.location.point == b.0.location.point) {
                let locs: Vec<Location> = g.iter().map(|(l, _)| l.location.clone()).collect();
                let pins = if g.len() > 1 {
                    probeaddr::pins(&locs)
                } else {
                    vec![None; locs.len()]
                };
                for ((l, d), pin) in g.iter().zip(pins) {
                    entries.push(Entry::new(l, g.len(), pin, &d.event, Ok(d.line(&group))));
                }
            }
            print::json(out, &Document::new(entries))?;
        }
        Format::Table => {
            let mut cells = vec![["EVENT", "LOCATION", "RUNTIME_ADDR", "DEFINITION"]
                .map(String::from)
                .to_vec()];
            for (l, d) in &linked {
                cells.push(vec![
                    d.event.clone(),
                    describe(&l.location),
                    l.runtime.map_or("-".into(), |r| r.to_string()),
                    d.line(&group),
                ]);
            }
            print_cells(out, &cells)?;
        }
    }
    Ok(true)
}

fn parse_duration(s: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::new(
            ErrorKind::BadInput,
            format!("bad duration {s:?} (examples: 500ms, 10s, 2m)"),
        )
    };
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// How `trace` ends: like every command, or with the traced command's status.
pub enum Exit {
    /// Success.
    Ok,
    /// An error (reported).
    Failed,
    /// The traced command's exit status.
    Code(u8),
}

/// `probeaddr trace`.
pub fn trace(args: &TraceArgs, out: &mut dyn Write) -> Result<Exit> {
    let r = &args.resolve;
    let (mut locations, linker) = match &args.plan {
        Some(p) => match read_plan(p).and_then(|p| {
            Ok((
                p.locations,
                Linker::new(r.kernel.linker_config(!r.no_build_id_check)?),
            ))
        }) {
            Ok(x) => x,
            Err(e) => {
                report(&e);
                return Ok(Exit::Failed);
            }
        },
        None => {
            // --pid filters hits here; the process need not have mapped the file yet.
            let mut notes = Notes::default();
            let (resolved, ok) = crate::cmd::resolve::resolve_points(r, false, &mut notes)?;
            let Some(resolved) = resolved.filter(|_| ok) else {
                return Ok(Exit::Failed);
            };
            let (plan, ok) = crate::cmd::resolve::plan_of(&resolved);
            if !ok {
                return Ok(Exit::Failed);
            }
            // The points' fetch arguments are already in their locations;
            // the linker that resolved them links them (kallsyms read once).
            (plan.locations, resolved.setup.linker)
        }
    };
    if args.plan.is_some() {
        for l in &mut locations {
            l.args.extend(r.args.iter().cloned());
        }
    }
    let duration = match args.duration.as_deref().map(parse_duration).transpose() {
        Ok(d) => d,
        Err(e) => {
            report(&e);
            return Ok(Exit::Failed);
        }
    };
    // Everything is validated before anything is written.
    let linked = match link_plan(&locations, &linker, setup::form(args.form)) {
        Ok(l) => l,
        Err(e) => {
            report(&e);
            return Ok(Exit::Failed);
        }
    };
    let defs: Vec<ProbeDef> = linked.iter().map(|(_, d)| d.clone()).collect();
    let fs = match tracefs(args.tracefs.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            report(&e);
            return Ok(Exit::Failed);
        }
    };
    for g in fs.stale_groups() {
        eprintln!("probeaddr: note: group {g} was left by a probeaddr run that is gone; `probeaddr cleanup` removes it");
    }
    let group =
        GroupName::new(&format!("probeaddr_{}", std::process::id())).expect("valid group name");
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C, SIGTERM and SIGHUP all end the loop, so the session cleans up.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let mut session = match Session::new(&fs, group) {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            return Ok(Exit::Failed);
        }
    };
    if let Err(e) = session.register_all(&defs) {
        report(&e);
        return Ok(Exit::Failed);
    }
    // A command is started held (before exec) so that its pid can filter
    // the events before any fire; its children are followed. Without one,
    // --pid filters, else every process is traced.
    let mut child = None;
    let mut release = None;
    if !args.command.is_empty() {
        match held_command(&args.command, args.json) {
            Ok((c, go)) => {
                child = Some(c);
                release = Some(go);
            }
            Err(e) => {
                report(&e);
                return Ok(Exit::Failed);
            }
        }
    }
    let filter = match (&child, r.pid) {
        (Some(c), _) => Some(c.id()),
        (None, pid) => pid,
    };
    let armed = (|| -> Result<(), Error> {
        if let Some(pid) = filter {
            session.filter_pids(&[pid])?;
        }
        if child.is_some() {
            session.follow_forks()?;
        }
        session.enable()
    })();
    if let Err(e) = armed {
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
        }
        report(&e);
        return Ok(Exit::Failed);
    }
    let by_event: HashMap<&str, &Location> = linked
        .iter()
        .map(|(l, d)| (d.event.as_str(), &l.location))
        .collect();
    eprintln!(
        "probeaddr: tracing {} probe(s) in group {}{}",
        defs.len(),
        session.group().as_str(),
        if args.command.is_empty() && duration.is_none() {
            "; Ctrl-C to stop"
        } else {
            ""
        }
    );
    // Everything is armed: let the command exec.
    if let Some(mut go) = release.take() {
        let _ = go.write_all(b"go\n");
    }
    let start = Instant::now();
    let mut child_status = None;
    let mut drained_after_exit = false;
    loop {
        for line in session.read_lines()? {
            let Some(hit) = parse_hit(&line) else {
                continue;
            };
            let loc = by_event
                .get(hit.event.as_str())
                .map(|l| describe(l))
                .unwrap_or_default();
            if args.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "time": hit.time, "task": hit.task, "pid": hit.pid, "cpu": hit.cpu,
                        "event": hit.event, "location": loc, "detail": hit.detail,
                        "args": hit.values().into_iter().map(|(n, v)| {
                            let v = v.parse::<i64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::from(v));
                            (n, v)
                        }).collect::<serde_json::Map<_, _>>(),
                    })
                )?;
            } else {
                // Values by name as the kernel formatted them for their
                // types (`count=4321 f_pos=0 name="/etc/passwd"`), without
                // its `(vfs_read+0x0/0x30c)` prefix, which `loc` says better.
                let d = hit.detail.trim_start();
                let shown = match d.strip_prefix('(').and_then(|r| r.split_once(')')) {
                    Some((_, rest)) => rest.trim_start(),
                    None => d,
                };
                writeln!(
                    out,
                    "{:>14} {:<16} {:>7} {:>3} {:<24} {} {}",
                    hit.time, hit.task, hit.pid, hit.cpu, hit.event, loc, shown
                )?;
            }
        }
        out.flush()?;
        if drained_after_exit
            || stop.load(Ordering::SeqCst)
            || duration.is_some_and(|d| start.elapsed() >= d)
        {
            break;
        }
        if let Some(c) = child.as_mut() {
            if let Some(st) = c.try_wait()? {
                child_status = Some(st);
                // One more read for hits still in the buffer.
                std::thread::sleep(Duration::from_millis(100));
                drained_after_exit = true;
                continue;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(mut c) = child.filter(|_| child_status.is_none()) {
        let _ = c.kill();
        let _ = c.wait();
    }
    if let Err(e) = session.close() {
        report(&e);
        return Ok(Exit::Failed);
    }
    // The command's own status is the run's.
    Ok(match child_status {
        Some(st) => Exit::Code(st.code().map_or(2, |c| c.clamp(0, 255) as u8)),
        None => Exit::Ok,
    })
}

/// A command started held: a shell that waits for one byte on fd 3 (the
/// returned pipe) before it `exec`s the command, keeping its pid, so that
/// tracing is armed for the command's very first instruction. (A plain
/// `pre_exec` wait cannot work: `spawn` waits for the `exec`.) The
/// command's stdin, stdout and stderr are its own.
fn held_command(
    command: &[String],
    json: bool,
) -> Result<(std::process::Child, std::io::PipeWriter), Error> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let (reader, writer) =
        std::io::pipe().map_err(|e| Error::new(ErrorKind::Io, format!("pipe: {e}")))?;
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("read -r _ <&3 || exit 125; exec 3<&-; exec \"$@\"")
        .arg("probeaddr-held")
        .args(command);
    if json {
        // Keep stdout pure JSON lines: the command's output goes to stderr.
        cmd.stdout(std::io::stderr());
    }
    let fd = reader.as_raw_fd();
    // SAFETY: between fork and exec the closure calls only dup2(2) and
    // fcntl(2), which are async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let r = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if r == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot run {:?}: {e}", command[0])))?;
    drop(reader);
    Ok((child, writer))
}

/// `probeaddr cleanup`: remove groups of probeaddr runs that are gone.
pub fn cleanup(args: &CleanupArgs, out: &mut dyn Write) -> Result<bool> {
    let fs = match tracefs(args.tracefs.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let mut ok = true;
    for g in fs.stale_groups() {
        match probeaddr::tracefs::remove_group(&fs, &g) {
            Ok(n) => writeln!(out, "removed group {g} ({n} events)")?,
            Err(e) => {
                report(&e);
                ok = false;
            }
        }
    }
    Ok(ok)
}
