//! `probeaddr resolve`: open objects, resolve every probe point, print.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use probeaddr::emit::event::{sanitize, EventNamer, GroupName};
use probeaddr::emit::uprobe;
use probeaddr::link::ProcessImage;
use probeaddr::resolve::{pin_for, Location, ResolveOptions, UserObject};
use probeaddr::sources::debuginfo::DebugSearch;
use probeaddr::sources::maps;
use probeaddr::spec::{ProbeKind, Target};
use probeaddr::{ErrorKind, ProbeSpec, RuntimeAddr};

use crate::args::{Format, ResolveArgs};
use probeaddr::plan::{Anchor, PlannedProbe};

/// One output row: a location with its event name and definitions.
struct Row {
    point: String,
    loc: Location,
    matches: usize,
    event: String,
    uprobe: Result<String, String>,
    runtime: Option<RuntimeAddr>,
}

/// Print a library error with its detail lines.
pub fn report(e: &probeaddr::Error) {
    eprintln!("probeaddr: error: {e}");
    if let Some(d) = e.detail() {
        eprintln!("{d}");
    }
}

/// Resolve all points; returns Ok(false) if any point failed (already reported).
/// User-space points (`-x`, `process(...)`) and kernel points are resolved
/// separately, each with its own output.
pub fn resolve(args: &ResolveArgs, out: &mut dyn Write) -> Result<bool> {
    let mut plan = Vec::new();
    let ok = resolve_collect(args, out, &mut plan)?;
    if args.format == Format::Plan {
        let p = probeaddr::plan::Plan {
            version: probeaddr::plan::PLAN_VERSION,
            probes: plan,
        };
        serde_json::to_writer_pretty(&mut *out, &p)?;
        writeln!(out)?;
    }
    Ok(ok)
}

/// Resolve, printing in `args.format`, or for `Format::Plan` adding the
/// planned probes to `plan`.
pub fn resolve_collect(
    args: &ResolveArgs,
    out: &mut dyn Write,
    plan: &mut Vec<PlannedProbe>,
) -> Result<bool> {
    if args.points.is_empty() {
        report(&probeaddr::Error::new(
            ErrorKind::BadInput,
            "no probe points given",
        ));
        return Ok(false);
    }
    let mut ok = true;
    let mut user = Vec::new();
    let mut kernel = Vec::new();
    for text in &args.points {
        match ProbeSpec::parse(text) {
            Ok(mut spec) => {
                let is_user = match &spec.target {
                    Target::Process(Some(_)) => true,
                    Target::Process(None) => args.exec.is_some(),
                    _ => false,
                };
                if is_user {
                    user.push((text.clone(), spec));
                } else {
                    if spec.target == Target::Process(None) {
                        // perf syntax without -x: the kernel, or the one module given.
                        spec.target = match (&args.kernel.vmlinux, args.kernel.modules.as_slice()) {
                            (None, [m]) => Target::Module(crate::kernel_cmd::module_name_of(m)),
                            _ => Target::Kernel,
                        };
                    }
                    kernel.push((text.clone(), spec));
                }
            }
            Err(e) => {
                report(&e);
                ok = false;
            }
        }
    }
    if !user.is_empty() {
        ok &= resolve_user(args, user, out, plan)?;
    }
    if !kernel.is_empty() {
        ok &= crate::kernel_cmd::resolve(args, kernel, out, plan)?;
    }
    Ok(ok)
}

