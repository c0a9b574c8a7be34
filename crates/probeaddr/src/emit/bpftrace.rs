//! bpftrace probe specs, as bpftrace (0.17, Debian 12) takes them:
//!
//! ```text
//! uprobe:PATH:0xVADDR   uretprobe:PATH:0xVADDR   kprobe:FN[+OFF]   kretprobe:FN
//! usdt:PATH:PROVIDER:NAME
//! ```
//!
//! bpftrace's manual calls the number after the path an "offset", but it is
//! a virtual address: bpftrace maps it to the file itself (a non-PIE's
//! `0x4011c0` attaches where its file offset `0x11c0` is refused). A kernel
//! function is named by a symbol only: bpftrace has no `_text+OFF` and
//! checks `FN+OFF` against FN's size, so only a symbol the kernel finds
//! once, holding the location, names it. Fetch arguments are not part of
//! a spec: bpftrace reads `arg0`… and `retval` itself.

use crate::error::{Error, ErrorKind, Result};
use crate::link::Linked;
use crate::location::{Anchor, LocationKind};

/// The bpftrace probe spec that attaches at `l`, or why bpftrace cannot
/// name that place.
pub fn bpftrace_probe(l: &Linked) -> Result<String> {
    let loc = &l.location;
    let ret = loc.kind.is_return();
    if loc.kind == LocationKind::Data {
        return Err(Error::new(
            ErrorKind::Unrepresentable,
            format!("{} is data: bpftrace probes code", loc.describe()),
        ));
    }
    if let Anchor::File { .. } = loc.anchor {
        let path = match &l.uprobe_path {
            Some(p) => p.clone()?,
            None => {
                return Err(Error::new(
                    ErrorKind::Unrepresentable,
                    format!("{} has no file to name", loc.describe()),
                ))
            }
        };
        // bpftrace's parser takes a path with other characters ('+' in
        // libstdc++) only quoted.
        let path = if path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
        {
            path
        } else if path.contains(['"', '\\']) {
            return Err(Error::new(
                ErrorKind::Unrepresentable,
                format!(
                    "path {path:?} has a quote or backslash, which a bpftrace probe cannot take"
                ),
            ));
        } else {
            format!("\"{path}\"")
        };
        // A marker by its name: bpftrace then raises its semaphore too.
        if let Some(m) = &loc.marker {
            return Ok(format!("usdt:{path}:{}:{}", m.provider, m.name));
        }
        let kind = if ret { "uretprobe" } else { "uprobe" };
        return Ok(format!("{kind}:{path}:{:#x}", loc.addr.get()));
    }
    let cannot = |why: String| {
        Err(Error::new(
            ErrorKind::Unrepresentable,
            format!("bpftrace cannot name {}: {why}", loc.describe()),
        ))
    };
    let form = loc.symbol_form.as_ref().or(loc.module_form.as_ref());
    let Some(sa) = form.filter(|s| s.own && loc.name_count == Some(1)) else {
        return cannot(match loc.name_count {
            Some(n) if n > 1 => format!(
                "'kprobe:{}' names its {n} symbols alike (the kernel takes the first, or since Linux 6.6 refuses), and bpftrace has no _text+OFF form",
                loc.symbol
            ),
            _ => "no symbol the kernel finds once holds it".into(),
        });
    };
    match (ret, sa.offset) {
        (false, 0) => Ok(format!("kprobe:{}", sa.symbol)),
        (false, off) => Ok(format!("kprobe:{}+{off:#x}", sa.symbol)),
        (true, 0) => Ok(format!("kretprobe:{}", sa.symbol)),
        (true, _) => cannot("a return probe is at a function's entry".into()),
    }
}
