//! perf probe syntax (`tools/perf/util/probe-event.c`, `parse_perf_probe_point`):
//!
//! ```text
//! [EVENT=]FUNC[@SRC][+OFF|%return|:RLN|;PTN]
//! [EVENT=]SRC[:ALN|;PTN]
//! ```
//!
//! Like perf, the text is a file spec only if it has no `+@%`, has a `:` or `;`,
//! and has a `.` before that `:`/`;`; otherwise it is a function spec.

use super::{
    parse_number, InlineFilter, LineSpec, ParseError, Pattern, Point, ProbeKind, ProbeSpec, Syntax,
    Target,
};
use crate::emit::event::MAX_NAME_LEN as MAX_EVENT_NAME;

pub(crate) fn parse(text: &str) -> Result<ProbeSpec, ParseError> {
    if let Some(at) = text.find(|c: char| c.is_whitespace()) {
        return Err(ParseError::new(
            at,
            "whitespace in a probe point (give each probe point as its own argument)",
        ));
    }
    if text.is_empty() {
        return Err(ParseError::new(0, "empty probe point"));
    }
    let mut base = 0usize;
    let mut rest = text;
    let mut event = None;
    if let Some(eq) = rest.find('=') {
        let name = &rest[..eq];
        if name.is_empty() {
            return Err(ParseError::new(0, "empty event name before '='"));
        }
        if let Some(bad) = name.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            return Err(ParseError::new(
                bad,
                "an event name takes only letters, digits and '_'",
            ));
        }
        // The kernel's is_good_name() and MAX_EVENT_NAME_LEN: a name it
        // would refuse is refused here, never rewritten.
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(ParseError::new(
                0,
                "an event name starts with a letter or '_' (tracefs refuses a leading digit)",
            ));
        }
        if name.len() > MAX_EVENT_NAME {
            return Err(ParseError::new(
                MAX_EVENT_NAME,
                format!(
                    "an event name has at most {MAX_EVENT_NAME} characters (the kernel's MAX_EVENT_NAME_LEN - 1); this one has {}",
                    name.len()
                ),
            ));
        }
        event = Some(name.to_string());
        base = eq + 1;
        rest = &rest[eq + 1..];
        if let Some(second) = rest.find('=') {
            return Err(ParseError::new(
                base + second,
                "a second '=' ('=' only ends an event name)",
            ));
        }
    }

    // A marker: %[sdt_]PROVIDER:NAME, or sdt_PROVIDER:NAME (perf's cached
    // SDT event name) when NAME is not a line number.
    let mark = rest.strip_prefix('%').or_else(|| {
        rest.strip_prefix("sdt_")
            .filter(|r| {
                r.split_once(':')
                    .is_some_and(|(_, n)| n.parse::<u32>().is_err())
            })
            .map(|_| rest)
    });
    if let Some(m) = mark {
        let m = m.strip_prefix("sdt_").unwrap_or(m);
        let at = base + (rest.len() - m.len());
        let (provider, name) = m.split_once(':').ok_or_else(|| {
            ParseError::new(at, "a marker is PROVIDER:NAME (%python:function__entry)")
        })?;
        if !marker_word(provider) {
            return Err(ParseError::new(at, "expected a provider name before ':'"));
        }
        if !marker_word(name) {
            return Err(ParseError::new(
                at + provider.len() + 1,
                "expected a marker name after ':'",
            ));
        }
        return Ok(ProbeSpec {
            target: Target::Process(None),
            point: Point::Mark {
                provider: Some(Pattern::new(provider)),
                name: Pattern::new(name),
            },
            kind: ProbeKind::Entry,
            inlines: InlineFilter::All,
            event: event.clone(),
            syntax: Syntax::Perf,
            args: Vec::new(),
        });
    }

    // An absolute address: 0xADDR[%return].
    if let Some(hex) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        let (digits, ret) = match hex.split_once('%') {
            Some((d, "return")) => (d, true),
            Some((d, _)) => {
                return Err(ParseError::new(
                    base + 2 + d.len(),
                    "only '%return' may follow an address",
                ))
            }
            None => (hex, false),
        };
        let addr = u64::from_str_radix(digits, 16)
            .map_err(|_| ParseError::new(base, "expected a hexadecimal address after '0x'"))?;
        return Ok(ProbeSpec {
            target: Target::Process(None),
            point: Point::Address { addr },
            kind: if ret {
                ProbeKind::Return
            } else {
                ProbeKind::Entry
            },
            inlines: InlineFilter::All,
            event: event.clone(),
            syntax: Syntax::Perf,
            args: Vec::new(),
        });
    }

    let seps: &[char] = &[';', ':', '+', '@', '%'];
    let file_line = super::reads_as_file_line(rest);

    let spec = |point, kind| ProbeSpec {
        target: Target::Process(None),
        point,
        kind,
        inlines: InlineFilter::All,
        event: event.clone(),
        syntax: Syntax::Perf,
        args: Vec::new(),
    };

    if let Some(sep) = file_line {
        let file = &rest[..sep];
        if let Some(c) = file.find(':') {
            return Err(ParseError::new(
                base + c,
                "a ':' in a source file name (only FILE:LINE uses ':')",
            ));
        }
        if rest[sep..].starts_with(';') {
            return Err(ParseError::new(
                base + sep,
                "lazy line patterns (';PTN') are not supported",
            ));
        }
        let num = &rest[sep + 1..];
        let line = parse_line(num, base + sep + 1)?;
        return Ok(spec(
            Point::Line {
                file: Pattern::new(file),
                line,
            },
            ProbeKind::Entry,
        ));
    }

    // Function spec: FUNC, then any of @SRC +OFF %return :RLN in perf's order.
    let fend = super::name_end(rest, seps);
    let func = &rest[..fend];
    if func.is_empty() {
        return Err(ParseError::new(base, "expected a function name"));
    }
    // Brackets of C++, Rust and Go names come in pairs.
    match super::unpaired_bracket(func) {
        Some((i, c, true)) => {
            return Err(ParseError::new(
                base + i,
                format!("unexpected '{c}' in function name: it is not closed"),
            ))
        }
        Some((i, c, false)) => {
            return Err(ParseError::new(
                base + i,
                format!("unexpected '{c}' in function name"),
            ))
        }
        None => {}
    }
    if let Some(bad) = func.find(|c: char| !super::name_char(c)) {
        return Err(ParseError::new(
            base + bad,
            format!(
                "unexpected '{}' in function name",
                &func[bad..].chars().next().unwrap_or('?')
            ),
        ));
    }
    let mut file = None;
    let mut offset = 0u64;
    let mut has_offset = false;
    let mut kind = ProbeKind::Entry;
    let mut line = None;
    let mut pos = fend;
    while pos < rest.len() {
        let sep = rest.as_bytes()[pos];
        let start = pos + 1;
        let mut end = rest[start..].find(seps).map_or(rest.len(), |e| start + e);
        let mut arg = &rest[start..end];
        let at = base + start;
        match sep {
            b'@' => {
                if file.is_some() {
                    return Err(ParseError::new(at - 1, "source file given twice"));
                }
                // `NAME@@VERSION`, the default version as the symbol table
                // spells it: kept whole (`@VERSION`) for the match.
                if arg.is_empty() && rest[start..].starts_with('@') {
                    end = rest[start + 1..]
                        .find(seps)
                        .map_or(rest.len(), |e| start + 1 + e);
                    arg = &rest[start..end];
                }
                if arg.is_empty() || arg == "@" {
                    return Err(ParseError::new(at, "expected a source file after '@'"));
                }
                file = Some(Pattern::new(arg));
            }
            b'+' => {
                if has_offset || line.is_some() || kind == ProbeKind::Return {
                    return Err(ParseError::new(
                        at - 1,
                        "an offset cannot be combined with another offset, a line or %return",
                    ));
                }
                offset = parse_number(arg).ok_or_else(|| {
                    ParseError::new(at, format!("bad offset '{arg}' (decimal or 0x hex)"))
                })?;
                has_offset = true;
            }
            b'%' => {
                if arg != "return" {
                    return Err(ParseError::new(
                        at,
                        format!("unknown '%{arg}' (only %return)"),
                    ));
                }
                if has_offset || line.is_some() {
                    return Err(ParseError::new(
                        at - 1,
                        "%return cannot be combined with an offset or a line",
                    ));
                }
                if kind == ProbeKind::Return {
                    return Err(ParseError::new(at - 1, "%return given twice"));
                }
                kind = ProbeKind::Return;
            }
            b':' => {
                if has_offset || line.is_some() || kind == ProbeKind::Return {
                    return Err(ParseError::new(
                        at - 1,
                        "a line cannot be combined with an offset, another line or %return",
                    ));
                }
                line = Some(LineSpec::Relative(parse_line(arg, at)?));
            }
            b';' => {
                return Err(ParseError::new(
                    at - 1,
                    "lazy line patterns (';PTN') are not supported",
                ));
            }
            _ => unreachable!("separator set"),
        }
        pos = end;
    }
    Ok(spec(
        Point::Function {
            func: Pattern::new(func),
            file,
            offset,
            line,
        },
        kind,
    ))
}

fn parse_line(num: &str, at: usize) -> Result<u32, ParseError> {
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::new(
            at,
            format!("expected a line number, found '{num}'"),
        ));
    }
    num.parse()
        .map_err(|_| ParseError::new(at, format!("line number '{num}' out of range")))
}

/// A provider or marker name (or a glob of one) as perf's `%P:N` writes it.
pub(crate) fn marker_word(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_*?".contains(c))
}
