//! Probe points: the two syntaxes users already know, parsed into one [`ProbeSpec`].
//!
//! * perf probe: `FUNC[@SRC][+OFF|%return|:RLN]`, `SRC:ALN`, optionally `EVENT=` first;
//! * SystemTap: `process("PATH").function("FUNC@SRC").return`,
//!   `kernel.function(...)`, `module("M").function(...)`, `*.statement(...)`,
//!   `kernel.data("NAME")`.
//!
//! No other module sees syntax: everything downstream works on [`ProbeSpec`].

mod args;
mod glob;
mod perf;
mod stap;

pub use args::{Access, ArgExpr, FetchSpec};
pub use glob::Pattern;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// Which object a probe point lives in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Target {
    /// A user-space ELF file. `None` when the syntax does not name it (perf
    /// syntax, `process.function(...)`): the caller supplies it (`-x PATH`).
    Process(Option<PathBuf>),
    /// The running kernel (`vmlinux`).
    Kernel,
    /// A kernel module, by name.
    Module(String),
}

/// A source line, absolute or counted from the function's declaration line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineSpec {
    /// `FUNC:N` (perf) / `FUNC@SRC+N` (stap): N lines after the function's first line.
    Relative(u32),
    /// `SRC:N`: line N of the file.
    Absolute(u32),
}

/// What in the object the probe point names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Point {
    /// A function, optionally pinned to a source file, at an offset or line.
    Function {
        /// Function name pattern.
        func: Pattern,
        /// Source file pattern (`@SRC`), matched on whole path components.
        file: Option<Pattern>,
        /// Byte offset from the function's entry (`+OFF`).
        offset: u64,
        /// A line inside the function.
        line: Option<LineSpec>,
    },
    /// A source line with no function (`SRC:N`).
    Line {
        /// Source file pattern.
        file: Pattern,
        /// Line number.
        line: u32,
    },
    /// A data symbol (`kernel.data("jiffies")`).
    Data {
        /// Symbol name pattern.
        name: Pattern,
    },
    /// A link-time address in the object (`0x43770`, perf's absolute
    /// address): the one place it names, whatever function holds it. It is
    /// the pin of a location no name can single out.
    Address {
        /// The address, as the object's symbol table counts.
        addr: u64,
    },
    /// A statically defined tracing marker (USDT, `<sys/sdt.h>`): perf's
    /// `%[sdt_]PROVIDER:NAME`, SystemTap's `.provider("P").mark("NAME")`.
    Mark {
        /// Provider pattern (`python`); any provider when absent.
        provider: Option<Pattern>,
        /// Marker name pattern (`function__entry`).
        name: Pattern,
    },
}

/// Entry or return probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ProbeKind {
    /// A probe that fires when execution reaches the address.
    #[default]
    Entry,
    /// `%return` / `.return`: fires when the function returns.
    Return,
}

/// Which inlined instances a function probe covers (SystemTap's `.call` and `.inline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum InlineFilter {
    /// Out-of-line copies and inlined sites (the default of perf and stap).
    #[default]
    All,
    /// `.call`: out-of-line copies only.
    CallOnly,
    /// `.inline`: inlined sites only.
    InlineOnly,
}

/// Which syntax a probe point was written in; kept so errors can echo the user's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Syntax {
    /// perf probe.
    Perf,
    /// SystemTap.
    Stap,
}

/// A parsed probe point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSpec {
    /// The object it lives in.
    pub target: Target,
    /// What in the object.
    pub point: Point,
    /// Entry or return.
    pub kind: ProbeKind,
    /// Inlined-instance selection.
    pub inlines: InlineFilter,
    /// An event name the user chose (`EVENT=FUNC` in perf syntax).
    pub event: Option<String>,
    /// The syntax it was written in.
    pub syntax: Syntax,
    /// Fetch arguments that follow the point (`n s->len`, `$count`).
    #[serde(default)]
    pub args: Vec<FetchSpec>,
}

impl ProbeSpec {
    /// Parse a probe point in either syntax. SystemTap syntax is recognised by
    /// its leading `kernel.`, `module(` or `process`; anything else is perf syntax.
    ///
    /// Fetch arguments may follow the point, separated by whitespace
    /// (`compute n s->len`, `kernel.function("vfs_read") $count`).
    pub fn parse(text: &str) -> Result<ProbeSpec, Error> {
        let (point, words) = args::split(text);
        let at = point.as_ptr() as usize - text.as_ptr() as usize;
        let t = point.trim_start();
        let res = if t.starts_with("kernel.")
            || t.starts_with("module(")
            || t.starts_with("process(")
            || t.starts_with("process.")
        {
            stap::parse(point)
        } else {
            perf::parse(point)
        };
        let res = res
            .map_err(|mut e| {
                e.at += at;
                e
            })
            .and_then(|mut spec| {
                for (w, off) in words {
                    spec.args.push(args::parse(w, off)?);
                }
                Ok(spec)
            });
        res.map_err(|e| e.into_error(text))
    }

