//! Kernel addresses back to `symbol+offset [file] at file:line (module)`.
//!
//! One address at a time ([`Symbolizer::symbolize`]) or many
//! ([`Symbolizer::symbolize_many`]): many are answered in address order,
//! split over threads, so that each compile unit's line table is decoded
//! once per call however the addresses are spread, and every function's
//! file is found once per symbolizer.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::addr::{LinkAddr, RuntimeAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::index::{Symbol, SymbolIndex};
use crate::resolve::objects::Vmlinux;
use crate::resolve::Resolver;
use crate::sources::dwarf::{CompUnits, LineRow};
use crate::sources::in_chunks;
use crate::sources::kallsyms::Kallsyms;

/// An address, and what holds it. Names are borrowed from the symbolizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Symbolized<'a> {
    /// The address asked about.
    pub addr: RuntimeAddr,
    /// The symbol holding it, if any.
    pub symbol: Option<&'a str>,
    /// The offset into that symbol.
    #[serde(with = "crate::addr::hex")]
    pub offset: u64,
    /// Its source file, when the vmlinux tells.
    pub file: Option<&'a str>,
    /// The source line of the instruction, when lines were asked for
    /// ([`Symbolizer::with_lines`]) and DWARF has one. In inlined code it
    /// is the inlined function's line (`include/linux/list.h:35`), as the
    /// line table says; [`Symbolized::file`] stays the function's file.
    pub line: Option<SourceLine>,
    /// Its module, for a module address.
    pub module: Option<&'a str>,
    /// True when the symbol is the last kallsyms lists in its region
    /// (vmlinux's text, or a module's): kallsyms gives no sizes, so an
    /// address past its start may be past its end too.
    pub size_unknown: bool,
}

/// A file and line from DWARF's line table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceLine {
    /// The path relative to the compile directory when under it
    /// (`fs/read_write.c`), else as DWARF gives it.
    pub file: Arc<str>,
    /// The line number.
    pub line: u64,
}

impl Symbolized<'_> {
    fn unknown(addr: RuntimeAddr) -> Self {
        Symbolized {
            addr,
            symbol: None,
            offset: 0,
            file: None,
            line: None,
            module: None,
            size_unknown: false,
        }
    }
}

impl fmt::Display for Symbolized<'_> {
    /// `0xffffffff9efea474 init_once+0x4 [fs/proc/inode.c] at fs/proc/inode.c:79`,
    /// `… (fixmod)`, `… ??`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(sym) = &self.symbol else {
            return write!(f, "{:#x} ??", self.addr.get());
        };
        write!(f, "{:#x} {sym}+{:#x}", self.addr.get(), self.offset)?;
        if let Some(file) = &self.file {
            write!(f, " [{file}]")?;
        }
        if let Some(l) = &self.line {
            write!(f, " at {}:{}", l.file, l.line)?;
        }
        if let Some(m) = &self.module {
            write!(f, " ({m})")?;
        }
        if self.size_unknown && self.offset > 0 {
            write!(f, " (the last symbol of its region: its size is unknown, so the address may be past its end)")?;
        }
        Ok(())
    }
}

/// Turns addresses into symbols; made by [`Resolver::symbolizer`].
#[derive(Debug)]
pub struct Symbolizer<'a> {
    kallsyms: Option<&'a Kallsyms>,
    vmlinux: Option<VmlinuxNames<'a>>,
    /// How a runtime address becomes a vmlinux address, when it can.
    slide: Option<u64>,
    warnings: Vec<String>,
    lines: bool,
}

/// The vmlinux side: its symbols, its DWARF, and each function's file
/// once found (by the symbol's position in the index).
#[derive(Debug)]
struct VmlinuxNames<'a> {
    vm: &'a Vmlinux,
    idx: &'a SymbolIndex,
    units: Option<&'a CompUnits>,
    files: Vec<OnceLock<Option<Box<str>>>>,
}

