//! tracefs: register probe events, enable them, read hits, and remove them
//! again — the only module that writes to the system.
//!
//! * The root is a parameter, so tests run against a stand-in directory.
//! * Everything written is validated first (event and group names, no
//!   whitespace or newline in a path or argument).
//! * Events go into a group of this session's own (`probeaddr_<pid>`), and a
//!   trace instance of the same name holds their buffer, so other users of
//!   tracefs are not disturbed. Events of other groups are never touched.
//! * Events are enabled only after all registered; if one fails, the kernel's
//!   `error_log` line is reported and everything already registered is
//!   removed. Dropping a [`Session`] disables and removes all it created.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::emit::event::GroupName;
pub use crate::emit::probe::{ProbeDef, ProbeType};
use crate::error::{Error, ErrorKind, Result};

/// `O_NONBLOCK` on Linux (x86-64 and most architectures).
const O_NONBLOCK: i32 = 0o4000;

/// A fault to inject: given the file written and the line, the error that
/// write should fail with instead (tests of rollback and cleanup).
pub type Fault = std::sync::Arc<dyn Fn(&Path, &str) -> Option<std::io::Error> + Send + Sync>;

/// A tracefs mount (or a stand-in directory).
#[derive(Clone)]
pub struct Tracefs {
    root: PathBuf,
    fault: Option<Fault>,
}

impl std::fmt::Debug for Tracefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracefs")
            .field("root", &self.root)
            .field("fault", &self.fault.is_some())
            .finish()
    }
}

impl Tracefs {
    /// tracefs rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Tracefs {
        Tracefs {
            root: root.into(),
            fault: None,
        }
    }

    /// The same tracefs, with writes failing where `fault` says (for
    /// testing what happens when the kernel refuses a write).
    pub fn with_fault(mut self, fault: Fault) -> Tracefs {
        self.fault = Some(fault);
        self
    }

    /// One write of one command, as tracefs wants (`O_APPEND`), unless a
    /// fault is injected for it.
    fn write_line(&self, path: &Path, line: &str) -> std::io::Result<()> {
        if let Some(e) = self.fault.as_ref().and_then(|f| f(path, line)) {
            return Err(e);
        }
        append(path, line)
    }

    /// Overwrite a control file (`enable`, `set_event_pid`), unless a fault is injected.
    fn write_file(&self, path: &Path, text: &str) -> std::io::Result<()> {
        if let Some(e) = self.fault.as_ref().and_then(|f| f(path, text)) {
            return Err(e);
        }
        std::fs::write(path, text)
    }

    /// The system's tracefs: `/sys/kernel/tracing`, else
    /// `/sys/kernel/debug/tracing`; mounted at the first if neither is.
    pub fn system() -> Result<Tracefs> {
        for d in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
            if Path::new(d).join("trace").exists() {
                return Ok(Tracefs::new(d));
            }
        }
        let status = std::process::Command::new("mount")
            .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
            .status()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot run mount to mount tracefs: {e}"),
                )
            })?;
        if status.success() && Path::new("/sys/kernel/tracing/trace").exists() {
            return Ok(Tracefs::new("/sys/kernel/tracing"));
        }
        Err(Error::new(
            ErrorKind::Io,
            "tracefs is not mounted and could not be mounted at /sys/kernel/tracing (root needed: mount -t tracefs nodev /sys/kernel/tracing)",
        ))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn events_file(&self, kind: ProbeType) -> PathBuf {
        self.root.join(match kind {
            ProbeType::Uprobe => "uprobe_events",
            ProbeType::Kprobe => "kprobe_events",
        })
    }

    /// The last entry of `error_log`, if the kernel wrote one.
    pub fn last_error(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.root.join("error_log")).ok()?;
        // Entries start with "[timestamp] "; keep the last one, all its lines.
        let start = text.rfind("\n[").map_or(0, |i| i + 1);
        let last = text[start..].trim_end();
        (!last.is_empty()).then(|| last.to_string())
    }

    /// Groups named `probeaddr_<pid>` whose process is gone, from
    /// `dynamic_events` (or `uprobe_events` + `kprobe_events`).
    pub fn stale_groups(&self) -> Vec<String> {
        let mut groups = std::collections::BTreeSet::new();
        for f in ["uprobe_events", "kprobe_events"] {
            let Ok(text) = std::fs::read_to_string(self.root.join(f)) else {
                continue;
            };
            for line in text.lines() {
                let Some(head) = line.split_whitespace().next() else {
                    continue;
                };
                let Some((_, ge)) = head.split_once(':') else {
                    continue;
                };
                let Some((g, _)) = ge.split_once('/') else {
                    continue;
                };
                if let Some(pid) = g
                    .strip_prefix("probeaddr_")
                    .and_then(|p| p.parse::<u32>().ok())
                {
                    if !Path::new(&format!("/proc/{pid}")).exists() {
                        groups.insert(g.to_string());
                    }
                }
            }
        }
        groups.into_iter().collect()
    }
}

