//! Kernel and module probe points: vmlinux (`ET_EXEC`) and `.ko` files
//! (`ET_REL`) analysed offline, every form the kernel's probe APIs accept, and
//! which of them is safe.
//!
//! The kernel decides whether `SYM` is unique in its *namespace*: every
//! kallsyms entry of vmlinux and of every loaded module
//! (`number_of_same_symbols()` in `kernel/trace/trace_kprobe.c`; since 6.6,
//! backported to 6.1.60, a name matching several entries is refused with
//! `EADDRNOTAVAIL`, and older kernels silently probe the first). So:
//!
//! * `_text+0xOFF` is always unique and survives KASLR: the safe form;
//! * `SYM+0xOFF` only when SYM is unique in the namespace; otherwise the
//!   nearest preceding unique symbol of the same section (never `__pfx_*`);
//! * `MOD:SYM+0xOFF` for modules, when SYM is unique within the module
//!   (6.1.60–6.6 skip the check for `MOD:SYM`; later kernels count within the
//!   module; requiring uniqueness there satisfies both);
//! * the absolute runtime address only after linking against the running
//!   kernel with matching build-ids.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::addr::{LinkAddr, RuntimeAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::index::{split_variant, Binding, Symbol, SymbolIndex, SymbolKind, Variant};
use crate::object::{AnalysedObject, MatchedSymbol};
use crate::resolve::{check_offset_with, name_matches};
use crate::sources::debuginfo::DebugSearch;
use crate::sources::elf::{hex, ElfObject, ObjectKind};
use crate::sources::kallsyms::{KSym, Kallsyms};
use crate::sources::sysfs::Sysfs;
use crate::spec::{Pattern, Point, ProbeKind, ProbeSpec, Target};

/// A vmlinux image opened for analysis.
#[derive(Debug)]
pub struct Vmlinux {
    obj: AnalysedObject,
    text: LinkAddr,
}

impl Vmlinux {
    /// Open a vmlinux (`ET_EXEC` with a `.symtab` holding `_text`).
    pub fn open(path: &Path, search: &DebugSearch) -> Result<Vmlinux> {
        let elf = ElfObject::open(path)?;
        if elf.kind() != ObjectKind::Executable {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "not a vmlinux: expected an ET_EXEC image (a .ko is given with -m; a bzImage/vmlinuz is compressed: use the vmlinux from the debug package)",
            )
            .with_path(path));
        }
        let stripped = |detail: &str| {
            Error::new(
                ErrorKind::NoSymbols,
                format!("stripped vmlinux: no .symtab; use the unstripped vmlinux (Debian: linux-image-*-dbg, /usr/lib/debug/boot/vmlinux-*){detail}"),
            )
            .with_path(path)
        };
        let obj = AnalysedObject::new(elf, search).map_err(|e| {
            if e.kind() == ErrorKind::NoSymbols {
                stripped(&format!(" ({})", e.message()))
            } else {
                e
            }
        })?;
        if *obj.symbol_source() == crate::object::SymbolSource::DynsymOnly
            || !obj.elf().has_symtab() && obj.debug_file().is_none()
        {
            return Err(stripped(""));
        }
        let idx =
            SymbolIndex::build_filtered(obj.elf(), obj.debug_file().or(Some(obj.elf())), |n| {
                n == "_text"
            })?;
        let text = idx
            .symbols()
            .iter()
            .find(|s| idx.name(s) == "_text")
            .map(|s| s.addr)
            .ok_or_else(|| {
                Error::new(ErrorKind::Unsupported, "not a vmlinux: no _text symbol").with_path(path)
            })?;
        Ok(Vmlinux { obj, text })
    }

    /// The analysed object.
    pub fn analysed(&self) -> &AnalysedObject {
        &self.obj
    }
    /// Link-time `_text`.
    pub fn text(&self) -> LinkAddr {
        self.text
    }
    /// Path.
    pub fn path(&self) -> &Path {
        self.obj.elf().path()
    }
    /// Build-id.
    pub fn build_id(&self) -> Option<&[u8]> {
        self.obj.elf().build_id()
    }
}

/// A kernel module file (`.ko`, `ET_REL`): symbol values are offsets into
/// their sections, which the loader places independently.
#[derive(Debug)]
pub struct ModuleFile {
    obj: AnalysedObject,
    name: String,
}

impl ModuleFile {
    /// Open a `.ko`.
    pub fn open(path: &Path) -> Result<ModuleFile> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "xz" | "zst" | "gz") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("compressed module (.{ext}): decompress it first (e.g. unxz / unzstd)"),
            )
            .with_path(path));
        }
        let elf = ElfObject::open(path)?;
        if elf.kind() != ObjectKind::Relocatable {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "not a kernel module: expected an ET_REL .ko",
            )
            .with_path(path));
        }
        let name = modinfo_name(&elf).unwrap_or_else(|| {
            let stem = path
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or("module");
            stem.split('.').next().unwrap_or(stem).replace('-', "_")
        });
        let obj = AnalysedObject::new(
            elf,
            &DebugSearch {
                dirs: Vec::new(),
                check_build_id: true,
                debuginfod: None,
            },
        )?;
        Ok(ModuleFile { obj, name })
    }

    /// The module's name (`.modinfo` `name=`, else the file name).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The analysed object.
    pub fn analysed(&self) -> &AnalysedObject {
        &self.obj
    }
    /// Path.
    pub fn path(&self) -> &Path {
        self.obj.elf().path()
    }
}

