//! DWARF compile units: which source file each address was compiled from.
//!
//! `STT_FILE` gives only the name the compiler was handed, usually a basename
//! (two `b.c` in different directories look the same), and nothing at all for
//! global symbols. A compile unit's `DW_AT_name` (relative to `DW_AT_comp_dir`)
//! and its address ranges tell both apart. Only unit headers, root DIEs and
//! range lists are read — no function or line information — so this stays
//! cheap even for a kernel with thousands of units.

use std::borrow::Cow;

use object::{Object, ObjectSection};

use crate::addr::LinkAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::sources::elf::ElfObject;

/// One compile unit's source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// `DW_AT_name` as recorded (`sub/b.c`, `fs/proc/inode.c`, or absolute).
    pub name: String,
    /// `DW_AT_name` joined to `DW_AT_comp_dir` when relative.
    pub full: String,
}

/// The address ranges of every compile unit, sorted for lookup.
#[derive(Debug, Default)]
pub struct CompUnits {
    files: Vec<UnitFile>,
    /// `(begin, end, file index)`, sorted by `begin`.
    ranges: Vec<(u64, u64, u32)>,
}

impl CompUnits {
    /// Read the compile units of `elf`. `Ok(None)` if it has no `.debug_info`.
    pub fn load(elf: &ElfObject) -> Result<Option<CompUnits>> {
        if !elf.has_debug_info() {
            return Ok(None);
        }
        let path = elf.path();
        let bad = |e: &dyn std::fmt::Display| {
            Error::new(ErrorKind::Malformed, format!("bad DWARF: {e}")).with_path(path)
        };
        let file = object::read::elf::ElfFile64::<object::Endianness>::parse(elf.data())
            .map_err(|e| bad(&e))?;
        let mut arena: Vec<Cow<'_, [u8]>> = Vec::new();
        let mut sections = std::collections::HashMap::new();
        for id in [
            gimli::SectionId::DebugInfo,
            gimli::SectionId::DebugAbbrev,
            gimli::SectionId::DebugLine,
            gimli::SectionId::DebugStr,
            gimli::SectionId::DebugLineStr,
            gimli::SectionId::DebugRanges,
            gimli::SectionId::DebugRngLists,
            gimli::SectionId::DebugAddr,
            gimli::SectionId::DebugStrOffsets,
        ] {
            if let Some(s) = file.section_by_name(id.name()) {
                let data = s
                    .uncompressed_data()
                    .map_err(|e| bad(&format!("{}: {e}", id.name())))?;
                arena.push(data);
                sections.insert(id, arena.len() - 1);
            }
        }
        let load = |id: gimli::SectionId| -> std::result::Result<
            gimli::EndianSlice<'_, gimli::LittleEndian>,
            gimli::Error,
        > {
            let data: &[u8] = sections.get(&id).map_or(&[][..], |&i| &arena[i]);
            Ok(gimli::EndianSlice::new(data, gimli::LittleEndian))
        };
        let dwarf = gimli::Dwarf::load(load).map_err(|e| bad(&e))?;
        let mut out = CompUnits::default();
        let mut units = dwarf.units();
        while let Some(header) = units.next().map_err(|e| bad(&e))? {
            let unit = match dwarf.unit(header) {
                Ok(u) => u,
                // One broken unit should not hide the others' files.
                Err(_) => continue,
            };
            let Some(name) = unit.name else { continue };
            let name = name.to_string_lossy().into_owned();
            let full = match (&unit.comp_dir, name.starts_with('/')) {
                (Some(dir), false) => {
                    format!("{}/{}", dir.to_string_lossy().trim_end_matches('/'), name)
                }
                _ => name.clone(),
            };
            let idx = out.files.len() as u32;
            out.files.push(UnitFile { name, full });
            let Ok(mut ranges) = dwarf.unit_ranges(&unit) else {
                continue;
            };
            while let Ok(Some(r)) = ranges.next() {
                if r.begin < r.end && r.begin != 0 {
                    out.ranges.push((r.begin, r.end, idx));
                }
            }
        }
        out.ranges.sort_unstable();
        Ok(Some(out))
    }

    /// The compile unit whose ranges hold `addr`.
    pub fn unit_at(&self, addr: LinkAddr) -> Option<&UnitFile> {
        let a = addr.get();
        let i = self.ranges.partition_point(|r| r.0 <= a);
        // Ranges may nest or overlap in odd objects: look back a little.
        self.ranges[..i]
            .iter()
            .rev()
            .take(8)
            .find(|r| a < r.1)
            .map(|r| &self.files[r.2 as usize])
    }

    /// Number of compile units with a name.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
