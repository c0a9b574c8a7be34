//! Printing: errors and notes on stderr, tables for people; JSON is the
//! library's `Serialize` types.

use std::collections::HashSet;
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
#[derive(Default)]
pub struct Notes {
    seen: HashSet<String>,
}

impl Notes {
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
