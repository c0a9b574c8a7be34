//! An analysed ELF object: where its symbols come from (its own `.symtab`, a
//! separate debug file, or `.dynsym`), the symbol index, and the DWARF compile
//! units that name each symbol's source file. Shared by user-space objects,
//! vmlinux and kernel modules; matching a probe point's function against it
//! (with clones, header statics and inlined sites) is done here once for all.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Serialize;

use crate::addr::LinkAddr;
use crate::error::Reason;
use crate::error::{Error, ErrorKind, Result};
use crate::index::names::{
    basename, closest_names, demangled_matches, file_matches, last_component_matcher, name_matches,
    source_spelled, split_variant, unqualified_matches, Variant,
};

/// How a function pattern is compared with symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spelling {
    /// As the symbol table spells them.
    Symtab,
    /// Demangled, with or without parameters (`ns::Klass::method(int)`).
    Demangled,
    /// Demangled, by the last component (`method`).
    Unqualified,
}
use crate::index::{Binding, Symbol, SymbolIndex, SymbolKind};
use crate::sources::debuginfo::{self, DebugSearch, FoundBy};
use crate::sources::dwarf::CompUnits;
use crate::sources::elf::{ElfObject, SymbolTableKind};
use crate::sources::lineprograms::LinePrograms;
use crate::spec::{Pattern, ProbeSpec};

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

/// A symbol's source file: what to show, and the full path when DWARF has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The compile unit's name (`fs/proc/inode.c`), else the `STT_FILE` name.
    pub shown: String,
    /// `DW_AT_comp_dir/DW_AT_name`, when DWARF has the unit.
    pub full: Option<String>,
    /// The function's declaration file (`DW_AT_decl_file`), when the probe
    /// point was matched through it: a `static` defined in a header
    /// (`include/linux/jhash.h`) compiled into this unit.
    pub decl: Option<String>,
    /// Set when the symbol table and DWARF disagree about the file: the
    /// `STT_FILE` name is shown, both names match, and the user is told.
    pub disagreement: Option<String>,
}

/// A function symbol that matched a probe point, copied out of the index.
#[derive(Debug, Clone)]
pub struct MatchedSymbol {
    /// Full symbol name.
    pub name: String,
    /// The symbol.
    pub sym: Symbol,
    /// Its source file.
    pub file: Option<SourceFile>,
    /// Other matching names at the same address.
    pub aliases: Vec<String>,
    /// The symbol version its name carried (`@@GLIBC_2.2.5`), if any.
    pub version: Option<String>,
    /// The compat versions of its name (`realpath@GLIBC_2.2.5`), when this
    /// is the default one and a name without a version left them out.
    pub other_versions: Vec<String>,
    /// The function's DWARF name, when it was matched by that because the
    /// symbol table names it otherwise (`int visible() asm("hidden")`).
    pub dwarf_name: Option<String>,
}

/// What DWARF adds to the symbols matched by name: inlined sites, and
/// out-of-line copies the symbol table names otherwise.
#[derive(Debug, Default)]
pub struct DwarfMatches {
    /// Every inlined site.
    pub inlined: Vec<InlineMatch>,
    /// Out-of-line copies whose symbol has another name (an `asm` label, a
    /// `DW_AT_linkage_name` of the source's choosing), as perf finds them.
    pub renamed: Vec<MatchedSymbol>,
}

/// A name without a version means its default version (`@@`), as the
/// dynamic linker binds a plain reference: a compat version (`@`, kept for
/// binaries linked against an older library) of a name that has a default
/// is left out, and named on the default so that the user learns of it.
/// A name with only compat versions keeps them all.
fn default_versions_only(out: &mut Vec<MatchedSymbol>) {
    let is_default = |m: &MatchedSymbol| m.version.as_deref().is_some_and(|v| v.starts_with("@@"));
    let defaults: std::collections::HashSet<String> = out
        .iter()
        .filter(|m| is_default(m))
        .map(|m| m.name.clone())
        .collect();
    let mut others: std::collections::HashMap<String, Vec<String>> = Default::default();
    out.retain(|m| match &m.version {
        Some(v) if !v.starts_with("@@") && defaults.contains(&m.name) => {
            others
                .entry(m.name.clone())
                .or_default()
                .push(format!("{}{v}", m.name));
            false
        }
        _ => true,
    });
    for m in out.iter_mut().filter(|m| is_default(m)) {
        if let Some(o) = others.get(&m.name) {
            m.other_versions = o.clone();
        }
    }
}

