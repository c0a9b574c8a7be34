//! Kernel probe points, `dups` and `symbolize`: set up the inputs (vmlinux,
//! modules, kallsyms, sysfs, the KASLR link), resolve, print.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Result;
use probeaddr::emit::event::{EventNamer, GroupName};
use probeaddr::kernel::{
    self, find_module, kprobe_definition, link_vmlinux, FormChoice, KernelInputs, KernelLink,
    KernelLocation, KernelObject, ModuleFile, Vmlinux,
};
use probeaddr::resolve::pin_for;
use probeaddr::sources::debuginfo::DebugSearch;
use probeaddr::sources::kallsyms::Kallsyms;
use probeaddr::sources::sysfs::Sysfs;
use probeaddr::spec::{ProbeKind, ProbeSpec, Target};
use probeaddr::{Error, ErrorKind, LinkAddr, RuntimeAddr};

use crate::args::{DupsArgs, FormArg, Format, KernelFlags, ListFormat, ResolveArgs, SymbolizeArgs};
use crate::output::{hex, report};
use probeaddr::plan::{Anchor, PlannedProbe};

/// The name a `.ko` path gives its module (before reading `.modinfo`).
pub fn module_name_of(p: &Path) -> String {
    match ModuleFile::open(p) {
        Ok(m) => m.name().to_string(),
        Err(_) => {
            let f = p.file_name().and_then(|f| f.to_str()).unwrap_or("module");
            f.split('.').next().unwrap_or(f).replace('-', "_")
        }
    }
}

impl KernelFlags {
    /// kallsyms: `--kallsyms FILE`, else the running kernel's unless
    /// `--offline`. An unreadable `/proc/kallsyms` is not an error (analysis
    /// does not need it): it comes back as the second value.
    pub(crate) fn kallsyms(&self) -> Result<(Option<Kallsyms>, Option<Error>), Error> {
        match (&self.kallsyms, self.offline) {
            (Some(p), _) => Ok((Some(Kallsyms::read(p)?), None)),
            (None, false) => match Kallsyms::read(Path::new("/proc/kallsyms")) {
                Ok(k) => Ok((Some(k), None)),
                Err(e) => Ok((None, Some(e))),
            },
            (None, true) => Ok((None, None)),
        }
    }

    /// sysfs: `--sysfs DIR`, else `/sys` unless `--offline`.
    pub(crate) fn sysfs(&self) -> Option<Sysfs> {
        match (&self.sysfs, self.offline) {
            (Some(d), _) => Some(Sysfs::new(d)),
            (None, false) => Some(Sysfs::default()),
            (None, true) => None,
        }
    }
}

/// Everything opened for kernel work; `inputs()` borrows it.
struct Setup {
    vmlinux: Option<Vmlinux>,
    modules: Vec<ModuleFile>,
    kallsyms: Option<Kallsyms>,
    system_map: Option<Kallsyms>,
    sysfs: Option<Sysfs>,
    link: Option<KernelLink>,
    link_error: Option<Error>,
    notes: Vec<String>,
    link_listing: bool,
}

