//! Every ambiguous kernel name: its instances, their files, and the probe
//! point that pins each (what `probeaddr dups` prints).

use std::collections::HashMap;

use serde::Serialize;

use crate::addr::{LinkAddr, RuntimeAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::index::names::{split_variant, Variant};
use crate::index::{Binding, Symbol, SymbolIndex, SymbolKind};
use crate::object::AnalysedObject;
use crate::pin::{PinKey, PinSet};
use crate::resolve::Resolver;

/// A name the kernel's probe API finds more than once.
#[derive(Debug, Clone, Serialize)]
pub struct Duplicate {
    /// The name.
    pub name: String,
    /// How many symbols carry it.
    pub count: usize,
    /// Each of them.
    pub instances: Vec<Instance>,
}

/// One symbol of a duplicated name.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    /// Its address: runtime from kallsyms, else link-time from the vmlinux.
    pub address: RuntimeAddr,
    /// Its `nm` type letter (`t`, `T`, `d`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// The module it is in (`None`: vmlinux).
    pub module: Option<String>,
    /// Its source file, when the vmlinux tells.
    pub file: Option<String>,
    /// The full source path, when DWARF has it.
    pub source_path: Option<String>,
    /// Where the function is declared, when that is not its unit (a header
    /// static, a `.c` file another one `#include`s).
    pub decl_file: Option<String>,
    /// `_text+0xOFF`, for vmlinux text.
    pub text_form: Option<String>,
    /// `NAME@FILE` that selects it alone, when one does, else its vmlinux
    /// address (`0xffffffff813cd1f0`) when that is known.
    pub pin: Option<String>,
    /// The vmlinux symbol's link-time address, when known.
    #[serde(skip)]
    link: Option<u64>,
}

/// What a symbol's pin is made of.
#[derive(Debug, Clone, Default)]
struct FileOf {
    file: Option<String>,
    source_path: Option<String>,
    decl_file: Option<String>,
    /// The vmlinux symbol's link-time address (the last resort pin).
    link: Option<u64>,
}

impl FileOf {
    /// The unit, path and (differing) declaration file of a vmlinux symbol.
    fn of(obj: &AnalysedObject, idx: &SymbolIndex, s: &Symbol) -> FileOf {
        let f = obj.source_file(idx, s);
        let file = f.as_ref().map(|f| f.shown.clone());
        let decl_file = (s.kind == SymbolKind::Function)
            .then(|| obj.decl_file(s))
            .flatten()
            .map(|(_, rel)| rel)
            .filter(|d| Some(d) != file.as_ref());
        FileOf {
            file,
            source_path: f.and_then(|f| f.full),
            decl_file,
            link: Some(s.addr.get()),
        }
    }
}

/// A name a probe point can mean: not padding, a cold part or a local label.
fn probe_name(name: &str) -> bool {
    !name.starts_with("__pfx_") && !name.starts_with('.') && split_variant(name).1 != Variant::Cold
}

