//! Matching probe points against an object: every location a [`ProbeSpec`]
//! names, each with its source file. Several matches are all returned; only
//! [`ResolveOptions::unique`] turns them into an error, which lists them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::addr::{FileOffset, LinkAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::index::{split_variant, Binding, Variant};
use crate::insn::{check_offset_x86_64, BadOffset};
pub use crate::object::SymbolSource;
use crate::object::{AnalysedObject, MatchedSymbol};
use crate::sources::debuginfo::DebugSearch;
use crate::sources::elf::{ElfObject, ObjectKind, SymbolTableKind};
use crate::spec::{Pattern, Point, ProbeKind, ProbeSpec, Target};

/// Options for matching.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// More than one match is an error listing every candidate.
    pub unique: bool,
    /// Probe function entries after their prologue (from the line table), as
    /// SystemTap does, instead of at the entry address.
    pub skip_prologue: bool,
    /// Leave out inlined copies of a function (by default a function probe
    /// covers its out-of-line copies and its inlined sites, like perf and stap).
    pub no_inlines: bool,
}

/// A user-space ELF file (executable, PIE or shared library) opened for
/// resolving. Open once, resolve many probe points.
#[derive(Debug)]
pub struct UserObject {
    obj: AnalysedObject,
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
    /// The declaration file, when the probe point matched the function
    /// through it (a `static` defined in a header).
    pub decl_file: Option<String>,
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
    /// For line probes: the file (relative to the compile directory) and line.
    pub line: Option<(String, u64)>,
    /// For an inlined copy: the function it was inlined into (`symbol` is
    /// then the symbol holding the code, `function` the inlined function).
    pub inlined_into: Option<String>,
    /// Where the symbol table and DWARF disagree about this location.
    pub disagreement: Option<String>,
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
        // The symbol index is built lazily: a literal name never needs it.
        Ok(UserObject {
            obj: AnalysedObject::new(elf, search)?,
        })
    }

    /// The analysed object (symbols, index, DWARF units).
    pub fn analysed(&self) -> &AnalysedObject {
        &self.obj
    }
    /// The ELF file.
    pub fn elf(&self) -> &ElfObject {
        self.obj.elf()
    }
    /// Where the symbols came from.
    pub fn symbol_source(&self) -> &SymbolSource {
        self.obj.symbol_source()
    }
    /// Things the user should know (e.g. only `.dynsym` was available).
    pub fn notes(&self) -> &[String] {
        self.obj.notes()
    }

    /// Every location `spec` names in this object.
    pub fn resolve(&self, spec: &ProbeSpec, opts: &ResolveOptions) -> Result<Vec<Location>> {
        let path = self.elf().path();
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
        let (func, file, offset, line) = match &spec.point {
            Point::Data { .. } => {
                return Err(Error::new(
                    ErrorKind::NotImplemented,
                    "data probe points are for the kernel (kernel.data)",
                ))
            }
            Point::Line { file, line } => return self.resolve_file_line(spec, file, *line, opts),
            Point::Function {
                func,
                file,
                offset,
                line,
            } => (func, file.as_ref(), *offset, *line),
        };
        let inline_only = spec.inlines == crate::spec::InlineFilter::InlineOnly;
        let mut matched = self.obj.match_functions(func, file)?;
        if inline_only {
            matched.clear();
        }
        let want_inlines = line.is_none()
            && offset == 0
            && !opts.no_inlines
            && spec.inlines != crate::spec::InlineFilter::CallOnly
            && self.obj.compile_units().is_some();
        let inlined = if want_inlines {
            self.obj.match_inlined(func, file, &matched)?
        } else {
            Vec::new()
        };
        if matched.is_empty() && inlined.is_empty() {
            return Err(self.obj.not_found(spec, func, file));
        }
        let mut locs = Vec::new();
        if !inlined.is_empty() && spec.kind == ProbeKind::Return {
            if matched.is_empty() {
                return Err(Error::new(
                    ErrorKind::BadOffset,
                    format!("'{spec}': only inlined copies exist, and a return probe needs a function entry"),
                )
                .with_path(path));
            }
        } else {
            for im in inlined {
                let mut l = self.location(im.host, im.offset, spec.kind)?;
                l.function = im.name;
                l.inlined_into = im.caller;
                if im.decl_file.is_some() {
                    l.decl_file = im.decl_file;
                }
                locs.push(l);
            }
        }
        for m in matched {
            match line {
                None => {
                    let mut l = self.location(m, offset, spec.kind)?;
                    if opts.skip_prologue && spec.kind == ProbeKind::Entry && offset == 0 {
                        if let Some(after) =
                            crate::lines::after_prologue(self.dwarf(spec)?, l.func_addr)
                        {
                            l.offset = after - l.func_addr.get();
                            l.addr = LinkAddr(after);
                            l.file_offset = self.elf().file_offset(l.addr).ok_or_else(|| {
                                Error::new(
                                    ErrorKind::Malformed,
                                    format!("{}: {after:#x} has no file offset", l.symbol),
                                )
                            })?;
                        }
                    }
                    locs.push(l);
                }
                Some(ls) => {
                    let line_file = match ls {
                        crate::spec::LineSpec::Absolute(_) => file,
                        crate::spec::LineSpec::Relative(_) => None,
                    };
                    let cu = self.dwarf(spec)?;
                    let found = crate::lines::in_function(cu, m.sym.addr, ls, line_file).map_err(
                        |why| {
                            Error::new(
                                ErrorKind::NotFound,
                                format!(
                                    "'{spec}': {} [{}]: {why}",
                                    m.name,
                                    m.file.as_ref().map_or("?", |f| f.shown.as_str())
                                ),
                            )
                            .with_path(self.elf().path())
                        },
                    )?;
                    for la in found {
                        let mut l =
                            self.location(m.clone(), la.addr - m.sym.addr.get(), spec.kind)?;
                        l.line = Some((la.file, la.line));
                        locs.push(l);
                    }
                }
            }
        }
        // Out-of-line copies first, then inlined sites.
        locs.sort_by_key(|l| l.inlined_into.is_some());
        if opts.unique && locs.len() > 1 {
            return Err(ambiguity_error(spec, &locs));
        }
        Ok(locs)
    }

    /// The compile units, or an error saying why line information is missing.
    fn dwarf(&self, spec: &ProbeSpec) -> Result<&crate::sources::dwarf::CompUnits> {
        let cu = self.obj.compile_units().ok_or_else(|| {
            if let Some(why) = self.obj.dwarf_error() {
                return Error::new(ErrorKind::Malformed, format!("'{spec}' needs DWARF line tables, and this file's DWARF is unreadable: {why}"));
            }
            Error::new(
                ErrorKind::NoSymbols,
                format!("'{spec}' needs DWARF line tables, and neither the file nor a debug file for it has .debug_info; install its debug info (or build with -g)"),
            )
            .with_path(self.elf().path())
        })?;
        if cu.has_split_units() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "split DWARF (-gsplit-dwarf: skeleton units, code in .dwo files) is not supported; build without -gsplit-dwarf",
            )
            .with_path(self.elf().path()));
        }
        Ok(cu)
    }

    /// `SRC:LINE`: every start of that line, each in the function holding it.
    fn resolve_file_line(
        &self,
        spec: &ProbeSpec,
        file: &Pattern,
        line: u32,
        opts: &ResolveOptions,
    ) -> Result<Vec<Location>> {
        let path = self.elf().path();
        let cu = self.dwarf(spec)?;
        let found = crate::lines::in_file(cu, file, line).map_err(|why| {
            Error::new(ErrorKind::NotFound, format!("'{spec}': {why}")).with_path(path)
        })?;
        let idx = self.obj.index()?;
        let mut locs = Vec::new();
        for la in found {
            let Some(s) = idx.functions_containing(LinkAddr(la.addr)).next() else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "'{spec}': line {} of {} at {:#x} is in no function of the symbol table",
                        la.line, la.file, la.addr
                    ),
                )
                .with_path(path));
            };
            let m = MatchedSymbol {
                name: idx.name(s).to_string(),
                sym: *s,
                file: self.obj.source_file(idx, s),
                aliases: Vec::new(),
            };
            let mut l = self.location(m, la.addr - s.addr.get(), spec.kind)?;
            l.line = Some((la.file, la.line));
            locs.push(l);
        }
        if opts.unique && locs.len() > 1 {
            return Err(ambiguity_error(spec, &locs));
        }
        Ok(locs)
    }

    fn location(&self, m: MatchedSymbol, offset: u64, kind: ProbeKind) -> Result<Location> {
        let elf = self.elf();
        let path = elf.path();
        let s = m.sym;
        let name = m.name.as_str();
        let (function, variant) = split_variant(name);
        let file = m.file.as_ref().map(|f| f.shown.clone());
        let decl_file = m.file.as_ref().and_then(|f| f.decl.clone());
        let disagreement = m.file.as_ref().and_then(|f| f.disagreement.clone());
        let source_path = m.file.and_then(|f| f.full);
        let at = |what: &str| {
            format!(
                "{name}{}{what}",
                file.as_deref()
                    .map(|f| format!(" [{f}]"))
                    .unwrap_or_default()
            )
        };
        let addr = check_offset(elf, &s, offset, &at)?;
        let file_offset = elf.file_offset(addr).ok_or_else(|| {
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
            decl_file,
            binding: s.binding,
            table: s.table,
            aliases: m.aliases,
            func_addr: s.addr,
            offset,
            addr,
            size: s.size,
            file_offset,
            kind,
            line: None,
            inlined_into: None,
            disagreement,
        })
    }
}

