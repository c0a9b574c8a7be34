//! `probeaddr list` and `probeaddr lines`: what DWARF says about a function.

use std::io::Write;

use anyhow::Result;
use probeaddr::kernel::Vmlinux;
use probeaddr::object::AnalysedObject;
use probeaddr::resolve::UserObject;
use probeaddr::sources::debuginfo::DebugSearch;
use probeaddr::spec::{Point, ProbeSpec, Target};
use probeaddr::{Error, ErrorKind, LinkAddr};

use crate::args::{ListArgs, ListFormat};
use crate::output::{hex, report};

enum Opened {
    User(UserObject),
    Kernel(Vmlinux),
}

impl Opened {
    fn obj(&self) -> &AnalysedObject {
        match self {
            Opened::User(u) => u.analysed(),
            Opened::Kernel(k) => k.analysed(),
        }
    }
}

fn open(args: &ListArgs) -> Result<(ProbeSpec, Opened), Error> {
    let spec = ProbeSpec::parse(&args.point)?;
    let mut search = DebugSearch::default();
    search.dirs.splice(0..0, args.debug_dirs.iter().cloned());
    search.debuginfod = probeaddr::sources::debuginfod::Debuginfod::from_env(&args.debuginfod);
    let opened = match (&spec.target, &args.exec, &args.vmlinux) {
        (Target::Process(Some(p)), _, _) => Opened::User(UserObject::open(p, &search)?),
        (Target::Process(None), Some(x), _) => Opened::User(UserObject::open(x, &search)?),
        (Target::Kernel | Target::Process(None), None, Some(k)) => {
            Opened::Kernel(Vmlinux::open(k, &search)?)
        }
        _ => {
            return Err(Error::new(
                ErrorKind::BadInput,
                format!(
                    "'{spec}': give the object: -x PATH for user space, -k VMLINUX for the kernel"
                ),
            ))
        }
    };
    Ok((spec, opened))
}

fn function_of(
    spec: &ProbeSpec,
) -> Result<(&probeaddr::spec::Pattern, Option<&probeaddr::spec::Pattern>), Error> {
    match &spec.point {
        Point::Function {
            func,
            file,
            offset: 0,
            line: None,
        } => Ok((func, file.as_ref())),
        _ => Err(Error::new(
            ErrorKind::BadInput,
            format!("'{spec}': list and lines take a function (FUNC[@SRC])"),
        )),
    }
}

/// `probeaddr list`.
pub fn list(args: &ListArgs, out: &mut dyn Write) -> Result<bool> {
    let (spec, opened) = match open(args) {
        Ok(x) => x,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let obj = opened.obj();
    let run = || -> Result<Vec<serde_json::Value>, Error> {
        let (func, file) = function_of(&spec)?;
        let copies = obj.match_functions(func, file)?;
        let inlined = obj.match_inlined(func, file, &copies)?;
        if copies.is_empty() && inlined.is_empty() {
            return Err(obj.not_found(&spec, func, file));
        }
        let cu = obj.compile_units();
        let mut v = Vec::new();
        for m in &copies {
            let sp = cu.and_then(|c| c.subprogram_at(m.sym.addr));
            let sites: Vec<serde_json::Value> = inlined
                .iter()
                .filter(|i| i.name == probeaddr::index::split_variant(&m.name).0)
                .map(|i| {
                    serde_json::json!({
                        "address": hex(i.host.sym.addr.get() + i.offset),
                        "in": format!("{}+{:#x}", i.host.name, i.offset),
                        "caller": i.caller,
                        "file": i.host.file.as_ref().map(|f| f.shown.clone()),
                    })
                })
                .collect();
            v.push(serde_json::json!({
                "symbol": m.name,
                "file": m.file.as_ref().map(|f| f.shown.clone()),
                "decl_file": sp.as_ref().and_then(|s| s.decl_file_rel.clone()),
                "decl_line": sp.as_ref().and_then(|s| s.decl_line),
                "entry": hex(m.sym.addr.get()),
                "size": m.sym.size,
                "binding": m.sym.binding,
                "inlined_sites": sites,
            }));
        }
        // Inlined copies of functions with no out-of-line copy.
        for i in &inlined {
            if copies
                .iter()
                .any(|m| probeaddr::index::split_variant(&m.name).0 == i.name)
            {
                continue;
            }
            v.push(serde_json::json!({
                "symbol": i.name,
                "file": i.decl_file,
                "decl_file": i.decl_file,
                "decl_line": null,
                "entry": null,
                "size": null,
                "binding": null,
                "inlined_sites": [serde_json::json!({
                    "address": hex(i.host.sym.addr.get() + i.offset),
                    "in": format!("{}+{:#x}", i.host.name, i.offset),
                    "caller": i.caller,
                    "file": i.host.file.as_ref().map(|f| f.shown.clone()),
                })],
            }));
        }
        Ok(v)
    };
    let v = match run() {
        Ok(v) => v,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    if obj.dwarf_chain_cut() {
        eprintln!(
            "probeaddr: warning: {}: DWARF has a DW_AT_abstract_origin/DW_AT_specification chain that does not end (a cycle); it was cut after 8 links and the functions it names are left out",
            obj.elf().path().display()
        );
    }
    match args.format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            for f in &v {
                let decl = match (f["decl_file"].as_str(), f["decl_line"].as_u64()) {
                    (Some(df), Some(l)) => format!("{df}:{l}"),
                    (Some(df), None) => df.to_string(),
                    _ => f["file"].as_str().unwrap_or("-").to_string(),
                };
                match f["entry"].as_str() {
                    Some(e) => writeln!(
                        out,
                        "{} [{}] at {decl}: entry {e}, {} bytes",
                        f["symbol"].as_str().unwrap_or("?"),
                        f["file"].as_str().unwrap_or("-"),
                        f["size"]
                    )?,
                    None => writeln!(
                        out,
                        "{} at {decl}: no out-of-line copy",
                        f["symbol"].as_str().unwrap_or("?")
                    )?,
                }
                for s in f["inlined_sites"].as_array().into_iter().flatten() {
                    writeln!(
                        out,
                        "    inlined into {} at {} ({}) [{}]",
                        s["caller"].as_str().unwrap_or("?"),
                        s["address"].as_str().unwrap_or("?"),
                        s["in"].as_str().unwrap_or("?"),
                        s["file"].as_str().unwrap_or("-")
                    )?;
                }
            }
        }
    }
    Ok(true)
}

