//! A stand-in kernel image assembled from single sections of the real one
//! (a debuginfod server's `/buildid/ID/section/NAME`): its `.symtab` and
//! `.strtab`, its line programs, its `.init.data` (the NOKPROBE_SYMBOL
//! list) and a build-id note, in an ELF file the readers open like any
//! other.
//!
//! A section alone does not say where it was: the section headers are
//! not a section, and no server sends them. They are rebuilt from the
//! symbols: every symbol keeps its `st_shndx`, so header `N` is placed at
//! the address of section `N`'s `STT_SECTION` symbol and reaches the end
//! of the last symbol in it; it is executable when a function is in it.
//! Its name is known only for the sections the linker script marks
//! (`_stext`, `_sinittext`, `__start_kprobe_blacklist`), which is what
//! resolving a function reads. Headers without bytes are `SHT_NOBITS`:
//! nothing can read code or data that is not there.
//!
//! The file carries a [`MARK`] section, so that it is never mistaken for
//! the whole debug file (and never makes a reader fetch that).

// Only the debuginfod client assembles files; every build recognises them.
#![cfg_attr(not(feature = "debuginfod"), allow(dead_code))]

use crate::sources::elf::ElfObject;

/// The name of the empty section that marks an assembled file.
pub const MARK: &str = ".probeaddr.assembled";

/// True if `elf` was assembled from sections (it carries [`MARK`]).
pub fn is_assembled(elf: &ElfObject) -> bool {
    elf.sections().iter().any(|s| s.name == MARK)
}

/// What an assembled file is made of.
#[derive(Debug)]
pub struct Parts<'a> {
    /// The image's build-id (written as its `NT_GNU_BUILD_ID` note).
    pub build_id: &'a [u8],
    /// `e_machine` of the image.
    pub machine: u16,
    /// Its `.symtab` (ELF64 little-endian entries).
    pub symtab: &'a [u8],
    /// Its `.strtab`.
    pub strtab: &'a [u8],
    /// Its `.init.data`, placed at its address when the symbols place it.
    pub init_data: Option<&'a [u8]>,
    /// Other sections, copied as they are (`.debug_line`, `.debug_line_str`).
    pub other: Vec<(&'a str, &'a [u8])>,
}

const SYM: usize = 24;
const SHDR: usize = 64;
const SHN_LORESERVE: u16 = 0xff00;

/// What the symbols say of one section index.
#[derive(Debug, Clone, Default)]
struct Placed {
    addr: Option<u64>,
    lowest: u64,
    end: u64,
    used: bool,
    exec: bool,
    name: Option<&'static str>,
}

/// The linker-script symbols that name the section they are in.
const MARKERS: [(&str, &str); 3] = [
    ("_stext", ".text"),
    ("_sinittext", ".init.text"),
    ("__start_kprobe_blacklist", ".init.data"),
];

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

fn name_at(strtab: &[u8], off: u32) -> &[u8] {
    let s = strtab.get(off as usize..).unwrap_or(&[]);
    &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
}

