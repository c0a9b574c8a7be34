//! Finding separate debug files the way gdb and elfutils do:
//!
//! 1. by build-id: `DIR/.build-id/ab/cdef….debug` for each debug directory;
//! 2. by `.gnu_debuglink`: `BINDIR/NAME`, `BINDIR/.debug/NAME`,
//!    `DIR/BINDIR/NAME` for each debug directory, accepted only if the file's
//!    CRC-32 equals the one in the link.
//!
//! A candidate whose build-id differs from the object's is an error (unless
//! the caller turns the check off): symbols from another build give wrong
//! addresses without any other sign.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::sources::elf::{hex, ElfObject};
use crate::sources::Bytes;

/// How a debug file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FoundBy {
    /// `.build-id/xx/rest.debug`.
    BuildId,
    /// `.gnu_debuglink` with a matching CRC.
    DebugLink,
    /// A distribution's place for kernel debug files
    /// (`/usr/lib/debug/boot/vmlinux-REL`, `…/lib/modules/REL/…/M.ko`),
    /// with the build-id asked for.
    KnownPath,
    /// Downloaded from a debuginfod server (or its cache).
    #[cfg(feature = "debuginfod")]
    Debuginfod,
}

/// Where to look and what to check.
#[derive(Debug, Clone)]
pub struct DebugSearch {
    /// Debug directories, searched in order (user's `--debug-dir` first,
    /// then `/usr/lib/debug`).
    pub dirs: Vec<PathBuf>,
    /// Refuse a debug file whose build-id differs from the object's.
    pub check_build_id: bool,
    /// Ask debuginfod servers when no local file is found.
    #[cfg(feature = "debuginfod")]
    pub debuginfod: Option<crate::debuginfod::Client>,
}

impl Default for DebugSearch {
    fn default() -> Self {
        DebugSearch {
            dirs: vec![PathBuf::from("/usr/lib/debug")],
            check_build_id: true,
            #[cfg(feature = "debuginfod")]
            debuginfod: None,
        }
    }
}

/// A separate debug file found for an object.
#[derive(Debug, Clone)]
pub struct DebugFile {
    /// The opened debug file.
    pub elf: ElfObject,
    /// How it was found.
    pub found_by: FoundBy,
    /// The URL a debuginfod server sent it from (`None`: from the cache,
    /// or not from debuginfod).
    pub url: Option<String>,
    /// Set when it was assembled from a server's single sections: their
    /// names and the bytes downloaded now (0: from the cache).
    pub sections: Option<(Vec<String>, u64)>,
    /// Why the sections asked for first could not be had, when the whole
    /// file came instead.
    pub sections_refused: Option<String>,
}

/// What may be downloaded from debuginfod when no local file has the
/// build-id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetch {
    /// Nothing: the local places only.
    Nothing,
    /// The whole debug file.
    Whole,
    /// For a kernel image, its symbols and line programs alone (single
    /// sections, a twenty-fifth of the file): enough to find a function
    /// by its file. The whole file when the servers cannot send them.
    Sections,
}

/// The outcome of a search: the file, if any, and every path tried.
#[derive(Debug)]
pub struct SearchResult {
    /// The debug file found.
    pub found: Option<DebugFile>,
    /// Every path looked at, in order.
    pub searched: Vec<PathBuf>,
}

/// The candidate paths for a build-id, in search order.
pub fn build_id_paths(build_id: &[u8], dirs: &[PathBuf]) -> Vec<PathBuf> {
    if build_id.len() < 2 {
        return Vec::new();
    }
    let h = hex(build_id);
    dirs.iter()
        .map(|d| {
            d.join(".build-id")
                .join(&h[..2])
                .join(format!("{}.debug", &h[2..]))
        })
        .collect()
}

