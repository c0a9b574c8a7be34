//! `/proc/PID/maps`: which file is mapped where in a process.

use std::path::{Path, PathBuf};

use crate::addr::{FileOffset, RuntimeAddr};
use crate::error::{Error, ErrorKind, Result};

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Start of the mapping.
    pub start: RuntimeAddr,
    /// End (exclusive).
    pub end: RuntimeAddr,
    /// `rwxp` flags as printed.
    pub perms: String,
    /// File offset of `start`.
    pub offset: FileOffset,
    /// Device, `(major, minor)`.
    pub dev: (u32, u32),
    /// Inode (0 for anonymous mappings).
    pub inode: u64,
    /// Path, without a trailing ` (deleted)`; `None` for anonymous mappings,
    /// `[heap]`, `[stack]`, `[vdso]` and the like are kept as written.
    pub path: Option<PathBuf>,
    /// True if the kernel marked the file `(deleted)`.
    pub deleted: bool,
}

impl Mapping {
    /// True if the mapping is executable.
    pub fn is_exec(&self) -> bool {
        self.perms.as_bytes().get(2) == Some(&b'x')
    }

    /// The runtime address of a file offset, if this mapping covers it.
    pub fn runtime_addr(&self, off: FileOffset) -> Option<RuntimeAddr> {
        let delta = off.get().checked_sub(self.offset.get())?;
        (delta < self.end.get() - self.start.get()).then(|| RuntimeAddr(self.start.get() + delta))
    }
}

/// Parse the text of a maps file. `origin` names it in errors.
pub fn parse(text: &str, origin: &Path) -> Result<Vec<Mapping>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            parse_line(line).ok_or_else(|| {
                Error::new(
                    ErrorKind::BadInput,
                    format!(
                        "line {}: not a /proc/PID/maps line: {:?}",
                        n + 1,
                        truncate(line)
                    ),
                )
                .with_path(origin)
            })
        })
        .collect()
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn parse_line(line: &str) -> Option<Mapping> {
    // start-end perms offset dev inode [path]; the path may contain spaces.
    let mut rest = line;
    let mut field = || -> Option<&str> {
        let t = rest.trim_start_matches(' ');
        let end = t.find(' ').unwrap_or(t.len());
        let (f, r) = t.split_at(end);
        rest = r;
        (!f.is_empty()).then_some(f)
    };
    let range = field()?;
    let perms = field()?;
    let offset = field()?;
    let dev = field()?;
    let inode = field()?;
    let (s, e) = range.split_once('-')?;
    let start = u64::from_str_radix(s, 16).ok()?;
    let end = u64::from_str_radix(e, 16).ok()?;
    if end < start || perms.len() != 4 {
        return None;
    }
    let (maj, min) = dev.split_once(':')?;
    let path_text = rest.trim_start_matches(' ');
    let (path, deleted) = if path_text.is_empty() {
        (None, false)
    } else if let Some(p) = path_text.strip_suffix(" (deleted)") {
        (Some(PathBuf::from(p)), true)
    } else {
        (Some(PathBuf::from(path_text)), false)
    };
    Some(Mapping {
        start: RuntimeAddr(start),
        end: RuntimeAddr(end),
        perms: perms.to_string(),
        offset: FileOffset(u64::from_str_radix(offset, 16).ok()?),
        dev: (
            u32::from_str_radix(maj, 16).ok()?,
            u32::from_str_radix(min, 16).ok()?,
        ),
        inode: inode.parse().ok()?,
        path,
        deleted,
    })
}

/// Read and parse `/proc/PID/maps`.
pub fn read_pid(pid: u32) -> Result<Vec<Mapping>> {
    let path = PathBuf::from(format!("/proc/{pid}/maps"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::new(ErrorKind::NotMapped, format!("no process with pid {pid}")).with_path(&path)
        } else {
            Error::io(&path, e)
        }
    })?;
    parse(&text, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c8a4b000-55d0c8a4c000 r--p 00000000 08:01 1234                       /tmp/my prog
55d0c8a4c000-55d0c8a4d000 r-xp 00001000 08:01 1234                       /tmp/my prog
7ffd1c3e0000-7ffd1c401000 rw-p 00000000 00:00 0                          [stack]
7f0000000000-7f0000001000 r-xp 00002000 fd:02 99 /usr/lib/libx.so (deleted)
7f0000002000-7f0000003000 rw-p 00000000 00:00 0 
";

    #[test]
    fn parses_real_shapes() {
        let m = parse(MAPS, Path::new("maps")).unwrap();
        assert_eq!(m.len(), 5);
        assert_eq!(m[1].path.as_deref(), Some(Path::new("/tmp/my prog")));
        assert!(m[1].is_exec());
        assert_eq!(
            m[1].runtime_addr(FileOffset(0x1175)),
            Some(RuntimeAddr(0x55d0c8a4c175))
        );
        assert_eq!(m[1].runtime_addr(FileOffset(0x2000)), None);
        assert_eq!(m[3].dev, (0xfd, 2));
        assert!(m[3].deleted);
        assert_eq!(m[4].path, None);
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        let e = parse("hello world\n", Path::new("/x/maps")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/x/maps: line 1: not a /proc/PID/maps line: \"hello world\""
        );
    }
}
