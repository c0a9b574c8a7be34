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
use crate::sources::unitnames::{self, Fingerprint, UnitNames};
use crate::sources::Bytes;

pub(super) type Slice<'a> = gimli::EndianSlice<'a, gimli::LittleEndian>;

/// One compile unit's source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// `DW_AT_name` as recorded (`sub/b.c`, `fs/proc/inode.c`, or absolute).
    pub name: String,
    /// `DW_AT_name` joined to `DW_AT_comp_dir` when relative.
    pub full: String,
    /// The unit is a Go package (`main`, `net/http`), not a file: its
    /// functions' files are their declaration files.
    pub package: bool,
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
    /// Per unit read: the entry of each of its subprograms with the DIE's
    /// offset in the unit, sorted, so that finding the function at an
    /// address walks a unit once, not once per function asked for.
    subprograms: Mutex<HashMap<usize, Entries>>,
    /// The line rows of the units read last, newest first: functions of
    /// one unit come together (a glob's matches in address order), and
    /// each would decode the unit's whole line program again.
    recent_rows: Recent<Arc<Vec<LineRow>>>,
    /// The abbreviations of the units opened last, by `.debug_abbrev`
    /// offset (see [`CompUnits::unit_at_offset`]).
    recent_abbrevs: Recent<Arc<gimli::Abbreviations>>,
    /// Set when an origin chain was cut at [`MAX_ORIGIN_DEPTH`] links.
    cut_chain: std::sync::atomic::AtomicBool,
    /// `.debug_info` offsets of every unit, with code or not (read once).
    unit_starts: std::sync::OnceLock<Vec<usize>>,
    /// The sections already asked for ahead ([`CompUnits::read_ahead`]),
    /// one bit per [`gimli::SectionId`].
    read_ahead: std::sync::atomic::AtomicU64,
    /// The distinct units opened so far, until they make a walk (see
    /// [`CompUnits::opened_unit`]); `None` from then on.
    opened: Mutex<Option<Vec<usize>>>,
    /// `.debug_info` offsets of the units with code, sorted (from the
    /// address map, on first use).
    code_unit_starts: std::sync::OnceLock<Vec<usize>>,
    /// The build-id of the file the DWARF is in: the key of its name index
    /// on disk.
    build_id: Option<Vec<u8>>,
    /// Subprogram names → units (read or built on first use; `None` when
    /// it cannot be complete for this DWARF or is turned off).
    unit_names: std::sync::OnceLock<Option<UnitNames>>,
    /// The dwz supplementary file's DWARF (`.gnu_debugaltlink`,
    /// `.debug_sup`): declarations and strings this object's DWARF refers
    /// to with `DW_FORM_GNU_ref_alt` / `DW_FORM_GNU_strp_alt`.
    sup: Option<Box<CompUnits>>,
    /// `.eh_frame`'s address (its pointers may be relative to it).
    pub(super) eh_frame_addr: u64,
    /// 32 or 64: register names and pointer sizes of fetch arguments.
    pub(super) bits: u32,
}

/// The values of the last few keys asked for, newest first: a glob's
/// functions, in address order, ask about one unit many times in a row.
#[derive(Debug)]
struct Recent<V> {
    items: Mutex<Vec<(usize, V)>>,
    keep: usize,
}

impl<V: Clone> Recent<V> {
    fn new(keep: usize) -> Self {
        Recent {
            items: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// The value of `key`: kept, else made by `make` (outside the lock)
    /// and kept in place of the oldest.
    fn get_or(&self, key: usize, make: impl FnOnce() -> Option<V>) -> Option<V> {
        let lock = || self.items.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut items = lock();
            if let Some(i) = items.iter().position(|r| r.0 == key) {
                let hit = items.remove(i);
                let v = hit.1.clone();
                items.insert(0, hit);
                return Some(v);
            }
        }
        let v = make()?;
        let mut items = lock();
        items.insert(0, (key, v.clone()));
        items.truncate(self.keep);
        Some(v)
    }
}

/// A unit's subprograms: `(entry, DIE offset in the unit)`, sorted.
type Entries = Arc<Vec<(u64, usize)>>;

/// An inlined site's origin in the supplementary file is keyed by its
/// offset there with this bit set: the two files' offsets overlap.
const SUP_KEY: usize = 1 << (usize::BITS - 2);

/// Name, declaration file and line of a DIE.
type Described = (Option<String>, Option<(String, String)>, Option<u64>);

const SECTIONS: [gimli::SectionId; 14] = [
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
    // Variable locations and the frame information their frame base needs.
    gimli::SectionId::DebugLoc,
    gimli::SectionId::DebugLocLists,
    gimli::SectionId::DebugFrame,
    gimli::SectionId::EhFrame,
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
        let file = object::read::File::parse(elf.data()).map_err(|e| bad(&e))?;
        let base = elf.data().as_ptr() as usize;
        let relocatable = elf.kind() == crate::sources::elf::ObjectKind::Relocatable;
        let mut sections = HashMap::new();
        let mut eh_frame_addr = 0;
        for id in SECTIONS {
            if let Some(s) = file.section_by_name(id.name()) {
                if id == gimli::SectionId::EhFrame {
                    if s.kind() == object::SectionKind::UninitializedData {
                        // A separate debug file keeps the header only.
                        continue;
                    }
                    eh_frame_addr = s.address();
                }
                // A compressed section's header states the size to allocate:
                // believe it only within what compression can achieve, so a
                // hostile header cannot make us allocate terabytes.
                let c = s
                    .compressed_data()
                    .map_err(|e| bad(&format!("{}: {e}", id.name())))?;
                if c.format != object::CompressionFormat::None {
                    let limit = (c.data.len() as u64).saturating_mul(2048).min(4 << 30);
                    if c.uncompressed_size > limit {
                        return Err(bad(&format!(
                            "{}: claims {} bytes uncompressed from {} compressed, more than any compression gives",
                            id.name(),
                            c.uncompressed_size,
                            c.data.len()
                        )));
                    }
                }
                let data = s
                    .uncompressed_data()
                    .map_err(|e| bad(&format!("{}: {e}", id.name())))?;
                let d = if relocatable {
                    // A module's DWARF holds zeros where the linker would
                    // have put addresses and offsets: relocate a copy.
                    let mut v = data.into_owned();
                    crate::sources::relocate::apply(elf, &file, &s, &mut v).map_err(|e| bad(&e))?;
                    SectionData::Owned(v)
                } else {
                    match data {
                        Cow::Borrowed(b) => {
                            SectionData::Mapped(b.as_ptr() as usize - base, b.len())
                        }
                        Cow::Owned(v) => SectionData::Owned(v),
                    }
                };
                sections.insert(id, d);
            }
        }
        let mut cu = CompUnits {
            bytes: elf.bytes().clone(),
            sections,
            ranges: Vec::new(),
            names: Mutex::new(HashMap::new()),
            subprograms: Mutex::new(HashMap::new()),
            recent_rows: Recent::new(4),
            recent_abbrevs: Recent::new(8),
            cut_chain: std::sync::atomic::AtomicBool::new(false),
            unit_starts: std::sync::OnceLock::new(),
            code_unit_starts: std::sync::OnceLock::new(),
            read_ahead: std::sync::atomic::AtomicU64::new(0),
            opened: Mutex::new(Some(Vec::new())),
            build_id: elf.build_id().map(<[u8]>::to_vec),
            unit_names: std::sync::OnceLock::new(),
            sup: None,
            eh_frame_addr,
            bits: elf.bits(),
        };
        let dwarf = cu.dwarf();
        let mut ranges = Vec::new();
        // Fast path: .debug_aranges.
        let mut headers = dwarf.debug_aranges.headers();
        while let Ok(Some(h)) = headers.next() {
            let off = h.debug_info_offset().0;
            let mut entries = h.entries();
            while let Ok(Some(e)) = entries.next() {
                let r = e.range();
                if r.begin < r.end && r.begin != 0 {
                    ranges.push((r.begin, r.end, off));
                }
            }
        }
        if ranges.is_empty() {
            // Slow path: every unit's root DIE and ranges.
            let mut units = dwarf.units();
            while let Ok(Some(header)) = units.next() {
                let Some(off) = header.offset().as_debug_info_offset().map(|o| o.0) else {
                    continue;
                };
                let Ok(unit) = gimli::Unit::new(&dwarf, header) else {
                    continue;
                };
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
        Ok(Some(cu))
    }

    pub(super) fn section(&self, id: gimli::SectionId) -> &[u8] {
        match self.sections.get(&id) {
            Some(SectionData::Mapped(o, l)) => self.bytes.get(*o..o + l).unwrap_or(&[]),
            Some(SectionData::Owned(v)) => v,
            None => &[],
        }
    }

    pub(super) fn dwarf(&self) -> gimli::Dwarf<Slice<'_>> {
        let load =
            |id: gimli::SectionId| -> std::result::Result<Slice<'_>, std::convert::Infallible> {
                Ok(gimli::EndianSlice::new(
                    self.section(id),
                    gimli::LittleEndian,
                ))
            };
        let mut d = match gimli::Dwarf::load(load) {
            Ok(d) => d,
            Err(never) => match never {},
        };
        if let Some(sup) = &self.sup {
            d.set_sup(sup.dwarf());
        }
        d
    }

