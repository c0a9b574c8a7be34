//! A location: the answer for one probe point in one object, before linking.
//!
//! Every object kind — a user-space file, the kernel image, a module, a
//! kallsyms listing — gives the same [`Location`]. What differs is its
//! [`Anchor`]: the one base that linking fetches at run time (nothing for a
//! file offset, `_text` under KASLR, a module section's load address). A
//! location holds no runtime address; [`crate::Linker`] adds it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::addr::{FileOffset, LinkAddr, RuntimeAddr, SectionOffset};
use crate::index::names::file_matches;
pub use crate::index::names::Variant;
pub use crate::index::Binding;
pub use crate::sources::elf::SymbolTableKind;
use crate::spec::Pattern;

/// The object a location is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Object {
    /// A user-space ELF file (executable or shared library).
    User {
        /// The file, as given.
        path: PathBuf,
        /// Its GNU build-id (hex), if it has one.
        build_id: Option<String>,
    },
    /// The kernel image.
    Vmlinux {
        /// The vmlinux analysed; `None` when the symbols came from a listing
        /// (kallsyms, System.map, an exported side table).
        path: Option<PathBuf>,
        /// Its build-id (hex), when known.
        build_id: Option<String>,
    },
    /// A kernel module.
    Module {
        /// The module's name (`.modinfo` `name=`).
        name: String,
        /// The `.ko` analysed; `None` when the symbols came from kallsyms.
        path: Option<PathBuf>,
        /// Its build-id (hex), when known.
        build_id: Option<String>,
    },
}

impl Object {
    /// True for the kernel image and modules.
    pub fn is_kernel(&self) -> bool {
        !matches!(self, Object::User { .. })
    }

    /// The object's build-id (hex), when known.
    pub fn build_id(&self) -> Option<&str> {
        match self {
            Object::User { build_id, .. }
            | Object::Vmlinux { build_id, .. }
            | Object::Module { build_id, .. } => build_id.as_deref(),
        }
    }

    /// `./prog`, `vmlinux`, `af_key`: the object as a table shows it.
    pub fn short_name(&self) -> String {
        match self {
            Object::User { path, .. } => path.display().to_string(),
            Object::Vmlinux { .. } => "vmlinux".into(),
            Object::Module { name, .. } => name.clone(),
        }
    }
}

/// What a location's probe does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LocationKind {
    /// A function's entry (an out-of-line copy, or an inlined site).
    Entry,
    /// A function's return (`%return`, `.return`): a return probe.
    Return,
    /// An offset into a function (`FUNC+OFF`, or after its prologue).
    Offset,
    /// A source line.
    Line,
    /// A data symbol (`kernel.data`): the address of a fetch argument, not a probe.
    Data,
    /// A statically defined tracing marker (USDT): see [`Location::marker`].
    Mark,
}

impl LocationKind {
    /// True if the location takes a return probe (`r:`).
    pub fn is_return(self) -> bool {
        self == LocationKind::Return
    }
}

/// What a location is relative to: the one base fetched at link time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Anchor {
    /// An offset into the object's file: what `uprobe_events` takes
    /// (`PATH:OFFSET`); a process maps it wherever it likes.
    File {
        /// The file offset.
        offset: FileOffset,
    },
    /// `_text + offset` in the kernel image: unique, and survives KASLR.
    KernelText {
        /// Bytes after `_text`.
        #[serde(with = "crate::addr::hex")]
        offset: u64,
    },
    /// An offset into one section of a module, which the loader places on
    /// its own (`/sys/module/M/sections/SECTION`).
    ModuleSection {
        /// The section (`.text`, `.init.text`, `.text.unlikely`…).
        section: String,
        /// The offset in it.
        offset: SectionOffset,
    },
    /// An absolute runtime address: a kallsyms listing's, valid for the boot
    /// it was read from.
    Absolute {
        /// The address.
        addr: RuntimeAddr,
    },
}

