//! The symbol index of one object: every symbol with its kind, binding,
//! section and — for locals — the source file named by the `STT_FILE` entry
//! that precedes it in `.symtab`.
//!
//! Built in one pass over the symbol table(s). Names are not copied: each
//! entry keeps the offset and length of its name in the mapped file, so an
//! index over a 100 MB library costs a few bytes per symbol, not per name.
//!
//! A [`Symbol`] remembers which index made it, so that asking one index for
//! the name of another's symbol decodes checked bytes (and at worst yields a
//! wrong name) instead of trusting offsets that were validated elsewhere.

pub mod names;
pub mod unique;

use names::split_variant;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use object::elf;
use serde::Serialize;

use crate::addr::LinkAddr;
use crate::error::Result;
use crate::sources::elf::{ElfObject, Section, SymbolTableKind};
use crate::sources::Bytes;

/// What a symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SymbolKind {
    /// `STT_FUNC` or `STT_GNU_IFUNC`.
    Function,
    /// `STT_OBJECT`, `STT_TLS`, `STT_COMMON`.
    Object,
    /// `STT_NOTYPE` (assembler labels).
    NoType,
}

/// `STB_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    /// `STB_LOCAL`: a `static`; its name need not be unique.
    Local,
    /// `STB_GLOBAL`.
    Global,
    /// `STB_WEAK` (and `STB_GNU_UNIQUE`).
    Weak,
}

/// Where a name's bytes are in the file: offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameRef {
    off: u32,
    len: u32,
}

/// Functions whose `st_shndx` names a section that does not hold them.
#[derive(Debug, Default)]
struct Misplaced {
    /// `.dynsym` entries placed in the executable section that does.
    moved: u32,
    /// Entries no executable section holds, left out.
    dropped: u32,
    /// The first of them, described.
    example: Option<String>,
}

/// A `.dynsym` name with its version: number in [`SymbolIndex::versions`]
/// and whether it is the default.
type Exported = (Box<[u8]>, u16, bool);

/// The number (place plus one) of version name `v` in `versions`, added
/// if new; 0 (no version) for an empty name, one that is not text, or past
/// the 65,535 a `.gnu.version` entry can number.
fn intern(versions: &mut Vec<Box<str>>, v: &[u8]) -> u16 {
    let Ok(v) = std::str::from_utf8(v) else {
        return 0;
    };
    if v.is_empty() {
        return 0;
    }
    match versions.iter().position(|x| &**x == v) {
        Some(i) => i as u16 + 1,
        None if versions.len() < usize::from(u16::MAX) => {
            versions.push(v.into());
            versions.len() as u16
        }
        None => 0,
    }
}

/// One address in this many of the address order is kept in a small
/// array searched first.
const SAMPLE: usize = 64;

/// `Symbol::file` when the symbol has no `STT_FILE`.
const NO_FILE: u32 = u32::MAX;

/// Tags that tell indexes apart; see [`Symbol`].
static NEXT_OWNER: AtomicU32 = AtomicU32::new(1);

/// A symbol version (`GLIBC_2.2.5`): the default one, which a plain
/// reference binds to, or a hidden compat one kept for old binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolVersion<'a> {
    /// The version's name.
    pub name: &'a str,
    /// The default version (readelf's `@@`), not a compat one (`@`).
    pub default: bool,
}

impl std::fmt::Display for SymbolVersion<'_> {
    /// readelf's spelling: `@@GLIBC_2.34`, `@GLIBC_2.2.5`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.default { "@@" } else { "@" };
        write!(f, "{at}{}", self.name)
    }
}

/// One symbol. Accessors on [`SymbolIndex`] give its name and file.
#[derive(Debug, Clone, Copy)]
pub struct Symbol {
    /// The index that made it: only that index's name bytes are known to be
    /// valid UTF-8 at `name`.
    owner: u32,
    name: NameRef,
    /// Its version's place in [`SymbolIndex::versions`] plus one (0: none).
    version: u16,
    /// That version is the default one (`@@`), not a compat one (`@`).
    version_default: bool,
    /// Link-time address (`st_value`).
    pub addr: LinkAddr,
    /// `st_size` (0 when the assembler did not record it).
    pub size: u64,
    /// Function, object or label.
    pub kind: SymbolKind,
    /// `STT_GNU_IFUNC`: the function is a resolver that picks the real
    /// implementation when the dynamic linker binds the name.
    pub ifunc: bool,
    /// Local, global or weak.
    pub binding: Binding,
    /// `st_shndx` in the file the symbol came from.
    pub section: u32,
    file: u32,
    /// True if that section is executable (`SHF_EXECINSTR`).
    pub in_exec_section: bool,
    /// Which table it came from.
    pub table: SymbolTableKind,
}