    /// Attach the dwz supplementary file's DWARF (found and checked by the
    /// caller): names, declaration files and inlined functions declared
    /// there are then found like the object's own.
    pub fn set_sup(&mut self, sup: CompUnits) {
        self.sup = Some(Box::new(sup));
    }

    /// Describe the DIE an origin attribute value refers to outside the
    /// current unit: another unit of this file (`DW_FORM_ref_addr`) or the
    /// supplementary file (`DW_FORM_GNU_ref_alt`).
    fn describe_ref(
        &self,
        dwarf: &gimli::Dwarf<Slice<'_>>,
        v: gimli::AttributeValue<Slice<'_>>,
    ) -> Option<Described> {
        match v {
            gimli::AttributeValue::DebugInfoRef(d) => Some(self.describe_elsewhere(dwarf, d.0)),
            gimli::AttributeValue::DebugInfoRefSup(d) => {
                let (sup, sd) = (self.sup.as_deref()?, dwarf.sup()?);
                Some(sup.describe_elsewhere(sd, d.0))
            }
            _ => None,
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
            self.opened_unit(off, header.length_including_self());
            let unit = gimli::Unit::new(&dwarf, header).ok()?;
            let mut name = unit.name?.to_string_lossy().into_owned();
            let package = {
                let mut entries = unit.entries();
                let lang = entries
                    .next_dfs()
                    .ok()
                    .flatten()
                    .and_then(|(_, die)| die.attr_value(gimli::DW_AT_language).ok().flatten());
                matches!(
                    lang,
                    Some(gimli::AttributeValue::Language(gimli::DW_LANG_Go))
                )
            };
            // rustc names a codegen unit `src/lib.rs/@/krate.HASH-cgu.0`:
            // its source is the crate root before the `/@/`.
            if let Some(i) = name.find("/@/") {
                name.truncate(i);
            }
            let full = match (&unit.comp_dir, name.starts_with('/')) {
                (Some(dir), false) => {
                    format!("{}/{}", dir.to_string_lossy().trim_end_matches('/'), name)
                }
                _ => name.clone(),
            };
            Some(Arc::new(UnitFile {
                name,
                full: normalize(&full),
                package,
            }))
        })();
        if let Ok(mut m) = self.names.lock() {
            m.insert(off, found.clone());
        }
        found
    }

    /// The unit at a `.debug_info` offset.
    pub fn unit_file(&self, off: usize) -> Option<Arc<UnitFile>> {
        self.name_of(off)
    }

    /// The compile unit whose ranges hold `addr`.
    pub fn unit_at(&self, addr: LinkAddr) -> Option<Arc<UnitFile>> {
        let a = addr.get();
        let i = self.ranges.partition_point(|r| r.0 <= a);
        // Ranges may nest or overlap in odd objects: look back a little.
        let off = self.ranges[..i].iter().rev().take(8).find(|r| a < r.1)?.2;
        self.name_of(off)
    }

    /// True if a `DW_AT_abstract_origin`/`DW_AT_specification` chain longer
    /// than 8 links (a cycle, in practice) was cut while reading.
    pub fn cut_chain(&self) -> bool {
        self.cut_chain.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A function as DWARF describes it (`DW_TAG_subprogram`, following
/// `DW_AT_abstract_origin` / `DW_AT_specification` for name and declaration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subprogram {
    /// `DW_AT_name`.
    pub name: String,
    /// Declaration file, full path.
    pub decl_file: Option<String>,
    /// Declaration file relative to the compile directory (when under it).
    pub decl_file_rel: Option<String>,
    /// `DW_AT_decl_line`.
    pub decl_line: Option<u64>,
    /// Address ranges of this copy.
    pub ranges: Vec<(u64, u64)>,
}

/// One line-table row: an address where a source line starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRow {
    /// Address.
    pub addr: u64,
    /// Line number.
    pub line: u64,
    /// Full path of the file (shared by the unit's rows of that file).
    pub file: Arc<str>,
    /// The path relative to the unit's `DW_AT_comp_dir`, when under it.
    pub rel: Arc<str>,
    /// `is_stmt`: a recommended breakpoint location.
    pub is_stmt: bool,
}

