//! Shell-style globs (`*`, `?`, `[...]`) as perf probe and SystemTap accept them
//! in function and file names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A name pattern: a literal or a glob with `*`, `?` and `[...]` (`[!...]` or
/// `[^...]` negates, `a-z` ranges).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pattern {
    text: String,
}

impl Pattern {
    /// A pattern from its text.
    pub fn new(text: impl Into<String>) -> Self {
        Pattern { text: text.into() }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True if the pattern has no glob metacharacters, so that it can only
    /// match the one name it spells.
    pub fn is_literal(&self) -> bool {
        !self.text.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
    }

    /// Does `name` match the whole pattern?
    pub fn matches(&self, name: &str) -> bool {
        if self.is_literal() {
            return self.text == name;
        }
        glob_match(&self.text, name)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Iterative glob matcher with single-star backtracking: linear in practice,
/// never exponential, never recursive (patterns come from users). `?` and
/// a class match one character, not one byte (`caf?` matches `café`).
fn glob_match(pat: &str, name: &str) -> bool {
    let (pb, nb) = (pat.as_bytes(), name.as_bytes());
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    // The character at byte `i` of `s` (a char boundary), and its width.
    let at = |s: &str, i: usize| s[i..].chars().next().map(|c| (c, c.len_utf8()));
    while n < nb.len() {
        let (c, w) = at(name, n).expect("a char boundary");
        if p < pb.len() {
            match pb[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += w;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(pat, p, c) {
                        if matched {
                            p = next;
                            n += w;
                            continue;
                        }
                    } else if c == '[' {
                        // An unterminated '[' is a literal.
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                _ => {
                    let (pc, pw) = at(pat, p).expect("a char boundary");
                    if pc == c {
                        p += pw;
                        n += w;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sn)) => {
                let next = sn + at(name, sn).map_or(1, |(_, w)| w);
                p = sp + 1;
                n = next;
                star = Some((sp, next));
            }
            None => return false,
        }
    }
    pb[p..].iter().all(|&c| c == b'*')
}

/// Match one character against the class starting at `pat[start] == '['`.
/// Returns `(matched, index after ']')`, or `None` if the class is unterminated.
fn class_match(pat: &str, start: usize, c: char) -> Option<(bool, usize)> {
    let mut chars = pat[start + 1..]
        .char_indices()
        .map(|(i, ch)| (start + 1 + i, ch))
        .peekable();
    let negate = matches!(chars.peek(), Some((_, '!' | '^')));
    if negate {
        chars.next();
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let (i, lo) = chars.next()?;
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let mut ahead = chars.clone();
        match (ahead.next(), ahead.next()) {
            (Some((_, '-')), Some((_, hi))) if hi != ']' => {
                if lo <= c && c <= hi {
                    matched = true;
                }
                chars = ahead;
            }
            _ => {
                if lo == c {
                    matched = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn m(p: &str, n: &str) -> bool {
        Pattern::new(p).matches(n)
    }

    #[test]
    fn literals_and_stars() {
        assert!(m("helper", "helper"));
        assert!(!m("helper", "helpers"));
        assert!(m("help*", "helper"));
        assert!(m("help*", "help"));
        assert!(m("*per", "helper"));
        assert!(m("h*l*r", "helper"));
        assert!(!m("h*x*r", "helper"));
        assert!(m("*", ""));
        assert!(m("*.c", "b.c"));
        assert!(!m("*.c", "b.h"));
    }

    #[test]
    fn question_and_classes() {
        assert!(m("?.c", "b.c"));
        assert!(!m("?.c", "ab.c"));
        assert!(m("[ab].c", "a.c"));
        assert!(m("[a-c].c", "b.c"));
        assert!(!m("[!a-c].c", "b.c"));
        assert!(m("[^a].c", "b.c"));
        assert!(m("[]x].c", "].c"));
        assert!(m("a[", "a["));
        assert!(!m("[a-c].c", "d.c"));
    }

    /// `?` and classes take one character, not one byte.
    #[test]
    fn characters_not_bytes() {
        assert!(m("caf?", "café"));
        assert!(!m("caf??", "café"));
        assert!(m("*é", "xé"));
        assert!(m("*?", "é"));
        assert!(!m("*??", "é"));
        assert!(m("gr[ö]*", "größe"));
        assert!(m("[à-ü]", "é"));
        assert!(!m("[!é]", "é"));
        assert!(m("[!é]", "e"));
        assert!(m("*ß*", "größe"));
    }

    #[test]
    fn no_exponential_blowup() {
        let name = "a".repeat(200);
        assert!(!m("*a*a*a*a*a*a*a*a*a*a*b", &name));
    }
}
