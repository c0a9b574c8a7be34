//! The kallsyms cost study: what it would cost the kernel to tell local
//! symbols apart by itself, scheme by scheme, measured on one vmlinux.

pub mod compress;
pub mod cost;
pub mod export;

use std::path::Path;

use crate::error::Result;
use crate::resolve::objects::Vmlinux;
use crate::sources::debuginfo::DebugSearch;

/// A vmlinux opened for the study (its `.symtab`, and DWARF for paths).
#[derive(Debug)]
pub struct KernelImage {
    vm: Vmlinux,
}

impl KernelImage {
    /// Open a vmlinux.
    pub fn open(path: &Path) -> Result<KernelImage> {
        Ok(KernelImage {
            vm: Vmlinux::open(path, &DebugSearch::default())?,
        })
    }

    pub(crate) fn analysed(&self) -> &crate::object::AnalysedObject {
        &self.vm.obj
    }
}
