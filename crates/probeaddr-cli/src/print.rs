//! Printing: errors and notes on stderr, tables for people; JSON is the
//! library's `Serialize` types.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io::Write;

use probeaddr::{Anchor, Linked, Location, LocationKind};

/// Print a library error with its detail lines.
pub fn report(e: &probeaddr::Error) {
    eprintln!("probeaddr: error: {e}");
    if let Some(d) = e.detail() {
        eprintln!("{d}");
    }
}

/// Notes and warnings, each printed once per run.
///
/// What is said about one location (it is unique in the vmlinux, the kernel
/// refuses a kprobe there) is said once per kind: a glob over the kernel
/// gives thousands of locations, and one line per location would bury the
/// answer. Up to [`Notes::EACH`] locations of a kind are told one by one;
/// past that one line names the first and counts the rest. Those lines are
/// printed by [`Notes::flush`] (or when the notes are dropped).
#[derive(Default)]
pub struct Notes {
    seen: HashSet<String>,
    /// Per-location notes by kind (the text with its subject taken out),
    /// in the order first seen.
    kinds: Vec<Kind>,
    /// Where each kind is in `kinds`, by level and template: a note that
    /// carries an address is a kind of its own, and there may be thousands.
    kind_at: HashMap<(&'static str, String), usize>,
}

/// The notes of one kind about several locations.
struct Kind {
    level: &'static str,
    /// Each location's full text and the subject it was said about.
    said: Vec<(String, String)>,
}

impl Notes {
    /// Per-location notes of one kind told one by one, at most.
    pub const EACH: usize = 3;

    /// `probeaddr: note: …`, unless already said.
    pub fn note(&mut self, text: &str) {
        if self.seen.insert(format!("n{text}")) {
            eprintln!("probeaddr: note: {text}");
        }
    }

    /// `probeaddr: warning: …`, unless already said.
    pub fn warn(&mut self, text: &str) {
        if self.seen.insert(format!("w{text}")) {
            eprintln!("probeaddr: warning: {text}");
        }
    }

    /// A note, warning or error (`level`) about the location `l`, grouped
    /// with those of the same kind about other locations.
    pub fn about(&mut self, l: &Location, text: &str, level: &'static str) {
        if !self.seen.insert(format!("{level}:{text}")) {
            return;
        }
        // The subject is what the text names the location by: its
        // description (`f [a.c]`), else its symbol or function, with its
        // file or not. Every name of it is taken out of the kind, longest
        // first (`f.cold` before `f`).
        let mut names = vec![l.describe()];
        for n in [&l.symbol, &l.function] {
            for f in [l.file.as_deref(), l.source_path.as_deref(), Some("?")]
                .into_iter()
                .flatten()
            {
                names.push(format!("{n} [{f}]"));
            }
            names.push(n.clone());
        }
        // The function a clone or cold part belongs to (`f` of `f.cold`),
        // and the host of an inlined site.
        names.extend(l.symbol.split_once('.').map(|(base, _)| base.to_string()));
        names.extend(l.inlined_into.clone());
        names.retain(|n| !n.is_empty() && text.contains(n.as_str()));
        let Some(subject) = names.first().cloned() else {
            // Nothing location-specific in it: said as it is.
            self.seen.remove(&format!("{level}:{text}"));
            return match level {
                "note" => self.note(text),
                "warning" => self.warn(text),
                _ => eprintln!("probeaddr: {level}: {text}"),
            };
        };
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        let template = names
            .iter()
            .fold(text.to_string(), |t, n| t.replace(n.as_str(), "\u{0}"));
        let said = (text.to_string(), subject.to_string());
        match self.kind_at.entry((level, template)) {
            Entry::Occupied(at) => self.kinds[*at.get()].said.push(said),
            Entry::Vacant(at) => {
                at.insert(self.kinds.len());
                self.kinds.push(Kind {
                    level,
                    said: vec![said],
                });
            }
        }
    }

