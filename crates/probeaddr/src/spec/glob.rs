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
        glob_match(self.text.as_bytes(), name.as_bytes())
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
/// never exponential, never recursive (patterns come from users).
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(pat, p, name[n]) {
                        if matched {
                            p = next;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        // An unterminated '[' is a literal.
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Match one byte against the class starting at `pat[start] == b'['`.
/// Returns `(matched, index after ']')`, or `None` if the class is unterminated.
fn class_match(pat: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(pat.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &lo = pat.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pat[i + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
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

    #[test]
    fn no_exponential_blowup() {
        let name = "a".repeat(200);
        assert!(!m("*a*a*a*a*a*a*a*a*a*a*b", &name));
    }
}