fn modinfo_name(elf: &ElfObject) -> Option<String> {
    let s = elf
        .sections()
        .iter()
        .find(|s| s.name == ".modinfo" && !s.is_nobits())?;
    let data = elf
        .data()
        .get(s.offset as usize..(s.offset + s.size) as usize)?;
    data.split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(b"name="))
        .and_then(|n| std::str::from_utf8(n).ok())
        .map(str::to_string)
}

/// Find `NAME.ko` under a module directory (`-` and `_` are the same in
/// module names).
pub fn find_module(dir: &Path, name: &str) -> Result<PathBuf> {
    let want = name.replace('-', "_");
    let mut stack = vec![dir.to_path_buf()];
    let mut compressed = None;
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for e in rd.flatten() {
            let p = e.path();
            let ft = match e.file_type() {
                Ok(t) => t,
                Err(_) => continue,
            };
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            let Some(fname) = p.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let Some((stem, ext)) = fname.split_once('.') else {
                continue;
            };
            if stem.replace('-', "_") != want {
                continue;
            }
            if ext == "ko" {
                return Ok(p);
            }
            if ext.starts_with("ko.") {
                compressed = Some(p);
            }
        }
    }
    match compressed {
        Some(p) => Err(Error::new(
            ErrorKind::Unsupported,
            "compressed module: decompress it first (unxz / unzstd)",
        )
        .with_path(&p)),
        None => Err(Error::new(
            ErrorKind::NotFound,
            format!("no module {name}.ko under {}", dir.display()),
        )),
    }
}

/// The kernel's running state, as far as linking needs it.
#[derive(Debug)]
pub struct KernelLink {
    /// Runtime `_text - link-time `_text`.
    pub slide: u64,
    /// Runtime `_text`.
    pub runtime_text: RuntimeAddr,
    /// Symbols whose runtime addresses were checked against vmlinux + slide.
    pub checked: usize,
    /// Build-id agreement.
    pub build_id: BuildIdCheck,
}

/// Whether the vmlinux is the running kernel's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum BuildIdCheck {
    /// `/sys/kernel/notes` names the same build-id.
    Match,
    /// It names another.
    Mismatch {
        /// The vmlinux's.
        vmlinux: String,
        /// The running kernel's.
        running: String,
    },
    /// Nothing to compare (no notes file or no build-id in the vmlinux).
    Unknown,
    /// The user turned the check off.
    Skipped,
}

impl KernelLink {
    /// A link-time vmlinux address at runtime.
    pub fn runtime(&self, a: LinkAddr) -> RuntimeAddr {
        RuntimeAddr(a.get().wrapping_add(self.slide))
    }
    /// True if runtime addresses may be printed.
    pub fn usable(&self) -> bool {
        !matches!(self.build_id, BuildIdCheck::Mismatch { .. })
    }
}

/// Compute the KASLR slide from kallsyms and check that text is linearly
/// relocated: `_text`, `_stext` and a spread of unique functions must all
/// agree, or this vmlinux is not what kallsyms describes.
pub fn link_vmlinux(
    vm: &Vmlinux,
    ks: &Kallsyms,
    sysfs: Option<&Sysfs>,
    check_build_id: bool,
) -> Result<KernelLink> {
    ks.require_addresses()?;
    let rt = ks.vmlinux_unique("_text").ok_or_else(|| {
        Error::new(
            ErrorKind::BadInput,
            "no _text in kallsyms: cannot compute the KASLR offset",
        )
        .with_path(ks.origin())
    })?;
    let slide = rt.addr.get().wrapping_sub(vm.text().get());
    let build_id = match (
        check_build_id,
        vm.build_id(),
        sysfs.map(|s| s.kernel_build_id()).transpose()?.flatten(),
    ) {
        (false, _, _) => BuildIdCheck::Skipped,
        (true, Some(a), Some(b)) if a == b.as_slice() => BuildIdCheck::Match,
        (true, Some(a), Some(b)) => BuildIdCheck::Mismatch {
            vmlinux: hex(a),
            running: hex(&b),
        },
        _ => BuildIdCheck::Unknown,
    };
    let mut checked = 0;
    if !matches!(build_id, BuildIdCheck::Mismatch { .. }) {
        let idx = vm.analysed().index()?;
        // Unique global functions spread over the image.
        let mut cands: Vec<&Symbol> = idx
            .symbols()
            .iter()
            .filter(|s| {
                s.kind == SymbolKind::Function && s.binding == Binding::Global && s.in_exec_section
            })
            .collect();
        cands.sort_by_key(|s| s.addr);
        let step = (cands.len() / 16).max(1);
        for s in cands.iter().step_by(step).chain(cands.last()) {
            let name = idx.name(s);
            let Some(k) = ks.vmlinux_unique(name) else {
                continue;
            };
            if idx.named(name).count() != 1 {
                continue;
            }
            let want = s.addr.get().wrapping_add(slide);
            if k.addr.get() != want {
                return Err(Error::new(
                    ErrorKind::BuildIdMismatch,
                    format!(
                        "{} does not describe {}: {name} is at {:#x} in kallsyms but at {:#x} + KASLR offset {slide:#x} = {want:#x} in the vmlinux (another build, or text not linearly relocated); use the vmlinux of the running kernel",
                        ks.origin().display(),
                        vm.path().display(),
                        k.addr.get(),
                        s.addr.get()
                    ),
                ));
            }
            checked += 1;
        }
    }
    Ok(KernelLink {
        slide,
        runtime_text: rt.addr,
        checked,
        build_id,
    })
}

