//! `probeaddr debuginfo`: where a debug file comes from, found the way
//! `resolve` finds it.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};
use probeaddr::resolve::{find_debug_file, DebugOrigin, DebugTarget, Fetch};
use probeaddr::{Linker, LinkerConfig, ResolveOptions};

use crate::flags::{DebuginfoArgs, ListFormat};

/// Find and describe the debug file of `args.what`; false if none.
pub fn debuginfo(args: &DebuginfoArgs, out: &mut dyn Write) -> Result<bool> {
    let options = ResolveOptions {
        debug_dirs: args.debug_dirs.clone(),
        debuginfod: crate::setup::debuginfod(&args.debuginfod),
        ..ResolveOptions::default()
    };
    let linker = || {
        Linker::new(LinkerConfig {
            sysfs: Some(args.sysfs.clone().unwrap_or_else(|| "/sys".into())),
            ..LinkerConfig::offline()
        })
    };
    let what = args.what.as_str();
    let id;
    let target = if what == "kernel" {
        id = match linker().kernel_build_id()? {
            Some(id) => id,
            None => bail!("the running kernel's build-id is not known (no kernel/notes in sysfs)"),
        };
        DebugTarget::Vmlinux(&id)
    } else if let Some(m) = what.strip_prefix("module:") {
        id = match linker().module_build_id(m)? {
            Some(id) => id,
            None => bail!("module {m} is not loaded, or its notes carry no build-id"),
        };
        DebugTarget::Module(m, &id)
    } else if Path::new(what).exists() {
        DebugTarget::Object(Path::new(what))
    } else if let Some(bytes) = unhex(what) {
        id = bytes;
        DebugTarget::BuildId(&id)
    } else {
        bail!("{what}: no such file, and not a hex build-id, `kernel` or `module:NAME`");
    };
    let lookup = find_debug_file(target, &options, Fetch::Whole)?;
    if args.format == ListFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &lookup)?;
        writeln!(out)?;
        return Ok(lookup.found.is_some());
    }
    writeln!(
        out,
        "build-id  {}",
        lookup.build_id.as_deref().unwrap_or("(none)")
    )?;
    match &lookup.found {
        Some(f) => {
            let how = match &f.origin {
                DebugOrigin::Itself => "the file itself".to_string(),
                DebugOrigin::BuildIdDir => "build-id directory".to_string(),
                DebugOrigin::DebugLink => ".gnu_debuglink (CRC matches)".to_string(),
                DebugOrigin::KnownPath => "distribution path (build-id matches)".to_string(),
                DebugOrigin::Debuginfod { url: Some(u) } => format!("debuginfod {u}"),
                DebugOrigin::Debuginfod { url: None } => "debuginfod cache".to_string(),
                DebugOrigin::DebuginfodSections {
                    url,
                    sections,
                    downloaded,
                } => format!(
                    "debuginfod sections ({}), symbols and line programs only: {}",
                    if sections.is_empty() {
                        "in the cache".to_string()
                    } else {
                        sections.join(", ")
                    },
                    match url {
                        Some(u) => format!("{downloaded} bytes from {u}"),
                        None => "debuginfod cache".to_string(),
                    }
                ),
                _ => "elsewhere".to_string(),
            };
            writeln!(out, "path      {}", f.path.display())?;
            writeln!(out, "from      {how}")?;
            let has = |b: bool| if b { "yes" } else { "no" };
            writeln!(out, "symtab    {}", has(f.symtab))?;
            writeln!(out, "dwarf     {}", has(f.dwarf))?;
        }
        None => writeln!(out, "path      (not found)")?,
    }
    for s in &lookup.searched {
        writeln!(out, "searched  {s}")?;
    }
    Ok(lookup.found.is_some())
}

/// The bytes of a hex build-id (at least 8 hex digits).
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() < 8 || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