impl std::fmt::Display for Anchor {
    /// `file offset 0x1175`, `_text+0x3ea470`, `.text+0x40`, `0xffffffffc0a1b000`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Anchor::File { offset } => write!(f, "file offset {offset}"),
            Anchor::KernelText { offset } => write!(f, "_text+{offset:#x}"),
            Anchor::ModuleSection { section, offset } => write!(f, "{section}+{offset}"),
            Anchor::Absolute { addr } => write!(f, "{addr}"),
        }
    }
}

/// `SYM+OFF` with a symbol that the kernel's probe API finds once: the
/// location's own function when its name is unique, else the nearest
/// preceding unique function of the same section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolAnchor {
    /// The symbol.
    pub symbol: String,
    /// The location's offset from it.
    #[serde(with = "crate::addr::hex")]
    pub offset: u64,
    /// False when `symbol` is the nearest unique symbol, not the function itself.
    pub own: bool,
}

impl std::fmt::Display for SymbolAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{:#x}", self.symbol, self.offset)
    }
}

/// Which names a kernel location's uniqueness was counted among.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Namespace {
    /// The running kernel's kallsyms: vmlinux and every loaded module, what
    /// `kprobe_events` checks (`number_of_same_symbols()`).
    Kallsyms,
    /// Only the files at hand (the vmlinux or System.map and the modules
    /// given): a module loaded later can still make a name ambiguous.
    Files,
}

/// A source line of a line probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLine {
    /// The file, relative to the compile directory when under it.
    pub file: String,
    /// The line.
    pub line: u64,
    /// `FUNC:N`: the N the probe point counted from the declaration line.
    pub relative: Option<u32>,
}

/// One resolved probe location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The probe point it was resolved from, as probeaddr writes it.
    pub point: String,
    /// The event name the probe point chose (`EVENT=FUNC`), if any.
    pub requested_event: Option<String>,
    /// The object it is in.
    pub object: Object,
    /// The symbol holding the code, with any compiler suffix
    /// (`helper.constprop.0`); for an inlined site, the function it was
    /// inlined into.
    pub symbol: String,
    /// The source-level function (`helper`; for an inlined site, the inlined one).
    pub function: String,
    /// The symbol demangled (`ns::Klass::method(int)`,
    /// `mycrate::parse::Parser::next`), when it is a C++ or Rust name.
    #[serde(default)]
    pub demangled: Option<String>,
    /// Plain, clone or renamed.
    pub variant: Variant,
    /// The symbol version (`@@GLIBC_2.2.5` default, `@GLIBC_2.2.5` compat),
    /// when the symbol table spells one.
    pub version: Option<String>,
    /// Source file: the DWARF compile unit's name (`sub/b.c`) where the
    /// object has DWARF, else a local's `STT_FILE` name (`b.c`).
    pub file: Option<String>,
    /// The compile unit's full path (`DW_AT_comp_dir/DW_AT_name`), if known.
    pub source_path: Option<String>,
    /// The declaration file, when the probe point matched the function
    /// through it (a `static` defined in a header) or for an inlined site.
    pub decl_file: Option<String>,
    /// For line probes: the file and line.
    pub line: Option<SourceLine>,
    /// For an inlined site: the function it was inlined into.
    pub inlined_into: Option<String>,
    /// What the probe does.
    pub kind: LocationKind,
    /// Local, global or weak (unknown for kallsyms listings).
    pub binding: Option<Binding>,
    /// Which ELF symbol table named it (`None` for listings).
    pub table: Option<SymbolTableKind>,
    /// Other names at the same address that the probe point also matched.
    pub aliases: Vec<String>,
    /// The section holding it, when known (`.text`, `.init.text`…).
    pub section: Option<String>,
    /// The symbol's link-time address (for a module: its offset in its section).
    pub func_addr: LinkAddr,
    /// Offset of the probe from the symbol.
    #[serde(with = "crate::addr::hex")]
    pub offset: u64,
    /// Link-time address of the probe: `func_addr + offset`.
    pub addr: LinkAddr,
    /// Symbol size in bytes (0 if unknown).
    pub size: u64,
    /// What the location is relative to.
    pub anchor: Anchor,
    /// Kernel: `SYM+OFF` with a symbol unique in [`Location::namespace`].
    pub symbol_form: Option<SymbolAnchor>,
    /// Module: `MOD:SYM+OFF` with a symbol unique in the module.
    pub module_form: Option<SymbolAnchor>,
    /// Kernel data: `@SYM`, when kallsyms lists the symbol exactly once.
    pub data_symbol: Option<String>,
    /// Kernel: how many symbols of this name the namespace holds.
    pub name_count: Option<usize>,
    /// Kernel: where uniqueness was counted.
    pub namespace: Option<Namespace>,
    /// What the user should know about this location (a file the symbol
    /// table and DWARF disagree on, why a form is missing).
    pub notes: Vec<String>,
    /// Why the kernel will refuse a kprobe here (its kprobe blacklist:
    /// `NOKPROBE_SYMBOL`, `__kprobes`, `noinstr`, entry code, freed init
    /// text), or `None`. No probe definition is written for such a place.
    #[serde(default)]
    pub kprobe_refused: Option<String>,
    /// For a GNU indirect function's resolver: the file offset of the GOT
    /// slot the dynamic linker fills with the implementation it picked
    /// (read in a live process to name that implementation).
    #[serde(default)]
    pub ifunc_slot: Option<FileOffset>,
    /// Fetch arguments the probe records (`x=%di:s32`), as the probe API
    /// takes them.
    #[serde(default)]
    pub args: Vec<String>,
    /// Every variable at the location, when asked for
    /// ([`crate::ResolveOptions::variables`]).
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// The USDT marker at the location, for `%PROVIDER:NAME` points.
    #[serde(default)]
    pub marker: Option<Marker>,
}

