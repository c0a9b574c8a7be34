//! Does a kallsyms listing describe an analysed kernel build? The KASLR
//! slide from `_text`, checked against a spread of unique functions, and the
//! build-ids where both are known.
//!
//! KASLR moves the whole image by one offset, so every text symbol of the
//! running kernel is at its link-time address plus the slide. If sixteen
//! functions spread over the image agree, the listing is this build; one
//! that disagrees means another build (or text not linearly relocated), and
//! no address computed from this vmlinux may be used on it.

use serde::Serialize;

use crate::addr::{LinkAddr, RuntimeAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::source::KernelSymbols;
use crate::sources::elf::hex;

/// Whether an analysed object is the build the target runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
#[non_exhaustive]
pub enum BuildIdCheck {
    /// The target names the same build-id.
    Match,
    /// It names another.
    Mismatch {
        /// The analysed object's.
        ours: String,
        /// The target's.
        running: String,
    },
    /// Nothing to compare (no build-id on one side).
    Unknown,
    /// The check is turned off.
    Skipped,
    /// The target is known to run another build by other means (its
    /// kallsyms does not describe the analysed image).
    Differs {
        /// How it is known.
        reason: String,
    },
}

impl BuildIdCheck {
    /// Compare `ours` with what the target runs (`running`).
    pub(crate) fn compare(check: bool, ours: Option<&[u8]>, running: Option<&[u8]>) -> Self {
        match (check, ours, running) {
            (false, _, _) => BuildIdCheck::Skipped,
            (true, Some(a), Some(b)) if a == b => BuildIdCheck::Match,
            (true, Some(a), Some(b)) => BuildIdCheck::Mismatch {
                ours: hex(a),
                running: hex(b),
            },
            _ => BuildIdCheck::Unknown,
        }
    }

    /// Like [`BuildIdCheck::compare`], with the analysed side as hex text.
    pub(crate) fn compare_hex(check: bool, ours: Option<&str>, running: Option<&[u8]>) -> Self {
        match (check, ours, running) {
            (false, _, _) => BuildIdCheck::Skipped,
            (true, Some(a), Some(b)) if a == hex(b) => BuildIdCheck::Match,
            (true, Some(a), Some(b)) => BuildIdCheck::Mismatch {
                ours: a.to_string(),
                running: hex(b),
            },
            _ => BuildIdCheck::Unknown,
        }
    }

    /// False for a mismatch, or a target known to run another build.
    pub fn same_build(&self) -> bool {
        !matches!(
            self,
            BuildIdCheck::Mismatch { .. } | BuildIdCheck::Differs { .. }
        )
    }
}

/// A kallsyms listing checked against an analysed kernel image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelCheck {
    /// Runtime `_text` minus link-time `_text`.
    #[serde(with = "crate::addr::hex")]
    pub slide: u64,
    /// Runtime `_text`.
    pub runtime_text: RuntimeAddr,
    /// Unique functions whose runtime address was checked against link
    /// address + slide (0 when the build-ids already differ).
    pub checked: usize,
    /// The build-ids.
    pub build_id: BuildIdCheck,
}

impl KernelCheck {
    /// True unless the build-ids differ.
    pub fn same_build(&self) -> bool {
        self.build_id.same_build()
    }

    /// A link-time address of the image at run time.
    pub fn runtime(&self, a: LinkAddr) -> RuntimeAddr {
        RuntimeAddr(a.get().wrapping_add(self.slide))
    }

    /// A runtime address as a link-time address of the image.
    pub fn link_time(&self, a: RuntimeAddr) -> LinkAddr {
        LinkAddr(a.get().wrapping_sub(self.slide))
    }
}

/// What the check needs of an analysed kernel image.
pub(crate) struct KernelBuild<'a> {
    /// The image as messages name it (`vmlinux-6.1`, `the System.map …`).
    pub what: String,
    /// What its addresses are called in messages (`in the vmlinux`).
    pub where_: &'static str,
    /// Link-time `_text`.
    pub text: LinkAddr,
    /// Its build-id, if it has one.
    pub build_id: Option<&'a [u8]>,
    /// Global functions in executable sections, sorted by address.
    pub functions: Vec<(&'a str, LinkAddr)>,
    /// True if a name occurs once in the image.
    pub unique: &'a dyn Fn(&str) -> bool,
}

/// Compute the slide from `ks` and check that `build` is what `ks`
/// describes: `_text`, the build-ids, and a spread of unique functions.
pub(crate) fn check(
    build: &KernelBuild<'_>,
    ks: &KernelSymbols,
    check_build_id: bool,
) -> Result<KernelCheck> {
    let listing = &ks.listing;
    listing.require_addresses()?;
    let rt = listing.vmlinux_unique("_text").ok_or_else(|| {
        Error::new(
            ErrorKind::BadInput,
            "no _text in kallsyms: cannot compute the KASLR offset",
        )
        .with_path(listing.origin())
    })?;
    let slide = rt.addr.get().wrapping_sub(build.text.get());
    let build_id = BuildIdCheck::compare(check_build_id, build.build_id, ks.build_id.as_deref());
    let mut checked = 0;
    if build_id.same_build() {
        let cands = &build.functions;
        let step = (cands.len() / 16).max(1);
        for &(name, addr) in cands.iter().step_by(step).chain(cands.last()) {
            let Some(k) = listing.vmlinux_unique(name) else {
                continue;
            };
            if !(build.unique)(name) {
                continue;
            }
            let want = addr.get().wrapping_add(slide);
            if k.addr.get() != want {
                return Err(Error::new(
                    ErrorKind::BuildIdMismatch,
                    format!(
                        "{} does not describe {}: {name} is at {:#x} in kallsyms but at {:#x} + KASLR offset {slide:#x} = {want:#x} {} (another build, or text not linearly relocated); use the vmlinux of the running kernel",
                        listing.origin().display(),
                        build.what,
                        k.addr.get(),
                        addr.get(),
                        build.where_,
                    ),
                ));
            }
            checked += 1;
        }
    }
    Ok(KernelCheck {
        slide,
        runtime_text: rt.addr,
        checked,
        build_id,
    })
}
