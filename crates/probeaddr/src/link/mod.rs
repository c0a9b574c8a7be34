//! Linking: a [`Location`] plus the base its [`Anchor`] names, fetched from
//! the system the probes run on, gives a [`Linked`] location with its
//! runtime address.
//!
//! The [`Linker`] is the only code that reads the live system: kallsyms
//! (`_text` under KASLR), `/sys/module/M/sections/*` (module bases),
//! `/sys/kernel/notes` and `/sys/module/M/notes` (build-ids), and
//! `/proc/PID/maps`. Each comes from the real path or from a file or
//! directory standing in for it, so every path is testable offline. It reads
//! each lazily and once.
//!
//! A runtime address is only given for the build that was analysed: a
//! build-id that differs (where both are known) leaves it out and says why.

pub mod kernel;
mod process;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

pub use kernel::{BuildIdCheck, KernelCheck};

use crate::addr::RuntimeAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::location::{Anchor, Location, Object};
use crate::source::KernelSymbols;
use crate::sources::elf::ElfObject;
use crate::sources::maps::{self, Mapping};
use crate::sources::sysfs::Sysfs;
use process::ProcessImage;

/// A process whose mappings give user-space runtime addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Process {
    /// A running process: `/proc/PID/maps`.
    Pid(u32),
    /// A saved copy of a `maps` file.
    Maps(PathBuf),
}

/// Where the linker reads the target's state.
#[derive(Debug, Clone, Default)]
pub struct LinkerConfig {
    /// A kallsyms listing: `/proc/kallsyms`, or a saved copy.
    pub kallsyms: Option<PathBuf>,
    /// A sysfs tree: `/sys`, or a directory standing in for it.
    pub sysfs: Option<PathBuf>,
    /// The process for user-space runtime addresses.
    pub process: Option<Process>,
    /// Give no runtime address (and refuse plans) for another build than the
    /// one analysed. On by default ([`LinkerConfig::live`]).
    pub check_build_id: bool,
}

impl LinkerConfig {
    /// The running system: `/proc/kallsyms` and `/sys`, build-ids checked.
    pub fn live() -> LinkerConfig {
        LinkerConfig {
            kallsyms: Some(PathBuf::from("/proc/kallsyms")),
            sysfs: Some(PathBuf::from("/sys")),
            process: None,
            check_build_id: true,
        }
    }

    /// Nothing of a running system: locations link to no runtime address.
    pub fn offline() -> LinkerConfig {
        LinkerConfig {
            check_build_id: true,
            ..LinkerConfig::default()
        }
    }
}

/// A location with what linking found.
#[derive(Debug, Clone, Serialize)]
pub struct Linked {
    /// The location.
    pub location: Location,
    /// Its runtime address, when it could be computed.
    pub runtime: Option<RuntimeAddr>,
    /// Why there is no runtime address, when one could have been given
    /// (kernel locations; user locations when a process was named).
    pub unlinked: Option<String>,
    /// Whether the target runs the build the location was made from.
    pub build_id: BuildIdCheck,
    /// For a user-space location: the absolute path `uprobe_events` takes,
    /// or why the path cannot be written there.
    #[serde(skip)]
    pub uprobe_path: Option<Result<String>>,
}

impl Linked {
    /// An error unless the target runs the build the location was made
    /// from: what linking a plan made elsewhere requires.
    pub fn require_same_build(&self) -> Result<()> {
        if let BuildIdCheck::Differs { reason } = &self.build_id {
            return Err(Error::new(ErrorKind::BuildIdMismatch, reason.clone()));
        }
        let BuildIdCheck::Mismatch { ours, running } = &self.build_id else {
            return Ok(());
        };
        let what = match &self.location.object {
            Object::Vmlinux { .. } => "the running kernel".to_string(),
            Object::Module { name, .. } => format!("module {name}"),
            Object::User { path, .. } => path.display().to_string(),
        };
        Err(Error::new(
            ErrorKind::BuildIdMismatch,
            format!("{what}: the plan was made for build-id {ours} but the target has {running}; make the plan from this build's debug info (or --no-build-id-check)"),
        ))
    }
}

/// Links locations against one target system; see the module docs.
#[derive(Debug)]
pub struct Linker {
    config: LinkerConfig,
    sysfs: Option<Sysfs>,
    kallsyms: OnceLock<Result<Option<KernelSymbols>>>,
    running_id: OnceLock<Result<Option<Vec<u8>>>>,
    running_text: OnceLock<std::result::Result<RuntimeAddr, String>>,
    maps: OnceLock<Result<(Vec<Mapping>, String)>>,
    /// Why the running kernel is known not to be the analysed image.
    other_kernel: Option<String>,
    images: Mutex<HashMap<PathBuf, Result<ProcessImage>>>,
    files: Mutex<HashMap<PathBuf, FileFacts>>,
    /// The running kernel's kprobe blacklist, sorted (read on first use).
    blacklist: OnceLock<Vec<(u64, u64, String)>>,
}