/// All symbols of one object, in symbol-table order.
#[derive(Debug)]
pub struct SymbolIndex {
    /// This index's tag (see [`Symbol`]).
    owner: u32,
    /// The file the names are in.
    source: Option<Arc<Bytes>>,
    symbols: Vec<Symbol>,
    files: Vec<NameRef>,
    /// Functions that lie outside the section they name.
    misplaced: Misplaced,
    /// The distinct version names (`GLIBC_2.2.5`: a few dozen), owned:
    /// they come from a debug file's `.symtab` or the object's `.dynstr`.
    versions: Vec<Box<str>>,
    /// Positions sorted by address, and beside them their addresses: a
    /// binary search reads one compact array, not a symbol per step.
    by_addr: OnceLock<(Vec<u32>, Vec<LinkAddr>)>,
    /// Every [`SAMPLE`]th address of `by_addr`'s (see `at_or_below`).
    addr_sample: OnceLock<Vec<LinkAddr>>,
    /// `(hash of the name's base, position)`, sorted: built once names are
    /// looked up often enough to pay for it (see [`SymbolIndex::count_named`]).
    by_name: OnceLock<Vec<(u64, u32)>>,
    /// How many name lookups were answered by a scan.
    scans: AtomicU32,
    /// How many address lookups were answered by a scan.
    addr_scans: AtomicU32,
}

impl SymbolIndex {
    /// Build the index from `.symtab` of `symtab_from` (the object itself, or
    /// its separate debug file), or else from `.dynsym` of `object`. `.dynsym`
    /// is not read when a `.symtab` is: the linker copies every dynamic
    /// symbol into `.symtab` too, so it would only add duplicates.
    pub fn build(object: &ElfObject, symtab_from: Option<&ElfObject>) -> Result<SymbolIndex> {
        Self::build_filtered(object, symtab_from, |_| true)
    }

