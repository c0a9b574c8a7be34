//! Resolving probe points: a [`Resolver`] opens the objects its sources
//! name (once; it caches them, so reuse one resolver for many points), and
//! turns each [`ProbeSpec`] into every [`Location`] it names, each with its
//! file. Several matches are all returned; only [`ResolveOptions::unique`]
//! makes them an error, which carries every candidate and the pin for each.
//!
//! User-space files, the kernel image, modules and symbol listings all go
//! through one pipeline (`pipeline.rs`): the same matching, inlined sites,
//! lines and offset checks, so that a point means the same in each.

mod debugfile;
mod dups;
mod fetch;
mod list;
pub(crate) mod objects;
mod pipeline;
mod symbolize;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use debugfile::{
    find_debug_file, DebugLookup, DebugOrigin, DebugTarget, Fetch, FoundDebugFile,
};
pub use dups::{Duplicate, Instance};
pub use list::{FunctionLines, InlinedSite, LineEntry, ListedFunction};
pub use symbolize::{Answers, SourceLine, Symbolized, Symbolizer};

use crate::error::{Candidate, Error, ErrorKind, Reason, Result};
use crate::index::Binding;
use crate::index::SymbolKind;
use crate::link::kernel::{check, KernelBuild, KernelCheck};
use crate::location::{Location, Object};
use crate::source::{KernelSymbols, Source};
use crate::sources::btf::{self, Btf};
use crate::sources::debuginfo::DebugSearch;
use crate::sources::elf::hex;
use crate::spec::{ProbeSpec, Target};
use objects::{find_module, same_module, Listing, ModuleFile, UserObject, Vmlinux};
use pipeline::{ElfKind, ElfTarget, Image, KernelNames};

/// How to resolve.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// More than one location is an error listing every candidate.
    pub unique: bool,
    /// Probe function entries after their prologue, where gdb's `break
    /// FUNC` stops (frame setup and line table; the entry for optimised
    /// code), and never past a branch, instead of at the entry address.
    pub skip_prologue: bool,
    /// Leave out inlined sites (by default a function probe covers its
    /// out-of-line copies and its inlined sites, like perf and stap).
    pub no_inlines: bool,
    /// Directories searched for separate debug files, before `/usr/lib/debug`.
    pub debug_dirs: Vec<PathBuf>,
    /// The debuginfod client that fetches missing debug files (`None`:
    /// none is asked; [`crate::debuginfod::Client::from_env`] gives the
    /// servers `$DEBUGINFOD_URLS` names, as gdb and perf use).
    #[cfg(feature = "debuginfod")]
    pub debuginfod: Option<crate::debuginfod::Client>,
    /// Refuse debug information whose build-id is not the object's, and a
    /// kallsyms listing of another build as the namespace (default: true).
    pub check_build_id: bool,
    /// List every variable at each location ([`crate::Location::variables`],
    /// perf probe `-V`): `Some(false)` parameters and locals, `Some(true)`
    /// also the unit's globals (`--externs`).
    pub variables: Option<bool>,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            unique: false,
            skip_prologue: false,
            no_inlines: false,
            debug_dirs: Vec::new(),
            #[cfg(feature = "debuginfod")]
            debuginfod: None,
            check_build_id: true,
            variables: None,
        }
    }
}

/// What a probe point resolved to.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Every location, out-of-line copies first, then inlined sites.
    pub locations: Vec<Location>,
    /// What the user should know about the object (only `.dynsym` was
    /// available, …). Notes about one location are in [`Location::notes`].
    pub notes: Vec<String>,
    /// Things that went wrong without stopping the answer (DWARF that had
    /// to be cut).
    pub warnings: Vec<String>,
}

impl Resolution {
    /// The probe point that names each location alone among these, if any.
    pub fn pins(&self) -> Vec<Option<String>> {
        crate::pin::pins(&self.locations)
    }
}

/// Where a probe point lives, once its target is known.
enum Where {
    User(PathBuf),
    Kernel,
    Module(String),
}

