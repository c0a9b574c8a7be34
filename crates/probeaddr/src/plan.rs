//! Plans: locations computed where the debug info is (a build host), linked
//! where the probes run (the target), which only fetches anchors.
//!
//! A plan stores each location relative to its anchor — `_text` for vmlinux,
//! a section of a module, the file itself for user space — with the build-id
//! it was computed from. Linking checks that the target runs that very build
//! (`/sys/kernel/notes`, `/sys/module/M/notes`, the file's own note) and
//! refuses otherwise; the runtime address, when asked for, is one addition.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::addr::RuntimeAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::kernel::FormChoice;
use crate::sources::elf::{hex, ElfObject};
use crate::sources::kallsyms::Kallsyms;
use crate::sources::sysfs::Sysfs;
use crate::spec::ProbeKind;
use crate::tracefs::{ProbeDef, ProbeType};

/// Current plan format version.
pub const PLAN_VERSION: u32 = 1;

/// A plan file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// Format version ([`PLAN_VERSION`]).
    pub version: u32,
    /// The probes.
    pub probes: Vec<PlannedProbe>,
}

/// One planned probe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedProbe {
    /// Event name.
    pub event: String,
    /// Entry or return.
    pub kind: ProbeKind,
    /// The probe point it came from.
    pub point: String,
    /// Symbol the offset is relative to.
    pub symbol: String,
    /// Offset from that symbol.
    pub offset: u64,
    /// Source file.
    pub file: Option<String>,
    /// For an inlined copy: the function it sits in.
    pub inlined_into: Option<String>,
    /// Fetch arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// What it is relative to.
    pub anchor: Anchor,
}

/// The anchor of a planned location.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Anchor {
    /// vmlinux: `_text + text_offset`.
    Kernel {
        /// Build-id of the vmlinux analysed.
        build_id: Option<String>,
        /// Offset from `_text`.
        text_offset: u64,
        /// `SYM+0xOFF` when SYM was unique (or the nearest unique symbol).
        symbol_form: Option<String>,
    },
    /// A module section.
    Module {
        /// Module name.
        module: String,
        /// Build-id of the `.ko` analysed.
        build_id: Option<String>,
        /// Section name.
        section: String,
        /// Offset in the section.
        section_offset: u64,
        /// `MOD:SYM+0xOFF`, when one is unique in the module.
        module_form: Option<String>,
    },
    /// A user-space file.
    User {
        /// The file (absolute).
        path: PathBuf,
        /// Its build-id.
        build_id: Option<String>,
        /// File offset (what uprobes take).
        file_offset: u64,
    },
}

impl Plan {
    /// Read a plan from JSON text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &std::path::Path) -> Result<Plan> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| {
            Error::new(ErrorKind::BadInput, format!("not a probeaddr plan: {e}")).with_path(origin)
        })?;
        if plan.version != PLAN_VERSION {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "plan version {} (this probeaddr reads version {PLAN_VERSION})",
                    plan.version
                ),
            )
            .with_path(origin));
        }
        Ok(plan)
    }
}

/// What the target system offers for linking.
#[derive(Debug, Default)]
pub struct Target<'a> {
    /// kallsyms (for runtime kernel addresses).
    pub kallsyms: Option<&'a Kallsyms>,
    /// sysfs (build-ids, module sections).
    pub sysfs: Option<&'a Sysfs>,
    /// Check build-ids (the default).
    pub check_build_id: bool,
}

/// A planned probe linked on the target.
#[derive(Debug, Clone)]
pub struct Linked {
    /// The planned probe.
    pub probe: PlannedProbe,
    /// The runtime address, when it could be computed.
    pub runtime: Option<RuntimeAddr>,
    /// The target text for the chosen form.
    pub target: String,
    /// uprobe or kprobe.
    pub kind: ProbeType,
}

impl Linked {
    /// The tracefs definition.
    pub fn def(&self) -> ProbeDef {
        ProbeDef {
            kind: self.kind,
            probe: self.probe.kind,
            event: self.probe.event.clone(),
            target: self.target.clone(),
            args: self.probe.args.clone(),
        }
    }
}

fn mismatch(what: &str, planned: &str, running: &str) -> Error {
    Error::new(
        ErrorKind::BuildIdMismatch,
        format!("{what}: the plan was made for build-id {planned} but the target has {running}; make the plan from this build's debug info (or --no-build-id-check)"),
    )
}

