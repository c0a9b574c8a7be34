//! Names: compiler variants of a function (`.constprop.0`, `.cold`…), how a
//! probe point's function and file patterns match symbol names and source
//! paths, and the closest names for "not found" answers.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::index::{SymbolIndex, SymbolKind};
use crate::spec::Pattern;

/// A compiler-generated variant of a function, recognised by its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Variant {
    /// The function itself.
    Plain,
    /// A specialised copy (`.constprop.N`, `.isra.N`, `.part.N`, and
    /// combinations): a real entry point of a copy of the function's code.
    Clone,
    /// `.cold`: the split-off cold part. Never an entry point.
    Cold,
    /// `.localalias`: a second name for the same address.
    Alias,
    /// `.lto_priv.N` / `.llvm.N`: the function renamed by LTO; its only copy.
    Renamed,
}

/// Split `foo.isra.0.constprop.1` into `("foo", Variant::Clone)`. Names whose
/// suffix is not made only of known compiler tags are returned whole.
pub fn split_variant(name: &str) -> (&str, Variant) {
    // glibc's internal aliases (`__GI_fopen`, hidden to skip the PLT) name
    // the same function; their clones (`__GI__IO_un_link.part.0`) are
    // clones of it.
    if let Some(rest) = name.strip_prefix("__GI_").filter(|r| !r.is_empty()) {
        let (base, v) = split_variant(rest);
        return (
            base,
            if v == Variant::Plain {
                Variant::Alias
            } else {
                v
            },
        );
    }
    split_suffix(name)
}

/// [`split_variant`] without the `__GI_` rule: only the compiler's suffixes.
fn split_suffix(name: &str) -> (&str, Variant) {
    let Some(dot) = name.find('.') else {
        return (name, Variant::Plain);
    };
    if dot == 0 {
        return (name, Variant::Plain);
    }
    let (base, suffix) = (&name[..dot], &name[dot + 1..]);
    let mut variant = Variant::Plain;
    for part in suffix.split('.') {
        let v = match part {
            "constprop" | "isra" | "part" | "specialized" => Variant::Clone,
            "cold" => Variant::Cold,
            "localalias" => Variant::Alias,
            "lto_priv" | "llvm" => Variant::Renamed,
            p if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => continue,
            _ => return (name, Variant::Plain),
        };
        // Cold wins over everything: `foo.part.0.cold` is still not an entry.
        variant = match (variant, v) {
            (Variant::Cold, _) | (_, Variant::Cold) => Variant::Cold,
            (Variant::Clone, _) | (_, Variant::Clone) => Variant::Clone,
            (_, v) => v,
        };
    }
    (base, variant)
}

/// A C++ or Rust symbol name as its source spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demangled {
    /// Everything the mangling says (`int ns::twice<int>(int)`), as
    /// `nm -C` prints it.
    pub full: String,
    /// Without a template's return type (`ns::twice<int>(int)`): the name
    /// that selects one overload.
    pub with_params: String,
    /// Without parameters (`ns::twice<int>`).
    pub bare: String,
}

/// `name` demangled, if it is a C++ (Itanium) or Rust (legacy, v0) name; a
/// Rust name has no parameters in its mangling, and loses its hash
/// (`mycrate::parse::Parser::next`).
pub fn demangle(name: &str) -> Option<Demangled> {
    // Legacy Rust mangling is Itanium's with a hash path segment: Rust's
    // demangler checks for it and is asked first.
    if let Ok(sym) = rustc_demangle::try_demangle(name) {
        // v0 writes an inherent method as `<krate::Type>::method`; the
        // source, and legacy mangling, say `krate::Type::method`.
        let s = format!("{sym:#}");
        let s = match s.strip_prefix('<').and_then(|r| r.split_once(">::")) {
            Some((ty, rest)) if !ty.contains([' ', '<']) => format!("{ty}::{rest}"),
            _ => s,
        };
        return Some(Demangled {
            full: s.clone(),
            with_params: s.clone(),
            bare: s,
        });
    }
    if !name.starts_with("_Z") {
        return None;
    }
    let sym = cpp_demangle::Symbol::new(name).ok()?;
    let with = |o: cpp_demangle::DemangleOptions| sym.demangle_with_options(&o).ok();
    let bare = with(
        cpp_demangle::DemangleOptions::new()
            .no_params()
            .no_return_type(),
    )?;
    Some(Demangled {
        full: sym.demangle().ok()?,
        with_params: with(cpp_demangle::DemangleOptions::new().no_return_type())?,
        // A const method's qualifier stays with its parameters
        // (`main::{lambda(int)#1}::operator() const`).
        bare: bare
            .strip_suffix(" const")
            .map(str::to_string)
            .unwrap_or(bare),
    })
}