pub(super) type Unit<'a> = gimli::Unit<Slice<'a>>;

/// The unit a caller opened last, by its `.debug_info` offset (see
/// [`CompUnits::subprogram_in`]).
pub type LastUnit<'a> = Option<(usize, Unit<'a>)>;

/// Which source files a query is about: a cheap test on the file's last
/// path component (no allocation; most files fail it), then the full test
/// on `(full path, path relative to the compile directory)`.
pub struct FileFilter<'f> {
    /// Test of the basename.
    pub base: &'f (dyn Fn(&str) -> bool + Sync),
    /// Test of the full and relative paths.
    pub path: &'f (dyn Fn((&str, &str)) -> bool + Sync),
}

impl std::fmt::Debug for FileFilter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileFilter")
    }
}

/// Longest chain of `abstract_origin`/`specification` links followed: a cycle
/// in malformed DWARF ends here instead of looping.
const MAX_ORIGIN_DEPTH: usize = 8;

impl CompUnits {
    pub(super) fn unit_at_offset<'a>(
        &'a self,
        dwarf: &gimli::Dwarf<Slice<'a>>,
        off: usize,
    ) -> Option<Unit<'a>> {
        let header = dwarf
            .debug_info
            .header_from_offset(gimli::DebugInfoOffset(off))
            .ok()?;
        if is_split(&header) {
            return None;
        }
        self.opened_unit(off, header.length_including_self());
        // Each kernel unit has its own abbreviations, and parsing them is
        // most of opening a unit: the last few are kept, so that the many
        // functions of one unit (a glob's, in address order) open it once.
        let abbrevs = self
            .recent_abbrevs
            .get_or(header.debug_abbrev_offset().0, || {
                dwarf.abbreviations(&header).ok()
            })?;
        gimli::Unit::new_with_abbreviations(dwarf, header, abbrevs).ok()
    }

    /// A walk over many units is coming: ask the kernel to read `ids`
    /// ahead, in the background. A large file is mapped without the
    /// kernel's read-around (see [`ElfObject::from_bytes`]), which suits
    /// one probe point; a walk would otherwise wait for its pages one by
    /// one. Each section is asked for once.
    fn read_ahead(&self, ids: &[gimli::SectionId]) {
        for &id in ids {
            let bit = 1u64 << (id as u32 % 64);
            if self
                .read_ahead
                .fetch_or(bit, std::sync::atomic::Ordering::Relaxed)
                & bit
                == 0
            {
                // Read around again, too: without it every 4 KiB page is a
                // fault of its own even when cached (no fault-around).
                if let Some(SectionData::Mapped(o, l)) = self.sections.get(&id) {
                    self.bytes
                        .advise(Some((*o as u64, *l as u64)), memmap2::Advice::Normal);
                }
                self.read_ahead_in(id, 0, usize::MAX);
            }
        }
    }

    /// A unit is being read: ask for its DIEs ahead. Once a query has
    /// opened 48 distinct units it is a walk (a glob, a whole-kernel listing,
    /// many addresses), and the DWARF sections are asked for whole: a walk
    /// reads most of them anyway, and without read-around it would wait
    /// for them page by page.
    pub(super) fn opened_unit(&self, off: usize, len: usize) {
        /// Units opened before a query counts as a walk; one probe point
        /// opens one to three.
        const WIDE: usize = 48;
        let Ok(mut opened) = self.opened.lock() else {
            return;
        };
        // Once walking, a unit needs nothing more (and a function's unit is
        // opened again for each of its functions: no system call then).
        let Some(seen) = opened.as_mut() else {
            return;
        };
        if seen.contains(&off) {
            return;
        }
        seen.push(off);
        if seen.len() < WIDE {
            self.read_ahead_in(gimli::SectionId::DebugInfo, off, len);
        } else {
            *opened = None;
            drop(opened);
            self.read_ahead(Self::WALK);
        }
    }

    /// The sections a walk over every unit's DIEs and line tables reads.
    const WALK: &'static [gimli::SectionId] = &[
        gimli::SectionId::DebugInfo,
        gimli::SectionId::DebugAbbrev,
        gimli::SectionId::DebugStr,
        gimli::SectionId::DebugLine,
        gimli::SectionId::DebugLineStr,
        gimli::SectionId::DebugRngLists,
        gimli::SectionId::DebugRanges,
    ];

    /// Ask for `len` bytes at `at` in section `id` ahead (clipped to it).
    fn read_ahead_in(&self, id: gimli::SectionId, at: usize, len: usize) {
        if let Some(SectionData::Mapped(o, l)) = self.sections.get(&id) {
            let len = len.min(l.saturating_sub(at));
            if len > 0 {
                self.bytes.advise(
                    Some(((o + at) as u64, len as u64)),
                    memmap2::Advice::WillNeed,
                );
            }
        }
    }

    /// The `.debug_info` offset of the unit holding `addr`.
    pub fn unit_offset_at(&self, addr: u64) -> Option<usize> {
        let i = self.ranges.partition_point(|r| r.0 <= addr);
        Some(
            self.ranges[..i]
                .iter()
                .rev()
                .take(8)
                .find(|r| addr < r.1)?
                .2,
        )
    }

    /// True if some unit is a split-DWARF skeleton (`-gsplit-dwarf`), whose
    /// functions and lines live in a `.dwo` file probeaddr does not read.
    /// Reads every unit's header: a page per unit, all of `.debug_info`
    /// from a cold cache. Where one address is concerned, ask
    /// [`CompUnits::is_split_at`].
    pub fn has_split_units(&self) -> bool {
        let dwarf = self.dwarf();
        let mut units = dwarf.units();
        while let Ok(Some(h)) = units.next() {
            if is_split(&h) {
                return true;
            }
        }
        false
    }

    /// True if the unit holding `addr` is a split-DWARF skeleton (its
    /// header alone is read).
    pub fn is_split_at(&self, addr: LinkAddr) -> bool {
        let Some(off) = self.unit_offset_at(addr.get()) else {
            return false;
        };
        self.dwarf()
            .debug_info
            .header_from_offset(gimli::DebugInfoOffset(off))
            .is_ok_and(|h| is_split(&h))
    }

    /// The subprogram whose entry is `entry`: its `DW_AT_entry_pc`, else its
    /// `DW_AT_low_pc`, else the first range `DW_AT_ranges` lists. Not the
    /// lowest address: a function split hot/cold (`foo` and `foo.cold`) has
    /// its cold range first in memory, but is entered at its hot one.
    pub fn subprogram_at(&self, entry: LinkAddr) -> Option<Subprogram> {
        self.subprogram_in(entry, &mut None)
    }

    /// [`CompUnits::subprogram_at`], reusing the unit `last` opened if it
    /// holds `entry` (and keeping the one opened there): functions asked
    /// in address order open each unit once, not once each. Opening a
    /// kernel unit parses its line program's header, hundreds of files.
    pub fn subprogram_in<'a>(
        &'a self,
        entry: LinkAddr,
        last: &mut LastUnit<'a>,
    ) -> Option<Subprogram> {
        let dwarf = self.dwarf();
        let off = self.unit_offset_at(entry.get())?;
        if last.as_ref().map(|l| l.0) != Some(off) {
            *last = Some((off, self.unit_at_offset(&dwarf, off)?));
        }
        let unit = &last.as_ref()?.1;
        let cached = self.subprograms.lock().unwrap().get(&off).cloned();
        let entries = match cached {
            Some(e) => e,
            None => {
                let mut e = Vec::new();
                if let Ok(mut tree) = unit.entries_tree(None) {
                    if let Ok(root) = tree.root() {
                        subprogram_entries(&dwarf, unit, root, &mut e);
                    }
                }
                // By entry, then in DIE order: the first DIE of an entry
                // is the one a walk would find.
                e.sort_unstable();
                let e = Arc::new(e);
                self.subprograms.lock().unwrap().insert(off, e.clone());
                e
            }
        };
        let at = entries.partition_point(|&(a, _)| a < entry.get());
        let &(first, die_off) = entries.get(at)?;
        if first != entry.get() {
            return None;
        }
        let die = unit.entry(gimli::UnitOffset(die_off)).ok()?;
        let (_, ranges) = entry_and_ranges(&dwarf, unit, &die)?;
        let (name, decl, decl_line) = self.describe(&dwarf, unit, die.offset());
        let (decl_file, decl_file_rel) = decl.map_or((None, None), |(a, b)| (Some(a), Some(b)));
        Some(Subprogram {
            name: name.unwrap_or_default(),
            decl_file,
            decl_file_rel,
            decl_line,
            ranges,
        })
    }

    /// Who compiled the unit holding `addr`, as gdb tells them apart for
    /// prologues: `(gcc, clang, has_location_lists)`. GCC ≥ 4.5 code whose
    /// variables use location lists (optimised code) has locations valid at
    /// the entry, so gdb does not skip its prologue at all.
    pub fn producer_at(&self, addr: LinkAddr) -> Option<(bool, bool, bool)> {
        let dwarf = self.dwarf();
        let off = self.unit_offset_at(addr.get())?;
        let unit = self.unit_at_offset(&dwarf, off)?;
        let mut cursor = unit.entries();
        let (_, root) = cursor.next_dfs().ok()??;
        let producer = match root.attr_value(gimli::DW_AT_producer) {
            Ok(Some(v)) => dwarf
                .attr_string(&unit, v)
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let clang = producer.contains("clang");
        let gcc = !clang && producer.starts_with("GNU ");
        let mut loclists = false;
        while let Ok(Some((_, die))) = cursor.next_dfs() {
            if matches!(
                die.attr_value(gimli::DW_AT_location),
                Ok(Some(
                    gimli::AttributeValue::LocationListsRef(_)
                        | gimli::AttributeValue::DebugLocListsIndex(_)
                        | gimli::AttributeValue::SecOffset(_)
                ))
            ) {
                loclists = true;
                break;
            }
        }
        Some((gcc, clang, loclists))
    }

    /// Name, declaration file and line of a DIE, following its origins.
    fn describe(
        &self,
        dwarf: &gimli::Dwarf<Slice<'_>>,
        unit: &Unit<'_>,
        at: gimli::UnitOffset,
    ) -> (Option<String>, Option<(String, String)>, Option<u64>) {
        let (mut name, mut file, mut line) = (None, None, None);
        let mut cur = Some(at);
        for hop in 0..=MAX_ORIGIN_DEPTH {
            if hop == MAX_ORIGIN_DEPTH {
                if cur.is_some() {
                    // A cycle, or absurd nesting: stop, and say so.
                    self.cut_chain
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                break;
            }
            let Some(off) = cur.take() else { break };
            let Ok(die) = unit.entry(off) else { break };
            if name.is_none() {
                if let Ok(Some(v)) = die.attr_value(gimli::DW_AT_name) {
                    name = dwarf
                        .attr_string(unit, v)
                        .ok()
                        .map(|s| s.to_string_lossy().into_owned());
                }
            }
            if line.is_none() {
                if let Ok(Some(gimli::AttributeValue::Udata(l))) =
                    die.attr_value(gimli::DW_AT_decl_line)
                {
                    line = Some(l);
                }
            }
            if file.is_none() {
                if let Ok(Some(gimli::AttributeValue::FileIndex(i))) =
                    die.attr_value(gimli::DW_AT_decl_file)
                {
                    file = self.file_path(dwarf, unit, i);
                }
            }
            for a in [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification] {
                match die.attr_value(a) {
                    Ok(Some(gimli::AttributeValue::UnitRef(o))) => {
                        cur = Some(o);
                        break;
                    }
                    // The rest of the chain is in another unit or file:
                    // what it says fills what this unit did not.
                    Ok(Some(v)) if name.is_none() || file.is_none() || line.is_none() => {
                        if let Some((n, f, l)) = self.describe_ref(dwarf, v) {
                            name = name.or(n);
                            file = file.or(f);
                            line = line.or(l);
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        (name, file, line)
    }

    /// `(full path, path relative to comp_dir)` of a line-table file index.
    fn file_path(
        &self,
        dwarf: &gimli::Dwarf<Slice<'_>>,
        unit: &Unit<'_>,
        index: u64,
    ) -> Option<(String, String)> {
        let header = unit.line_program.as_ref()?.header();
        let fe = header.file(index)?;
        let comp = unit
            .comp_dir
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = dwarf
            .attr_string(unit, fe.path_name())
            .ok()?
            .to_string_lossy()
            .into_owned();
        // DWARF 5's directory 0 is the compilation directory itself (glibc
        // writes both as `./malloc`): joined to comp_dir again it would give
        // `malloc/malloc/malloc.c`.
        let dir = if header.version() >= 5 && fe.directory_index() == 0 {
            String::new()
        } else {
            fe.directory(header)
                .and_then(|d| dwarf.attr_string(unit, d).ok())
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let full = if name.starts_with('/') {
            name
        } else if dir.starts_with('/') {
            format!("{}/{name}", dir.trim_end_matches('/'))
        } else if dir.is_empty() {
            format!("{}/{name}", comp.trim_end_matches('/'))
        } else {
            format!(
                "{}/{}/{name}",
                comp.trim_end_matches('/'),
                dir.trim_end_matches('/')
            )
        };
        let full = normalize(&full);
        let rel = match full.strip_prefix(&format!("{}/", comp.trim_end_matches('/'))) {
            Some(r) if !comp.is_empty() => r.to_string(),
            _ => full.clone(),
        };
        Some((full, rel))
    }

    /// True if the unit's line table names a file passing `filter`.
    fn unit_has_file(
        &self,
        dwarf: &gimli::Dwarf<Slice<'_>>,
        unit: &Unit<'_>,
        filter: &FileFilter<'_>,
    ) -> bool {
        let Some(program) = unit.line_program.as_ref() else {
            return false;
        };
        let header = program.header();
        let n = header.file_names().len() as u64;
        let first = if header.version() >= 5 { 0 } else { 1 };
        (first..first + n).any(|i| {
            let Some(fe) = header.file(i) else {
                return false;
            };
            let Ok(name) = dwarf.attr_string(unit, fe.path_name()) else {
                return false;
            };
            let bytes = name.slice();
            let base = bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes);
            let Ok(base) = std::str::from_utf8(base) else {
                return false;
            };
            (filter.base)(base)
                && self
                    .file_path(dwarf, unit, i)
                    .is_some_and(|(a, b)| (filter.path)((&a, &b)))
        })
    }

    /// Every line-table row of the unit holding `addr`.
    pub fn rows_of_unit_at(&self, addr: LinkAddr) -> Arc<Vec<LineRow>> {
        match self.unit_offset_at(addr.get()) {
            Some(off) => self.rows_of_unit(off),
            None => Arc::new(Vec::new()),
        }
    }

    /// The rows of the unit holding `addr` that lie in `ranges` (a
    /// function's), in address order: a binary search per range, so that
    /// a unit's many functions do not each pass over all its rows.
    pub fn rows_in(&self, addr: LinkAddr, ranges: &[(u64, u64)]) -> Vec<LineRow> {
        let rows = self.rows_of_unit_at(addr);
        let mut out = Vec::new();
        for &(b, e) in ranges {
            let from = rows.partition_point(|r| r.addr < b);
            let to = rows.partition_point(|r| r.addr < e);
            out.extend_from_slice(&rows[from..to.max(from)]);
        }
        out
    }

    /// Rows of one unit, by address (decoded once while it is among the
    /// last few asked).
    pub fn rows_of_unit(&self, off: usize) -> Arc<Vec<LineRow>> {
        self.recent_rows
            .get_or(off, || {
                let mut rows = self.decode_rows(off);
                // By address (stable: rows of one address keep program
                // order), so that a function's rows are found by binary
                // search.
                rows.sort_by_key(|r| r.addr);
                // (Kept as decoded: a copy into an `Arc<[_]>` of every
                // unit's rows was a third of a whole-kernel listing's page
                // faults.)
                Some(Arc::new(rows))
            })
            .unwrap_or_else(|| Arc::new(Vec::new()))
    }

    /// Every row of one unit's line program, in program order.
    fn decode_rows(&self, off: usize) -> Vec<LineRow> {
        let dwarf = self.dwarf();
        let Some(unit) = self.unit_at_offset(&dwarf, off) else {
            return Vec::new();
        };
        let Some(program) = unit.line_program.clone() else {
            return Vec::new();
        };
        // Each file's paths are made once and shared by its rows (by file
        // index: a unit's files are numbered from 0 or 1 up).
        type Paths = Option<(Arc<str>, Arc<str>)>;
        let mut files: Vec<Option<Paths>> = Vec::new();
        // About one row per four bytes of program (the kernel's): sized
        // once rather than grown.
        let guess = (program.header().unit_length() / 4).min(1 << 20);
        let mut rows = program.rows();
        let mut out = Vec::with_capacity(guess);
        while let Ok(Some((_, row))) = rows.next_row() {
            if row.end_sequence() {
                continue;
            }
            let Some(line) = row.line() else { continue };
            let fi = row.file_index();
            let Ok(slot) = usize::try_from(fi) else {
                continue;
            };
            if slot >= files.len() {
                if slot > 1 << 20 {
                    continue; // a corrupt index: no table is that long
                }
                files.resize(slot + 1, None);
            }
            let f = files[slot].get_or_insert_with(|| {
                self.file_path(&dwarf, &unit, fi)
                    .map(|(a, b)| (Arc::from(a), Arc::from(b)))
            });
            if let Some((full, rel)) = f {
                out.push(LineRow {
                    addr: row.address(),
                    line: line.get(),
                    file: full.clone(),
                    rel: rel.clone(),
                    is_stmt: row.is_stmt(),
                });
            }
        }
        out
    }

    /// All rows of every unit whose line table names a file passing `keep`,
    /// one vector per unit. Units are filtered by their file tables first, so
    /// a file pattern reads the line programs of the few units that include it.
    pub fn rows_for_file(&self, filter: &FileFilter<'_>) -> Vec<Arc<Vec<LineRow>>> {
        let dwarf = self.dwarf();
        let mut out = Vec::new();
        for off in self.unit_offsets() {
            let Some(unit) = self.unit_at_offset(&dwarf, off) else {
                continue;
            };
            if self.unit_has_file(&dwarf, &unit, filter) {
                out.push(self.rows_of_unit(off));
            }
        }
        out
    }
}

/// Every subprogram with code under `node`, as `(entry, DIE offset)`. The
/// subtrees of types, variables, parameters, call sites and inlined copies
/// are passed over whole (by `DW_AT_sibling`, without reading them): a
/// kernel unit's struct members and inlined trees are most of its DIEs, and
/// producers put no function definition in them (GCC and clang place a C++
/// method's concrete DIE at namespace scope, with `DW_AT_specification`).
/// Subprograms, lexical blocks and namespaces are gone into: a nested
/// function is a subprogram's child.
fn subprogram_entries(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &Unit<'_>,
    node: gimli::EntriesTreeNode<'_, '_, '_, Slice<'_>>,
    out: &mut Vec<(u64, usize)>,
) {
    let mut children = node.children();
    while let Ok(Some(child)) = children.next() {
        let die = child.entry();
        let descend = match die.tag() {
            gimli::DW_TAG_subprogram => {
                if let Some((first, _)) = entry_and_ranges(dwarf, unit, die) {
                    out.push((first, die.offset().0));
                }
                true
            }
            gimli::DW_TAG_namespace
            | gimli::DW_TAG_module
            | gimli::DW_TAG_lexical_block
            | gimli::DW_TAG_compile_unit
            | gimli::DW_TAG_partial_unit => true,
            _ => false,
        };
        if descend && die.has_children() {
            subprogram_entries(dwarf, unit, child, out);
        }
    }
}

/// Remove `.` components and fold `dir/..`.
pub(crate) fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let j = parts.join("/");
    if p.starts_with('/') {
        format!("/{j}")
    } else {
        j
    }
}

/// A DIE's name and declaration file `(full, relative)`.
type NameAndDecl = (Option<String>, Option<(String, String)>);

/// An inlined copy of a function (`DW_TAG_inlined_subroutine`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinedSite {
    /// The inlined function's name.
    pub name: String,
    /// Where the inlined code starts: `DW_AT_entry_pc`, else `DW_AT_low_pc`,
    /// else the first listed range (gdb's and perf's choice; the lowest
    /// address may be in the caller's cold part).
    pub addr: u64,
    /// The function it was inlined into (the innermost enclosing
    /// subprogram or inlined subroutine).
    pub caller: Option<String>,
    /// The inlined function's declaration file `(full, relative)`.
    pub decl_file: Option<(String, String)>,
    /// The unit's name.
    pub unit: String,
    /// A concrete out-of-line instance (`DW_TAG_subprogram` with code),
    /// not an inlined one: found in the same walk, for functions the
    /// symbol table names otherwise (an `asm` label).
    pub out_of_line: bool,
}

impl CompUnits {
    /// Offsets of every unit with code (from the address map).
    fn unit_offsets(&self) -> Vec<usize> {
        self.code_unit_starts().to_vec()
    }

    /// Offsets of every unit with code, sorted (from the address map; no
    /// unit header is read).
    pub(super) fn code_unit_starts(&self) -> &[usize] {
        self.code_unit_starts.get_or_init(|| {
            let mut offs: Vec<usize> = self.ranges.iter().map(|r| r.2).collect();
            offs.sort_unstable();
            offs.dedup();
            offs
        })
    }

    /// The units (offsets, among those with code) that may hold a DIE named
    /// `name`: every unit whose bytes refer to that string, found without
    /// parsing a DIE. A name is a `DW_FORM_strp` offset into `.debug_str`
    /// (the linker merges tails, so `name` may end a longer string: every
    /// place it occurs is an offset) or the string itself (`DW_FORM_string`).
    /// Some units found may not name it (four bytes that happen to match);
    /// none that names it is missed. `None` when that cannot be promised
    /// (`DW_FORM_strx` through `.debug_str_offsets`). With the name index
    /// ([`UnitNames`]): the units holding a subprogram of that name, exactly.
    pub fn units_naming(&self, name: &str) -> Option<Vec<usize>> {
        use memchr::memmem;
        if let Some(index) = self.unit_names() {
            return Some(index.units_named(name));
        }
        if !self.section(gimli::SectionId::DebugStrOffsets).is_empty() {
            return None;
        }
        self.read_ahead(&[gimli::SectionId::DebugInfo, gimli::SectionId::DebugStr]);
        let info = self.section(gimli::SectionId::DebugInfo);
        let strs = self.section(gimli::SectionId::DebugStr);
        let mut needle = name.as_bytes().to_vec();
        needle.push(0);
        let mut hits: Vec<usize> = memmem::find_iter(info, &needle).collect();
        for at in memmem::find_iter(strs, &needle) {
            let at = u32::try_from(at).ok()?;
            hits.extend(memmem::find_iter(info, &at.to_le_bytes()));
        }
        // The supplementary file's strings and declarations are referred to
        // by their offsets there (DW_FORM_GNU_strp_alt, DW_FORM_GNU_ref_alt),
        // four bytes again.
        let mut sup_refs = Vec::new();
        if let Some(sup) = &self.sup {
            for at in memmem::find_iter(sup.section(gimli::SectionId::DebugStr), &needle) {
                sup_refs.push(at);
            }
            if !sup_refs.is_empty() {
                sup_refs.extend(sup.dies_named(name));
            }
        }
        for r in sup_refs {
            let r = u32::try_from(r).ok()?;
            hits.extend(memmem::find_iter(info, &r.to_le_bytes()));
        }
        if hits.is_empty() {
            return Some(Vec::new());
        }
        let dwarf = self.dwarf();
        let starts = self.unit_starts(&dwarf);
        let with_code = self.unit_offsets();
        let unit_of = |h: usize| {
            starts
                .get(starts.partition_point(|&s| s <= h).checked_sub(1)?)
                .copied()
        };
        let mut named: Vec<usize> = hits.into_iter().filter_map(unit_of).collect();
        named.sort_unstable();
        named.dedup();
        // A unit without code that names it is a dwz partial unit holding the
        // declaration: the units with code refer to that DIE by its
        // .debug_info offset (DW_FORM_ref_addr), four bytes like a string's.
        let partial: Vec<usize> = named
            .iter()
            .copied()
            .filter(|u| with_code.binary_search(u).is_err())
            .collect();
        let refs = dies_named_in(&dwarf, &partial, name);
        for r in refs {
            let r = u32::try_from(r).ok()?;
            named.extend(memmem::find_iter(info, &r.to_le_bytes()).filter_map(unit_of));
        }
        let mut out: Vec<usize> = named
            .into_iter()
            .filter(|u| with_code.binary_search(u).is_ok())
            .collect();
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// The units holding a subprogram whose name passes `want` (from the
    /// name index), or `None` without an index.
    pub fn units_matching(&self, want: &dyn Fn(&str) -> bool) -> Option<Vec<usize>> {
        Some(self.unit_names()?.units_matching(want))
    }

    /// The name → units index: from the cache on disk, else built by one
    /// walk over the DIEs and stored there. `None` with a supplementary
    /// file (its names are elsewhere), for DWARF the index cannot cover
    /// completely ([`UnitNames::build`]), or with `PROBEADDR_UNIT_INDEX=off`
    /// (every query then scans `.debug_info`, as the test comparing the two
    /// does).
    fn unit_names(&self) -> Option<&UnitNames> {
        self.unit_names
            .get_or_init(|| {
                if self.sup.is_some()
                    || std::env::var_os("PROBEADDR_UNIT_INDEX").is_some_and(|v| v == "off")
                {
                    return None;
                }
                let info = self.section(gimli::SectionId::DebugInfo);
                // Its two ends, in one request each rather than page by page.
                let edge = Fingerprint::EDGE;
                self.read_ahead_in(gimli::SectionId::DebugInfo, 0, edge);
                self.read_ahead_in(
                    gimli::SectionId::DebugInfo,
                    info.len().saturating_sub(edge),
                    edge,
                );
                let fp = Fingerprint::of(info);
                let path = self.build_id.as_deref().and_then(unitnames::cache_path);
                if let Some(ix) = path.as_deref().and_then(|p| unitnames::load(p, fp)) {
                    return Some(ix);
                }
                self.read_ahead(Self::WALK);
                let ix = UnitNames::build(&self.dwarf(), &self.unit_offsets(), fp)?;
                if let Some(p) = &path {
                    unitnames::store(p, &ix);
                }
                Some(ix)
            })
            .as_ref()
    }

    /// The distinct strings of `.debug_str` (and the supplementary file's)
    /// that pass `want`, or `None` if more than `max` do, or if names may be
    /// elsewhere (`DW_FORM_strx`). Names short enough for the compiler to
    /// write inline (`DW_FORM_string`, under four bytes with GCC) are not
    /// seen: a pattern is for names longer than that.
    pub fn strings_matching(&self, want: &dyn Fn(&str) -> bool, max: usize) -> Option<Vec<String>> {
        if !self.section(gimli::SectionId::DebugStrOffsets).is_empty() {
            return None;
        }
        let mut out = std::collections::BTreeSet::new();
        let sup = self
            .sup
            .as_deref()
            .map(|s| s.section(gimli::SectionId::DebugStr));
        for strs in std::iter::once(self.section(gimli::SectionId::DebugStr)).chain(sup) {
            for s in strs.split(|&b| b == 0) {
                if let Ok(s) = std::str::from_utf8(s) {
                    if !s.is_empty() && want(s) && out.insert(s.to_string()) && out.len() > max {
                        return None;
                    }
                }
            }
        }
        Some(out.into_iter().collect())
    }

    /// The `.debug_info` offsets of every DIE named `name` (a supplementary
    /// file's declarations: it has no code, so every unit is read).
    fn dies_named(&self, name: &str) -> Vec<usize> {
        let dwarf = self.dwarf();
        dies_named_in(&dwarf, self.unit_starts(&dwarf), name)
    }

    /// Name and declaration file of the DIE at `.debug_info` offset `at`,
    /// in whatever unit holds it (a dwz partial unit).
    fn describe_elsewhere(&self, dwarf: &gimli::Dwarf<Slice<'_>>, at: usize) -> Described {
        let starts = self.unit_starts(dwarf);
        let Some(&start) = starts
            .partition_point(|&s| s <= at)
            .checked_sub(1)
            .and_then(|i| starts.get(i))
        else {
            return (None, None, None);
        };
        let Ok(h) = dwarf
            .debug_info
            .header_from_offset(gimli::DebugInfoOffset(start))
        else {
            return (None, None, None);
        };
        if at >= start + h.length_including_self() {
            return (None, None, None);
        }
        let Ok(unit) = gimli::Unit::new(dwarf, h) else {
            return (None, None, None);
        };
        self.describe(dwarf, &unit, gimli::UnitOffset(at - start))
    }

    /// The `.debug_info` offset of every unit, from their headers alone,
    /// sorted (read on first use: every literal-name search needs them).
    pub(super) fn unit_starts(&self, dwarf: &gimli::Dwarf<Slice<'_>>) -> &[usize] {
        self.unit_starts.get_or_init(|| {
            // A page of every unit: most pages of the section.
            self.read_ahead(&[gimli::SectionId::DebugInfo]);
            let mut starts = Vec::new();
            let mut units = dwarf.units();
            while let Ok(Some(h)) = units.next() {
                if let Some(o) = h.offset().as_debug_info_offset() {
                    starts.push(o.0);
                }
            }
            starts
        })
    }

    /// Every inlined copy of a function whose name passes `want`, and every
    /// out-of-line one ([`InlinedSite::out_of_line`]), in units whose line
    /// table names a file passing `unit_file` (all units if `None`).
    /// Reads whole units: slow on a kernel when no file narrows the search.
    pub fn inlined_sites(
        &self,
        want: &(dyn Fn(&str) -> bool + Sync),
        unit_file: Option<&FileFilter<'_>>,
        only_units: Option<&[usize]>,
    ) -> Vec<InlinedSite> {
        let offs = match only_units {
            Some(u) => u.to_vec(),
            None => self.unit_offsets(),
        };
        // Many units (a glob, a helper inlined everywhere) are split
        // between threads. The sites are sorted below, so the split does
        // not show.
        let mut out: Vec<InlinedSite> = super::in_chunks(&offs, 64, |part| {
            self.inlined_sites_in(want, unit_file, part)
        })
        .into_iter()
        .flatten()
        .collect();
        out.sort_by_key(|s| (s.addr, s.out_of_line));
        out.dedup_by(|a, b| a.addr == b.addr && a.out_of_line == b.out_of_line);
        out
    }

    /// [`CompUnits::inlined_sites`] of the units at `offs`, unsorted.
    fn inlined_sites_in(
        &self,
        want: &(dyn Fn(&str) -> bool + Sync),
        unit_file: Option<&FileFilter<'_>>,
        offs: &[usize],
    ) -> Vec<InlinedSite> {
        let dwarf = self.dwarf();
        let mut out = Vec::new();
        for &off in offs {
            let Some(unit) = self.unit_at_offset(&dwarf, off) else {
                continue;
            };
            if let Some(filter) = unit_file {
                if !self.unit_has_file(&dwarf, &unit, filter) {
                    continue;
                }
            }
            let unit_name = unit
                .name
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Names by the global .debug_info offset of the DIE that has
            // them: an origin may be in another unit (DW_FORM_ref_addr, as
            // dwz moves shared declarations into partial units).
            let mut names: HashMap<usize, NameAndDecl> = HashMap::new();
            let base = off;
            // (depth, name, origin) of enclosing subprograms and inlined
            // subroutines.
            let mut stack: Vec<(isize, Option<String>, usize)> = Vec::new();
            let mut depth: isize = 0;
            let mut cursor = unit.entries();
            while let Ok(Some((delta, die))) = cursor.next_dfs() {
                depth += delta;
                while stack.last().is_some_and(|(d, _, _)| *d >= depth) {
                    stack.pop();
                }
                let tag = die.tag();
                if tag != gimli::DW_TAG_subprogram && tag != gimli::DW_TAG_inlined_subroutine {
                    continue;
                }
                let key = match die.attr_value(gimli::DW_AT_abstract_origin) {
                    Ok(Some(gimli::AttributeValue::UnitRef(o))) => base + o.0,
                    Ok(Some(gimli::AttributeValue::DebugInfoRef(d))) => d.0,
                    Ok(Some(gimli::AttributeValue::DebugInfoRefSup(d))) => SUP_KEY | d.0,
                    _ => base + die.offset().0,
                };
                let (name, decl) = names
                    .entry(key)
                    .or_insert_with(|| {
                        let (n, f, _) = if key & SUP_KEY != 0 {
                            self.describe_ref(
                                &dwarf,
                                gimli::AttributeValue::DebugInfoRefSup(gimli::DebugInfoOffset(
                                    key & !SUP_KEY,
                                )),
                            )
                            .unwrap_or_default()
                        } else if let Some(o) = key
                            .checked_sub(base)
                            .filter(|o| *o < unit.header.length_including_self())
                        {
                            self.describe(&dwarf, &unit, gimli::UnitOffset(o))
                        } else {
                            self.describe_elsewhere(&dwarf, key)
                        };
                        (n, f)
                    })
                    .clone();
                // An instance inside an instance of the same function (out
                // of line or inlined) is part of that body, not a new call:
                // GCC's function splitting leaves such DIEs where the source
                // has no recursion (xfs_attr3_rmt_blocks). perf skips them;
                // gdb lists them and so would double-count every call.
                let nested = stack.iter().any(|(_, _, o)| *o == key);
                if !nested && name.as_deref().is_some_and(want) {
                    // An instance with no code of its own (low_pc ==
                    // high_pc: `ERR_PTR`, a cast) is kept at its entry, as
                    // perf keeps it; gdb drops it.
                    let entry = entry_and_ranges(&dwarf, &unit, die).map(|(e, _)| e);
                    if let Some(addr) = entry.filter(|&a| a != 0) {
                        out.push(InlinedSite {
                            name: name.clone().unwrap_or_default(),
                            addr,
                            caller: stack.iter().rev().find_map(|(_, n, _)| n.clone()),
                            decl_file: decl.clone(),
                            unit: unit_name.clone(),
                            out_of_line: tag == gimli::DW_TAG_subprogram,
                        });
                    }
                }
                stack.push((depth, name, key));
            }
        }
        out
    }
}

/// A split-DWARF skeleton or split unit (`-gsplit-dwarf`).
fn is_split(h: &gimli::UnitHeader<Slice<'_>>) -> bool {
    matches!(
        h.type_(),
        gimli::UnitType::Skeleton(_) | gimli::UnitType::SplitCompilation(_)
    )
}

/// Where a subprogram or inlined subroutine is entered, and its non-empty
/// ranges in the order DWARF lists them. The entry is `DW_AT_entry_pc`
/// (an address, or in DWARF 5 a constant offset from the first address),
/// else `DW_AT_low_pc`, else the first listed range: compilers list the
/// range holding the entry first, and a hot/cold split puts the cold range
/// lower in memory, so the lowest address is not the entry.
pub(super) fn entry_and_ranges(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &Unit<'_>,
    die: &gimli::DebuggingInformationEntry<'_, '_, Slice<'_>>,
) -> Option<(u64, Vec<(u64, u64)>)> {
    let mut rs = dwarf.die_ranges(unit, die).ok()?;
    let mut ranges = Vec::new();
    // An instance whose ranges are all empty (its code was merged into its
    // caller's: strnlen inside __fortify_strlen inside strcpy) still has an
    // entry, its DW_AT_entry_pc; llvm-dwarfdump lists it. (gimli drops
    // empty ranges, so the first range cannot stand in for it.)
    let mut first_empty = None;
    while let Ok(Some(r)) = rs.next() {
        if r.begin < r.end {
            ranges.push((r.begin, r.end));
        } else if first_empty.is_none() && r.begin != 0 {
            first_empty = Some(r.begin);
        }
    }
    let low = match die.attr_value(gimli::DW_AT_low_pc) {
        Ok(Some(v)) => dwarf.attr_address(unit, v).ok().flatten(),
        _ => None,
    };
    let begin = low.or_else(|| ranges.first().map(|r| r.0)).or(first_empty);
    let entry = match die.attr_value(gimli::DW_AT_entry_pc) {
        Ok(Some(
            v @ (gimli::AttributeValue::Addr(_) | gimli::AttributeValue::DebugAddrIndex(_)),
        )) => dwarf.attr_address(unit, v).ok().flatten(),
        Ok(Some(v)) => v.udata_value().and_then(|o| begin?.checked_add(o)),
        _ => None,
    };
    Some((entry.or(begin)?, ranges))
}

/// The `.debug_info` offsets of the DIEs named `name` in the units that
/// start at `units`.
fn dies_named_in(dwarf: &gimli::Dwarf<Slice<'_>>, units: &[usize], name: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for &u in units {
        let Ok(h) = dwarf
            .debug_info
            .header_from_offset(gimli::DebugInfoOffset(u))
        else {
            continue;
        };
        let Ok(unit) = gimli::Unit::new(dwarf, h) else {
            continue;
        };
        let mut cursor = unit.entries();
        while let Ok(Some((_, die))) = cursor.next_dfs() {
            let Ok(Some(v)) = die.attr_value(gimli::DW_AT_name) else {
                continue;
            };
            if dwarf
                .attr_string(&unit, v)
                .is_ok_and(|n| n.slice() == name.as_bytes())
            {
                out.push(u + die.offset().0);
            }
        }
    }
    out
}