/// `probeaddr lines`.
pub fn lines(args: &ListArgs, out: &mut dyn Write) -> Result<bool> {
    let (spec, opened) = match open(args) {
        Ok(x) => x,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let obj = opened.obj();
    let run = || -> Result<Vec<serde_json::Value>, Error> {
        let (func, file) = function_of(&spec)?;
        let copies = obj.match_functions(func, file)?;
        if copies.is_empty() {
            return Err(obj.not_found(&spec, func, file));
        }
        let cu = obj.compile_units().ok_or_else(|| {
            Error::new(
                ErrorKind::NoSymbols,
                "no DWARF: source lines need .debug_info (install debug info or build with -g)",
            )
            .with_path(obj.elf().path())
        })?;
        let mut v = Vec::new();
        for m in &copies {
            let Some((sp, lines)) =
                probeaddr::lines::function_lines(cu, LinkAddr(m.sym.addr.get()))
            else {
                continue;
            };
            v.push(serde_json::json!({
                "symbol": m.name,
                "file": m.file.as_ref().map(|f| f.shown.clone()),
                "decl_line": sp.decl_line,
                "entry": hex(m.sym.addr.get()),
                "lines": lines.iter().map(|l| serde_json::json!({
                    "file": l.file,
                    "line": l.line,
                    "relative": sp.decl_line.map(|d| l.line as i64 - d as i64),
                    "address": hex(l.addr),
                    "offset": hex(l.addr - m.sym.addr.get()),
                })).collect::<Vec<_>>(),
            }));
        }
        Ok(v)
    };
    let v = match run() {
        Ok(v) => v,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    match args.format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            for f in &v {
                writeln!(
                    out,
                    "<{}@{}> entry {}",
                    f["symbol"].as_str().unwrap_or("?"),
                    f["file"].as_str().unwrap_or("-"),
                    f["entry"].as_str().unwrap_or("?")
                )?;
                for l in f["lines"].as_array().into_iter().flatten() {
                    writeln!(
                        out,
                        "  {:>4}  {:>6}  {}+{}  {}",
                        l["relative"]
                            .as_i64()
                            .map_or(String::new(), |r| r.to_string()),
                        l["line"],
                        f["symbol"].as_str().unwrap_or("?"),
                        l["offset"].as_str().unwrap_or("?"),
                        l["file"].as_str().unwrap_or("")
                    )?;
                }
            }
        }
    }
    Ok(true)
}
