//! Which compile units name a function: an index from the DWARF name of
//! every subprogram DIE to the units (those with code) that hold one, built
//! by one walk over the DIEs and kept on disk by build-id.
//!
//! Why: every inlined site of a function is in a unit that has a DIE of its
//! name (the abstract instance, or the declaration it specifies). Without an
//! index, the only way to find those units is to scan all of `.debug_info`
//! for the name's string offset: 163 MB on a kernel, for every query, and
//! every page of it read into memory. With the index, a query reads a few
//! pages of it and then the units it names.
//!
//! The index promises completeness (no unit that names the function is
//! missing) only where every origin a DIE refers to is in its own unit. A
//! reference to another unit or file (`DW_FORM_ref_addr`, dwz's
//! `DW_FORM_GNU_ref_alt`, GCC's LTO) puts the name elsewhere: no index is
//! built then, and the caller scans instead.
//!
//! The file format (little-endian; nothing in it is trusted until its
//! checksum matches):
//!
//! ```text
//! header   MAGIC, u64 .debug_info length, u32 .debug_info fingerprint,
//!          u32 units, u32 names, u32 buckets, u32 string bytes,
//!          u32 postings, u32 crc32 of everything after the header
//! units    u64 .debug_info offset of each unit, sorted
//! buckets  u32 name index + 1 (0: empty), open addressing by FNV-1a
//! names    (u32 string offset, u32 length, u32 first posting, u32 count)
//! strings  the names' bytes, sorted by name
//! postings u32 unit index, sorted per name
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::sources::dwarf::{Slice, Unit};
use crate::sources::Bytes;

const MAGIC: &[u8; 8] = b"PAUNAM01";
const HEADER: usize = 8 + 8 + 4 * 7;
const NAME_ENTRY: usize = 16;

/// The name → units index of one DWARF file (see the module's comment).
#[derive(Debug)]
pub struct UnitNames {
    bytes: Bytes,
    units: usize,
    names: usize,
    buckets: usize,
    strings: usize,
    postings: usize,
}

/// What keys an index to the DWARF it was built from, beyond its build-id:
/// the length of `.debug_info` and a checksum of its first and last bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    info_len: u64,
    crc: u32,
}

impl Fingerprint {
    /// How much of each end of `.debug_info` the fingerprint reads.
    pub const EDGE: usize = 64 << 10;

    /// The fingerprint of a `.debug_info` section.
    pub fn of(info: &[u8]) -> Fingerprint {
        let mut h = crc32fast::Hasher::new();
        h.update(&info[..info.len().min(Self::EDGE)]);
        h.update(&info[info.len().saturating_sub(Self::EDGE)..]);
        Fingerprint {
            info_len: info.len() as u64,
            crc: h.finalize(),
        }
    }
}

/// FNV-1a: stable across builds and runs, as an on-disk table needs.
fn fnv1a(s: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in s {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    let w = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(w.try_into().ok()?) as usize)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let w = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(w.try_into().ok()?))
}

