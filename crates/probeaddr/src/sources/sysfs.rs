//! The few sysfs files linking needs: module section bases
//! (`/sys/module/M/sections/.text`), and build-id notes
//! (`/sys/kernel/notes`, `/sys/module/M/notes/.note.gnu.build-id`).
//!
//! The root is a parameter (`/sys` by default) so that tests run against a
//! directory tree standing in for it.

use std::path::{Path, PathBuf};

use crate::addr::RuntimeAddr;
use crate::error::{Error, ErrorKind, Result};

/// A sysfs tree (the real `/sys`, or a stand-in).
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs {
            root: PathBuf::from("/sys"),
        }
    }
}

impl Sysfs {
    /// A tree rooted at `root` (holding `module/` and `kernel/`).
    pub fn new(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs { root: root.into() }
    }

    /// True if module `name` is loaded (has a `sections` directory).
    pub fn module_loaded(&self, name: &str) -> bool {
        self.root
            .join("module")
            .join(name)
            .join("sections")
            .is_dir()
    }

    /// The runtime base of one section of a loaded module.
    pub fn module_section(&self, module: &str, section: &str) -> Result<RuntimeAddr> {
        if !self.module_loaded(module) {
            return Err(Error::new(
                ErrorKind::NotMapped,
                format!(
                    "module {module} is not loaded (no {}); load it (modprobe {module}) or give --sysfs",
                    self.root.join("module").join(module).join("sections").display()
                ),
            ));
        }
        let path = self
            .root
            .join("module")
            .join(module)
            .join("sections")
            .join(section);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::new(
                    ErrorKind::NotMapped,
                    format!("module {module} has no section {section} loaded (freed after init, or not in this build)"),
                )
                .with_path(&path)
            } else {
                Error::io(&path, e)
            }
        })?;
        let t = text.trim();
        let v = parse_section_address(t).ok_or_else(|| {
            Error::new(ErrorKind::BadInput, format!("not a section address: {t:?}"))
                .with_path(&path)
        })?;
        if v == 0 {
            return Err(Error::new(
                ErrorKind::BadInput,
                "section address is 0: kptr_restrict hides it; read it as root",
            )
            .with_path(&path));
        }
        Ok(RuntimeAddr(v))
    }

    /// The build-id of the running kernel, from `kernel/notes`.
    pub fn kernel_build_id(&self) -> Result<Option<Vec<u8>>> {
        self.notes_build_id(&self.root.join("kernel").join("notes"))
    }

    /// The build-id of a loaded module.
    pub fn module_build_id(&self, module: &str) -> Result<Option<Vec<u8>>> {
        self.notes_build_id(
            &self
                .root
                .join("module")
                .join(module)
                .join("notes")
                .join(".note.gnu.build-id"),
        )
    }

    /// The running kernel's kprobe blacklist,
    /// `kernel/debug/kprobes/blacklist` (debugfs): `(start, end, symbol)`
    /// of every range it refuses. `Ok(None)` when the file is not there
    /// (debugfs not mounted, or no kprobes). Addresses read as 0 (not root:
    /// kptr_restrict) are left out.
    pub fn kprobe_blacklist(&self) -> Result<Option<Vec<(u64, u64, String)>>> {
        let path = self
            .root
            .join("kernel")
            .join("debug")
            .join("kprobes")
            .join("blacklist");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        Ok(Some(parse_kprobe_blacklist(&text)))
    }

    fn notes_build_id(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        parse_build_id_note(&data)
            .map_err(|what| Error::new(ErrorKind::BadInput, what).with_path(path))
    }
}

/// The lines of the kprobe blacklist, `0xSTART-0xEND\tSYMBOL` (some
/// entries name a whole section: `[entry]`, `[noinstr]`). Malformed lines
/// and zeroed addresses are skipped.
pub fn parse_kprobe_blacklist(text: &str) -> Vec<(u64, u64, String)> {
    let hex = |s: &str| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok();
    text.lines()
        .filter_map(|l| {
            let (range, sym) = l.split_once(char::is_whitespace)?;
            let (a, b) = range.split_once('-')?;
            let (a, b) = (hex(a)?, hex(b)?);
            (a != 0 && a < b).then(|| (a, b, sym.trim().to_string()))
        })
        .collect()
}

