//! What a [`crate::Resolver`] resolves in: files, and the kernel's own
//! symbol listing.
//!
//! Every source is data the caller names; the resolver never reads `/proc`
//! or `/sys` on its own. The running kernel's kallsyms comes from
//! [`crate::Linker::kernel_symbols`] (or [`KernelSymbols::read`] of a saved
//! copy), which also records the running kernel's build-id.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Result;
use crate::sources::kallsyms::Kallsyms;

/// One input of a resolver.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Source {
    /// A user-space ELF file (executable, PIE or shared library). Probe
    /// points that name no object (perf syntax, `process.function(…)`)
    /// resolve in it; `process("PATH")` points open their own file.
    User(PathBuf),
    /// The kernel image (`vmlinux`, with `.symtab`; DWARF for files, lines
    /// and inlined sites).
    Vmlinux(PathBuf),
    /// A kernel module file (`.ko`).
    Module(PathBuf),
    /// A directory searched for `NAME.ko` when a probe point names module
    /// NAME (`/lib/modules/$(uname -r)`, or a debug package's tree).
    ModuleDir(PathBuf),
    /// A kallsyms listing: the namespace in which the kernel decides whether
    /// a name is unique, and the kernel's symbols when no vmlinux is given.
    /// With a vmlinux or System.map, it is used only if it describes that
    /// very build (same build-id where known, and the same layout).
    Kallsyms(KernelSymbols),
    /// A `System.map`: link-time addresses of the kernel image, without a vmlinux.
    SystemMap(PathBuf),
    /// A listing made by `probeaddr kallsyms-export` (file names with the
    /// symbols): `FUNC@FILE` without a vmlinux.
    SideTable(PathBuf),
    /// The kernel's BTF type information: a directory laid out like
    /// `/sys/kernel/btf` (`vmlinux` and one split file per module), or one
    /// file for the kernel image alone (raw BTF, or an ELF file with a
    /// `.BTF` section). Without DWARF it gives the parameters of kernel
    /// functions at their entries, by name and type (`vfs_read count`).
    /// It must describe the same build as the kernel's symbols.
    Btf(PathBuf),
}

/// A parsed kallsyms listing (`/proc/kallsyms` or a saved copy), shared
/// cheaply between a resolver and a linker.
#[derive(Debug, Clone)]
pub struct KernelSymbols {
    pub(crate) listing: Arc<Kallsyms>,
    /// The build-id of the kernel the listing was read from, when known.
    pub(crate) build_id: Option<Vec<u8>>,
}

impl KernelSymbols {
    /// Read and parse a kallsyms listing.
    pub fn read(path: &Path) -> Result<KernelSymbols> {
        Ok(KernelSymbols::from_listing(Kallsyms::read(path)?))
    }

    /// Parse listing text; `origin` names it in errors.
    pub fn parse(text: String, origin: &Path) -> Result<KernelSymbols> {
        Ok(KernelSymbols::from_listing(Kallsyms::parse(text, origin)?))
    }

    pub(crate) fn from_listing(listing: Kallsyms) -> KernelSymbols {
        KernelSymbols {
            listing: Arc::new(listing),
            build_id: None,
        }
    }

    /// The same listing, recorded as coming from a kernel with this build-id
    /// (`/sys/kernel/notes`), so that a vmlinux of another build is not
    /// taken for it.
    pub fn with_build_id(mut self, build_id: Option<Vec<u8>>) -> KernelSymbols {
        self.build_id = build_id;
        self
    }

    /// The file it was read from.
    pub fn origin(&self) -> &Path {
        self.listing.origin()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.listing.symbols().len()
    }

    /// True if the listing has no entries (never: parsing refuses that).
    pub fn is_empty(&self) -> bool {
        self.listing.symbols().is_empty()
    }

    /// True if `kptr_restrict` hid every address from the reader.
    pub fn addresses_hidden(&self) -> bool {
        self.listing.addresses_hidden()
    }
}