fn resolve_user(
    args: &ResolveArgs,
    points: Vec<(String, ProbeSpec)>,
    out: &mut dyn Write,
    plan: &mut Vec<PlannedProbe>,
) -> Result<bool> {
    let group = match GroupName::new(&args.group) {
        Ok(g) => g,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let mut search = DebugSearch::default();
    search.dirs.splice(0..0, args.debug_dirs.iter().cloned());
    search.debuginfod = probeaddr::sources::debuginfod::Debuginfod::from_env(&args.debuginfod);
    search.check_build_id = !args.no_build_id_check;
    let opts = ResolveOptions {
        no_inlines: args.no_inlines,
        skip_prologue: args.skip_prologue,
        unique: args.unique,
    };

    let mut objects: HashMap<PathBuf, Result<UserObject, probeaddr::Error>> = HashMap::new();
    let mut images: HashMap<PathBuf, Result<ProcessImage, probeaddr::Error>> = HashMap::new();
    let maps_list = match (args.pid, &args.maps) {
        (Some(pid), _) => match maps::read_pid(pid) {
            Ok(m) => Some((m, format!("process {pid}"))),
            Err(e) => {
                report(&e);
                return Ok(false);
            }
        },
        (None, Some(f)) => {
            let text = match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => {
                    report(&probeaddr::Error::io(f, e));
                    return Ok(false);
                }
            };
            match maps::parse(&text, f) {
                Ok(m) => Some((m, format!("maps file {}", f.display()))),
                Err(e) => {
                    report(&e);
                    return Ok(false);
                }
            }
        }
        (None, None) => None,
    };

    let mut ok = true;
    let mut rows: Vec<Row> = Vec::new();
    let mut namer = EventNamer::new();
    for (text, spec) in &points {
        let spec = spec.clone();
        let path = match object_path(&spec, args.exec.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                report(&e);
                ok = false;
                continue;
            }
        };
        let obj = objects.entry(path.clone()).or_insert_with(|| {
            let o = UserObject::open(&path, &search);
            if let Ok(o) = &o {
                for n in o.notes() {
                    eprintln!("probeaddr: note: {n}");
                }
            }
            o
        });
        let obj = match obj {
            Ok(o) => &*o,
            Err(e) => {
                report(e);
                ok = false;
                continue;
            }
        };
        let locs = match obj.resolve(&spec, &opts) {
            Ok(l) => l,
            Err(e) => {
                report(&e);
                ok = false;
                continue;
            }
        };
        for l in &locs {
            if let Some(d) = &l.disagreement {
                eprintln!("probeaddr: note: {d}");
            }
        }
        if locs.len() > 1 {
            let listed: Vec<String> = locs
                .iter()
                .map(|l| {
                    let what = match &l.inlined_into {
                        Some(c) => format!(
                            "{} inlined into {c} at {}+{:#x}",
                            l.function, l.symbol, l.offset
                        ),
                        None => l.symbol.clone(),
                    };
                    match &l.file {
                        Some(f) => format!("{what} [{f}]"),
                        None => what,
                    }
                })
                .collect();
            let pins: Vec<String> = locs
                .iter()
                .filter_map(|l| pin_for(l, &locs))
                .map(|p| format!("'{p}'"))
                .collect();
            eprintln!(
                "probeaddr: note: '{text}' matches {} functions: {}{}; add --unique to make this an error",
                locs.len(),
                listed.join(", "),
                if pins.is_empty() { String::new() } else { format!("; pin one with {}", pins.join(", ")) }
            );
        }
        let image = match &maps_list {
            None => None,
            Some((m, describe)) => {
                let img = images
                    .entry(path.clone())
                    .or_insert_with(|| ProcessImage::new(&path, m, describe));
                match img {
                    Ok(i) => Some(&*i),
                    Err(e) => {
                        report(e);
                        ok = false;
                        continue;
                    }
                }
            }
        };
        let n = locs.len();
        let mut point_rows = Vec::new();
        let mut failed = false;
        for loc in &locs {
            let dup_name = locs
                .iter()
                .any(|o| o.symbol == loc.symbol && o.file != loc.file);
            let runtime = match image.map(|i| i.runtime_addr(loc.file_offset)).transpose() {
                Ok(r) => r,
                Err(e) => {
                    report(&e);
                    failed = true;
                    break;
                }
            };
            let event = namer.claim(&user_event_name(&spec, loc, dup_name));
            let uprobe = uprobe::uprobe_path(&loc.object)
                .and_then(|p| uprobe::definition(loc.kind, &group, &event, &p, loc.file_offset))
                .map_err(|e| e.to_string());
            point_rows.push(Row {
                point: text.clone(),
                loc: loc.clone(),
                matches: n,
                event,
                uprobe,
                runtime,
            });
        }
        if failed {
            ok = false;
            continue;
        }
        rows.extend(point_rows);
    }

    for (path, o) in &objects {
        if o.as_ref().is_ok_and(|o| o.analysed().dwarf_chain_cut()) {
            eprintln!(
                "probeaddr: warning: {}: DWARF has a DW_AT_abstract_origin/DW_AT_specification chain that does not end (a cycle); it was cut after 8 links and the functions it names are left out",
                path.display()
            );
        }
    }
    match args.format {
        Format::Kprobe => {
            eprintln!("probeaddr: error: --format kprobe is for kernel probe points; use --format uprobe with -x");
            ok = false;
        }
        Format::Plan => {
            for r in &rows {
                let l = &r.loc;
                let path = std::fs::canonicalize(&l.object).unwrap_or_else(|_| l.object.clone());
                // The object is open already: its build-id is at hand.
                let build_id = objects
                    .get(&l.object)
                    .and_then(|o| o.as_ref().ok())
                    .and_then(|o| o.elf().build_id())
                    .map(probeaddr::sources::elf::hex);
                plan.push(PlannedProbe {
                    event: r.event.clone(),
                    kind: l.kind,
                    point: r.point.clone(),
                    symbol: l.symbol.clone(),
                    offset: l.offset,
                    file: l.file.clone(),
                    inlined_into: l.inlined_into.clone(),
                    args: args.args.clone(),
                    anchor: Anchor::User {
                        path,
                        build_id,
                        file_offset: l.file_offset.get(),
                    },
                });
            }
        }
        Format::Uprobe => {
            for r in &rows {
                match &r.uprobe {
                    Ok(line) => writeln!(out, "{line}")?,
                    Err(e) => {
                        eprintln!("probeaddr: error: {e}");
                        ok = false;
                    }
                }
            }
        }
        Format::Json => {
            let v: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        Format::Table => {
            write_table(out, &rows, maps_list.is_some())?;
            if let Some(e) = rows.iter().find_map(|r| r.uprobe.as_ref().err()) {
                eprintln!("probeaddr: warning: no uprobe definition: {e}");
            }
        }
    }
    Ok(ok)
}