impl Setup {
    fn open(
        flags: &KernelFlags,
        check_build_id: bool,
        want_modules: &[String],
    ) -> Result<Setup, Error> {
        let vmlinux = flags
            .vmlinux
            .as_deref()
            .map(|p| Vmlinux::open(p, &DebugSearch::default()))
            .transpose()?;
        let mut modules = Vec::new();
        for p in &flags.modules {
            modules.push(ModuleFile::open(p)?);
        }
        if let Some(dir) = &flags.module_dir {
            for name in want_modules {
                let n = name.replace('-', "_");
                if modules.iter().any(|m| m.name().replace('-', "_") == n) {
                    continue;
                }
                match find_module(dir, name) {
                    Ok(p) => modules.push(ModuleFile::open(&p)?),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut notes = Vec::new();
        let kallsyms_explicit = flags.kallsyms.is_some();
        let (kallsyms, unread) = flags.kallsyms()?;
        notes.extend(unread.map(|e| format!("running kernel not consulted: {e}")));
        let sysfs = flags.sysfs();
        let mut system_map = flags
            .system_map
            .as_deref()
            .map(Kallsyms::read)
            .transpose()?;
        let mut link_listing = false;
        if let Some(p) = &flags.symbols {
            let imp = probeaddr::study::export::import(p, kallsyms.as_ref())?;
            let running = sysfs
                .as_ref()
                .and_then(|s| s.kernel_build_id().ok().flatten())
                .map(|b| probeaddr::sources::elf::hex(&b));
            link_listing = kallsyms.is_some();
            if let (Some(a), Some(b), true) = (&imp.build_id, &running, check_build_id) {
                if a != b {
                    notes.push(format!(
                        "runtime addresses omitted: {} was made for build-id {a} but the running kernel is {b}",
                        p.display()
                    ));
                    link_listing = false;
                }
            }
            system_map = Some(imp.symbols);
        }
        let (mut link, mut link_error) = (None, None);
        if let (Some(vm), Some(ks)) = (&vmlinux, &kallsyms) {
            match link_vmlinux(vm, ks, sysfs.as_ref(), check_build_id) {
                Ok(l) => link = Some(l),
                Err(e) if kallsyms_explicit => return Err(e),
                Err(e) => link_error = Some(e),
            }
        }
        Ok(Setup {
            vmlinux,
            modules,
            kallsyms,
            system_map,
            sysfs,
            link,
            link_error,
            notes,
            link_listing,
        })
    }

    fn inputs(&self) -> KernelInputs<'_> {
        let matches = match (&self.vmlinux, &self.link) {
            (None, _) => self.kallsyms.is_some(),
            (Some(_), Some(l)) => l.usable(),
            (Some(_), None) => false,
        };
        KernelInputs {
            vmlinux: self.vmlinux.as_ref(),
            modules: self.modules.iter().collect(),
            kallsyms: self
                .kallsyms
                .as_ref()
                .filter(|_| matches || self.vmlinux.is_none()),
            system_map: self.system_map.as_ref(),
            sysfs: self.sysfs.as_ref(),
            link: self.link.as_ref(),
            kallsyms_matches: matches,
            no_inlines: false,
            link_listing: self.link_listing,
        }
    }
}

struct Row {
    point: String,
    loc: KernelLocation,
    matches: usize,
    event: String,
    def: std::result::Result<String, String>,
}

fn event_name(spec: &ProbeSpec, l: &KernelLocation, dup: bool) -> String {
    crate::output::event_name(
        spec,
        &crate::output::EventParts {
            symbol: &l.symbol,
            function: &l.function,
            file: l.file.as_deref(),
            offset: l.offset,
            line: l.line.as_ref().map(|x| x.1),
            kind: l.kind,
            inlined: l.inlined_into.is_some(),
        },
        dup,
    )
}

fn choice(f: FormArg) -> FormChoice {
    match f {
        FormArg::Safest => FormChoice::Safest,
        FormArg::Text => FormChoice::Text,
        FormArg::Symbol => FormChoice::Symbol,
        FormArg::Address => FormChoice::Address,
    }
}

/// `probeaddr resolve` for kernel and module probe points.
pub fn resolve(
    args: &ResolveArgs,
    points: Vec<(String, ProbeSpec)>,
    out: &mut dyn Write,
    plan: &mut Vec<PlannedProbe>,
) -> Result<bool> {
    let group = match GroupName::new(&args.group) {
        Ok(g) => g,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let want: Vec<String> = points
        .iter()
        .filter_map(|(_, s)| match &s.target {
            Target::Module(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    let setup = match Setup::open(&args.kernel, !args.no_build_id_check, &want) {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let mut inp = setup.inputs();
    inp.no_inlines = args.no_inlines;
    let mut ok = true;
    let mut rows = Vec::new();
    let mut namer = EventNamer::new();
    let form = choice(args.form);
    for (text, spec) in &points {
        let locs = match kernel::resolve(spec, &inp) {
            Ok(l) => l,
            Err(e) => {
                report(&e);
                ok = false;
                continue;
            }
        };
        if locs.len() > 1 {
            let listed: Vec<String> = locs
                .iter()
                .map(|l| {
                    format!(
                        "{} [{}]",
                        l.symbol,
                        l.file.as_deref().unwrap_or("file unknown")
                    )
                })
                .collect();
            if args.unique {
                let mut detail = String::new();
                for l in &locs {
                    detail.push_str(&format!(
                        "  {} [{}] {}: {}\n",
                        l.symbol,
                        l.file.as_deref().unwrap_or("file unknown"),
                        l.forms
                            .text
                            .as_deref()
                            .or(l.forms.module.as_deref())
                            .unwrap_or(""),
                        pin_for(l, &locs).map_or(
                            "no name pins it; use its _text+ form".to_string(),
                            |p| format!("pin with '{p}'")
                        )
                    ));
                }
                report(
                    &Error::new(
                        ErrorKind::Ambiguous,
                        format!(
                            "'{text}' matches {} locations and --unique was given",
                            locs.len()
                        ),
                    )
                    .with_detail(detail.trim_end().to_string()),
                );
                ok = false;
                continue;
            }
            let pins: Vec<String> = locs
                .iter()
                .filter_map(|l| pin_for(l, &locs))
                .map(|p| format!("'{p}'"))
                .collect();
            eprintln!(
                "probeaddr: note: '{text}' matches {} locations: {}{}; add --unique to make this an error",
                locs.len(),
                listed.join(", "),
                if pins.is_empty() { String::new() } else { format!("; pin one with {}", pins.join(", ")) }
            );
        }
        if form == FormChoice::Address {
            if let Some(e) = &setup.link_error {
                report(e);
                ok = false;
                continue;
            }
        }
        let n = locs.len();
        for l in &locs {
            let dup = locs
                .iter()
                .any(|o| o.symbol == l.symbol && o.file != l.file);
            let event = namer.claim(&event_name(spec, l, dup));
            let def = if l.is_data {
                Err("a data location is a fetch argument (@ADDR / @SYM), not a probe".to_string())
            } else {
                l.forms.pick(form).and_then(|t| {
                    kprobe_definition(l.kind, &group, &event, &t).map_err(|e| e.to_string())
                })
            };
            rows.push(Row {
                point: text.clone(),
                loc: l.clone(),
                matches: n,
                event,
                def,
            });
        }
    }
    let notes: BTreeSet<String> = setup
        .notes
        .iter()
        .cloned()
        .chain(
            setup
                .link_error
                .iter()
                .map(|e| format!("runtime addresses omitted: {e}")),
        )
        .chain(rows.iter().flat_map(|r| r.loc.forms.notes.iter().cloned()))
        .collect();
    for n in &notes {
        eprintln!("probeaddr: note: {n}");
    }
    match args.format {
        Format::Kprobe => {
            for r in &rows {
                match &r.def {
                    Ok(d) => writeln!(out, "{d}")?,
                    Err(e) => {
                        eprintln!(
                            "probeaddr: error: {} [{}]: no {} form: {e}",
                            r.loc.symbol,
                            r.loc.file.as_deref().unwrap_or("?"),
                            form_name(args.form)
                        );
                        ok = false;
                    }
                }
            }
        }
        Format::Uprobe => {
            eprintln!("probeaddr: error: --format uprobe is for user-space probe points; use --format kprobe");
            ok = false;
        }
        Format::Plan => {
            let vm_id = setup
                .vmlinux
                .as_ref()
                .and_then(|v| v.build_id())
                .map(probeaddr::sources::elf::hex);
            for r in &rows {
                let l = &r.loc;
                if l.is_data {
                    eprintln!("probeaddr: error: {}: a data location is a fetch argument, not a probe; it cannot go into a plan", l.symbol);
                    ok = false;
                    continue;
                }
                let anchor = match &l.object {
                    KernelObject::Vmlinux { .. } => {
                        let Some(text_offset) = l
                            .forms
                            .text
                            .as_deref()
                            .and_then(|t| t.strip_prefix("_text+0x"))
                            .and_then(|h| u64::from_str_radix(h, 16).ok())
                        else {
                            eprintln!("probeaddr: error: {}: no _text offset known", l.symbol);
                            ok = false;
                            continue;
                        };
                        Anchor::Kernel {
                            build_id: if l.file.is_some() || setup.vmlinux.is_some() {
                                vm_id.clone()
                            } else {
                                None
                            },
                            text_offset,
                            symbol_form: l.forms.symbol.clone().or_else(|| l.forms.nearest.clone()),
                        }
                    }
                    KernelObject::Module { name, .. } => Anchor::Module {
                        module: name.clone(),
                        // The .ko is open already (setup): its build-id is at hand.
                        build_id: setup
                            .modules
                            .iter()
                            .find(|m| m.name() == name)
                            .and_then(|m| m.analysed().elf().build_id())
                            .map(probeaddr::sources::elf::hex),
                        section: l.section.clone().unwrap_or_else(|| ".text".into()),
                        section_offset: l.func_addr.get() + l.offset,
                        module_form: l.forms.module.clone(),
                    },
                };
                plan.push(PlannedProbe {
                    event: r.event.clone(),
                    kind: l.kind,
                    point: r.point.clone(),
                    symbol: l.symbol.clone(),
                    offset: l.offset,
                    file: l.file.clone(),
                    inlined_into: l.inlined_into.clone(),
                    args: args.args.clone(),
                    anchor,
                });
            }
        }
        Format::Json => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let mut j = serde_json::to_value(&r.loc).unwrap_or_default();
                    let o = j.as_object_mut().expect("struct serializes to an object");
                    o.insert("point".into(), r.point.clone().into());
                    o.insert("matches".into(), r.matches.into());
                    o.insert("event".into(), r.event.clone().into());
                    o.insert("kprobe".into(), r.def.as_ref().ok().cloned().into());
                    o.insert("func_addr".into(), hex(r.loc.func_addr.get()).into());
                    if let Some(a) = r.loc.forms.address {
                        o["forms"]["address"] = hex(a.get()).into();
                    }
                    j
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        Format::Table => write_table(out, &rows)?,
    }
    Ok(ok)
}

fn form_name(f: FormArg) -> &'static str {
    match f {
        FormArg::Safest => "usable",
        FormArg::Text => "_text+",
        FormArg::Symbol => "symbol",
        FormArg::Address => "address",
    }
}

fn write_table(out: &mut dyn Write, rows: &[Row]) -> std::io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut cells = vec![[
        "OBJECT",
        "SYMBOL",
        "FILE",
        "SECTION",
        "ADDR",
        "SIZE",
        "TEXT_FORM",
        "SYMBOL_FORM",
        "RUNTIME_ADDR",
        "KPROBE",
    ]
    .map(String::from)
    .to_vec()];
    for r in rows {
        let l = &r.loc;
        let obj = match &l.object {
            KernelObject::Vmlinux { .. } => "vmlinux".to_string(),
            KernelObject::Module { name, .. } => name.clone(),
        };
        let mut sym = l.symbol.clone();
        if l.offset > 0 {
            sym.push_str(&format!("+{:#x}", l.offset));
        }
        if let Some(c) = &l.inlined_into {
            sym = format!("{} (inlined into {c}) {sym}", l.function);
        }
        if l.kind == ProbeKind::Return {
            sym.push_str("%return");
        }
        let symform = l
            .forms
            .module
            .clone()
            .or_else(|| l.forms.symbol.clone())
            .or_else(|| l.forms.data_symbol.clone())
            .or_else(|| {
                l.forms
                    .nearest
                    .clone()
                    .map(|n| format!("{n} (nearest unique)"))
            })
            .unwrap_or_else(|| "-".into());
        cells.push(vec![
            obj,
            sym,
            match (&l.line, &l.decl_file) {
                (Some((f, n)), _) => format!("{f}:{n}"),
                (None, Some(d)) => format!("{} ({d})", l.file.as_deref().unwrap_or("-")),
                (None, None) => l.file.clone().unwrap_or_else(|| "-".into()),
            },
            l.section.clone().unwrap_or_else(|| "-".into()),
            hex(l.func_addr.get() + l.offset),
            if l.size > 0 {
                l.size.to_string()
            } else {
                "-".into()
            },
            l.forms.text.clone().unwrap_or_else(|| "-".into()),
            symform,
            l.forms.address.map_or("-".into(), |a| hex(a.get())),
            r.def.clone().unwrap_or_else(|_| "-".into()),
        ]);
    }
    crate::output::print_cells(out, &cells)
}

/// `probeaddr dups`.
pub fn dups(args: &DupsArgs, out: &mut dyn Write) -> Result<bool> {
    let setup = match Setup::open(&args.kernel, !args.no_build_id_check, &[]) {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    for n in &setup.notes {
        eprintln!("probeaddr: note: {n}");
    }
    if let Some(e) = &setup.link_error {
        eprintln!("probeaddr: note: kallsyms of the running kernel not used: {e}");
    }
    let inp = setup.inputs();
    // (name, instances): each instance = (address text, type, module, file, link addr for vmlinux)
    struct Inst {
        addr: u64,
        kind: char,
        module: Option<String>,
        file: Option<String>,
        source_path: Option<String>,
        text_off: Option<u64>,
    }
    let mut groups: Vec<(String, Vec<Inst>)> = Vec::new();
    let vm_index = setup
        .vmlinux
        .as_ref()
        .and_then(|v| v.analysed().index().ok());
    let file_of = |name: &str, link: LinkAddr| -> (Option<String>, Option<String>) {
        let (Some(vm), Some(idx)) = (&setup.vmlinux, vm_index) else {
            return (None, None);
        };
        let sym = idx.named(name).find(|s| s.addr == link);
        sym.and_then(|s| vm.analysed().source_file(idx, s))
            .map_or((None, None), |f| (Some(f.shown), f.full))
    };
    if let Some(ks) = inp.kallsyms.filter(|_| inp.kallsyms_matches) {
        let text = ks.vmlinux_unique("_text").map(|t| t.addr.get());
        for (name, v) in ks.duplicates() {
            if args.functions && !v.iter().all(|s| s.is_text()) {
                continue;
            }
            let insts = v
                .iter()
                .map(|s| {
                    let module = ks.module(s).map(str::to_string);
                    let link = setup
                        .link
                        .as_ref()
                        .map(|l| LinkAddr(s.addr.get().wrapping_sub(l.slide)));
                    let (file, source_path) = match (module.is_none(), link) {
                        (true, Some(la)) => file_of(name, la),
                        _ => (None, None),
                    };
                    Inst {
                        addr: s.addr.get(),
                        kind: s.kind as char,
                        text_off: if module.is_none() && s.is_text() {
                            text.map(|t| s.addr.get().wrapping_sub(t))
                        } else {
                            None
                        },
                        module,
                        file,
                        source_path,
                    }
                })
                .collect();
            groups.push((name.to_string(), insts));
        }
    } else if let (Some(vm), Some(idx)) = (&setup.vmlinux, vm_index) {
        let mut by: HashMap<&str, Vec<&probeaddr::index::Symbol>> = HashMap::new();
        for s in idx.symbols() {
            if args.functions && s.kind != probeaddr::index::SymbolKind::Function {
                continue;
            }
            by.entry(idx.name(s)).or_default().push(s);
        }
        let mut names: Vec<(&str, Vec<&probeaddr::index::Symbol>)> =
            by.into_iter().filter(|(_, v)| v.len() > 1).collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        for (name, v) in names {
            let insts = v
                .iter()
                .map(|s| {
                    let f = vm.analysed().source_file(idx, s);
                    Inst {
                        addr: s.addr.get(),
                        kind: match (s.kind, s.binding) {
                            (
                                probeaddr::index::SymbolKind::Function,
                                probeaddr::index::Binding::Local,
                            ) => 't',
                            (probeaddr::index::SymbolKind::Function, _) => 'T',
                            (_, probeaddr::index::Binding::Local) => 'd',
                            _ => 'D',
                        },
                        module: None,
                        text_off: s
                            .in_exec_section
                            .then(|| s.addr.get().wrapping_sub(vm.text().get())),
                        file: f.as_ref().map(|f| f.shown.clone()),
                        source_path: f.and_then(|f| f.full),
                    }
                })
                .collect();
            groups.push((name.to_string(), insts));
        }
    } else {
        report(&Error::new(
            ErrorKind::BadInput,
            "no kernel symbols: give --vmlinux or --kallsyms (/proc/kallsyms was not readable)",
        ));
        return Ok(false);
    }
    let total: usize = groups.iter().map(|g| g.1.len()).sum();
    match args.format {
        ListFormat::Json => {
            let v: Vec<serde_json::Value> = groups
                .iter()
                .map(|(name, insts)| {
                    let pins = pins(
                        name,
                        insts
                            .iter()
                            .map(|i| (i.file.clone(), i.source_path.clone()))
                            .collect(),
                    );
                    serde_json::json!({
                        "name": name,
                        "count": insts.len(),
                        "instances": insts.iter().zip(pins).map(|(i, pin)| serde_json::json!({
                            "address": hex(i.addr),
                            "type": i.kind.to_string(),
                            "module": i.module,
                            "file": i.file,
                            "source_path": i.source_path,
                            "text_form": i.text_off.map(|o| format!("_text+{o:#x}")),
                            "pin": pin,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            writeln!(
                out,
                "{:<40} {:<18} T  {:<16} {:<40} PIN",
                "NAME", "ADDRESS", "MODULE", "FILE"
            )?;
            for (name, insts) in &groups {
                let pins = pins(
                    name,
                    insts
                        .iter()
                        .map(|i| (i.file.clone(), i.source_path.clone()))
                        .collect(),
                );
                for (i, pin) in insts.iter().zip(pins) {
                    let pin = pin
                        .or_else(|| i.text_off.map(|o| format!("_text+{o:#x}")))
                        .unwrap_or_else(|| "-".into());
                    writeln!(
                        out,
                        "{:<40} {:<18} {}  {:<16} {:<40} {}",
                        name,
                        hex(i.addr),
                        i.kind,
                        i.module.as_deref().unwrap_or("-"),
                        i.file.as_deref().unwrap_or("-"),
                        pin
                    )?;
                }
            }
        }
    }
    eprintln!(
        "probeaddr: {} ambiguous names covering {total} symbols",
        groups.len()
    );
    Ok(true)
}

/// For instances of one name with their (file, path), the probe point that
/// pins each (`name@file`), if any.
fn pins(name: &str, files: Vec<(Option<String>, Option<String>)>) -> Vec<Option<String>> {
    struct P {
        name: String,
        file: Option<String>,
        path: Option<String>,
    }
    impl probeaddr::resolve::Pinnable for P {
        fn symbol(&self) -> &str {
            &self.name
        }
        fn function(&self) -> &str {
            &self.name
        }
        fn aliases(&self) -> &[String] {
            &[]
        }
        fn file(&self) -> Option<&str> {
            self.file.as_deref()
        }
        fn source_path(&self) -> Option<&str> {
            self.path.as_deref()
        }
        fn offset(&self) -> u64 {
            0
        }
    }
    let ps: Vec<P> = files
        .into_iter()
        .map(|(file, path)| P {
            name: name.to_string(),
            file,
            path,
        })
        .collect();
    ps.iter()
        .map(|p| {
            if p.file.is_some() {
                pin_for(p, &ps).filter(|s| s.contains('@'))
            } else {
                None
            }
        })
        .collect()
}

/// `probeaddr symbolize`.
pub fn symbolize(args: &SymbolizeArgs, out: &mut dyn Write) -> Result<bool> {
    let setup = match Setup::open(&args.kernel, !args.no_build_id_check, &[]) {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let inp = setup.inputs();
    let ks = inp.kallsyms;
    let vm = setup.vmlinux.as_ref();
    if ks.is_none() && vm.is_none() {
        report(&Error::new(
            ErrorKind::BadInput,
            "no kernel symbols: give --kallsyms or --vmlinux (/proc/kallsyms was not readable)",
        ));
        return Ok(false);
    }
    if let Some(k) = ks {
        if let Err(e) = k.require_addresses() {
            report(&e);
            return Ok(false);
        }
    }
    let idx = vm.and_then(|v| v.analysed().index().ok());
    let mut ok = true;
    let mut one = |text: &str, out: &mut dyn Write| -> std::io::Result<()> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(());
        }
        let Some(a) = u64::from_str_radix(t.trim_start_matches("0x"), 16).ok() else {
            eprintln!("probeaddr: error: not a hexadecimal address: {t:?}");
            ok = false;
            return Ok(());
        };
        let rt = RuntimeAddr(a);
        // vmlinux addresses, through the link, get a file.
        let link_addr = match (&setup.link, ks) {
            (Some(l), _) if l.usable() => Some(LinkAddr(a.wrapping_sub(l.slide))),
            (_, None) => Some(LinkAddr(a)),
            _ => None,
        };
        if let (Some(v), Some(idx), Some(la)) = (vm, idx, link_addr) {
            if let Some(s) = idx.functions_containing(la).next() {
                let file = v
                    .analysed()
                    .source_file(idx, s)
                    .map(|f| format!(" [{}]", f.shown))
                    .unwrap_or_default();
                return writeln!(
                    out,
                    "{:#x} {}+{:#x}{file}",
                    a,
                    idx.name(s),
                    la.get() - s.addr.get()
                );
            }
        }
        match ks.and_then(|k| k.symbolize(rt).map(|(s, off)| (k, s, off))) {
            Some((k, s, off)) => {
                let m = k.module(s).map(|m| format!(" ({m})")).unwrap_or_default();
                writeln!(out, "{a:#x} {}+{off:#x}{m}", k.name(s))
            }
            None => writeln!(out, "{a:#x} ??"),
        }
    };
    if args.addrs.is_empty() {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            one(&line?, out)?;
        }
    } else {
        for a in &args.addrs {
            one(a, out)?;
        }
    }
    Ok(ok)
}
