//! Event and group names under the kernel's rules (`is_good_name()` in
//! `kernel/trace/trace_probe.h`): `[A-Za-z_][A-Za-z0-9_]*`, at most
//! `MAX_EVENT_NAME_LEN - 1` = 63 characters; and the names probeaddr gives
//! locations (`helper`, `helper_b_c`, `helper_0x4`, `main_L22`,
//! `check_in_main`, `helper__return`), the same for every object kind.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;

/// Longest event or group name the kernel accepts.
pub const MAX_NAME_LEN: usize = 63;

/// A validated group name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    /// Validate a group name.
    pub fn new(name: &str) -> Result<GroupName> {
        validate(name, "group")?;
        Ok(GroupName(name.to_string()))
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for GroupName {
    fn default() -> Self {
        GroupName("probeaddr".into())
    }
}

/// Check a name against the kernel's rules.
pub fn validate(name: &str, what: &str) -> Result<()> {
    let ok_first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    let ok_rest = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok_first || !ok_rest {
        return Err(Error::new(
            ErrorKind::Unrepresentable,
            format!("invalid {what} name {name:?}: the kernel takes [A-Za-z_][A-Za-z0-9_]*"),
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::new(
            ErrorKind::Unrepresentable,
            format!(
                "{what} name {name:?} is {} characters; the kernel takes at most {MAX_NAME_LEN}",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// Turn arbitrary text into a valid name fragment: invalid bytes become `_`,
/// runs of `_` collapse, a leading digit gets a `_` before it.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches('_');
    let mut out = if trimmed.is_empty() {
        "probe".to_string()
    } else {
        trimmed.to_string()
    };
    if out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    out
}

/// Hands out distinct, valid event names within one group.
#[derive(Debug, Default)]
pub struct EventNamer {
    used: HashSet<String>,
}

impl EventNamer {
    /// A namer with nothing used yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserve `name` exactly if free, else `name_1`, `name_2`… (each cut to
    /// fit in 63 characters). A name that breaks the kernel's rules is
    /// sanitized first.
    pub fn claim(&mut self, name: &str) -> String {
        let valid = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let base = if valid {
            name.to_string()
        } else {
            sanitize(name)
        };
        let fit =
            |s: &str, room: usize| -> String { s.chars().take(MAX_NAME_LEN - room).collect() };
        let first = fit(&base, 0);
        if self.used.insert(first.clone()) {
            return first;
        }
        for n in 1u64.. {
            let suffix = format!("_{n}");
            let cand = format!("{}{suffix}", fit(&base, suffix.len()));
            if self.used.insert(cand.clone()) {
                return cand;
            }
        }
        unreachable!("u64 suffixes exhausted")
    }
}

/// The event name of `l`: the name its probe point chose, else one made
/// from the symbol, with the file when another location of the same point
/// has the same symbol in another file (`dup`), a compat symbol version,
/// then the line as the point wrote it (perf's `_LN`) or the offset, and
/// `__return`.
pub fn event_name(l: &Location, dup: bool) -> String {
    if let Some(e) = &l.requested_event {
        return e.clone();
    }
    // A marker is named by its name, as perf names SDT events.
    if let Some(m) = &l.marker {
        return sanitize(&m.name);
    }
    // A C++ or Rust function by its name (`ns_Klass_method`), not its
    // mangling; overloads are told apart by the namer.
    let (base, _) = crate::index::names::split_variant(&l.symbol);
    let symbol = match crate::index::names::demangle(base) {
        Some(d) => format!(
            "{}{}",
            d.bare.replace("::", "_"),
            l.symbol.get(base.len()..).unwrap_or("")
        ),
        None => l.symbol.clone(),
    };
    let mut name = match &l.inlined_into {
        Some(_) => format!("{}_in_{}", sanitize(&l.function), sanitize(&symbol)),
        None => sanitize(&symbol),
    };
    if let (true, Some(f)) = (dup, &l.file) {
        name.push('_');
        name.push_str(&sanitize(f));
    }
    // A compat version (`realpath@GLIBC_2.2.5`, not the default `@@`)
    // says so in its name; the default version keeps the plain name.
    if let Some(v) = l.version.as_deref().filter(|v| !v.starts_with("@@")) {
        name.push('_');
        name.push_str(&sanitize(v));
    }
    if let Some(line) = &l.line {
        name.push_str(&format!("_L{}", line.relative.map_or(line.line, u64::from)));
    } else if l.offset > 0 {
        name.push_str(&format!("_{:#x}", l.offset));
    }
    if l.kind.is_return() {
        name.push_str("__return");
    }
    name
}

/// Distinct event names for `locs`, in order: the locations of one probe
/// point are consecutive and share `point`, and a name gets the file when
/// its symbol occurs in several files of that point. Takes locations or
/// references to them (a glob's 200,000 need not be copied to be named).
pub fn name_events<L: Borrow<Location>>(locs: &[L], namer: &mut EventNamer) -> Vec<String> {
    let mut out = Vec::with_capacity(locs.len());
    for group in locs.chunk_by(|a, b| a.borrow().point == b.borrow().point) {
        // The files each symbol of this point is in: more than one, and
        // the name needs the file (one pass, not a pass per location).
        let mut files: HashMap<&str, HashSet<Option<&str>>> = HashMap::new();
        for l in group.iter().map(L::borrow) {
            files
                .entry(&l.symbol)
                .or_default()
                .insert(l.file.as_deref());
        }
        for l in group.iter().map(L::borrow) {
            let dup = files[l.symbol.as_str()].len() > 1;
            out.push(namer.claim(&event_name(l, dup)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing() {
        assert_eq!(sanitize("helper"), "helper");
        assert_eq!(sanitize("helper.constprop.0"), "helper_constprop_0");
        assert_eq!(sanitize("helper b.c"), "helper_b_c");
        assert_eq!(sanitize("9lives"), "_9lives");
        assert_eq!(sanitize("..."), "probe");
    }

    #[test]
    fn unique_and_bounded() {
        let mut n = EventNamer::new();
        assert_eq!(n.claim("helper_b_c"), "helper_b_c");
        assert_eq!(n.claim("helper_b_c"), "helper_b_c_1");
        assert_eq!(n.claim("helper_b_c"), "helper_b_c_2");
        let long = "x".repeat(100);
        let a = n.claim(&long);
        let b = n.claim(&long);
        assert_eq!(a.len(), 63);
        assert_eq!(b.len(), 63);
        assert!(b.ends_with("_1"));
        assert!(validate(&a, "event").is_ok() && validate(&b, "event").is_ok());
    }

    #[test]
    fn validation() {
        assert!(validate("probeaddr", "group").is_ok());
        assert!(validate("1x", "group").is_err());
        assert!(validate("a-b", "group").is_err());
        assert!(validate("", "group").is_err());
        assert!(validate(&"a".repeat(64), "group").is_err());
    }
}
