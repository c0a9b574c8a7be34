//! Which compile unit an address is in, from `.debug_line` alone.
//!
//! A debuginfod server sends single sections (`/buildid/ID/section/NAME`).
//! For `init_once@fs/proc/inode.c` the kernel's symbols and the unit
//! names of their addresses are enough, and `.debug_info` (163 MB of the
//! Debian 6.1 vmlinux) is the one thing not needed: a DWARF 5 line
//! program names its unit itself — file 0 is the unit's `DW_AT_name`,
//! directory 0 its `DW_AT_comp_dir` — and its sequences give the unit's
//! addresses. `.debug_line` is 16.7 MB of that kernel.
//!
//! Running every program is what costs (all of `.debug_line`), so a
//! symbol with an `STT_FILE` runs only the programs whose file 0 has that
//! basename; a symbol without one (a global) runs them all, once.
//! Programs older than DWARF 5 do not name their unit: their addresses
//! have no unit here, and `STT_FILE` speaks for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use object::{Object, ObjectSection};

use crate::addr::LinkAddr;
use crate::sources::dwarf::{normalize, Slice, UnitFile};
use crate::sources::elf::{ElfObject, ObjectKind};
use crate::sources::Bytes;

/// Where a section's bytes are: in the mapped file, or decompressed.
#[derive(Debug)]
enum Data {
    Mapped(usize, usize),
    Owned(Vec<u8>),
}

/// A program's sequences: `(begin, end)` addresses.
type Ranges = Arc<Vec<(u64, u64)>>;

/// One line program's header facts.
#[derive(Debug)]
struct Program {
    offset: usize,
    unit: Option<Arc<UnitFile>>,
}

/// The line programs of one object, as a map from addresses to units.
#[derive(Debug)]
pub struct LinePrograms {
    bytes: Arc<Bytes>,
    line: Data,
    line_str: Data,
    str: Data,
    address_size: u8,
    programs: Vec<Program>,
    /// Program indices by the basename of their unit.
    by_base: HashMap<String, Vec<usize>>,
    /// The sequences of programs already run, by program index.
    ranges: Mutex<HashMap<usize, Ranges>>,
    /// `(begin, end, program)` of every program, sorted: built when an
    /// address comes without a basename to narrow the search.
    all: OnceLock<Vec<(u64, u64, usize)>>,
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

impl LinePrograms {
    /// The line programs of `elf`. `None` when it has no `.debug_line`,
    /// none of its programs names its unit (DWARF < 5), or it is a
    /// relocatable object (whose line addresses need relocating, which
    /// the full DWARF reader does).
    pub fn load(elf: &ElfObject) -> Option<LinePrograms> {
        if elf.kind() == ObjectKind::Relocatable {
            return None;
        }
        let file = object::read::File::parse(elf.data()).ok()?;
        let base = elf.data().as_ptr() as usize;
        let section = |name: &str| -> Data {
            match file
                .section_by_name(name)
                .and_then(|s| s.uncompressed_data().ok())
            {
                Some(std::borrow::Cow::Borrowed(b)) => {
                    Data::Mapped(b.as_ptr() as usize - base, b.len())
                }
                Some(std::borrow::Cow::Owned(v)) => Data::Owned(v),
                None => Data::Owned(Vec::new()),
            }
        };
        let line = section(".debug_line");
        let mut lp = LinePrograms {
            bytes: elf.bytes().clone(),
            line,
            line_str: section(".debug_line_str"),
            str: section(".debug_str"),
            address_size: if elf.bits() == 64 { 8 } else { 4 },
            programs: Vec::new(),
            by_base: HashMap::new(),
            ranges: Mutex::new(HashMap::new()),
            all: OnceLock::new(),
        };
        if lp.data(&lp.line).is_empty() {
            return None;
        }
        lp.programs = lp.read_headers();
        if lp.programs.iter().all(|p| p.unit.is_none()) {
            return None;
        }
        for (i, p) in lp.programs.iter().enumerate() {
            if let Some(u) = &p.unit {
                lp.by_base
                    .entry(basename(&u.name).to_string())
                    .or_default()
                    .push(i);
            }
        }
        Some(lp)
    }

    fn data<'a>(&'a self, d: &'a Data) -> &'a [u8] {
        match d {
            Data::Mapped(o, l) => self.bytes.get(*o..o + l).unwrap_or(&[]),
            Data::Owned(v) => v,
        }
    }

    fn debug_line(&self) -> gimli::DebugLine<Slice<'_>> {
        gimli::DebugLine::new(self.data(&self.line), gimli::LittleEndian)
    }

    fn string(&self, v: gimli::AttributeValue<Slice<'_>>) -> Option<String> {
        let s = match v {
            gimli::AttributeValue::String(s) => s,
            gimli::AttributeValue::DebugLineStrRef(o) => {
                gimli::DebugLineStr::new(self.data(&self.line_str), gimli::LittleEndian)
                    .get_str(o)
                    .ok()?
            }
            gimli::AttributeValue::DebugStrRef(o) => {
                gimli::DebugStr::new(self.data(&self.str), gimli::LittleEndian)
                    .get_str(o)
                    .ok()?
            }
            _ => return None,
        };
        Some(s.to_string_lossy().into_owned())
    }

