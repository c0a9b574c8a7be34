//! User-space linking: the base is the process's mapping of the file
//! (`/proc/PID/maps`); the mapping that covers the location's file offset
//! gives `start + (file_offset - map_offset)`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::addr::{FileOffset, RuntimeAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::sources::maps::Mapping;

/// The mappings of one object in one process.
#[derive(Debug, Clone)]
pub(crate) struct ProcessImage {
    maps: Vec<Mapping>,
    describe: String,
}

impl ProcessImage {
    /// Select the mappings of `object` among a process's `maps`. A mapping is
    /// the object's if its path is the object's canonical path, or if its
    /// device and inode are the object's (the path can differ through bind
    /// mounts and symlinks). `describe` names the process in errors
    /// (`process 1234`).
    pub fn new(object: &Path, maps: &[Mapping], describe: &str) -> Result<ProcessImage> {
        let canon = std::fs::canonicalize(object).map_err(|e| Error::io(object, e))?;
        let meta = std::fs::metadata(&canon).map_err(|e| Error::io(object, e))?;
        let (dev, ino) = (meta.dev(), meta.ino());
        let (maj, min) = (dev_major(dev), dev_minor(dev));
        let mine: Vec<Mapping> = maps
            .iter()
            .filter(|m| {
                m.path.as_deref() == Some(canon.as_path())
                    || (m.inode != 0 && m.inode == ino && m.dev == (maj, min) && m.path.is_some())
            })
            .cloned()
            .collect();
        if mine.is_empty() {
            return Err(Error::new(
                ErrorKind::NotMapped,
                format!(
                    "{} is not mapped in {describe}; is it the right process, and has it loaded this file yet?",
                    canon.display()
                ),
            ));
        }
        Ok(ProcessImage {
            maps: mine,
            describe: describe.to_string(),
        })
    }

    /// The file offset of a runtime address in one of the object's
    /// mappings, if it is in one.
    pub fn file_offset(&self, a: RuntimeAddr) -> Option<FileOffset> {
        self.maps.iter().find_map(|m| {
            (m.start <= a && a < m.end)
                .then(|| FileOffset(m.offset.get() + (a.get() - m.start.get())))
        })
    }

    /// The runtime address of a file offset of the object.
    pub fn runtime_addr(&self, off: FileOffset) -> Result<RuntimeAddr> {
        // Prefer an executable mapping: a file can be mapped twice (e.g.
        // read-only for data and r-x for text) over the same offsets.
        let mut ms: Vec<&Mapping> = self.maps.iter().collect();
        ms.sort_by_key(|m| !m.is_exec());
        ms.iter().find_map(|m| m.runtime_addr(off)).ok_or_else(|| {
            Error::new(
                ErrorKind::NotMapped,
                format!(
                    "file offset {off} of {} is not in any of its mappings in {}",
                    self.maps[0]
                        .path
                        .as_deref()
                        .unwrap_or(Path::new("?"))
                        .display(),
                    self.describe
                ),
            )
        })
    }
}

/// glibc's `major()` for a Linux `dev_t`.
fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

/// glibc's `minor()` for a Linux `dev_t`.
fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_split() {
        // glibc makedev(8, 1) and makedev(0x1234, 0x56789): the major
        // number splits at bit 12, the minor at bit 8.
        assert_eq!((dev_major(0x801), dev_minor(0x801)), (8, 1));
        assert_eq!(
            (dev_major(0x1000_5672_3489), dev_minor(0x1000_5672_3489)),
            (0x1234, 0x56789)
        );
    }
}