/// An ELF object opened for analysis.
#[derive(Debug)]
pub struct AnalysedObject {
    elf: ElfObject,
    debug: Option<ElfObject>,
    source: SymbolSource,
    searched: Vec<PathBuf>,
    notes: Vec<String>,
    index: OnceLock<std::result::Result<SymbolIndex, String>>,
    /// [`SymbolIndex::notes`] of the first index built (a filtered one
    /// counts every symbol too), with the path.
    table_notes: OnceLock<Vec<String>>,
    units: OnceLock<Option<CompUnits>>,
    /// Why DWARF that is present could not be read, if so.
    units_error: OnceLock<String>,
    /// Why the dwz supplementary file the DWARF names was not attached.
    sup_error: OnceLock<String>,
    search: DebugSearch,
    /// A debug file looked up only when DWARF is needed and the object has
    /// a `.symtab` but no `.debug_info` (`strip --strip-debug`).
    late_debug: OnceLock<Option<ElfObject>>,
    /// Units from `.debug_line` alone, when there is no `.debug_info`
    /// (a file assembled from sections a debuginfod server sent).
    line_units: OnceLock<Option<LinePrograms>>,
}

impl AnalysedObject {
    /// Analyse `elf`: its own `.symtab`, else a separate debug file (by
    /// build-id or `.gnu_debuglink`), else its `.dynsym`.
    pub fn new(elf: ElfObject, search: &DebugSearch) -> Result<AnalysedObject> {
        let path = elf.path().to_path_buf();
        let mut notes = Vec::new();
        let (source, debug, searched) = if elf.has_symtab() {
            (SymbolSource::Symtab, None, Vec::new())
        } else {
            let found = debuginfo::find(&elf, search).map_err(|e| e.with_path(&path))?;
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
                        .with_path(&path));
                    }
                    notes.push(format!(
                        "{}: no .symtab and no debug file (searched: {listed}); using .dynsym, so static functions are not visible",
                        path.display()
                    ));
                    (SymbolSource::DynsymOnly, None, found.searched)
                }
            }
        };
        Ok(AnalysedObject {
            elf,
            debug,
            source,
            searched,
            notes,
            index: OnceLock::new(),
            table_notes: OnceLock::new(),
            units: OnceLock::new(),
            units_error: OnceLock::new(),
            sup_error: OnceLock::new(),
            search: search.clone(),
            late_debug: OnceLock::new(),
            line_units: OnceLock::new(),
        })
    }

    /// The object.
    pub fn elf(&self) -> &ElfObject {
        &self.elf
    }
    /// The separate debug file its symbols came from, if any.
    pub fn debug_file(&self) -> Option<&ElfObject> {
        self.debug.as_ref()
    }
    /// Where the symbols came from.
    pub fn symbol_source(&self) -> &SymbolSource {
        &self.source
    }
    /// Things the user should know (e.g. only `.dynsym` was available).
    pub fn notes(&self) -> Vec<String> {
        let mut out = self.notes.clone();
        // What the symbol table says of itself, once it has been read.
        if let Some(n) = self.table_notes.get() {
            out.extend(n.iter().cloned());
        }
        out
    }

    fn keep_table_notes(&self, idx: &SymbolIndex) {
        let path = self.elf.path().display();
        let _ = self.table_notes.set(
            idx.notes()
                .into_iter()
                .map(|n| format!("{path}: {n}"))
                .collect(),
        );
    }

    fn symtab_from(&self) -> Option<&ElfObject> {
        match &self.source {
            SymbolSource::Symtab => Some(&self.elf),
            SymbolSource::DebugFile { .. } => self.debug.as_ref(),
            SymbolSource::DynsymOnly => None,
        }
    }

    /// The full symbol index, built on first use.
    pub fn index(&self) -> Result<&SymbolIndex> {
        self.index
            .get_or_init(|| {
                let idx =
                    SymbolIndex::build(&self.elf, self.symtab_from()).map_err(|e| e.to_string());
                if let Ok(i) = &idx {
                    self.keep_table_notes(i);
                }
                idx
            })
            .as_ref()
            .map_err(|m| Error::new(ErrorKind::Malformed, m.clone()))
    }

    /// The DWARF compile units, if the object or its debug file has DWARF.
    /// Unreadable DWARF is treated as absent: `STT_FILE` still attributes locals.
    pub fn compile_units(&self) -> Option<&CompUnits> {
        self.units
            .get_or_init(|| {
                let from = if self.elf.has_debug_info() {
                    Some(&self.elf)
                } else if let Some(d) = self.debug.as_ref().filter(|d| d.has_debug_info()) {
                    Some(d)
                } else {
                    self.late_debug
                        .get_or_init(|| {
                            // Assembled from the sections a server sent
                            // because they were enough: asking for the
                            // whole file now would undo that.
                            if crate::sources::assembled::is_assembled(&self.elf) {
                                return None;
                            }
                            debuginfo::find(&self.elf, &self.search)
                                .ok()
                                .and_then(|r| r.found)
                                .map(|d| d.elf)
                                .filter(|e| e.has_debug_info())
                        })
                        .as_ref()
                };
                let mut units = from.and_then(|d| match CompUnits::load(d) {
                    Ok(u) => u,
                    Err(e) => {
                        let _ = self.units_error.set(e.to_string());
                        None
                    }
                });
                if let (Some(u), Some(d)) = (units.as_mut(), from) {
                    if let Err(why) = self.attach_sup(u, d) {
                        let _ = self.sup_error.set(why);
                    }
                }
                units
            })
            .as_ref()
    }

    /// Attach the dwz supplementary file `debug` names, if it names one.
    fn attach_sup(
        &self,
        units: &mut CompUnits,
        debug: &ElfObject,
    ) -> std::result::Result<(), String> {
        let Some(link) = debuginfo::sup_link(debug)? else {
            return Ok(());
        };
        let sup = debuginfo::find_sup(debug, &link, &self.search)?;
        match CompUnits::load(&sup) {
            Ok(Some(s)) => {
                units.set_sup(s);
                Ok(())
            }
            Ok(None) => Err(format!(
                "its dwz supplementary file {} has no .debug_info",
                sup.path().display()
            )),
            Err(e) => Err(format!("its dwz supplementary file is unreadable: {e}")),
        }
    }

    /// Why the dwz supplementary file the DWARF names could not be used
    /// (after [`Self::compile_units`]): declarations there are missing.
    pub fn sup_error(&self) -> Option<&str> {
        self.sup_error.get().map(String::as_str)
    }

    /// Why the DWARF present could not be read (after [`Self::compile_units`]
    /// returned `None` for a file that has `.debug_info`).
    pub fn dwarf_error(&self) -> Option<&str> {
        self.units_error.get().map(String::as_str)
    }

    /// The compile units for what `spec` needs of DWARF (line tables), or
    /// the error that says why they are missing and what to install:
    /// unreadable DWARF, none at all, or split DWARF (`-gsplit-dwarf`). One
    /// message for every object kind; `install` is the kind's hint. `at`:
    /// the function the point is in, whose unit alone is checked for split
    /// DWARF (`None`: a `FILE:N` point, any unit).
    pub fn dwarf_for(
        &self,
        spec: &ProbeSpec,
        install: &str,
        at: Option<LinkAddr>,
    ) -> Result<&CompUnits> {
        let path = self.elf.path();
        let cu = self.compile_units().ok_or_else(|| {
            if let Some(why) = self.dwarf_error() {
                // `why` names the file already.
                return Error::new(
                    ErrorKind::Malformed,
                    format!("'{spec}' needs DWARF line tables, and this file's DWARF is unreadable: {why}"),
                );
            }
            Error::new(
                ErrorKind::NoSymbols,
                format!("'{spec}' needs DWARF line tables, and neither the file nor a debug file for it has .debug_info; {install}"),
            )
            .with_path(path)
        })?;
        // The unit of the function the point is in, when there is one:
        // checking every unit's header would read all of .debug_info.
        let split = match at {
            Some(a) => cu.is_split_at(a),
            None => cu.has_split_units(),
        };
        if split {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "split DWARF (-gsplit-dwarf: skeleton units, code in .dwo files) is not supported; build without -gsplit-dwarf",
            )
            .with_path(path));
        }
        Ok(cu)
    }

    /// True if reading DWARF cut a `DW_AT_abstract_origin` or
    /// `DW_AT_specification` chain that would not end (a cycle): the
    /// functions it named were left out. Never loads DWARF itself.
    pub fn dwarf_chain_cut(&self) -> bool {
        self.units
            .get()
            .and_then(|u| u.as_ref())
            .is_some_and(|u| u.cut_chain())
    }

    /// A symbol's source file. The compile unit is preferred (it has the
    /// directory, and it covers globals too) unless it contradicts the
    /// symbol's `STT_FILE` basename, which is then kept.
    pub fn source_file(&self, idx: &SymbolIndex, s: &Symbol) -> Option<SourceFile> {
        let name = idx.name(s);
        if let Some(padded) = padded_function(idx, s, name) {
            return self.source_file(idx, padded);
        }
        let mut stt = idx.file(s);
        let unit = match self.compile_units() {
            Some(u) => u.unit_at(s.addr),
            None => self.line_programs().and_then(|l| l.unit_at(s.addr, stt)),
        };
        if name.starts_with(".L") && unit.is_some() {
            // An assembler label objtool kept: it follows the last file's
            // symbols, not its own file's. It is where its code is.
            stt = None;
        }
        // A Go unit is a package: the function's file is where DWARF
        // declares it (`main.go`, shown by its name as STT_FILE would be).
        if let Some(decl) = unit
            .as_ref()
            .filter(|u| u.package)
            .and_then(|_| self.compile_units()?.subprogram_at(s.addr))
            .and_then(|sp| sp.decl_file)
        {
            return Some(SourceFile {
                shown: basename(&decl).to_string(),
                full: Some(decl),
                decl: None,
                disagreement: None,
            });
        }
        if stt.is_some_and(|f| f.contains("-cgu.")) && unit.is_some() {
            // rustc's STT_FILE names the codegen unit (`krate.HASH-cgu.0`),
            // no file; DWARF's unit has the source.
            stt = None;
        }
        match (unit, stt) {
            (Some(u), Some(f)) if basename(&u.name) != basename(f) => Some(SourceFile {
                shown: f.to_string(),
                full: Some(u.full.clone()),
                decl: None,
                disagreement: Some(format!(
                    "{} at {}: the symbol table names file {f} (STT_FILE) but DWARF's compile unit there is {}",
                    idx.name(s),
                    s.addr,
                    u.name
                )),
            }),
            (Some(u), _) => Some(SourceFile {
                shown: u.name.clone(),
                full: Some(u.full.clone()),
                decl: None,
                disagreement: None,
            }),
            (None, Some(f)) => Some(SourceFile {
                shown: f.to_string(),
                full: None,
                decl: None,
                disagreement: None,
            }),
            (None, None) => None,
        }
    }

    /// The line programs, read when there is no `.debug_info` to name
    /// units (see [`LinePrograms`]).
    fn line_programs(&self) -> Option<&LinePrograms> {
        self.line_units
            .get_or_init(|| {
                let from = [Some(&self.elf), self.debug.as_ref()]
                    .into_iter()
                    .flatten()
                    .find(|e| e.sections().iter().any(|s| s.name == ".debug_line"))?;
                LinePrograms::load(from)
            })
            .as_ref()
    }

    /// `(full, relative)` declaration file of the function at `s`, from DWARF.
    pub fn decl_file(&self, s: &Symbol) -> Option<(String, String)> {
        let sp = self.compile_units()?.subprogram_at(s.addr)?;
        Some((sp.decl_file?, sp.decl_file_rel?))
    }

    /// Every function symbol matching `func` (and `file`), one per address;
    /// other matching names at that address become aliases. `Ok(empty)` when
    /// nothing matches.
    pub fn match_functions(
        &self,
        func: &Pattern,
        file: Option<&Pattern>,
    ) -> Result<Vec<MatchedSymbol>> {
        if source_spelled(func) {
            return self.match_functions_by(func, file, Spelling::Demangled);
        }
        let found = self.match_functions_by(func, file, Spelling::Symtab)?;
        // A C++ or Rust function by its own name (`method` of
        // `ns::Klass::method`), as DWARF's DW_AT_name has it: looked for
        // only when the symbol table has no such name, since it demangles
        // every symbol.
        if found.is_empty()
            && func
                .as_str()
                .chars()
                .all(|c| c.is_alphanumeric() || "_*?[]".contains(c))
        {
            return self.match_functions_by(func, file, Spelling::Unqualified);
        }
        Ok(found)
    }

    fn match_functions_by(
        &self,
        func: &Pattern,
        file: Option<&Pattern>,
        spelling: Spelling,
    ) -> Result<Vec<MatchedSymbol>> {
        let path = self.elf.path();
        // A literal name needs only its own symbols: index just those.
        // A literal name needs only its own symbols: with the full index at
        // hand (the kernel builds it for its forms), look them up by name;
        // without it, index just those — cheaper than all 250,000 of a
        // large library for one name.
        let filtered;
        // A name in its language's spelling is matched demangled, over
        // every symbol: mangled names share no prefix with it.
        let source = spelling != Spelling::Symtab;
        let matches = |n: &str| match spelling {
            Spelling::Symtab => name_matches(func, n),
            // Go spells names so in its symbol table (`net/http.(*Server).Serve`).
            Spelling::Demangled => func.matches(n) || demangled_matches(func, n),
            Spelling::Unqualified => unqualified_matches(func, n),
        };
        let (idx, candidates): (&SymbolIndex, Vec<&Symbol>) = match self.index.get() {
            _ if source => {
                let full = self.index().map_err(|e| e.with_path(path))?;
                (full, full.symbols().iter().collect())
            }
            Some(Ok(full)) if func.is_literal() => {
                let base = split_variant(func.as_str()).0;
                (full, full.with_base(base).collect())
            }
            _ if func.is_literal() => {
                filtered = SymbolIndex::build_filtered(&self.elf, self.symtab_from(), |n| {
                    name_matches(func, n)
                })
                .map_err(|e| e.with_path(path))?;
                self.keep_table_notes(&filtered);
                (&filtered, filtered.symbols().iter().collect())
            }
            _ => {
                let full = self.index().map_err(|e| e.with_path(path))?;
                (full, full.symbols().iter().collect())
            }
        };
        // `NAME@VERSION` (`realpath@GLIBC_2.2.5`) and `NAME@@VERSION` (the
        // default one) select a symbol version, where one is so spelled;
        // else `@` names a source file, as in perf.
        // (`NAME@@VERSION` leaves `@VERSION` as the file: the default
        // version only; `NAME@VERSION` names either kind.)
        let version_of = |s: &Symbol| -> Option<String> {
            let v = idx.version(s)?;
            Some(match file?.as_str().starts_with('@') {
                true if v.default => format!("@{}", v.name),
                true => return None,
                false => v.name.to_string(),
            })
        };
        let by_version = file.is_some_and(|f| {
            candidates.iter().any(|s| {
                s.kind == SymbolKind::Function
                    && matches(idx.name(s))
                    && version_of(s).is_some_and(|v| f.matches(&v))
            })
        });
        let mut matched: Vec<(&Symbol, Option<SourceFile>)> = candidates
            .into_iter()
            .filter(|s| s.kind == SymbolKind::Function && matches(idx.name(s)))
            .map(|s| (s, self.source_file(idx, s)))
            .filter_map(|(s, sf)| {
                let Some(f) = file else { return Some((s, sf)) };
                if by_version {
                    return version_of(s)
                        .is_some_and(|v| f.matches(&v))
                        .then_some((s, sf));
                }
                let unit_ok = sf.as_ref().is_some_and(|sf| {
                    file_matches(f, &sf.shown)
                        || sf.full.as_deref().is_some_and(|full| file_matches(f, full))
                });
                if unit_ok {
                    return Some((s, sf));
                }
                // A static defined in a header: @header.h names every copy.
                let decl = self.decl_file(s)?;
                if !(file_matches(f, &decl.0) || file_matches(f, &decl.1)) {
                    return None;
                }
                let mut sf = sf.unwrap_or(SourceFile {
                    shown: decl.1.clone(),
                    full: None,
                    decl: None,
                    disagreement: None,
                });
                sf.decl = Some(decl.1);
                Some((s, Some(sf)))
            })
            .collect();
        matched.sort_by_key(|(s, _)| (s.section, s.addr, rank(idx, s, func)));
        let mut out: Vec<MatchedSymbol> = Vec::new();
        for (s, sf) in matched {
            let name = idx.name(s);
            if let Some(l) = out
                .last_mut()
                .filter(|l| l.sym.addr == s.addr && l.sym.section == s.section)
            {
                if l.name != name && !l.aliases.iter().any(|a| a == name) {
                    l.aliases.push(name.to_string());
                }
                continue;
            }
            out.push(MatchedSymbol {
                name: name.to_string(),
                sym: *s,
                file: sf,
                aliases: Vec::new(),
                version: idx.version(s).map(|v| v.to_string()),
                other_versions: Vec::new(),
                dwarf_name: None,
            });
        }
        if !by_version {
            default_versions_only(&mut out);
        }
        Ok(out)
    }

    /// The function symbol whose range holds `addr`, as a match (the host
    /// of a line or an inlined site).
    pub fn function_at(&self, addr: LinkAddr) -> Result<Option<MatchedSymbol>> {
        let idx = self.index()?;
        Ok(idx
            .functions_containing(addr)
            .next()
            .map(|s| MatchedSymbol {
                name: idx.name(s).to_string(),
                sym: *s,
                file: self.source_file(idx, s),
                aliases: Vec::new(),
                version: idx.version(s).map(|v| v.to_string()),
                other_versions: Vec::new(),
                dwarf_name: None,
            }))
    }

    /// Data symbols (`kernel.data("NAME")`) matching `name`: objects and
    /// labels outside executable sections.
    pub fn match_data(&self, name: &Pattern) -> Result<Vec<MatchedSymbol>> {
        let idx = self.index().map_err(|e| e.with_path(self.elf.path()))?;
        Ok(idx
            .symbols()
            .iter()
            .filter(|s| {
                matches!(s.kind, SymbolKind::Object | SymbolKind::NoType)
                    && !s.in_exec_section
                    && name.matches(idx.name(s))
            })
            .map(|s| MatchedSymbol {
                name: idx.name(s).to_string(),
                sym: *s,
                file: self.source_file(idx, s),
                aliases: Vec::new(),
                version: idx.version(s).map(|v| v.to_string()),
                other_versions: Vec::new(),
                dwarf_name: None,
            })
            .collect())
    }

    /// The error for a probe point that matched nothing: says whether the name
    /// exists elsewhere (another file, only a `.cold` part, data), else
    /// suggests the closest function names.
    pub fn not_found(&self, spec: &ProbeSpec, func: &Pattern, file: Option<&Pattern>) -> Error {
        let path = self.elf.path();
        let idx = match self.index() {
            Ok(i) => i,
            Err(e) => return e.with_path(path),
        };
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
        // `NAME@@VERSION` / `NAME@VERSION` where the name has versions, but
        // not that one: say which it has.
        let versions: Vec<String> = funcs
            .iter()
            .filter_map(|s| idx.version(s).map(|v| format!("{func}{v}")))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if let Some(v) = file
            .and_then(|fp| fp.as_str().strip_prefix('@'))
            .filter(|v| versions.contains(&format!("{func}@{v}")))
        {
            return Error::new(
                ErrorKind::NotFound,
                format!(
                    "'{spec}': {func}@{v} is a compat version, not the default ('@@'): write '{func}@{v}'; its versions: {}",
                    versions.join(", ")
                ),
            )
            .with_path(path);
        }
        if let (Some(fp), false) = (file, funcs.is_empty()) {
            let files: BTreeSet<String> = funcs
                .iter()
                .map(|s| {
                    self.source_file(idx, s).map_or_else(
                        || "(no file: a global symbol and no DWARF)".to_string(),
                        |f| f.shown,
                    )
                })
                .collect();
            let only_basenames = fp.as_str().contains('/')
                && self.compile_units().is_none()
                && self.line_programs().is_none();
            return Error::new(
                ErrorKind::NotFound,
                format!(
                    "'{spec}': '{func}' exists but not in a file {}matching '{fp}'; it is in: {}{}{}",
                    if versions.is_empty() { "" } else { "or version " },
                    files.into_iter().collect::<Vec<_>>().join(", "),
                    if only_basenames {
                        " (the symbol table records only file names as compiled; directories need DWARF)"
                    } else {
                        ""
                    },
                    if versions.is_empty() {
                        String::new()
                    } else {
                        format!("; its versions: {}", versions.join(", "))
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
                "only a .cold part (split-off cold code, never an entry point; name one exactly, as in 'foo.cold', to probe that cold path)"
            } else if let Some(f) = func.as_str().strip_prefix("__pfx_") {
                &format!("the padding before {f} (objtool's __pfx_ symbol, where a call-depth or FineIBT thunk may be patched in), not a function: probe '{f}'")
            } else {
                "a data object or label, not a function"
            };
            return Error::new(ErrorKind::NotFound, format!("'{spec}': '{func}' is {what}"))
                .with_path(path);
        }
        let closest = closest_names(idx, func.as_str());
        let mut msg = format!("'{spec}': no function matches '{func}'");
        if !closest.is_empty() {
            msg.push_str(&format!("; closest: {}", closest.join(", ")));
        }
        if self.source == SymbolSource::DynsymOnly {
            msg.push_str(&format!(
                " (only .dynsym was available: static functions are not visible; searched for debug files in: {})",
                list_paths(&self.searched)
            ));
        }
        // dwz's supplementary file holds declarations shared between
        // objects; without it, an inlined function declared only there is
        // not seen.
        if let Some(why) = self.sup_error() {
            msg.push_str(&format!(
                " ({why}; a function inlined from a declaration there is not found)"
            ));
        }
        Error::new(ErrorKind::NotFound, msg)
            .with_path(path)
            .with_reason(Reason::NotFound { closest })
    }
}

/// Preference among symbols at one address: the name the user typed, then
/// plain over renamed over clones over aliases, a default symbol version
/// over a compat one, `.symtab` over `.dynsym`, globals over locals.
fn rank(idx: &SymbolIndex, s: &Symbol, func: &Pattern) -> (bool, u8, bool, u8, u8, usize) {
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
    let b = match s.binding {
        Binding::Global => 0,
        Binding::Weak => 1,
        Binding::Local => 2,
    };
    // Of two versions at one address, the default (`@@`) names it.
    let compat = idx.version(s).is_some_and(|v| !v.default);
    (name != func.as_str(), v, compat, t, b, name.len())
}

/// Human list of searched paths.
pub fn list_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nothing (the file has neither a build-id nor a .gnu_debuglink)".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An inlined copy of a function, placed in the symbol that holds it.
#[derive(Debug, Clone)]
pub struct InlineMatch {
    /// The symbol holding the inlined code.
    pub host: MatchedSymbol,
    /// Offset of the inlined code's entry in the host.
    pub offset: u64,
    /// The inlined function's name.
    pub name: String,
    /// The function it was inlined into.
    pub caller: Option<String>,
    /// The inlined function's declaration file (relative).
    pub decl_file: Option<String>,
}

impl AnalysedObject {
    /// Every inlined copy of functions matching `func` (and `file`, matched
    /// against the inlined function's declaration file or the unit holding
    /// the copy). Empty without DWARF.
    ///
    /// A literal name reads the units whose DWARF names it (found by its
    /// string, without parsing). For a glob, `copies` are the out-of-line
    /// copies already matched: when every one of them is declared in the
    /// very file its unit compiles (a function of a `.c` file, not a
    /// header), only those units are read; otherwise every unit whose line
    /// table names a matching file is.
    pub fn match_inlined(
        &self,
        func: &Pattern,
        file: Option<&Pattern>,
        copies: &[MatchedSymbol],
    ) -> Result<DwarfMatches> {
        let Some(cu) = self.compile_units() else {
            return Ok(DwarfMatches::default());
        };
        let want = |n: &str| func.matches(n);
        let mut only: Option<Vec<usize>> = None;
        if !copies.is_empty() {
            let mut units = Vec::new();
            for m in copies {
                let local = (|| {
                    let off = cu.unit_offset_at(m.sym.addr.get())?;
                    let unit = cu.unit_file(off)?;
                    let sp = cu.subprogram_at(m.sym.addr)?;
                    (sp.decl_file.as_deref() == Some(unit.full.as_str())
                        && !unit.name.starts_with('<'))
                    .then_some(off)
                })();
                match local {
                    Some(off) => units.push(off),
                    None => {
                        units.clear();
                        break;
                    }
                }
            }
            if !units.is_empty() {
                units.sort_unstable();
                units.dedup();
                only = Some(units);
            }
        }
        // A literal name: read exactly the units that name it. The copies'
        // own units are not enough: another file may have its own static
        // of that name, inlined everywhere it is used (python's
        // valid_index, the kernel's fs/namei.c may_create).
        if func.is_literal() {
            if let Some(mut units) = cu.units_naming(func.as_str()) {
                units.extend(only.take().unwrap_or_default());
                units.sort_unstable();
                units.dedup();
                only = Some(units);
            }
        } else if let Some(units) = cu.units_matching(&want) {
            // A pattern, with the name index: exactly the units that have
            // a subprogram of a matching name (the copies' among them).
            only = Some(units);
        } else if only.is_some() {
            // A pattern: the copies' units miss a matching static inlined
            // only elsewhere. The names it matches are in the string
            // table: read the units naming each, or, when there are many,
            // every unit.
            only = cu.strings_matching(&want, 64).and_then(|names| {
                let mut units = only.take().unwrap_or_default();
                for n in names {
                    units.extend(cu.units_naming(&n)?);
                }
                units.sort_unstable();
                units.dedup();
                Some(units)
            });
        }
        let sites = match file {
            Some(f) => {
                let path =
                    |(full, rel): (&str, &str)| file_matches(f, full) || file_matches(f, rel);
                let base = last_component_matcher(f);
                cu.inlined_sites(
                    &want,
                    Some(&crate::sources::dwarf::FileFilter {
                        base: &base,
                        path: &path,
                    }),
                    only.as_deref(),
                )
            }
            None => cu.inlined_sites(&want, None, only.as_deref()),
        };
        let mut out = DwarfMatches::default();
        for s in sites {
            if let Some(f) = file {
                let decl_ok = s
                    .decl_file
                    .as_ref()
                    .is_some_and(|(a, b)| file_matches(f, a) || file_matches(f, b));
                let unit_ok = file_matches(f, &s.unit);
                if !decl_ok && !unit_ok {
                    continue;
                }
            }
            let Some(mut host) = self.function_at(LinkAddr(s.addr))? else {
                continue;
            };
            if s.out_of_line {
                // Only where a symbol of another name starts there (a
                // clone, `check.part.0`, is matched by name or left out on
                // purpose) and no symbol matched by name is that copy.
                if host.sym.addr.get() == s.addr
                    && split_variant(&host.name).0 != s.name
                    && !copies.iter().any(|c| c.sym.addr == host.sym.addr)
                    && !out.renamed.iter().any(|c| c.sym.addr == host.sym.addr)
                {
                    host.dwarf_name = Some(s.name);
                    out.renamed.push(host);
                }
                continue;
            }
            out.inlined.push(InlineMatch {
                offset: s.addr - host.sym.addr.get(),
                host,
                name: s.name,
                caller: s.caller,
                decl_file: s.decl_file.map(|d| d.1),
            });
        }
        Ok(out)
    }
}

/// The function a padding symbol pads: objtool's `__pfx_NAME` (and clang's
/// `__cfi_NAME`) are the bytes right before `NAME`. They are appended to the
/// symbol table after the last object's own symbols, so their `STT_FILE` is
/// that object's (every `__pfx_*` of Debian's 6.12 kernel claims
/// `usercopy_64.c`): their file is their function's.
fn padded_function<'a>(idx: &'a SymbolIndex, s: &Symbol, name: &str) -> Option<&'a Symbol> {
    let base = name
        .strip_prefix("__pfx_")
        .or_else(|| name.strip_prefix("__cfi_"))?;
    let end = LinkAddr(s.addr.get().checked_add(s.size.max(1))?);
    idx.functions_containing(end)
        .find(|f| f.addr == end && idx.name(f) == base)
}
