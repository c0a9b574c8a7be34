//! Every ambiguous kernel name: its instances, their files, and the probe
//! point that pins each (what `probeaddr dups` prints).

use std::collections::HashMap;

use serde::Serialize;

use crate::addr::{LinkAddr, RuntimeAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::index::{Binding, Symbol, SymbolKind};
use crate::location::{pin_among, PinKey};
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
    /// `_text+0xOFF`, for vmlinux text.
    pub text_form: Option<String>,
    /// `NAME@FILE` that selects it alone, when one does.
    pub pin: Option<String>,
}

impl Resolver {
    /// Every name that occurs more than once in the kernel's namespace
    /// (kallsyms, when it describes the analysed build; else the vmlinux),
    /// sorted by name; `functions_only` keeps text symbols only.
    pub fn duplicates(&self, functions_only: bool) -> Result<Vec<Duplicate>> {
        let vm = self.vmlinux_path.as_ref().and_then(|_| self.vmlinux().ok());
        let vm_index = vm.and_then(|v| v.obj.index().ok());
        let file_of = |name: &str, link: LinkAddr| -> (Option<String>, Option<String>) {
            let (Some(vm), Some(idx)) = (vm, vm_index) else {
                return (None, None);
            };
            let sym = idx.named(name).find(|s| s.addr == link);
            sym.and_then(|s| vm.obj.source_file(idx, s))
                .map_or((None, None), |f| (Some(f.shown), f.full))
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
            for (name, v) in ks.duplicates() {
                if functions_only && !v.iter().all(|s| s.is_text()) {
                    continue;
                }
                let instances = v
                    .iter()
                    .map(|s| {
                        let module = ks.module(s).map(str::to_string);
                        let (file, source_path) = match (module.is_none(), slide) {
                            (true, Some(sl)) => {
                                file_of(name, LinkAddr(s.addr.get().wrapping_sub(sl)))
                            }
                            _ => (None, None),
                        };
                        Instance {
                            address: s.addr,
                            kind: (s.kind as char).to_string(),
                            text_form: (module.is_none() && s.is_text())
                                .then_some(text)
                                .flatten()
                                .map(|t| format!("_text+{:#x}", s.addr.get().wrapping_sub(t))),
                            module,
                            file,
                            source_path,
                            pin: None,
                        }
                    })
                    .collect();
                out.push(duplicate(name, instances));
            }
        } else if let (Some(vm), Some(idx)) = (vm, vm_index) {
            let mut by: HashMap<&str, Vec<&Symbol>> = HashMap::new();
            for s in idx.symbols() {
                if functions_only && s.kind != SymbolKind::Function {
                    continue;
                }
                by.entry(idx.name(s)).or_default().push(s);
            }
            let mut names: Vec<(&str, Vec<&Symbol>)> =
                by.into_iter().filter(|(_, v)| v.len() > 1).collect();
            names.sort_by(|a, b| a.0.cmp(b.0));
            for (name, v) in names {
                let instances = v
                    .iter()
                    .map(|s| {
                        let f = vm.obj.source_file(idx, s);
                        Instance {
                            address: RuntimeAddr(s.addr.get()),
                            kind: match (s.kind, s.binding) {
                                (SymbolKind::Function, Binding::Local) => "t",
                                (SymbolKind::Function, _) => "T",
                                (_, Binding::Local) => "d",
                                _ => "D",
                            }
                            .to_string(),
                            module: None,
                            text_form: s.in_exec_section.then(|| {
                                format!("_text+{:#x}", s.addr.get().wrapping_sub(vm.text().get()))
                            }),
                            file: f.as_ref().map(|f| f.shown.clone()),
                            source_path: f.and_then(|f| f.full),
                            pin: None,
                        }
                    })
                    .collect();
                out.push(duplicate(name, instances));
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

/// A duplicate with the pin of each instance that has a file.
fn duplicate(name: &str, mut instances: Vec<Instance>) -> Duplicate {
    let keys: Vec<PinKey<'_>> = instances
        .iter()
        .map(|i| PinKey {
            symbol: name,
            function: name,
            aliases: &[],
            file: i.file.as_deref(),
            source_path: i.source_path.as_deref(),
            offset: 0,
            inlined: false,
        })
        .collect();
    let pins: Vec<Option<String>> = keys
        .iter()
        .map(|k| {
            k.file
                .and_then(|_| pin_among(k, &keys))
                .filter(|p| p.contains('@'))
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
