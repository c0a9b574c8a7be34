//! `uprobe_events` definitions (`Documentation/trace/uprobetracer.rst`):
//! `p[:[GRP/]EVENT] PATH:OFFSET` and `r[:[GRP/]EVENT] PATH:OFFSET`.

use std::path::Path;

use crate::addr::FileOffset;
use crate::emit::event::{validate, GroupName};
use crate::error::{Error, ErrorKind, Result};
use crate::spec::ProbeKind;

/// A path as the kernel's uprobe parser can take it: absolute (the kernel
/// resolves relative paths against the writer's working directory, which is
/// rarely what the reader of our output has), and free of whitespace, since
/// the definition is split on whitespace.
pub fn uprobe_path(path: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let s = abs.to_str().ok_or_else(|| {
        Error::new(
            ErrorKind::Unrepresentable,
            "path is not valid UTF-8, which uprobe_events cannot take",
        )
        .with_path(path)
    })?;
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::new(
            ErrorKind::Unrepresentable,
            format!(
                "path {s:?} contains {}, which uprobe_events cannot take (it splits definitions on whitespace); copy or link the file to a path without it",
                match c {
                    ' ' => "a space".to_string(),
                    '\t' => "a tab".to_string(),
                    '\n' => "a newline".to_string(),
                    c => format!("the character {c:?}"),
                }
            ),
        )
        .with_path(path));
    }
    Ok(s.to_string())
}

/// One `uprobe_events` line.
pub fn definition(
    kind: ProbeKind,
    group: &GroupName,
    event: &str,
    path: &str,
    off: FileOffset,
) -> Result<String> {
    validate(event, "event")?;
    let p = match kind {
        ProbeKind::Entry => 'p',
        ProbeKind::Return => 'r',
    };
    Ok(format!("{p}:{}/{event} {path}:{off:#x}", group.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let g = GroupName::default();
        assert_eq!(
            definition(
                ProbeKind::Entry,
                &g,
                "helper_b_c",
                "/tmp/prog",
                FileOffset(0x1175)
            )
            .unwrap(),
            "p:probeaddr/helper_b_c /tmp/prog:0x1175"
        );
        assert_eq!(
            definition(
                ProbeKind::Return,
                &g,
                "helper__return",
                "/tmp/prog",
                FileOffset(0x1175)
            )
            .unwrap(),
            "r:probeaddr/helper__return /tmp/prog:0x1175"
        );
        assert!(definition(ProbeKind::Entry, &g, "bad-name", "/tmp/prog", FileOffset(1)).is_err());
    }
}
