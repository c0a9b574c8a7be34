//! The one writer of probe definitions, for `kprobe_events` and
//! `uprobe_events` alike (`Documentation/trace/kprobetrace.rst`,
//! `uprobetracer.rst`):
//!
//! ```text
//! p[:[GRP/]EVENT] TARGET [FETCHARGS]      r[:[GRP/]EVENT] TARGET [FETCHARGS]
//! ```
//!
//! Resolve output, plans, `link` and tracefs all write through
//! [`ProbeDef::line`], after [`ProbeDef::validate`].

use serde::Serialize;

use crate::emit::event::{validate, GroupName};
use crate::emit::forms::{Form, FormChoice};
use crate::error::{Error, ErrorKind, Result};
use crate::link::{BuildIdCheck, Linked};

/// Which dynamic-event file a probe goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeType {
    /// `uprobe_events`.
    Uprobe,
    /// `kprobe_events`.
    Kprobe,
}

/// A probe to register: `p|r:GROUP/EVENT TARGET [ARGS...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeDef {
    /// uprobe or kprobe.
    pub kind: ProbeType,
    /// A return probe (`r:`).
    pub ret: bool,
    /// Event name.
    pub event: String,
    /// Where: a [`Form`] written out (`PATH:0xOFF`, `_text+0x…`, `MOD:SYM+0x…`, `0x…`).
    pub target: String,
    /// Fetch arguments (`x=%di:s32`).
    pub args: Vec<String>,
}

impl ProbeDef {
    /// The definition of a linked location as event `event`, its target
    /// written in form `choice` (user-space locations have one form, the
    /// file offset), with the location's fetch arguments.
    pub fn new(l: &Linked, event: &str, choice: FormChoice) -> Result<ProbeDef> {
        let form = Form::choose(l, choice)?;
        // A definition computed from one build and written to a kernel (or
        // for a file) that is another probes other code.
        if !l.build_id.same_build() {
            let why = match &l.build_id {
                BuildIdCheck::Mismatch { ours, running } => {
                    format!("it was computed from build-id {ours} and the target runs {running}")
                }
                BuildIdCheck::Differs { reason } => reason.clone(),
                _ => unreachable!("same_build() is false"),
            };
            return Err(Error::new(
                ErrorKind::BuildIdMismatch,
                format!(
                    "{} [{}]: no probe definition: {why}; written to the target it would probe other code (--offline gives the definitions for the analysed build, --no-build-id-check writes them anyway)",
                    l.location.symbol,
                    l.location.file.as_deref().unwrap_or("?")
                ),
            ));
        }
        if let (Some(why), false) = (
            &l.location.kprobe_refused,
            matches!(form, Form::File { .. }),
        ) {
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "{} [{}]: no probe definition: the kernel refuses kprobes here: {why} (/sys/kernel/debug/kprobes/blacklist lists what it refuses)",
                    l.location.symbol,
                    l.location.file.as_deref().unwrap_or("?")
                ),
            ));
        }
        let def = ProbeDef {
            kind: if matches!(form, Form::File { .. }) {
                ProbeType::Uprobe
            } else {
                ProbeType::Kprobe
            },
            ret: l.location.kind.is_return(),
            event: event.to_string(),
            target: form.to_string(),
            args: l.location.args.clone(),
        };
        def.validate()?;
        Ok(def)
    }

    /// Check everything the kernel would otherwise reject half-way, or
    /// misparse: names, whitespace or newlines in the target or arguments.
    pub fn validate(&self) -> Result<()> {
        validate(&self.event, "event")?;
        let bad = |what: &str, s: &str| {
            Error::new(
                ErrorKind::Unrepresentable,
                format!("{what} {s:?} contains whitespace or a control character, which tracefs cannot take"),
            )
        };
        if self.target.is_empty()
            || self
                .target
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad("probe target", &self.target));
        }
        for a in &self.args {
            if a.is_empty() || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("fetch argument", a));
            }
            if let Some((name, _)) = a.split_once('=') {
                validate(name, "fetch argument")?;
            }
        }
        Ok(())
    }

    /// The line written to the events file.
    pub fn line(&self, group: &GroupName) -> String {
        let p = if self.ret { 'r' } else { 'p' };
        let mut s = format!("{p}:{}/{} {}", group.as_str(), self.event, self.target);
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: ProbeType, ret: bool, event: &str, target: &str) -> ProbeDef {
        ProbeDef {
            kind,
            ret,
            event: event.into(),
            target: target.into(),
            args: Vec::new(),
        }
    }

    #[test]
    fn lines() {
        let g = GroupName::default();
        let d = def(ProbeType::Uprobe, false, "helper_b_c", "/tmp/prog:0x1175");
        assert_eq!(d.line(&g), "p:probeaddr/helper_b_c /tmp/prog:0x1175");
        let mut r = def(
            ProbeType::Kprobe,
            true,
            "init_once__return",
            "_text+0x3ea470",
        );
        r.args.push("x=%di:s32".into());
        assert_eq!(
            r.line(&g),
            "r:probeaddr/init_once__return _text+0x3ea470 x=%di:s32"
        );
        assert!(def(ProbeType::Uprobe, false, "bad-name", "/tmp/prog:0x1")
            .validate()
            .is_err());
        assert!(def(ProbeType::Uprobe, false, "ok", "/tmp/a b:0x1")
            .validate()
            .is_err());
        assert!(def(ProbeType::Kprobe, false, "ok", "").validate().is_err());
    }
}
