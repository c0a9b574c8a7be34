//! Build the C fixtures once per source change, shared by every test process
//! (nextest runs each test in its own process), under a file lock.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The fixture sources.
pub fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .canonicalize()
        .expect("tests/fixtures")
}

fn hash_tree(dir: &Path, h: &mut DefaultHasher) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        p.file_name().hash(h);
        if p.is_dir() {
            hash_tree(&p, h);
        } else {
            fs::read(&p).unwrap().hash(h);
        }
    }
}

/// The directory holding the built fixtures (built on first call).
pub fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = src_dir();
        let mut h = DefaultHasher::new();
        hash_tree(&src, &mut h);
        // How the fixtures are built is part of what they are.
        include_str!("fixtures.rs").hash(&mut h);
        let gcc = Command::new("gcc")
            .arg("--version")
            .output()
            .expect("gcc is needed to build the fixtures");
        gcc.stdout.hash(&mut h);
        let stamp = format!("{:016x}", h.finish());
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
        fs::create_dir_all(&root).unwrap();
        let lock = fs::File::create(root.join("lock")).unwrap();
        lock.lock().unwrap();
        let out = root.join(&stamp);
        if !out.join("STAMP").exists() {
            let _ = fs::remove_dir_all(&out);
            let work = root.join(format!("{stamp}.src"));
            let _ = fs::remove_dir_all(&work);
            copy_tree(&src, &work);
            let res = Command::new("sh")
                .arg(src.join("build.sh"))
                .arg(&work)
                .arg(&out)
                .output()
                .unwrap();
            assert!(
                res.status.success(),
                "building fixtures failed:\n{}\n{}",
                String::from_utf8_lossy(&res.stdout),
                String::from_utf8_lossy(&res.stderr)
            );
            let res = Command::new("sh")
                .arg(src.join("kernel/build.sh"))
                .arg(work.join("kernel"))
                .arg(out.join("kernel"))
                .output()
                .unwrap();
            assert!(
                res.status.success(),
                "building kernel fixtures failed:\n{}\n{}",
                String::from_utf8_lossy(&res.stdout),
                String::from_utf8_lossy(&res.stderr)
            );
            fs::write(out.join("STAMP"), &stamp).unwrap();
        }
        lock.unlock().unwrap();
        out
    })
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A directory of this test's own under the system temp directory,
/// removed when dropped — also when the test fails and unwinds — so runs
/// leave nothing in /tmp.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// `/tmp/probeaddr-TAG-PID`, created empty.
    pub fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("probeaddr-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

/// A copy of a binary that is this test's alone, removed when dropped
/// (also when the test fails). uprobes attach to an inode, so tests that
/// trace one program at once each need their own, and a probe left
/// behind by one can never fire in another.
#[derive(Debug)]
pub struct PrivateCopy {
    _dir: Scratch,
    path: PathBuf,
}

impl PrivateCopy {
    /// `/tmp/probeaddr-TAG-PID/NAME`, a copy of `src` (named as it is).
    pub fn new(src: &Path, tag: &str) -> PrivateCopy {
        let dir = Scratch::new(tag);
        let path = dir.join(src.file_name().unwrap());
        fs::copy(src, &path).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        PrivateCopy { _dir: dir, path }
    }

    /// The copy's path as text, for command lines.
    pub fn as_str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl std::ops::Deref for PrivateCopy {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for PrivateCopy {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for PrivateCopy {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

/// A fixture that needs a compiler beyond gcc (`NAME.err` holds its build
/// error): its path, or a failure naming what to install.
pub fn needing(name: &str, install: &str) -> PathBuf {
    let bin = path(name);
    assert!(
        bin.exists(),
        "{name} was not built ({}): install {install} (scripts/test does)",
        std::fs::read_to_string(path(&format!("{name}.err"))).unwrap_or_default()
    );
    bin
}

/// A built fixture's path.
pub fn path(name: &str) -> PathBuf {
    let p = dir().join(name);
    assert!(p.exists(), "fixture {name} missing");
    p
}

/// The directory the fixture sources were compiled in (DWARF comp_dir).
pub fn comp_dir() -> PathBuf {
    let d = dir();
    d.with_file_name(format!("{}.src", d.file_name().unwrap().to_string_lossy()))
}

/// Result of running probeaddr.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The locations of a `--format json` document (docs/json.md), or
    /// the array other commands print.
    pub fn json(&self) -> Vec<serde_json::Value> {
        assert_eq!(self.code, 0, "probeaddr failed: {}", self.stderr);
        let v: serde_json::Value = serde_json::from_str(&self.stdout).expect("JSON");
        match v {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(mut o) => {
                assert_eq!(o["schema"], 1, "{}", self.stdout);
                match o.remove("locations") {
                    Some(serde_json::Value::Array(a)) => a,
                    other => panic!("no locations: {other:?}"),
                }
            }
            other => panic!("not a JSON document: {other}"),
        }
    }

    /// The hits `trace --json` printed, one JSON object per line, after
    /// asserting that it succeeded.
    pub fn hits(&self) -> Vec<serde_json::Value> {
        assert_eq!(self.code, 0, "probeaddr failed: {}", self.stderr);
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect()
    }

    /// Assert a failure with exit status 2 and exactly one error line; return it.
    pub fn error(&self) -> String {
        assert_eq!(
            self.code, 2,
            "expected exit 2; stdout={} stderr={}",
            self.stdout, self.stderr
        );
        let errs: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("probeaddr: error: "))
            .collect();
        assert_eq!(errs.len(), 1, "expected one error line in: {}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        errs[0].trim_start_matches("probeaddr: error: ").to_string()
    }
}

/// Run the probeaddr binary.
pub fn probeaddr<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    probeaddr_env(args, &[])
}

/// Run the probeaddr binary with `env` added to its environment.
pub fn probeaddr_env<I, S>(args: I, env: &[(&str, &std::ffi::OsStr)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out: Output = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run the probeaddr binary with `input` on its standard input.
pub fn probeaddr_with_input<I, S>(args: I, input: &str) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let text = input.to_string();
    // Written from another thread: the answers fill the output pipe while
    // the input is still being written.
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Parse a JSON hex string field.
pub fn hexfield(v: &serde_json::Value, key: &str) -> u64 {
    let s = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}