/// A section header, before its name is an offset.
struct Header {
    name: String,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

impl Header {
    /// A header of `kind` named `name` for `size` bytes at `offset`,
    /// aligned to `align`; no address, link or flags.
    fn file(name: &str, kind: u32, offset: u64, size: u64, align: u64) -> Header {
        Header {
            name: name.to_string(),
            kind,
            flags: 0,
            addr: 0,
            offset,
            size,
            link: 0,
            info: 0,
            align,
            entsize: 0,
        }
    }
}

/// The bytes of the file `parts` make, or why they make none.
pub fn assemble(parts: &Parts<'_>) -> Result<Vec<u8>, String> {
    let symtab = parts.symtab;
    if !symtab.len().is_multiple_of(SYM) || symtab.len() < SYM {
        return Err(format!(
            ".symtab is {} bytes, not a whole number of 24-byte ELF64 symbols",
            symtab.len()
        ));
    }
    let mut placed: Vec<Placed> = Vec::new();
    let mut first_global = None;
    let mut blacklist_start = None;
    for (i, s) in symtab.chunks_exact(SYM).enumerate() {
        let (name, info, shndx) = (u32_at(s, 0), s[4], u16_at(s, 6));
        let (value, size) = (u64_at(s, 8), u64_at(s, 16));
        if info >> 4 != 0 && first_global.is_none() && i > 0 {
            first_global = Some(i as u32);
        }
        if shndx == 0 || shndx >= SHN_LORESERVE {
            continue;
        }
        let n = shndx as usize;
        if placed.len() <= n {
            placed.resize(n + 1, Placed::default());
        }
        let p = &mut placed[n];
        let kind = info & 0xf;
        if kind == 3 {
            // STT_SECTION: the section's own address.
            p.addr = Some(value);
        }
        p.lowest = if p.used { p.lowest.min(value) } else { value };
        p.end = p.end.max(value.saturating_add(size));
        p.used = true;
        p.exec |= kind == 2 || kind == 10; // STT_FUNC, STT_GNU_IFUNC
        let nm = name_at(parts.strtab, name);
        if let Some((_, sec)) = MARKERS.iter().find(|(m, _)| m.as_bytes() == nm) {
            p.name = Some(sec);
        }
        if nm == b"__start_kprobe_blacklist" {
            blacklist_start = Some((n, value));
        }
    }
    let first_global = first_global.unwrap_or((symtab.len() / SYM) as u32);
    let mut blacklist_placed = false;

    let mut out = vec![0u8; 64];
    let put = |out: &mut Vec<u8>, data: &[u8]| -> u64 {
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        let at = out.len() as u64;
        out.extend_from_slice(data);
        at
    };
    let mut headers: Vec<Header> = vec![Header::file("", 0, 0, 0, 0)];
    for (i, p) in placed.iter().enumerate().skip(1) {
        let addr = p.addr.unwrap_or(p.lowest);
        let mut h = match p.used {
            // SHT_NOBITS, SHF_ALLOC (and SHF_EXECINSTR).
            true => Header {
                flags: 2 | if p.exec { 4 } else { 0 },
                addr,
                ..Header::file(
                    p.name.unwrap_or_default(),
                    8,
                    0,
                    p.end.saturating_sub(addr),
                    1,
                )
            },
            // SHT_NULL: no symbol names it.
            false => Header::file("", 0, 0, 0, 1),
        };
        if let (Some((n, start)), Some(data)) = (blacklist_start, parts.init_data) {
            // .init.data's bytes, where the blacklist's symbols say it is:
            // only if it covers them (a wrong section would give a wrong
            // blacklist).
            if n == i && start >= addr && p.end <= addr.saturating_add(data.len() as u64) {
                h.kind = 1; // SHT_PROGBITS
                h.offset = put(&mut out, data);
                h.size = data.len() as u64;
                h.flags |= 1; // SHF_WRITE
                blacklist_placed = true;
            }
        }
        headers.push(h);
    }
    if blacklist_start.is_some() && !blacklist_placed {
        // Without it, functions the kernel refuses to probe would be
        // offered: better the whole file than a wrong answer.
        return Err(match parts.init_data {
            Some(d) => format!(
                "the NOKPROBE_SYMBOL list (__start_kprobe_blacklist) is not inside the {}-byte .init.data sent",
                d.len()
            ),
            None => "the symbols have a NOKPROBE_SYMBOL list (__start_kprobe_blacklist) but no .init.data came with them".into(),
        });
    }
    let strtab_index = headers.len() as u32 + 1;
    let at = put(&mut out, symtab);
    headers.push(Header {
        link: strtab_index,
        info: first_global,
        entsize: SYM as u64,
        ..Header::file(".symtab", 2, at, symtab.len() as u64, 8)
    });
    let at = put(&mut out, parts.strtab);
    headers.push(Header::file(".strtab", 3, at, parts.strtab.len() as u64, 1));
    for (name, data) in &parts.other {
        let at = put(&mut out, data);
        headers.push(Header::file(name, 1, at, data.len() as u64, 1));
    }
    let mut note = Vec::new();
    note.extend_from_slice(&4u32.to_le_bytes());
    note.extend_from_slice(&(parts.build_id.len() as u32).to_le_bytes());
    note.extend_from_slice(&3u32.to_le_bytes()); // NT_GNU_BUILD_ID
    note.extend_from_slice(b"GNU\0");
    note.extend_from_slice(parts.build_id);
    while !note.len().is_multiple_of(4) {
        note.push(0);
    }
    let at = put(&mut out, &note);
    headers.push(Header::file(
        ".note.gnu.build-id",
        7,
        at,
        note.len() as u64,
        4,
    ));
    headers.push(Header::file(MARK, 1, out.len() as u64, 0, 1));
    // Its place and size once the names are known.
    headers.push(Header::file(".shstrtab", 3, 0, 0, 1));
    if headers.len() >= SHN_LORESERVE as usize {
        return Err(format!(
            "the symbols name {} sections, more than an ELF file without extended numbering holds",
            headers.len()
        ));
    }
    let mut shstrtab = vec![0u8];
    let mut names = Vec::new();
    for h in &headers {
        if h.name.is_empty() {
            names.push(0u32);
        } else {
            names.push(shstrtab.len() as u32);
            shstrtab.extend_from_slice(h.name.as_bytes());
            shstrtab.push(0);
        }
    }
    let at = put(&mut out, &shstrtab);
    let last = headers.last_mut().expect("headers");
    last.offset = at;
    last.size = shstrtab.len() as u64;
    let shoff = put(&mut out, &[]);
    for (h, name) in headers.iter().zip(&names) {
        let mut b = [0u8; SHDR];
        b[0..4].copy_from_slice(&name.to_le_bytes());
        b[4..8].copy_from_slice(&h.kind.to_le_bytes());
        b[8..16].copy_from_slice(&h.flags.to_le_bytes());
        b[16..24].copy_from_slice(&h.addr.to_le_bytes());
        b[24..32].copy_from_slice(&h.offset.to_le_bytes());
        b[32..40].copy_from_slice(&h.size.to_le_bytes());
        b[40..44].copy_from_slice(&h.link.to_le_bytes());
        b[44..48].copy_from_slice(&h.info.to_le_bytes());
        b[48..56].copy_from_slice(&h.align.to_le_bytes());
        b[56..64].copy_from_slice(&h.entsize.to_le_bytes());
        out.extend_from_slice(&b);
    }
    let e = &mut out[..64];
    e[..4].copy_from_slice(b"\x7fELF");
    e[4] = 2; // ELFCLASS64
    e[5] = 1; // ELFDATA2LSB
    e[6] = 1; // EV_CURRENT
    e[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC, as a vmlinux
    e[18..20].copy_from_slice(&parts.machine.to_le_bytes());
    e[20..24].copy_from_slice(&1u32.to_le_bytes());
    e[40..48].copy_from_slice(&shoff.to_le_bytes());
    e[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    e[58..60].copy_from_slice(&(SHDR as u16).to_le_bytes());
    e[60..62].copy_from_slice(&(headers.len() as u16).to_le_bytes());
    e[62..64].copy_from_slice(&((headers.len() - 1) as u16).to_le_bytes());
    Ok(out)
}

/// `e_machine` of the machine probeaddr runs on (the running kernel's).
pub fn host_machine() -> u16 {
    match std::env::consts::ARCH {
        "aarch64" => 183,
        "x86" => 3,
        _ => 62,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: u32, info: u8, shndx: u16, value: u64, size: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&name.to_le_bytes());
        b.extend_from_slice(&[info, 0]);
        b.extend_from_slice(&shndx.to_le_bytes());
        b.extend_from_slice(&value.to_le_bytes());
        b.extend_from_slice(&size.to_le_bytes());
        b
    }

    /// A NULL symbol, .text's section symbol at 0x1000, a local function
    /// in it, `__start_kprobe_blacklist` and `__stop_kprobe_blacklist`
    /// (two entries) in section 3 at 0x5000.
    fn table() -> (Vec<u8>, Vec<u8>) {
        let strtab = b"\0f\0__start_kprobe_blacklist\0__stop_kprobe_blacklist\0".to_vec();
        let mut t = sym(0, 0, 0, 0, 0);
        t.extend(sym(0, 3, 1, 0x1000, 0));
        t.extend(sym(1, 2, 1, 0x1010, 0x20));
        t.extend(sym(3, 0x10, 3, 0x5000, 0));
        t.extend(sym(28, 0x10, 3, 0x5010, 0));
        (t, strtab)
    }

    #[test]
    fn headers_are_placed_by_the_symbols() {
        let (t, s) = table();
        let data = [0u8; 16];
        let out = assemble(&Parts {
            build_id: &[1, 2, 3, 4],
            machine: 62,
            symtab: &t,
            strtab: &s,
            init_data: Some(&data),
            other: vec![(".debug_line", b"xyz")],
        })
        .unwrap();
        let f = object::read::elf::ElfFile64::<object::LittleEndian>::parse(&out[..]).unwrap();
        use object::{Object, ObjectSection};
        let text = f.section_by_index(object::SectionIndex(1)).unwrap();
        assert_eq!((text.address(), text.size()), (0x1000, 0x30));
        assert_eq!(text.kind(), object::SectionKind::UninitializedData);
        let init = f.section_by_index(object::SectionIndex(3)).unwrap();
        assert_eq!(init.name().unwrap(), ".init.data");
        assert_eq!((init.address(), init.data().unwrap()), (0x5000, &data[..]));
        assert_eq!(
            f.section_by_name(".debug_line").unwrap().data().unwrap(),
            b"xyz"
        );
        assert!(f.section_by_name(MARK).is_some());
        assert_eq!(f.symbols().count(), 4);
        assert_eq!(f.build_id().unwrap(), Some(&[1u8, 2, 3, 4][..]));
    }

    #[test]
    fn a_blacklist_without_its_bytes_is_refused() {
        let (t, s) = table();
        let parts = |init: Option<&'static [u8]>| Parts {
            build_id: &[1],
            machine: 62,
            symtab: &t,
            strtab: &s,
            init_data: init,
            other: Vec::new(),
        };
        let e = assemble(&parts(None)).unwrap_err();
        assert!(e.contains("no .init.data came with them"), "{e}");
        let e = assemble(&parts(Some(&[]))).unwrap_err();
        assert!(e.contains("not inside the 0-byte .init.data"), "{e}");
        let e = assemble(&Parts {
            symtab: &t[..30],
            ..parts(None)
        })
        .unwrap_err();
        assert!(e.contains("not a whole number"), "{e}");
    }
}
