//! The debuginfod client cache, laid out and aged exactly as elfutils'
//! `libdebuginfod` does, so that `debuginfod-find`, gdb, perf, SystemTap
//! and probeaddr share one set of downloads (and one set of misses):
//!
//! ```text
//! CACHE/cache_clean_interval_s     seconds between cleanings (86400)
//! CACHE/cache_miss_s               how long a miss is believed (600)
//! CACHE/max_unused_age_s           unused this long: deleted (604800)
//! CACHE/HEX/debuginfo              the separate debug file
//! CACHE/HEX/executable             the executable
//! CACHE/HEX/section-NAME           one section's bytes
//! CACHE/HEX/source-##usr##src##…   a source file ('/' -> "##", '#' -> "#_")
//! ```
//!
//! An empty file is a *negative entry*: every server said 404 at its mtime.
//! Within `cache_miss_s` it answers "not found" without asking again; after
//! that it is removed and the servers are asked. Downloads are written to
//! `TARGET.XXXXXX` beside the target and renamed into place when complete
//! and checked, so no reader ever sees a partial file.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Artifact;

/// elfutils' defaults for the three configuration files.
const CLEAN_INTERVAL_S: u64 = 86_400;
const CACHE_MISS_S: u64 = 600;
const MAX_UNUSED_AGE_S: u64 = 604_800;

/// A cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cache {
    root: PathBuf,
}

/// What the cache holds for one target.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A downloaded file.
    Hit(PathBuf),
    /// A miss recorded `age` ago, still believed (`cache_miss_s`).
    Miss {
        /// How long ago it was recorded.
        age: Duration,
        /// The cache's `cache_miss_s`.
        believed: Duration,
    },
    /// Nothing (or a miss too old to believe, now removed).
    Absent,
}

impl Cache {
    /// The cache at `root`.
    pub(crate) fn at(root: PathBuf) -> Cache {
        Cache { root }
    }

