//! Matching probe points against an object: every location a [`ProbeSpec`]
//! names, each with its source file. Several matches are all returned; only
//! [`ResolveOptions::unique`] turns them into an error, which lists them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;

use crate::addr::{FileOffset, LinkAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::index::{split_variant, Binding, Symbol, SymbolIndex, SymbolKind, Variant};
use crate::insn::{check_offset_x86_64, BadOffset};
use crate::sources::debuginfo::{self, DebugSearch, FoundBy};
use crate::sources::dwarf::CompUnits;
use crate::sources::elf::{ElfObject, ObjectKind, SymbolTableKind};
use crate::spec::{Pattern, Point, ProbeKind, ProbeSpec, Target};

/// Options for matching.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// More than one match is an error listing every candidate.
    pub unique: bool,
}

/// Where an object's symbols came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SymbolSource {
    /// The object's own `.symtab`.
    Symtab,
    /// The `.symtab` of a separate debug file.
    DebugFile {
        /// Path of the debug file.
        path: PathBuf,
        /// How it was found.
        found_by: FoundBy,
    },
    /// Only `.dynsym`: exported functions, no `static` ones.
    DynsymOnly,
}

/// A user-space ELF file (executable, PIE or shared library) opened for
/// resolving, with its symbols indexed. Open once, resolve many probe points.
#[derive(Debug)]
pub struct UserObject {
    elf: ElfObject,
    source: SymbolSource,
    index: SymbolIndex,
    searched: Vec<PathBuf>,
    notes: Vec<String>,
    /// The file holding DWARF for this object (itself or its debug file).
    dwarf_from: Option<ElfObject>,
    /// Compile units, read on first use.
    units: OnceLock<Option<CompUnits>>,
}

/// A symbol's source file: what to show, and the full path when DWARF has it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceFile {
    shown: String,
    full: Option<String>,
}

/// One resolved probe location in a user-space object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The object file (as given).
    pub object: PathBuf,
    /// Full symbol name, with any compiler clone suffix (`helper.constprop.0`).
    pub symbol: String,
    /// The function's source-level name (`helper`).
    pub function: String,
    /// Plain, clone or renamed.
    pub variant: Variant,
    /// Source file: the DWARF compile unit's name (`sub/b.c`) where the
    /// object has DWARF, else a local's `STT_FILE` name (`b.c`).
    pub file: Option<String>,
    /// The compile unit's full path (`DW_AT_comp_dir/DW_AT_name`), if known.
    pub source_path: Option<String>,
    /// Local, global or weak.
    pub binding: Binding,
    /// Which symbol table named it.
    pub table: SymbolTableKind,
    /// Other names at the same address that the probe point also matched.
    pub aliases: Vec<String>,
    /// Link-time address of the function's entry.
    pub func_addr: LinkAddr,
    /// Offset from the entry (`+OFF`).
    pub offset: u64,
    /// Link-time address of the probe: `func_addr + offset`.
    pub addr: LinkAddr,
    /// Function size in bytes (0 if unknown).
    pub size: u64,
    /// File offset of the probe address: what a uprobe takes.
    pub file_offset: FileOffset,
    /// Entry or return probe.
    pub kind: ProbeKind,
}