/// The ways to write one location for the kernel's probe APIs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Forms {
    /// `_text+0xOFF` (vmlinux only): always unique, survives KASLR.
    pub text: Option<String>,
    /// `SYM+0xOFF` with the function's own name, when that name is unique.
    pub symbol: Option<String>,
    /// `UNIQ+0xOFF`: the nearest preceding unique symbol of the same section,
    /// when the function's own name is not unique.
    pub nearest: Option<String>,
    /// `MOD:SYM+0xOFF` (modules).
    pub module: Option<String>,
    /// The runtime address, after linking with matching build-ids.
    pub address: Option<RuntimeAddr>,
    /// For data: `@SYM`, when kallsyms lists the symbol.
    pub data_symbol: Option<String>,
    /// Why a form is missing or how far it was checked.
    pub notes: Vec<String>,
    /// Why there is no runtime address, when there is none.
    pub address_missing: Option<String>,
}

/// Which form to write in a `kprobe_events` definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormChoice {
    /// The safest available: `_text+`, else `MOD:SYM+`, else the address.
    #[default]
    Safest,
    /// `_text+0xOFF` for vmlinux (`MOD:SYM+0xOFF` for modules).
    Text,
    /// `SYM+0xOFF` or the nearest unique symbol (`MOD:` for modules).
    Symbol,
    /// The absolute runtime address.
    Address,
}

impl Forms {
    /// The probe target text for `choice`, or why there is none.
    pub fn pick(&self, choice: FormChoice) -> std::result::Result<String, String> {
        let addr = || self.address.map(|a| format!("{:#x}", a.get()));
        let sym = || {
            self.module
                .clone()
                .or_else(|| self.symbol.clone())
                .or_else(|| self.nearest.clone())
        };
        let why = || self.notes.join("; ");
        match choice {
            FormChoice::Safest => self.text.clone().or_else(sym).or_else(addr).ok_or_else(why),
            // Module code is not relative to _text: its stable form is MOD:SYM+OFF.
            FormChoice::Text => self.text.clone().or_else(|| self.module.clone()).ok_or_else(|| {
                "no _text form: module code is not relative to _text, and no symbol of the module anchors it".into()
            }),
            FormChoice::Symbol => sym().ok_or_else(why),
            FormChoice::Address => {
                addr().ok_or_else(|| self.address_missing.clone().unwrap_or_else(why))
            }
        }
    }
}

/// Which object a kernel location is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KernelObject {
    /// The kernel image.
    Vmlinux {
        /// vmlinux file, if one was analysed.
        path: Option<PathBuf>,
    },
    /// A module.
    Module {
        /// Module name.
        name: String,
        /// `.ko` file, if one was analysed.
        path: Option<PathBuf>,
    },
}

/// One resolved kernel location.
#[derive(Debug, Clone, Serialize)]
pub struct KernelLocation {
    /// vmlinux or module.
    pub object: KernelObject,
    /// Full symbol name.
    pub symbol: String,
    /// Source-level name.
    pub function: String,
    /// Plain or clone.
    pub variant: Variant,
    /// Source file, if known.
    pub file: Option<String>,
    /// Full source path, if DWARF has it.
    pub source_path: Option<String>,
    /// The declaration file, when the probe point matched through it.
    pub decl_file: Option<String>,
    /// Other matching names at the address.
    pub aliases: Vec<String>,
    /// Section (`.text`, `.init.text`…), if known.
    pub section: Option<String>,
    /// vmlinux: link-time address of the function; module: its offset in its section.
    pub func_addr: LinkAddr,
    /// Offset from the function entry.
    pub offset: u64,
    /// Size of the function (0 if unknown).
    pub size: u64,
    /// True for `kernel.data(...)` locations.
    pub is_data: bool,
    /// Entry or return.
    pub kind: ProbeKind,
    /// How many symbols of this name the namespace holds.
    pub name_count: usize,
    /// Every form.
    pub forms: Forms,
    /// For line probes: file and line.
    pub line: Option<(String, u64)>,
    /// For an inlined copy: the function it was inlined into.
    pub inlined_into: Option<String>,
}

crate::resolve::impl_pinnable!(KernelLocation);