    /// elfutils' choice: `$DEBUGINFOD_CACHE_PATH`; else
    /// `$HOME/.debuginfod_client_cache` if it exists (the old location);
    /// else `${XDG_CACHE_HOME:-$HOME/.cache}/debuginfod_client`.
    pub(crate) fn from_env() -> Cache {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(p) = var("DEBUGINFOD_CACHE_PATH") {
            return Cache::at(PathBuf::from(p));
        }
        let home = var("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
        let old = home.join(".debuginfod_client_cache");
        if old.exists() {
            return Cache::at(old);
        }
        let xdg = var("XDG_CACHE_HOME").map_or_else(|| home.join(".cache"), PathBuf::from);
        Cache::at(xdg.join("debuginfod_client"))
    }

    /// The directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Where `artifact` of build-id `hex` lives (whether or not it is there).
    pub(crate) fn target(&self, hex: &str, artifact: &Artifact) -> PathBuf {
        let name = match artifact {
            Artifact::Debuginfo => "debuginfo".to_string(),
            Artifact::Executable => "executable".to_string(),
            Artifact::Section(s) => format!("section-{}", escape(s)),
        };
        self.root.join(hex).join(name)
    }

    /// Create the cache directory and its configuration files (as elfutils
    /// does on every query), and clean it if `cache_clean_interval_s` has
    /// passed since the last cleaning.
    pub(crate) fn prepare(&self) -> io::Result<()> {
        fs::create_dir_all(&self.root)?;
        let (interval, interval_mtime) = self.config("cache_clean_interval_s", CLEAN_INTERVAL_S)?;
        self.config("cache_miss_s", CACHE_MISS_S)?;
        let (max_age, _) = self.config("max_unused_age_s", MAX_UNUSED_AGE_S)?;
        if age(interval_mtime) < Duration::from_secs(interval) {
            return Ok(());
        }
        // Stamp first, so that concurrent clients do not all clean at once.
        let stamp = self.root.join("cache_clean_interval_s");
        fs::File::options()
            .write(true)
            .open(&stamp)?
            .set_modified(SystemTime::now())?;
        self.clean(Duration::from_secs(max_age));
        Ok(())
    }

    /// Delete cached files not used (atime) for `max_age`, and directories
    /// left empty. Only files with the cache's own names under a hex
    /// build-id directory are touched (elfutils' pattern
    /// `.*/[a-f0-9]+(/debuginfo|/executable|/source.*|)$`, plus the
    /// `section-*` files it leaves out).
    fn clean(&self, max_age: Duration) {
        let Ok(dirs) = fs::read_dir(&self.root) else {
            return;
        };
        for dir in dirs.flatten() {
            let name = dir.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.is_empty() || !name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                continue;
            }
            let path = dir.path();
            if !dir.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Ok(files) = fs::read_dir(&path) {
                for f in files.flatten() {
                    let n = f.file_name();
                    let n = n.to_string_lossy();
                    let ours = n == "debuginfo"
                        || n == "executable"
                        || n.starts_with("source")
                        || n.starts_with("section-");
                    let old = f
                        .metadata()
                        .and_then(|m| m.accessed())
                        .is_ok_and(|t| age(t) >= max_age);
                    if ours && old {
                        let _ = fs::remove_file(f.path());
                    }
                }
            }
            let old = fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| age(t) >= max_age);
            if old {
                // Fails (and is meant to) unless the directory is empty.
                let _ = fs::remove_dir(&path);
            }
        }
    }

    /// What the cache holds at `target`; a negative entry older than
    /// `cache_miss_s`, or one this process may not read, is removed.
    pub(crate) fn lookup(&self, target: &Path) -> io::Result<Lookup> {
        let meta = match fs::metadata(target) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Absent),
            Err(e) => return Err(e),
        };
        if let Err(e) = fs::File::open(target) {
            if e.kind() == io::ErrorKind::PermissionDenied {
                // elfutils' rule: old 000-mode files do not linger.
                let _ = fs::remove_file(target);
                return Ok(Lookup::Absent);
            }
            return Err(e);
        }
        if meta.len() > 0 {
            return Ok(Lookup::Hit(target.to_path_buf()));
        }
        let (miss_s, _) = self.config("cache_miss_s", CACHE_MISS_S)?;
        let believed = Duration::from_secs(miss_s);
        let recorded = age(meta.modified()?);
        if recorded <= believed {
            return Ok(Lookup::Miss {
                age: recorded,
                believed,
            });
        }
        // Too old to believe: ask again (a racing client may do the same).
        let _ = fs::remove_file(target);
        Ok(Lookup::Absent)
    }

    /// Record that every server said 404 for `target`: an empty file,
    /// created only if nothing is there (another client may have just
    /// downloaded it).
    pub(crate) fn record_miss(&self, target: &Path) {
        if let Some(dir) = target.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let _ = OpenOptions::new().write(true).create_new(true).open(target);
    }

    /// A new temporary file beside `target` (`TARGET.XXXXXX`), created
    /// exclusively so that concurrent downloads never share one.
    pub(crate) fn temp_for(&self, target: &Path) -> io::Result<(PathBuf, fs::File)> {
        let dir = target.parent().expect("a cache target has a directory");
        fs::create_dir_all(dir)?;
        let base = target.file_name().expect("a cache target has a name");
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ std::process::id().rotate_left(16);
        for i in 0..100u32 {
            let tag = seed
                .wrapping_mul(2_654_435_761)
                .wrapping_add(i.wrapping_mul(40_503));
            let mut name = base.to_os_string();
            name.push(format!(".{:06x}", tag & 0xff_ffff));
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => return Ok((path, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("no free temporary name beside {}", target.display()),
        ))
    }

    /// Move a complete, checked download into place: its mtime is the
    /// server's `Last-Modified` when it gave one, its mode read-only (as
    /// elfutils leaves it).
    pub(crate) fn commit(
        &self,
        temp: &Path,
        target: &Path,
        modified: Option<SystemTime>,
    ) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if let Some(t) = modified {
            fs::File::options()
                .write(true)
                .open(temp)?
                .set_modified(t)?;
        }
        fs::set_permissions(temp, fs::Permissions::from_mode(0o400))?;
        fs::rename(temp, target)
    }

    /// A configuration file's value, writing the default into a missing or
    /// empty file (elfutils' `debuginfod_config_cache`); with its mtime.
    fn config(&self, name: &str, default: u64) -> io::Result<(u64, SystemTime)> {
        let path = self.root.join(name);
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let meta = f.metadata()?;
        if meta.len() == 0 {
            write!(f, "{default}")?;
            return Ok((default, meta.modified()?));
        }
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        // fscanf("%ld"): a leading integer; anything else is the default.
        let digits: String = text
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Ok((digits.parse().unwrap_or(default), meta.modified()?))
    }
}

/// How long ago `t` was (zero for a time in the future).
fn age(t: SystemTime) -> Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}