impl UserObject {
    /// Open `path`, and find its symbols: its own `.symtab`, else a separate
    /// debug file (by build-id or `.gnu_debuglink`), else its `.dynsym`.
    pub fn open(path: &Path, search: &DebugSearch) -> Result<UserObject> {
        let elf = ElfObject::open(path)?;
        if elf.kind() == ObjectKind::Relocatable {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "a relocatable object (ET_REL, a .o or .ko): uprobes need a linked executable or shared library",
            )
            .with_path(path));
        }
        let mut notes = Vec::new();
        let (source, debug, searched) = if elf.has_symtab() {
            (SymbolSource::Symtab, None, Vec::new())
        } else {
            let found = debuginfo::find(&elf, search).map_err(|e| e.with_path(path))?;
            match found.found {
                Some(d) if d.elf.has_symtab() => (
                    SymbolSource::DebugFile {
                        path: d.elf.path().to_path_buf(),
                        found_by: d.found_by,
                    },
                    Some(d.elf),
                    found.searched,
                ),
                other => {
                    let listed = list_paths(&found.searched);
                    if !elf.has_dynsym() {
                        let why = if other.is_some() {
                            "the debug file found has no .symtab either"
                        } else {
                            "no debug file found"
                        };
                        return Err(Error::new(
                            ErrorKind::NoSymbols,
                            format!(
                                "no symbol table (.symtab or .dynsym) and {why}; searched: {listed}; install its debug package or pass --debug-dir"
                            ),
                        )
                        .with_path(path));
                    }
                    notes.push(format!(
                        "{}: no .symtab and no debug file (searched: {listed}); using .dynsym, so static functions are not visible",
                        path.display()
                    ));
                    (SymbolSource::DynsymOnly, None, found.searched)
                }
            }
        };
        let symtab_from = match &source {
            SymbolSource::Symtab => Some(&elf),
            SymbolSource::DebugFile { .. } => debug.as_ref(),
            SymbolSource::DynsymOnly => None,
        };
        let index = SymbolIndex::build(&elf, symtab_from).map_err(|e| e.with_path(path))?;
        let dwarf_from = if elf.has_debug_info() {
            Some(elf.clone())
        } else {
            debug.filter(|d| d.has_debug_info())
        };
        Ok(UserObject {
            elf,
            source,
            index,
            searched,
            notes,
            dwarf_from,
            units: OnceLock::new(),
        })
    }

    /// The object.
    pub fn elf(&self) -> &ElfObject {
        &self.elf
    }
    /// Its symbol index.
    pub fn index(&self) -> &SymbolIndex {
        &self.index
    }
    /// Where the symbols came from.
    pub fn symbol_source(&self) -> &SymbolSource {
        &self.source
    }
    /// Debug-file paths looked at while opening.
    pub fn searched(&self) -> &[PathBuf] {
        &self.searched
    }
    /// Things the user should know (e.g. only `.dynsym` was available).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The DWARF compile units, if the object or its debug file has DWARF.
    /// Unreadable DWARF is treated as absent: `STT_FILE` still attributes locals.
    pub fn compile_units(&self) -> Option<&CompUnits> {
        self.units
            .get_or_init(|| {
                self.dwarf_from
                    .as_ref()
                    .and_then(|d| CompUnits::load(d).ok().flatten())
            })
            .as_ref()
    }

    /// A symbol's source file. The compile unit is preferred (it has the
    /// directory, and it covers globals too) unless it contradicts the
    /// symbol's `STT_FILE` basename, which is then kept.
    fn source_file(&self, s: &Symbol) -> Option<SourceFile> {
        let stt = self.index.file(s);
        let unit = self.compile_units().and_then(|u| u.unit_at(s.addr));
        match (unit, stt) {
            (Some(u), Some(f)) if basename(&u.name) != basename(f) => Some(SourceFile {
                shown: f.to_string(),
                full: None,
            }),
            (Some(u), _) => Some(SourceFile {
                shown: u.name.clone(),
                full: Some(u.full.clone()),
            }),
            (None, Some(f)) => Some(SourceFile {
                shown: f.to_string(),
                full: None,
            }),
            (None, None) => None,
        }
    }

    /// Every location `spec` names in this object.
    pub fn resolve(&self, spec: &ProbeSpec, opts: &ResolveOptions) -> Result<Vec<Location>> {
        let path = self.elf.path();
        match &spec.target {
            Target::Process(_) => {}
            Target::Kernel | Target::Module(_) => {
                return Err(Error::new(
                    ErrorKind::NotImplemented,
                    format!("'{spec}' is a kernel probe point; this object is a user-space file"),
                )
                .with_path(path))
            }
        }
        let (func, file, offset) = match &spec.point {
            Point::Function { line: Some(_), .. } | Point::Line { .. } => {
                return Err(Error::new(
                    ErrorKind::NotImplemented,
                    format!("'{spec}' is a line probe: resolving source lines needs the DWARF line tables, which probeaddr does not read yet; probe a function or FUNC+OFFSET instead"),
                ))
            }
            Point::Data { .. } => {
                return Err(Error::new(ErrorKind::NotImplemented, "data probe points are for the kernel (kernel.data)"))
            }
            Point::Function { func, file, offset, line: None } => (func, file.as_ref(), *offset),
        };

        let idx = &self.index;
        let mut matched: Vec<&Symbol> = idx
            .symbols()
            .iter()
            .filter(|s| s.kind == SymbolKind::Function && name_matches(func, idx.name(s)))
            .filter(|s| {
                file.is_none_or(|f| {
                    self.source_file(s).is_some_and(|sf| {
                        file_matches(f, &sf.shown)
                            || sf.full.is_some_and(|full| file_matches(f, &full))
                    })
                })
            })
            .collect();
        if matched.is_empty() {
            return Err(self.not_found(spec, func, file));
        }

        // One location per address; other names there become aliases.
        matched.sort_by_key(|s| (s.addr, rank(idx, s, func)));
        let mut locs: Vec<Location> = Vec::new();
        let mut last: Option<LinkAddr> = None;
        for s in matched {
            let name = idx.name(s);
            if last == Some(s.addr) {
                let l = locs.last_mut().expect("pushed with last");
                if l.symbol != name && !l.aliases.iter().any(|a| a == name) {
                    l.aliases.push(name.to_string());
                }
                continue;
            }
            last = Some(s.addr);
            locs.push(self.location(s, offset, spec.kind)?);
        }

        if opts.unique && locs.len() > 1 {
            return Err(ambiguity_error(spec, &locs));
        }
        Ok(locs)
    }

    fn location(&self, s: &Symbol, offset: u64, kind: ProbeKind) -> Result<Location> {
        let idx = &self.index;
        let path = self.elf.path();
        let name = idx.name(s);
        let (function, variant) = split_variant(name);
        let src = self.source_file(s);
        let file = src.as_ref().map(|f| f.shown.clone());
        let source_path = src.and_then(|f| f.full);
        let at = |what: &str| {
            format!(
                "{name}{}{what}",
                file.as_deref()
                    .map(|f| format!(" [{f}]"))
                    .unwrap_or_default()
            )
        };
        let addr = s.addr.checked_add(offset).ok_or_else(|| {
            Error::new(
                ErrorKind::BadOffset,
                at(&format!(": offset {offset:#x} overflows the address")),
            )
            .with_path(path)
        })?;
        if offset > 0 {
            if s.size == 0 {
                return Err(Error::new(
                    ErrorKind::BadOffset,
                    at(": the symbol table records no size for this function, so +OFFSET cannot be checked; probe its entry"),
                )
                .with_path(path));
            }
            let code = self.elf.bytes_at(s.addr, s.size).ok_or_else(|| {
                Error::new(
                    ErrorKind::Malformed,
                    at(&format!(
                        " at {}: the file holds no bytes for this function",
                        s.addr
                    )),
                )
                .with_path(path)
            })?;
            check_offset_x86_64(code, s.addr.get(), offset).map_err(|bad| {
                let msg = match bad {
                    BadOffset::OutsideFunction { size, last } => format!(
                        ": offset {offset:#x} is outside the function (size {size:#x}){}",
                        last.map(|l| format!("; the last instruction starts at +{l:#x}")).unwrap_or_default()
                    ),
                    BadOffset::MidInstruction { before, after } => format!(
                        ": offset {offset:#x} is inside an instruction; the nearest instruction boundaries are +{before:#x}{}",
                        after.map(|a| format!(" and +{a:#x}")).unwrap_or_default()
                    ),
                    BadOffset::Undecodable { at } => format!(
                        ": cannot decode the instruction at +{at:#x}, so offset {offset:#x} cannot be verified"
                    ),
                };
                Error::new(ErrorKind::BadOffset, at(&msg)).with_path(path)
            })?;
        }
        let file_offset = self.elf.file_offset(addr).ok_or_else(|| {
            Error::new(
                ErrorKind::Malformed,
                at(&format!(" at {addr}: no PT_LOAD segment holds this address in the file, so it has no file offset")),
            )
            .with_path(path)
        })?;
        Ok(Location {
            object: path.to_path_buf(),
            symbol: name.to_string(),
            function: function.to_string(),
            variant,
            file,
            source_path,
            binding: s.binding,
            table: s.table,
            aliases: Vec::new(),
            func_addr: s.addr,
            offset,
            addr,
            size: s.size,
            file_offset,
            kind,
        })
    }

    fn not_found(&self, spec: &ProbeSpec, func: &Pattern, file: Option<&Pattern>) -> Error {
        let idx = &self.index;
        let path = self.elf.path();
        let by_name: Vec<&Symbol> = idx
            .symbols()
            .iter()
            .filter(|s| {
                let n = idx.name(s);
                func.matches(n) || func.matches(split_variant(n).0)
            })
            .collect();
        let funcs: Vec<&&Symbol> = by_name
            .iter()
            .filter(|s| {
                s.kind == SymbolKind::Function && split_variant(idx.name(s)).1 != Variant::Cold
            })
            .collect();
        if let (Some(fp), false) = (file, funcs.is_empty()) {
            let files: BTreeSet<String> = funcs
                .iter()
                .map(|s| {
                    self.source_file(s).map_or_else(
                        || "(no file: a global symbol and no DWARF)".to_string(),
                        |f| f.shown,
                    )
                })
                .collect();
            let only_basenames = fp.as_str().contains('/') && self.compile_units().is_none();
            return Error::new(
                ErrorKind::NotFound,
                format!(
                    "'{spec}': '{func}' exists but not in a file matching '{fp}'; it is in: {}{}",
                    files.into_iter().collect::<Vec<_>>().join(", "),
                    if only_basenames {
                        " (the symbol table records only file names as compiled; directories need DWARF)"
                    } else {
                        ""
                    }
                ),
            )
            .with_path(path);
        }
        if !by_name.is_empty() {
            let what = if by_name
                .iter()
                .all(|s| split_variant(idx.name(s)).1 == Variant::Cold)
            {
                "only a .cold part (split-off cold code, never an entry point)"
            } else {
                "a data object or label, not a function"
            };
            return Error::new(ErrorKind::NotFound, format!("'{spec}': '{func}' is {what}"))
                .with_path(path);
        }
        let suggestions = self.closest_names(func.as_str());
        let mut msg = format!("'{spec}': no function matches '{func}'");
        if !suggestions.is_empty() {
            msg.push_str(&format!("; closest: {}", suggestions.join(", ")));
        }
        if self.source == SymbolSource::DynsymOnly {
            msg.push_str(&format!(
                " (only .dynsym was available: static functions are not visible; searched for debug files in: {})",
                list_paths(&self.searched)
            ));
        }
        Error::new(ErrorKind::NotFound, msg).with_path(path)
    }

    /// Up to five function names close to `want` (edit distance, then substring).
    pub fn closest_names(&self, want: &str) -> Vec<String> {
        let idx = &self.index;
        let want_l = want.to_ascii_lowercase();
        let limit = (want.len() / 3).max(2);
        let mut scored: Vec<(usize, &str)> = Vec::new();
        let mut seen = BTreeSet::new();
        for s in idx
            .symbols()
            .iter()
            .filter(|s| s.kind == SymbolKind::Function)
        {
            let (base, v) = split_variant(idx.name(s));
            if v == Variant::Cold || !seen.insert(base) {
                continue;
            }
            let bl = base.to_ascii_lowercase();
            let d = if bl.contains(&want_l) && want_l.len() >= 3 {
                1 + (base.len() - want.len()).min(limit)
            } else if base.len().abs_diff(want.len()) > limit {
                continue;
            } else {
                edit_distance(&want_l, &bl)
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
}

/// Preference among symbols at one address: the name the user typed, then
/// plain over renamed over clones over aliases, `.symtab` over `.dynsym`.
fn rank(idx: &SymbolIndex, s: &Symbol, func: &Pattern) -> (bool, u8, u8, usize) {
    let name = idx.name(s);
    let v = match split_variant(name).1 {
        Variant::Plain => 0,
        Variant::Renamed => 1,
        Variant::Clone => 2,
        Variant::Alias => 3,
        Variant::Cold => 4,
    };
    let t = match s.table {
        SymbolTableKind::Symtab => 0,
        SymbolTableKind::Dynsym => 1,
    };
    (name != func.as_str(), v, t, name.len())
}

/// Does symbol `name` match the function pattern? `foo` matches `foo` and its
/// clones (`foo.constprop.0`) but never `foo.cold`, nor `__pfx_foo` padding.
/// A pattern with a `.` matches full symbol names, so a clone can be pinned.
pub fn name_matches(func: &Pattern, name: &str) -> bool {
    // Fast reject for a literal name: most symbols differ in their first bytes.
    if func.is_literal() {
        let f = func.as_str();
        if !name.starts_with(f)
            || (name.len() > f.len() && (f.contains('.') || name.as_bytes()[f.len()] != b'.'))
        {
            return false;
        }
    }
    let (base, variant) = split_variant(name);
    if variant == Variant::Cold || name.starts_with("__pfx_") {
        return false;
    }
    if func.as_str().contains('.') {
        return func.matches(name);
    }
    func.matches(base)
}

/// Does a source path match the `@SRC` pattern on whole path components?
/// `b.c` matches `b.c` and `src/b.c` but not `ab.c`; `src/b.c` matches
/// `/home/x/src/b.c`; a pattern starting with `/` must match the whole path.
/// Each component may be a glob.
pub fn file_matches(pattern: &Pattern, path: &str) -> bool {
    let pat = pattern.as_str();
    let comps = |s: &str| -> Vec<String> {
        s.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string)
            .collect()
    };
    let pc = comps(pat);
    let fc = comps(path);
    if pc.is_empty() || pc.len() > fc.len() {
        return false;
    }
    if pat.starts_with('/') && (pc.len() != fc.len() || !path.starts_with('/')) {
        return false;
    }
    pc.iter()
        .rev()
        .zip(fc.iter().rev())
        .all(|(p, f)| Pattern::new(p.as_str()).matches(f))
}

fn ambiguity_error(spec: &ProbeSpec, locs: &[Location]) -> Error {
    let mut detail = String::new();
    for l in locs {
        let pin = pin_for(l, locs);
        detail.push_str(&format!(
            "  {} [{}] at {} (file offset {}){}\n",
            l.symbol,
            l.file.as_deref().unwrap_or("no file"),
            l.func_addr,
            l.file_offset,
            pin.map(|p| format!(": pin with '{p}'"))
                .unwrap_or_else(|| ": no name pins it; use its file offset".into())
        ));
    }
    Error::new(
        ErrorKind::Ambiguous,
        format!(
            "'{spec}' matches {} functions and --unique was given",
            locs.len()
        ),
    )
    .with_detail(detail.trim_end().to_string())
}

/// A probe point that names exactly `l` among `all`, if one exists: the
/// function with the shortest path suffix of its file that no other match
/// shares (`helper@b.c`, else `helper@src/b.c`), else its full symbol name.
pub fn pin_for(l: &Location, all: &[Location]) -> Option<String> {
    let names_it = |o: &Location, sym: &str| {
        o.symbol == sym
            || (o.function == sym && !sym.contains('.'))
            || o.aliases.iter().any(|a| a == sym)
    };
    let in_file = |o: &Location, f: &str| {
        let p = Pattern::new(f);
        o.file.as_deref().is_some_and(|of| file_matches(&p, of))
            || o.source_path
                .as_deref()
                .is_some_and(|of| file_matches(&p, of))
    };
    let count = |sym: &str, file: Option<&str>| {
        all.iter()
            .filter(|o| names_it(o, sym) && file.is_none_or(|f| in_file(o, f)))
            .count()
    };
    let with_off = |p: String| {
        if l.offset > 0 {
            format!("{p}+{:#x}", l.offset)
        } else {
            p
        }
    };
    let mut suffixes: Vec<String> = Vec::new();
    for path in [l.file.as_deref(), l.source_path.as_deref()]
        .into_iter()
        .flatten()
    {
        let comps: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        for k in 1..=comps.len() {
            let mut s = comps[comps.len() - k..].join("/");
            if k == comps.len() && path.starts_with('/') {
                s.insert(0, '/');
            }
            if !suffixes.contains(&s) {
                suffixes.push(s);
            }
        }
    }
    suffixes.sort_by_key(|s| s.len());
    for sym in [&l.function, &l.symbol] {
        for f in &suffixes {
            if count(sym, Some(f)) == 1 {
                return Some(with_off(format!("{sym}@{f}")));
            }
        }
    }
    if count(&l.symbol, None) == 1 {
        return Some(with_off(l.symbol.clone()));
    }
    None
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn list_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nothing (the file has neither a build-id nor a .gnu_debuglink)".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("helpr", "helper"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}

#[cfg(test)]
mod send_tests {
    /// A resolver is built once and shared: it must cross threads.
    #[test]
    fn resolver_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::UserObject>();
        assert_send_sync::<super::Location>();
    }
}
