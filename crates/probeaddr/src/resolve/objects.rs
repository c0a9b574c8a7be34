//! The objects a resolver opens: user-space files, the kernel image,
//! modules, and symbol listings (kallsyms, System.map, exported side
//! tables). Opening checks that a file is what it is given as, and finds its
//! symbols; what a location in it is, is the pipeline's business.

use std::path::{Path, PathBuf};

use crate::addr::LinkAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::object::{AnalysedObject, SymbolSource};
use crate::source::KernelSymbols;
use crate::sources::debuginfo::DebugSearch;
use crate::sources::elf::{ElfObject, ObjectKind};
use crate::sources::kallsyms::Kallsyms;

/// A user-space ELF file (executable, PIE or shared library).
#[derive(Debug)]
pub(crate) struct UserObject {
    pub obj: AnalysedObject,
}

impl UserObject {
    /// Open `path`, and find its symbols: its own `.symtab`, else a separate
    /// debug file (by build-id or `.gnu_debuglink`), else its `.dynsym`.
    pub fn open(path: &Path, search: &DebugSearch) -> Result<UserObject> {
        let elf = ElfObject::open(path)?;
        if elf.kind() == ObjectKind::Relocatable {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "a relocatable object (ET_REL, a .o or .ko): uprobes need a linked executable or shared library",
            )
            .with_path(path));
        }
        // The symbol index is built lazily: a literal name never needs it.
        Ok(UserObject {
            obj: AnalysedObject::new(elf, search)?,
        })
    }
}

/// A vmlinux image opened for analysis.
#[derive(Debug)]
pub(crate) struct Vmlinux {
    pub obj: AnalysedObject,
    text: LinkAddr,
    blacklist: std::sync::OnceLock<crate::blacklist::KprobeBlacklist>,
}

impl Vmlinux {
    /// Open a vmlinux (`ET_EXEC` with a `.symtab` holding `_text`).
    pub fn open(path: &Path, search: &DebugSearch) -> Result<Vmlinux> {
        let elf = ElfObject::open(path)?;
        if elf.kind() != ObjectKind::Executable {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "not a vmlinux: expected an ET_EXEC image (a .ko is given with -m; a bzImage/vmlinuz is compressed: use the vmlinux from the debug package)",
            )
            .with_path(path));
        }
        let stripped = |detail: &str| {
            Error::new(
                ErrorKind::NoSymbols,
                format!("stripped vmlinux: no .symtab; use the unstripped vmlinux (Debian: linux-image-*-dbg, /usr/lib/debug/boot/vmlinux-*){detail}"),
            )
            .with_path(path)
        };
        let obj = AnalysedObject::new(elf, search).map_err(|e| {
            if e.kind() == ErrorKind::NoSymbols {
                stripped(&format!(" ({})", e.message()))
            } else {
                e
            }
        })?;
        if *obj.symbol_source() == SymbolSource::DynsymOnly
            || !obj.elf().has_symtab() && obj.debug_file().is_none()
        {
            return Err(stripped(""));
        }
        // The whole index: every kernel query needs it, and reading the
        // table once for `_text` alone would read it twice.
        let text = obj
            .index()?
            .named("_text")
            .next()
            .map(|s| s.addr)
            .ok_or_else(|| {
                Error::new(ErrorKind::Unsupported, "not a vmlinux: no _text symbol").with_path(path)
            })?;
        Ok(Vmlinux {
            obj,
            text,
            blacklist: std::sync::OnceLock::new(),
        })
    }

    /// Link-time `_text`.
    pub fn text(&self) -> LinkAddr {
        self.text
    }
    /// Where the kernel refuses kprobes (read on first use).
    pub fn kprobe_blacklist(&self) -> &crate::blacklist::KprobeBlacklist {
        self.blacklist
            .get_or_init(|| crate::blacklist::KprobeBlacklist::of_vmlinux(&self.obj))
    }
    /// Path.
    pub fn path(&self) -> &Path {
        self.obj.elf().path()
    }
    /// Build-id.
    pub fn build_id(&self) -> Option<&[u8]> {
        self.obj.elf().build_id()
    }
}

/// A kernel module file (`.ko`, `ET_REL`): symbol values are offsets into
/// their sections, which the loader places independently.
#[derive(Debug)]
pub(crate) struct ModuleFile {
    pub obj: AnalysedObject,
    name: String,
}