/// A statically defined tracing marker (`<sys/sdt.h>`, `.note.stapsdt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// `python` in `python:function__entry`.
    pub provider: String,
    /// `function__entry`.
    pub name: String,
    /// The file offset of its semaphore, which the kernel raises while a
    /// uprobe is attached (`uprobe_events`' `PATH:OFF(REF_CTR_OFFSET)`), if
    /// it has one: the program skips the marker's argument set-up unless
    /// it is raised.
    pub semaphore: Option<FileOffset>,
    /// Its arguments as the note spells them (`-4@%eax 8@-16(%rbp)`);
    /// [`Location::args`] has them as fetch arguments.
    pub args: String,
}

/// What a variable is to the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum VariableKind {
    /// A formal parameter.
    Parameter,
    /// A local variable.
    Local,
    /// A global or file-level static of the unit.
    Global,
}

/// A variable at a location, and how a probe there reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its type as C writes it (`struct file *`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Parameter, local or global.
    pub kind: VariableKind,
    /// The fetch argument that reads it there (`%si:x64`), if one can.
    pub fetch: Option<String>,
    /// Why it cannot be read there (optimized out, a struct by value…).
    pub unavailable: Option<String>,
}

impl Location {
    /// The symbol as its source spells it: demangled when it is mangled,
    /// with its compiler suffix (`ns::f(int) [clone .constprop.0]`).
    pub fn shown_symbol(&self) -> String {
        match &self.demangled {
            Some(d) => match self
                .symbol
                .get(self.function.len()..)
                .filter(|s| !s.is_empty())
            {
                Some(suffix) if self.symbol.starts_with(&self.function) => {
                    format!("{d} [clone {suffix}]")
                }
                _ => d.clone(),
            },
            None => self.symbol.clone(),
        }
    }

    /// `helper+0x4 [b.c]`, `jhash (inlined into f) f+0x10 [x.c]`: for messages.
    pub fn describe(&self) -> String {
        let what = match &self.inlined_into {
            Some(c) => format!(
                "{} inlined into {c} at {}+{:#x}",
                self.function,
                self.shown_symbol(),
                self.offset
            ),
            None if self.offset > 0 => format!(
                "{}{}+{:#x}",
                self.shown_symbol(),
                self.version.as_deref().unwrap_or(""),
                self.offset
            ),
            None => format!(
                "{}{}",
                self.shown_symbol(),
                self.version.as_deref().unwrap_or("")
            ),
        };
        let what = match &self.marker {
            Some(m) => format!("marker {}:{} in {what}", m.provider, m.name),
            None => what,
        };
        match &self.file {
            Some(f) => format!("{what} [{f}]"),
            None => what,
        }
    }