impl UnitNames {
    /// Walk every DIE of the units at `units` (sorted `.debug_info`
    /// offsets) and index their subprograms' names. `None` when a
    /// subprogram or inlined subroutine refers to an origin outside its
    /// unit, or a unit cannot be read: the index could then miss a unit.
    pub fn build(
        dwarf: &gimli::Dwarf<Slice<'_>>,
        units: &[usize],
        fingerprint: Fingerprint,
    ) -> Option<UnitNames> {
        // Units are independent: split them between threads by count (a
        // kernel's are many and of similar sizes).
        let threads = super::worker_threads().min(units.len().max(1));
        let chunk = units.len().div_ceil(threads).max(1);
        let parts: Vec<Option<NameMap<'_>>> = std::thread::scope(|s| {
            let handles: Vec<_> = units
                .chunks(chunk)
                .enumerate()
                .map(|(i, part)| s.spawn(move || names_in(dwarf, part, i * chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        });
        let mut all: NameMap<'_> = HashMap::new();
        for part in parts {
            // Later parts hold later units: appending keeps postings sorted.
            for (name, us) in part? {
                all.entry(name).or_default().extend(us);
            }
        }
        Some(Self::lay_out(units, all, fingerprint))
    }

    fn lay_out(units: &[usize], map: NameMap<'_>, fp: Fingerprint) -> UnitNames {
        let mut names: Vec<(&[u8], Vec<u32>)> = map.into_iter().collect();
        names.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let buckets = (names.len() * 2).next_power_of_two().max(2);
        let strings: usize = names.iter().map(|n| n.0.len()).sum();
        let postings: usize = names.iter().map(|n| n.1.len()).sum();
        let mut out = Vec::with_capacity(
            HEADER
                + units.len() * 8
                + buckets * 4
                + names.len() * NAME_ENTRY
                + strings
                + postings * 4,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&fp.info_len.to_le_bytes());
        for v in [
            fp.crc as usize,
            units.len(),
            names.len(),
            buckets,
            strings,
            postings,
            0,
        ] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        for &u in units {
            out.extend_from_slice(&(u as u64).to_le_bytes());
        }
        let mut table = vec![0u32; buckets];
        for (i, (n, _)) in names.iter().enumerate() {
            let mut at = fnv1a(n) as usize & (buckets - 1);
            while table[at] != 0 {
                at = (at + 1) & (buckets - 1);
            }
            table[at] = i as u32 + 1;
        }
        for b in table {
            out.extend_from_slice(&b.to_le_bytes());
        }
        let (mut s, mut p) = (0usize, 0usize);
        for (n, us) in &names {
            for v in [s, n.len(), p, us.len()] {
                out.extend_from_slice(&(v as u32).to_le_bytes());
            }
            s += n.len();
            p += us.len();
        }
        for (n, _) in &names {
            out.extend_from_slice(n);
        }
        for (_, us) in &names {
            for u in us {
                out.extend_from_slice(&u.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&out[HEADER..]);
        out[HEADER - 4..HEADER].copy_from_slice(&crc.to_le_bytes());
        UnitNames {
            bytes: Bytes::Owned(out),
            units: units.len(),
            names: names.len(),
            buckets,
            strings,
            postings,
        }
    }

    /// Read an index from `bytes`: `None` unless it is whole, its checksum
    /// matches and it was built from DWARF with this `fingerprint`.
    pub fn parse(bytes: Bytes, fingerprint: Fingerprint) -> Option<UnitNames> {
        let b: &[u8] = &bytes;
        if b.get(..8)? != MAGIC || u64_at(b, 8)? != fingerprint.info_len {
            return None;
        }
        let f = |i: usize| u32_at(b, 16 + 4 * i);
        let (crc, units, names, buckets, strings, postings, body_crc) =
            (f(0)?, f(1)?, f(2)?, f(3)?, f(4)?, f(5)?, f(6)?);
        let want = HEADER + units * 8 + buckets * 4 + names * NAME_ENTRY + strings + postings * 4;
        if crc as u32 != fingerprint.crc
            || b.len() != want
            || !buckets.is_power_of_two()
            || buckets <= names
            || crc32fast::hash(&b[HEADER..]) as usize != body_crc
        {
            return None;
        }
        Some(UnitNames {
            bytes,
            units,
            names,
            buckets,
            strings,
            postings,
        })
    }

    /// The index's bytes, as [`UnitNames::parse`] reads them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn buckets_at(&self) -> usize {
        HEADER + self.units * 8
    }

    fn names_at(&self) -> usize {
        self.buckets_at() + self.buckets * 4
    }

    fn strings_at(&self) -> usize {
        self.names_at() + self.names * NAME_ENTRY
    }

    fn postings_at(&self) -> usize {
        self.strings_at() + self.strings
    }

    /// Name `i` and its postings `(first, count)`.
    fn entry(&self, i: usize) -> Option<(&[u8], usize, usize)> {
        let b: &[u8] = &self.bytes;
        let at = self.names_at() + i * NAME_ENTRY;
        let (s, len, p, n) = (
            u32_at(b, at)?,
            u32_at(b, at + 4)?,
            u32_at(b, at + 8)?,
            u32_at(b, at + 12)?,
        );
        if s.checked_add(len)? > self.strings || p.checked_add(n)? > self.postings {
            return None;
        }
        let start = self.strings_at() + s;
        Some((b.get(start..start + len)?, p, n))
    }

    fn units_of(&self, first: usize, count: usize) -> impl Iterator<Item = usize> + '_ {
        let b: &[u8] = &self.bytes;
        let base = self.postings_at();
        (first..first + count).filter_map(move |k| {
            let u = u32_at(b, base + 4 * k)?;
            (u < self.units)
                .then(|| u64_at(b, HEADER + 8 * u))?
                .map(|o| o as usize)
        })
    }

    /// The `.debug_info` offsets of the units holding a subprogram DIE
    /// named exactly `name`, sorted.
    pub fn units_named(&self, name: &str) -> Vec<usize> {
        let b: &[u8] = &self.bytes;
        let mask = self.buckets - 1;
        let mut at = fnv1a(name.as_bytes()) as usize & mask;
        for _ in 0..self.buckets {
            let Some(i) = u32_at(b, self.buckets_at() + 4 * at) else {
                break;
            };
            if i == 0 {
                break;
            }
            if let Some((n, p, c)) = self.entry(i - 1) {
                if n == name.as_bytes() {
                    return self.units_of(p, c).collect();
                }
            }
            at = (at + 1) & mask;
        }
        Vec::new()
    }

    /// The units holding a subprogram whose name passes `want`, sorted and
    /// without repeats.
    pub fn units_matching(&self, want: &dyn Fn(&str) -> bool) -> Vec<usize> {
        let mut out = Vec::new();
        for i in 0..self.names {
            let Some((n, p, c)) = self.entry(i) else {
                continue;
            };
            if std::str::from_utf8(n).is_ok_and(want) {
                out.extend(self.units_of(p, c));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Names to the indexes (into the list of units) of the units naming them.
type NameMap<'a> = HashMap<&'a [u8], Vec<u32>>;

/// The subprogram names of `units` (whose first is unit number `first`),
/// or `None` if an origin is outside its unit or a unit cannot be read.
fn names_in<'a>(
    dwarf: &gimli::Dwarf<Slice<'a>>,
    units: &[usize],
    first: usize,
) -> Option<NameMap<'a>> {
    let mut map: NameMap<'a> = HashMap::new();
    for (k, &off) in units.iter().enumerate() {
        let idx = (first + k) as u32;
        let header = dwarf
            .debug_info
            .header_from_offset(gimli::DebugInfoOffset(off))
            .ok()?;
        let unit: Unit<'a> = gimli::Unit::new(dwarf, header).ok()?;
        let mut raw = unit.entries_raw(None).ok()?;
        while !raw.is_empty() {
            let Some(abbrev) = raw.read_abbreviation().ok()? else {
                continue;
            };
            let tag = abbrev.tag();
            if tag != gimli::DW_TAG_subprogram && tag != gimli::DW_TAG_inlined_subroutine {
                raw.skip_attributes(abbrev.attributes()).ok()?;
                continue;
            }
            for spec in abbrev.attributes() {
                let attr = raw.read_attribute(*spec).ok()?;
                match attr.name() {
                    gimli::DW_AT_name if tag == gimli::DW_TAG_subprogram => {
                        let name = dwarf.attr_string(&unit, attr.value()).ok()?.slice();
                        let us = map.entry(name).or_default();
                        if us.last() != Some(&idx) {
                            us.push(idx);
                        }
                    }
                    gimli::DW_AT_abstract_origin | gimli::DW_AT_specification
                        if !matches!(attr.value(), gimli::AttributeValue::UnitRef(_)) =>
                    {
                        return None;
                    }
                    _ => {}
                }
            }
        }
    }
    Some(map)
}

/// Where the index of the file with `build_id` is kept:
/// `$PROBEADDR_CACHE_DIR`, else `$XDG_CACHE_HOME/probeaddr`, else
/// `~/.cache/probeaddr`, under `unitnames/`. `None` when
/// `PROBEADDR_CACHE_DIR` is set but empty (no cache on disk).
pub fn cache_path(build_id: &[u8]) -> Option<PathBuf> {
    let dir = match std::env::var_os("PROBEADDR_CACHE_DIR") {
        Some(d) if d.is_empty() => return None,
        Some(d) => PathBuf::from(d),
        None => crate::sources::cache_home()?.join("probeaddr"),
    };
    let id = crate::sources::elf::hex(build_id);
    Some(dir.join("unitnames").join(format!("{id}.idx")))
}

/// The index at `path`, if it is there, whole, and built from DWARF with
/// this fingerprint.
pub fn load(path: &Path, fingerprint: Fingerprint) -> Option<UnitNames> {
    let bytes = Bytes::map(path).ok()?;
    UnitNames::parse(bytes, fingerprint)
}

/// Keep `index` at `path` (written beside it and renamed into place, so a
/// reader never sees half of it). A cache: failing to write is not an error.
pub fn store(path: &Path, index: &UnitNames) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(
        ".{}.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("idx"),
        std::process::id()
    ));
    if std::fs::write(&tmp, index.as_bytes()).is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<usize>, UnitNames, Fingerprint) {
        let units = vec![0x0, 0x40, 0x1000, 0x2345];
        let mut map: NameMap<'static> = HashMap::new();
        map.insert(b"init_once", vec![0, 2, 3]);
        map.insert(b"jhash", vec![1]);
        map.insert(b"vfs_read", vec![2]);
        // Many names sharing buckets: open addressing must find each.
        let many: Vec<String> = (0..500).map(|i| format!("f{i}")).collect();
        for (i, n) in many.iter().enumerate() {
            let n: &'static str = Box::leak(n.clone().into_boxed_str());
            map.insert(n.as_bytes(), vec![(i % 4) as u32]);
        }
        let fp = Fingerprint::of(b"some debug info");
        let ix = UnitNames::lay_out(&units, map, fp);
        (units, ix, fp)
    }