/// elfutils' `path_escape`: '/' becomes "##" and '#' becomes "#_", so a
/// path or section name is one file name and two names never collide.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '/' => out.push_str("##"),
            '#' => out.push_str("#_"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("probeaddr-cache-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn names_are_elfutils() {
        let c = Cache::at(PathBuf::from("/c"));
        let id = "ab12";
        assert_eq!(
            c.target(id, &Artifact::Debuginfo),
            Path::new("/c/ab12/debuginfo")
        );
        assert_eq!(
            c.target(id, &Artifact::Executable),
            Path::new("/c/ab12/executable")
        );
        assert_eq!(
            c.target(id, &Artifact::Section(".debug_line".into())),
            Path::new("/c/ab12/section-.debug_line")
        );
        assert_eq!(
            c.target(id, &Artifact::Section("a/b#c".into())),
            Path::new("/c/ab12/section-a##b#_c")
        );
    }

    #[test]
    fn config_files_are_created_with_defaults_and_read_back() {
        let root = scratch("config");
        let c = Cache::at(root.clone());
        c.prepare().unwrap();
        for (name, want) in [
            ("cache_clean_interval_s", "86400"),
            ("cache_miss_s", "600"),
            ("max_unused_age_s", "604800"),
        ] {
            assert_eq!(fs::read_to_string(root.join(name)).unwrap(), want);
        }
        fs::write(root.join("cache_miss_s"), "5\n").unwrap();
        assert_eq!(c.config("cache_miss_s", 600).unwrap().0, 5);
        fs::write(root.join("cache_miss_s"), "junk").unwrap();
        assert_eq!(c.config("cache_miss_s", 600).unwrap().0, 600);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn negative_entries_are_believed_for_cache_miss_s_then_removed() {
        let root = scratch("miss");
        let c = Cache::at(root.clone());
        c.prepare().unwrap();
        let t = c.target("ab", &Artifact::Debuginfo);
        assert!(matches!(c.lookup(&t).unwrap(), Lookup::Absent));
        c.record_miss(&t);
        assert_eq!(fs::metadata(&t).unwrap().len(), 0);
        match c.lookup(&t).unwrap() {
            Lookup::Miss { believed, .. } => assert_eq!(believed, Duration::from_secs(600)),
            other => panic!("{other:?}"),
        }
        // Older than cache_miss_s: removed, and the servers are asked again.
        let old = SystemTime::now() - Duration::from_secs(601);
        fs::File::options()
            .write(true)
            .open(&t)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(matches!(c.lookup(&t).unwrap(), Lookup::Absent));
        assert!(!t.exists());
        // A miss never replaces a file another client just downloaded.
        fs::write(&t, b"\x7fELF").unwrap();
        c.record_miss(&t);
        assert!(matches!(c.lookup(&t).unwrap(), Lookup::Hit(_)));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn cleaning_removes_only_old_cache_files_once_the_interval_passed() {
        let root = scratch("clean");
        let c = Cache::at(root.clone());
        c.prepare().unwrap();
        let old = SystemTime::now() - Duration::from_secs(MAX_UNUSED_AGE_S + 10);
        let set_atime = |p: &Path| {
            fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_times(fs::FileTimes::new().set_accessed(old).set_modified(old))
                .unwrap();
        };
        let stale = c.target("aa", &Artifact::Debuginfo);
        let fresh = c.target("bb", &Artifact::Debuginfo);
        let section = c.target("aa", &Artifact::Section(".symtab".into()));
        let foreign = root.join("aa").join("notes.txt");
        let not_hex = root.join("zz").join("debuginfo");
        for p in [&stale, &fresh, &section, &foreign, &not_hex] {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, b"x").unwrap();
        }
        for p in [&stale, &section, &foreign, &not_hex] {
            set_atime(p);
        }
        // The interval has not passed: nothing is touched.
        c.prepare().unwrap();
        assert!(stale.exists());
        // It has: the stale cache files go, everything else stays.
        set_atime(&root.join("cache_clean_interval_s"));
        c.prepare().unwrap();
        assert!(!stale.exists() && !section.exists());
        assert!(fresh.exists() && foreign.exists() && not_hex.exists());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn temporary_files_are_unique_and_commit_is_read_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = scratch("temp");
        let c = Cache::at(root.clone());
        let t = c.target("cd", &Artifact::Debuginfo);
        let (a, _) = c.temp_for(&t).unwrap();
        let (b, mut f) = c.temp_for(&t).unwrap();
        assert_ne!(a, b);
        assert!(a.to_string_lossy().starts_with(&*t.to_string_lossy()));
        f.write_all(b"data").unwrap();
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        c.commit(&b, &t, Some(when)).unwrap();
        let m = fs::metadata(&t).unwrap();
        assert_eq!(m.modified().unwrap(), when);
        assert_eq!(m.permissions().mode() & 0o777, 0o400);
        assert!(!b.exists());
        fs::remove_dir_all(&root).unwrap();
    }
}