/// Resolves probe points against a set of [`Source`]s.
///
/// ```no_run
/// use probeaddr::{ProbeSpec, Resolver, Source};
///
/// let resolver = Resolver::new([Source::User("/usr/lib/x86_64-linux-gnu/libc.so.6".into())]);
/// let found = resolver.resolve(&ProbeSpec::parse("malloc")?)?;
/// for l in &found.locations {
///     println!("{} at {}", l.symbol, l.anchor);
/// }
/// # Ok::<(), probeaddr::Error>(())
/// ```
#[derive(Debug)]
pub struct Resolver {
    options: ResolveOptions,
    search: DebugSearch,
    user: Option<PathBuf>,
    vmlinux_path: Option<PathBuf>,
    module_paths: Vec<PathBuf>,
    module_dirs: Vec<PathBuf>,
    kallsyms: Option<KernelSymbols>,
    listing_source: Option<Source>,
    users: Mutex<HashMap<PathBuf, Result<Arc<UserObject>>>>,
    vmlinux: OnceLock<Result<Vmlinux>>,
    given_modules: OnceLock<Result<Vec<Arc<ModuleFile>>>>,
    found_modules: Mutex<Vec<Arc<ModuleFile>>>,
    listing: OnceLock<Result<Listing>>,
    check: OnceLock<Option<Result<KernelCheck>>>,
    btf_path: Option<PathBuf>,
    btf: OnceLock<Result<Arc<Btf>>>,
    vmlinux_btf: OnceLock<Option<Arc<Btf>>>,
    module_btf: Mutex<HashMap<String, Result<Arc<Btf>>>>,
}

impl Resolver {
    /// A resolver over `sources`, with default options.
    pub fn new(sources: impl IntoIterator<Item = Source>) -> Resolver {
        Resolver::with_options(sources, ResolveOptions::default())
    }

    /// A resolver over `sources`. Nothing is opened yet: each object is
    /// opened (and its errors reported) when a probe point first needs it.
    pub fn with_options(
        sources: impl IntoIterator<Item = Source>,
        options: ResolveOptions,
    ) -> Resolver {
        let search = DebugSearch::from_options(&options);
        let mut r = Resolver {
            options,
            search,
            user: None,
            vmlinux_path: None,
            module_paths: Vec::new(),
            module_dirs: Vec::new(),
            kallsyms: None,
            listing_source: None,
            users: Mutex::new(HashMap::new()),
            vmlinux: OnceLock::new(),
            given_modules: OnceLock::new(),
            found_modules: Mutex::new(Vec::new()),
            listing: OnceLock::new(),
            check: OnceLock::new(),
            btf_path: None,
            btf: OnceLock::new(),
            vmlinux_btf: OnceLock::new(),
            module_btf: Mutex::new(HashMap::new()),
        };
        for s in sources {
            match s {
                Source::User(p) => r.user = Some(p),
                Source::Vmlinux(p) => r.vmlinux_path = Some(p),
                Source::Module(p) => r.module_paths.push(p),
                Source::ModuleDir(p) => r.module_dirs.push(p),
                Source::Kallsyms(k) => r.kallsyms = Some(k),
                s @ (Source::SystemMap(_) | Source::SideTable(_)) => r.listing_source = Some(s),
                Source::Btf(p) => r.btf_path = Some(p),
            }
        }
        r
    }

    /// The options.
    pub fn options(&self) -> &ResolveOptions {
        &self.options
    }

    /// Stop using the kallsyms listing (when [`Resolver::kernel_check`]
    /// says it is not the analysed build and the caller will not link to
    /// it): the namespace becomes the files at hand.
    pub fn drop_kernel_symbols(&mut self) {
        self.kallsyms = None;
        self.check = OnceLock::new();
    }