    /// Like [`SymbolIndex::build`], keeping only symbols whose name passes
    /// `keep`. Resolving one literal name this way allocates for the few
    /// matches instead of for every symbol of a 250,000-symbol library.
    pub fn build_filtered(
        object: &ElfObject,
        symtab_from: Option<&ElfObject>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<SymbolIndex> {
        let mut index = SymbolIndex {
            owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
            source: None,
            symbols: Vec::new(),
            files: Vec::new(),
            versions: Vec::new(),
            misplaced: Misplaced::default(),
            by_addr: OnceLock::new(),
            addr_sample: OnceLock::new(),
            by_name: OnceLock::new(),
            scans: AtomicU32::new(0),
            addr_scans: AtomicU32::new(0),
        };
        match symtab_from.filter(|o| o.has_symtab()) {
            Some(st) => {
                index.source = Some(st.bytes().clone());
                index.add_table(st, SymbolTableKind::Symtab, &keep)?;
                if object.has_dynsym() {
                    index.add_dynsym_versions(object, &keep)?;
                }
            }
            None if object.has_dynsym() => {
                index.source = Some(object.bytes().clone());
                index.add_table(object, SymbolTableKind::Dynsym, &keep)?;
            }
            None => {}
        }
        Ok(index)
    }

    fn add_table(
        &mut self,
        obj: &ElfObject,
        table: SymbolTableKind,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        let sections = obj.sections();
        let relocatable = obj.kind() == crate::sources::elf::ObjectKind::Relocatable;
        let mut current_file: Option<u32> = None;
        let owner = self.owner;
        let files = &mut self.files;
        let symbols = &mut self.symbols;
        let versions = &mut self.versions;
        let misplaced = &mut self.misplaced;
        obj.for_each_symbol(table, |raw| {
            let name = NameRef {
                off: raw.name_offset,
                len: raw.name.len() as u32,
            };
            if raw.kind == elf::STT_FILE {
                // An empty STT_FILE (the linker's own) ends attribution.
                current_file = if raw.name.is_empty() || std::str::from_utf8(raw.name).is_err() {
                    None
                } else {
                    files.push(name);
                    Some(files.len() as u32 - 1)
                };
                return;
            }
            let kind = match raw.kind {
                elf::STT_FUNC | elf::STT_GNU_IFUNC => SymbolKind::Function,
                elf::STT_OBJECT | elf::STT_TLS | elf::STT_COMMON => SymbolKind::Object,
                elf::STT_NOTYPE => SymbolKind::NoType,
                _ => return, // sections and others are not probe targets
            };
            if raw.name.is_empty()
                || raw.shndx == u32::from(elf::SHN_UNDEF)
                || raw.shndx == u32::from(elf::SHN_ABS)
            {
                return;
            }
            let mut shndx = raw.shndx;
            let mut sec = sections.get(shndx as usize);
            // A relocatable object's values are offsets into their section:
            // add the address the section is laid out at (see
            // `ElfObject::lay_out`), so that addresses are unique and match
            // its relocated DWARF.
            let value = match sec.filter(|_| relocatable) {
                Some(s) => raw.value.saturating_add(s.addr.get()),
                None => raw.value,
            };
            // A function must lie inside the section it names. (Checked
            // before the name filter, so that every index counts alike.)
            let holds = |s: &Section| {
                s.size > 0
                    && s.flags & u64::from(elf::SHF_ALLOC) != 0
                    && value >= s.addr.get()
                    && value.saturating_add(raw.size) <= s.addr.get().saturating_add(s.size)
            };
            let alloc = |s: &&Section| s.size > 0 && s.flags & u64::from(elf::SHF_ALLOC) != 0;
            if kind == SymbolKind::Function && sec.filter(alloc).is_some_and(|s| !holds(s)) {
                // The dynamic linker goes by address alone, and objcopy,
                // removing a section, renumbers the headers but leaves
                // .dynsym's indexes: place such an entry by its address.
                // In .symtab (rewritten whole) it is corruption, and
                // probing it would hit the wrong code.
                let by_addr = match table {
                    SymbolTableKind::Dynsym => {
                        sections.iter().position(|s| s.is_exec() && holds(s))
                    }
                    SymbolTableKind::Symtab => None,
                };
                let first = misplaced.moved + misplaced.dropped == 0;
                if first {
                    misplaced.example = Some(format!(
                        "{} at {value:#x} names section {shndx} ({})",
                        String::from_utf8_lossy(raw.name),
                        sec.map_or(String::new(), |s| format!(
                            "{}, {:#x}-{:#x}",
                            s.name,
                            s.addr.get(),
                            s.addr.get().saturating_add(s.size)
                        )),
                    ));
                }
                match by_addr {
                    Some(i) => {
                        misplaced.moved += 1;
                        shndx = i as u32;
                        sec = sections.get(i);
                    }
                    None => {
                        misplaced.dropped += 1;
                        return;
                    }
                }
            }
            // `fopen@@GLIBC_2.2.5`, `realpath@GLIBC_2.2.5`: a debug file's
            // .symtab spells symbol versions into the name; the .dynsym
            // keeps them in .gnu.version. The name is the part before the
            // `@`; the version is kept beside it.
            // One pass finds the `@` and whether the name is ASCII (nearly
            // always), which then needs no full UTF-8 validation.
            let (mut at, mut high) = (None, 0u8);
            for (i, &b) in raw.name.iter().enumerate() {
                high |= b;
                if b == b'@' && at.is_none() {
                    at = Some(i);
                }
            }
            let at = at.filter(|&i| i > 0);
            let base = at.map_or(raw.name, |i| &raw.name[..i]);
            let text = if high < 0x80 {
                // SAFETY: ASCII bytes are UTF-8.
                Some(unsafe { std::str::from_utf8_unchecked(raw.name) })
            } else {
                std::str::from_utf8(raw.name).ok()
            };
            match text {
                Some(n) if keep(&n[..base.len()]) => {}
                _ => return,
            }
            let (name, (version, version_default)) = match (at, raw.version) {
                (Some(i), _) => {
                    let default = raw.name.get(i + 1) == Some(&b'@');
                    let v = &raw.name[i + 1 + usize::from(default)..];
                    (
                        NameRef {
                            off: name.off,
                            len: i as u32,
                        },
                        (intern(versions, v), default),
                    )
                }
                (None, Some(v)) => (name, (intern(versions, v.name), v.default)),
                (None, None) => (name, (0, false)),
            };
            let binding = match raw.bind {
                elf::STB_LOCAL => Binding::Local,
                elf::STB_GLOBAL => Binding::Global,
                _ => Binding::Weak,
            };
            let in_exec_section = sec.is_some_and(|s| s.is_exec());
            symbols.push(Symbol {
                owner,
                name,
                version,
                version_default,
                addr: LinkAddr(value),
                size: raw.size,
                kind,
                ifunc: raw.kind == elf::STT_GNU_IFUNC,
                binding,
                section: shndx,
                in_exec_section,
                table,
                file: match (binding, current_file) {
                    (Binding::Local, Some(f)) => f,
                    _ => NO_FILE,
                },
            });
        })
    }

    /// Every symbol, in symbol-table order (`.symtab` first, then `.dynsym`).
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// A symbol's full name (with any clone suffix). A symbol of another
    /// index gets its bytes checked, and an empty name if they are not text.
    pub fn name(&self, sym: &Symbol) -> &str {
        if sym.owner == self.owner {
            self.str_of(sym.name)
        } else {
            self.checked_str_of(sym.name)
        }
    }

    /// The symbol's version — spelled into a debug file's `.symtab` name,
    /// or given to a `.dynsym` entry by `.gnu.version` — if any.
    pub fn version(&self, sym: &Symbol) -> Option<SymbolVersion<'_>> {
        let name = self
            .versions
            .get(usize::from(sym.version).checked_sub(1)?)?;
        Some(SymbolVersion {
            name,
            default: sym.version_default,
        })
    }