    /// Print the grouped per-location notes said so far.
    pub fn flush(&mut self) {
        self.kind_at.clear();
        for k in std::mem::take(&mut self.kinds) {
            let level = k.level;
            if k.said.len() <= Self::EACH {
                for (text, _) in &k.said {
                    eprintln!("probeaddr: {level}: {text}");
                }
                continue;
            }
            let more: Vec<&str> = k.said[1..].iter().map(|(_, s)| s.as_str()).collect();
            let shown = more.len().min(Self::EACH);
            eprintln!(
                "probeaddr: {level}: {} [and {} more like it: {}{}; --format json gives each location's notes]",
                k.said[0].0,
                more.len(),
                more[..shown].join(", "),
                if more.len() > shown { ", …" } else { "" }
            );
        }
    }
}

impl Drop for Notes {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Any library type as pretty JSON, one document, newline-terminated.
pub fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

pub fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// `init_once [fs/proc/inode.c] +0x0`, `jhash (inlined into f) [x.c] +0x0 (return)`.
pub fn describe(l: &Location) -> String {
    let mut s = match &l.inlined_into {
        Some(c) => format!("{} (inlined into {c})", l.shown_symbol()),
        None => l.shown_symbol(),
    };
    if let Some(f) = &l.file {
        s.push_str(&format!(" [{f}]"));
    }
    s.push_str(&format!(" +{:#x}", l.offset));
    if l.kind.is_return() {
        s.push_str(" (return)");
    }
    s
}

/// One row of `resolve`'s table.
pub struct Row<'a> {
    pub linked: &'a Linked,
    pub probe: Option<&'a str>,
}

/// `resolve`'s table: one row per location, the columns the rows need.
pub fn locations_table(
    out: &mut dyn Write,
    rows: &[Row<'_>],
    runtime: bool,
) -> std::io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let kernel = rows.iter().any(|r| r.linked.location.object.is_kernel());
    let runtime = runtime || kernel;
    let mut head = vec!["OBJECT", "SYMBOL", "FILE"];
    if kernel {
        head.push("SECTION");
    }
    head.extend(["ADDR", "SIZE", "ANCHOR"]);
    if kernel {
        head.push("SYMBOL_FORM");
    }
    if runtime {
        head.push("RUNTIME_ADDR");
    }
    head.push("PROBE");
    let mut cells: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        let l = &r.linked.location;
        let mut sym = l.shown_symbol();
        sym.push_str(l.version.as_deref().unwrap_or(""));
        if l.offset > 0 {
            sym.push_str(&format!("+{:#x}", l.offset));
        }
        if l.kind.is_return() {
            sym.push_str("%return");
        }
        if let Some(c) = &l.inlined_into {
            sym = format!("{} (inlined into {c}) {sym}", l.function);
        }
        if l.variant == probeaddr::location::Variant::Clone && l.inlined_into.is_none() {
            sym.push_str(" (clone)");
        }
        let mut row = vec![
            l.object.short_name(),
            sym,
            match (&l.line, &l.decl_file) {
                (Some(line), _) => format!("{}:{}", line.file, line.line),
                (None, Some(d)) if l.file.as_deref() != Some(d.as_str()) => {
                    format!("{} ({d})", l.file.as_deref().unwrap_or("-"))
                }
                (None, _) => l.file.clone().unwrap_or_else(|| "-".into()),
            },
        ];
        if kernel {
            row.push(l.section.clone().unwrap_or_else(|| "-".into()));
        }
        row.push(hex(l.addr.get()));
        row.push(if l.size > 0 {
            l.size.to_string()
        } else {
            "-".into()
        });
        row.push(match &l.anchor {
            Anchor::File { offset } => offset.to_string(),
            a => a.to_string(),
        });
        if kernel {
            row.push(
                l.module_form
                    .as_ref()
                    .map(|m| format!("{}:{m}", l.object.short_name()))
                    .or_else(|| {
                        l.symbol_form
                            .as_ref()
                            .filter(|s| s.own)
                            .map(|s| s.to_string())
                    })
                    .or_else(|| l.data_symbol.clone())
                    .or_else(|| {
                        l.symbol_form
                            .as_ref()
                            .map(|s| format!("{s} (nearest unique)"))
                    })
                    .unwrap_or_else(|| "-".into()),
            );
        }
        if runtime {
            row.push(r.linked.runtime.map_or("-".into(), |a| a.to_string()));
        }
        row.push(r.probe.unwrap_or("-").to_string());
        cells.push(row);
    }
    print_cells(out, &cells)
}

/// True for locations that take a probe (not data).
pub fn is_probe(l: &Location) -> bool {
    l.kind != LocationKind::Data
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
