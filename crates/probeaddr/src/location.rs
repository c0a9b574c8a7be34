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
pub use crate::index::names::Variant;
pub use crate::index::Binding;
pub use crate::sources::elf::SymbolTableKind;

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
    ///
    /// For every location of a set at once, [`crate::pins`] does the work
    /// once instead of once per location.
    pub fn pin(&self, all: &[Location]) -> Option<String> {
        crate::pin::pins_of(&[self], all).pop().flatten()
    }
}