/// Everything a kernel probe point can be resolved against.
#[derive(Debug, Default)]
pub struct KernelInputs<'a> {
    /// The vmlinux, if given.
    pub vmlinux: Option<&'a Vmlinux>,
    /// Module files, by name.
    pub modules: Vec<&'a ModuleFile>,
    /// kallsyms of the running kernel (or a saved copy): the namespace, and
    /// runtime addresses.
    pub kallsyms: Option<&'a Kallsyms>,
    /// A System.map: link-time addresses of vmlinux, when there is no vmlinux.
    pub system_map: Option<&'a Kallsyms>,
    /// sysfs (module section bases, build-ids).
    pub sysfs: Option<&'a Sysfs>,
    /// Link of the vmlinux against kallsyms, if computed.
    pub link: Option<&'a KernelLink>,
    /// Leave out inlined copies of functions.
    pub no_inlines: bool,
    /// Link the link-time listing (`system_map`: a System.map or an export)
    /// through `kallsyms`' `_text`: set when both describe the same build.
    pub link_listing: bool,
    /// True if `kallsyms` describes the kernel being analysed (no vmlinux,
    /// or a vmlinux whose link succeeded with no build-id mismatch); only
    /// then is it the namespace for uniqueness.
    pub kallsyms_matches: bool,
}

impl KernelInputs<'_> {
    /// How many symbols named `name` the kernel would see, and whether that
    /// count covers loaded modules (kallsyms) or only the files at hand.
    fn count(&self, name: &str) -> (usize, bool) {
        if let Some(ks) = self.kallsyms.filter(|_| self.kallsyms_matches) {
            return (ks.count(name, None), true);
        }
        let mut n = 0;
        if let Some(vm) = self.vmlinux {
            if let Ok(idx) = vm.analysed().index() {
                n += count_in(idx, name);
            }
        } else if let Some(sm) = self.system_map {
            n += sm.count(name, None);
        }
        for m in &self.modules {
            if let Ok(idx) = m.analysed().index() {
                n += count_in(idx, name);
            }
        }
        (n, false)
    }
}

/// kallsyms-visible symbols named `name` in an index (functions, objects and
/// labels; not sections or files).
fn count_in(idx: &SymbolIndex, name: &str) -> usize {
    idx.named(name).count()
}

fn plus(sym: &str, off: u64) -> String {
    format!("{sym}+{off:#x}")
}

/// Resolve a kernel or module probe point to every location it names.
pub fn resolve(spec: &ProbeSpec, inp: &KernelInputs<'_>) -> Result<Vec<KernelLocation>> {
    let (func, file, offset, data) = match &spec.point {
        Point::Function { line: Some(_), .. } | Point::Line { .. } => {
            return match (&spec.target, inp.vmlinux) {
                (Target::Kernel | Target::Process(None), Some(vm)) => resolve_vmlinux_lines(spec, vm, inp),
                _ => Err(Error::new(
                    ErrorKind::NotImplemented,
                    format!("'{spec}' is a line probe: it needs a vmlinux with DWARF (-k VMLINUX); module line probes are not supported yet"),
                )),
            };
        }
        Point::Function {
            func,
            file,
            offset,
            line: None,
        } => (func, file.as_ref(), *offset, false),
        Point::Data { name } => (name, None, 0, true),
    };
    match &spec.target {
        Target::Kernel | Target::Process(None) => match (inp.vmlinux, inp.system_map.or(inp.kallsyms)) {
            (Some(vm), _) => resolve_vmlinux(spec, vm, inp, func, file, offset, data),
            (None, Some(ks)) => resolve_kallsyms(spec, ks, None, inp, func, file, offset, data),
            (None, None) => Err(Error::new(
                ErrorKind::BadInput,
                format!("'{spec}': no kernel symbols: give --vmlinux, --kallsyms or --system-map (/proc/kallsyms was not readable)"),
            )),
        },
        Target::Module(name) => {
            let want = name.replace('-', "_");
            if let Some(m) = inp.modules.iter().find(|m| m.name().replace('-', "_") == want) {
                return resolve_module(spec, m, inp, func, file, offset, data);
            }
            match inp.kallsyms {
                Some(ks) if ks.modules().iter().any(|m| m.replace('-', "_") == want) => {
                    resolve_kallsyms(spec, ks, Some(name), inp, func, file, offset, data)
                }
                _ => Err(Error::new(
                    ErrorKind::NotFound,
                    format!("'{spec}': unknown module {name}: give its .ko with -m or --module-dir (it is not loaded either)"),
                )),
            }
        }
        Target::Process(Some(p)) => Err(Error::new(
            ErrorKind::BadInput,
            format!("'{spec}' is a user-space probe point ({}), not a kernel one", p.display()),
        )),
    }
}

fn data_matches(pat: &Pattern, idx: &SymbolIndex, s: &Symbol) -> bool {
    matches!(s.kind, SymbolKind::Object | SymbolKind::NoType)
        && !s.in_exec_section
        && pat.matches(idx.name(s))
}