/// `FUNC+OFF` checks: inside the function and on an instruction boundary
/// (decoded from the function's entry, with the bytes `code` returns for
/// `(start, size)`). Returns the probe's link-time address. `at` prefixes
/// messages with the symbol and its file.
pub(crate) fn check_offset_with(
    path: &Path,
    s: &crate::index::Symbol,
    offset: u64,
    code: impl FnOnce() -> Option<Vec<u8>>,
    at: &dyn Fn(&str) -> String,
) -> Result<LinkAddr> {
    let addr = s.addr.checked_add(offset).ok_or_else(|| {
        Error::new(
            ErrorKind::BadOffset,
            at(&format!(": offset {offset:#x} overflows the address")),
        )
        .with_path(path)
    })?;
    if offset == 0 {
        return Ok(addr);
    }
    if s.size == 0 {
        return Err(Error::new(
            ErrorKind::BadOffset,
            at(": the symbol table records no size for this function, so +OFFSET cannot be checked; probe its entry"),
        )
        .with_path(path));
    }
    let code = code().ok_or_else(|| {
        Error::new(
            ErrorKind::Malformed,
            at(&format!(
                " at {}: the file holds no bytes for this function",
                s.addr
            )),
        )
        .with_path(path)
    })?;
    check_offset_x86_64(&code, s.addr.get(), offset).map_err(|bad| {
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
    Ok(addr)
}

fn check_offset(
    elf: &ElfObject,
    s: &crate::index::Symbol,
    offset: u64,
    at: &dyn Fn(&str) -> String,
) -> Result<LinkAddr> {
    check_offset_with(
        elf.path(),
        s,
        offset,
        || elf.bytes_at(s.addr, s.size).map(<[u8]>::to_vec),
        at,
    )
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

pub(crate) fn ambiguity_error(spec: &ProbeSpec, locs: &[Location]) -> Error {
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

/// What [`pin_for`] needs to know of a location.
pub trait Pinnable {
    /// Full symbol name.
    fn symbol(&self) -> &str;
    /// Source-level function name.
    fn function(&self) -> &str;
    /// Other names at the same address.
    fn aliases(&self) -> &[String];
    /// Shown source file.
    fn file(&self) -> Option<&str>;
    /// Full source path.
    fn source_path(&self) -> Option<&str>;
    /// Offset from the function entry.
    fn offset(&self) -> u64;
}

/// `Pinnable` for a location struct with the usual field names.
macro_rules! impl_pinnable {
    ($t:ty) => {
        impl $crate::resolve::Pinnable for $t {
            fn symbol(&self) -> &str {
                &self.symbol
            }
            fn function(&self) -> &str {
                &self.function
            }
            fn aliases(&self) -> &[String] {
                &self.aliases
            }
            fn file(&self) -> Option<&str> {
                self.file.as_deref()
            }
            fn source_path(&self) -> Option<&str> {
                self.source_path.as_deref()
            }
            fn offset(&self) -> u64 {
                self.offset
            }
        }
    };
}
pub(crate) use impl_pinnable;

impl_pinnable!(Location);

/// A probe point that names exactly `l` among `all`, if one exists: the
/// function with the shortest path suffix of its file that no other match
/// shares (`helper@b.c`, else `helper@src/b.c`), else its full symbol name.
pub fn pin_for<L: Pinnable>(l: &L, all: &[L]) -> Option<String> {
    let names_it = |o: &L, sym: &str| {
        o.symbol() == sym
            || (o.function() == sym && !sym.contains('.'))
            || o.aliases().iter().any(|a| a == sym)
    };
    let in_file = |o: &L, f: &str| {
        let p = Pattern::new(f);
        o.file().is_some_and(|of| file_matches(&p, of))
            || o.source_path().is_some_and(|of| file_matches(&p, of))
    };
    let count = |sym: &str, file: Option<&str>| {
        all.iter()
            .filter(|o| names_it(o, sym) && file.is_none_or(|f| in_file(o, f)))
            .count()
    };
    let with_off = |p: String| {
        if l.offset() > 0 {
            format!("{p}+{:#x}", l.offset())
        } else {
            p
        }
    };
    let mut suffixes: Vec<String> = Vec::new();
    for path in [l.file(), l.source_path()].into_iter().flatten() {
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
    for sym in [l.function(), l.symbol()] {
        for f in &suffixes {
            if count(sym, Some(f)) == 1 {
                return Some(with_off(format!("{sym}@{f}")));
            }
        }
    }
    if count(l.symbol(), None) == 1 {
        return Some(with_off(l.symbol().to_string()));
    }
    None
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
