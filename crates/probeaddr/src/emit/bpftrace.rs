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
    // The kernel's: a symbol and offset, as for any symbol-based API.
    match super::attach::attach_point(l) {
        Ok(super::attach::AttachPoint::Kprobe {
            symbol,
            offset,
            retprobe,
        }) => Ok(match (retprobe, offset) {
            (false, 0) => format!("kprobe:{symbol}"),
            (false, off) => format!("kprobe:{symbol}+{off:#x}"),
            (true, _) => format!("kretprobe:{symbol}"),
        }),
        Ok(_) => unreachable!("a kernel location is not a file's"),
        Err(e) => Err(Error::new(
            ErrorKind::Unrepresentable,
            format!("bpftrace cannot name it: {e}; bpftrace has no _text+OFF form"),
        )),
    }
}
