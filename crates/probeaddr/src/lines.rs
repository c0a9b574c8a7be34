//! Source lines and prologues from DWARF line tables.
//!
//! A line probe resolves to every `is_stmt` address of that line, so that a
//! line duplicated by the compiler (unrolled, inlined, split hot/cold) gets a
//! probe in each code copy, as perf probe and SystemTap do.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::addr::LinkAddr;
use crate::index::names::{file_matches, last_component_matcher};
use crate::sources::dwarf::{CompUnits, LastUnit, LineRow, Subprogram};
use crate::spec::{LineSpec, Pattern};

/// A line-probe address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineAddr {
    /// The address.
    pub addr: u64,
    /// Its line.
    pub line: u64,
    /// Its file, relative to the compile directory when under it.
    pub file: String,
}

/// Every `is_stmt` row of line `target` among `rows` whose file `matches`
/// accepts, one per address. This is what perf probe and SystemTap probe: a
/// line split into several row runs (a loop header, an unrolled or
/// reordered statement) gets a probe at each.
fn starts(rows: &[LineRow], target: u64, matches: &dyn Fn(&LineRow) -> bool) -> Vec<LineAddr> {
    let mut out: Vec<LineAddr> = rows
        .iter()
        .filter(|r| r.is_stmt && r.line == target && matches(r))
        .map(|r| LineAddr {
            addr: r.addr,
            line: r.line,
            file: r.rel.to_string(),
        })
        .collect();
    out.sort_by_key(|l| l.addr);
    out.dedup_by_key(|l| l.addr);
    out
}

/// The lines nearest `target` that have code, for error messages.
fn nearest(rows: &[LineRow], target: u64, matches: &dyn Fn(&LineRow) -> bool) -> String {
    let lines: BTreeSet<u64> = rows
        .iter()
        .filter(|r| r.is_stmt && matches(r))
        .map(|r| r.line)
        .collect();
    let below = lines.range(..target).next_back();
    let above = lines.range(target + 1..).next();
    match (below, above) {
        (Some(b), Some(a)) => format!("the nearest lines with code are {b} and {a}"),
        (Some(x), None) | (None, Some(x)) => format!("the nearest line with code is {x}"),
        (None, None) => "no line of that file has code here".into(),
    }
}

type RowFilter = Box<dyn Fn(&LineRow) -> bool>;

/// Line addresses inside one function copy starting at `entry`:
/// `FUNC:N` (N lines after the declaration line, like perf) or `FUNC@SRC:N`.
pub fn in_function(
    cu: &CompUnits,
    entry: LinkAddr,
    line: LineSpec,
    file: Option<&Pattern>,
) -> Result<Vec<LineAddr>, String> {
    let sp = cu
        .subprogram_at(entry)
        .ok_or_else(|| format!("DWARF has no function entry at {entry} (no debug info for it?)"))?;
    let rows: Vec<LineRow> = cu.rows_in(entry, &sp.ranges);
    // `FUNC:0` is the function's entry, as perf has it: the declaration
    // line often has no code of its own (kernel style puts the `{` on the
    // next line).
    if line == LineSpec::Relative(0) {
        let e = entry.get();
        let row = rows
            .iter()
            .find(|r| r.addr == e && r.is_stmt)
            .or_else(|| rows.iter().find(|r| r.addr == e));
        if let Some(r) = row {
            return Ok(vec![LineAddr {
                addr: e,
                line: r.line,
                file: r.rel.to_string(),
            }]);
        }
    }
    let (target, matches): (u64, RowFilter) = match line {
        LineSpec::Relative(n) => {
            let decl = sp
                .decl_line
                .ok_or("DWARF gives no declaration line for it")?;
            let df = sp.decl_file.clone();
            (
                decl + u64::from(n),
                Box::new(move |r: &LineRow| df.as_deref().is_none_or(|f| f == &*r.file)),
            )
        }
        LineSpec::Absolute(n) => match file {
            Some(p) => {
                let p = p.clone();
                (
                    u64::from(n),
                    Box::new(move |r: &LineRow| {
                        file_matches(&p, &r.rel) || file_matches(&p, &r.file)
                    }),
                )
            }
            None => {
                let df = sp.decl_file.clone();
                (
                    u64::from(n),
                    Box::new(move |r: &LineRow| df.as_deref().is_none_or(|f| f == &*r.file)),
                )
            }
        },
    };
    let found = starts(&rows, target, &*matches);
    if found.is_empty() {
        return Err(format!(
            "line {target} has no code in {} ({})",
            sp.name,
            nearest(&rows, target, &*matches)
        ));
    }
    Ok(found)
}

