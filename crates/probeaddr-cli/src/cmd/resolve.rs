//! `probeaddr resolve` and `probeaddr plan`: resolve every probe point,
//! link, print in the format asked.

use std::io::Write;

use anyhow::Result;
use probeaddr::emit::event::{name_events, EventNamer, GroupName};
use probeaddr::emit::json::{Document, Entry};
use probeaddr::emit::ProbeType;
use probeaddr::{ErrorKind, Linked, Location, Plan, ProbeDef, ProbeSpec, ResolveOptions};

use crate::flags::{Format, ListFormat, ResolveArgs, ResolveCmd, VarsCmd};
use crate::print::{self, report, Notes, Row};
use crate::setup::{self, Inputs, Setup};

/// The points of one run that resolved, with their locations, in order.
pub struct Resolved {
    pub setup: Setup,
    /// (probe point as given, its locations).
    pub points: Vec<(String, Vec<Location>)>,
}

/// The resolver's options for these flags.
pub fn options(args: &ResolveArgs) -> ResolveOptions {
    ResolveOptions {
        unique: args.unique,
        skip_prologue: args.skip_prologue,
        no_inlines: args.no_inlines,
        debug_dirs: args.debug_dirs.clone(),
        debuginfod: crate::setup::debuginfod(&args.debuginfod),
        check_build_id: !args.no_build_id_check,
        variables: None,
    }
}

/// Parse and resolve every point, reporting each failure; `Ok(None)` when
/// nothing could be set up. The second value is false if any point failed.
pub fn resolve_points(
    args: &ResolveArgs,
    process: bool,
    notes: &mut Notes,
) -> Result<(Option<Resolved>, bool)> {
    resolve_points_with(args, process, None, notes)
}

/// [`resolve_points`], listing each location's variables when `variables`
/// (`Some(true)`: the unit's globals too).
fn resolve_points_with(
    args: &ResolveArgs,
    process: bool,
    variables: Option<bool>,
    notes: &mut Notes,
) -> Result<(Option<Resolved>, bool)> {
    if args.points.is_empty() {
        report(&probeaddr::Error::new(
            ErrorKind::BadInput,
            "no probe points given",
        ));
        return Ok((None, false));
    }
    let mut ok = true;
    let mut specs = Vec::new();
    for text in &args.points {
        match ProbeSpec::parse(text) {
            Ok(s) => specs.push((text.clone(), s)),
            Err(e) => {
                report(&e);
                ok = false;
            }
        }
    }
    let setup = match setup::open(Inputs {
        kernel: Some(&args.kernel),
        exec: args.exec.clone(),
        vmlinux: None,
        modules: Vec::new(),
        module_dir: None,
        options: ResolveOptions {
            variables,
            ..options(args)
        },
        pid: args.pid.filter(|_| process),
        maps: args.maps.clone().filter(|_| process),
        kernel_work: specs
            .iter()
            .any(|(_, s)| !s.in_user_space(args.exec.is_some())),
        kernel_points: specs
            .iter()
            .filter(|(_, s)| !s.in_user_space(args.exec.is_some()))
            .map(|(_, s)| s.clone())
            .collect(),
    }) {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            return Ok((None, false));
        }
    };
    for n in &setup.notes {
        notes.note(n);
    }
    // A process that cannot be read fails its points once, not per location.
    if let Err(e) = setup.linker.check_process() {
        report(&e);
        ok = false;
        specs.retain(|(_, s)| !s.in_user_space(args.exec.is_some()));
    }
    let just_specs: Vec<ProbeSpec> = specs.iter().map(|(_, s)| s.clone()).collect();
    let what = match specs.as_slice() {
        [(text, _)] => format!("resolving '{text}'"),
        _ => format!("resolving {} probe points", specs.len()),
    };
    let progress = crate::progress::Progress::start(what);
    let results = setup.resolver.resolve_all(&just_specs);
    drop(progress);
    for n in setup.resolver.notes() {
        notes.note(&n);
    }
    let mut points = Vec::new();
    for ((text, _), result) in specs.into_iter().zip(results) {
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                report(&e);
                ok = false;
                continue;
            }
        };
        for n in &r.notes {
            notes.note(n);
        }
        for w in &r.warnings {
            notes.warn(w);
        }
        for l in &r.locations {
            for n in &l.notes {
                notes.about(l, n, "note");
            }
        }
        if r.locations.len() > MATCHES_LISTED {
            // A glob over a kernel: the count and how to see each.
            let inlined = r
                .locations
                .iter()
                .filter(|l| l.inlined_into.is_some())
                .count();
            notes.note(&format!(
                "'{text}' matches {} locations ({} out of line, {inlined} inlined sites); --format json gives each with the pin that selects it; add --unique to make this an error",
                r.locations.len(),
                r.locations.len() - inlined,
            ));
        } else if r.locations.len() > 1 {
            let listed: Vec<String> = r.locations.iter().map(Location::describe).collect();
            let pins: Vec<String> = r
                .pins()
                .into_iter()
                .flatten()
                .map(|p| format!("'{p}'"))
                .collect();
            notes.note(&format!(
                "'{text}' matches {} locations: {}{}; add --unique to make this an error",
                r.locations.len(),
                listed.join(", "),
                if pins.is_empty() {
                    String::new()
                } else {
                    format!("; pin one with {}", pins.join(", "))
                }
            ));
        }
        let mut locations = r.locations;
        for l in &mut locations {
            l.args.extend(args.args.iter().cloned());
        }
        points.push((text, locations));
    }
    notes.flush();
    Ok((Some(Resolved { setup, points }), ok))
}