/// A module section file's text (`0xffffffffc0a1b000`).
pub fn parse_section_address(text: &str) -> Option<u64> {
    text.trim()
        .strip_prefix("0x")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
}

/// Find the GNU build-id in a sequence of ELF notes (native endian).
pub fn parse_build_id_note(mut data: &[u8]) -> std::result::Result<Option<Vec<u8>>, String> {
    let word = |d: &[u8], at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    while data.len() >= 12 {
        let (namesz, descsz, kind) = (
            word(data, 0).unwrap_or(0),
            word(data, 4).unwrap_or(0),
            word(data, 8).unwrap_or(0),
        );
        let name_end = 12usize
            .checked_add(namesz)
            .ok_or("note name size overflows")?;
        let desc_start = name_end.next_multiple_of(4);
        let desc_end = desc_start
            .checked_add(descsz)
            .ok_or("note size overflows")?;
        if desc_end > data.len() {
            return Err(format!(
                "truncated note: needs {desc_end} bytes, has {}",
                data.len()
            ));
        }
        if &data[12..name_end] == b"GNU\0" && kind == 3 {
            return Ok(Some(data[desc_start..desc_end].to_vec()));
        }
        data = &data[desc_end.next_multiple_of(4).min(data.len())..];
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's own format (kernel/kprobes.c, kprobe_blacklist_seq_show):
    /// function ranges, and whole sections in brackets; not root, zeros.
    #[test]
    fn kprobe_blacklist_lines() {
        let text = "0xffffffff81001000-0xffffffff81001040\texc_int3\n\
                    0xffffffff82000000-0xffffffff82004000\t[entry]\n\
                    0x0000000000000000-0x0000000000000000\tnmi_handle\n\
                    garbage\n";
        assert_eq!(
            parse_kprobe_blacklist(text),
            vec![
                (
                    0xffffffff81001000,
                    0xffffffff81001040,
                    "exc_int3".to_string()
                ),
                (
                    0xffffffff82000000,
                    0xffffffff82004000,
                    "[entry]".to_string()
                ),
            ]
        );
    }

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((name.len() as u32).to_le_bytes());
        v.extend((desc.len() as u32).to_le_bytes());
        v.extend(kind.to_le_bytes());
        v.extend(name);
        v.resize(v.len().next_multiple_of(4), 0);
        v.extend(desc);
        v.resize(v.len().next_multiple_of(4), 0);
        v
    }

    #[test]
    fn notes() {
        let mut d = note(b"Xen\0", 6, &[1, 2, 3, 4, 5, 6]);
        d.extend(note(b"GNU\0", 3, &[0xab; 20]));
        assert_eq!(parse_build_id_note(&d).unwrap(), Some(vec![0xab; 20]));
        assert_eq!(
            parse_build_id_note(&note(b"Linux\0", 1, &[0])).unwrap(),
            None
        );
        assert!(parse_build_id_note(&d[..40]).is_err());
    }

    #[test]
    fn the_live_kernel_has_a_build_id() {
        // /sys/kernel/notes is world-readable on every kernel with build-ids.
        if let Ok(Some(id)) = Sysfs::default().kernel_build_id() {
            assert_eq!(id.len(), 20);
        }
    }

    #[test]
    fn stand_in_tree() {
        let dir = std::env::temp_dir().join(format!("probeaddr-sysfs-{}", std::process::id()));
        let sec = dir.join("module/fixmod/sections");
        std::fs::create_dir_all(&sec).unwrap();
        std::fs::write(sec.join(".text"), "0xffffffffc0a1b000\n").unwrap();
        std::fs::write(sec.join(".bad"), "zz\n").unwrap();
        let s = Sysfs::new(&dir);
        assert_eq!(
            s.module_section("fixmod", ".text").unwrap(),
            RuntimeAddr(0xffffffffc0a1b000)
        );
        assert!(s
            .module_section("fixmod", ".init.text")
            .unwrap_err()
            .to_string()
            .contains("has no section .init.text"));
        assert!(s
            .module_section("fixmod", ".bad")
            .unwrap_err()
            .to_string()
            .contains("not a section address"));
        assert!(s
            .module_section("other", ".text")
            .unwrap_err()
            .to_string()
            .contains("module other is not loaded"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