/// What linking needs of a user-space file, read once.
#[derive(Debug, Clone)]
struct FileFacts {
    uprobe_path: Result<String>,
    build_id: Result<Option<Vec<u8>>>,
}

impl Linker {
    /// A linker reading what `config` names.
    pub fn new(config: LinkerConfig) -> Linker {
        Linker {
            sysfs: config.sysfs.as_ref().map(Sysfs::new),
            config,
            kallsyms: OnceLock::new(),
            running_id: OnceLock::new(),
            running_text: OnceLock::new(),
            maps: OnceLock::new(),
            other_kernel: None,
            images: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            blacklist: OnceLock::new(),
        }
    }

    /// What the running kernel's own kprobe blacklist says of `addr`: the
    /// offline check reads the vmlinux's sections and `_kprobe_blacklist`,
    /// but modules have theirs and some architectures add ranges at boot.
    fn blacklisted(&self, addr: RuntimeAddr) -> Option<String> {
        let list = self.blacklist.get_or_init(|| {
            let mut v = self
                .sysfs
                .as_ref()
                .and_then(|s| s.kprobe_blacklist().ok().flatten())
                .unwrap_or_default();
            v.sort();
            v
        });
        let a = addr.get();
        let i = list.partition_point(|r| r.0 <= a);
        list[..i].iter().rev().find(|r| a < r.1).map(|(s, e, sym)| {
            format!("the running kernel's kprobe blacklist lists {sym} ({s:#x}-{e:#x})")
        })
    }

    /// The running system ([`LinkerConfig::live`]).
    pub fn live() -> Linker {
        Linker::new(LinkerConfig::live())
    }

    /// A linker that gives the kernel symbols `ks` (already read, shared
    /// with a resolver) instead of reading its kallsyms file.
    pub fn with_kernel_symbols(self, ks: KernelSymbols) -> Linker {
        let _ = self.kallsyms.set(Ok(Some(ks)));
        self
    }