/// A point with more locations than this is summarised in one note
/// (counts, and where the list and pins are) rather than listed.
const MATCHES_LISTED: usize = 16;

/// Link every location of every point; a point with a location that
/// cannot be linked (not mapped in the process) fails as a whole.
///
/// The points' locations move into the result (each is dropped once its
/// linked copy is made: a whole kernel's 200,000 are not held twice).
pub fn link_points(
    resolved: &mut Resolved,
    notes: &mut Notes,
) -> (Vec<(String, usize, Vec<Linked>)>, bool) {
    let mut ok = true;
    let mut out = Vec::new();
    'points: for (text, locs) in std::mem::take(&mut resolved.points) {
        let count = locs.len();
        let mut linked = Vec::new();
        // How many notes each had from the resolver (said already).
        let mut said = Vec::new();
        for l in locs {
            match resolved.setup.linker.link(&l) {
                Ok(x) => {
                    said.push(l.notes.len());
                    linked.push(x);
                }
                Err(e) => {
                    report(&e);
                    ok = false;
                    continue 'points;
                }
            }
        }
        for u in linked.iter().filter_map(|l| l.unlinked.as_deref()) {
            notes.note(u);
        }
        // What linking learnt (a live process's bound implementation of an
        // indirect function); the resolver's own notes were said already.
        for (l, said) in linked.iter().zip(said) {
            for n in l.location.notes.iter().skip(said) {
                notes.about(&l.location, n, "note");
            }
        }
        out.push((text, count, linked));
    }
    notes.flush();
    (out, ok)
}