    /// A probe point that names this location alone among `all` (the
    /// locations of one probe point), if one exists: the function with the
    /// shortest suffix of its file's path that no other location shares
    /// (`helper@b.c`, else `helper@src/b.c`), else its full symbol name,
    /// else its address (`0x43770`, perf's absolute address point).
    pub fn pin(&self, all: &[Location]) -> Option<String> {
        // An overload or instantiation by its name with parameters
        // (`ns::Klass::method(int)`), when no other location has it.
        if self.demangled.is_some() && self.offset == 0 && self.inlined_into.is_none() {
            use crate::index::names::{demangle, split_variant, squash};
            let key =
                |l: &Location| demangle(split_variant(&l.symbol).0).map(|d| squash(&d.with_params));
            if let Some(k) = key(self) {
                if all.iter().filter(|o| key(o).as_ref() == Some(&k)).count() == 1 {
                    return Some(k);
                }
                // File-local functions of one name in several files
                // (`local(int)@names_a.cc`): the same rule as C names,
                // over the names with parameters.
                let names: Vec<Option<String>> = all.iter().map(key).collect();
                let keys: Vec<PinKey<'_>> = all
                    .iter()
                    .zip(&names)
                    .map(|(o, n)| {
                        let mut pk = PinKey::of(o);
                        if let Some(n) = n {
                            pk.symbol = n;
                            pk.function = n;
                        }
                        pk
                    })
                    .collect();
                let mut me = PinKey::of(self);
                me.symbol = &k;
                me.function = &k;
                me.by_function = false;
                if let Some(p) = pin_among(&me, &keys) {
                    return Some(p);
                }
            }
        }
        // A marker by its provider and name, when no other site has both.
        if let Some(m) = &self.marker {
            let same = all
                .iter()
                .filter(|o| {
                    o.marker
                        .as_ref()
                        .is_some_and(|x| x.provider == m.provider && x.name == m.name)
                })
                .count();
            if same == 1 {
                return Some(format!("%{}:{}", m.provider, m.name));
            }
        }
        let keys: Vec<PinKey<'_>> = all.iter().map(PinKey::of).collect();
        let mut me = PinKey::of(self);
        // A point that named a clone exactly (`foo.part.0`) matched none of
        // foo's other copies or inlined sites; `foo@FILE` would. Pin such a
        // location by its full name only.
        me.by_function = crate::spec::ProbeSpec::parse(&self.point)
            .map(|s| s.name_pattern().is_none_or(|p| !p.as_str().contains('.')))
            .unwrap_or(false);
        pin_among(&me, &keys)
            .or_else(|| {
                // Versions of one function (`realpath@@GLIBC_2.3`, the
                // default, and `realpath@GLIBC_2.2.5`): the version names it.
                let v = self.version.as_deref()?;
                let same =
                    |o: &Location| o.symbol == self.symbol && o.version.as_deref() == Some(v);
                (self.offset == 0 && all.iter().filter(|o| same(o)).count() == 1)
                    .then(|| format!("{}{v}", self.symbol))
            })
            .or_else(|| {
                // No name singles it out (a function whose unit's file every
                // other copy #includes: round_and_return in strtod_l.c): its
                // address does, in a linked object.
                (self.kind != LocationKind::Data
                    && !matches!(self.anchor, Anchor::ModuleSection { .. })
                    && all.iter().filter(|o| o.addr == self.addr).count() == 1)
                    .then(|| format!("{:#x}", self.addr.get()))
            })
    }
}

/// What a pin is made of; also built for names that are not locations
/// (the instances of a duplicated kernel name).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PinKey<'a> {
    pub symbol: &'a str,
    pub function: &'a str,
    pub aliases: &'a [String],
    pub file: Option<&'a str>,
    pub source_path: Option<&'a str>,
    /// The declaration file, when not the unit: `@` matches it too.
    pub decl_file: Option<&'a str>,
    pub offset: u64,
    /// An inlined site: `offset` is into the host `symbol`, and the
    /// inlined `function` names the site with no offset.
    pub inlined: bool,
    /// The pin may name the source-level function (`foo@b.c` for
    /// `foo.isra.0`): the locations it is counted among are all that name
    /// matches.
    pub by_function: bool,
}

