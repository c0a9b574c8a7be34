//! `probeaddr plan`, `link`, `trace` and `cleanup`.
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
use probeaddr::emit::event::GroupName;
use probeaddr::kernel::FormChoice;
use probeaddr::plan::{self, Linked, Plan, PlannedProbe, PLAN_VERSION};
use probeaddr::tracefs::{parse_hit, ProbeType, Session, Tracefs};
use probeaddr::{Error, ErrorKind};

use crate::args::{CleanupArgs, FormArg, Format, KernelFlags, LinkArgs, ResolveArgs, TraceArgs};
use crate::output::{hex, report};

/// `probeaddr plan`: `resolve --format plan`.
pub fn plan(args: &ResolveArgs, out: &mut dyn Write) -> Result<bool> {
    // Same flags as resolve; the output is the plan.
    let mut plan = Vec::new();
    let mut sink = std::io::sink();
    let ok = crate::output::resolve_collect(&with_plan_format(args), &mut sink, &mut plan)?;
    if ok {
        serde_json::to_writer_pretty(
            &mut *out,
            &Plan {
                version: PLAN_VERSION,
                probes: plan,
            },
        )?;
        writeln!(out)?;
    }
    Ok(ok)
}

fn with_plan_format(args: &ResolveArgs) -> ResolveArgs {
    ResolveArgs {
        format: Format::Plan,
        ..args.clone()
    }
}

fn choice(f: FormArg) -> FormChoice {
    match f {
        FormArg::Safest => FormChoice::Safest,
        FormArg::Text => FormChoice::Text,
        FormArg::Symbol => FormChoice::Symbol,
        FormArg::Address => FormChoice::Address,
    }
}

fn read_plan(p: &Path) -> Result<Plan, Error> {
    let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
    Plan::from_json(&text, p)
}

fn link_plan(
    plan: &Plan,
    flags: &KernelFlags,
    check: bool,
    form: FormArg,
) -> Result<Vec<Linked>, Error> {
    let (ks, _) = flags.kallsyms()?;
    let sys = flags.sysfs();
    let t = plan::Target {
        kallsyms: ks.as_ref(),
        sysfs: sys.as_ref(),
        check_build_id: check,
    };
    plan::link(plan, &t, choice(form))
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
    let linked = match read_plan(&args.plan)
        .and_then(|p| link_plan(&p, &args.kernel, !args.no_build_id_check, args.form))
    {
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
            for l in linked.iter().filter(|l| l.kind == want) {
                let d = l.def();
                d.validate()?;
                writeln!(out, "{}", d.line(&group))?;
            }
        }
        Format::Json | Format::Plan => {
            let v: Vec<serde_json::Value> = linked
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "event": l.probe.event,
                        "symbol": l.probe.symbol,
                        "file": l.probe.file,
                        "offset": hex(l.probe.offset),
                        "target": l.target,
                        "runtime_addr": l.runtime.map(|r| hex(r.get())),
                        "definition": l.def().line(&group),
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        Format::Table => {
            let mut cells = vec![["EVENT", "LOCATION", "RUNTIME_ADDR", "DEFINITION"]
                .map(String::from)
                .to_vec()];
            for l in &linked {
                cells.push(vec![
                    l.probe.event.clone(),
                    describe(&l.probe),
                    l.runtime.map_or("-".into(), |r| hex(r.get())),
                    l.def().line(&group),
                ]);
            }
            crate::output::print_cells(out, &cells)?;
        }
    }
    Ok(true)
}

/// `init_once [fs/proc/inode.c] +0x0`.
fn describe(p: &PlannedProbe) -> String {
    let mut s = match &p.inlined_into {
        Some(c) => format!("{} (inlined into {c})", p.symbol),
        None => p.symbol.clone(),
    };
    if let Some(f) = &p.file {
        s.push_str(&format!(" [{f}]"));
    }
    s.push_str(&format!(" +{:#x}", p.offset));
    if p.kind == probeaddr::spec::ProbeKind::Return {
        s.push_str(" (return)");
    }
    s
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
    let mut plan = match &args.plan {
        Some(p) => match read_plan(p) {
            Ok(p) => p,
            Err(e) => {
                report(&e);
                return Ok(false);
            }
        },
        None => {
            let mut probes = Vec::new();
            let mut sink = std::io::sink();
            // --pid filters hits here; the process need not have mapped the file yet.
            let mut ra = with_plan_format(r);
            ra.pid = None;
            if !crate::output::resolve_collect(&ra, &mut sink, &mut probes)? {
                return Ok(false);
            }
            Plan {
                version: PLAN_VERSION,
                probes,
            }
        }
    };
    if args.plan.is_some() {
        for p in &mut plan.probes {
            p.args.extend(r.args.iter().cloned());
        }
    }
    let duration = match args.duration.as_deref().map(parse_duration).transpose() {
        Ok(d) => d,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let linked = match link_plan(&plan, &r.kernel, !r.no_build_id_check, r.form) {
        Ok(l) => l,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    // Everything is validated before anything is written.
    let defs: Vec<_> = linked.iter().map(Linked::def).collect();
    if let Some(e) = defs.iter().find_map(|d| d.validate().err()) {
        report(&e);
        return Ok(false);
    }
    let fs = match &args.tracefs {
        Some(d) => Tracefs::new(d),
        None => match Tracefs::system() {
            Ok(f) => f,
            Err(e) => {
                report(&e);
                return Ok(false);
            }
        },
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
    let by_event: HashMap<&str, &PlannedProbe> = linked
        .iter()
        .map(|l| (l.probe.event.as_str(), &l.probe))
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
                .map(|p| describe(p))
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
    let fs = match &args.tracefs {
        Some(d) => Tracefs::new(d),
        None => match Tracefs::system() {
            Ok(f) => f,
            Err(e) => {
                report(&e);
                return Ok(false);
            }
        },
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
