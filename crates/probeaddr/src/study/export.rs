//! The proposals as usable artifacts: a kallsyms listing whose local names
//! carry `file|` prefixes (Bottomley 2008), or probeaddr's side table, and
//! the reader that turns either back into a symbol list with files, so that
//! a machine with only this small file (not the debug vmlinux) resolves
//! `init_once@fs/proc/inode.c` and links it against its live kallsyms.
//!
//! Formats (text, one record a line, `#` lines are comments):
//!
//! ```text
//! # probeaddr kallsyms-export bottomley v1 build-id HEX
//! ffffffff813ea470 t fs/proc/inode.c|init_once
//!
//! # probeaddr kallsyms-export sidetable v1 build-id HEX
//! text ffffffff81000000
//! file 7 fs/proc/inode.c
//! run ffffffff813ea400 7        (locals from here on are in file 7 …)
//! run ffffffff813eb000 -        (… until the next run; '-' = no file)
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::object::AnalysedObject;
use crate::sources::elf::hex;
use crate::sources::kallsyms::Kallsyms;
use crate::study::cost::{kallsyms_entries, Selection};

/// Which artifact to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `path|name` on every local.
    Bottomley,
    /// probeaddr's side table.
    Sidetable,
}

/// Write the export of a vmlinux (`obj`).
pub fn export(obj: &AnalysedObject, scheme: Scheme, out: &mut dyn Write) -> Result<()> {
    let entries = kallsyms_entries(obj, Selection::All)?;
    let id = obj
        .elf()
        .build_id()
        .map(hex)
        .unwrap_or_else(|| "none".into());
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("writing the export: {e}"));
    let file_of = |e: &crate::study::cost::KallsymsEntry| {
        if e.local {
            e.path.clone().or_else(|| e.base.clone())
        } else {
            None
        }
    };
    match scheme {
        Scheme::Bottomley => {
            writeln!(
                out,
                "# probeaddr kallsyms-export bottomley v1 build-id {id}"
            )
            .map_err(io)?;
            for e in &entries {
                match file_of(e) {
                    Some(f) => writeln!(out, "{:016x} {} {f}|{}", e.addr, e.kind as char, e.name),
                    None => writeln!(out, "{:016x} {} {}", e.addr, e.kind as char, e.name),
                }
                .map_err(io)?;
            }
        }
        Scheme::Sidetable => {
            writeln!(
                out,
                "# probeaddr kallsyms-export sidetable v1 build-id {id}"
            )
            .map_err(io)?;
            let text = entries
                .iter()
                .find(|e| e.name == "_text")
                .ok_or_else(|| {
                    Error::new(ErrorKind::Unsupported, "no _text symbol")
                        .with_path(obj.elf().path())
                })?
                .addr;
            writeln!(out, "text {text:016x}").map_err(io)?;
            let mut ids: HashMap<String, usize> = HashMap::new();
            let mut files = Vec::new();
            for e in &entries {
                if let Some(f) = file_of(e) {
                    if !ids.contains_key(&f) {
                        ids.insert(f.clone(), files.len());
                        files.push(f);
                    }
                }
            }
            for (i, f) in files.iter().enumerate() {
                writeln!(out, "file {i} {f}").map_err(io)?;
            }
            let mut last: Option<Option<usize>> = None;
            for e in &entries {
                let f = file_of(e).map(|f| ids[&f]);
                if last != Some(f) {
                    match f {
                        Some(i) => writeln!(out, "run {:016x} {i}", e.addr),
                        None => writeln!(out, "run {:016x} -", e.addr),
                    }
                    .map_err(io)?;
                    last = Some(f);
                }
            }
        }
    }
    Ok(())
}

/// A symbol list read from an export: link-time addresses, local names with
/// their files, and the build-id it was made from.
#[derive(Debug)]
pub struct Imported {
    /// The symbols (link-time addresses, like a System.map).
    pub symbols: Kallsyms,
    /// Build-id of the vmlinux the export was made from.
    pub build_id: Option<String>,
}

/// Read an export. A side table needs the names and runtime addresses of
/// the running kernel (`live`); a bottomley listing stands alone.
pub fn import(path: &Path, live: Option<&Kallsyms>) -> Result<Imported> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let first = text.lines().next().unwrap_or("");
    let build_id = first
        .split_once(" build-id ")
        .map(|(_, id)| id.trim().to_string())
        .filter(|id| id != "none");
    let bad = |n: usize, what: &str| {
        Error::new(ErrorKind::BadInput, format!("line {n}: {what}")).with_path(path)
    };
    if first.starts_with("# probeaddr kallsyms-export sidetable v1") {
        let live = live.ok_or_else(|| {
            Error::new(
                ErrorKind::BadInput,
                "a side table needs the running kernel's kallsyms (or --kallsyms) for the names",
            )
            .with_path(path)
        })?;
        live.require_addresses()?;
        let mut link_text = None;
        let mut files: HashMap<usize, String> = HashMap::new();
        let mut runs: Vec<(u64, Option<usize>)> = Vec::new();
        for (n, line) in text.lines().enumerate().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                [] => {}
                ["text", a] => {
                    link_text =
                        Some(u64::from_str_radix(a, 16).map_err(|_| bad(n + 1, "bad address"))?)
                }
                ["file", i, p] => {
                    files.insert(
                        i.parse().map_err(|_| bad(n + 1, "bad file id"))?,
                        p.to_string(),
                    );
                }
                ["run", a, id] => runs.push((
                    u64::from_str_radix(a, 16).map_err(|_| bad(n + 1, "bad address"))?,
                    if *id == "-" {
                        None
                    } else {
                        Some(id.parse().map_err(|_| bad(n + 1, "bad file id"))?)
                    },
                )),
                _ if line.starts_with('#') => {}
                _ => return Err(bad(n + 1, "not a side-table record")),
            }
        }
        let link_text = link_text.ok_or_else(|| bad(1, "no text line"))?;
        let rt_text = live
            .vmlinux_unique("_text")
            .ok_or_else(|| {
                Error::new(ErrorKind::BadInput, "no _text in kallsyms").with_path(live.origin())
            })?
            .addr
            .get();
        runs.sort_by_key(|r| r.0);
        let mut listing = String::new();
        for s in live.symbols().iter().filter(|s| live.module(s).is_none()) {
            let link = s.addr.get().wrapping_sub(rt_text).wrapping_add(link_text);
            let i = runs.partition_point(|r| r.0 <= link);
            let file = (s.kind.is_ascii_lowercase() && i > 0)
                .then(|| runs[i - 1].1)
                .flatten()
                .and_then(|id| files.get(&id));
            match file {
                Some(f) => listing.push_str(&format!(
                    "{link:016x} {} {f}|{}\n",
                    s.kind as char,
                    live.name(s)
                )),
                None => listing.push_str(&format!(
                    "{link:016x} {} {}\n",
                    s.kind as char,
                    live.name(s)
                )),
            }
        }
        return Ok(Imported {
            symbols: Kallsyms::parse(listing, path)?,
            build_id,
        });
    }
    Ok(Imported {
        symbols: Kallsyms::parse(text, path)?,
        build_id,
    })
}