/// One registration session: a group and a trace instance of its own.
#[derive(Debug)]
pub struct Session {
    fs: Tracefs,
    group: GroupName,
    instance: PathBuf,
    registered: Vec<(ProbeType, String)>,
    enabled: bool,
    pipe: Option<File>,
    partial: String,
    /// Events whose removal failed.
    left: Vec<(ProbeType, String)>,
}

impl Session {
    /// Start a session with group (and trace instance) `group`.
    pub fn new(fs: &Tracefs, group: GroupName) -> Result<Session> {
        let instance = fs.root.join("instances").join(group.as_str());
        std::fs::create_dir(&instance).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot create trace instance {}: {e}", instance.display()),
            )
        })?;
        Ok(Session {
            fs: fs.clone(),
            group,
            instance,
            registered: Vec::new(),
            enabled: false,
            pipe: None,
            partial: String::new(),
            left: Vec::new(),
        })
    }

    /// The group.
    pub fn group(&self) -> &GroupName {
        &self.group
    }

    /// Register every probe, or none: on the first failure the kernel's
    /// reason (from `error_log`) is returned and all registered are removed.
    pub fn register_all(&mut self, defs: &[ProbeDef]) -> Result<()> {
        for d in defs {
            d.validate()?;
        }
        for d in defs {
            let line = d.line(&self.group);
            if let Err(e) = self.fs.write_line(&self.fs.events_file(d.kind), &line) {
                let reason = self.fs.last_error();
                let rollback = self.remove_all();
                let mut msg = format!("the kernel refused {line:?}: {e}");
                if let Some(r) = reason {
                    msg.push_str(&format!(
                        "; error_log: {}",
                        r.lines().next().unwrap_or("").trim()
                    ));
                }
                msg.push_str(&format!(
                    "; the {rollback} probe(s) registered before it were removed"
                ));
                return Err(Error::new(ErrorKind::Io, msg)
                    .with_detail(self.fs.last_error().unwrap_or_default()));
            }
            self.registered.push((d.kind, d.event.clone()));
        }
        Ok(())
    }

    /// Only record events of these processes (`set_event_pid` of the instance).
    pub fn filter_pids(&self, pids: &[u32]) -> Result<()> {
        let text: String = pids.iter().map(|p| format!("{p} ")).collect();
        self.fs
            .write_file(&self.instance.join("set_event_pid"), text.trim_end())
            .map_err(|e| Error::io(&self.instance.join("set_event_pid"), e))
    }

    /// Record events of the filtered processes' children too (the
    /// instance's `event-fork` option): a traced command's whole tree.
    pub fn follow_forks(&self) -> Result<()> {
        let p = self.instance.join("options").join("event-fork");
        self.fs.write_file(&p, "1").map_err(|e| Error::io(&p, e))
    }

    /// Enable every registered event (in this session's instance only).
    pub fn enable(&mut self) -> Result<()> {
        let p = self
            .instance
            .join("events")
            .join(self.group.as_str())
            .join("enable");
        if let Err(e) = self.fs.write_file(&p, "1") {
            let reason = self.fs.last_error();
            let removed = self.remove_all();
            let mut msg = format!("enabling the events failed: {e}");
            if let Some(r) = reason {
                msg.push_str(&format!(
                    "; error_log: {}",
                    r.lines().next().unwrap_or("").trim()
                ));
            }
            msg.push_str(&format!("; the {removed} registered probe(s) were removed"));
            return Err(Error::new(ErrorKind::Io, msg).with_path(&p));
        }
        self.enabled = true;
        Ok(())
    }

    /// Lines that arrived in the instance's `trace_pipe` (non-blocking).
    pub fn read_lines(&mut self) -> Result<Vec<String>> {
        if self.pipe.is_none() {
            let p = self.instance.join("trace_pipe");
            self.pipe = Some(
                OpenOptions::new()
                    .read(true)
                    .custom_flags(O_NONBLOCK)
                    .open(&p)
                    .map_err(|e| Error::io(&p, e))?,
            );
        }
        let pipe = self.pipe.as_mut().expect("opened above");
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.partial.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("reading trace_pipe: {e}"),
                    ))
                }
            }
        }
        let mut out = Vec::new();
        while let Some(nl) = self.partial.find('\n') {
            out.push(self.partial[..nl].to_string());
            self.partial.drain(..=nl);
        }
        Ok(out)
    }

    /// Disable and remove every event of this session; returns how many were removed.
    fn remove_all(&mut self) -> usize {
        self.pipe = None;
        if self.enabled {
            let enable = self
                .instance
                .join("events")
                .join(self.group.as_str())
                .join("enable");
            let _ = self.fs.write_file(&enable, "0");
            self.enabled = false;
        }
        let mut n = 0;
        let mut left = Vec::new();
        for (kind, ev) in std::mem::take(&mut self.registered) {
            let line = format!("-:{}/{ev}", self.group.as_str());
            if self
                .fs
                .write_line(&self.fs.events_file(kind), &line)
                .is_ok()
            {
                n += 1;
            } else {
                left.push((kind, ev));
            }
        }
        self.left.extend(left);
        n
    }

    /// Disable, remove every event, and remove the instance.
    pub fn close(mut self) -> Result<()> {
        self.cleanup()
    }

    fn cleanup(&mut self) -> Result<()> {
        self.remove_all();
        let _ = std::fs::remove_dir(&self.instance);
        let left = std::mem::take(&mut self.left);
        if !left.is_empty() {
            let names: Vec<String> = left
                .iter()
                .map(|(_, e)| format!("{}/{e}", self.group.as_str()))
                .collect();
            return Err(Error::new(
                ErrorKind::Io,
                format!("could not remove {} ({}); the kernel said: {}; remove them with probeaddr cleanup once the process is gone",
                    names.join(", "),
                    if names.len() == 1 { "1 event" } else { "several events" },
                    self.fs.last_error().unwrap_or_else(|| "nothing in error_log".into())),
            ));
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.cleanup();
    }
}

