//! Kernel addresses back to `symbol+offset [file] (module)`.

use std::fmt;

use serde::Serialize;

use crate::addr::{LinkAddr, RuntimeAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::index::SymbolIndex;
use crate::resolve::objects::Vmlinux;
use crate::resolve::Resolver;
use crate::sources::kallsyms::Kallsyms;

/// An address, and what holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Symbolized {
    /// The address asked about.
    pub addr: RuntimeAddr,
    /// The symbol holding it, if any.
    pub symbol: Option<String>,
    /// The offset into that symbol.
    #[serde(with = "crate::addr::hex")]
    pub offset: u64,
    /// Its source file, when the vmlinux tells.
    pub file: Option<String>,
    /// Its module, for a module address.
    pub module: Option<String>,
    /// True when the symbol is the last kallsyms lists in its region
    /// (vmlinux's text, or a module's): kallsyms gives no sizes, so an
    /// address past its start may be past its end too.
    pub size_unknown: bool,
}

impl fmt::Display for Symbolized {
    /// `0xffffffff9efea474 init_once+0x4 [fs/proc/inode.c]`, `… (fixmod)`, `… ??`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(sym) = &self.symbol else {
            return write!(f, "{:#x} ??", self.addr.get());
        };
        write!(f, "{:#x} {sym}+{:#x}", self.addr.get(), self.offset)?;
        if let Some(file) = &self.file {
            write!(f, " [{file}]")?;
        }
        if let Some(m) = &self.module {
            write!(f, " ({m})")?;
        }
        if self.size_unknown && self.offset > 0 {
            write!(f, " (the last symbol of its region: its size is unknown, so the address may be past its end)")?;
        }
        Ok(())
    }
}

/// Turns addresses into symbols; made by [`Resolver::symbolizer`].
#[derive(Debug)]
pub struct Symbolizer<'a> {
    kallsyms: Option<&'a Kallsyms>,
    vmlinux: Option<(&'a Vmlinux, &'a SymbolIndex)>,
    /// How a runtime address becomes a vmlinux address, when it can.
    slide: Option<u64>,
    warnings: Vec<String>,
}

impl Resolver {
    /// A symbolizer over the running kernel's kallsyms (when it describes
    /// the analysed build) and the vmlinux (for files). Without kallsyms,
    /// addresses are taken as the vmlinux's link-time addresses.
    pub fn symbolizer(&self) -> Result<Symbolizer<'_>> {
        // What the running kernel lists, whether or not it is the vmlinux's
        // build: addresses given are its addresses.
        let live = self.kallsyms.as_ref().map(|k| &*k.listing);
        let vm = match &self.vmlinux_path {
            Some(_) => Some(self.vmlinux()?),
            None => None,
        };
        if live.is_none() && vm.is_none() {
            return Err(Error::new(
                ErrorKind::BadInput,
                "no kernel symbols: give --kallsyms or --vmlinux (/proc/kallsyms was not readable)",
            ));
        }
        if let Some(k) = live {
            k.require_addresses()?;
        }
        let mut warnings = Vec::new();
        let slide = match (vm, live, self.check_kernel()) {
            (Some(_), Some(_), Some(Ok(c))) if c.same_build() => Some(c.slide),
            (Some(v), Some(_), check) => {
                let why = match check {
                    Some(Err(e)) => e.to_string(),
                    _ => "its build-id differs from the running kernel's".to_string(),
                };
                warnings.push(format!(
                    "{} is not the running kernel ({why}): addresses are named from the running kernel's kallsyms, without files; give --offline to read them as the vmlinux's own link-time addresses",
                    v.path().display()
                ));
                None
            }
            // No running kernel to compare with: link-time addresses.
            (Some(_), None, _) => Some(0),
            (None, _, _) => None,
        };
        let vmlinux = match vm {
            Some(v) => Some((v, v.obj.index()?)),
            None => None,
        };
        Ok(Symbolizer {
            kallsyms: live,
            vmlinux,
            slide,
            warnings,
        })
    }
}

impl Symbolizer<'_> {
    /// What the user must know about every answer (a vmlinux that is not
    /// the running kernel's build, so it is not used).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// What holds `addr`: a vmlinux function with its file, else the
    /// nearest kallsyms text symbol (with its module).
    pub fn symbolize(&self, addr: RuntimeAddr) -> Symbolized {
        if let (Some((vm, idx)), Some(slide)) = (self.vmlinux, self.slide) {
            let la = LinkAddr(addr.get().wrapping_sub(slide));
            if let Some(s) = idx.functions_containing(la).next() {
                return Symbolized {
                    addr,
                    symbol: Some(idx.name(s).to_string()),
                    offset: la.get() - s.addr.get(),
                    file: vm.obj.source_file(idx, s).map(|f| f.shown),
                    module: None,
                    size_unknown: false,
                };
            }
        }
        match self
            .kallsyms
            .and_then(|k| k.symbolize(addr).map(|(s, off)| (k, s, off)))
        {
            Some((k, s, off)) => Symbolized {
                addr,
                symbol: Some(k.name(s).to_string()),
                offset: off,
                file: None,
                module: k.module(s).map(str::to_string),
                size_unknown: k.ends_region(s),
            },
            None => Symbolized {
                addr,
                symbol: None,
                offset: 0,
                file: None,
                module: None,
                size_unknown: false,
            },
        }
    }
}