/// The candidate paths for a debuglink name: next to `object_path`, in its
/// `.debug/`, under each debug directory by the object's directory (gdb's
/// order), and in each debug directory itself.
pub fn debuglink_paths(object_path: &Path, name: &str, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let abs = std::fs::canonicalize(object_path).unwrap_or_else(|_| object_path.to_path_buf());
    let dir = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut out = vec![dir.join(name), dir.join(".debug").join(name)];
    for d in dirs {
        let rel = dir.strip_prefix("/").unwrap_or(&dir);
        out.push(d.join(rel).join(name));
        // `--debug-dir DIR` holding the debug files themselves.
        out.push(d.join(name));
    }
    out.dedup();
    // A debug file that is the object itself is no help.
    out.retain(|p| std::fs::canonicalize(p).map_or(true, |c| c != abs));
    out
}

/// Look for the separate debug file of `object`: by build-id in each
/// debug directory, then by `.gnu_debuglink`, then from debuginfod. A
/// candidate of another build (or one that is not a readable ELF file) is
/// skipped, as gdb does; if nothing better turns up, the first such reason
/// is the error.
pub fn find(object: &ElfObject, search: &DebugSearch) -> Result<SearchResult> {
    let mut searched = Vec::new();
    let mut rejected: Option<Error> = None;
    let accept = |elf: Result<ElfObject>, rejected: &mut Option<Error>| match elf
        .and_then(|e| check_build_id(object, &e, search).map(|()| e))
    {
        Ok(e) => Some(e),
        Err(err) => {
            rejected.get_or_insert(err);
            None
        }
    };
    if let Some(id) = object.build_id() {
        for path in build_id_paths(id, &search.dirs) {
            searched.push(path.clone());
            if !path.is_file() {
                continue;
            }
            if let Some(elf) = accept(ElfObject::open(&path), &mut rejected) {
                return Ok(SearchResult {
                    found: Some(DebugFile {
                        elf,
                        found_by: FoundBy::BuildId,
                        url: None,
                        sections: None,
                        sections_refused: None,
                    }),
                    searched,
                });
            }
        }
    }
    if let Some(link) = object.debuglink() {
        for path in debuglink_paths(object.path(), &link.name, &search.dirs) {
            searched.push(path.clone());
            if !path.is_file() {
                continue;
            }
            let bytes = Bytes::map(&path)?;
            let crc = crc32fast::hash(&bytes);
            if crc != link.crc {
                // gdb skips such a file and keeps looking; so do we, but say
                // so if nothing better turns up.
                rejected.get_or_insert(Error::new(
                    ErrorKind::BuildIdMismatch,
                    format!(
                        "debug file {} has CRC {crc:08x} but .gnu_debuglink of {} expects {:08x}: it belongs to another build",
                        path.display(),
                        object.path().display(),
                        link.crc
                    ),
                ));
                continue;
            }
            if let Some(elf) = accept(ElfObject::from_bytes(&path, bytes), &mut rejected) {
                return Ok(SearchResult {
                    found: Some(DebugFile {
                        elf,
                        found_by: FoundBy::DebugLink,
                        url: None,
                        sections: None,
                        sections_refused: None,
                    }),
                    searched,
                });
            }
        }
    }
    #[cfg(feature = "debuginfod")]
    if let (Some(d), Some(id)) = (&search.debuginfod, object.build_id()) {
        if let Some((path, url)) = fetch(d, id, &mut searched) {
            if let Some(elf) = accept(ElfObject::open(&path), &mut rejected) {
                return Ok(SearchResult {
                    found: Some(DebugFile {
                        elf,
                        found_by: FoundBy::Debuginfod,
                        url,
                        sections: None,
                        sections_refused: None,
                    }),
                    searched,
                });
            }
        }
    }
    match rejected {
        Some(e) => Err(e),
        None => Ok(SearchResult {
            found: None,
            searched,
        }),
    }
}

/// The dwz supplementary file a debug file refers to: `.gnu_debugaltlink`
/// (a path, NUL, the file's build-id) or DWARF 5's `.debug_sup` (version 5,
/// not itself supplementary, a path, NUL, a ULEB128 length and the build-id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupLink {
    /// The path as written (absolute, or relative to the debug file).
    pub path: PathBuf,
    /// The supplementary file's build-id.
    pub build_id: Vec<u8>,
    /// The section that named it.
    pub section: &'static str,
}