/// A pattern written in a language's own spelling (`ns::Klass::method`,
/// `f(int)`, `std::vector<int>::push_back`, Go's `net/http.(*Server).Serve`),
/// which mangled names never contain.
pub fn source_spelled(func: &Pattern) -> bool {
    func.as_str().contains(['(', '<', '/']) || func.as_str().contains("::")
}

/// Does `name`, demangled, match `func`: its name with parameters (spaces
/// aside: `f(int,char)` is `f(int, char)`) or without? A compiler clone
/// (`.constprop.0`) is its function's copy here too.
pub fn demangled_matches(func: &Pattern, name: &str) -> bool {
    let (base, variant) = split_variant(name);
    if variant == Variant::Cold || name.starts_with("__pfx_") {
        return false;
    }
    let Some(d) = demangle(base) else {
        return false;
    };
    let squashed = Pattern::new(squash(func.as_str()));
    func.matches(&d.bare)
        || func.matches(&untemplated(&d.bare))
        || squashed.matches(&squash(&d.with_params))
        || squashed.matches(&squash(&d.full))
}

/// Does `name`, demangled, end in a component `func` matches (`method`
/// of `ns::Klass::method`, `next` of `krate::Parser::next`)?
pub fn unqualified_matches(func: &Pattern, name: &str) -> bool {
    let (base, variant) = split_variant(name);
    if variant == Variant::Cold || !(base.starts_with("_Z") || base.starts_with("_R")) {
        return false;
    }
    let Some(d) = demangle(base) else {
        return false;
    };
    let plain = untemplated(&d.bare);
    func.matches(plain.rsplit("::").next().unwrap_or(&plain))
}

/// A demangled name without its spaces (`f(int,char)`): how a probe point,
/// split on whitespace, writes it.
pub fn squash(s: &str) -> String {
    s.replace(' ', "")
}

