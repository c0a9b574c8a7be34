//! The symbol index of one object: every symbol with its kind, binding,
//! section and — for locals — the source file named by the `STT_FILE` entry
//! that precedes it in `.symtab`.
//!
//! Built in one pass over the symbol table(s). Names are not copied: each
//! entry keeps the offset and length of its name in the mapped file, so an
//! index over a 100 MB library costs a few bytes per symbol, not per name.

use std::sync::{Arc, OnceLock};

use object::elf;
use serde::Serialize;

use crate::addr::LinkAddr;
use crate::error::Result;
use crate::sources::elf::{ElfObject, SymbolTableKind};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    /// `STB_LOCAL`: a `static`; its name need not be unique.
    Local,
    /// `STB_GLOBAL`.
    Global,
    /// `STB_WEAK` (and `STB_GNU_UNIQUE`).
    Weak,
}

/// A compiler-generated variant of a function, recognised by its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// Where a name's bytes are in the file: offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameRef {
    off: u32,
    len: u32,
}

/// `Symbol::file` when the symbol has no `STT_FILE`.
const NO_FILE: u32 = u32::MAX;

/// One symbol. Accessors on [`SymbolIndex`] give its name and file.
#[derive(Debug, Clone, Copy)]
pub struct Symbol {
    name: NameRef,
    /// Link-time address (`st_value`).
    pub addr: LinkAddr,
    /// `st_size` (0 when the assembler did not record it).
    pub size: u64,
    /// Function, object or label.
    pub kind: SymbolKind,
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
    /// The file the names are in.
    source: Option<Arc<Bytes>>,
    symbols: Vec<Symbol>,
    files: Vec<NameRef>,
    by_addr: OnceLock<Vec<u32>>,
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
            source: None,
            symbols: Vec::new(),
            files: Vec::new(),
            by_addr: OnceLock::new(),
        };
        match symtab_from.filter(|o| o.has_symtab()) {
            Some(st) => {
                index.source = Some(st.bytes().clone());
                index.add_table(st, SymbolTableKind::Symtab, &keep)?;
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
        let mut current_file: Option<u32> = None;
        let files = &mut self.files;
        let symbols = &mut self.symbols;
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
            match std::str::from_utf8(raw.name) {
                Ok(n) if keep(n) => {}
                _ => return,
            }
            let binding = match raw.bind {
                elf::STB_LOCAL => Binding::Local,
                elf::STB_GLOBAL => Binding::Global,
                _ => Binding::Weak,
            };
            let sec = sections.get(raw.shndx as usize);
            let in_exec_section = sec.is_some_and(|s| s.is_exec());
            // A function must lie inside the section it names (in linked
            // objects, where symbol values are addresses): anything else is
            // a corrupt table, and probing it would hit the wrong code.
            if kind == SymbolKind::Function
                && obj.kind() != crate::sources::elf::ObjectKind::Relocatable
            {
                if let Some(sec) =
                    sec.filter(|s| s.size > 0 && s.flags & u64::from(elf::SHF_ALLOC) != 0)
                {
                    let (lo, hi) = (sec.addr.get(), sec.addr.get().saturating_add(sec.size));
                    if raw.value < lo || raw.value.saturating_add(raw.size) > hi {
                        return;
                    }
                }
            }
            symbols.push(Symbol {
                name,
                addr: LinkAddr(raw.value),
                size: raw.size,
                kind,
                binding,
                section: raw.shndx,
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

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// True if the index has no symbols.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// A symbol's full name (with any clone suffix).
    pub fn name(&self, sym: &Symbol) -> &str {
        self.str_of(sym.name)
    }

    /// The source file of a local symbol (its `STT_FILE`), if known.
    pub fn file(&self, sym: &Symbol) -> Option<&str> {
        (sym.file != NO_FILE).then(|| self.str_of(self.files[sym.file as usize]))
    }

    /// The number of distinct `STT_FILE` entries seen.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    fn str_of(&self, r: NameRef) -> &str {
        let bytes = self.source.as_deref().map_or(&[][..], |d| name_bytes(d, r));
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `add_table` indexes only names that passed
        // `std::str::from_utf8`, and the bytes are immutable (a read-only
        // mapping kept alive by `self.source`). Skipping the re-check halves
        // the cost of a scan by name over a 250,000-symbol library.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Every symbol named exactly `name`: one scan, comparing lengths
    /// first. Cheaper than building a name index for the few lookups a
    /// probe point needs.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Symbol> + 'a {
        self.symbols
            .iter()
            .filter(move |s| s.name.len as usize == name.len() && self.name(s) == name)
    }

    /// Symbol positions sorted by address (built on first use).
    pub fn by_address(&self) -> &[u32] {
        self.by_addr.get_or_init(|| {
            let mut v: Vec<u32> = (0..self.symbols.len() as u32).collect();
            v.sort_by_key(|&i| (self.symbols[i as usize].addr, i));
            v
        })
    }

    /// The function symbols whose range holds `addr`.
    pub fn functions_containing(&self, addr: LinkAddr) -> impl Iterator<Item = &Symbol> {
        let order = self.by_address();
        let end = order.partition_point(|&i| self.symbols[i as usize].addr <= addr);
        order[..end]
            .iter()
            .rev()
            .map(|&i| &self.symbols[i as usize])
            .take_while(move |s| addr.get() - s.addr.get() < (1 << 24))
            .filter(move |s| {
                s.kind == SymbolKind::Function && addr.get() - s.addr.get() < s.size.max(1)
            })
    }
}

fn name_bytes(data: &[u8], r: NameRef) -> &[u8] {
    let start = r.off as usize;
    data.get(start..start + r.len as usize).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
