//! ELF objects: headers, segments, sections, build-id, `.gnu_debuglink`, and
//! the raw symbol tables, read with the `object` crate over mapped bytes.
//!
//! [`ElfObject::open`] validates the headers once and keeps only what every
//! later step needs (segments, a section summary, where the symbol tables
//! are); symbol tables are walked later, straight from the mapping.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::Endianness;

use crate::addr::{FileOffset, LinkAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::sources::Bytes;

/// What kind of ELF object this is, as far as probing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectKind {
    /// `ET_EXEC`: a fixed-address executable (`-no-pie`, or a vmlinux).
    Executable,
    /// `ET_DYN`: a PIE executable or a shared library.
    SharedObject,
    /// `ET_REL`: a relocatable object (a kernel module).
    Relocatable,
}

/// A loadable segment (`PT_LOAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// `p_vaddr`.
    pub vaddr: LinkAddr,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_offset`.
    pub offset: FileOffset,
    /// `p_filesz`.
    pub filesz: u64,
    /// `p_flags` (`PF_X` = 1, `PF_W` = 2, `PF_R` = 4).
    pub flags: u32,
}

/// A section's summary: enough to say where a symbol lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Section name (`.text`, `.text.unlikely`…).
    pub name: String,
    /// `sh_addr`; in a relocatable object (a `.ko`, where every `sh_addr`
    /// is 0) the address the section is laid out at here, so that its
    /// symbols and its relocated DWARF share one address space (as elfutils'
    /// libdwfl lays out `ET_REL` files). See [`ElfObject::lay_out`].
    pub addr: LinkAddr,
    /// `sh_addralign`.
    pub align: u64,
    /// `sh_size`.
    pub size: u64,
    /// `sh_offset`.
    pub offset: u64,
    /// `sh_type`.
    pub kind: u32,
    /// `sh_flags`.
    pub flags: u64,
}

impl Section {
    /// True for `SHF_EXECINSTR` sections.
    pub fn is_exec(&self) -> bool {
        self.flags & u64::from(elf::SHF_EXECINSTR) != 0
    }
    /// True if the section occupies no bytes in the file (`SHT_NOBITS`, as
    /// `.text` is in a separate debug file).
    pub fn is_nobits(&self) -> bool {
        self.kind == elf::SHT_NOBITS
    }
}

/// Which of the two ELF symbol tables an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolTableKind {
    /// `.symtab`: all symbols, locals included, with `STT_FILE` entries.
    Symtab,
    /// `.dynsym`: exported and imported symbols only.
    Dynsym,
}

/// The `.gnu_debuglink` section: a debug file's name and its CRC-32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugLink {
    /// File name of the separate debug file.
    pub name: String,
    /// CRC-32 (the one zlib computes) of the whole debug file.
    pub crc: u32,
}

/// From this size on, a mapped file is read without the kernel's
/// read-around (see [`ElfObject::from_bytes`]): a debug vmlinux or a large
/// library's debug file, where one probe point reads a few megabytes.
const LARGE_FILE: usize = 64 << 20;

/// An opened, header-validated 64-bit ELF object.
#[derive(Debug, Clone)]
pub struct ElfObject {
    path: PathBuf,
    bytes: Arc<Bytes>,
    /// 64 (x86-64) or 32 (i386).
    bits: u32,
    kind: ObjectKind,
    segments: Vec<Segment>,
    sections: Vec<Section>,
    build_id: Option<Vec<u8>>,
    debuglink: Option<DebugLink>,
    has_symtab: bool,
    has_dynsym: bool,
    has_debug_info: bool,
}

fn malformed(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Malformed,
        format!("truncated or corrupt ELF file: {what}"),
    )
    .with_path(path)
}

/// The name of an `e_machine` value, for error messages.
fn machine_name(m: u16) -> String {
    let name = match m {
        elf::EM_386 => "i386",
        elf::EM_X86_64 => "x86-64",
        elf::EM_AARCH64 => "AArch64",
        elf::EM_ARM => "ARM",
        elf::EM_RISCV => "RISC-V",
        elf::EM_PPC64 => "PowerPC64",
        elf::EM_S390 => "s390",
        elf::EM_MIPS => "MIPS",
        elf::EM_LOONGARCH => "LoongArch",
        _ => "",
    };
    if name.is_empty() {
        format!("e_machine {m}")
    } else {
        format!("{name} (e_machine {m})")
    }
}

impl ElfObject {
    /// Map and validate `path`.
    pub fn open(path: &Path) -> Result<ElfObject> {
        let bytes = Bytes::map(path)?;
        ElfObject::from_bytes(path, bytes)
    }

    /// Validate in-memory bytes as if read from `path`.
    pub fn from_bytes(path: &Path, bytes: Bytes) -> Result<ElfObject> {
        let data: &[u8] = &bytes;
        if data.len() < 4 || &data[..4] != b"\x7fELF" {
            let shown: String = data
                .iter()
                .take(4)
                .map(|b| {
                    if b.is_ascii_graphic() {
                        *b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            return Err(Error::new(
                ErrorKind::NotElf,
                if data.is_empty() {
                    "not an ELF file (empty file)".to_string()
                } else {
                    format!("not an ELF file (starts with {shown:?}, not \"\\x7fELF\")")
                },
            )
            .with_path(path));
        }
        if data.len() < 64 && data.get(4) == Some(&elf::ELFCLASS64) {
            return Err(malformed(
                path,
                format!("ELF header cut short ({} of 64 bytes)", data.len()),
            ));
        }
        let bits = match data.get(4) {
            Some(&elf::ELFCLASS64) => 64,
            Some(&elf::ELFCLASS32) => 32,
            other => return Err(malformed(path, format!("bad ELF class byte {other:?}"))),
        };
        if data.get(5) != Some(&elf::ELFDATA2LSB) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "unsupported byte order: big-endian; probeaddr reads little-endian x86-64 objects",
            )
            .with_path(path));
        }
        if data.len() > u32::MAX as usize {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "files of 4 GiB or more are not supported",
            )
            .with_path(path));
        }
        match bits {
            64 => ElfObject::parse::<elf::FileHeader64<Endianness>>(path, bytes),
            _ => ElfObject::parse::<elf::FileHeader32<Endianness>>(path, bytes),
        }
    }

    /// The rest of [`ElfObject::from_bytes`], for one ELF class: 64-bit
    /// x86-64, or 32-bit i386 (a valid uprobe target on an x86-64 kernel).
    fn parse<H: FileHeader<Endian = Endianness>>(path: &Path, bytes: Bytes) -> Result<ElfObject> {
        let data: &[u8] = &bytes;
        let header = H::parse(data).map_err(|e| malformed(path, e))?;
        let endian = header.endian().map_err(|e| malformed(path, e))?;
        let machine = header.e_machine(endian);
        let want = if header.is_type_64() {
            elf::EM_X86_64
        } else {
            elf::EM_386
        };
        if machine != want {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "unsupported machine {} in a {}-bit ELF file; probeaddr decodes x86-64 and 32-bit x86 instructions only",
                    machine_name(machine),
                    if header.is_type_64() { 64 } else { 32 }
                ),
            )
            .with_path(path));
        }
        let kind = match header.e_type(endian) {
            elf::ET_EXEC => ObjectKind::Executable,
            elf::ET_DYN => ObjectKind::SharedObject,
            elf::ET_REL => ObjectKind::Relocatable,
            elf::ET_CORE => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "a core dump, not a program or library",
                )
                .with_path(path))
            }
            t => return Err(malformed(path, format!("unknown ELF type e_type={t}"))),
        };

        let phdrs = header
            .program_headers(endian, data)
            .map_err(|e| malformed(path, format!("program headers: {e}")))?;
        let mut segments = Vec::new();
        let mut build_id = None;
        for ph in phdrs {
            match ph.p_type(endian) {
                elf::PT_LOAD => {
                    let seg = Segment {
                        vaddr: LinkAddr(ph.p_vaddr(endian).into()),
                        memsz: ph.p_memsz(endian).into(),
                        offset: FileOffset(ph.p_offset(endian).into()),
                        filesz: ph.p_filesz(endian).into(),
                        flags: ph.p_flags(endian),
                    };
                    if seg
                        .offset
                        .get()
                        .checked_add(seg.filesz)
                        .is_none_or(|end| end > data.len() as u64)
                    {
                        return Err(malformed(
                            path,
                            format!(
                                "PT_LOAD at {} claims file bytes {:#x}..{:#x} past the end of the file ({:#x} bytes)",
                                seg.vaddr,
                                seg.offset.get(),
                                seg.offset.get().saturating_add(seg.filesz),
                                data.len()
                            ),
                        ));
                    }
                    if seg.filesz > seg.memsz || seg.vaddr.get().checked_add(seg.memsz).is_none() {
                        return Err(malformed(
                            path,
                            format!("PT_LOAD at {} has p_filesz > p_memsz or wraps", seg.vaddr),
                        ));
                    }
                    segments.push(seg);
                }
                elf::PT_NOTE if build_id.is_none() => {
                    // A separate debug file keeps PT_NOTE headers but may not
                    // keep their bytes; a note we cannot read is not fatal here.
                    if let Ok(Some(notes)) = ph.notes(endian, data) {
                        build_id = find_build_id(notes);
                    }
                }
                _ => {}
            }
        }

        let sects = header
            .sections(endian, data)
            .map_err(|e| malformed(path, format!("section headers: {e}")))?;
        let mut sections = Vec::with_capacity(sects.len());
        let mut debuglink = None;
        let (mut has_symtab, mut has_dynsym, mut has_debug_info) = (false, false, false);
        // (offset, size) of the sections read whole or all over when used:
        // the symbol tables with their strings, the address map, the CFI
        // that is searched front to back, and DWARF's strings (a name for
        // every DIE read, anywhere in the section).
        let mut read_whole: Vec<(u64, u64)> = Vec::new();
        for sh in sects.iter() {
            let name = sects
                .section_name(endian, sh)
                .map_err(|e| malformed(path, format!("section name: {e}")))?;
            let name = String::from_utf8_lossy(name).into_owned();
            let kind = sh.sh_type(endian);
            let (offset, size): (u64, u64) =
                (sh.sh_offset(endian).into(), sh.sh_size(endian).into());
            if kind != elf::SHT_NOBITS
                && kind != elf::SHT_NULL
                && offset
                    .checked_add(size)
                    .is_none_or(|end| end > data.len() as u64)
            {
                return Err(malformed(
                    path,
                    format!("section {name} (offset {offset:#x}, size {size:#x}) extends past the end of the file ({:#x} bytes)", data.len()),
                ));
            }
            if matches!(kind, elf::SHT_SYMTAB | elf::SHT_DYNSYM) {
                read_whole.push((offset, size));
                if let Ok(strings) =
                    sects.section(object::SectionIndex(sh.sh_link(endian) as usize))
                {
                    let at: u64 = strings.sh_offset(endian).into();
                    let len: u64 = strings.sh_size(endian).into();
                    if at.checked_add(len).is_some_and(|e| e <= data.len() as u64) {
                        read_whole.push((at, len));
                    }
                }
            }
            if matches!(
                name.as_str(),
                ".debug_aranges" | ".debug_frame" | ".debug_str" | ".debug_line_str"
            ) && kind != elf::SHT_NOBITS
            {
                read_whole.push((offset, size));
            }
            match kind {
                elf::SHT_SYMTAB => has_symtab = true,
                elf::SHT_DYNSYM => has_dynsym = true,
                elf::SHT_NOTE if build_id.is_none() => {
                    if let Ok(Some(notes)) = sh.notes(endian, data) {
                        build_id = find_build_id(notes);
                    }
                }
                _ => {}
            }
            if name == ".debug_info" && kind != elf::SHT_NOBITS {
                has_debug_info = true;
            }
            if name == ".gnu_debuglink" {
                let raw = sh
                    .data(endian, data)
                    .map_err(|e| malformed(path, format!(".gnu_debuglink: {e}")))?;
                debuglink = Some(parse_debuglink(raw).ok_or_else(|| {
                    malformed(
                        path,
                        ".gnu_debuglink is not a NUL-terminated name followed by a CRC",
                    )
                })?);
            }
            sections.push(Section {
                name,
                addr: LinkAddr(sh.sh_addr(endian).into()),
                size,
                offset,
                kind,
                flags: sh.sh_flags(endian).into(),
                align: sh.sh_addralign(endian).into(),
            });
        }
        if kind == ObjectKind::Relocatable {
            Self::lay_out(&mut sections);
        }
        if data.len() >= LARGE_FILE {
            // A debug vmlinux is read here and there: a few units, their
            // strings, one function's frame. The kernel's read-around on
            // each page fault would bring in ~100 MB of it from a cold page
            // cache to use 7. So no read-around; the sections read whole
            // are asked for ahead, in the background (and a walk over many
            // units asks for the DWARF sections: `CompUnits::opened_unit`).
            bytes.advise(None, memmap2::Advice::Random);
            for r in read_whole {
                bytes.advise(Some(r), memmap2::Advice::Normal);
                bytes.advise(Some(r), memmap2::Advice::WillNeed);
            }
        }

        Ok(ElfObject {
            path: path.to_path_buf(),
            bits: if header.is_type_64() { 64 } else { 32 },
            bytes: Arc::new(bytes),
            kind,
            segments,
            sections,
            build_id,
            debuglink,
            has_symtab,
            has_dynsym,
            has_debug_info,
        })
    }

    /// Give each allocated section of a relocatable object an address of its
    /// own, in section order, aligned as the section asks. A `.ko`'s symbol
    /// values and DWARF addresses are offsets into sections the module
    /// loader places independently (`.text` and `.init.text` both start at
    /// 0); laid out side by side, an address names one section again, and
    /// the offset in it is `addr - section.addr`. The layout starts above 0
    /// because DWARF uses address 0 for code that was discarded. The debug
    /// file of a stripped `.ko` keeps every section header (as `SHT_NOBITS`),
    /// so both files get the same layout.
    fn lay_out(sections: &mut [Section]) {
        const START: u64 = 0x1_0000;
        let mut next = START;
        for s in sections.iter_mut() {
            if s.flags & u64::from(elf::SHF_ALLOC) == 0 {
                continue;
            }
            let align = s.align.clamp(1, 1 << 12);
            next = next.div_ceil(align).saturating_mul(align);
            s.addr = LinkAddr(next);
            next = next.saturating_add(s.size.max(1));
        }
    }

    /// An address as the file's own tools print it: itself in a linked
    /// object; in a relocatable one, the offset in the laid-out section
    /// holding it (what `readelf -s` and `objdump -d` of a `.ko` show).
    pub fn as_printed(&self, addr: LinkAddr) -> LinkAddr {
        if self.kind != ObjectKind::Relocatable {
            return addr;
        }
        self.sections
            .iter()
            .filter(|s| s.flags & u64::from(elf::SHF_ALLOC) != 0)
            .find(|s| addr.get() >= s.addr.get() && addr.get() - s.addr.get() < s.size.max(1))
            .map_or(addr, |s| LinkAddr(addr.get() - s.addr.get()))
    }

    /// The offset of `addr` in section `shndx`: what the kernel adds to the
    /// section's load address for a module (`MOD` section anchors).
    pub fn section_offset(&self, shndx: u32, addr: LinkAddr) -> Option<u64> {
        let s = self.sections.get(shndx as usize)?;
        addr.get().checked_sub(s.addr.get())
    }

    /// The GOT slot the dynamic linker fills with what the GNU indirect
    /// function at `resolver` returns: the target of the `R_X86_64_IRELATIVE`
    /// relocation whose addend is the resolver (glibc's own calls to
    /// `strlen` go through one). `None` when there is none.
    pub fn irelative_slot(&self, resolver: LinkAddr) -> Option<LinkAddr> {
        use object::{Object, ObjectSection};
        let file = object::read::elf::ElfFile64::<Endianness>::parse(self.data()).ok()?;
        for sec in file.sections() {
            let Ok(name) = sec.name() else { continue };
            if name != ".rela.dyn" && name != ".rela.plt" {
                continue;
            }
            let data = sec.data().ok()?;
            for r in data.chunks_exact(24) {
                let offset = u64::from_le_bytes(r[0..8].try_into().ok()?);
                let info = u64::from_le_bytes(r[8..16].try_into().ok()?);
                let addend = i64::from_le_bytes(r[16..24].try_into().ok()?);
                if (info & 0xffff_ffff) as u32 == elf::R_X86_64_IRELATIVE
                    && addend as u64 == resolver.get()
                {
                    return Some(LinkAddr(offset));
                }
            }
        }
        None
    }

    /// 64 for x86-64 objects, 32 for i386 ones: how instructions decode.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The path this object was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The whole file.
    pub fn data(&self) -> &[u8] {
        &self.bytes
    }
    /// Shared handle on the file bytes.
    pub fn bytes(&self) -> &Arc<Bytes> {
        &self.bytes
    }
    /// Executable, shared object or relocatable.
    pub fn kind(&self) -> ObjectKind {
        self.kind
    }
    /// All sections, indexed like `st_shndx`.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }
    /// The GNU build-id note, if any.
    pub fn build_id(&self) -> Option<&[u8]> {
        self.build_id.as_deref()
    }
    /// The `.gnu_debuglink` section, if any.
    pub fn debuglink(&self) -> Option<&DebugLink> {
        self.debuglink.as_ref()
    }
    /// Whether the file has a `.symtab`.
    pub fn has_symtab(&self) -> bool {
        self.has_symtab
    }
    /// Whether the file has a `.dynsym`.
    pub fn has_dynsym(&self) -> bool {
        self.has_dynsym
    }
    /// Whether the file carries `.debug_info` bytes.
    pub fn has_debug_info(&self) -> bool {
        self.has_debug_info
    }

    /// The file offset of a link-time address: the `PT_LOAD` segment whose
    /// file-backed part holds it. `None` if no segment has file bytes there
    /// (e.g. `.bss`), in which case no uprobe can be placed.
    pub fn file_offset(&self, addr: LinkAddr) -> Option<FileOffset> {
        self.segments.iter().find_map(|s| {
            let delta = addr.get().checked_sub(s.vaddr.get())?;
            (delta < s.filesz).then(|| FileOffset(s.offset.get() + delta))
        })
    }

    /// The segment holding a link-time address in its file-backed part.
    pub fn segment_of(&self, addr: LinkAddr) -> Option<&Segment> {
        self.segments.iter().find(|s| {
            addr.get()
                .checked_sub(s.vaddr.get())
                .is_some_and(|d| d < s.filesz)
        })
    }

    /// The bytes at `[addr, addr+len)` as loaded, if the file holds them all.
    pub fn bytes_at(&self, addr: LinkAddr, len: u64) -> Option<&[u8]> {
        let seg = self.segment_of(addr)?;
        let delta = addr.get() - seg.vaddr.get();
        if delta.checked_add(len)? > seg.filesz {
            return None;
        }
        let start = usize::try_from(seg.offset.get() + delta).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.data().get(start..end)
    }

    /// Walk a symbol table in file order, calling `f` for every entry. The
    /// order matters: a local's source file is the `STT_FILE` entry before it.
    pub fn for_each_symbol(
        &self,
        table: SymbolTableKind,
        f: impl FnMut(RawSymbol<'_>),
    ) -> Result<()> {
        match self.bits {
            64 => self.symbols_of::<elf::FileHeader64<Endianness>>(table, f),
            _ => self.symbols_of::<elf::FileHeader32<Endianness>>(table, f),
        }
    }

    fn symbols_of<H: FileHeader<Endian = Endianness>>(
        &self,
        table: SymbolTableKind,
        mut f: impl FnMut(RawSymbol<'_>),
    ) -> Result<()> {
        let data = self.data();
        let path = &self.path;
        let header = H::parse(data).map_err(|e| malformed(path, e))?;
        let endian = header.endian().map_err(|e| malformed(path, e))?;
        let sects = header
            .sections(endian, data)
            .map_err(|e| malformed(path, e))?;
        let sh_type = match table {
            SymbolTableKind::Symtab => elf::SHT_SYMTAB,
            SymbolTableKind::Dynsym => elf::SHT_DYNSYM,
        };
        let symtab = sects
            .symbols(endian, data, sh_type)
            .map_err(|e| malformed(path, format!("symbol table: {e}")))?;
        // The names are read straight from the string table's bytes (see
        // `c_str_at`).
        let strings = sects
            .section(symtab.string_section())
            .and_then(|s| s.data(endian, data))
            .map_err(|e| malformed(path, format!("symbol table strings: {e}")))?;
        let base = data.as_ptr() as usize;
        // `.gnu.version` gives each `.dynsym` entry its version (a debug
        // file's `.symtab` spells it into the name instead).
        let versions = match table {
            SymbolTableKind::Dynsym => sects
                .versions(endian, data)
                .map_err(|e| malformed(path, format!("symbol versions (.gnu.version): {e}")))?,
            SymbolTableKind::Symtab => None,
        };
        for (i, sym) in symtab.symbols().iter().enumerate().skip(1) {
            use object::read::elf::Sym;
            let name = c_str_at(strings, sym.st_name(endian) as usize).ok_or_else(|| {
                malformed(
                    path,
                    format!("symbol {i}: name: not a string in the symbol table's strings"),
                )
            })?;
            let version = match &versions {
                // Undefined entries name versions they need, not define.
                Some(v) if !sym.is_undefined(endian) => {
                    let index = v.version_index(endian, object::SymbolIndex(i));
                    v.version(index)
                        .map_err(|e| malformed(path, format!("symbol {i}: version: {e}")))?
                        .map(|ver| RawVersion {
                            name: ver.name(),
                            default: !index.is_hidden(),
                        })
                }
                _ => None,
            };
            f(RawSymbol {
                version,
                name,
                name_offset: (name.as_ptr() as usize - base) as u32,
                value: sym.st_value(endian).into(),
                size: sym.st_size(endian).into(),
                kind: sym.st_type(),
                bind: sym.st_bind(),
                shndx: symtab
                    .shndx(endian, object::SymbolIndex(i))
                    .unwrap_or(u32::from(sym.st_shndx(endian))),
            });
        }
        Ok(())
    }
}

/// The NUL-terminated bytes at `off` in `table` (without the NUL), or
/// `None` when the table ends first. Symbol names are short (a kernel's
/// 190,000 average 20 bytes): testing a word at a time for a zero byte
/// beats a vector search's setup, once per name.
fn c_str_at(table: &[u8], off: usize) -> Option<&[u8]> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let rest = table.get(off..)?;
    let mut i = 0;
    while let Some(w) = rest.get(i..i + 8) {
        let v = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        // The lowest set bit marks the first zero byte (bits above it may
        // be false positives, never bits below).
        let zero = v.wrapping_sub(ONES) & !v & HIGH;
        if zero != 0 {
            return Some(&rest[..i + (zero.trailing_zeros() / 8) as usize]);
        }
        i += 8;
    }
    let tail = rest[i..].iter().position(|&b| b == 0)?;
    Some(&rest[..i + tail])
}

/// One symbol table entry, borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub struct RawSymbol<'a> {
    /// Name bytes (no NUL).
    pub name: &'a [u8],
    /// Offset of the name in the file.
    pub name_offset: u32,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `STT_*`.
    pub kind: u8,
    /// `STB_*`.
    pub bind: u8,
    /// Section index (extended indexes resolved).
    pub shndx: u32,
    /// The version `.gnu.version` gives a `.dynsym` entry, if any.
    pub version: Option<RawVersion<'a>>,
}

/// A `.dynsym` entry's symbol version (`GLIBC_2.2.5`), borrowed from the
/// file.
#[derive(Debug, Clone, Copy)]
pub struct RawVersion<'a> {
    /// The version's name (no NUL).
    pub name: &'a [u8],
    /// The default version (`@@`, which a plain reference binds to), not
    /// a hidden compat one (`@`).
    pub default: bool,
}

fn find_build_id<H: FileHeader<Endian = Endianness>>(
    mut notes: object::read::elf::NoteIterator<'_, H>,
) -> Option<Vec<u8>> {
    while let Ok(Some(note)) = notes.next() {
        if note.name() == elf::ELF_NOTE_GNU
            && note.n_type(Endianness::Little) == elf::NT_GNU_BUILD_ID
        {
            return Some(note.desc().to_vec());
        }
    }
    None
}

fn parse_debuglink(raw: &[u8]) -> Option<DebugLink> {
    let nul = raw.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&raw[..nul]).ok()?.to_string();
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let crc_at = (nul + 1).next_multiple_of(4);
    let crc = raw.get(crc_at..crc_at + 4)?;
    Some(DebugLink {
        name,
        crc: u32::from_le_bytes(crc.try_into().ok()?),
    })
}

/// The bytes of a hex build-id (`None` if it is not hex).
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Lower-case hex of a build-id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::c_str_at;

    /// The word-at-a-time search finds what a byte loop finds, at every
    /// offset of tables holding zeros, high bytes (0x80, 0xff: where the
    /// zero-byte test could go wrong) and no terminator at the end.
    #[test]
    fn c_str_at_is_a_byte_search() {
        let mut table = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..4096 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            table.push(match (x >> 16) % 7 {
                0 => 0,
                1 => 0x80,
                2 => 0xff,
                3 => 0x01,
                _ => b'a' + (x >> 20) as u8 % 26,
            });
        }
        for end in [table.len(), table.len() - 3] {
            let t = &table[..end];
            for off in 0..=t.len() + 1 {
                let naive = t
                    .get(off..)
                    .and_then(|r| r.iter().position(|&b| b == 0).map(|p| &r[..p]));
                assert_eq!(c_str_at(t, off), naive, "offset {off} of {end}");
            }
        }
        assert_eq!(c_str_at(b"fopen\0", 0), Some(&b"fopen"[..]));
        assert_eq!(c_str_at(b"vfs_read_no_terminator", 0), None);
        assert_eq!(c_str_at(b"\0", 0), Some(&b""[..]));
        assert_eq!(c_str_at(b"ab", 5), None);
    }
}