    /// What the user should know about the objects opened so far (only
    /// `.dynsym` was available, …), also when resolving in them failed.
    pub fn notes(&self) -> Vec<String> {
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<String> = users
            .values()
            .filter_map(|u| u.as_ref().ok())
            .flat_map(|u| u.obj.notes())
            .collect();
        if let Some(Ok(vm)) = self.vmlinux.get() {
            out.extend(vm.obj.notes());
        }
        for m in self.modules_at_hand() {
            out.extend(m.obj.notes());
        }
        out
    }

    /// The kallsyms listing given as a source, if any.
    pub fn kernel_symbols(&self) -> Option<&KernelSymbols> {
        self.kallsyms.as_ref()
    }

    /// Every location `spec` names.
    pub fn resolve(&self, spec: &ProbeSpec) -> Result<Resolution> {
        let r = match self.place(spec)? {
            Where::User(path) => {
                let u = self.user_object(&path)?;
                ElfTarget {
                    obj: &u.obj,
                    kind: ElfKind::User,
                    object: Object::User {
                        path: path.clone(),
                        build_id: u.obj.elf().build_id().map(hex),
                    },
                    btf: None,
                }
                .resolve(spec, &self.options, None)?
            }
            Where::Kernel => self.resolve_kernel(spec, None)?,
            Where::Module(m) => self.resolve_kernel(spec, Some(&m))?,
        };
        if self.options.unique && r.locations.len() > 1 {
            return Err(ambiguity(spec, &r.locations));
        }
        Ok(r)
    }

    /// Every location of each of `specs`. The modules the batch names are
    /// found first, so that counting a name among the modules at hand gives
    /// the same answer for every point of the batch.
    pub fn resolve_all(&self, specs: &[ProbeSpec]) -> Vec<Result<Resolution>> {
        for s in specs {
            if let Ok(Where::Module(m)) = self.place(s) {
                let _ = self.module(&m);
            }
        }
        specs.iter().map(|s| self.resolve(s)).collect()
    }

    /// Whether the kallsyms listing describes the kernel image analysed
    /// (vmlinux, else System.map or side table): `None` when there is no
    /// listing or no image to compare it with. A listing that does not
    /// describe the image (an error here) is not used as the namespace.
    pub fn kernel_check(&self) -> Option<Result<KernelCheck>> {
        self.check_kernel().cloned()
    }

    fn check_kernel(&self) -> Option<&Result<KernelCheck>> {
        self.check
            .get_or_init(|| {
                let ks = self.kallsyms.as_ref()?;
                let check_id = self.options.check_build_id;
                if self.vmlinux_path.is_some() {
                    let vm = self.vmlinux().ok()?;
                    let idx = match vm.obj.index() {
                        Ok(i) => i,
                        Err(e) => return Some(Err(e)),
                    };
                    let mut functions: Vec<(&str, crate::LinkAddr)> = idx
                        .symbols()
                        .iter()
                        .filter(|s| {
                            s.kind == SymbolKind::Function
                                && s.binding == Binding::Global
                                && s.in_exec_section
                        })
                        .map(|s| (idx.name(s), s.addr))
                        .collect();
                    functions.sort_by_key(|f| f.1);
                    let unique = |n: &str| idx.count_named(n) == 1;
                    let build = KernelBuild {
                        what: vm.path().display().to_string(),
                        where_: "in the vmlinux",
                        text: vm.text(),
                        build_id: vm.build_id(),
                        functions,
                        unique: &unique,
                    };
                    return Some(check(&build, ks, check_id));
                }
                if self.listing_source.is_some() {
                    let listing = self.listing().ok()?;
                    let map = listing.ks();
                    let text = listing.text()?;
                    let mut functions: Vec<(&str, crate::LinkAddr)> = map
                        .symbols()
                        .iter()
                        .filter(|s| s.kind == b'T' && map.module(s).is_none())
                        .map(|s| (map.name(s), crate::LinkAddr(s.addr.get())))
                        .collect();
                    functions.sort_by_key(|f| f.1);
                    let unique = |n: &str| map.count(n, None) == 1;
                    let build = KernelBuild {
                        what: listing.origin().display().to_string(),
                        where_: "in the listing",
                        text,
                        build_id: listing.build_id.as_deref(),
                        functions,
                        unique: &unique,
                    };
                    return Some(check(&build, ks, check_id));
                }
                None
            })
            .as_ref()
    }