    /// The same linker, told that the running kernel is not the kernel
    /// image the locations come from (`reason`: how that is known, e.g. its
    /// kallsyms does not describe the vmlinux): kernel-image locations get
    /// no runtime address, and no probe definition unless build-ids are
    /// not checked.
    pub fn other_kernel(mut self, reason: String) -> Linker {
        self.other_kernel = Some(reason);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &LinkerConfig {
        &self.config
    }

    /// The running kernel's build-id (`kernel/notes` of sysfs), if known.
    pub fn kernel_build_id(&self) -> Result<Option<Vec<u8>>> {
        self.running_id
            .get_or_init(|| match &self.sysfs {
                Some(s) => s.kernel_build_id(),
                None => Ok(None),
            })
            .clone()
    }

    /// A loaded module's build-id (`module/NAME/notes` of sysfs), if known.
    pub fn module_build_id(&self, module: &str) -> Result<Option<Vec<u8>>> {
        match &self.sysfs {
            Some(s) if s.module_loaded(module) => s.module_build_id(module),
            _ => Ok(None),
        }
    }

    /// The target's kallsyms, read once, with the running kernel's
    /// build-id: give it to a [`crate::Resolver`] as
    /// [`crate::Source::Kallsyms`] for the kernel's namespace.
    pub fn kernel_symbols(&self) -> Result<Option<KernelSymbols>> {
        self.kallsyms
            .get_or_init(|| {
                let Some(p) = &self.config.kallsyms else {
                    return Ok(None);
                };
                let ks = KernelSymbols::read(p)?;
                Ok(Some(ks.with_build_id(self.kernel_build_id()?)))
            })
            .clone()
    }

    /// The running kernel's BTF directory (`/sys/kernel/btf`, under the
    /// configured sysfs), when it has the kernel's own file.
    pub fn kernel_btf(&self) -> Option<PathBuf> {
        let dir = self.config.sysfs.as_ref()?.join("kernel/btf");
        dir.join("vmlinux").is_file().then_some(dir)
    }

    /// The running kernel's `_text`, or why it is not known (read once).
    fn running_text(&self) -> std::result::Result<RuntimeAddr, &str> {
        self.running_text
            .get_or_init(|| match self.kernel_symbols() {
                Ok(Some(ks)) if ks.addresses_hidden() => Err(format!(
                    "{} hides its addresses (kptr_restrict)",
                    ks.origin().display()
                )),
                Ok(Some(ks)) => ks
                    .listing
                    .vmlinux_unique("_text")
                    .map(|t| t.addr)
                    .ok_or_else(|| format!("{} has no _text", ks.origin().display())),
                _ => Err("not linked against a running kernel (kallsyms)".into()),
            })
            .as_ref()
            .map(|t| *t)
            .map_err(String::as_str)
    }

    /// Link one location: fetch its anchor's base and check the build.
    pub fn link(&self, loc: &Location) -> Result<Linked> {
        let mut linked = Linked {
            location: loc.clone(),
            runtime: None,
            unlinked: None,
            build_id: BuildIdCheck::Unknown,
            uprobe_path: None,
        };
        let check = self.config.check_build_id;
        match (&loc.anchor, &loc.object) {
            (Anchor::File { offset }, Object::User { path, build_id }) => {
                let facts = self.file_facts(path);
                linked.uprobe_path = Some(facts.uprobe_path.clone());
                linked.build_id = match (check, build_id) {
                    (false, _) => BuildIdCheck::Skipped,
                    (true, None) => BuildIdCheck::Unknown,
                    (true, Some(ours)) => match facts.build_id? {
                        Some(here) => BuildIdCheck::compare_hex(true, Some(ours), Some(&here)),
                        None => BuildIdCheck::Mismatch {
                            ours: ours.clone(),
                            running: "none".into(),
                        },
                    },
                };
                if self.config.process.is_some() {
                    let image = self.process_image(path)?;
                    linked.runtime = Some(image.runtime_addr(*offset)?);
                    if let (Some(slot), Some(Process::Pid(pid))) =
                        (loc.ifunc_slot, &self.config.process)
                    {
                        linked
                            .location
                            .notes
                            .push(bound_ifunc(&image, *pid, slot, path));
                    }
                }
            }
            (Anchor::KernelText { offset }, object) => {
                let running = match self.kernel_symbols() {
                    Ok(Some(ks)) if ks.build_id.is_some() => ks.build_id,
                    _ => self.kernel_build_id()?,
                };
                linked.build_id =
                    BuildIdCheck::compare_hex(check, object.build_id(), running.as_deref());
                if let (Some(reason), true, true) =
                    (&self.other_kernel, check, linked.build_id.same_build())
                {
                    linked.build_id = BuildIdCheck::Differs {
                        reason: reason.clone(),
                    };
                }
                match (&linked.build_id, self.running_text()) {
                    (BuildIdCheck::Differs { reason }, _) => {
                        linked.unlinked = Some(format!("runtime address omitted: {reason}"))
                    }
                    (BuildIdCheck::Mismatch { ours, running }, _) => {
                        linked.unlinked = Some(match object {
                            Object::Vmlinux { path: Some(_), .. } => format!("runtime address omitted: the vmlinux's build-id {ours} is not the running kernel's {running}"),
                            _ => format!("runtime address omitted: the symbol listing was made for build-id {ours} but the running kernel is {running}"),
                        })
                    }
                    (_, Ok(t)) => linked.runtime = Some(RuntimeAddr(t.get().wrapping_add(*offset))),
                    (_, Err(why)) => linked.unlinked = Some(format!("runtime address omitted: {why}")),
                }
            }
            (
                Anchor::ModuleSection { section, offset },
                Object::Module {
                    name,
                    path,
                    build_id,
                },
            ) => {
                let loaded = self.sysfs.as_ref().filter(|s| s.module_loaded(name));
                let Some(sys) = loaded else {
                    linked.unlinked = Some(format!(
                        "runtime address omitted: module {name} is not loaded (or no --sysfs)"
                    ));
                    return Ok(linked);
                };
                let theirs = sys.module_build_id(name)?;
                linked.build_id =
                    BuildIdCheck::compare_hex(check, build_id.as_deref(), theirs.as_deref());
                if let BuildIdCheck::Mismatch { ours, running } = &linked.build_id {
                    linked.unlinked = Some(format!(
                        "runtime address omitted: {} has build-id {ours} but the loaded module {name} has {running}",
                        path.as_deref().map_or_else(|| format!("module {name}"), |p| p.display().to_string())
                    ));
                    return Ok(linked);
                }
                match sys.module_section(name, section) {
                    Ok(base) => {
                        linked.runtime = Some(RuntimeAddr(base.get().wrapping_add(offset.get())))
                    }
                    Err(e) => linked.unlinked = Some(format!("runtime address omitted: {e}")),
                }
            }
            (Anchor::Absolute { addr }, _) => linked.runtime = Some(*addr),
            (anchor, object) => {
                return Err(Error::new(
                    ErrorKind::BadInput,
                    format!(
                        "a location in {} cannot be anchored at {anchor}",
                        object.short_name()
                    ),
                ))
            }
        }
        if let (Some(rt), None, false) = (
            linked.runtime,
            &linked.location.kprobe_refused,
            matches!(loc.anchor, Anchor::File { .. }),
        ) {
            linked.location.kprobe_refused = self.blacklisted(rt);
        }
        Ok(linked)
    }

    /// Read the process's mappings now, so that a process that cannot be
    /// read is one error, not one per location.
    pub fn check_process(&self) -> Result<()> {
        if self.config.process.is_none() {
            return Ok(());
        }
        self.maps_of_process().map(|_| ())
    }

    /// Link every location, stopping at the first error.
    pub fn link_all(&self, locs: &[Location]) -> Result<Vec<Linked>> {
        locs.iter().map(|l| self.link(l)).collect()
    }

    fn file_facts(&self, path: &Path) -> FileFacts {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files
            .entry(path.to_path_buf())
            .or_insert_with(|| FileFacts {
                uprobe_path: uprobe_path(path),
                build_id: ElfObject::open(path).map(|e| e.build_id().map(<[u8]>::to_vec)),
            })
            .clone()
    }

    fn maps_of_process(&self) -> Result<(Vec<Mapping>, String)> {
        self.maps
            .get_or_init(|| match &self.config.process {
                Some(Process::Pid(pid)) => {
                    maps::read_pid(*pid).map(|m| (m, format!("process {pid}")))
                }
                Some(Process::Maps(f)) => crate::sources::regular_file(f)
                    .and_then(|()| std::fs::read_to_string(f).map_err(|e| Error::io(f, e)))
                    .and_then(|t| maps::parse(&t, f))
                    .map(|m| (m, format!("maps file {}", f.display()))),
                None => Err(Error::new(ErrorKind::BadInput, "no process given")),
            })
            .clone()
    }

    fn process_image(&self, path: &Path) -> Result<ProcessImage> {
        let (maps, describe) = self.maps_of_process()?;
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        images
            .entry(path.to_path_buf())
            .or_insert_with(|| ProcessImage::new(path, &maps, &describe))
            .clone()
    }
}

/// A path as the kernel's uprobe parser can take it: absolute (the kernel
/// resolves relative paths against the writer's working directory, which is
/// rarely what the reader of our output has), and free of whitespace, since
/// the definition is split on whitespace.
fn uprobe_path(path: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let s = abs.to_str().ok_or_else(|| {
        Error::new(
            ErrorKind::Unrepresentable,
            "path is not valid UTF-8, which uprobe_events cannot take",
        )
        .with_path(path)
    })?;
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::new(
            ErrorKind::Unrepresentable,
            format!(
                "path {s:?} contains {}, which uprobe_events cannot take (it splits definitions on whitespace); copy or link the file to a path without it",
                match c {
                    ' ' => "a space".to_string(),
                    '\t' => "a tab".to_string(),
                    '\n' => "a newline".to_string(),
                    c => format!("the character {c:?}"),
                }
            ),
        )
        .with_path(path));
    }
    Ok(s.to_string())
}

/// What the dynamic linker bound a GNU indirect function to in process
/// `pid`: the implementation's address, read from its GOT slot, and the
/// uprobe that probes it.
fn bound_ifunc(image: &ProcessImage, pid: u32, slot: crate::FileOffset, path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let read = || -> std::io::Result<Option<(RuntimeAddr, crate::FileOffset)>> {
        let Ok(at) = image.runtime_addr(slot) else {
            return Ok(None);
        };
        let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
        mem.seek(SeekFrom::Start(at.get()))?;
        let mut b = [0u8; 8];
        mem.read_exact(&mut b)?;
        let target = RuntimeAddr(u64::from_le_bytes(b));
        Ok(image.file_offset(target).map(|o| (target, o)))
    };
    match read() {
        Ok(Some((target, off))) => format!(
            "in process {pid} the dynamic linker bound it to {target:#x}, file offset {off}: probe that implementation with '{}:{off}'",
            path.display()
        ),
        Ok(None) => format!(
            "in process {pid} its GOT slot does not point into {} (not bound yet, or bound elsewhere)",
            path.display()
        ),
        Err(e) => format!("in process {pid} its GOT slot could not be read: {e}"),
    }
}
