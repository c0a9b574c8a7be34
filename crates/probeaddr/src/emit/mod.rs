//! Output: the forms a location is written in, probe definitions (the one
//! `p|r:GROUP/EVENT` writer), bpftrace specs, event names, and the JSON
//! document.

pub mod attach;
pub mod bpftrace;
pub mod event;
pub mod forms;
pub mod json;
pub mod probe;

pub use attach::{attach_point, AttachPoint};
pub use bpftrace::bpftrace_probe;
pub use event::{EventNamer, GroupName};
pub use forms::{Form, FormChoice};
pub use probe::{ProbeDef, ProbeType};