impl Resolver {
    /// Every name that occurs more than once in the kernel's namespace
    /// (kallsyms, when it describes the analysed build; else the vmlinux),
    /// sorted by name; `functions_only` keeps text symbols only. Names that
    /// are no probe point are left out: `__pfx_` padding, `.cold` parts and
    /// `.L` local labels. Each text instance's pin is what `resolve` takes
    /// for it alone: counted as `resolve` matches, with the name's compiler
    /// clones and the files that declare it.
    pub fn duplicates(&self, functions_only: bool) -> Result<Vec<Duplicate>> {
        let vm = self.vmlinux_path.as_ref().and_then(|_| self.vmlinux().ok());
        let vm_index = vm.and_then(|v| v.obj.index().ok());
        // The clones (`foo.constprop.0`, `foo.isra.0`…) of a name:
        // `resolve foo@FILE` matches them as well.
        let clones = |name: &str| -> Vec<FileOf> {
            let (Some(vm), Some(idx)) = (vm, vm_index) else {
                return Vec::new();
            };
            idx.with_base(name)
                .filter(|s| {
                    s.kind == SymbolKind::Function
                        && !matches!(split_variant(idx.name(s)).1, Variant::Plain | Variant::Cold)
                })
                .map(|s| FileOf::of(&vm.obj, idx, s))
                .collect()
        };
        let mut out = Vec::new();
        if let Some(ks) = self
            .kallsyms
            .as_ref()
            .filter(|_| self.kallsyms_is_namespace())
        {
            let ks = &ks.listing;
            let slide = match self.check_kernel() {
                Some(Ok(c)) => Some(c.slide),
                _ => None,
            };
            let text = ks.vmlinux_unique("_text").map(|t| t.addr.get());
            // A vmlinux symbol of kallsyms, through the slide: its files.
            let file_of = |name: &str, link: LinkAddr| -> FileOf {
                let (Some(vm), Some(idx)) = (vm, vm_index) else {
                    return FileOf::default();
                };
                idx.named(name)
                    .find(|s| s.addr == link)
                    .map_or_else(FileOf::default, |s| FileOf::of(&vm.obj, idx, s))
            };
            for (name, v) in ks.duplicates() {
                if !probe_name(name) || functions_only && !v.iter().all(|s| s.is_text()) {
                    continue;
                }
                let instances = v
                    .iter()
                    .map(|s| {
                        let module = ks.module(s).map(str::to_string);
                        let f = match (module.is_none(), slide) {
                            (true, Some(sl)) => {
                                file_of(name, LinkAddr(s.addr.get().wrapping_sub(sl)))
                            }
                            _ => FileOf::default(),
                        };
                        instance(
                            s.addr,
                            s.kind as char,
                            module,
                            f,
                            (ks.module(s).is_none() && s.is_text())
                                .then_some(text)
                                .flatten()
                                .map(|t| s.addr.get().wrapping_sub(t)),
                        )
                    })
                    .collect();
                out.push(duplicate(name, instances, &clones(name)));
            }
        } else if let (Some(vm), Some(idx)) = (vm, vm_index) {
            let mut by: HashMap<&str, Vec<&Symbol>> = HashMap::new();
            for s in idx.symbols() {
                let name = idx.name(s);
                if !probe_name(name) || functions_only && s.kind != SymbolKind::Function {
                    continue;
                }
                by.entry(name).or_default().push(s);
            }
            let mut names: Vec<(&str, Vec<&Symbol>)> =
                by.into_iter().filter(|(_, v)| v.len() > 1).collect();
            names.sort_by(|a, b| a.0.cmp(b.0));
            for (name, v) in names {
                let instances = v
                    .iter()
                    .map(|s| {
                        let kind = match (s.kind, s.binding) {
                            (SymbolKind::Function, Binding::Local) => 't',
                            (SymbolKind::Function, _) => 'T',
                            (_, Binding::Local) => 'd',
                            _ => 'D',
                        };
                        instance(
                            RuntimeAddr(s.addr.get()),
                            kind,
                            None,
                            FileOf::of(&vm.obj, idx, s),
                            s.in_exec_section
                                .then(|| s.addr.get().wrapping_sub(vm.text().get())),
                        )
                    })
                    .collect();
                out.push(duplicate(name, instances, &clones(name)));
            }
        } else {
            return Err(Error::new(
                ErrorKind::BadInput,
                "no kernel symbols: give --vmlinux or --kallsyms (/proc/kallsyms was not readable)",
            ));
        }
        Ok(out)
    }
}

fn instance(
    address: RuntimeAddr,
    kind: char,
    module: Option<String>,
    f: FileOf,
    text_offset: Option<u64>,
) -> Instance {
    Instance {
        address,
        kind: kind.to_string(),
        module,
        file: f.file,
        source_path: f.source_path,
        decl_file: f.decl_file,
        text_form: text_offset.map(|o| format!("_text+{o:#x}")),
        pin: None,
        link: f.link,
    }
}

/// A duplicate with the pin of each text instance that has a file, counted
/// among the instances and the name's `clones`.
fn duplicate(name: &str, mut instances: Vec<Instance>, clones: &[FileOf]) -> Duplicate {
    fn key<'a>(function: &'a str, symbol: &'a str, f: &'a FileOf) -> PinKey<'a> {
        PinKey {
            symbol,
            function,
            aliases: &[],
            file: f.file.as_deref(),
            source_path: f.source_path.as_deref(),
            decl_file: f.decl_file.as_deref(),
            offset: 0,
            inlined: false,
            by_function: true,
        }
    }
    let files: Vec<FileOf> = instances
        .iter()
        .map(|i| FileOf {
            file: i.file.clone(),
            source_path: i.source_path.clone(),
            decl_file: i.decl_file.clone(),
            link: None,
        })
        .collect();
    let mut keys: Vec<PinKey<'_>> = files.iter().map(|f| key(name, name, f)).collect();
    // A clone's own name differs; `name@FILE` names it all the same.
    keys.extend(clones.iter().map(|f| key(name, "", f)));
    // A pin is a function probe point: data has none.
    let links: Vec<Option<u64>> = instances.iter().map(|i| i.link).collect();
    // When no name singles a copy out (its unit's file is the one every
    // other copy #includes), its vmlinux address does, as resolve's pins.
    let set = PinSet::new(keys);
    let pins: Vec<Option<String>> = set.keys()[..files.len()]
        .iter()
        .zip(&instances)
        .zip(links)
        .map(|((k, i), link)| {
            let text = matches!(i.kind.as_str(), "t" | "T" | "w" | "W");
            k.file.filter(|_| text).and_then(|_| {
                set.pin(k).filter(|p| p.contains('@')).or_else(|| {
                    link.filter(|_| i.module.is_none())
                        .map(|a| format!("{a:#x}"))
                })
            })
        })
        .collect();
    for (i, p) in instances.iter_mut().zip(pins) {
        i.pin = p;
    }
    Duplicate {
        name: name.to_string(),
        count: instances.len(),
        instances,
    }
}
