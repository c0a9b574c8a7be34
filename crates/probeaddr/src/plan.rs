//! Plans: locations computed where the debug info is (a build host),
//! linked where the probes run (the target), which only fetches anchors.
//!
//! A plan is the locations and nothing else: each says what it is relative
//! to ([`crate::Anchor`]: `_text`, a module section, a file offset) and the
//! build-id of the object it was computed from. [`crate::Linker`] checks
//! that the target runs that very build and adds the anchor's base.
//!
//! The document has the shape of `--format json` output (`docs/json.md`):
//! `{"schema": 1, "locations": [...]}`; the fields linking adds there are
//! ignored when a plan is read.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::emit::json::SCHEMA;
use crate::error::{Error, ErrorKind, Result};
use crate::location::{Location, Object};

/// A plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// The schema version ([`SCHEMA`]).
    pub schema: u32,
    /// The locations, in the order of their probe points.
    pub locations: Vec<Location>,
}

impl Plan {
    /// A plan of `locations`. A user-space object's path is made absolute,
    /// so that the plan means the same file wherever it is linked from.
    pub fn new(mut locations: Vec<Location>) -> Plan {
        for l in &mut locations {
            if let Object::User { path, .. } = &mut l.object {
                if let Ok(abs) = std::fs::canonicalize(&*path) {
                    *path = abs;
                }
            }
        }
        Plan {
            schema: SCHEMA,
            locations,
        }
    }

    /// Read a plan file.
    pub fn read(path: &Path) -> Result<Plan> {
        crate::sources::regular_file(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Plan::from_json(&text, path)
    }

    /// Read a plan from JSON text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &Path) -> Result<Plan> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| {
            Error::new(ErrorKind::BadInput, format!("not a probeaddr plan: {e}")).with_path(origin)
        })?;
        if plan.schema != SCHEMA {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "plan schema {} (this probeaddr reads schema {SCHEMA})",
                    plan.schema
                ),
            )
            .with_path(origin));
        }
        Ok(plan)
    }

    /// The plan as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan serializes")
    }
}