/// `SRC:N`: every start of line N of files matching `file`, in every unit.
pub fn in_file(cu: &CompUnits, file: &Pattern, line: u32) -> Result<Vec<LineAddr>, String> {
    let keep = |(full, rel): (&str, &str)| file_matches(file, rel) || file_matches(file, full);
    let base = last_component_matcher(file);
    let units = cu.rows_for_file(&crate::sources::dwarf::FileFilter {
        base: &base,
        path: &keep,
    });
    if units.is_empty() {
        return Err(format!("no compile unit has a file matching '{file}'"));
    }
    let matches = |r: &LineRow| keep((&r.file, &r.rel));
    let mut out = Vec::new();
    let mut all = Vec::new();
    for rows in &units {
        out.extend(starts(rows, u64::from(line), &matches));
        all.extend(rows.iter().filter(|r| matches(r)).cloned());
    }
    out.sort_by_key(|l| l.addr);
    out.dedup_by_key(|l| l.addr);
    if out.is_empty() {
        return Err(format!(
            "line {line} of {file} has no code ({})",
            nearest(&all, u64::from(line), &|_| true)
        ));
    }
    Ok(out)
}

/// Where `--skip-prologue` puts a function's probe: gdb's `break FUNC`,
/// never past a branch. `code` is the function's bytes.
///
/// 1. Optimised GCC code (its unit's variables use location lists) is
///    probed at the entry: its arguments are valid there, in registers, and
///    gdb does not skip its prologue either.
/// 2. Other GCC code is probed after its frame-pointer setup (`push %rbp;
///    mov %rsp,%rbp`), moved on to the start of the next line-table row when
///    that lands mid-line (gdb's `amd64_analyze_prologue` and
///    `skip_prologue_sal`); a frameless function at its entry.
/// 3. Clang code is probed at its second line-table line (clang marks the
///    end of the prologue so; gdb trusts it).
/// 4. Never past the first jump, return or system call: code after one runs
///    on some paths only (`system(NULL)` returns early; `execve`'s code after
///    its `syscall` runs only when it fails). Such a place moves back to the
///    last `is_stmt` row at or before that branch, or the entry.
///
/// `None` without DWARF for the function.
pub fn after_prologue(cu: &CompUnits, entry: LinkAddr, code: &[u8], bits: u32) -> Option<u64> {
    let sp = cu.subprogram_at(entry)?;
    let (gcc, clang, loclists) = cu.producer_at(entry)?;
    let e = entry.get();
    if gcc && loclists {
        return Some(e);
    }
    let mut rows: Vec<LineRow> = cu.rows_in(entry, &sp.ranges);
    rows.sort_by_key(|r| r.addr);
    let mut pc = if clang {
        let first = rows.iter().find(|r| r.addr == e)?.line;
        rows.iter()
            .find(|r| r.addr > e && r.is_stmt && r.line != first)
            .map_or(e, |r| r.addr)
    } else {
        match crate::insn::frame_setup_end_x86(code, bits) {
            None => e,
            Some(off) => e + off,
        }
    };
    if pc != e && !rows.iter().any(|r| r.addr == pc) {
        if let Some(next) = rows.iter().find(|r| r.addr > pc) {
            pc = next.addr;
        }
    }
    if let Some(b) = crate::insn::first_branch_x86(code, e, pc - e, bits) {
        let b = e + b;
        pc = rows
            .iter()
            .filter(|r| r.is_stmt && r.addr >= e && r.addr <= b)
            .map(|r| r.addr)
            .max()
            .unwrap_or(e);
    }
    Some(pc)
}

/// One line with code in a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// File, relative to the compile directory when under it.
    pub file: Arc<str>,
    /// True for the function's own lines (its declaration file, from its
    /// declaration line on: what `FUNC:N` counts); false for lines of
    /// functions inlined into it (a header's `static inline`, or a static
    /// of the same file defined above it).
    pub own: bool,
    /// Line number.
    pub line: u64,
    /// The line's first address: in the part entered first (from the entry
    /// on) when the line has code there, else its lowest (a cold part).
    pub addr: u64,
}

/// Every line with code in the function at `entry`, with its first
/// address: the declaration file's lines sorted by line (what `perf probe
/// -L` shows), then the lines of other files inlined into it, by file and
/// line.
pub fn function_lines<'a>(
    cu: &'a CompUnits,
    entry: LinkAddr,
    last: &mut LastUnit<'a>,
) -> Option<(Subprogram, Vec<SourceLine>)> {
    let sp = cu.subprogram_in(entry, last)?;
    let e = entry.get();
    let mut lines: Vec<SourceLine> = cu
        .rows_in(entry, &sp.ranges)
        .into_iter()
        .filter(|r| r.is_stmt)
        .map(|r| SourceLine {
            // A line of its own file above its declaration is another
            // function's, inlined into it.
            own: sp.decl_file.as_deref().is_none_or(|d| d == &*r.file)
                && sp.decl_line.is_none_or(|d| r.line >= d),
            file: r.rel,
            line: r.line,
            addr: r.addr,
        })
        .collect();
    lines.sort_by(|a, b| {
        (!a.own, &a.file, a.line, a.addr < e, a.addr).cmp(&(
            !b.own,
            &b.file,
            b.line,
            b.addr < e,
            b.addr,
        ))
    });
    lines.dedup_by(|a, b| a.line == b.line && a.file == b.file);
    Some((sp, lines))
}