impl<'a> PinKey<'a> {
    pub(crate) fn of(l: &'a Location) -> PinKey<'a> {
        PinKey {
            symbol: &l.symbol,
            function: &l.function,
            aliases: &l.aliases,
            file: l.file.as_deref(),
            source_path: l.source_path.as_deref(),
            decl_file: l.decl_file.as_deref(),
            offset: l.offset,
            inlined: l.inlined_into.is_some(),
            by_function: true,
        }
    }
}

/// The one pinning rule (see [`Location::pin`]).
pub(crate) fn pin_among(l: &PinKey<'_>, all: &[PinKey<'_>]) -> Option<String> {
    let names_it = |o: &PinKey<'_>, sym: &str| {
        o.symbol == sym
            || (o.function == sym && !sym.contains('.'))
            || o.aliases.iter().any(|a| a == sym)
    };
    let in_file = |o: &PinKey<'_>, p: &Pattern| {
        let f = p.as_str();
        o.file.is_some_and(|of| file_matches(p, of))
            || o.source_path.is_some_and(|of| file_matches(p, of))
            // Only the relative form of the declaration file is known: an
            // absolute pin counts as matching when it ends with it, which
            // can only make a pin rarer, never wrong.
            || o.decl_file.is_some_and(|d| {
                file_matches(p, d) || file_matches(&Pattern::new(d), f.trim_start_matches('/'))
            })
    };
    // A pin with an offset (`host@f.c+0x7d`) selects the copies of the
    // host at that offset: two inlined sites in one host are one host.
    let offset_pin = |sym: &str| l.offset > 0 && !(l.inlined && sym == l.function);
    let count = |sym: &str, file: Option<&Pattern>| {
        let hits = all
            .iter()
            .filter(|o| names_it(o, sym) && file.is_none_or(|f| in_file(o, f)));
        // Only "one" or "more" matters: stop at the second.
        if offset_pin(sym) {
            let mut first = None;
            for h in hits.map(|o| (o.symbol, o.file, o.source_path)) {
                match first {
                    None => first = Some(h),
                    Some(f) if f != h => return 2,
                    Some(_) => {}
                }
            }
            usize::from(first.is_some())
        } else {
            hits.take(2).count()
        }
    };
    // An inlined site is named by its function alone (`twice@inl2.c`
    // resolves to the site), or by its host with the offset into it.
    let with_off = |sym: &str, p: String| {
        if offset_pin(sym) {
            format!("{p}+{:#x}", l.offset)
        } else {
            p
        }
    };
    let mut suffixes: Vec<String> = Vec::new();
    for path in [l.file, l.source_path].into_iter().flatten() {
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
    let names = if l.by_function {
        vec![l.function, l.symbol]
    } else {
        vec![l.symbol]
    };
    for sym in names {
        for f in &suffixes {
            if count(sym, Some(&Pattern::new(f.as_str()))) == 1 {
                return Some(with_off(sym, format!("{sym}@{f}")));
            }
        }
    }
    if count(l.symbol, None) == 1 {
        return Some(with_off(l.symbol, l.symbol.to_string()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(file: &'a str, path: &'a str) -> PinKey<'a> {
        PinKey {
            symbol: "helper",
            function: "helper",
            aliases: &[],
            file: Some(file),
            source_path: Some(path),
            decl_file: None,
            offset: 0,
            inlined: false,
            by_function: true,
        }
    }

    #[test]
    fn pins_take_the_shortest_distinguishing_suffix() {
        let all = [
            key("a.c", "/home/src/a.c"),
            key("b.c", "/home/src/b.c"),
            key("sub/b.c", "/home/src/sub/b.c"),
        ];
        assert_eq!(pin_among(&all[0], &all).as_deref(), Some("helper@a.c"));
        // b.c names both b.c files; src/b.c only the first.
        assert_eq!(pin_among(&all[1], &all).as_deref(), Some("helper@src/b.c"));
        assert_eq!(pin_among(&all[2], &all).as_deref(), Some("helper@sub/b.c"));
    }
}
