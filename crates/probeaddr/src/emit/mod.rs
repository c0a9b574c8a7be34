//! Output: event names, `uprobe_events` definitions, tables and JSON.

pub mod event;
pub mod uprobe;

pub use event::{EventNamer, GroupName};