    /// True if the kallsyms listing is the namespace of the kernel analysed.
    fn kallsyms_is_namespace(&self) -> bool {
        match (&self.kallsyms, self.check_kernel()) {
            (None, _) => false,
            // Nothing to compare it with: it is the kernel.
            (Some(_), None) => self.vmlinux_path.is_none() && self.listing_source.is_none(),
            (Some(_), Some(Ok(c))) => c.same_build(),
            (Some(_), Some(Err(_))) => false,
        }
    }

    /// What object a point lives in.
    fn place(&self, spec: &ProbeSpec) -> Result<Where> {
        Ok(match &spec.target {
            Target::Process(Some(p)) => {
                if let Some(x) = &self.user {
                    let same = match (std::fs::canonicalize(p), std::fs::canonicalize(x)) {
                        (Ok(a), Ok(b)) => a == b,
                        _ => p == x,
                    };
                    if !same {
                        return Err(Error::new(
                            ErrorKind::BadInput,
                            format!(
                                "'{spec}' names {} but -x names {}; give one object",
                                p.display(),
                                x.display()
                            ),
                        ));
                    }
                }
                Where::User(p.clone())
            }
            Target::Process(None) => match (
                &self.user,
                self.vmlinux_path.is_none(),
                &self.module_paths[..],
            ) {
                (Some(x), _, _) => Where::User(x.clone()),
                // perf syntax with one module and no kernel image: that module.
                (None, true, [_]) => match self.given_modules() {
                    Ok(m) => Where::Module(m[0].name().to_string()),
                    Err(e) => return Err(e),
                },
                _ => Where::Kernel,
            },
            Target::Kernel => Where::Kernel,
            Target::Module(m) => Where::Module(m.clone()),
        })
    }

