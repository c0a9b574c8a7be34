//! One file per command.

pub mod debuginfo;
pub mod docs;
pub mod kernel;
pub mod list;
pub mod resolve;
pub mod study;
pub mod trace;