/// Link every probe of `plan` on `target`, writing each in form `choice`.
pub fn link(plan: &Plan, target: &Target<'_>, choice: FormChoice) -> Result<Vec<Linked>> {
    let mut out = Vec::new();
    for p in &plan.probes {
        out.push(link_one(p, target, choice)?);
    }
    Ok(out)
}

fn link_one(p: &PlannedProbe, t: &Target<'_>, choice: FormChoice) -> Result<Linked> {
    let want_addr = choice == FormChoice::Address;
    match &p.anchor {
        Anchor::Kernel {
            build_id,
            text_offset,
            symbol_form,
        } => {
            if t.check_build_id {
                if let (Some(planned), Some(sys)) = (build_id, t.sysfs) {
                    if let Some(running) = sys.kernel_build_id()? {
                        if hex(&running) != *planned {
                            return Err(mismatch("the running kernel", planned, &hex(&running)));
                        }
                    }
                }
            }
            let runtime = match t.kallsyms {
                Some(ks) if !ks.addresses_hidden() => ks
                    .vmlinux_unique("_text")
                    .map(|s| RuntimeAddr(s.addr.get().wrapping_add(*text_offset))),
                _ => None,
            };
            let target = match choice {
                FormChoice::Safest | FormChoice::Text => format!("_text+{text_offset:#x}"),
                FormChoice::Symbol => symbol_form.clone().ok_or_else(|| {
                    Error::new(
                        ErrorKind::Unrepresentable,
                        format!("{}: no unique symbol form in the plan", p.event),
                    )
                })?,
                FormChoice::Address => format!(
                    "{:#x}",
                    runtime
                        .ok_or_else(|| Error::new(
                            ErrorKind::BadInput,
                            "no runtime address: kallsyms (with addresses) is needed to link _text"
                        ))?
                        .get()
                ),
            };
            Ok(Linked {
                probe: p.clone(),
                runtime,
                target,
                kind: ProbeType::Kprobe,
            })
        }
        Anchor::Module {
            module,
            build_id,
            section,
            section_offset,
            module_form,
        } => {
            let sys = t.sysfs;
            if t.check_build_id {
                if let (Some(planned), Some(sys)) = (build_id, sys) {
                    if sys.module_loaded(module) {
                        if let Some(running) = sys.module_build_id(module)? {
                            if hex(&running) != *planned {
                                return Err(mismatch(
                                    &format!("module {module}"),
                                    planned,
                                    &hex(&running),
                                ));
                            }
                        }
                    }
                }
            }
            let runtime = match sys {
                Some(s) if want_addr || s.module_loaded(module) => Some(RuntimeAddr(
                    s.module_section(module, section)?
                        .get()
                        .wrapping_add(*section_offset),
                )),
                _ => None,
            };
            let target = match (choice, module_form) {
                (FormChoice::Address, _) => format!(
                    "{:#x}",
                    runtime
                        .ok_or_else(|| Error::new(ErrorKind::NotMapped, format!("{}: module {module}'s sections are not known (no sysfs)", p.event)))?
                        .get()
                ),
                (_, Some(f)) => f.clone(),
                (_, None) => match runtime {
                    Some(r) => format!("{:#x}", r.get()),
                    None => {
                        return Err(Error::new(
                            ErrorKind::NotMapped,
                            format!("{}: no unique symbol in module {module} to anchor it, and the module is not loaded", p.event),
                        ))
                    }
                },
            };
            Ok(Linked {
                probe: p.clone(),
                runtime,
                target,
                kind: ProbeType::Kprobe,
            })
        }
        Anchor::User {
            path,
            build_id,
            file_offset,
        } => {
            let elf = ElfObject::open(path)?;
            if t.check_build_id {
                if let Some(planned) = build_id {
                    let here = elf.build_id().map(hex).unwrap_or_else(|| "none".into());
                    if here != *planned {
                        return Err(mismatch(&path.display().to_string(), planned, &here));
                    }
                }
            }
            let target = format!(
                "{}:{file_offset:#x}",
                crate::emit::uprobe::uprobe_path(path)?
            );
            Ok(Linked {
                probe: p.clone(),
                runtime: None,
                target,
                kind: ProbeType::Uprobe,
            })
        }
    }
}