impl Resolver {
    /// A symbolizer over the running kernel's kallsyms (when it describes
    /// the analysed build) and the vmlinux (for files). Without kallsyms,
    /// addresses are taken as the vmlinux's link-time addresses.
    pub fn symbolizer(&self) -> Result<Symbolizer<'_>> {
        // What the running kernel lists, whether or not it is the vmlinux's
        // build: addresses given are its addresses.
        let live = self.kallsyms.as_ref().map(|k| &*k.listing);
        let vm = match &self.vmlinux_path {
            Some(_) => Some(self.vmlinux()?),
            None => None,
        };
        if live.is_none() && vm.is_none() {
            return Err(Error::new(
                ErrorKind::BadInput,
                "no kernel symbols: give --kallsyms or --vmlinux (/proc/kallsyms was not readable)",
            ));
        }
        if let Some(k) = live {
            k.require_addresses()?;
        }
        let mut warnings = Vec::new();
        let slide = match (vm, live, self.check_kernel()) {
            (Some(_), Some(_), Some(Ok(c))) if c.same_build() => Some(c.slide),
            (Some(v), Some(_), check) => {
                let why = match check {
                    Some(Err(e)) => e.to_string(),
                    _ => "its build-id differs from the running kernel's".to_string(),
                };
                warnings.push(format!(
                    "{} is not the running kernel ({why}): addresses are named from the running kernel's kallsyms, without files; give --offline to read them as the vmlinux's own link-time addresses",
                    v.path().display()
                ));
                None
            }
            // No running kernel to compare with: link-time addresses.
            (Some(_), None, _) => Some(0),
            (None, _, _) => None,
        };
        let vmlinux = match vm {
            Some(vm) => {
                let idx = vm.obj.index()?;
                Some(VmlinuxNames {
                    vm,
                    idx,
                    units: vm.obj.compile_units(),
                    files: std::iter::repeat_with(OnceLock::new)
                        .take(idx.symbols().len())
                        .collect(),
                })
            }
            None => None,
        };
        Ok(Symbolizer {
            kallsyms: live,
            vmlinux,
            slide,
            warnings,
            lines: false,
        })
    }
}

/// The line rows of the compile unit last asked about, by its offset.
type UnitRows = Option<(usize, Arc<Vec<LineRow>>)>;

impl<'a> Symbolizer<'a> {
    /// What the user must know about every answer (a vmlinux that is not
    /// the running kernel's build, so it is not used).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Also give each vmlinux address its source line from DWARF.
    pub fn with_lines(mut self) -> Self {
        self.lines = true;
        self
    }

    /// What holds `addr`: a vmlinux function with its file (and line),
    /// else the nearest kallsyms text symbol (with its module).
    pub fn symbolize(&self, addr: RuntimeAddr) -> Symbolized<'_> {
        self.named(addr, &self.hit(addr, &mut None))
    }

    /// What holds each of `addrs`. They are answered in address order,
    /// over a few threads, so that a compile unit's line table is decoded
    /// once per call, not once per address; the answers are kept in a few
    /// words each and named when read.
    pub fn symbolize_many<'s>(&'s self, addrs: &'s [RuntimeAddr]) -> Answers<'s> {
        let mut sorted: Vec<(RuntimeAddr, u32)> = addrs
            .iter()
            .enumerate()
            .map(|(i, &a)| (a, i as u32))
            .collect();
        sorted.sort_unstable();
        let parts = in_chunks(&sorted, 1 << 12, |part| {
            let mut rows = None;
            part.iter()
                .map(|&(a, _)| self.hit(a, &mut rows))
                .collect::<Vec<_>>()
        });
        let mut rank = vec![0u32; addrs.len()];
        for (r, &(_, i)) in sorted.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        Answers {
            symbolizer: self,
            addrs,
            part_len: parts.first().map_or(1, |p| p.len().max(1)),
            parts,
            rank,
        }
    }

    fn hit(&self, addr: RuntimeAddr, rows: &mut UnitRows) -> Hit {
        if let (Some(v), Some(slide)) = (&self.vmlinux, self.slide) {
            let la = LinkAddr(addr.get().wrapping_sub(slide));
            if let Some(s) = v.idx.functions_containing(la).next() {
                // Found here, on a worker thread, and kept for the reader.
                v.file(s);
                return Hit {
                    at: At::Vmlinux(position(v.idx.symbols(), s)),
                    offset: la.get() - s.addr.get(),
                    line: if self.lines {
                        v.line(la, s.addr, rows)
                    } else {
                        None
                    },
                };
            }
        }
        match self
            .kallsyms
            .and_then(|k| k.symbolize(addr).map(|h| (k, h)))
        {
            Some((k, (s, offset))) => Hit {
                at: At::Kallsyms(position(k.symbols(), s)),
                offset,
                line: None,
            },
            None => Hit {
                at: At::Unknown,
                offset: 0,
                line: None,
            },
        }
    }

    fn named(&self, addr: RuntimeAddr, hit: &Hit) -> Symbolized<'_> {
        let mut out = Symbolized::unknown(addr);
        out.offset = hit.offset;
        out.line = hit.line.clone();
        match (hit.at, &self.vmlinux, self.kallsyms) {
            (At::Vmlinux(i), Some(v), _) => {
                let s = &v.idx.symbols()[i as usize];
                out.symbol = Some(v.idx.name(s));
                out.file = v.file(s);
            }
            (At::Kallsyms(i), _, Some(k)) => {
                let s = &k.symbols()[i as usize];
                out.symbol = Some(k.name(s));
                out.module = k.module(s);
                out.size_unknown = k.ends_region(s);
            }
            _ => {}
        }
        out
    }
}

