//! Fetch arguments: the data a probe records, named the way the source names it.
//!
//! Both syntaxes follow the probe point, separated by whitespace:
//!
//! * perf probe: `[NAME=]VAR[->FIELD|.FIELD|[N]]...[:TYPE]`, `$retval`,
//!   `$params`, `$vars`, `$argN`, and raw fetch arguments (`%di`,
//!   `+8(%si)`, `@sym`) passed through unchanged;
//! * SystemTap: `$var`, `$var->field`, `$var[2]`, `$$parms`, `$$vars`,
//!   `$$locals`, `$return`.
//!
//! `*VAR` dereferences a pointer. Types (`:u32`, `:string`, `:ustring`,
//! `:x64`) override the one DWARF gives.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ParseError;

/// One step from a variable to the data it leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// `->FIELD`: a member of the struct a pointer points to.
    Arrow(String),
    /// `.FIELD`: a member of a struct value.
    Dot(String),
    /// `[N]`: an element of an array, or of what a pointer points to.
    Index(i64),
}

/// What an argument reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArgExpr {
    /// A variable in scope at the probe (local, parameter, or global),
    /// then member and element accesses; `deref` for a leading `*`.
    Var {
        /// The variable's name.
        name: String,
        /// `->f`, `.f`, `[n]`, in order.
        path: Vec<Access>,
        /// `*VAR`: the value the pointer points to.
        deref: bool,
    },
    /// `$retval` / `$return`: the function's return value (return probes).
    Retval,
    /// `$params` / `$$parms`: every parameter of the function.
    Params,
    /// `$vars` / `$$vars`: every parameter and local in scope.
    Vars,
    /// `$$locals`: every local in scope, no parameters.
    Locals,
    /// `$argN` (from 1): the Nth argument by the calling convention, at a
    /// function's entry, without DWARF.
    ArgN(u32),
    /// A fetch argument in the kernel's own syntax (`%di`, `+8(%si)`,
    /// `@sym`, `$stack`, `$comm`), passed through unchanged.
    Raw(String),
}

/// One fetch argument as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchSpec {
    /// `NAME=`: the name the argument is recorded under.
    pub name: Option<String>,
    /// What it reads.
    pub expr: ArgExpr,
    /// `:TYPE`, when given.
    pub cast: Option<String>,
}

/// The types the kernel's fetch arguments take.
const TYPES: &[&str] = &[
    "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "x8", "x16", "x32", "x64", "string",
    "ustring", "symbol", "char",
];

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parse one argument; `at` is its byte offset in the probe point text.
pub(crate) fn parse(text: &str, at: usize) -> Result<FetchSpec, ParseError> {
    let mut rest = text;
    let mut base = at;
    let mut name = None;
    // `NAME=` only when what precedes '=' is a plain name (an expression
    // never holds '=').
    if let Some((n, e)) = rest.split_once('=') {
        if !is_ident(n) {
            return Err(ParseError::new(
                at,
                format!("argument name '{n}' must be letters, digits and '_', not starting with a digit"),
            ));
        }
        name = Some(n.to_string());
        base += n.len() + 1;
        rest = e;
    }
    let mut cast = None;
    // A raw `+8(%si):u64` has its type after the last ':'; so does `x:u8`.
    if let Some(i) = rest.rfind(':') {
        let t = &rest[i + 1..];
        let typed = TYPES.contains(&t)
            || (t.starts_with('b') && t.contains('@'))
            || t.ends_with("[]")
            || (t.starts_with(['u', 's', 'x']) && t[1..].parse::<u32>().is_ok());
        if !typed {
            return Err(ParseError::new(
                base + i + 1,
                format!("unknown type '{t}' (u8..u64, s8..s64, x8..x64, string, ustring, symbol)"),
            ));
        }
        cast = Some(t.to_string());
        rest = &rest[..i];
    }
    if rest.is_empty() {
        return Err(ParseError::new(base, "empty fetch argument"));
    }
    let expr = match rest {
        "$retval" | "$return" => ArgExpr::Retval,
        "$params" | "$$parms" => ArgExpr::Params,
        "$vars" | "$$vars" => ArgExpr::Vars,
        "$$locals" => ArgExpr::Locals,
        _ if rest.starts_with("$arg") && rest[4..].parse::<u32>().is_ok_and(|n| n >= 1) => {
            ArgExpr::ArgN(rest[4..].parse().unwrap_or(1))
        }
        _ if rest.starts_with(['%', '@', '+', '-', '\\'])
            || matches!(rest, "$stack" | "$comm" | "$current")
            || rest.starts_with("$stack") =>
        {
            ArgExpr::Raw(rest.to_string())
        }
        _ => var(rest, base)?,
    };
    if matches!(expr, ArgExpr::Params | ArgExpr::Vars | ArgExpr::Locals) && name.is_some() {
        return Err(ParseError::new(
            at,
            "'$params', '$vars' and '$$locals' stand for several arguments and take no name",
        ));
    }
    Ok(FetchSpec { name, expr, cast })
}