    #[test]
    fn names_give_their_units_after_a_round_trip_through_bytes() {
        let (units, ix, fp) = sample();
        let back = UnitNames::parse(Bytes::Owned(ix.as_bytes().to_vec()), fp).unwrap();
        for t in [&ix, &back] {
            assert_eq!(t.units_named("init_once"), vec![0x0, 0x1000, 0x2345]);
            assert_eq!(t.units_named("jhash"), vec![0x40]);
            assert_eq!(t.units_named("init_onc"), Vec::<usize>::new());
            for i in 0..500 {
                assert_eq!(t.units_named(&format!("f{i}")), vec![units[i % 4]]);
            }
            assert_eq!(
                t.units_matching(&|n: &str| n.ends_with('s') || n == "vfs_read"),
                vec![0x1000]
            );
            assert_eq!(t.units_matching(&|n: &str| n.starts_with("f49")).len(), 4);
        }
    }

    #[test]
    fn a_damaged_or_foreign_index_is_not_believed() {
        let (_, ix, fp) = sample();
        let good = ix.as_bytes().to_vec();
        let other = Fingerprint::of(b"other debug info");
        assert!(UnitNames::parse(Bytes::Owned(good.clone()), other).is_none());
        for at in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[at] ^= 1;
            assert!(
                UnitNames::parse(Bytes::Owned(bad), fp).is_none(),
                "byte {at} changed"
            );
        }
        for len in [0, 8, HEADER, good.len() - 1] {
            assert!(UnitNames::parse(Bytes::Owned(good[..len].to_vec()), fp).is_none());
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(UnitNames::parse(Bytes::Owned(longer), fp).is_none());
    }
}
