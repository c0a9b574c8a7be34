//! Reading what `probeaddr kallsyms-export` writes (formats in
//! `study/export.rs`): a kallsyms listing whose locals carry `file|`
//! prefixes, or a side table of file runs that, with the running kernel's
//! kallsyms, gives the same listing.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::sources::kallsyms::Kallsyms;

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
    crate::sources::regular_file(path)?;
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