/// `[*][$]VAR(->F|.F|[N])*`.
fn var(text: &str, at: usize) -> Result<ArgExpr, ParseError> {
    let (deref, mut s, mut pos) = match text.strip_prefix('*') {
        Some(r) => (true, r, at + 1),
        None => (false, text, at),
    };
    // stap spells variables `$name`.
    if let Some(r) = s.strip_prefix('$') {
        s = r;
        pos += 1;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let name = &s[..end];
    if !is_ident(name) {
        return Err(ParseError::new(
            pos,
            format!("expected a variable name, found '{s}'"),
        ));
    }
    let mut path = Vec::new();
    let mut i = end;
    while i < s.len() {
        let r = &s[i..];
        let (step, len) = if let Some(f) = r.strip_prefix("->") {
            let n = f
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(f.len());
            (Access::Arrow(f[..n].to_string()), 2 + n)
        } else if let Some(f) = r.strip_prefix('.') {
            let n = f
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(f.len());
            (Access::Dot(f[..n].to_string()), 1 + n)
        } else if let Some(f) = r.strip_prefix('[') {
            let close = f
                .find(']')
                .ok_or_else(|| ParseError::new(pos + i, "'[' without ']'"))?;
            let n: i64 = f[..close].trim().parse().map_err(|_| {
                ParseError::new(pos + i + 1, "an array index must be a decimal number")
            })?;
            (Access::Index(n), close + 2)
        } else {
            return Err(ParseError::new(
                pos + i,
                format!("unexpected '{r}' (expected '->FIELD', '.FIELD' or '[N]')"),
            ));
        };
        if let Access::Arrow(f) | Access::Dot(f) = &step {
            if !is_ident(f) {
                return Err(ParseError::new(pos + i, "expected a member name"));
            }
        }
        path.push(step);
        i += len;
    }
    Ok(ArgExpr::Var {
        name: name.to_string(),
        path,
        deref,
    })
}

/// Split a probe point's text into the point and its arguments, at
/// whitespace outside double quotes; returns `(point, [(arg, offset)])`.
pub(crate) fn split(text: &str) -> (&str, Vec<(&str, usize)>) {
    let mut words = Vec::new();
    let mut start = None;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            c if c.is_whitespace() && !quoted => {
                if let Some(s) = start.take() {
                    words.push((&text[s..i], s));
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        words.push((&text[s..], s));
    }
    if words.is_empty() {
        return ("", Vec::new());
    }
    let (point, _) = words.remove(0);
    (point, words)
}

impl fmt::Display for FetchSpec {
    /// The argument as the probe-point parser reads it back (perf syntax).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = &self.name {
            write!(f, "{n}=")?;
        }
        match &self.expr {
            ArgExpr::Var { name, path, deref } => {
                if *deref {
                    f.write_str("*")?;
                }
                f.write_str(name)?;
                for p in path {
                    match p {
                        Access::Arrow(m) => write!(f, "->{m}")?,
                        Access::Dot(m) => write!(f, ".{m}")?,
                        Access::Index(n) => write!(f, "[{n}]")?,
                    }
                }
            }
            ArgExpr::Retval => f.write_str("$retval")?,
            ArgExpr::Params => f.write_str("$params")?,
            ArgExpr::Vars => f.write_str("$vars")?,
            ArgExpr::Locals => f.write_str("$$locals")?,
            ArgExpr::ArgN(n) => write!(f, "$arg{n}")?,
            ArgExpr::Raw(r) => f.write_str(r)?,
        }
        if let Some(t) = &self.cast {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_read_back_as_written() {
        for (text, shown) in [
            ("n", "n"),
            ("s->len", "s->len"),
            ("x=s->name:string", "x=s->name:string"),
            ("$file->f_pos", "file->f_pos"),
            ("*p", "*p"),
            ("s->arr[2].a", "s->arr[2].a"),
            ("$$parms", "$params"),
            ("$return", "$retval"),
            ("$arg2:u64", "$arg2:u64"),
            ("+8(%si):u64", "+8(%si):u64"),
            ("y=%di", "y=%di"),
        ] {
            let a = parse(text, 0).unwrap();
            assert_eq!(a.to_string(), shown, "{text}");
            assert_eq!(parse(shown, 0).unwrap(), a, "{shown}");
        }
    }

    #[test]
    fn bad_arguments_name_the_column() {
        for (text, at) in [
            ("9x=n", 0),
            ("n:u7x", 2),
            ("s->", 1),
            ("s[x]", 2),
            ("n=$params", 0),
        ] {
            let e = parse(text, 0).unwrap_err();
            assert_eq!(e.at, at, "{text}: {}", e.message);
        }
    }

    #[test]
    fn quoted_whitespace_stays_in_the_point() {
        let (p, a) = split(r#"process("/a b/c").function("f") $x  $y"#);
        assert_eq!(p, r#"process("/a b/c").function("f")"#);
        assert_eq!(a, vec![("$x", 32), ("$y", 36)]);
    }
}
