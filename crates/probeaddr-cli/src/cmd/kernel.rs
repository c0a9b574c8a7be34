//! `probeaddr dups` and `probeaddr symbolize`: the kernel's names, printed.

use std::io::{BufRead, Write};

use anyhow::Result;
use probeaddr::{ResolveOptions, RuntimeAddr};

use crate::flags::{DupsArgs, KernelFlags, ListFormat, SymbolizeArgs};
use crate::print::{self, hex, report, Notes};
use crate::setup::{self, Inputs, Setup};

fn kernel_setup(flags: &KernelFlags, check_build_id: bool, notes: &mut Notes) -> Option<Setup> {
    match setup::open(Inputs {
        kernel: Some(flags),
        options: ResolveOptions {
            check_build_id,
            ..ResolveOptions::default()
        },
        kernel_work: true,
        ..Inputs::default()
    }) {
        Ok(s) => {
            for n in &s.notes {
                notes.note(n);
            }
            Some(s)
        }
        Err(e) => {
            report(&e);
            None
        }
    }
}

/// `probeaddr dups`.
pub fn dups(args: &DupsArgs, out: &mut dyn Write) -> Result<bool> {
    let mut notes = Notes::default();
    let Some(setup) = kernel_setup(&args.kernel, !args.no_build_id_check, &mut notes) else {
        return Ok(false);
    };
    let progress = crate::progress::Progress::start("finding every ambiguous name".into());
    let groups = setup.resolver.duplicates(args.functions);
    drop(progress);
    let groups = match groups {
        Ok(g) => g,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let total: usize = groups.iter().map(|g| g.count).sum();
    match args.format {
        ListFormat::Json => {
            print::json(out, &groups)?;
        }
        ListFormat::Table => {
            writeln!(
                out,
                "{:<40} {:<18} T  {:<16} {:<40} PIN",
                "NAME", "ADDRESS", "MODULE", "FILE"
            )?;
            for g in &groups {
                for i in &g.instances {
                    let pin = i
                        .pin
                        .clone()
                        .or_else(|| i.text_form.clone())
                        .unwrap_or_else(|| "-".into());
                    writeln!(
                        out,
                        "{:<40} {:<18} {}  {:<16} {:<40} {}",
                        g.name,
                        hex(i.address.get()),
                        i.kind,
                        i.module.as_deref().unwrap_or("-"),
                        i.file.as_deref().unwrap_or("-"),
                        pin
                    )?;
                }
            }
        }
    }
    eprintln!(
        "probeaddr: {} ambiguous names covering {total} symbols",
        groups.len()
    );
    Ok(true)
}

/// `probeaddr symbolize`.
pub fn symbolize(args: &SymbolizeArgs, out: &mut dyn Write) -> Result<bool> {
    let mut notes = Notes::default();
    let Some(setup) = kernel_setup(&args.kernel, !args.no_build_id_check, &mut notes) else {
        return Ok(false);
    };
    let symbolizer = match setup.resolver.symbolizer() {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    for w in symbolizer.warnings() {
        notes.warn(w);
    }
    let mut ok = true;
    let mut one = |text: &str, out: &mut dyn Write| -> std::io::Result<()> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(());
        }
        let Some(a) = u64::from_str_radix(t.trim_start_matches("0x"), 16).ok() else {
            eprintln!("probeaddr: error: not a hexadecimal address: {t:?}");
            ok = false;
            return Ok(());
        };
        writeln!(out, "{}", symbolizer.symbolize(RuntimeAddr(a)))
    };
    if args.addrs.is_empty() {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            one(&line?, out)?;
        }
    } else {
        for a in &args.addrs {
            one(a, out)?;
        }
    }
    Ok(ok)
}