    /// True if the point is in a user-space object: it names one
    /// (`process("PATH")`), or names none and a default object is given
    /// (`-x PATH`). Perf syntax without one is a kernel point, as in perf.
    pub fn in_user_space(&self, default_object: bool) -> bool {
        match &self.target {
            Target::Process(Some(_)) => true,
            Target::Process(None) => default_object,
            Target::Kernel | Target::Module(_) => false,
        }
    }

    /// The function or data name pattern, if the point has one.
    pub fn name_pattern(&self) -> Option<&Pattern> {
        match &self.point {
            Point::Function { func, .. } => Some(func),
            Point::Data { name } => Some(name),
            Point::Mark { name, .. } => Some(name),
            Point::Line { .. } | Point::Address { .. } => None,
        }
    }
}

/// Prints a probe point back in perf syntax (SystemTap for kernel, module and
/// data targets), in a form that [`ProbeSpec::parse`] reads back to an equal spec.
impl fmt::Display for ProbeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        stap::write(self, f)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// A syntax error at a column of the probe point.
#[derive(Debug)]
pub(crate) struct ParseError {
    /// Byte offset into the text.
    pub(crate) at: usize,
    pub(crate) message: String,
}

impl ParseError {
    pub(crate) fn new(at: usize, message: impl Into<String>) -> Self {
        ParseError {
            at,
            message: message.into(),
        }
    }

    fn into_error(self, text: &str) -> Error {
        // Offsets inside a quoted argument are counted on its unescaped
        // text; never cut the input inside a character.
        let mut at = self.at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let column = text[..at].chars().count() + 1;
        Error::new(
            ErrorKind::Syntax,
            format!(
                "malformed probe point '{}' at column {}: {}",
                text, column, self.message
            ),
        )
        .with_detail(format!("  {}\n  {}^", text, " ".repeat(column - 1)))
    }
}

/// Where a function name ends in `s`: at the first of `seps` outside
/// parentheses and angle brackets that is not half of a `::` — C++
/// (`ns::Klass<int>::method(int)`), Rust (`krate::module::f`) and Go
/// (`net/http.(*Server).Serve`) names keep their `:`, `(` and `<`.
pub(crate) fn name_end(s: &str, seps: &[char]) -> usize {
    let b = s.as_bytes();
    let mut depth = 0u32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' | b'<' => depth += 1,
            b')' | b'>' if depth > 0 => depth -= 1,
            b':' if b.get(i + 1) == Some(&b':') => {
                i += 2;
                continue;
            }
            c if depth == 0 && c.is_ascii() && seps.contains(&(c as char)) => return i,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// Where perf syntax ends a source file at a line's separator: the first
/// `:` or `;` that is not half of a `::` (a C++ or Rust name's, never a
/// line's), when the text before it has a `.` and the text has no `+`, `@`
/// or `%` (which make it a function). Brackets do not matter to a file's
/// name. The parser and the printer both ask this, so a name printed in
/// perf syntax reads back as what it was.
pub(crate) fn reads_as_file_line(text: &str) -> Option<usize> {
    if text.contains(['+', '@', '%']) {
        return None;
    }
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b':' if b.get(i + 1) == Some(&b':') => i += 1,
            b':' | b';' => return text[..i].contains('.').then_some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether the brackets of a C++, Rust or Go name pair up; else the first
/// one that does not, and whether it is one that is never closed.
pub(crate) fn unpaired_bracket(s: &str) -> Option<(usize, char, bool)> {
    let mut open: Vec<(usize, char)> = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '(' | '<' => open.push((i, c)),
            ')' | '>' if open.pop().is_none() => return Some((i, c, false)),
            _ => {}
        }
    }
    open.first().map(|&(i, c)| (i, c, true))
}

/// A character a function name may hold in perf syntax: C's, globs, and
/// what C++, Rust and Go names are spelled with.
pub(crate) fn name_char(c: char) -> bool {
    c.is_alphanumeric() || "_.*?[]!^-$:<>(),&~/{}#".contains(c)
}

/// Parse a perf-style byte offset: decimal or `0x` hex.
pub(crate) fn parse_number(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