/// Functions (with clones, by file) or, for `kernel.data`, data symbols.
fn match_symbols(
    obj: &AnalysedObject,
    func: &Pattern,
    file: Option<&Pattern>,
    data: bool,
) -> Result<Vec<MatchedSymbol>> {
    if !data {
        return obj.match_functions(func, file);
    }
    let idx = obj.index()?;
    Ok(idx
        .symbols()
        .iter()
        .filter(|s| data_matches(func, idx, s))
        .map(|s| MatchedSymbol {
            name: idx.name(s).to_string(),
            sym: *s,
            file: obj.source_file(idx, s),
            aliases: Vec::new(),
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn resolve_vmlinux(
    spec: &ProbeSpec,
    vm: &Vmlinux,
    inp: &KernelInputs<'_>,
    func: &Pattern,
    file: Option<&Pattern>,
    offset: u64,
    data: bool,
) -> Result<Vec<KernelLocation>> {
    let obj = vm.analysed();
    let mut matched = match_symbols(obj, func, file, data)?;
    if spec.inlines == crate::spec::InlineFilter::InlineOnly {
        matched.clear();
    }
    let want_inlines = !data
        && offset == 0
        && !inp.no_inlines
        && spec.inlines != crate::spec::InlineFilter::CallOnly
        && spec.kind == ProbeKind::Entry;
    let inlined = if want_inlines {
        obj.match_inlined(func, file, &matched)?
    } else {
        Vec::new()
    };
    if matched.is_empty() && inlined.is_empty() {
        return Err(obj.not_found(spec, func, file));
    }
    let items = matched.into_iter().map(|m| (m, offset, None)).collect();
    let mut out = vmlinux_locations(spec, vm, inp, items, data)?;
    if !inlined.is_empty() {
        let inl_items: Vec<Item> = inlined
            .iter()
            .map(|im| (im.host.clone(), im.offset, None))
            .collect();
        let mut more = vmlinux_locations(spec, vm, inp, inl_items, false)?;
        for (l, im) in more.iter_mut().zip(inlined) {
            l.function = im.name;
            l.inlined_into = im.caller;
            if im.decl_file.is_some() {
                l.decl_file = im.decl_file;
            }
        }
        out.extend(more);
    }
    Ok(out)
}

/// Line probes in the vmlinux: `FUNC:N`, `FUNC@SRC:N` (stap), `SRC:N`.
fn resolve_vmlinux_lines(
    spec: &ProbeSpec,
    vm: &Vmlinux,
    inp: &KernelInputs<'_>,
) -> Result<Vec<KernelLocation>> {
    let obj = vm.analysed();
    let path = vm.path();
    let cu = obj.compile_units().ok_or_else(|| {
        Error::new(ErrorKind::NoSymbols, format!("'{spec}' needs DWARF line tables and this vmlinux has no .debug_info; use the -dbg vmlinux"))
            .with_path(path)
    })?;
    let mut items = Vec::new();
    match &spec.point {
        Point::Function {
            func,
            file,
            line: Some(ls),
            ..
        } => {
            let matched = obj.match_functions(func, file.as_ref())?;
            if matched.is_empty() {
                return Err(obj.not_found(spec, func, file.as_ref()));
            }
            let line_file = match ls {
                crate::spec::LineSpec::Absolute(_) => file.as_ref(),
                crate::spec::LineSpec::Relative(_) => None,
            };
            for m in matched {
                let found =
                    crate::lines::in_function(cu, m.sym.addr, *ls, line_file).map_err(|why| {
                        Error::new(
                            ErrorKind::NotFound,
                            format!(
                                "'{spec}': {} [{}]: {why}",
                                m.name,
                                m.file.as_ref().map_or("?", |f| f.shown.as_str())
                            ),
                        )
                        .with_path(path)
                    })?;
                for la in found {
                    let off = la.addr - m.sym.addr.get();
                    items.push((m.clone(), off, Some((la.file, la.line))));
                }
            }
        }
        Point::Line { file, line } => {
            let found = crate::lines::in_file(cu, file, *line).map_err(|why| {
                Error::new(ErrorKind::NotFound, format!("'{spec}': {why}")).with_path(path)
            })?;
            let idx = obj.index()?;
            for la in found {
                let Some(s) = idx.functions_containing(LinkAddr(la.addr)).next() else {
                    continue;
                };
                let m = MatchedSymbol {
                    name: idx.name(s).to_string(),
                    sym: *s,
                    file: obj.source_file(idx, s),
                    aliases: Vec::new(),
                };
                items.push((m, la.addr - s.addr.get(), Some((la.file, la.line))));
            }
        }
        _ => unreachable!("only line points come here"),
    }
    vmlinux_locations(spec, vm, inp, items, false)
}

type Item = (MatchedSymbol, u64, Option<(String, u64)>);

fn vmlinux_locations(
    spec: &ProbeSpec,
    vm: &Vmlinux,
    inp: &KernelInputs<'_>,
    items: Vec<Item>,
    data: bool,
) -> Result<Vec<KernelLocation>> {
    let obj = vm.analysed();
    let elf = obj.elf();
    let mut out = Vec::new();
    for (m, offset, line) in items {
        let s = m.sym;
        let name = m.name.clone();
        let shown = m.file.as_ref().map(|f| f.shown.clone());
        let at = |what: &str| {
            format!(
                "{name}{}{what}",
                shown
                    .as_deref()
                    .map(|f| format!(" [{f}]"))
                    .unwrap_or_default()
            )
        };
        let addr = if data {
            s.addr
        } else {
            check_offset_with(
                elf.path(),
                &s,
                offset,
                || elf.bytes_at(s.addr, s.size).map(<[u8]>::to_vec),
                &at,
            )?
        };
        let section = elf
            .sections()
            .get(s.section as usize)
            .map(|x| x.name.clone());
        let (count, with_modules) = inp.count(&name);
        let mut forms = Forms::default();
        forms
            .notes
            .extend(m.file.as_ref().and_then(|f| f.disagreement.clone()));
        if data {
            if let Some(ks) = inp.kallsyms {
                if ks.count(&name, None) == 1 {
                    forms.data_symbol = Some(format!("@{name}"));
                } else {
                    forms.notes.push(format!(
                        "@{name} is not usable: kallsyms lists it {} times",
                        ks.count(&name, None)
                    ));
                }
            } else {
                forms.notes.push("@SYM: unknown whether kallsyms lists it (data symbols need CONFIG_KALLSYMS_ALL); give --kallsyms".into());
            }
        } else {
            forms.text = Some(plus("_text", addr.get().wrapping_sub(vm.text().get())));
        }
        if count == 1 && !data {
            forms.symbol = Some(plus(&name, addr.get() - s.addr.get()));
            if !with_modules {
                forms.notes.push(format!("{name} is unique in this vmlinux; loaded modules were not checked (give --kallsyms)"));
            }
        } else if !data {
            forms.notes.push(format!(
                "{name} is not unique ({count} symbols): the kernel refuses {name}+OFF"
            ));
            match nearest_unique_vmlinux(vm, inp, &s, addr) {
                Some((p, off)) => forms.nearest = Some(plus(&p, off)),
                None => forms
                    .notes
                    .push("no unique symbol precedes it in its section".into()),
            }
        }
        match inp.link {
            Some(l) if l.usable() => forms.address = Some(l.runtime(addr)),
            Some(l) => {
                if let BuildIdCheck::Mismatch { vmlinux, running } = &l.build_id {
                    let m = format!("runtime address omitted: the vmlinux's build-id {vmlinux} is not the running kernel's {running}");
                    forms.address_missing = Some(m.clone());
                    forms.notes.push(m);
                }
            }
            None => {
                let m = "runtime address omitted: not linked against a running kernel (kallsyms)"
                    .to_string();
                forms.address_missing = Some(m.clone());
                forms.notes.push(m);
            }
        }
        let (function, variant) = split_variant(&name);
        out.push(KernelLocation {
            object: KernelObject::Vmlinux {
                path: Some(vm.path().to_path_buf()),
            },
            function: function.to_string(),
            variant,
            symbol: name.clone(),
            file: shown.clone(),
            decl_file: m.file.as_ref().and_then(|f| f.decl.clone()),
            source_path: m.file.and_then(|f| f.full),
            aliases: m.aliases,
            section,
            func_addr: s.addr,
            offset: addr.get() - s.addr.get(),
            size: s.size,
            is_data: data,
            kind: spec.kind,
            name_count: count,
            forms,
            line: line.clone(),
            inlined_into: None,
        });
    }
    Ok(out)
}

/// The nearest symbol before `addr` in the same section whose name is unique
/// in the namespace and can anchor a probe (a function; never `__pfx_*`).
fn nearest_unique_vmlinux(
    vm: &Vmlinux,
    inp: &KernelInputs<'_>,
    s: &Symbol,
    addr: LinkAddr,
) -> Option<(String, u64)> {
    let idx = vm.analysed().index().ok()?;
    let order = idx.by_address();
    let end = order.partition_point(|&i| idx.symbols()[i as usize].addr <= addr);
    for &i in order[..end].iter().rev() {
        let c = &idx.symbols()[i as usize];
        if c.section != s.section {
            // Symbols are sorted by address and sections do not overlap, so
            // a symbol of another section before ours means we left it; but
            // labels of other sections can interleave (0-sized): keep going
            // only while still inside our section's range.
            let sec = vm.analysed().elf().sections().get(s.section as usize)?;
            if c.addr < sec.addr {
                return None;
            }
            continue;
        }
        let name = idx.name(c);
        if c.kind != SymbolKind::Function || name.starts_with("__pfx_") || name.starts_with('.') {
            continue;
        }
        if inp.count(name).0 == 1 {
            return Some((name.to_string(), addr.get() - c.addr.get()));
        }
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn resolve_module(
    spec: &ProbeSpec,
    m: &ModuleFile,
    inp: &KernelInputs<'_>,
    func: &Pattern,
    file: Option<&Pattern>,
    offset: u64,
    data: bool,
) -> Result<Vec<KernelLocation>> {
    let obj = m.analysed();
    let elf = obj.elf();
    let matched = match_symbols(obj, func, file, data)?;
    if matched.is_empty() {
        return Err(obj.not_found(spec, func, file));
    }
    let idx = obj.index()?;
    let loaded = inp.sysfs.filter(|s| s.module_loaded(m.name()));
    let build_id_note = match (loaded, elf.build_id()) {
        (Some(sys), Some(ours)) => match sys.module_build_id(m.name())? {
            Some(theirs) if theirs != ours => Some(format!(
                "runtime address omitted: {} has build-id {} but the loaded module {} has {}",
                m.path().display(),
                hex(ours),
                m.name(),
                hex(&theirs)
            )),
            _ => None,
        },
        _ => None,
    };
    let mut out = Vec::new();
    for ms in matched {
        let s = ms.sym;
        let name = ms.name.clone();
        let shown = ms.file.as_ref().map(|f| f.shown.clone());
        let section = elf.sections().get(s.section as usize).cloned();
        let at = |what: &str| {
            format!(
                "{name}{}{what}",
                shown
                    .as_deref()
                    .map(|f| format!(" [{f}]"))
                    .unwrap_or_default()
            )
        };
        let sec_for_bytes = section.clone();
        let addr = if data {
            s.addr
        } else {
            check_offset_with(
                elf.path(),
                &s,
                offset,
                || {
                    let sec = sec_for_bytes?;
                    let start = sec.offset.checked_add(s.addr.get())? as usize;
                    elf.data()
                        .get(start..start.checked_add(s.size as usize)?)
                        .map(<[u8]>::to_vec)
                },
                &at,
            )?
        };
        let off = addr.get() - s.addr.get();
        let mut forms = Forms::default();
        let in_module = count_in(idx, &name);
        if in_module == 1 {
            forms.module = Some(format!("{}:{}", m.name(), plus(&name, off)));
        } else {
            forms.notes.push(format!(
                "{name} is not unique in module {} ({in_module} symbols)",
                m.name()
            ));
            if let Some((p, poff)) = nearest_unique_module(idx, &s, addr) {
                forms.module = Some(format!("{}:{}", m.name(), plus(&p, poff)));
            }
        }
        let (count, with_modules) = inp.count(&name);
        if count == 1 && with_modules {
            forms.symbol = Some(plus(&name, off));
        }
        let sec_name = section.as_ref().map(|s| s.name.clone());
        match (loaded, &build_id_note, &sec_name) {
            (Some(sys), None, Some(sn)) => match sys.module_section(m.name(), sn) {
                Ok(base) => forms.address = Some(RuntimeAddr(base.get().wrapping_add(addr.get()))),
                Err(e) => forms.address_missing = Some(format!("runtime address omitted: {e}")),
            },
            (Some(_), Some(note), _) => forms.address_missing = Some(note.clone()),
            _ => {
                forms.address_missing = Some(format!(
                    "runtime address omitted: module {} is not loaded (or no --sysfs)",
                    m.name()
                ))
            }
        }
        forms.notes.extend(forms.address_missing.clone());
        let (function, variant) = split_variant(&name);
        out.push(KernelLocation {
            object: KernelObject::Module {
                name: m.name().to_string(),
                path: Some(m.path().to_path_buf()),
            },
            function: function.to_string(),
            variant,
            symbol: name.clone(),
            file: shown,
            decl_file: ms.file.as_ref().and_then(|f| f.decl.clone()),
            source_path: ms.file.and_then(|f| f.full),
            aliases: ms.aliases,
            section: sec_name,
            func_addr: s.addr,
            offset: off,
            size: s.size,
            is_data: data,
            kind: spec.kind,
            name_count: count,
            forms,
            line: None,
            inlined_into: None,
        });
    }
    Ok(out)
}

fn nearest_unique_module(idx: &SymbolIndex, s: &Symbol, addr: LinkAddr) -> Option<(String, u64)> {
    idx.symbols()
        .iter()
        .filter(|c| c.section == s.section && c.addr <= addr && c.kind == SymbolKind::Function)
        .filter(|c| {
            let n = idx.name(c);
            !n.starts_with("__pfx_") && count_in(idx, n) == 1
        })
        .max_by_key(|c| c.addr)
        .map(|c| (idx.name(c).to_string(), addr.get() - c.addr.get()))
}

/// Without a vmlinux or .ko: kallsyms (runtime addresses) or a System.map
/// (link-time). No files, no sizes, offsets cannot be verified.
#[allow(clippy::too_many_arguments)]
fn resolve_kallsyms(
    spec: &ProbeSpec,
    ks: &Kallsyms,
    module: Option<&str>,
    inp: &KernelInputs<'_>,
    func: &Pattern,
    file: Option<&Pattern>,
    offset: u64,
    data: bool,
) -> Result<Vec<KernelLocation>> {
    let runtime = inp.kallsyms.is_some_and(|k| std::ptr::eq(k, ks));
    if runtime {
        ks.require_addresses()?;
    }
    if let (Some(f), false) = (file, ks.has_files()) {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("'{spec}': kallsyms has no file names, so @{f} cannot be matched; give --vmlinux (with .symtab, ideally DWARF), or a file|name listing (--symbols)"),
        )
        .with_path(ks.origin()));
    }
    if offset > 0 {
        return Err(Error::new(
            ErrorKind::BadOffset,
            format!("'{spec}': +{offset:#x} cannot be checked against instruction boundaries without the code; give --vmlinux"),
        ));
    }
    let want_mod = module.map(|m| m.replace('-', "_"));
    let text = ks.vmlinux_unique("_text").map(|t| t.addr);
    let mut matched: Vec<&KSym> = ks
        .symbols()
        .iter()
        .filter(|s| {
            let in_scope = match &want_mod {
                Some(m) => ks.module(s).is_some_and(|x| x.replace('-', "_") == *m),
                None => ks.module(s).is_none(),
            };
            in_scope
                && (if data {
                    !s.is_text() && func.matches(ks.name(s))
                } else {
                    s.is_text() && name_matches(func, ks.name(s))
                })
                && file.is_none_or(|f| {
                    ks.file(s)
                        .is_some_and(|sf| crate::resolve::file_matches(f, sf))
                })
        })
        .collect();
    matched.sort_by_key(|s| s.addr);
    matched.dedup_by_key(|s| s.addr);
    if matched.is_empty() {
        let what = if data { "data symbol" } else { "function" };
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("'{spec}': no {what} matches '{func}'"),
        )
        .with_path(ks.origin()));
    }
    let mut out = Vec::new();
    for s in matched {
        let name = ks.name(s).to_string();
        let mut forms = Forms::default();
        let count = ks.count(&name, None);
        if let (Some(t), None, false) = (text, module, data) {
            forms.text = Some(plus("_text", s.addr.get().wrapping_sub(t.get())));
        }
        match module {
            Some(m) => {
                if ks.count(&name, Some(ks.module(s).unwrap_or(m))) == 1 {
                    forms.module = Some(format!("{m}:{name}+0x0"));
                }
            }
            None if count == 1 => {
                if data {
                    forms.data_symbol = Some(format!("@{name}"));
                } else {
                    forms.symbol = Some(plus(&name, 0));
                }
            }
            None => {
                forms.notes.push(format!(
                    "{name} is not unique ({count} symbols): the kernel refuses {name}+OFF"
                ));
                if let Some((p, off)) = nearest_unique_kallsyms(ks, s) {
                    forms.nearest = Some(plus(p, off));
                }
            }
        }
        // A link-time listing linked through the running kernel's _text.
        let live_text = inp
            .kallsyms
            .filter(|_| inp.link_listing && !runtime)
            .filter(|k| !k.addresses_hidden())
            .and_then(|k| k.vmlinux_unique("_text"))
            .map(|t| t.addr.get());
        match (runtime, live_text, text) {
            (true, _, _) => forms.address = Some(s.addr),
            (false, Some(lt), Some(t)) if module.is_none() => {
                forms.address = Some(RuntimeAddr(
                    s.addr.get().wrapping_sub(t.get()).wrapping_add(lt),
                ));
            }
            _ => {
                forms.address_missing =
                    Some("runtime address omitted: this listing holds link-time addresses (and no matching running kernel was given)".into());
                forms.notes.extend(forms.address_missing.clone());
            }
        }
        let (function, variant) = split_variant(&name);
        out.push(KernelLocation {
            object: match module {
                Some(m) => KernelObject::Module {
                    name: m.to_string(),
                    path: None,
                },
                None => KernelObject::Vmlinux { path: None },
            },
            function: function.to_string(),
            variant,
            symbol: name.clone(),
            file: ks.file(s).map(str::to_string),
            source_path: None,
            decl_file: None,
            aliases: Vec::new(),
            section: None,
            func_addr: LinkAddr(s.addr.get()),
            offset: 0,
            size: 0,
            is_data: data,
            kind: spec.kind,
            name_count: count,
            forms,
            line: None,
            inlined_into: None,
        });
    }
    Ok(out)
}

fn nearest_unique_kallsyms<'k>(ks: &'k Kallsyms, s: &KSym) -> Option<(&'k str, u64)> {
    let order = ks.by_address();
    let end = order.partition_point(|&i| ks.symbols()[i as usize].addr <= s.addr);
    order[..end]
        .iter()
        .rev()
        .map(|&i| &ks.symbols()[i as usize])
        .filter(|c| c.is_text() && ks.module(c) == ks.module(s))
        .find(|c| {
            let n = ks.name(c);
            !n.starts_with("__pfx_") && ks.count(n, None) == 1
        })
        .map(|c| (ks.name(c), s.addr.get() - c.addr.get()))
}

/// `p:GROUP/EVENT TARGET` / `r:GROUP/EVENT TARGET` for `kprobe_events`.
pub fn kprobe_definition(
    kind: ProbeKind,
    group: &crate::emit::GroupName,
    event: &str,
    target: &str,
) -> Result<String> {
    crate::emit::event::validate(event, "event")?;
    if target.contains(char::is_whitespace) {
        return Err(Error::new(
            ErrorKind::Unrepresentable,
            format!("probe target {target:?} contains whitespace"),
        ));
    }
    let p = match kind {
        ProbeKind::Entry => 'p',
        ProbeKind::Return => 'r',
    };
    Ok(format!("{p}:{}/{event} {target}", group.as_str()))
}
