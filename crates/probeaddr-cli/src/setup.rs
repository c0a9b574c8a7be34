//! Flags → a [`Resolver`] and a [`Linker`]: the one place that decides what
//! the running system contributes and how strictly.
//!
//! * The linker reads `/proc/kallsyms` and `/sys` unless `--offline`, or the
//!   files given with `--kallsyms` and `--sysfs`; `--pid`/`--maps` name the
//!   process.
//! * The kallsyms it reads goes to the resolver too (parsed once), as the
//!   namespace of uniqueness — only for kernel work, so that a user-space
//!   point never reads it.
//! * A kallsyms that does not describe the vmlinux (or System.map) given is
//!   an error when the user named it with `--kallsyms`; the running
//!   kernel's is then a note, and the linker is told the running kernel is
//!   another build: no runtime addresses, no probe definitions for it.

use std::path::{Path, PathBuf};

use probeaddr::link::Process;
use probeaddr::{
    Error, ErrorKind, FormChoice, Linker, LinkerConfig, ResolveOptions, Resolver, Source,
};

use crate::flags::{FormArg, KernelFlags};

/// The debuginfod client for `--debuginfod` URLs, else the servers the
/// environment names (none: `None`, nothing is asked); its downloads are
/// drawn by [`crate::progress::downloads`].
pub fn debuginfod(urls: &[String]) -> Option<probeaddr::debuginfod::Client> {
    let client = if urls.is_empty() {
        probeaddr::debuginfod::Client::from_env()?
    } else {
        probeaddr::debuginfod::Client::new(urls.to_vec())
    };
    if std::env::var_os("DEBUGINFOD_VERBOSE").is_some() {
        for s in client.skipped_headers() {
            eprintln!("debuginfod: {s}");
        }
    }
    Some(client.with_events(crate::progress::downloads()))
}

/// What one command works with.
pub struct Setup {
    pub resolver: Resolver,
    pub linker: Linker,
    /// What the user should know about the setup itself.
    pub notes: Vec<String>,
}

/// The flags setup needs, from whichever command has them.
#[derive(Default)]
pub struct Inputs<'a> {
    pub kernel: Option<&'a KernelFlags>,
    pub exec: Option<PathBuf>,
    pub vmlinux: Option<PathBuf>,
    /// Modules and module directories given outside the kernel flags
    /// (`list -m`, `lines -m`).
    pub modules: Vec<PathBuf>,
    pub module_dir: Option<PathBuf>,
    pub options: ResolveOptions,
    pub pid: Option<u32>,
    pub maps: Option<PathBuf>,
    /// Kernel points are to be resolved (or kernel names listed): read the
    /// running kernel's kallsyms.
    pub kernel_work: bool,
}

impl KernelFlags {
    /// Where the linker reads the target's state (a `--sysfs` that is not
    /// a directory is an error).
    pub fn linker_config(&self, check_build_id: bool) -> Result<LinkerConfig, Error> {
        if let Some(d) = &self.sysfs {
            directory(d, "--sysfs")?;
        }
        let live = |p: &str| (!self.offline).then(|| PathBuf::from(p));
        Ok(LinkerConfig {
            kallsyms: self.kallsyms.clone().or_else(|| live("/proc/kallsyms")),
            sysfs: self.sysfs.clone().or_else(|| live("/sys")),
            process: None,
            check_build_id,
        })
    }
}

/// An error unless `dir`, given with `flag`, is a directory: a stand-in that
/// is not there must not be taken for a system without modules or events.
pub fn directory(dir: &Path, flag: &str) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let what = if dir.exists() {
        "is not a directory"
    } else {
        "does not exist"
    };
    Err(Error::new(ErrorKind::BadInput, format!("{what} (given with {flag})")).with_path(dir))
}

/// Open everything a command needs.
pub fn open(inp: Inputs<'_>) -> Result<Setup, Error> {
    let check = inp.options.check_build_id;
    let mut config = match inp.kernel {
        Some(k) => k.linker_config(check)?,
        None => LinkerConfig {
            check_build_id: check,
            ..LinkerConfig::offline()
        },
    };
    config.process = match (inp.pid, &inp.maps) {
        (Some(pid), _) => Some(Process::Pid(pid)),
        (None, Some(f)) => Some(Process::Maps(f.clone())),
        (None, None) => None,
    };
    let explicit = inp.kernel.is_some_and(|k| k.kallsyms.is_some());
    let mut notes = Vec::new();
    let mut sources = Vec::new();
    sources.extend(inp.exec.map(Source::User));
    let vmlinux = inp
        .vmlinux
        .or_else(|| inp.kernel.and_then(|k| k.vmlinux.clone()));
    sources.extend(vmlinux.map(Source::Vmlinux));
    sources.extend(inp.modules.into_iter().map(Source::Module));
    sources.extend(inp.module_dir.map(Source::ModuleDir));
    if let Some(k) = inp.kernel {
        sources.extend(k.modules.iter().cloned().map(Source::Module));
        sources.extend(k.module_dir.clone().map(Source::ModuleDir));
        sources.extend(k.system_map.clone().map(Source::SystemMap));
        sources.extend(k.symbols.clone().map(Source::SideTable));
    }
    let mut linker = Linker::new(config);
    let mut running = false;
    if inp.kernel_work {
        match linker.kernel_symbols() {
            Ok(Some(ks)) => {
                sources.push(Source::Kallsyms(ks));
                running = true;
            }
            Ok(None) => {}
            Err(e) if explicit => return Err(e),
            Err(e) => notes.push(format!("running kernel not consulted: {e}")),
        }
    }
    match inp.kernel.and_then(|k| k.btf.clone()) {
        Some(p) => sources.push(Source::Btf(p)),
        None if running && !explicit => sources.extend(linker.kernel_btf().map(Source::Btf)),
        None => {}
    }
    let mut resolver = Resolver::with_options(sources, inp.options);
    if running {
        if let Some(Err(e)) = resolver.kernel_check() {
            if explicit {
                return Err(e);
            }
            notes.push(format!("runtime addresses omitted: {e}"));
            resolver.drop_kernel_symbols();
            linker = linker.other_kernel(e.to_string());
        }
    }
    Ok(Setup {
        resolver,
        linker,
        notes,
    })
}

/// The library's form choice for a `--form` flag.
pub fn form(f: FormArg) -> FormChoice {
    match f {
        FormArg::Safest => FormChoice::Safest,
        FormArg::Text => FormChoice::Text,
        FormArg::Symbol => FormChoice::Symbol,
        FormArg::Address => FormChoice::Address,
    }
}
