//! DWARF compile units: which source file each address was compiled from.
//!
//! `STT_FILE` gives only the name the compiler was handed, usually a basename
//! (two `b.c` in different directories look the same), and nothing at all for
//! global symbols. A compile unit's `DW_AT_name` (relative to `DW_AT_comp_dir`)
//! and its address ranges tell both apart.
//!
//! Speed matters: a kernel has thousands of units in hundreds of MB of DWARF.
//! Where `.debug_aranges` exists (gcc emits it), the address → unit map comes
//! from it alone, and a unit's name is read from its root DIE only when an
//! address in it is asked about. Without it, every unit's root DIE and range
//! list are read once. Nothing else (functions, lines) is touched here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use object::{Object, ObjectSection};

use crate::addr::LinkAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::sources::elf::ElfObject;
use crate::sources::Bytes;

type Slice<'a> = gimli::EndianSlice<'a, gimli::LittleEndian>;

/// One compile unit's source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// `DW_AT_name` as recorded (`sub/b.c`, `fs/proc/inode.c`, or absolute).
    pub name: String,
    /// `DW_AT_name` joined to `DW_AT_comp_dir` when relative.
    pub full: String,
}

/// Where a section's bytes are: in the mapped file, or decompressed.
#[derive(Debug)]
enum SectionData {
    Mapped(usize, usize),
    Owned(Vec<u8>),
}

/// The compile units of one object, resolved lazily.
#[derive(Debug)]
pub struct CompUnits {
    bytes: Arc<Bytes>,
    sections: HashMap<gimli::SectionId, SectionData>,
    /// `(begin, end, unit offset in .debug_info)`, sorted by `begin`.
    ranges: Vec<(u64, u64, usize)>,
    /// Names of units already read, by unit offset.
    names: Mutex<HashMap<usize, Option<Arc<UnitFile>>>>,
    count: usize,
}

const SECTIONS: [gimli::SectionId; 10] = [
    gimli::SectionId::DebugInfo,
    gimli::SectionId::DebugAbbrev,
    gimli::SectionId::DebugStr,
    gimli::SectionId::DebugLineStr,
    gimli::SectionId::DebugLine,
    gimli::SectionId::DebugRanges,
    gimli::SectionId::DebugRngLists,
    gimli::SectionId::DebugAddr,
    gimli::SectionId::DebugStrOffsets,
    gimli::SectionId::DebugAranges,
];

impl CompUnits {
    /// Read the unit → address map of `elf`. `Ok(None)` if it has no `.debug_info`.
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
        let base = elf.data().as_ptr() as usize;
        let mut sections = HashMap::new();
        for id in SECTIONS {
            if let Some(s) = file.section_by_name(id.name()) {
                let data = s
                    .uncompressed_data()
                    .map_err(|e| bad(&format!("{}: {e}", id.name())))?;
                let d = match data {
                    Cow::Borrowed(b) => SectionData::Mapped(b.as_ptr() as usize - base, b.len()),
                    Cow::Owned(v) => SectionData::Owned(v),
                };
                sections.insert(id, d);
            }
        }
        let mut cu = CompUnits {
            bytes: elf.bytes().clone(),
            sections,
            ranges: Vec::new(),
            names: Mutex::new(HashMap::new()),
            count: 0,
        };
        let dwarf = cu.dwarf();
        let mut ranges = Vec::new();
        let mut units_seen = std::collections::HashSet::new();
        // Fast path: .debug_aranges.
        let mut headers = dwarf.debug_aranges.headers();
        while let Ok(Some(h)) = headers.next() {
            let off = h.debug_info_offset().0;
            units_seen.insert(off);
            let mut entries = h.entries();
            while let Ok(Some(e)) = entries.next() {
                let r = e.range();
                if r.begin < r.end && r.begin != 0 {
                    ranges.push((r.begin, r.end, off));
                }
            }
        }
        let mut count = units_seen.len();
        if ranges.is_empty() {
            // Slow path: every unit's root DIE and ranges.
            count = 0;
            let mut units = dwarf.units();
            while let Ok(Some(header)) = units.next() {
                let Some(off) = header.offset().as_debug_info_offset().map(|o| o.0) else {
                    continue;
                };
                let Ok(unit) = gimli::Unit::new(&dwarf, header) else {
                    continue;
                };
                count += 1;
                let Ok(mut rs) = dwarf.unit_ranges(&unit) else {
                    continue;
                };
                while let Ok(Some(r)) = rs.next() {
                    if r.begin < r.end && r.begin != 0 {
                        ranges.push((r.begin, r.end, off));
                    }
                }
            }
        }
        ranges.sort_unstable();
        drop(dwarf);
        cu.ranges = ranges;
        cu.count = count;
        Ok(Some(cu))
    }

    fn section(&self, id: gimli::SectionId) -> &[u8] {
        match self.sections.get(&id) {
            Some(SectionData::Mapped(o, l)) => self.bytes.get(*o..o + l).unwrap_or(&[]),
            Some(SectionData::Owned(v)) => v,
            None => &[],
        }
    }

    fn dwarf(&self) -> gimli::Dwarf<Slice<'_>> {
        let load =
            |id: gimli::SectionId| -> std::result::Result<Slice<'_>, std::convert::Infallible> {
                Ok(gimli::EndianSlice::new(
                    self.section(id),
                    gimli::LittleEndian,
                ))
            };
        match gimli::Dwarf::load(load) {
            Ok(d) => d,
            Err(never) => match never {},
        }
    }

    fn name_of(&self, off: usize) -> Option<Arc<UnitFile>> {
        if let Some(n) = self.names.lock().ok()?.get(&off) {
            return n.clone();
        }
        let dwarf = self.dwarf();
        let found = (|| {
            let header = dwarf
                .debug_info
                .header_from_offset(gimli::DebugInfoOffset(off))
                .ok()?;
            let unit = gimli::Unit::new(&dwarf, header).ok()?;
            let name = unit.name?.to_string_lossy().into_owned();
            let full = match (&unit.comp_dir, name.starts_with('/')) {
                (Some(dir), false) => {
                    format!("{}/{}", dir.to_string_lossy().trim_end_matches('/'), name)
                }
                _ => name.clone(),
            };
            Some(Arc::new(UnitFile { name, full }))
        })();
        if let Ok(mut m) = self.names.lock() {
            m.insert(off, found.clone());
        }
        found
    }

    /// The compile unit whose ranges hold `addr`.
    pub fn unit_at(&self, addr: LinkAddr) -> Option<Arc<UnitFile>> {
        let a = addr.get();
        let i = self.ranges.partition_point(|r| r.0 <= a);
        // Ranges may nest or overlap in odd objects: look back a little.
        let off = self.ranges[..i].iter().rev().take(8).find(|r| a < r.1)?.2;
        self.name_of(off)
    }

    /// Number of compile units.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}