/// `probeaddr resolve`.
pub fn resolve(cmd: &ResolveCmd, out: &mut dyn Write) -> Result<bool> {
    let args = &cmd.points;
    let group = match GroupName::new(&cmd.group) {
        Ok(g) => g,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let mut notes = Notes::default();
    let (resolved, mut ok) = resolve_points(args, true, &mut notes)?;
    let Some(mut resolved) = resolved else {
        return Ok(false);
    };
    if cmd.format == Format::Plan {
        let (plan, plan_ok) = plan_of(&resolved);
        writeln!(out, "{}", plan.to_json())?;
        return Ok(ok && plan_ok);
    }
    let (points, link_ok) = link_points(&mut resolved, &mut notes);
    ok &= link_ok;
    let linked: Vec<&Linked> = points.iter().flat_map(|p| &p.2).collect();
    let locations: Vec<&Location> = linked.iter().map(|l| &l.location).collect();
    let events = name_events(&locations, &mut EventNamer::new());
    let form = setup::form(cmd.form);
    let lines: Vec<Result<String, String>> = linked
        .iter()
        .zip(&events)
        .map(|(l, ev)| {
            ProbeDef::new(l, ev, form)
                .map(|d| d.line(&group))
                .map_err(|e| e.to_string())
        })
        .collect();
    // Probe definitions are all or nothing: `>> uprobe_events` must never
    // register half a batch.
    let mut defs: Vec<String> = Vec::new();
    match cmd.format {
        Format::Uprobe | Format::Kprobe => {
            let want = if cmd.format == Format::Kprobe {
                ProbeType::Kprobe
            } else {
                ProbeType::Uprobe
            };
            let mut other = false;
            for (l, line) in linked.iter().zip(&lines) {
                if l.location.object.is_kernel() != (want == ProbeType::Kprobe) {
                    other = true;
                    continue;
                }
                match line {
                    Ok(line) => defs.push(line.clone()),
                    Err(e) => {
                        notes.about(&l.location, e, "error");
                        ok = false;
                    }
                }
            }
            if other {
                match want {
                    ProbeType::Kprobe => eprintln!("probeaddr: error: --format kprobe is for kernel probe points; use --format uprobe with -x"),
                    ProbeType::Uprobe => eprintln!("probeaddr: error: --format uprobe is for user-space probe points; use --format kprobe"),
                }
                ok = false;
            }
        }
        Format::Bpftrace => {
            for l in &linked {
                match probeaddr::bpftrace_probe(l) {
                    Ok(spec) => defs.push(spec.to_string()),
                    Err(e) => {
                        eprintln!("probeaddr: error: {e}");
                        ok = false;
                    }
                }
            }
            if linked.iter().any(|l| !l.location.args.is_empty()) {
                notes.note("bpftrace specs carry no fetch arguments: bpftrace reads arg0…, retval and registers itself");
            }
        }
        Format::Json => {
            let mut entries = Vec::new();
            let mut i = 0;
            for (_, matches, ls) in &points {
                let locs: Vec<Location> = ls.iter().map(|l| l.location.clone()).collect();
                let pins = if *matches > 1 {
                    probeaddr::pins(&locs)
                } else {
                    vec![None; locs.len()]
                };
                for (l, pin) in ls.iter().zip(pins) {
                    entries.push(Entry::new(l, *matches, pin, &events[i], lines[i].clone()));
                    i += 1;
                }
            }
            print::json(out, &Document::new(entries))?;
        }
        Format::Table => {
            let rows: Vec<Row<'_>> = linked
                .iter()
                .zip(&lines)
                .map(|(l, d)| Row {
                    linked: l,
                    probe: d.as_deref().ok(),
                })
                .collect();
            print::locations_table(out, &rows, args.pid.is_some() || args.maps.is_some())?;
            for (l, d) in linked.iter().zip(&lines) {
                if let (Err(e), true) = (d, print::is_probe(&l.location)) {
                    let kind = if l.location.object.is_kernel() {
                        "kprobe"
                    } else {
                        "uprobe"
                    };
                    // The library's reasons already say so.
                    let e = e.to_string();
                    if e.contains("no probe definition") {
                        notes.about(&l.location, &e, "warning");
                    } else {
                        notes.about(
                            &l.location,
                            &format!("no {kind} definition: {e}"),
                            "warning",
                        );
                    }
                }
            }
        }
        Format::Plan => unreachable!("handled above"),
    }
    if ok || cmd.keep_going {
        for d in &defs {
            writeln!(out, "{d}")?;
        }
    } else if !defs.is_empty() {
        eprintln!(
            "probeaddr: error: no probe definition printed ({} resolved, but not every point did: all or nothing, so that `>> uprobe_events` never registers half a batch); --keep-going prints those",
            defs.len()
        );
    }
    Ok(ok)
}

/// The plan of what resolved: every location but data ones (a data
/// location is a fetch argument, not a probe).
pub fn plan_of(resolved: &Resolved) -> (Plan, bool) {
    let mut ok = true;
    let mut locations = Vec::new();
    for l in resolved.points.iter().flat_map(|p| &p.1) {
        if !print::is_probe(l) {
            eprintln!("probeaddr: error: {}: a data location is a fetch argument, not a probe; it cannot go into a plan", l.symbol);
            ok = false;
            continue;
        }
        locations.push(l.clone());
    }
    (Plan::new(locations), ok)
}

/// `probeaddr plan`: the plan, printed only if every point resolved.
pub fn plan(args: &ResolveArgs, out: &mut dyn Write) -> Result<bool> {
    let mut notes = Notes::default();
    let (resolved, ok) = resolve_points(args, false, &mut notes)?;
    let Some(resolved) = resolved else {
        return Ok(false);
    };
    let (plan, plan_ok) = plan_of(&resolved);
    if ok && plan_ok {
        writeln!(out, "{}", plan.to_json())?;
    }
    Ok(ok && plan_ok)
}

/// `probeaddr vars`: each location of each point, then its variables
/// (`int n  %di:s32`, or why it cannot be read there); `--format json`
/// gives the locations with their `variables`.
pub fn vars(cmd: &VarsCmd, out: &mut dyn Write) -> Result<bool> {
    let mut notes = Notes::default();
    let (resolved, ok) = resolve_points_with(&cmd.points, false, Some(cmd.externs), &mut notes)?;
    let Some(resolved) = resolved else {
        return Ok(false);
    };
    if cmd.format == ListFormat::Json {
        let all: Vec<&Location> = resolved.points.iter().flat_map(|(_, l)| l).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(ok);
    }
    for (text, locs) in &resolved.points {
        for l in locs {
            writeln!(out, "Available variables at {} ('{text}')", l.describe())?;
            let width = l
                .variables
                .iter()
                .map(|v| v.type_name.len())
                .max()
                .unwrap_or(0);
            for v in &l.variables {
                let how = match (&v.fetch, &v.unavailable) {
                    (Some(f), _) => f.clone(),
                    (None, Some(why)) => format!("(cannot be read: {why})"),
                    (None, None) => String::new(),
                };
                writeln!(out, "\t{:width$}  {}\t{how}", v.type_name, v.name)?;
            }
            if l.variables.is_empty() {
                writeln!(out, "\t(no variables: no DWARF describes this place)")?;
            }
        }
    }
    Ok(ok)
}