    fn user_object(&self, path: &Path) -> Result<Arc<UserObject>> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users
            .entry(path.to_path_buf())
            .or_insert_with(|| UserObject::open(path, &self.search).map(Arc::new))
            .clone()
    }

    fn vmlinux(&self) -> Result<&Vmlinux> {
        self.vmlinux
            .get_or_init(|| match &self.vmlinux_path {
                Some(p) => Vmlinux::open(p, &self.search),
                None => Err(Error::new(ErrorKind::BadInput, "no vmlinux given")),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn given_modules(&self) -> Result<&Vec<Arc<ModuleFile>>> {
        self.given_modules
            .get_or_init(|| {
                self.module_paths
                    .iter()
                    .map(|p| ModuleFile::open(p, &self.search).map(Arc::new))
                    .collect()
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Module `name`: one given, else one found under a module directory.
    fn module(&self, name: &str) -> Result<Option<Arc<ModuleFile>>> {
        if let Some(m) = self
            .given_modules()?
            .iter()
            .find(|m| same_module(m.name(), name))
        {
            return Ok(Some(m.clone()));
        }
        let mut found = self.found_modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = found.iter().find(|m| same_module(m.name(), name)) {
            return Ok(Some(m.clone()));
        }
        for dir in &self.module_dirs {
            match find_module(dir, name) {
                Ok(p) => {
                    let m = Arc::new(ModuleFile::open(&p, &self.search)?);
                    found.push(m.clone());
                    return Ok(Some(m));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    fn modules_at_hand(&self) -> Vec<Arc<ModuleFile>> {
        let mut all: Vec<Arc<ModuleFile>> = self.given_modules().cloned().unwrap_or_default();
        all.extend(
            self.found_modules
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        all
    }

    fn listing(&self) -> Result<&Listing> {
        self.listing
            .get_or_init(|| match &self.listing_source {
                Some(Source::SystemMap(p)) => Listing::system_map(p),
                Some(Source::SideTable(p)) => Listing::side_table(p, self.kallsyms.as_ref()),
                _ => Err(Error::new(ErrorKind::BadInput, "no symbol listing given")),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The BTF a listing's locations read their variables through: only
    /// read when `spec` has variables to read.
    fn btf_for(&self, spec: &ProbeSpec, module: Option<&str>) -> Result<Option<Arc<Btf>>> {
        if spec.args.is_empty() && self.options.variables.is_none() {
            return Ok(None);
        }
        match module {
            Some(m) => self.module_btf(m),
            None => self.kernel_btf(),
        }
        .transpose()
    }

    /// The vmlinux's own `.BTF` (read once), if it has one.
    fn vmlinux_btf(&self, path: &Path) -> Option<Arc<Btf>> {
        self.vmlinux_btf
            .get_or_init(|| {
                let raw = btf::read_bytes(path).ok()?;
                Btf::parse(raw, path).ok().map(Arc::new)
            })
            .clone()
    }

    /// The kernel's BTF (read once), when a [`Source::Btf`] was given.
    fn kernel_btf(&self) -> Option<Result<Arc<Btf>>> {
        let p = self.btf_path.as_ref()?;
        Some(
            self.btf
                .get_or_init(|| {
                    let file = if p.is_dir() {
                        p.join("vmlinux")
                    } else {
                        p.clone()
                    };
                    Ok(Arc::new(Btf::parse(btf::read_bytes(&file)?, &file)?))
                })
                .clone(),
        )
    }

    /// Module `name`'s BTF, split on the kernel's (read once).
    fn module_btf(&self, name: &str) -> Option<Result<Arc<Btf>>> {
        let p = self.btf_path.as_ref()?;
        let mut cache = self.module_btf.lock().unwrap_or_else(|e| e.into_inner());
        let r = cache.entry(name.to_string()).or_insert_with(|| {
            if !p.is_dir() {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("module {name}'s BTF is a split file beside the kernel's: give a directory like /sys/kernel/btf, not one file"),
                )
                .with_path(p));
            }
            let base = self.kernel_btf().expect("a BTF path is given")?;
            // sysfs names modules with underscores (af_key), as kallsyms does.
            let file = p.join(name.replace('-', "_"));
            base.split(&btf::read_bytes(&file)?, &file).map(Arc::new)
        });
        Some(r.clone())
    }

    /// The kernel image's and modules' names, for counting.
    fn kernel_names<'a>(
        &'a self,
        image: Image<'a>,
        modules: &'a [Arc<ModuleFile>],
    ) -> KernelNames<'a> {
        KernelNames {
            kallsyms: self
                .kallsyms
                .as_ref()
                .filter(|_| self.kallsyms_is_namespace())
                .map(|k| &*k.listing),
            image,
            modules: modules.iter().filter_map(|m| m.obj.index().ok()).collect(),
        }
    }

    /// The image's names when they are not the listing's: its index, or
    /// its System.map.
    fn image_names(&self) -> Image<'_> {
        if self.vmlinux_path.is_some() {
            return match self.vmlinux().and_then(|v| v.obj.index()) {
                Ok(idx) => Image::Index(idx),
                Err(_) => Image::None,
            };
        }
        match self.listing() {
            Ok(l) if self.listing_source.is_some() => Image::Listing(l.ks()),
            _ => Image::None,
        }
    }

    fn resolve_kernel(&self, spec: &ProbeSpec, module: Option<&str>) -> Result<Resolution> {
        let mods = self.modules_at_hand();
        if let Some(name) = module {
            if let Some(m) = self.module(name)? {
                // A module found just now counts too.
                let mods = self.modules_at_hand();
                let names = self.kernel_names(self.image_names(), &mods);
                return ElfTarget {
                    obj: &m.obj,
                    kind: ElfKind::Module { name: m.name() },
                    object: Object::Module {
                        name: m.name().to_string(),
                        path: Some(m.path().to_path_buf()),
                        build_id: m.obj.elf().build_id().map(hex),
                    },
                    btf: None,
                }
                .resolve(spec, &self.options, Some(&names));
            }
            return match self.kallsyms.as_ref().filter(|_| self.kallsyms_is_namespace()) {
                Some(ks) if ks.listing.modules().iter().any(|m| same_module(m, name)) => {
                    let names = self.kernel_names(self.image_names(), &mods);
                    let btf = self.btf_for(spec, Some(name))?;
                    pipeline::resolve_listing(&Listing::kallsyms(ks.clone()), Some(name), spec, &names, &self.options, btf.as_deref())
                }
                _ => Err(Error::new(
                    ErrorKind::NotFound,
                    format!("'{spec}': unknown module {name}: give its .ko with -m or --module-dir (it is not loaded either)"),
                )),
            };
        }
        if self.vmlinux_path.is_some() {
            let vm = self.vmlinux()?;
            let names = self.kernel_names(self.image_names(), &mods);
            // Without DWARF, parameters come from BTF: the one given, else
            // the vmlinux's own .BTF.
            let btf = match vm.obj.compile_units() {
                Some(_) => None,
                None => match self.btf_for(spec, None)? {
                    Some(b) => Some(b),
                    None if !spec.args.is_empty() || self.options.variables.is_some() => {
                        self.vmlinux_btf(vm.path())
                    }
                    None => None,
                },
            };
            return ElfTarget {
                obj: &vm.obj,
                kind: ElfKind::Vmlinux {
                    text: vm.text(),
                    blacklist: vm.kprobe_blacklist(),
                },
                object: Object::Vmlinux {
                    path: Some(vm.path().to_path_buf()),
                    build_id: vm.build_id().map(hex),
                },
                btf: btf.as_deref(),
            }
            .resolve(spec, &self.options, Some(&names));
        }
        if self.listing_source.is_some() {
            let listing = self.listing()?;
            let names = self.kernel_names(Image::Listing(listing.ks()), &mods);
            let btf = self.btf_for(spec, None)?;
            return pipeline::resolve_listing(
                listing,
                None,
                spec,
                &names,
                &self.options,
                btf.as_deref(),
            );
        }
        if let Some(ks) = &self.kallsyms {
            let names = self.kernel_names(Image::None, &mods);
            let btf = self.btf_for(spec, None)?;
            return pipeline::resolve_listing(
                &Listing::kallsyms(ks.clone()),
                None,
                spec,
                &names,
                &self.options,
                btf.as_deref(),
            );
        }
        Err(Error::new(
            ErrorKind::BadInput,
            format!("'{spec}': no kernel symbols: give --vmlinux, --kallsyms or --system-map"),
        ))
    }
}

/// The `--unique` error: every candidate, with the pin that selects it.
fn ambiguity(spec: &ProbeSpec, locs: &[Location]) -> Error {
    let mut detail = String::new();
    let mut candidates = Vec::new();
    for (l, pin) in locs.iter().zip(crate::pin::pins(locs)) {
        detail.push_str(&format!(
            "  {} at {} ({}){}\n",
            l.describe(),
            l.func_addr,
            l.anchor,
            pin.as_ref()
                .map(|p| format!(": pin with '{p}'"))
                .unwrap_or_else(|| format!(": no name pins it; use {}", l.anchor))
        ));
        candidates.push(Candidate {
            location: l.describe(),
            addr: l.addr,
            anchor: l.anchor.to_string(),
            pin,
        });
    }
    Error::new(
        ErrorKind::Ambiguous,
        format!(
            "'{spec}' matches {} locations and --unique was given",
            locs.len()
        ),
    )
    .with_detail(detail.trim_end().to_string())
    .with_reason(Reason::Ambiguous { candidates })
}

#[cfg(test)]
mod tests {
    /// A resolver is built once and shared: it must cross threads.
    #[test]
    fn resolver_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Resolver>();
        assert_send_sync::<crate::Location>();
        assert_send_sync::<crate::Linker>();
    }
}