impl ModuleFile {
    /// Open a `.ko`.
    pub fn open(path: &Path, search: &DebugSearch) -> Result<ModuleFile> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "xz" | "zst" | "gz") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("compressed module (.{ext}): decompress it first (e.g. unxz / unzstd)"),
            )
            .with_path(path));
        }
        let elf = ElfObject::open(path)?;
        if elf.kind() != ObjectKind::Relocatable {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "not a kernel module: expected an ET_REL .ko",
            )
            .with_path(path));
        }
        let name = modinfo_name(&elf).unwrap_or_else(|| module_file_name(path));
        let obj = AnalysedObject::new(elf, search)?;
        Ok(ModuleFile { obj, name })
    }

    /// The module's name (`.modinfo` `name=`, else the file name).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Path.
    pub fn path(&self) -> &Path {
        self.obj.elf().path()
    }
}

fn modinfo_name(elf: &ElfObject) -> Option<String> {
    let s = elf
        .sections()
        .iter()
        .find(|s| s.name == ".modinfo" && !s.is_nobits())?;
    let data = elf
        .data()
        .get(s.offset as usize..(s.offset + s.size) as usize)?;
    data.split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(b"name="))
        .and_then(|n| std::str::from_utf8(n).ok())
        .map(str::to_string)
}

/// Find `NAME.ko` under a module directory (`-` and `_` are the same in
/// module names).
pub(crate) fn find_module(dir: &Path, name: &str) -> Result<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    let mut compressed = None;
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for e in rd.flatten() {
            let p = e.path();
            let ft = match e.file_type() {
                Ok(t) => t,
                Err(_) => continue,
            };
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            let Some(fname) = p.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let Some((stem, ext)) = fname.split_once('.') else {
                continue;
            };
            if !same_module(stem, name) {
                continue;
            }
            if ext == "ko" {
                return Ok(p);
            }
            if ext.starts_with("ko.") {
                compressed = Some(p);
            }
        }
    }
    match compressed {
        Some(p) => Err(Error::new(
            ErrorKind::Unsupported,
            "compressed module: decompress it first (unxz / unzstd)",
        )
        .with_path(&p)),
        None => Err(Error::new(
            ErrorKind::NotFound,
            format!("no module {name}.ko under {}", dir.display()),
        )),
    }
}

/// A listing of kernel symbols: kallsyms of one boot (runtime addresses),
/// or a System.map or exported side table (link-time addresses of one build).
#[derive(Debug)]
pub(crate) struct Listing {
    pub symbols: KernelSymbols,
    /// Link-time addresses (System.map, side table), not runtime ones.
    pub link_time: bool,
    /// The build-id a side table records.
    pub build_id: Option<Vec<u8>>,
}

impl Listing {
    /// The running kernel's listing (runtime addresses).
    pub fn kallsyms(symbols: KernelSymbols) -> Listing {
        Listing {
            symbols,
            link_time: false,
            build_id: None,
        }
    }

    /// A System.map.
    pub fn system_map(path: &Path) -> Result<Listing> {
        Ok(Listing {
            symbols: KernelSymbols::from_listing(Kallsyms::read(path)?),
            link_time: true,
            build_id: None,
        })
    }

    /// An exported side table (`kallsyms-export`); the sidetable scheme is
    /// turned into a listing with the running kernel's kallsyms.
    pub fn side_table(path: &Path, live: Option<&KernelSymbols>) -> Result<Listing> {
        let imp = crate::sources::sidetable::import(path, live.map(|k| &*k.listing))?;
        Ok(Listing {
            symbols: KernelSymbols::from_listing(imp.symbols),
            link_time: true,
            build_id: imp.build_id.as_deref().and_then(crate::sources::elf::unhex),
        })
    }

    pub fn ks(&self) -> &Kallsyms {
        &self.symbols.listing
    }

    /// The path of the listing.
    pub fn origin(&self) -> &Path {
        self.ks().origin()
    }

    /// Link-time `_text` (for a listing of link-time addresses; a kallsyms
    /// listing's `_text` is a runtime address).
    pub fn text(&self) -> Option<LinkAddr> {
        self.ks()
            .vmlinux_unique("_text")
            .map(|t| LinkAddr(t.addr.get()))
    }
}

/// Module names compare with `-` and `_` as one.
pub(crate) fn same_module(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (x == b'-' || x == b'_') && (y == b'-' || y == b'_'))
}

/// The module a `.ko` file name names (`nf-nat.ko.xz` → `nf_nat`), for a
/// module without `.modinfo`.
fn module_file_name(p: &Path) -> String {
    let f = p.file_name().and_then(|f| f.to_str()).unwrap_or("module");
    f.split('.').next().unwrap_or(f).replace('-', "_")
}
