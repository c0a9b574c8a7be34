//! Where an eBPF loader attaches, as numbers: what aya
//! (`UProbe::attach(None, offset, path, pid)`, `KProbe::attach(fn, offset)`)
//! and libbpf (`bpf_program__attach_uprobe_opts` with `ref_ctr_offset`,
//! `bpf_program__attach_kprobe_opts`) take, without parsing a definition.

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::link::Linked;
use crate::location::{Anchor, LocationKind};

/// One attach point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum AttachPoint {
    /// A uprobe at a file offset of a file.
    Uprobe {
        /// The file, absolute.
        path: String,
        /// The file offset (not a virtual address).
        offset: u64,
        /// A USDT marker's semaphore, as a file offset: the kernel raises it
        /// while the probe is attached.
        ref_ctr_offset: Option<u64>,
        /// A return probe.
        retprobe: bool,
    },
    /// A kprobe at a symbol the kernel finds once, plus an offset.
    Kprobe {
        /// The symbol: the function itself, unique in the namespace.
        symbol: String,
        /// Bytes past it.
        offset: u64,
        /// A return probe (at offset 0).
        retprobe: bool,
    },
}

/// The attach point of `l`, or why a symbol-and-offset API cannot name it
/// (a kernel name of several copies: use its `_text+OFF` kprobe_events
/// definition, or its runtime address where the API takes one).
pub fn attach_point(l: &Linked) -> Result<AttachPoint> {
    let loc = &l.location;
    let ret = loc.kind.is_return();
    let cannot = |why: String| {
        Error::new(
            ErrorKind::Unrepresentable,
            format!("no symbol and offset name {}: {why}", loc.describe()),
        )
    };
    if loc.kind == LocationKind::Data {
        return Err(cannot("it is data, not code".into()));
    }
    if let Anchor::File { offset } = loc.anchor {
        let path = match &l.uprobe_path {
            Some(p) => p.clone()?,
            None => return Err(cannot("it has no file".into())),
        };
        return Ok(AttachPoint::Uprobe {
            path,
            offset: offset.get(),
            ref_ctr_offset: loc
                .marker
                .as_ref()
                .and_then(|m| m.semaphore)
                .map(|s| s.get()),
            retprobe: ret,
        });
    }
    let form = loc.symbol_form.as_ref().or(loc.module_form.as_ref());
    let Some(sa) = form.filter(|s| s.own && loc.name_count == Some(1)) else {
        return Err(cannot(match loc.name_count {
            Some(n) if n > 1 => format!(
                "'{}' names its {n} symbols alike (the kernel takes the first, or since Linux 6.6 refuses)",
                loc.symbol
            ),
            _ => "no symbol the kernel finds once holds it".into(),
        }));
    };
    if ret && sa.offset != 0 {
        return Err(cannot("a return probe is at a function's entry".into()));
    }
    Ok(AttachPoint::Kprobe {
        symbol: sa.symbol.clone(),
        offset: sa.offset,
        retprobe: ret,
    })
}