/// Remove every event of `group` (a group probeaddr created: `probeaddr_*`),
/// disabling it first and removing its trace instance. Returns how many
/// events were removed.
pub fn remove_group(fs: &Tracefs, group: &str) -> Result<usize> {
    if !group.starts_with("probeaddr_") {
        return Err(Error::new(
            ErrorKind::BadInput,
            format!("refusing to touch group {group}: not one probeaddr created"),
        ));
    }
    let _ = std::fs::write(
        fs.root
            .join("instances")
            .join(group)
            .join("events")
            .join(group)
            .join("enable"),
        "0",
    );
    let _ = std::fs::write(fs.root.join("events").join(group).join("enable"), "0");
    let _ = std::fs::remove_dir(fs.root.join("instances").join(group));
    let mut n = 0;
    for kind in [ProbeType::Uprobe, ProbeType::Kprobe] {
        let file = fs.events_file(kind);
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for line in text.lines() {
            let Some(head) = line.split_whitespace().next() else {
                continue;
            };
            let Some((_, ge)) = head.split_once(':') else {
                continue;
            };
            if let Some((g, ev)) = ge.split_once('/') {
                if g == group {
                    append(&file, &format!("-:{g}/{ev}")).map_err(|e| Error::io(&file, e))?;
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

/// One write of one command, as tracefs wants (`O_APPEND`, no truncation).
fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// A hit parsed from a `trace_pipe` line:
/// `  prog-1916  [001] DBZff  102.888803: helper_b_c: (0x56241929f175) x=3`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hit {
    /// Task name.
    pub task: String,
    /// Process (thread) id.
    pub pid: u32,
    /// CPU.
    pub cpu: u32,
    /// Timestamp in seconds, as printed.
    pub time: String,
    /// Event name.
    pub event: String,
    /// The rest: `(address) args...`.
    pub detail: String,
}

impl Hit {
    /// The recorded fetch arguments, `name=value` after the address part,
    /// in order; a string's quotes are removed (`name="x y"` gives `x y`).
    pub fn values(&self) -> Vec<(String, String)> {
        let mut rest = self.detail.trim_start();
        if rest.starts_with('(') {
            rest = rest.find(')').map_or("", |i| &rest[i + 1..]);
        }
        let mut out = Vec::new();
        loop {
            rest = rest.trim_start();
            let Some(eq) = rest.find('=') else { break };
            let name = rest[..eq].to_string();
            let v = &rest[eq + 1..];
            let (value, next) = if let Some(q) = v.strip_prefix('"') {
                // The kernel does not escape quotes inside strings: the
                // value ends at a quote followed by a space and a name or
                // by the line's end.
                let mut end = q.len();
                for (i, _) in q.match_indices('"') {
                    let after = &q[i + 1..];
                    if after.is_empty()
                        || (after.starts_with(' ')
                            && after[1..]
                                .split(' ')
                                .next()
                                .is_some_and(|w| w.contains('=')))
                    {
                        end = i;
                        break;
                    }
                }
                (q[..end].to_string(), q.get(end + 1..).unwrap_or(""))
            } else {
                let end = v.find(' ').unwrap_or(v.len());
                (v[..end].to_string(), &v[end..])
            };
            out.push((name, value));
            rest = next;
        }
        out
    }
}

/// Parse one `trace_pipe` line; `None` for lines that are not events.
pub fn parse_hit(line: &str) -> Option<Hit> {
    let open = line.find(" [")?;
    let (taskpid, rest) = line.split_at(open);
    let taskpid = taskpid.trim();
    let dash = taskpid.rfind('-')?;
    let (task, pid) = (&taskpid[..dash], taskpid[dash + 1..].parse().ok()?);
    let rest = &rest[2..];
    let close = rest.find(']')?;
    let cpu = rest[..close].trim().parse().ok()?;
    let mut it = rest[close + 1..].split_whitespace();
    let mut time = it.next()?;
    if !time.ends_with(':') {
        // flags column present
        time = it.next()?;
    }
    let time = time.strip_suffix(':')?.to_string();
    let after = rest[close + 1..].split_once(&format!("{time}: "))?.1;
    let (event, detail) = after
        .split_once(": ")
        .unwrap_or((after.trim_end_matches(':'), ""));
    Some(Hit {
        task: task.to_string(),
        pid,
        cpu,
        time,
        event: event.to_string(),
        detail: detail.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trace_lines() {
        let h = parse_hit(
            "            prog-1916    [001] DBZff   102.888803: helper_b: (0x56241929f175)",
        )
        .unwrap();
        assert_eq!(
            (
                h.task.as_str(),
                h.pid,
                h.cpu,
                h.time.as_str(),
                h.event.as_str()
            ),
            ("prog", 1916, 1, "102.888803", "helper_b")
        );
        assert_eq!(h.detail, "(0x56241929f175)");
        let h =
            parse_hit("     kworker/u4:1-42  [000] d..1.  5.5: init_once: (init_once+0x0/0xe) x=3")
                .unwrap();
        assert_eq!(
            (h.task.as_str(), h.pid, h.event.as_str(), h.detail.as_str()),
            ("kworker/u4:1", 42, "init_once", "(init_once+0x0/0xe) x=3")
        );
        assert!(parse_hit("# tracer: nop").is_none());
        let h = parse_hit(
            r#" a.out-7 [001] DBZff 5.5: compute: (0x557f4fc341c0) n=3 name="a \"b" c" mode=17"#,
        )
        .unwrap();
        assert_eq!(
            h.values(),
            [("n", "3"), ("name", r#"a \"b" c"#), ("mode", "17")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn validates_before_writing() {
        let d = ProbeDef {
            kind: ProbeType::Uprobe,
            ret: false,
            event: "ok".into(),
            target: "/a b:0x1".into(),
            args: vec![],
        };
        assert!(d
            .validate()
            .unwrap_err()
            .to_string()
            .contains("contains whitespace"));
        let d = ProbeDef {
            target: "/a:0x1".into(),
            args: vec!["x=%di\n".into()],
            ..d
        };
        assert!(d.validate().is_err());
        let d = ProbeDef {
            args: vec!["9x=%di".into()],
            ..d
        };
        assert!(d.validate().is_err());
        let d = ProbeDef {
            args: vec!["x=%di:s32".into()],
            ..d
        };
        assert!(d.validate().is_ok());
        assert_eq!(
            d.line(&GroupName::new("g").unwrap()),
            "p:g/ok /a:0x1 x=%di:s32"
        );
    }

    #[test]
    fn rollback_on_a_stand_in() {
        // A stand-in tracefs whose kprobe_events does not exist: the second
        // write fails, and the first is removed again.
        let root = std::env::temp_dir().join(format!("probeaddr-tfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("instances")).unwrap();
        std::fs::write(root.join("uprobe_events"), "").unwrap();
        std::fs::write(
            root.join("error_log"),
            "[ 1.0] trace_kprobe: error: The symbol is not unique\n  Command: p:x init_once\n",
        )
        .unwrap();
        let fs = Tracefs::new(&root);
        let mut s = Session::new(&fs, GroupName::new("probeaddr_1").unwrap()).unwrap();
        let defs = vec![
            ProbeDef {
                kind: ProbeType::Uprobe,
                ret: false,
                event: "a".into(),
                target: "/bin/x:0x10".into(),
                args: vec![],
            },
            ProbeDef {
                kind: ProbeType::Kprobe,
                ret: false,
                event: "b".into(),
                target: "init_once".into(),
                args: vec![],
            },
        ];
        let e = s.register_all(&defs).unwrap_err();
        assert!(
            e.to_string()
                .contains("error_log: [ 1.0] trace_kprobe: error: The symbol is not unique"),
            "{e}"
        );
        let written = std::fs::read_to_string(root.join("uprobe_events")).unwrap();
        assert_eq!(written, "p:probeaddr_1/a /bin/x:0x10\n-:probeaddr_1/a\n");
        drop(s);
        assert!(!root.join("instances/probeaddr_1").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A stand-in tracefs in a temp dir.
    fn stand_in(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("probeaddr-tfs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("instances")).unwrap();
        std::fs::write(root.join("uprobe_events"), "").unwrap();
        std::fs::write(root.join("kprobe_events"), "").unwrap();
        std::fs::write(root.join("error_log"), "").unwrap();
        root
    }

    fn defs() -> Vec<ProbeDef> {
        ["a", "b", "c"]
            .iter()
            .map(|e| ProbeDef {
                kind: ProbeType::Uprobe,
                ret: false,
                event: e.to_string(),
                target: "/bin/x:0x10".into(),
                args: vec![],
            })
            .collect()
    }

    #[test]
    fn enospc_from_a_full_device_rolls_back() {
        // uprobe_events is /dev/full: every write fails with ENOSPC, the real errno.
        let root = stand_in("enospc");
        let fs = Tracefs::new(&root);
        let mut d = defs();
        d[1].kind = ProbeType::Kprobe;
        d[2].kind = ProbeType::Kprobe;
        std::fs::remove_file(root.join("kprobe_events")).unwrap();
        std::os::unix::fs::symlink("/dev/full", root.join("kprobe_events")).unwrap();
        let mut s = Session::new(&fs, GroupName::new("probeaddr_2").unwrap()).unwrap();
        let e = s.register_all(&d).unwrap_err().to_string();
        assert!(
            e.contains("No space left on device")
                && e.contains("the 1 probe(s) registered before it were removed"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("uprobe_events")).unwrap(),
            "p:probeaddr_2/a /bin/x:0x10\n-:probeaddr_2/a\n"
        );
        drop(s);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn einval_with_an_error_log_line_names_the_kernels_reason() {
        let root = stand_in("einval");
        let log = root.join("error_log");
        let fault: Fault = std::sync::Arc::new(move |_p: &Path, line: &str| {
            line.starts_with("p:probeaddr_3/c").then(|| {
                std::fs::write(&log, "[  12.5] trace_uprobe: error: Invalid fetch argument\n  Command: p:probeaddr_3/c /bin/x:0x10\n                                         ^\n").unwrap();
                std::io::Error::from_raw_os_error(22)
            })
        });
        let fs = Tracefs::new(&root).with_fault(fault);
        let mut s = Session::new(&fs, GroupName::new("probeaddr_3").unwrap()).unwrap();
        let e = s.register_all(&defs()).unwrap_err().to_string();
        assert!(
            e.contains("Invalid argument")
                && e.contains("error_log: [  12.5] trace_uprobe: error: Invalid fetch argument"),
            "{e}"
        );
        assert!(
            e.contains("the 2 probe(s) registered before it were removed"),
            "{e}"
        );
        let written = std::fs::read_to_string(root.join("uprobe_events")).unwrap();
        assert_eq!(
            written.lines().filter(|l| l.starts_with("-:")).count(),
            2,
            "{written}"
        );
        drop(s);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn ebusy_on_enable_and_on_removal() {
        let root = stand_in("ebusy");
        std::fs::create_dir_all(root.join("instances/probeaddr_4/events/probeaddr_4")).unwrap();
        let fault: Fault = std::sync::Arc::new(|p: &Path, text: &str| {
            (p.ends_with("enable") && text == "1").then(|| std::io::Error::from_raw_os_error(16))
        });
        let fs = Tracefs::new(&root).with_fault(fault);
        // Session::new wants to create the instance itself.
        std::fs::remove_dir_all(root.join("instances/probeaddr_4")).unwrap();
        let mut s = Session::new(&fs, GroupName::new("probeaddr_4").unwrap()).unwrap();
        std::fs::create_dir_all(root.join("instances/probeaddr_4/events/probeaddr_4")).unwrap();
        s.register_all(&defs()).unwrap();
        let e = s.enable().unwrap_err().to_string();
        assert!(
            e.contains("Device or resource busy")
                && e.contains("the 3 registered probe(s) were removed"),
            "{e}"
        );
        drop(s);
        // Removal refused: the session says which events are left and how to clean up.
        let root2 = stand_in("ebusy2");
        let fault: Fault = std::sync::Arc::new(|_p: &Path, line: &str| {
            line.starts_with("-:probeaddr_5/b")
                .then(|| std::io::Error::from_raw_os_error(16))
        });
        let fs = Tracefs::new(&root2).with_fault(fault);
        let mut s = Session::new(&fs, GroupName::new("probeaddr_5").unwrap()).unwrap();
        s.register_all(&defs()).unwrap();
        let e = s.close().unwrap_err().to_string();
        assert!(
            e.contains("could not remove probeaddr_5/b") && e.contains("probeaddr cleanup"),
            "{e}"
        );
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_dir_all(&root2).unwrap();
    }
}
