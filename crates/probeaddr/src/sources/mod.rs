//! Readers of the files probeaddr analyses. They only read, and never the live
//! system on their own: paths (including `/proc/PID/maps`) come from the caller.
//! Private to the crate: the public API speaks of sources and locations, not
//! of ELF tables.

pub mod assembled;
pub mod btf;
pub mod debuginfo;
pub mod dwarf;
pub mod elf;
pub mod kallsyms;
pub mod lineprograms;
pub mod maps;
pub mod relocate;
pub mod sdt;
pub mod sidetable;
pub mod sysfs;
pub mod unitnames;
pub mod vars;

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

use crate::error::{Error, Result};

/// A hash of a name, for indexes that keep offsets instead of copies of
/// names: a lookup compares the few names under one hash.
pub(crate) fn hash_name(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

/// How many threads independent work is split over: the machine's, at
/// most 4.
pub(crate) fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
}

/// `work` of each of [`worker_threads`] contiguous chunks of `items`, in
/// chunk order; one chunk on this thread when there are fewer than `min`
/// items (threads do not pay for a probe point's few). A worker's panic is
/// resumed here.
pub(crate) fn in_chunks<T: Sync, R: Send>(
    items: &[T],
    min: usize,
    work: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let threads = worker_threads().min(items.len().max(1));
    if items.len() < min || threads == 1 {
        return vec![work(items)];
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let work = &work;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The user's cache directory: `$XDG_CACHE_HOME`, else `~/.cache`
/// (`None` without either variable).
pub(crate) fn cache_home() -> Option<std::path::PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
}

/// File bytes: memory-mapped when read from disk, owned when built in memory
/// (tests, fuzzing). Everything else borrows from this, nothing copies it.
#[derive(Debug)]
pub enum Bytes {
    /// A read-only mapping of a file.
    Mapped(memmap2::Mmap),
    /// Bytes in memory.
    Owned(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// An error unless `path` is a regular file (after symlinks): a directory,
/// FIFO, socket or device is named as such, before anything opens it.
pub(crate) fn regular_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let t = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .file_type();
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "is a directory, not a file"
    } else if t.is_fifo() {
        "is a FIFO, not a regular file"
    } else if t.is_socket() {
        "is a socket, not a regular file"
    } else if t.is_char_device() {
        "is a character device, not a regular file"
    } else if t.is_block_device() {
        "is a block device, not a regular file"
    } else {
        "is not a regular file"
    };
    Err(Error::new(crate::ErrorKind::Io, what).with_path(path))
}

impl Bytes {
    /// Tell the kernel how `range` of a mapping will be read (a hint: an
    /// error or owned bytes change nothing).
    pub(crate) fn advise(&self, range: Option<(u64, u64)>, advice: memmap2::Advice) {
        if let Bytes::Mapped(m) = self {
            let _ = match range {
                None => m.advise(advice),
                Some((off, len)) => m.advise_range(advice, off as usize, len as usize),
            };
        }
    }

    /// Map `path` read-only.
    pub fn map(path: &Path) -> Result<Bytes> {
        // Look before opening: opening a FIFO waits for a writer forever.
        regular_file(path)?;
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if meta.len() == 0 {
            return Ok(Bytes::Owned(Vec::new()));
        }
        // SAFETY: the mapping is read-only and private to this process. A file
        // truncated underneath us can still raise SIGBUS; that is the accepted
        // trade-off of every mmap-based ELF reader (perf, gdb, blazesym).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Bytes::Mapped(map))
    }
}