/// `ns::twice<int>` as `ns::twice`: every instantiation of a template is
/// named by the template, as gdb's `break ns::twice` takes them all.
fn untemplated(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0u32;
    for c in name.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Does symbol `name` match the function pattern? `foo` matches `foo` and its
/// clones (`foo.constprop.0`) but never `foo.cold`, nor `__pfx_foo` padding.
/// A pattern with a `.` matches full symbol names, so a clone can be pinned.
pub fn name_matches(func: &Pattern, name: &str) -> bool {
    // Fast reject for a literal name: most symbols differ in their first bytes.
    if func.is_literal() {
        let f = func.as_str();
        let n = name
            .strip_prefix("__GI_")
            .filter(|r| r.starts_with(f))
            .unwrap_or(name);
        if !n.starts_with(f)
            || (n.len() > f.len() && (f.contains('.') || n.as_bytes()[f.len()] != b'.'))
        {
            return false;
        }
    }
    let (base, variant) = split_variant(name);
    if name.starts_with("__pfx_") {
        return false;
    }
    if func.as_str().contains('.') {
        // A full name: a clone, or a `.cold` part named exactly (it is how
        // one probes an error path; never as part of its function).
        return func.matches(name) && (variant != Variant::Cold || func.is_literal());
    }
    // `__GI_fopen` is also found by its own name.
    variant != Variant::Cold
        && (func.matches(base) || (name.starts_with("__GI_") && func.matches(split_suffix(name).0)))
}

/// Does a source path match the `@SRC` pattern on whole path components?
/// `b.c` matches `b.c` and `src/b.c` but not `ab.c`; `src/b.c` matches
/// `/home/x/src/b.c`; a pattern starting with `/` must match the whole path.
/// Each component may be a glob.
pub fn file_matches(pattern: &Pattern, path: &str) -> bool {
    // Called for every pair of candidates when pins are chosen: no
    // allocation, and a glob only for components that have metacharacters.
    let pat = pattern.as_str();
    fn comps(s: &str) -> impl DoubleEndedIterator<Item = &str> + Clone {
        s.split('/').filter(|c| !c.is_empty() && *c != ".")
    }
    // Most pairs differ in the basename: a literal one is checked first.
    if let Some(last) = comps(pat).next_back() {
        if !last.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
            && comps(path).next_back() != Some(last)
        {
            return false;
        }
    }
    let (np, nf) = (comps(pat).count(), comps(path).count());
    if np == 0 || np > nf {
        return false;
    }
    if pat.starts_with('/') && (np != nf || !path.starts_with('/')) {
        return false;
    }
    comps(pat).rev().zip(comps(path).rev()).all(|(p, f)| {
        if p.bytes().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            Pattern::new(p).matches(f)
        } else {
            p == f
        }
    })
}

/// A test of a file's basename against the last component of a file pattern.
pub fn last_component_matcher(file: &Pattern) -> impl Fn(&str) -> bool {
    let last = Pattern::new(file.as_str().rsplit('/').next().unwrap_or(file.as_str()));
    move |b: &str| last.matches(b)
}