/// The supplementary file `debug` names, if any. `Err` says what is wrong
/// with the section.
pub fn sup_link(debug: &ElfObject) -> std::result::Result<Option<SupLink>, String> {
    let data = |name: &str| {
        debug
            .sections()
            .iter()
            .find(|s| s.name == name && !s.is_nobits())
            .and_then(|s| {
                debug
                    .data()
                    .get(s.offset as usize..(s.offset + s.size) as usize)
            })
    };
    let split = |raw: &[u8]| -> Option<(PathBuf, usize)> {
        let nul = raw.iter().position(|&b| b == 0)?;
        let path = std::str::from_utf8(&raw[..nul]).ok()?;
        (!path.is_empty()).then(|| (PathBuf::from(path), nul + 1))
    };
    if let Some(raw) = data(".gnu_debugaltlink") {
        let (path, rest) = split(raw).ok_or(".gnu_debugaltlink is not a path and a build-id")?;
        return Ok(Some(SupLink {
            path,
            build_id: raw[rest..].to_vec(),
            section: ".gnu_debugaltlink",
        }));
    }
    if let Some(raw) = data(".debug_sup") {
        let bad = || ".debug_sup is not version 5 naming a supplementary file".to_string();
        match raw {
            [5, 0, 0, rest @ ..] => {
                let (path, at) = split(rest).ok_or_else(bad)?;
                let mut r = gimli::EndianSlice::new(&rest[at..], gimli::LittleEndian);
                let len = gimli::Reader::read_uleb128(&mut r).map_err(|_| bad())?;
                let id = r.slice().get(..len as usize).ok_or_else(bad)?;
                return Ok(Some(SupLink {
                    path,
                    build_id: id.to_vec(),
                    section: ".debug_sup",
                }));
            }
            // A supplementary file itself (is_supplementary = 1).
            [5, 0, 1, ..] => return Ok(None),
            _ => return Err(bad()),
        }
    }
    Ok(None)
}

/// Find and check the supplementary file `link` of `debug`, as gdb and
/// elfutils do: the path as written (relative to the debug file's
/// directory), the same path under each debug directory, then by build-id
/// in each. A candidate of another build is skipped. `Err` lists what was
/// looked at.
pub fn find_sup(
    debug: &ElfObject,
    link: &SupLink,
    search: &DebugSearch,
) -> std::result::Result<ElfObject, String> {
    let dir = debug.path().parent().unwrap_or(Path::new("/"));
    let mut paths = vec![dir.join(&link.path)];
    for d in &search.dirs {
        // `/usr/lib/debug/.dwz/x` under `--debug-dir D` is `D/.dwz/x`.
        let rel = link
            .path
            .strip_prefix("/usr/lib/debug")
            .or_else(|_| link.path.strip_prefix("/"))
            .unwrap_or(&link.path);
        paths.push(d.join(rel));
    }
    paths.extend(build_id_paths(&link.build_id, &search.dirs));
    paths.dedup();
    let mut why = Vec::new();
    for p in &paths {
        if !p.is_file() {
            why.push(format!("{} (absent)", p.display()));
            continue;
        }
        match ElfObject::open(p) {
            Ok(e) if e.build_id() == Some(&link.build_id[..]) || !search.check_build_id => {
                return Ok(e)
            }
            Ok(e) => why.push(format!(
                "{} (build-id {}, not {})",
                p.display(),
                e.build_id().map_or_else(|| "none".to_string(), hex),
                hex(&link.build_id)
            )),
            Err(e) => why.push(format!("{} ({})", p.display(), e.message())),
        }
    }
    Err(format!(
        "its dwz supplementary file ({} names {}, build-id {}) was not found: looked at {}",
        link.section,
        link.path.display(),
        hex(&link.build_id),
        why.join(", ")
    ))
}

