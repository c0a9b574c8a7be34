//! SystemTap probe point syntax (the subset that names code and data locations):
//!
//! ```text
//! kernel.function("FUNC[@SRC[:LINE|+RLINE]]")[.call|.inline|.return]
//! module("MOD").function("...")[...]
//! process("PATH").function("...")[...]      process.function("...")
//! kernel.statement("FUNC@SRC:LINE")         process("PATH").statement("*@SRC:LINE")
//! kernel.data("NAME")
//! ```

use std::fmt;
use std::path::PathBuf;

use super::{
    InlineFilter, LineSpec, ParseError, Pattern, Point, ProbeKind, ProbeSpec, Syntax, Target,
};

/// One `name` or `name("arg")` component with the byte offsets of each part.
struct Component<'a> {
    name: &'a str,
    at: usize,
    arg: Option<(String, usize)>,
}

fn components(text: &str) -> Result<Vec<Component<'_>>, ParseError> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i == start {
            return Err(ParseError::new(i, "expected a probe point component name"));
        }
        let name = &text[start..i];
        let mut arg = None;
        if i < b.len() && b[i] == b'(' {
            i += 1;
            if i >= b.len() || b[i] != b'"' {
                return Err(ParseError::new(
                    i,
                    "expected '\"' (a quoted string argument)",
                ));
            }
            i += 1;
            let sstart = i;
            let mut s = String::new();
            loop {
                match b.get(i) {
                    None => return Err(ParseError::new(i, "unterminated string, expected '\"'")),
                    Some(b'"') => break,
                    Some(b'\\') if i + 1 < b.len() => {
                        // The escaped character may be multi-byte UTF-8.
                        let ch = text[i + 1..].chars().next().unwrap_or('?');
                        s.push(ch);
                        i += 1 + ch.len_utf8();
                    }
                    Some(_) => {
                        let ch = text[i..].chars().next().unwrap_or('?');
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            i += 1; // closing quote
            if i >= b.len() || b[i] != b')' {
                return Err(ParseError::new(i, "expected ')'"));
            }
            i += 1;
            arg = Some((s, sstart));
        }
        out.push(Component {
            name,
            at: start,
            arg,
        });
        if i == b.len() {
            return Ok(out);
        }
        if b[i] != b'.' {
            return Err(ParseError::new(
                i,
                format!(
                    "expected '.' or end, found '{}'",
                    text[i..].chars().next().unwrap_or('?')
                ),
            ));
        }
        i += 1;
    }
}

pub(crate) fn parse(text: &str) -> Result<ProbeSpec, ParseError> {
    let lead = text.len() - text.trim_start().len();
    let comps = components(text.trim()).map_err(|mut e| {
        e.at += lead;
        e
    })?;
    let mut it = comps.into_iter().peekable();
    let first = it
        .next()
        .ok_or_else(|| ParseError::new(lead, "empty probe point"))?;
    let target = match (first.name, first.arg) {
        ("kernel", None) => Target::Kernel,
        ("module", Some((m, at))) => {
            if m.is_empty() {
                return Err(ParseError::new(lead + at, "empty module name"));
            }
            Target::Module(m)
        }
        ("process", None) => Target::Process(None),
        ("process", Some((p, at))) => {
            if p.is_empty() {
                return Err(ParseError::new(lead + at, "empty process path"));
            }
            Target::Process(Some(PathBuf::from(p)))
        }
        ("kernel", Some(_)) => return Err(ParseError::new(lead + first.at, "'kernel' takes no argument")),
        ("module", None) => return Err(ParseError::new(lead + first.at, "module needs a name: module(\"NAME\")")),
        (other, _) => {
            return Err(ParseError::new(
                lead + first.at,
                format!("unknown probe point '{other}' (expected kernel, module(\"M\") or process(\"PATH\"))"),
            ))
        }
    };
    let mut what = it.next().ok_or_else(|| {
        ParseError::new(
            text.len(),
            "expected .function(\"...\"), .statement(\"...\"), .mark(\"...\") or .data(\"...\")",
        )
    })?;
    // `.provider("P").mark("NAME")`: a marker of that provider.
    let mut provider = None;
    if what.name == "provider" {
        let (p, at) = what
            .arg
            .clone()
            .ok_or_else(|| ParseError::new(lead + what.at, "'provider' needs a quoted argument"))?;
        if p.is_empty() {
            return Err(ParseError::new(lead + at, "empty provider name"));
        }
        provider = Some(Pattern::new(p));
        what = it.next().filter(|c| c.name == "mark").ok_or_else(|| {
            ParseError::new(
                lead + what.at,
                "'.provider(\"P\")' is followed by '.mark(\"NAME\")'",
            )
        })?;
    }
    let (arg, arg_at) = match what.arg {
        Some((a, at)) => (a, lead + at),
        None => {
            return Err(ParseError::new(
                lead + what.at + what.name.len(),
                format!("'{}' needs a quoted argument", what.name),
            ))
        }
    };
    if arg.is_empty() {
        return Err(ParseError::new(arg_at, "empty name"));
    }
    let point = match what.name {
        "function" => function_point(&arg, arg_at, false)?,
        "statement" => function_point(&arg, arg_at, true)?,
        "data" => {
            if target != Target::Kernel && !matches!(target, Target::Module(_)) {
                return Err(ParseError::new(
                    lead + what.at,
                    "data probes are for kernel.data(\"NAME\")",
                ));
            }
            Point::Data {
                name: Pattern::new(arg),
            }
        }
        "mark" => {
            if !matches!(target, Target::Process(_)) {
                return Err(ParseError::new(
                    lead + what.at,
                    "markers are in programs: process(\"PATH\").mark(\"NAME\")",
                ));
            }
            Point::Mark {
                provider: provider.take(),
                name: Pattern::new(arg),
            }
        }
        other => {
            return Err(ParseError::new(
                lead + what.at,
                format!(
                    "unknown probe type '{other}' (expected function, statement, mark or data)"
                ),
            ))
        }
    };
    let mut kind = ProbeKind::Entry;
    let mut inlines = InlineFilter::All;
    for c in it {
        let at = lead + c.at;
        if c.arg.is_some() {
            return Err(ParseError::new(
                at,
                format!("'{}' takes no argument", c.name),
            ));
        }
        if what.name != "function" {
            return Err(ParseError::new(
                at,
                format!("'.{}' applies only to .function(...)", c.name),
            ));
        }
        match c.name {
            "return" if kind == ProbeKind::Entry => kind = ProbeKind::Return,
            "call" if inlines == InlineFilter::All => inlines = InlineFilter::CallOnly,
            "inline" if inlines == InlineFilter::All => inlines = InlineFilter::InlineOnly,
            "return" | "call" | "inline" => {
                return Err(ParseError::new(
                    at,
                    format!("'.{}' given twice or with a conflicting suffix", c.name),
                ))
            }
            other => {
                return Err(ParseError::new(
                    at,
                    format!("unsupported suffix '.{other}' (expected .return, .call or .inline)"),
                ))
            }
        }
    }
    if kind == ProbeKind::Return && inlines == InlineFilter::InlineOnly {
        return Err(ParseError::new(
            lead,
            "'.return' cannot apply to inlined sites ('.inline')",
        ));
    }
    if kind == ProbeKind::Return {
        if let Point::Function { line: Some(_), .. } = point {
            return Err(ParseError::new(
                lead,
                "'.return' cannot be combined with a line",
            ));
        }
    }
    Ok(ProbeSpec {
        target,
        point,
        kind,
        inlines,
        event: None,
        syntax: Syntax::Stap,
        args: Vec::new(),
    })
}

/// `FUNC[@SRC[:LINE|+RLINE]]`; for statements `*@SRC:LINE` means a bare line.
fn function_point(arg: &str, at: usize, statement: bool) -> Result<Point, ParseError> {
    let (func, rest) = match arg.find('@') {
        Some(i) => (&arg[..i], Some((&arg[i + 1..], i + 1))),
        None => (arg, None),
    };
    if func.is_empty() {
        return Err(ParseError::new(at, "expected a function name before '@'"));
    }
    let mut file = None;
    let mut line = None;
    let func_only = |s: &str| Some(super::name_end(s, &[':', '+'])).filter(|&i| i < s.len());
    let (func, func_line) = match (rest, func_only(func)) {
        // No file: FUNC:LINE / FUNC+RLINE are allowed too.
        (None, Some(i)) => (&func[..i], Some((&func[i..], i))),
        _ => (func, None),
    };
    if let Some((r, rat)) = rest {
        let (f, l) = match r.rfind([':', '+']) {
            Some(i) if r[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                (&r[..i], Some((&r[i..], rat + i)))
            }
            _ => (r, None),
        };
        if f.is_empty() {
            return Err(ParseError::new(
                at + rat,
                "expected a source file after '@'",
            ));
        }
        if let Some(c) = f.find(':') {
            return Err(ParseError::new(
                at + rat + c,
                "a ':' in a source file name (only FILE:LINE uses ':')",
            ));
        }
        file = Some(Pattern::new(f));
        if let Some(l) = l {
            line = Some(l);
        }
    }
    if func.is_empty() {
        return Err(ParseError::new(at, "expected a function name"));
    }
    let line = line.or(func_line);
    let line = match line {
        None => None,
        Some((l, lat)) => {
            let n = &l[1..];
            let num: u32 = n.parse().map_err(|_| {
                ParseError::new(at + lat + 1, format!("expected a line number, found '{n}'"))
            })?;
            Some(if l.starts_with('+') {
                LineSpec::Relative(num)
            } else {
                LineSpec::Absolute(num)
            })
        }
    };
    if statement && line.is_none() {
        return Err(ParseError::new(
            at + arg.len(),
            "a statement needs a line: \"FUNC@SRC:LINE\"",
        ));
    }
    if statement && func == "*" {
        if let (Some(file), Some(LineSpec::Absolute(l))) = (&file, line) {
            return Ok(Point::Line {
                file: file.clone(),
                line: l,
            });
        }
    }
    Ok(Point::Function {
        func: Pattern::new(func),
        file,
        offset: 0,
        line,
    })
}

/// Canonical text of a spec: perf syntax when the target is an unnamed process
/// (the caller gives it with `-x`), SystemTap syntax otherwise.
pub(crate) fn write(spec: &ProbeSpec, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    // perf syntax can say it only if every name is one perf's parser reads
    // back: no separators in files, function names of perf's character set,
    // and a '.' in a bare file name (else perf takes it for a function).
    // A leading '@' is `NAME@@VERSION`'s, which perf syntax reads back.
    let perf_file = |f: &Pattern| {
        let s = f.as_str();
        let s = s.strip_prefix('@').filter(|r| !r.is_empty()).unwrap_or(s);
        !s.contains([';', ':', '+', '@', '%', '=']) && !s.chars().any(char::is_whitespace)
    };
    // A name perf syntax reads back whole: its characters, and no
    // separator where the parser would end it.
    let perf_func = |f: &Pattern| {
        let s = f.as_str();
        s.chars().all(super::name_char)
            && super::unpaired_bracket(s).is_none()
            && super::name_end(s, &[';', ':', '+', '@', '%']) == s.len()
    };
    let names_ok = match &spec.point {
        // FUNC:N that perf's parser would take for FILE:N (a bare FUNC
        // gets a '+0' to say otherwise).
        Point::Function {
            func, file, line, ..
        } => {
            perf_func(func)
                && file.as_ref().is_none_or(perf_file)
                && !(file.is_none()
                    && line.is_some()
                    && super::reads_as_file_line(&format!("{func}:1")).is_some())
        }
        // (A leading '@' is a version's, after a function only.)
        Point::Line { file, .. } => {
            perf_file(file) && file.as_str().contains('.') && !file.as_str().starts_with('@')
        }
        Point::Data { .. } => false,
        Point::Address { .. } => true,
        Point::Mark { provider, name } => {
            use super::perf::marker_word;
            provider.as_ref().is_some_and(|p| marker_word(p.as_str())) && marker_word(name.as_str())
        }
    };
    // Text that looks like SystemTap syntax would be read back as such.
    let first = match &spec.point {
        Point::Function { func, .. } => func.as_str(),
        Point::Line { file, .. } => file.as_str(),
        Point::Data { name } => name.as_str(),
        Point::Address { .. } | Point::Mark { .. } => "",
    };
    let stap_like = spec.event.is_none()
        && ["kernel.", "module(", "process(", "process."]
            .iter()
            .any(|p| first.starts_with(p));
    // A name or file that starts like a number would read back as perf's
    // absolute address (`0Xeeb.c:12`).
    let address_like = !matches!(spec.point, Point::Address { .. } | Point::Mark { .. })
        && (first.starts_with("0x") || first.starts_with("0X"));
    let perf_ok = names_ok
        && !stap_like
        && !address_like
        && spec.target == Target::Process(None)
        && spec.inlines == InlineFilter::All
        && !matches!(
            spec.point,
            Point::Function {
                line: Some(LineSpec::Absolute(_)),
                ..
            }
        );
    if perf_ok {
        if let Some(ev) = &spec.event {
            write!(f, "{ev}=")?;
        }
        return match &spec.point {
            Point::Function {
                func,
                file,
                offset,
                line,
            } => {
                write!(f, "{func}")?;
                if let Some(file) = file {
                    write!(f, "@{file}")?;
                }
                // `zh.(:x`, bare, would read back as FILE:LINE.
                let reads_as_line = file.is_none()
                    && line.is_none()
                    && spec.kind != ProbeKind::Return
                    && super::reads_as_file_line(func.as_str()).is_some();
                if *offset != 0 {
                    write!(f, "+{offset:#x}")?;
                } else if reads_as_line {
                    f.write_str("+0")?;
                }
                if let Some(LineSpec::Relative(n)) = line {
                    write!(f, ":{n}")?;
                }
                if spec.kind == ProbeKind::Return {
                    f.write_str("%return")?;
                }
                Ok(())
            }
            Point::Line { file, line } => write!(f, "{file}:{line}"),
            Point::Data { name } => write!(f, "{name}"),
            Point::Address { addr } => {
                write!(f, "{addr:#x}")?;
                if spec.kind == ProbeKind::Return {
                    f.write_str("%return")?;
                }
                Ok(())
            }
            // `%sdt_P:N`: the `sdt_` the parser takes off is always there,
            // so a provider that starts with it reads back whole.
            Point::Mark { provider, name } => {
                write!(
                    f,
                    "%sdt_{}:{name}",
                    provider.as_ref().map_or("", |p| p.as_str())
                )
            }
        };
    }
    match &spec.target {
        Target::Kernel => f.write_str("kernel")?,
        Target::Module(m) => write!(f, "module(\"{}\")", escape(m))?,
        Target::Process(None) => f.write_str("process")?,
        Target::Process(Some(p)) => write!(f, "process(\"{}\")", escape(&p.to_string_lossy()))?,
    }
    match &spec.point {
        Point::Function {
            func,
            file,
            offset: _,
            line,
        } => {
            write!(f, ".function(\"{}", escape(func.as_str()))?;
            if let Some(file) = file {
                write!(f, "@{}", escape(file.as_str()))?;
            }
            match line {
                Some(LineSpec::Relative(n)) => write!(f, "+{n}")?,
                Some(LineSpec::Absolute(n)) => write!(f, ":{n}")?,
                None => {}
            }
            f.write_str("\")")?;
        }
        Point::Line { file, line } => {
            write!(f, ".statement(\"*@{}:{line}\")", escape(file.as_str()))?
        }
        Point::Data { name } => write!(f, ".data(\"{}\")", escape(name.as_str()))?,
        // Only perf syntax makes one (SystemTap's .statement(ADDR).absolute).
        Point::Address { addr } => write!(f, ".statement({addr:#x}).absolute")?,
        Point::Mark { provider, name } => {
            if let Some(p) = provider {
                write!(f, ".provider(\"{}\")", escape(p.as_str()))?;
            }
            write!(f, ".mark(\"{}\")", escape(name.as_str()))?
        }
    }
    match spec.inlines {
        InlineFilter::All => {}
        InlineFilter::CallOnly => f.write_str(".call")?,
        InlineFilter::InlineOnly => f.write_str(".inline")?,
    }
    if spec.kind == ProbeKind::Return {
        f.write_str(".return")?;
    }
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