/// The last path component.
pub fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Up to five function names close to `want`: names that contain it (the
/// shortest first), then names within a small edit distance.
pub fn closest_names(idx: &SymbolIndex, want: &str) -> Vec<String> {
    let functions = idx
        .symbols()
        .iter()
        .filter(|s| s.kind == SymbolKind::Function)
        .map(|s| idx.name(s));
    if !source_spelled(&Pattern::new(want)) {
        return closest_in(functions, want);
    }
    // A name in its language's spelling is closest to demangled names
    // (`ns::Klass::method`, `ns::twice`), which are what to write back.
    let demangled: Vec<String> = functions
        .filter_map(|n| demangle(split_variant(n).0))
        .map(|d| untemplated(&d.bare))
        .collect();
    closest_in(demangled.iter().map(String::as_str), want)
}

/// [`closest_names`] over any names (a kallsyms listing's, say).
pub fn closest_in<'a>(names: impl Iterator<Item = &'a str>, want: &str) -> Vec<String> {
    let want_l = want.to_ascii_lowercase();
    let limit = (want.len() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = Vec::new();
    let mut seen = BTreeSet::new();
    for name in names {
        let (base, v) = split_variant(name);
        if v == Variant::Cold || base.starts_with("__pfx_") || !seen.insert(base) {
            continue;
        }
        let d = if want_l.len() >= 3
            && base.len() >= want.len()
            && base.to_ascii_lowercase().contains(&want_l)
        {
            1 + (base.len() - want.len()).min(limit)
        } else if base.len().abs_diff(want.len()) > limit {
            continue;
        } else {
            strsim::levenshtein(&want_l, &base.to_ascii_lowercase())
        };
        if d <= limit {
            scored.push((d, base));
        }
    }
    scored.sort();
    scored
        .into_iter()
        .take(5)
        .map(|(_, n)| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Pattern;

    #[test]
    fn variants() {
        assert_eq!(split_variant("helper"), ("helper", Variant::Plain));
        assert_eq!(
            split_variant("helper.constprop.0"),
            ("helper", Variant::Clone)
        );
        assert_eq!(split_variant("helper.isra.0"), ("helper", Variant::Clone));
        assert_eq!(split_variant("helper.part.3"), ("helper", Variant::Clone));
        assert_eq!(
            split_variant("helper.isra.0.constprop.1"),
            ("helper", Variant::Clone)
        );
        assert_eq!(split_variant("helper.cold"), ("helper", Variant::Cold));
        assert_eq!(
            split_variant("helper.part.0.cold"),
            ("helper", Variant::Cold)
        );
        assert_eq!(
            split_variant("helper.localalias"),
            ("helper", Variant::Alias)
        );
        assert_eq!(
            split_variant("helper.lto_priv.0"),
            ("helper", Variant::Renamed)
        );
        assert_eq!(split_variant("a.b"), ("a.b", Variant::Plain));
        assert_eq!(split_variant(".L123"), (".L123", Variant::Plain));
        assert_eq!(split_variant("x."), ("x.", Variant::Plain));
    }

    fn fm(p: &str, f: &str) -> bool {
        file_matches(&Pattern::new(p), f)
    }

    #[test]
    fn file_components() {
        assert!(fm("b.c", "b.c"));
        assert!(fm("b.c", "src/b.c"));
        assert!(fm("b.c", "./b.c"));
        assert!(!fm("b.c", "ab.c"));
        assert!(fm("src/b.c", "/home/x/src/b.c"));
        assert!(!fm("src/b.c", "b.c"));
        assert!(!fm("/src/b.c", "/home/x/src/b.c"));
        assert!(fm("/home/x/src/b.c", "/home/x/src/b.c"));
        assert!(fm("*.c", "src/b.c"));
        assert!(fm("s*/?.c", "src/b.c"));
        assert!(!fm("*.h", "src/b.c"));
    }

    #[test]
    fn names_and_clones() {
        let p = Pattern::new("helper");
        assert!(name_matches(&p, "helper"));
        assert!(name_matches(&p, "helper.constprop.0"));
        assert!(!name_matches(&p, "helper.cold"));
        assert!(!name_matches(&p, "helpers"));
        assert!(name_matches(&Pattern::new("help*"), "helper.isra.0"));
        assert!(!name_matches(&Pattern::new("*"), "__pfx_helper"));
        assert!(name_matches(
            &Pattern::new("helper.constprop.0"),
            "helper.constprop.0"
        ));
        assert!(!name_matches(&Pattern::new("helper.constprop.0"), "helper"));
        // A cold part only when named exactly.
        assert!(name_matches(&Pattern::new("helper.cold"), "helper.cold"));
        assert!(!name_matches(&Pattern::new("help*.cold"), "helper.cold"));
        // glibc's __GI_ aliases and their clones belong to the function.
        assert!(name_matches(&p, "__GI_helper"));
        assert!(name_matches(&p, "__GI_helper.part.0"));
        assert_eq!(
            split_variant("__GI__IO_un_link.part.0"),
            ("_IO_un_link", Variant::Clone)
        );
        assert_eq!(split_variant("__GI_fopen"), ("fopen", Variant::Alias));
        // ... and are found by their own names too.
        assert!(name_matches(&Pattern::new("__GI_helper"), "__GI_helper"));
        assert!(name_matches(
            &Pattern::new("__GI_helper"),
            "__GI_helper.part.0"
        ));
        assert!(!name_matches(&Pattern::new("__GI_helper"), "helper"));
    }

    #[test]
    fn closest() {
        let names = [
            "helper",
            "helper.cold",
            "__pfx_helper",
            "other_helper_fn",
            "main",
        ];
        assert_eq!(
            closest_in(names.into_iter(), "helpr"),
            vec!["helper".to_string()]
        );
        // A substring counts only when the name is not much longer.
        assert_eq!(
            closest_in(names.into_iter(), "elper"),
            vec!["helper".to_string()]
        );
        assert!(closest_in(names.into_iter(), "zzzzzz").is_empty());
    }
}
