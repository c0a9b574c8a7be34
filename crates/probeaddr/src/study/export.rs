//! The proposals as usable artifacts: a kallsyms listing whose local names
//! carry `file|` prefixes (Bottomley 2008), or probeaddr's side table. Its
//! reader (`sources/sidetable.rs`, [`crate::Source::SideTable`]) turns
//! either back into a symbol list with files, so that a machine with only
//! this small file (not the debug vmlinux) resolves
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

use crate::error::{Error, ErrorKind, Result};
use crate::sources::elf::hex;
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
pub fn export(
    kernel: &crate::study::KernelImage,
    scheme: Scheme,
    out: &mut dyn Write,
) -> Result<()> {
    let obj = kernel.analysed();
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