/// Where an address was found, by position in the symbol table.
#[derive(Debug, Clone, Copy)]
enum At {
    Unknown,
    Vmlinux(u32),
    Kallsyms(u32),
}

/// One address's answer before it is named.
#[derive(Debug, Clone)]
struct Hit {
    at: At,
    offset: u64,
    line: Option<SourceLine>,
}

/// The position of `item` in `all` (which holds it).
fn position<T>(all: &[T], item: &T) -> u32 {
    ((item as *const T as usize - all.as_ptr() as usize) / std::mem::size_of::<T>()) as u32
}

/// The answers of [`Symbolizer::symbolize_many`], in the order the
/// addresses were given: a few words each (about 40 bytes), named when read.
#[derive(Debug)]
pub struct Answers<'s> {
    symbolizer: &'s Symbolizer<'s>,
    addrs: &'s [RuntimeAddr],
    /// The answers in address order, as the threads made them: every part
    /// but the last holds `part_len`.
    parts: Vec<Vec<Hit>>,
    part_len: usize,
    /// Each given address's place in address order.
    rank: Vec<u32>,
}

impl<'s> Answers<'s> {
    /// How many addresses were given.
    pub fn len(&self) -> usize {
        self.rank.len()
    }

    /// True if none were.
    pub fn is_empty(&self) -> bool {
        self.rank.is_empty()
    }

    /// The answer for the `i`th address given.
    pub fn get(&self, i: usize) -> Option<Symbolized<'s>> {
        let r = *self.rank.get(i)? as usize;
        let hit = &self.parts[r / self.part_len][r % self.part_len];
        Some(self.symbolizer.named(self.addrs[i], hit))
    }

    /// Every answer, in the order the addresses were given.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Symbolized<'s>> + '_ {
        (0..self.len()).map(|i| self.get(i).expect("an answer per address"))
    }
}

impl VmlinuxNames<'_> {
    /// A function's file, found on its first address.
    fn file(&self, s: &Symbol) -> Option<&str> {
        self.files[position(self.idx.symbols(), s) as usize]
            .get_or_init(|| {
                self.vm
                    .obj
                    .source_file(self.idx, s)
                    .map(|f| f.shown.into_boxed_str())
            })
            .as_deref()
    }

    /// The line of `la` in a function starting at `start`: the last row
    /// at or below `la`, if it is in the function (code without line
    /// rows of its own is not given its neighbour's).
    fn line(&self, la: LinkAddr, start: LinkAddr, rows: &mut UnitRows) -> Option<SourceLine> {
        let units = self.units?;
        let off = units.unit_offset_at(la.get())?;
        let rows = match rows {
            Some((o, r)) if *o == off => r,
            _ => &rows.insert((off, units.rows_of_unit(off))).1,
        };
        let r = &rows[rows
            .partition_point(|r| r.addr <= la.get())
            .checked_sub(1)?];
        (r.addr >= start.get()).then(|| SourceLine {
            file: r.rel.clone(),
            line: r.line,
        })
    }
}
