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
}

impl Resolver {
    /// A symbolizer over the running kernel's kallsyms (when it describes
    /// the analysed build) and the vmlinux (for files). Without kallsyms,
    /// addresses are taken as the vmlinux's link-time addresses.
    pub fn symbolizer(&self) -> Result<Symbolizer<'_>> {
        let kallsyms = self
            .kallsyms
            .as_ref()
            .filter(|_| self.kallsyms_is_namespace())
            .map(|k| &*k.listing);
        let vm = match &self.vmlinux_path {
            Some(_) => Some(self.vmlinux()?),
            None => None,
        };
        if kallsyms.is_none() && vm.is_none() {
            return Err(Error::new(
                ErrorKind::BadInput,
                "no kernel symbols: give --kallsyms or --vmlinux (/proc/kallsyms was not readable)",
            ));
        }
        if let Some(k) = kallsyms {
            k.require_addresses()?;
        }
        let slide = match (self.check_kernel(), kallsyms) {
            (Some(Ok(c)), Some(_)) if c.same_build() => Some(c.slide),
            (_, None) => Some(0),
            _ => None,
        };
        let vmlinux = match vm {
            Some(v) => Some((v, v.obj.index()?)),
            None => None,
        };
        Ok(Symbolizer {
            kallsyms,
            vmlinux,
            slide,
        })
    }
}

impl Symbolizer<'_> {
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
            },
            None => Symbolized {
                addr,
                symbol: None,
                offset: 0,
                file: None,
                module: None,
            },
        }
    }
}
