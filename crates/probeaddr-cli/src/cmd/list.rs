//! `probeaddr list` and `probeaddr lines`: what DWARF says about a function.

use std::io::Write;

use anyhow::Result;
use probeaddr::{ProbeSpec, ResolveOptions, Resolver};

use crate::flags::{ListArgs, ListFormat};
use crate::print::{self, report, Notes};
use crate::setup::{self, Inputs};

fn open(args: &ListArgs) -> Result<(ProbeSpec, Resolver), probeaddr::Error> {
    let point = match (&args.point, args.usdt) {
        (Some(p), false) => p.clone(),
        (Some(p), true) => format!("%{}", p.trim_start_matches('%')),
        (None, _) => "%*:*".to_string(),
    };
    let spec = ProbeSpec::parse(&point)?;
    let setup = setup::open(Inputs {
        exec: args.exec.clone(),
        vmlinux: args.vmlinux.clone(),
        modules: args.modules.clone(),
        module_dir: args.module_dir.clone(),
        options: ResolveOptions {
            debug_dirs: args.debug_dirs.clone(),
            debuginfod: crate::setup::debuginfod(&args.debuginfod),
            ..ResolveOptions::default()
        },
        ..Inputs::default()
    })?;
    Ok((spec, setup.resolver))
}

/// `probeaddr list --usdt`: every marker of the file that matches.
fn markers(args: &ListArgs, out: &mut dyn Write) -> Result<bool> {
    let found = match open(args).and_then(|(spec, r)| r.resolve(&spec)) {
        Ok(x) => x,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let locs: Vec<&probeaddr::Location> = found.locations.iter().collect();
    match args.format {
        ListFormat::Json => print::json(
            out,
            &locs
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "marker": l.marker, "addr": l.addr, "anchor": l.anchor,
                        "location": l.describe(), "args": l.args,
                    })
                })
                .collect::<Vec<_>>(),
        )?,
        ListFormat::Table => {
            let mut cells = vec![[
                "PROVIDER",
                "NAME",
                "ADDR",
                "FILE_OFFSET",
                "SEMAPHORE",
                "ARGS",
                "IN",
            ]
            .map(String::from)
            .to_vec()];
            for l in &locs {
                let Some(m) = &l.marker else { continue };
                cells.push(vec![
                    m.provider.clone(),
                    m.name.clone(),
                    l.addr.to_string(),
                    match &l.anchor {
                        probeaddr::Anchor::File { offset } => offset.to_string(),
                        a => a.to_string(),
                    },
                    m.semaphore.map_or("-".into(), |s| s.to_string()),
                    m.args.clone(),
                    format!("{}+{:#x}", l.symbol, l.offset),
                ]);
            }
            print::print_cells(out, &cells)?;
        }
    }
    Ok(true)
}

/// `probeaddr list`.
pub fn list(args: &ListArgs, out: &mut dyn Write) -> Result<bool> {
    if args.usdt {
        return markers(args, out);
    }
    let progress = crate::progress::Progress::start("listing every instance".into());
    let listed = open(args).and_then(|(spec, r)| r.list(&spec));
    drop(progress);
    let (functions, warnings) = match listed {
        Ok(x) => x,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let mut notes = Notes::default();
    for w in &warnings {
        notes.warn(w);
    }
    match args.format {
        ListFormat::Json => {
            print::json(out, &functions)?;
        }
        ListFormat::Table => {
            for f in &functions {
                let decl = match (&f.decl_file, f.decl_line) {
                    (Some(df), Some(l)) => format!("{df}:{l}"),
                    (Some(df), None) => df.clone(),
                    _ => f.file.clone().unwrap_or_else(|| "-".into()),
                };
                match f.entry {
                    Some(e) => writeln!(
                        out,
                        "{} [{}] at {decl}: entry {e}, {} bytes",
                        f.symbol,
                        f.file.as_deref().unwrap_or("-"),
                        f.size.unwrap_or(0)
                    )?,
                    None => writeln!(out, "{} at {decl}: no out-of-line copy", f.symbol)?,
                }
                for s in &f.inlined_sites {
                    writeln!(
                        out,
                        "    inlined into {} at {} ({}) [{}]",
                        s.caller.as_deref().unwrap_or("?"),
                        s.address,
                        s.within,
                        s.file.as_deref().unwrap_or("-")
                    )?;
                }
            }
        }
    }
    Ok(true)
}

/// `probeaddr lines`.
pub fn lines(args: &ListArgs, out: &mut dyn Write) -> Result<bool> {
    let functions = match open(args).and_then(|(spec, r)| r.lines(&spec)) {
        Ok(x) => x,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    match args.format {
        ListFormat::Json => {
            print::json(out, &functions)?;
        }
        ListFormat::Table => {
            for f in &functions {
                print_lines(f, out)?;
            }
        }
    }
    Ok(true)
}

/// One copy in `perf probe -L`'s shape: the declaration file's lines
/// counted from the declaration line (`FUNC:N`), with the source text
/// when the file is readable here, then other files' lines inlined into it.
fn print_lines(f: &probeaddr::resolve::FunctionLines, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "<{}@{}:{}> entry {}{}",
        f.symbol,
        f.decl_file.as_deref().or(f.file.as_deref()).unwrap_or("-"),
        f.decl_line.map_or("?".to_string(), |l| l.to_string()),
        f.entry,
        match (&f.file, &f.decl_file) {
            (Some(u), Some(d)) if !u.ends_with(d.as_str()) && !d.ends_with(u.as_str()) =>
                format!(" (compiled in {u})"),
            _ => String::new(),
        }
    )?;
    let own: Vec<&probeaddr::resolve::LineEntry> = f.lines.iter().filter(|l| !l.inlined).collect();
    let place =
        |l: &probeaddr::resolve::LineEntry| format!("{}  {}+{:#x}", l.address, l.symbol, l.offset);
    // The source, when it is here: every line from the declaration to the
    // last line with code, numbered where a probe can go (as perf does).
    let text = f
        .decl_path
        .as_deref()
        .filter(|p| p.starts_with('/') && std::path::Path::new(p).is_file())
        .and_then(|p| std::fs::read(p).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    match (text, f.decl_line, own.iter().map(|l| l.line).max()) {
        (Some(text), Some(decl), Some(last)) => {
            let src: Vec<&str> = text.lines().collect();
            for n in decl..=last {
                let code = own.iter().find(|l| l.line == n);
                let line = src.get(n as usize - 1).copied().unwrap_or("");
                match code {
                    Some(l) => writeln!(out, "  {:>5}  {:<40}  {}", n - decl, place(l), line)?,
                    None => writeln!(out, "  {:>5}  {:<40}  {}", "", "", line)?,
                }
            }
        }
        _ => {
            for l in &own {
                writeln!(
                    out,
                    "  {:>5}  {:<40}  {}:{}",
                    l.relative.map_or(String::new(), |r| r.to_string()),
                    place(l),
                    l.file,
                    l.line
                )?;
            }
        }
    }
    let mut file: Option<&str> = None;
    for l in f.lines.iter().filter(|l| l.inlined) {
        if file != Some(&l.file) {
            writeln!(out, "  inlined from {}:", l.file)?;
            file = Some(&l.file);
        }
        writeln!(out, "  {:>5}  {}", l.line, place(l))?;
    }
    Ok(())
}