    /// What the user should know about the table: functions that lie
    /// outside the section they name, placed by address or left out.
    pub fn notes(&self) -> Vec<String> {
        let m = &self.misplaced;
        let e = m.example.as_deref().unwrap_or("");
        let mut out = Vec::new();
        if m.moved > 0 {
            let (what, verb) = if m.moved == 1 {
                ("function", "names")
            } else {
                ("functions", "name")
            };
            out.push(format!(
                "{} .dynsym {what} {verb} a section that does not hold them (e.g. {e}): the section headers were renumbered after linking, as objcopy does when it removes a section, so they are placed by address, as the dynamic linker places them",
                m.moved
            ));
        }
        if m.dropped > 0 {
            let (what, verb) = if m.dropped == 1 {
                ("function", "lies")
            } else {
                ("functions", "lie")
            };
            out.push(format!(
                "{} {what} {verb} outside the section named and outside every executable section (e.g. {e}): the symbol table is corrupt there, so they are left out",
                m.dropped
            ));
        }
        out
    }

    /// Give `.symtab` symbols the versions `object`'s `.dynsym` gives the
    /// same name at the same address. A debug file spells a version into a
    /// name only where the source chose it (`.symver`); the dynamic
    /// linker's version of every other export (`_Exit@@GLIBC_2.2.5`) is
    /// in `.gnu.version` alone, and `NAME@VERSION` must find it either way.
    fn add_dynsym_versions(
        &mut self,
        object: &ElfObject,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        // By address, then name: a lookup allocates nothing.
        let mut exported: std::collections::HashMap<u64, Vec<Exported>> =
            std::collections::HashMap::new();
        let versions = &mut self.versions;
        object.for_each_symbol(SymbolTableKind::Dynsym, |raw| {
            let Some(v) = raw.version else { return };
            if raw.shndx == u32::from(elf::SHN_UNDEF)
                || !std::str::from_utf8(raw.name).is_ok_and(keep)
            {
                return;
            }
            exported.entry(raw.value).or_default().push((
                raw.name.into(),
                intern(versions, v.name),
                v.default,
            ));
        })?;
        if exported.is_empty() {
            return Ok(());
        }
        let source = self.source.clone();
        let data = source.as_deref().map_or(&[][..], |d| &d[..]);
        for sym in self.symbols.iter_mut().filter(|s| s.version == 0) {
            if sym.binding == Binding::Local {
                continue;
            }
            let name = name_bytes(data, sym.name);
            let found = exported
                .get(&sym.addr.get())
                .and_then(|at| at.iter().find(|e| &*e.0 == name));
            if let Some(&(_, v, d)) = found {
                sym.version = v;
                sym.version_default = d;
            }
        }
        Ok(())
    }

