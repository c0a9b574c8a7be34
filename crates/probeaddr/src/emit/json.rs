//! The JSON document `--format json` writes: one schema for every object
//! kind, versioned (see `docs/json.md`).
//!
//! ```text
//! { "schema": 1, "locations": [ ENTRY, ... ] }
//! ```
//!
//! An entry is a [`Location`]'s fields (what a plan holds) plus what
//! linking and emitting added: `matches`, `event`, `runtime_addr`,
//! `unlinked`, `build_id`, `forms` and `probe`. Addresses and offsets are
//! `0x` hex strings everywhere. A plan is the same document with the
//! location fields alone, so `--format json` output can be linked as a plan.

use serde::Serialize;

use crate::addr::RuntimeAddr;
use crate::emit::forms::FormsJson;
use crate::link::{BuildIdCheck, Linked};
use crate::location::Location;

/// The version of the document's schema.
pub const SCHEMA: u32 = 1;

/// The top level of the document.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The entries, in the order of the probe points.
    pub locations: Vec<Entry<'a>>,
}

impl<'a> Document<'a> {
    /// The document of `locations`.
    pub fn new(locations: Vec<Entry<'a>>) -> Document<'a> {
        Document {
            schema: SCHEMA,
            locations,
        }
    }
}

/// One location with what linking and emitting found.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    /// The location.
    #[serde(flatten)]
    pub location: &'a Location,
    /// How many locations its probe point named.
    pub matches: usize,
    /// A probe point that names this location alone among them, if one does.
    pub pin: Option<String>,
    /// The event name it gets.
    pub event: &'a str,
    /// Its runtime address, when linked.
    pub runtime_addr: Option<RuntimeAddr>,
    /// Why there is no runtime address, when one could have been given.
    pub unlinked: Option<&'a str>,
    /// Whether the target runs the build analysed.
    pub build_id: &'a BuildIdCheck,
    /// Every form it can be written in.
    pub forms: FormsJson,
    /// The probe definition (`p:GROUP/EVENT TARGET`), when it has one.
    pub probe: Option<String>,
    /// Why it has none.
    pub probe_error: Option<String>,
}

impl<'a> Entry<'a> {
    /// The entry of a linked location.
    pub fn new(
        l: &'a Linked,
        matches: usize,
        pin: Option<String>,
        event: &'a str,
        probe: Result<String, String>,
    ) -> Entry<'a> {
        let (probe, probe_error) = match probe {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        };
        Entry {
            location: &l.location,
            matches,
            pin,
            event,
            runtime_addr: l.runtime,
            unlinked: l.unlinked.as_deref(),
            build_id: &l.build_id,
            forms: FormsJson::of(l),
            probe,
            probe_error,
        }
    }
}