/// The object a probe point lives in: `process("PATH")` or `-x PATH`.
fn object_path(spec: &ProbeSpec, exec: Option<&Path>) -> Result<PathBuf, probeaddr::Error> {
    match (&spec.target, exec) {
        (Target::Process(Some(p)), Some(x)) => {
            let same = match (std::fs::canonicalize(p), std::fs::canonicalize(x)) {
                (Ok(a), Ok(b)) => a == b,
                _ => p == x,
            };
            if !same {
                return Err(probeaddr::Error::new(
                    ErrorKind::BadInput,
                    format!("'{spec}' names {} but -x names {}; give one object", p.display(), x.display()),
                ));
            }
            Ok(p.clone())
        }
        (Target::Process(Some(p)), None) => Ok(p.clone()),
        (Target::Process(None), Some(x)) => Ok(x.to_path_buf()),
        (Target::Process(None), None) => Err(probeaddr::Error::new(
            ErrorKind::BadInput,
            format!("'{spec}' names no object: give -x PATH, or write process(\"PATH\").function(\"...\")"),
        )),
        (_, _) => Err(probeaddr::Error::new(
            ErrorKind::NotImplemented,
            format!("'{spec}' is a kernel probe point; kernel and module probe points are not supported yet"),
        )),
    }
}

/// What names an event: the parts of a location event names are made of.
pub struct EventParts<'a> {
    pub symbol: &'a str,
    pub function: &'a str,
    pub file: Option<&'a str>,
    pub offset: u64,
    pub line: Option<u64>,
    pub kind: ProbeKind,
    pub inlined: bool,
}

/// `helper`, `helper_b_c` for one of several `helper`s (`dup`),
/// `helper_0x4`, `main_L22`, `check_in_main`, `helper__return`; or the
/// user's `EVENT=` name. Shared by user-space and kernel locations.
pub fn event_name(spec: &ProbeSpec, l: &EventParts<'_>, dup: bool) -> String {
    if let Some(e) = &spec.event {
        return e.clone();
    }
    let mut name = if l.inlined {
        format!("{}_in_{}", sanitize(l.function), sanitize(l.symbol))
    } else {
        sanitize(l.symbol)
    };
    if let (true, Some(f)) = (dup, l.file) {
        name.push('_');
        name.push_str(&sanitize(f));
    }
    if let Some(line) = l.line {
        // perf's convention: the line as the user wrote it (FUNC:N -> _LN).
        let shown = match &spec.point {
            probeaddr::spec::Point::Function {
                line: Some(probeaddr::spec::LineSpec::Relative(n)),
                ..
            } => u64::from(*n),
            _ => line,
        };
        name.push_str(&format!("_L{shown}"));
    } else if l.offset > 0 {
        name.push_str(&format!("_{:#x}", l.offset));
    }
    if l.kind == ProbeKind::Return {
        name.push_str("__return");
    }
    name
}