    /// The source file of a local symbol (its `STT_FILE`), if known.
    pub fn file(&self, sym: &Symbol) -> Option<&str> {
        if sym.file == NO_FILE {
            return None;
        }
        if sym.owner == self.owner {
            return Some(self.str_of(self.files[sym.file as usize]));
        }
        self.files
            .get(sym.file as usize)
            .map(|r| self.checked_str_of(*r))
    }

    /// The number of distinct `STT_FILE` entries seen (the study reports it).
    #[cfg(feature = "study")]
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The text of a name reference made by this index.
    fn str_of(&self, r: NameRef) -> &str {
        let bytes = self.source.as_deref().map_or(&[][..], |d| name_bytes(d, r));
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: only references made by `add_table` of this index reach
        // here (`name` and `file` compare the owner tag), and `add_table`
        // keeps only names that passed `std::str::from_utf8`. The bytes are
        // immutable (a read-only mapping kept alive by `self.source`).
        // Skipping the re-check halves the cost of a scan by name over a
        // 250,000-symbol library.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The text of a reference made by another index: checked.
    fn checked_str_of(&self, r: NameRef) -> &str {
        let bytes = self.source.as_deref().map_or(&[][..], |d| name_bytes(d, r));
        std::str::from_utf8(bytes).unwrap_or("")
    }

    /// Every symbol named exactly `name`: one scan, comparing lengths
    /// first. Cheaper than building a name index for the few lookups a
    /// probe point needs.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Symbol> + 'a {
        self.symbols
            .iter()
            .filter(move |s| s.name.len as usize == name.len() && self.name(s) == name)
    }

    /// The first symbol named exactly each of `names`, in one scan: the
    /// handful of linker markers a kernel query needs (`_text`, the
    /// blacklist's area bounds) cost one pass over the table, not one each.
    pub fn first_named<const N: usize>(&self, names: [&str; N]) -> [Option<&Symbol>; N] {
        let mut found = [None; N];
        let mut left = N;
        // The lengths asked for, as bits: most symbols are passed over on
        // one test, without reading their names.
        let lengths = names.iter().fold(0u64, |m, n| {
            m | 1u64.checked_shl(n.len() as u32).unwrap_or(0)
        });
        let long = names.iter().any(|n| n.len() >= 64);
        for s in &self.symbols {
            if left == 0 {
                break;
            }
            let len = s.name.len as usize;
            if len < 64 && lengths & (1 << len) == 0 || len >= 64 && !long {
                continue;
            }
            for (slot, name) in found.iter_mut().zip(names) {
                if slot.is_none() && name.len() == len && self.name(s) == name {
                    *slot = Some(s);
                    left -= 1;
                }
            }
        }
        found
    }

    /// How many symbols are named exactly `name` (the kernel's uniqueness
    /// rule): a scan or a binary search (see [`SymbolIndex::with_base`]).
    pub fn count_named(&self, name: &str) -> usize {
        match self.name_index() {
            None => self.named(name).count(),
            Some(_) => self
                .with_base(split_variant(name).0)
                .filter(|s| self.str_of(s.name) == name)
                .count(),
        }
    }

