//! `probeaddr kallsyms-cost`: the study's report as a table, JSON, CSV,
//! Markdown, and an SVG chart; `probeaddr kallsyms-export`.

use std::io::Write;

use anyhow::Result;
use probeaddr::study::cost::{measure, Report, Selection};
use probeaddr::study::KernelImage;

use crate::flags::{CostArgs, CostFormat, ExportArgs, ExportScheme};
use crate::print::report;

fn kb(b: u64) -> String {
    format!("{:.1} kB", b as f64 / 1000.0)
}

fn pct(b: u64, of: u64) -> String {
    if of == 0 {
        return "-".into();
    }
    format!("{:.1}%", b as f64 * 100.0 / of as f64)
}

/// `probeaddr kallsyms-cost`.
pub fn cost(args: &CostArgs, out: &mut dyn Write) -> Result<bool> {
    let vm = match KernelImage::open(&args.vmlinux) {
        Ok(v) => v,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let sel = if args.text_only {
        Selection::TextOnly
    } else {
        Selection::All
    };
    let r = match measure(&vm, sel) {
        Ok(r) => r,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    if let Some(p) = &args.chart {
        std::fs::write(p, chart(&r))?;
    }
    // The proposals as artifacts: how big is the file a target would need?
    let mut sizes = Vec::new();
    for (name, scheme) in [
        ("bottomley", probeaddr::study::export::Scheme::Bottomley),
        ("sidetable", probeaddr::study::export::Scheme::Sidetable),
    ] {
        let mut buf = Vec::new();
        if probeaddr::study::export::export(&vm, scheme, &mut buf).is_ok() {
            sizes.push((name, buf.len()));
        }
    }
    match args.format {
        CostFormat::Json => {
            crate::print::json(out, &r)?;
        }
        CostFormat::Csv => {
            writeln!(
                out,
                "scheme,added_raw,added_compressed,ambiguous_names,ambiguous_groups,ambiguous_symbols,description"
            )?;
            for s in &r.schemes {
                writeln!(
                    out,
                    "{},{},{},{},{},{},\"{}\"",
                    s.scheme,
                    s.added_raw,
                    s.added_compressed.map_or(String::new(), |c| c.to_string()),
                    s.ambiguous_names,
                    s.ambiguous_groups,
                    s.ambiguous_symbols,
                    s.description.replace('"', "\"\"")
                )?;
            }
        }
        CostFormat::Table | CostFormat::Markdown => {
            write_markdown(out, &r, args.format == CostFormat::Markdown)?;
            let listed: Vec<String> = sizes
                .iter()
                .map(|(n, b)| format!("{n} {}", kb(*b as u64)))
                .collect();
            writeln!(
                out,
                "\nExports (`probeaddr kallsyms-export --scheme ...`, all a target without the vmlinux needs): {}.",
                listed.join(", ")
            )?;
        }
    }
    Ok(true)
}

fn write_markdown(out: &mut dyn Write, r: &Report, full: bool) -> std::io::Result<()> {
    if full {
        writeln!(out, "# kallsyms cost study: {}\n", r.vmlinux)?;
    }
    writeln!(
        out,
        "{} symbols in kallsyms ({} local, {} local functions); {} STT_FILE entries; {} function names occur more than once, covering {} symbols ({} names / {} symbols of any kind). kallsyms name tables today: {} compressed, {} raw.{}\n",
        r.symbols,
        r.locals,
        r.local_functions,
        r.stt_file_entries,
        r.duplicated_function_names,
        r.duplicated_function_symbols,
        r.duplicated_names,
        r.duplicated_symbols,
        kb(r.baseline_compressed),
        kb(r.baseline_raw),
        if r.has_dwarf { "" } else { " No DWARF: source paths are basenames." }
    )?;
    if let Some(real) = r.vmlinux_kallsyms_names {
        writeln!(
            out,
            "Check of the compression: our kallsyms_names for today's list is {} bytes; the vmlinux's own kallsyms_names spans {} bytes (with alignment padding).\n",
            r.names_compressed, real
        )?;
    }
    writeln!(out, "| scheme | adds (raw) | adds (compressed) | vs kallsyms today | still ambiguous: function names / groups / symbols | what it stores |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---|")?;
    for s in &r.schemes {
        let c = s.added_compressed.unwrap_or(s.added_raw);
        writeln!(
            out,
            "| {} | {} | {} | {} | {} / {} / {} | {} |",
            s.scheme,
            kb(s.added_raw),
            s.added_compressed.map_or("not compressed".into(), kb),
            pct(c, r.baseline_compressed),
            s.ambiguous_names,
            s.ambiguous_groups,
            s.ambiguous_symbols,
            s.description.replace('|', "\\|")
        )?;
    }
    writeln!(
        out,
        "\nThe user-space scheme fetches at run time: {}.",
        r.runtime_anchors.join("; ")
    )
}

/// A horizontal bar chart of the bytes each scheme adds (compressed where
/// it goes through kallsyms compression, else raw), plain SVG.
pub fn chart(r: &Report) -> String {
    let rows: Vec<(&str, u64, usize)> = r
        .schemes
        .iter()
        .map(|s| {
            (
                s.scheme.as_str(),
                s.added_compressed.unwrap_or(s.added_raw),
                s.ambiguous_names,
            )
        })
        .collect();
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let (w, bar_x, bar_w, row_h) = (900.0, 190.0, 520.0, 34.0);
    let h = 70.0 + row_h * rows.len() as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"24\" font-size=\"16\">Bytes each scheme adds to kallsyms ({} symbols; today {:.0} kB compressed)</text>\n",
        r.symbols,
        r.baseline_compressed as f64 / 1000.0
    );
    for (i, (name, bytes, amb)) in rows.iter().enumerate() {
        let y = 50.0 + row_h * i as f64;
        let len = bar_w * *bytes as f64 / max as f64;
        s.push_str(&format!(
            "<text x=\"10\" y=\"{:.0}\">{name}</text>\n<rect x=\"{bar_x}\" y=\"{:.0}\" width=\"{len:.1}\" height=\"20\" fill=\"#4878a8\"/>\n<text x=\"{:.0}\" y=\"{:.0}\">{:.1} kB, {amb} names ambiguous</text>\n",
            y + 15.0,
            y,
            bar_x + len + 8.0,
            y + 15.0,
            *bytes as f64 / 1000.0
        ));
    }
    s.push_str("</svg>\n");
    s
}

/// `probeaddr kallsyms-export`.
pub fn export(args: &ExportArgs, out: &mut dyn Write) -> Result<bool> {
    let vm = match KernelImage::open(&args.vmlinux) {
        Ok(v) => v,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let scheme = match args.scheme {
        ExportScheme::Bottomley => probeaddr::study::export::Scheme::Bottomley,
        ExportScheme::Sidetable => probeaddr::study::export::Scheme::Sidetable,
    };
    if let Err(e) = probeaddr::study::export::export(&vm, scheme, out) {
        report(&e);
        return Ok(false);
    }
    Ok(true)
}