fn user_event_name(spec: &ProbeSpec, loc: &Location, dup: bool) -> String {
    event_name(
        spec,
        &EventParts {
            symbol: &loc.symbol,
            function: &loc.function,
            file: loc.file.as_deref(),
            offset: loc.offset,
            line: loc.line.as_ref().map(|l| l.1),
            kind: loc.kind,
            inlined: loc.inlined_into.is_some(),
        },
        dup,
    )
}

pub fn hex(v: u64) -> String {
    format!("{v:#x}")
}

fn row_json(r: &Row) -> serde_json::Value {
    let l = &r.loc;
    serde_json::json!({
        "point": r.point,
        "matches": r.matches,
        "object": l.object,
        "symbol": l.symbol,
        "function": l.function,
        "variant": l.variant,
        "file": l.file,
        "decl_file": l.decl_file,
        "inlined_into": l.inlined_into,
        "disagreement": l.disagreement,
        "binding": l.binding,
        "table": l.table,
        "aliases": l.aliases,
        "func_addr": hex(l.func_addr.get()),
        "offset": hex(l.offset),
        "link_addr": hex(l.addr.get()),
        "size": l.size,
        "file_offset": hex(l.file_offset.get()),
        "runtime_addr": r.runtime.map(|a| hex(a.get())),
        "kind": match l.kind { ProbeKind::Entry => "entry", ProbeKind::Return => "return" },
        "line": l.line.as_ref().map(|(f, n)| serde_json::json!({"file": f, "line": n})),
        "event": r.event,
        "uprobe": r.uprobe.as_ref().ok(),
    })
}

fn write_table(out: &mut dyn Write, rows: &[Row], runtime: bool) -> std::io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut head = vec!["OBJECT", "SYMBOL", "FILE", "LINK_ADDR", "SIZE", "FILE_OFF"];
    if runtime {
        head.push("RUNTIME_ADDR");
    }
    head.push("UPROBE");
    let mut cells: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        let l = &r.loc;
        let mut sym = l.symbol.clone();
        if l.offset > 0 {
            sym.push_str(&format!("+{:#x}", l.offset));
        }
        if l.kind == ProbeKind::Return {
            sym.push_str("%return");
        }
        if let Some(c) = &l.inlined_into {
            sym = format!("{} (inlined into {c}) {sym}", l.function);
        }
        if l.variant == probeaddr::index::Variant::Clone && l.inlined_into.is_none() {
            sym.push_str(" (clone)");
        }
        let mut row = vec![
            l.object.display().to_string(),
            sym,
            match (&l.line, &l.decl_file) {
                (Some((f, n)), _) => format!("{f}:{n}"),
                (None, Some(d)) if l.file.as_deref() != Some(d.as_str()) => {
                    format!("{} ({d})", l.file.as_deref().unwrap_or("-"))
                }
                (None, _) if l.file.is_none() => "-".into(),
                (None, _) => l.file.clone().unwrap_or_default(),
            },
            hex(l.addr.get()),
            l.size.to_string(),
            hex(l.file_offset.get()),
        ];
        if runtime {
            row.push(r.runtime.map_or("-".into(), |a| hex(a.get())));
        }
        row.push(r.uprobe.clone().unwrap_or_else(|_| "-".into()));
        cells.push(row);
    }
    print_cells(out, &cells)
}

/// Print rows of cells as aligned columns (the last column unpadded).
pub fn print_cells(out: &mut dyn Write, cells: &[Vec<String>]) -> std::io::Result<()> {
    let Some(first) = cells.first() else {
        return Ok(());
    };
    let ncol = first.len();
    let widths: Vec<usize> = (0..ncol)
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in cells {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == ncol {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