    /// Every symbol named `base` or a compiler variant of it (`base.isra.0`,
    /// `base.cold`), in symbol-table order. The first lookups scan the
    /// names (a few hundred microseconds each, for one probe point's few
    /// candidates); once more are asked — a glob's hundreds of locations —
    /// an index of the names' base hashes is built and every lookup is a
    /// binary search. Cost grows with the work.
    pub fn with_base<'a>(&'a self, base: &'a str) -> Box<dyn Iterator<Item = &'a Symbol> + 'a> {
        // A variant's base is its name's start, or what follows `__GI_`
        // (`__GI_fopen`'s base is `fopen`): testing that first keeps the
        // split off nearly every name a scan passes; the split decides.
        let is_base = move |s: &&Symbol| {
            if (s.name.len as usize) < base.len() {
                return false;
            }
            let n = self.str_of(s.name);
            // (The first byte inline: a call to compare is most of a scan.)
            let at =
                |r: &[u8]| r.first() == base.as_bytes().first() && r.starts_with(base.as_bytes());
            let b = n.as_bytes();
            (at(b) || b.strip_prefix(b"__GI_").is_some_and(at)) && split_variant(n).0 == base
        };
        let Some(index) = self.name_index() else {
            return Box::new(self.symbols.iter().filter(is_base));
        };
        let h = fnv1a(base);
        let start = index.partition_point(|&(x, _)| x < h);
        Box::new(
            index[start..]
                .iter()
                .take_while(move |&&(x, _)| x == h)
                .map(|&(_, i)| &self.symbols[i as usize])
                .filter(is_base),
        )
    }

    /// The index of names by base hash, once lookups have scanned often
    /// enough to pay for building it; `None` until then.
    fn name_index(&self) -> Option<&[(u64, u32)]> {
        const SCANS_BEFORE_INDEX: u32 = 64;
        if self.by_name.get().is_none()
            && self.scans.fetch_add(1, Ordering::Relaxed) < SCANS_BEFORE_INDEX
        {
            return None;
        }
        Some(self.by_name.get_or_init(|| {
            let mut v: Vec<(u64, u32)> = self
                .symbols
                .iter()
                .enumerate()
                .map(|(i, s)| (fnv1a(split_variant(self.str_of(s.name)).0), i as u32))
                .collect();
            v.sort_unstable();
            v
        }))
    }

    /// Symbol positions sorted by address (built on first use).
    pub fn by_address(&self) -> &[u32] {
        &self.address_order().0
    }

    /// [`SymbolIndex::by_address`] and the address of each position in it.
    fn address_order(&self) -> &(Vec<u32>, Vec<LinkAddr>) {
        self.by_addr.get_or_init(|| {
            let mut v: Vec<u32> = (0..self.symbols.len() as u32).collect();
            // (Positions are distinct: an unstable sort gives one order.)
            v.sort_unstable_by_key(|&i| (self.symbols[i as usize].addr, i));
            let keys = v.iter().map(|&i| self.symbols[i as usize].addr).collect();
            (v, keys)
        })
    }

    /// How many symbols in address order are at or below `addr`. A search
    /// of every 64th address first (a few KiB, in cache), then of the 64
    /// between: a symbolizer asks this millions of times, and a plain
    /// binary search over the whole array misses the cache at each step.
    fn at_or_below(&self, addr: LinkAddr) -> usize {
        let (keys, sample) = (&self.address_order().1, self.address_sample());
        let block = sample.partition_point(|&a| a <= addr);
        // Keys before block `block - 1`'s first are all <= addr; those from
        // block `block`'s first on are all > addr.
        let lo = block.saturating_sub(1) * SAMPLE;
        let hi = (block * SAMPLE).min(keys.len());
        lo + keys[lo..hi.max(lo)].partition_point(|&a| a <= addr)
    }

    /// Every [`SAMPLE`]th address of the address order.
    fn address_sample(&self) -> &[LinkAddr] {
        self.addr_sample.get_or_init(|| {
            self.address_order()
                .1
                .iter()
                .step_by(SAMPLE)
                .copied()
                .collect()
        })
    }

    /// Whether an address query should scan the table instead of sorting
    /// it: the first few do (a probe point's few sites), later ones (a
    /// glob's thousands) pay for the sort once, and once it is sorted
    /// every query searches.
    fn scan_by_address(&self) -> bool {
        const SCANS_BEFORE_SORT: u32 = 32;
        self.by_addr.get().is_none()
            && self.addr_scans.fetch_add(1, Ordering::Relaxed) < SCANS_BEFORE_SORT
    }

    /// The symbols passing `keep`, found by a scan, nearest first in the
    /// order the sorted search gives (highest address, then latest in the
    /// table, first).
    fn scanned_nearest_first(&self, keep: impl Fn(&Symbol) -> bool) -> Vec<&Symbol> {
        let mut found: Vec<(LinkAddr, usize)> = self
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, s)| keep(s))
            .map(|(i, s)| (s.addr, i))
            .collect();
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.into_iter().map(|(_, i)| &self.symbols[i]).collect()
    }

    /// The symbols at or below `limit` in address order, nearest first.
    fn sorted_at_or_below(&self, limit: LinkAddr) -> impl Iterator<Item = &Symbol> {
        let end = self.at_or_below(limit);
        self.by_address()[..end]
            .iter()
            .rev()
            .map(|&i| &self.symbols[i as usize])
    }

    /// The symbols at or before `addr`, nearest first (the latest in the
    /// table first among those at one address). Consumers stop at the
    /// first that suits them (the nearest unique symbol), nearly always
    /// within a few KiB: the first few queries scan the table for the
    /// 64 KiB below `addr` and sort only those; going further sorts the
    /// whole table by address, once.
    pub fn at_or_before(&self, addr: LinkAddr) -> Box<dyn Iterator<Item = &Symbol> + '_> {
        const WINDOW: u64 = 64 << 10;
        if !self.scan_by_address() {
            return Box::new(self.sorted_at_or_below(addr));
        }
        let lo = addr.get().saturating_sub(WINDOW);
        let near = self.scanned_nearest_first(|s| s.addr <= addr && s.addr.get() >= lo);
        // Past the window (rarely reached): the whole table, sorted.
        let rest = std::iter::once(()).flat_map(move |()| {
            lo.checked_sub(1)
                .map(|below| self.sorted_at_or_below(LinkAddr(below)))
                .into_iter()
                .flatten()
        });
        Box::new(near.into_iter().chain(rest))
    }

    /// The function symbols whose range holds `addr`, nearest first (the
    /// latest in the table first among those at one address). The first
    /// few queries scan the table (a probe point's few sites); later ones,
    /// a glob's thousands, sort it by address once and search.
    pub fn functions_containing(&self, addr: LinkAddr) -> Box<dyn Iterator<Item = &Symbol> + '_> {
        // (Within 16 MiB below: a bogus size does not reach across the
        // whole kernel; the sorted search stops there too.)
        let holds = move |s: &&Symbol| {
            s.kind == SymbolKind::Function
                && s.addr <= addr
                && addr.get() - s.addr.get() < s.size.clamp(1, 1 << 24)
        };
        if self.scan_by_address() {
            return Box::new(self.scanned_nearest_first(|s| holds(&s)).into_iter());
        }
        Box::new(
            self.sorted_at_or_below(addr)
                .take_while(move |s| addr.get() - s.addr.get() < (1 << 24))
                .filter(holds),
        )
    }
}

