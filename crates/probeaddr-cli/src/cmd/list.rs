//! `probeaddr list` and `probeaddr lines`: what DWARF says about a function.

use std::io::Write;

use anyhow::Result;
use probeaddr::{ProbeSpec, ResolveOptions, Resolver};

use crate::flags::{ListArgs, ListFormat};
use crate::print::{self, report, Notes};
use crate::setup::{self, Inputs};

fn open(args: &ListArgs) -> Result<(ProbeSpec, Resolver), probeaddr::Error> {
    let spec = ProbeSpec::parse(&args.point)?;
    let setup = setup::open(Inputs {
        exec: args.exec.clone(),
        vmlinux: args.vmlinux.clone(),
        options: ResolveOptions {
            debug_dirs: args.debug_dirs.clone(),
            debuginfod: args.debuginfod.clone(),
            ..ResolveOptions::default()
        },
        ..Inputs::default()
    })?;
    Ok((spec, setup.resolver))
}

/// `probeaddr list`.
pub fn list(args: &ListArgs, out: &mut dyn Write) -> Result<bool> {
    let (functions, warnings) = match open(args).and_then(|(spec, r)| r.list(&spec)) {
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
                writeln!(
                    out,
                    "<{}@{}> entry {}",
                    f.symbol,
                    f.file.as_deref().unwrap_or("-"),
                    f.entry
                )?;
                for l in &f.lines {
                    writeln!(
                        out,
                        "  {:>4}  {:>6}  {}+{:#x}  {}",
                        l.relative.map_or(String::new(), |r| r.to_string()),
                        l.line,
                        f.symbol,
                        l.offset,
                        l.file
                    )?;
                }
            }
        }
    }
    Ok(true)
}