    /// Every program's offset and unit, walking the headers in order (a
    /// header's length says where the next begins).
    fn read_headers(&self) -> Vec<Program> {
        let mut out = Vec::new();
        let line = self.data(&self.line);
        let mut off = 0usize;
        while off + 4 <= line.len() {
            let Some((len, init)) = unit_length(&line[off..]) else {
                break;
            };
            let Ok(p) = self.debug_line().program(
                gimli::DebugLineOffset(off),
                self.address_size,
                None,
                None,
            ) else {
                break;
            };
            let h = p.header();
            let unit = (h.version() >= 5)
                .then(|| self.unit_of(h))
                .flatten()
                .map(Arc::new);
            out.push(Program { offset: off, unit });
            let Some(next) = off.checked_add(init).and_then(|o| o.checked_add(len)) else {
                break;
            };
            off = next;
        }
        out
    }

    /// A DWARF 5 program's unit: file 0, in its directory. The unit's
    /// `DW_AT_name` is the file as the compiler was given it
    /// (`arch/x86/kernel/head64.c`, or an absolute path), which gcc splits
    /// into file 0's name and its directory entry; directory 0 is
    /// `DW_AT_comp_dir`, possibly relative (`-fdebug-prefix-map`).
    fn unit_of(&self, h: &gimli::LineProgramHeader<Slice<'_>>) -> Option<UnitFile> {
        let f = h.file(0)?;
        let file = self.string(f.path_name())?;
        let comp_dir = h.directory(0).and_then(|d| self.string(d));
        let join = |dir: &str, name: &str| format!("{}/{name}", dir.trim_end_matches('/'));
        let mut name = match f.directory_index() {
            _ if file.starts_with('/') => file,
            0 => file,
            i => match h.directory(i).and_then(|d| self.string(d)) {
                Some(d) => join(&d, &file),
                None => file,
            },
        };
        if let Some(i) = name.find("/@/") {
            // rustc's codegen unit name: the crate root before `/@/`.
            name.truncate(i);
        }
        let full = match (&comp_dir, name.starts_with('/')) {
            (Some(d), false) => join(d, &name),
            _ => name.clone(),
        };
        Some(UnitFile {
            name,
            full: normalize(&full),
            package: false,
        })
    }

    /// The address ranges of program `i`'s sequences (run once).
    fn program_ranges(&self, i: usize) -> Ranges {
        if let Some(r) = self.ranges.lock().ok().and_then(|m| m.get(&i).cloned()) {
            return r;
        }
        let ranges: Vec<(u64, u64)> = self
            .debug_line()
            .program(
                gimli::DebugLineOffset(self.programs[i].offset),
                self.address_size,
                None,
                None,
            )
            .ok()
            .and_then(|p| p.sequences().ok())
            .map(|(_, seqs)| {
                seqs.iter()
                    // Address 0: code the linker discarded.
                    .filter(|s| s.start < s.end && s.start != 0)
                    .map(|s| (s.start, s.end))
                    .collect()
            })
            .unwrap_or_default();
        let ranges = Arc::new(ranges);
        if let Ok(mut m) = self.ranges.lock() {
            m.insert(i, ranges.clone());
        }
        ranges
    }

    /// The unit whose line program covers `addr`. `stt_file`, the
    /// symbol's `STT_FILE` name, narrows the programs run to those of its
    /// basename; without it, or when none of those covers `addr`, every
    /// program is run (once).
    pub fn unit_at(&self, addr: LinkAddr, stt_file: Option<&str>) -> Option<Arc<UnitFile>> {
        let a = addr.get();
        if let Some(all) = self.all.get() {
            return self.in_map(all, a);
        }
        if let Some(cands) = stt_file.and_then(|f| self.by_base.get(basename(f))) {
            for &i in cands {
                if self.program_ranges(i).iter().any(|r| r.0 <= a && a < r.1) {
                    return self.programs[i].unit.clone();
                }
            }
        }
        let all = self.all.get_or_init(|| {
            let mut v: Vec<(u64, u64, usize)> = Vec::new();
            for i in 0..self.programs.len() {
                if self.programs[i].unit.is_some() {
                    v.extend(self.program_ranges(i).iter().map(|r| (r.0, r.1, i)));
                }
            }
            v.sort_unstable();
            // Only the map is kept: the per-program ranges were for this.
            if let Ok(mut m) = self.ranges.lock() {
                m.clear();
            }
            v
        });
        self.in_map(all, a)
    }

    fn in_map(&self, all: &[(u64, u64, usize)], a: u64) -> Option<Arc<UnitFile>> {
        let n = all.partition_point(|r| r.0 <= a);
        let i = all[..n].iter().rev().take(8).find(|r| a < r.1)?.2;
        self.programs[i].unit.clone()
    }
}

/// `(unit_length, size of the length field)` of a DWARF initial length.
fn unit_length(b: &[u8]) -> Option<(usize, usize)> {
    let l = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
    match l {
        0xffff_ffff => {
            let l = u64::from_le_bytes(b.get(4..12)?.try_into().ok()?);
            Some((usize::try_from(l).ok()?, 12))
        }
        l if l >= 0xffff_fff0 => None,
        l => Some((l as usize, 4)),
    }
}