fn check_build_id(object: &ElfObject, debug: &ElfObject, search: &DebugSearch) -> Result<()> {
    if !search.check_build_id {
        return Ok(());
    }
    match (object.build_id(), debug.build_id()) {
        (Some(a), Some(b)) if a != b => Err(Error::new(
            ErrorKind::BuildIdMismatch,
            format!(
                "build-id mismatch: {} has {} but debug file {} has {}; use the debug file of this exact build (or --no-build-id-check to override)",
                object.path().display(),
                hex(a),
                debug.path().display(),
                hex(b)
            ),
        )),
        (Some(a), None) => Err(Error::new(
            ErrorKind::BuildIdMismatch,
            format!(
                "debug file {} has no build-id, so it cannot be matched to {} (build-id {}); use --no-build-id-check to accept it",
                debug.path().display(),
                object.path().display(),
                hex(a)
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_path_layout() {
        let p = build_id_paths(&[0xab, 0xcd, 0xef], &[PathBuf::from("/usr/lib/debug")]);
        assert_eq!(
            p,
            vec![PathBuf::from("/usr/lib/debug/.build-id/ab/cdef.debug")]
        );
        assert!(build_id_paths(&[0xab], &[PathBuf::from("/d")]).is_empty());
    }

    #[test]
    fn debuglink_path_layout() {
        let p = debuglink_paths(
            Path::new("/nonexistent/bin/prog"),
            "prog.debug",
            &[PathBuf::from("/usr/lib/debug")],
        );
        assert_eq!(
            p,
            vec![
                PathBuf::from("/nonexistent/bin/prog.debug"),
                PathBuf::from("/nonexistent/bin/.debug/prog.debug"),
                PathBuf::from("/usr/lib/debug/nonexistent/bin/prog.debug"),
                // A directory of debug files named by their debuglinks
                // (what `--debug-dir DIR` often is); the CRC guards it.
                PathBuf::from("/usr/lib/debug/prog.debug"),
            ]
        );
    }
}

/// The debug file of `build_id` from debuginfod (or its cache): its path
/// and the URL it came from now, if it did; a failure is recorded among
/// the paths searched, in brackets.
#[cfg(feature = "debuginfod")]
fn fetch(
    d: &crate::debuginfod::Client,
    build_id: &[u8],
    searched: &mut Vec<PathBuf>,
) -> Option<(PathBuf, Option<String>)> {
    use crate::debuginfod::{Artifact, Origin};
    match d.fetch(build_id, &Artifact::Debuginfo) {
        Ok(f) => {
            searched.push(f.path.clone());
            let url = match f.origin {
                Origin::Server { url, .. } => Some(url),
                _ => None,
            };
            Some((f.path, url))
        }
        Err(e) => {
            searched.push(PathBuf::from(format!("[{}]", e.message())));
            None
        }
    }
}

/// What a build-id alone is looked for as (there is no object to start
/// from: the running kernel, a loaded module, a build-id given by hand).
#[derive(Debug, Clone, Copy)]
pub enum Wanted<'a> {
    /// Any file: the debug directories' `.build-id` links only.
    Any,
    /// The kernel image: also `boot/vmlinux-*`, `vmlinux-*` and
    /// `lib/modules/*/vmlinux` in each debug directory (Debian's and
    /// Fedora's kernel debug packages), `/boot/vmlinux-*` and
    /// `/lib/modules/*/build/vmlinux` (perf's list).
    Vmlinux,
    /// Module `NAME` (`-` and `_` alike): also `lib/modules/*/**/NAME.ko`
    /// in each debug directory.
    Module(&'a str),
}

/// The local candidates for `build_id` as `wanted`, in search order (each
/// still to be checked for the build-id).
fn local_candidates(
    build_id: &[u8],
    wanted: Wanted<'_>,
    dirs: &[PathBuf],
) -> Vec<(PathBuf, FoundBy)> {
    let mut out: Vec<(PathBuf, FoundBy)> = build_id_paths(build_id, dirs)
        .into_iter()
        .map(|p| (p, FoundBy::BuildId))
        .collect();
    let glob = |dir: &Path, keep: &dyn Fn(&str) -> bool| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_str().is_some_and(keep))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    match wanted {
        Wanted::Any => {}
        Wanted::Vmlinux => {
            let vmlinux = |n: &str| n.starts_with("vmlinux-");
            for d in dirs {
                out.extend(
                    glob(&d.join("boot"), &vmlinux)
                        .into_iter()
                        .map(|p| (p, FoundBy::KnownPath)),
                );
                out.extend(
                    glob(d, &vmlinux)
                        .into_iter()
                        .map(|p| (p, FoundBy::KnownPath)),
                );
                for rel in glob(&d.join("lib/modules"), &|_| true) {
                    out.push((rel.join("vmlinux"), FoundBy::KnownPath));
                }
            }
            out.extend(
                glob(Path::new("/boot"), &vmlinux)
                    .into_iter()
                    .map(|p| (p, FoundBy::KnownPath)),
            );
            for rel in glob(Path::new("/lib/modules"), &|_| true) {
                out.push((rel.join("build/vmlinux"), FoundBy::KnownPath));
            }
        }
        Wanted::Module(name) => {
            let want = format!("{}.ko", name.replace('-', "_"));
            for d in dirs {
                for rel in glob(&d.join("lib/modules"), &|_| true) {
                    let mut found = Vec::new();
                    walk_for(&rel, &want, &mut found, 0);
                    found.sort();
                    out.extend(found.into_iter().map(|p| (p, FoundBy::KnownPath)));
                }
            }
        }
    }
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Files under `dir` named `want` (with `-` read as `_`), at most 8 deep.
fn walk_for(dir: &Path, want: &str, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() && depth < 8 {
            walk_for(&e.path(), want, out, depth + 1);
        } else if e
            .file_name()
            .to_str()
            .is_some_and(|n| n.replace('-', "_") == want)
        {
            out.push(e.path());
        }
    }
}

/// Find the file with `build_id` as `wanted` from its build-id alone: in
/// the local places, each checked for the build-id; then, as `fetch`
/// allows, from debuginfod. Files of another build are skipped (and named
/// among the paths searched).
pub fn find_by_build_id(
    build_id: &[u8],
    wanted: Wanted<'_>,
    search: &DebugSearch,
    fetch: Fetch,
) -> Result<SearchResult> {
    let mut searched = Vec::new();
    for (path, how) in local_candidates(build_id, wanted, &search.dirs) {
        if !path.is_file() {
            if how == FoundBy::BuildId {
                searched.push(path);
            }
            continue;
        }
        searched.push(path.clone());
        let Ok(elf) = ElfObject::open(&path) else {
            continue;
        };
        if elf.build_id() == Some(build_id) {
            return Ok(SearchResult {
                found: Some(DebugFile {
                    elf,
                    found_by: how,
                    url: None,
                    sections: None,
                    sections_refused: None,
                }),
                searched,
            });
        }
    }
    #[cfg(feature = "debuginfod")]
    let mut refused = None;
    #[cfg(feature = "debuginfod")]
    if let (Fetch::Sections, Wanted::Vmlinux, Some(d)) = (fetch, wanted, &search.debuginfod) {
        // The whole file already in the cache is better than sections.
        let whole = d.cache_path(build_id, &crate::debuginfod::Artifact::Debuginfo);
        if !std::fs::metadata(&whole).is_ok_and(|m| m.len() > 0) {
            match d.fetch_kernel_sections(build_id) {
                Ok(a) => {
                    searched.push(a.path.clone());
                    let elf = ElfObject::open(&a.path)?;
                    return Ok(SearchResult {
                        found: Some(DebugFile {
                            elf,
                            found_by: FoundBy::Debuginfod,
                            url: a.url,
                            sections: Some((a.sections, a.downloaded)),
                            sections_refused: None,
                        }),
                        searched,
                    });
                }
                Err(e) => {
                    searched.push(PathBuf::from(format!(
                        "[sections: {}; so the whole file]",
                        e.message()
                    )));
                    refused = Some(e.message().to_string());
                }
            }
        }
    }
    #[cfg(feature = "debuginfod")]
    if let (Fetch::Whole | Fetch::Sections, Some(d)) = (fetch, &search.debuginfod) {
        if let Some((path, url)) = self::fetch(d, build_id, &mut searched) {
            let elf = ElfObject::open(&path)?;
            return Ok(SearchResult {
                found: Some(DebugFile {
                    elf,
                    found_by: FoundBy::Debuginfod,
                    url,
                    sections: None,
                    sections_refused: refused,
                }),
                searched,
            });
        }
    }
    #[cfg(not(feature = "debuginfod"))]
    let _ = fetch;
    Ok(SearchResult {
        found: None,
        searched,
    })
}
