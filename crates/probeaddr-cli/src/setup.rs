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
use probeaddr::resolve::{find_debug_file, DebugOrigin, DebugTarget, Fetch, FoundDebugFile};
use probeaddr::spec::{InlineFilter, Point, ProbeKind, Target};
use probeaddr::ProbeSpec;
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
    /// The kernel points, when known: with no vmlinux (or module file)
    /// given, the running kernel's debug files are looked for by build-id
    /// for them, and fetched from debuginfod for those kallsyms cannot
    /// answer alone.
    pub kernel_points: Vec<ProbeSpec>,
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
    let vmlinux_given = vmlinux.is_some();
    sources.extend(vmlinux.map(Source::Vmlinux));
    let given_modules = !inp.modules.is_empty()
        || inp.module_dir.is_some()
        || inp
            .kernel
            .is_some_and(|k| !k.modules.is_empty() || k.module_dir.is_some());
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
    let given_image = vmlinux_given
        || inp
            .kernel
            .is_some_and(|k| k.system_map.is_some() || k.symbols.is_some());
    if running {
        running_debug_files(
            &linker,
            &inp.options,
            &inp.kernel_points,
            given_image,
            given_modules,
            &mut sources,
            &mut notes,
        );
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

/// A point kallsyms cannot answer alone: it needs the debug file.
fn needs_debug(spec: &ProbeSpec) -> bool {
    !spec.args.is_empty()
        || match &spec.point {
            Point::Function {
                file, line, offset, ..
            } => file.is_some() || line.is_some() || *offset > 0,
            Point::Data { .. } | Point::Mark { .. } => false,
            _ => true,
        }
}

/// A point the kernel image's symbols and line programs answer alone (a
/// debuginfod server's single sections, not the whole file): a function
/// by its file, at its entry, no arguments, no inlined sites wanted.
fn sections_enough(spec: &ProbeSpec, options: &ResolveOptions) -> bool {
    let no_inlines = options.no_inlines
        || spec.inlines == InlineFilter::CallOnly
        || spec.kind == ProbeKind::Return;
    spec.args.is_empty()
        && no_inlines
        && spec.inlines != InlineFilter::InlineOnly
        && !options.skip_prologue
        && options.variables.is_none()
        && matches!(
            &spec.point,
            Point::Function {
                file: Some(_),
                line: None,
                offset: 0,
                ..
            }
        )
}

/// What the running kernel's image points need fetched: nothing when
/// kallsyms answers them, sections when those do, else the whole file.
fn image_fetch(points: &[ProbeSpec], options: &ResolveOptions) -> Fetch {
    let needing: Vec<&ProbeSpec> = points
        .iter()
        .filter(|s| matches!(s.target, Target::Kernel | Target::Process(None)) && needs_debug(s))
        .collect();
    if needing.is_empty() {
        Fetch::Nothing
    } else if needing.iter().all(|s| sections_enough(s, options)) {
        Fetch::Sections
    } else {
        Fetch::Whole
    }
}

/// What the note on the running kernel's debug vmlinux adds about how it
/// was fetched: from sections (which, how many bytes), whole because
/// sections could not be had, or whole only for the inlined sites.
fn fetched_how(f: &FoundDebugFile, points: &[ProbeSpec], options: &ResolveOptions) -> String {
    if let DebugOrigin::DebuginfodSections {
        url,
        sections,
        downloaded,
    } = &f.origin
    {
        let from = match url {
            Some(u) => format!(
                "the sections {} sent, {downloaded} bytes",
                u.rsplit_once("/section/").map_or(u.as_str(), |x| x.0)
            ),
            None => "sections in the debuginfod cache".into(),
        };
        let which = if sections.is_empty() {
            String::new()
        } else {
            format!("{}; ", sections.join(", "))
        };
        return format!(" (its symbols and line programs only, assembled from {from}: {which}enough for these points)");
    }
    if let Some(why) = &f.sections_refused {
        return format!(" (the whole file: its sections could not be had: {why})");
    }
    let no_inlines = ResolveOptions {
        no_inlines: true,
        ..options.clone()
    };
    match (&f.origin, image_fetch(points, &no_inlines)) {
        (DebugOrigin::Debuginfod { url: Some(_) }, Fetch::Sections) => {
            " (the whole file, for inlined sites; with --no-inlines only its symbols and line programs, a twenty-fifth of it, are fetched)".to_string()
        }
        _ => String::new(),
    }
}

/// The running kernel's debug vmlinux (when no image is given) and the
/// debug files of the modules the points name (when no module is), by build-id
/// (`/sys/kernel/notes`, `/sys/module/M/notes`): from the debug
/// directories and the distributions' paths, or from debuginfod for
/// points that need them.
fn running_debug_files(
    linker: &Linker,
    options: &ResolveOptions,
    points: &[ProbeSpec],
    given_image: bool,
    given_modules: bool,
    sources: &mut Vec<Source>,
    notes: &mut Vec<String>,
) {
    let fetch_image = image_fetch(points, options);
    let image_id = if given_image {
        None
    } else {
        linker.kernel_build_id().ok().flatten()
    };
    if let Some(id) = image_id {
        match find_debug_file(DebugTarget::Vmlinux(&id), options, fetch_image) {
            Ok(l) => match l.found {
                Some(f) => {
                    let how = fetched_how(&f, points, options);
                    notes.push(format!(
                        "the running kernel's debug vmlinux (build-id {}): {}{how}",
                        l.build_id.unwrap_or_default(),
                        f.path.display()
                    ));
                    sources.push(Source::Vmlinux(f.path));
                }
                None if fetch_image != Fetch::Nothing => notes.push(format!(
                    "no debug vmlinux for the running kernel (build-id {}; searched: {})",
                    l.build_id.unwrap_or_default(),
                    l.searched.join(", ")
                )),
                None => {}
            },
            Err(e) => notes.push(format!("the running kernel's debug vmlinux: {e}")),
        }
    }
    if given_modules {
        return;
    }
    let mut seen = Vec::new();
    for s in points {
        let Target::Module(m) = &s.target else {
            continue;
        };
        if seen.contains(m) {
            continue;
        }
        seen.push(m.clone());
        let Ok(Some(id)) = linker.module_build_id(m) else {
            continue;
        };
        let fetch = if needs_debug(s) {
            Fetch::Whole
        } else {
            Fetch::Nothing
        };
        match find_debug_file(DebugTarget::Module(m, &id), options, fetch) {
            Ok(l) => {
                if let Some(f) = l.found {
                    notes.push(format!(
                        "module {m}'s debug file (build-id {}): {}",
                        l.build_id.unwrap_or_default(),
                        f.path.display()
                    ));
                    sources.push(Source::Module(f.path));
                }
            }
            Err(e) => notes.push(format!("module {m}'s debug file: {e}")),
        }
    }
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
