//! A kernel image's symbols and line programs from a server's single
//! sections (`/buildid/ID/section/NAME`), instead of the whole debug
//! vmlinux: 23.8 MB of the Debian 6.1 kernel's 590 MB, enough for a
//! function named by its file (`init_once@fs/proc/inode.c`). The
//! sections are assembled into one ELF file in the cache
//! ([`crate::sources::assembled`]), kept as `HEX/probeaddr-vmlinux` beside
//! elfutils' own files (and cleaned with them), and the section files
//! are removed once it is complete.

use std::path::PathBuf;

use super::{Artifact, Client, Origin};
use crate::error::{Error, ErrorKind, Result};
use crate::sources::assembled::{self, Parts};
use crate::sources::elf::{hex, ElfObject};

/// The sections fetched, in order: those without which nothing can be
/// assembled, then those that may be absent (an image without a
/// `.debug_line_str` has DWARF < 5 line programs, or none; one without
/// `.init.data` must have no NOKPROBE_SYMBOL list, which
/// [`assembled::assemble`] checks).
const REQUIRED: [&str; 3] = [".symtab", ".strtab", ".debug_line"];
/// Sections a kernel may not have.
const OPTIONAL: [&str; 2] = [".init.data", ".debug_line_str"];

/// An assembled kernel image.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// Where it is (in the cache).
    pub path: PathBuf,
    /// The sections it holds, as the server named them.
    pub sections: Vec<String>,
    /// The bytes downloaded now (0: it was in the cache).
    pub downloaded: u64,
    /// A server that sent some of them now.
    pub url: Option<String>,
}

impl Client {
    /// Where the cache keeps the image assembled from sections.
    fn assembled_path(&self, build_id: &[u8]) -> PathBuf {
        self.cache
            .root()
            .join(hex(build_id))
            .join("probeaddr-vmlinux")
    }

    /// The kernel image `build_id`'s symbols and line programs, from the
    /// cache or assembled from the sections the servers send. An error
    /// names the section that could not be had (elfutils' server answers
    /// 503 when it cannot cut sections out of what it indexed).
    pub fn fetch_kernel_sections(&self, build_id: &[u8]) -> Result<Assembled> {
        let path = self.assembled_path(build_id);
        let complete = |p: &PathBuf| {
            ElfObject::open(p).is_ok_and(|e| {
                e.build_id() == Some(build_id) && assembled::is_assembled(&e) && e.has_symtab()
            })
        };
        if complete(&path) {
            return Ok(Assembled {
                path,
                sections: Vec::new(),
                downloaded: 0,
                url: None,
            });
        }
        let mut got: Vec<(String, PathBuf)> = Vec::new();
        let mut downloaded = 0;
        let mut url = None;
        let clean = |got: &[(String, PathBuf)]| {
            for (_, p) in got {
                let _ = std::fs::remove_file(p);
            }
        };
        for (name, required) in REQUIRED
            .iter()
            .map(|n| (n, true))
            .chain(OPTIONAL.iter().map(|n| (n, false)))
        {
            match self.fetch(build_id, &Artifact::Section(name.to_string())) {
                Ok(f) => {
                    if let Origin::Server { url: u, bytes } = &f.origin {
                        downloaded += bytes;
                        url.get_or_insert_with(|| u.clone());
                    }
                    got.push((name.to_string(), f.path));
                }
                Err(_) if !required => {}
                Err(e) => {
                    clean(&got);
                    return Err(e);
                }
            }
        }
        let read = |name: &str| -> Result<Vec<u8>> {
            let p = &got.iter().find(|(n, _)| n == name).expect("fetched").1;
            std::fs::read(p).map_err(|e| Error::io(p, e))
        };
        let maybe = |name: &str| -> Result<Option<Vec<u8>>> {
            match got.iter().any(|(n, _)| n == name) {
                true => read(name).map(Some),
                false => Ok(None),
            }
        };
        let (symtab, strtab, line) = (read(".symtab")?, read(".strtab")?, read(".debug_line")?);
        let (init, line_str) = (maybe(".init.data")?, maybe(".debug_line_str")?);
        let mut other = vec![(".debug_line", &line[..])];
        other.extend(line_str.as_deref().map(|d| (".debug_line_str", d)));
        let bytes = assembled::assemble(&Parts {
            build_id,
            machine: assembled::host_machine(),
            symtab: &symtab,
            strtab: &strtab,
            init_data: init.as_deref(),
            other,
        })
        .map_err(|why| {
            clean(&got);
            Error::new(
                ErrorKind::Malformed,
                format!(
                    "debuginfod: the sections sent for build-id {} do not make a kernel image: {why}",
                    hex(build_id)
                ),
            )
        })?;
        let cache_err = |e: std::io::Error| Error::io(&path, e);
        let (temp, mut file) = self.cache.temp_for(&path).map_err(cache_err)?;
        let written = std::io::Write::write_all(&mut file, &bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| self.cache.commit(&temp, &path, None));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            clean(&got);
            return Err(cache_err(e));
        }
        clean(&got);
        if !complete(&path) {
            let _ = std::fs::remove_file(&path);
            return Err(Error::new(
                ErrorKind::Malformed,
                "the kernel image assembled from sections does not read back as one",
            )
            .with_path(&path));
        }
        Ok(Assembled {
            path,
            sections: got.into_iter().map(|(n, _)| n).collect(),
            downloaded,
            url,
        })
    }
}
