//! Where the debug information for a file, a build-id, the running kernel
//! or one of its modules comes from: the object itself, a debug
//! directory's `.build-id` link, `.gnu_debuglink`, a distribution's kernel
//! debug paths, or a debuginfod server — the one search every command
//! uses, shown to the user by `probeaddr debuginfo`.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::resolve::ResolveOptions;
pub use crate::sources::debuginfo::Fetch;
use crate::sources::debuginfo::{self, DebugSearch, FoundBy, Wanted};
use crate::sources::elf::{hex, ElfObject};

/// What to find the debug file of.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DebugTarget<'a> {
    /// An ELF file on disk (its own tables count, then its separate
    /// debug file is looked for as gdb does).
    Object(&'a Path),
    /// A build-id alone, for any kind of file.
    BuildId(&'a [u8]),
    /// The kernel image with this build-id (`/sys/kernel/notes`).
    Vmlinux(&'a [u8]),
    /// Module `name` with this build-id (`/sys/module/NAME/notes`).
    Module(&'a str, &'a [u8]),
}

/// How a debug file was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DebugOrigin {
    /// The object carries its own `.symtab` and DWARF.
    Itself,
    /// A debug directory's `.build-id/xx/….debug`.
    BuildIdDir,
    /// `.gnu_debuglink`, with a matching CRC.
    DebugLink,
    /// A distribution's kernel debug path (`/usr/lib/debug/boot/vmlinux-…`,
    /// `…/lib/modules/…/NAME.ko`), with the build-id asked for.
    KnownPath,
    /// A debuginfod server (`url`), or its cache (`url` is `None`).
    Debuginfod {
        /// The URL it was downloaded from now.
        url: Option<String>,
    },
    /// A kernel image assembled from a debuginfod server's single
    /// sections (symbols and line programs, not the whole file).
    DebuginfodSections {
        /// A URL that sent some of them now (`None`: from the cache).
        url: Option<String>,
        /// The sections it holds.
        sections: Vec<String>,
        /// The bytes downloaded now.
        downloaded: u64,
    },
}

/// A debug file and how it was found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FoundDebugFile {
    /// Its path.
    pub path: PathBuf,
    /// How it was found.
    pub origin: DebugOrigin,
    /// Its build-id, in hex.
    pub build_id: Option<String>,
    /// It has DWARF (`.debug_info`): files, lines, inlined sites, types.
    pub dwarf: bool,
    /// It has a `.symtab`: every function, `static` ones included.
    pub symtab: bool,
    /// Why the sections asked for first could not be had, when the whole
    /// file was fetched instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sections_refused: Option<String>,
}

/// The outcome of [`find_debug_file`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct DebugLookup {
    /// The build-id looked for (the object's, or the one given), in hex.
    pub build_id: Option<String>,
    /// The debug file, if one was found.
    pub found: Option<FoundDebugFile>,
    /// Every place looked at, in order (a debuginfod failure is written
    /// in brackets).
    pub searched: Vec<String>,
}

impl DebugSearch {
    /// The search `options` ask for: their debug directories, then
    /// `/usr/lib/debug`; their debuginfod client.
    pub(crate) fn from_options(options: &ResolveOptions) -> DebugSearch {
        let mut search = DebugSearch::default();
        search.dirs.splice(0..0, options.debug_dirs.iter().cloned());
        search.check_build_id = options.check_build_id;
        #[cfg(feature = "debuginfod")]
        {
            search.debuginfod = options.debuginfod.clone();
        }
        search
    }
}

fn described(elf: &ElfObject, origin: DebugOrigin) -> FoundDebugFile {
    FoundDebugFile {
        path: elf.path().to_path_buf(),
        origin,
        build_id: elf.build_id().map(hex),
        dwarf: elf.has_debug_info(),
        symtab: elf.has_symtab(),
        sections_refused: None,
    }
}

/// Find the debug file of `target` the way resolving does: local places
/// first, then (as `fetch` allows, when `options` have a client)
/// debuginfod.
/// For the kernel and modules, a local file is taken only with the
/// build-id asked for.
pub fn find_debug_file(
    target: DebugTarget<'_>,
    options: &ResolveOptions,
    fetch: Fetch,
) -> Result<DebugLookup> {
    let search = DebugSearch::from_options(options);
    #[cfg_attr(not(feature = "debuginfod"), allow(unused_variables))]
    let origin = |how: FoundBy, url: Option<String>, sections: Option<(Vec<String>, u64)>| match how
    {
        FoundBy::BuildId => DebugOrigin::BuildIdDir,
        FoundBy::DebugLink => DebugOrigin::DebugLink,
        FoundBy::KnownPath => DebugOrigin::KnownPath,
        #[cfg(feature = "debuginfod")]
        FoundBy::Debuginfod => match sections {
            Some((sections, downloaded)) => DebugOrigin::DebuginfodSections {
                url,
                sections,
                downloaded,
            },
            None => DebugOrigin::Debuginfod { url },
        },
    };
    let listed = |v: Vec<PathBuf>| v.iter().map(|p| p.display().to_string()).collect();
    let (id, result) = match target {
        DebugTarget::Object(path) => {
            let elf = ElfObject::open(path)?;
            let id = elf.build_id().map(hex);
            if elf.has_symtab() && elf.has_debug_info() {
                return Ok(DebugLookup {
                    build_id: id,
                    found: Some(described(&elf, DebugOrigin::Itself)),
                    searched: Vec::new(),
                });
            }
            #[cfg(feature = "debuginfod")]
            let search = DebugSearch {
                debuginfod: search.debuginfod.filter(|_| fetch != Fetch::Nothing),
                ..search
            };
            (id, debuginfo::find(&elf, &search)?)
        }
        DebugTarget::BuildId(id) => (
            Some(hex(id)),
            debuginfo::find_by_build_id(id, Wanted::Any, &search, fetch)?,
        ),
        DebugTarget::Vmlinux(id) => (
            Some(hex(id)),
            debuginfo::find_by_build_id(id, Wanted::Vmlinux, &search, fetch)?,
        ),
        DebugTarget::Module(name, id) => (
            Some(hex(id)),
            debuginfo::find_by_build_id(id, Wanted::Module(name), &search, fetch)?,
        ),
    };
    Ok(DebugLookup {
        build_id: id,
        found: result.found.map(|d| FoundDebugFile {
            sections_refused: d.sections_refused,
            ..described(&d.elf, origin(d.found_by, d.url, d.sections))
        }),
        searched: listed(result.searched),
    })
}
