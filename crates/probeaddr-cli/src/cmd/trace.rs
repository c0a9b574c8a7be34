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
        Format::Json | Format::Plan => {
            // The locations of one probe point are consecutive in a plan.
            let mut entries: Vec<Entry<'_>> = Vec::new();
            for g in linked.chunk_by(|a, b| a.0.location.point == b.0.location.point) {
                let locs: Vec<Location> = g.iter().map(|(l, _)| l.location.clone()).collect();
                for (l, d) in g {
                    let pin = (g.len() > 1).then(|| l.location.pin(&locs)).flatten();
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

/// `probeaddr trace`.
pub fn trace(args: &TraceArgs, out: &mut dyn Write) -> Result<bool> {
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
                return Ok(false);
            }
        },
        None => {
            // --pid filters hits here; the process need not have mapped the file yet.
            let mut notes = Notes::default();
            let (resolved, ok) = crate::cmd::resolve::resolve_points(r, false, &mut notes)?;
            let Some(resolved) = resolved.filter(|_| ok) else {
                return Ok(false);
            };
            let (plan, ok) = crate::cmd::resolve::plan_of(&resolved);
            if !ok {
                return Ok(false);
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
            return Ok(false);
        }
    };
    // Everything is validated before anything is written.
    let linked = match link_plan(&locations, &linker, setup::form(r.form)) {
        Ok(l) => l,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let defs: Vec<ProbeDef> = linked.iter().map(|(_, d)| d.clone()).collect();
    let fs = match tracefs(args.tracefs.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            report(&e);
            return Ok(false);
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
            return Ok(false);
        }
    };
    if let Err(e) = session.register_all(&defs) {
        report(&e);
        return Ok(false);
    }
    if let Some(pid) = r.pid {
        session.filter_pids(&[pid])?;
    }
    session.enable()?;
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
    let mut child = if args.command.is_empty() {
        None
    } else {
        let mut cmd = std::process::Command::new(&args.command[0]);
        cmd.args(&args.command[1..]);
        if args.json {
            // Keep stdout pure JSON lines: the command's output goes to stderr.
            cmd.stdout(std::io::stderr());
        }
        match cmd.spawn() {
            Ok(c) => Some(c),
            Err(e) => {
                report(&Error::new(
                    ErrorKind::Io,
                    format!("cannot run {:?}: {e}", args.command[0]),
                ));
                return Ok(false);
            }
        }
    };
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
                    })
                )?;
            } else {
                writeln!(
                    out,
                    "{:>14} {:<16} {:>7} {:>3} {:<24} {} {}",
                    hit.time, hit.task, hit.pid, hit.cpu, hit.event, loc, hit.detail
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
        return Ok(false);
    }
    Ok(child_status.is_none_or(|s| s.success()))
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