/// FNV-1a: a fast hash of short names, for the sorted name index (which is
/// searched, not bucketed, so colliding names cost a compare, not a hang).
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn name_bytes(data: &[u8], r: NameRef) -> &[u8] {
    let start = r.off as usize;
    data.get(start..start + r.len as usize).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symbol asked of the wrong index never reaches unchecked decoding:
    /// its offsets point into bytes that are not text here.
    #[test]
    fn foreign_symbols_are_decoded_checked() {
        let text = b"\0alpha\0".to_vec();
        let junk = vec![0xffu8; 16];
        let make = |bytes: Vec<u8>| SymbolIndex {
            owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
            source: Some(Arc::new(Bytes::Owned(bytes))),
            symbols: Vec::new(),
            files: vec![NameRef { off: 1, len: 5 }],
            versions: Vec::new(),
            misplaced: Misplaced::default(),
            by_addr: OnceLock::new(),
            addr_sample: OnceLock::new(),
            by_name: OnceLock::new(),
            scans: AtomicU32::new(0),
            addr_scans: AtomicU32::new(0),
        };
        let mut ours = make(text);
        let theirs = make(junk);
        ours.symbols.push(Symbol {
            owner: ours.owner,
            name: NameRef { off: 1, len: 5 },
            version: 0,
            version_default: false,
            addr: LinkAddr(0x1000),
            size: 1,
            kind: SymbolKind::Function,
            ifunc: false,
            binding: Binding::Local,
            section: 1,
            file: 0,
            in_exec_section: true,
            table: SymbolTableKind::Symtab,
        });
        let s = ours.symbols[0];
        assert_eq!(ours.name(&s), "alpha");
        assert_eq!(ours.file(&s), Some("alpha"));
        assert_eq!(theirs.name(&s), "");
        assert_eq!(theirs.file(&s), Some(""));
    }
}
