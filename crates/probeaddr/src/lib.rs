//! probeaddr turns symbolic probe points into exact, verified addresses for
//! uprobes and kprobes, including `static` functions whose names are not unique.
//!
//! # Design
//!
//! Data flows one way:
//!
//! ```text
//! probe point ──parse──▶ ProbeSpec ──resolve (SymbolIndex)──▶ [Location] ──link──▶ [Linked] ──emit──▶ text/JSON
//! ```
//!
//! * [`spec`] parses perf-probe and SystemTap syntax into one [`ProbeSpec`].
//! * `sources` reads files (ELF via the `object` crate, `/proc/PID/maps`, separate
//!   debug files). Readers only read, and never the live system unless asked.
//! * [`index::SymbolIndex`] holds an object's symbols, each local attributed to
//!   its source file by the `STT_FILE` entry before it. Names are not copied: an
//!   entry keeps offsets into the mapped string table.
//! * [`resolve`] matches a spec against an object and returns *every* location
//!   it names, each with its file; several matches are reported, never
//!   silently narrowed to one.
//! * [`link`] adds runtime bases (a process's mapping of the file).
//! * [`emit`] writes tables, `uprobe_events` lines and JSON.
//!
//! Analysis (parse, read, index, resolve) never reads the live system; only
//! linking does, and it takes its inputs as files so that it can be tested offline.
//!
//! # Example
//!
//! ```no_run
//! use probeaddr::{ProbeSpec, resolve::{UserObject, ResolveOptions}};
//!
//! let obj = UserObject::open("./prog".as_ref(), &Default::default())?;
//! let spec = ProbeSpec::parse("helper@b.c")?;
//! for loc in obj.resolve(&spec, &ResolveOptions::default())? {
//!     println!("{} [{}] at file offset {}", loc.symbol, loc.file.as_deref().unwrap_or("?"), loc.file_offset);
//! }
//! # Ok::<(), probeaddr::Error>(())
//! ```
#![deny(missing_docs, missing_debug_implementations)]

pub mod addr;
pub mod emit;
mod error;
pub mod index;
pub mod insn;
pub mod kernel;
pub mod lines;
pub mod link;
pub mod object;
pub mod plan;
pub mod resolve;
pub mod sources;
pub mod spec;
pub mod study;
pub mod tracefs;

pub use addr::{FileOffset, LinkAddr, RuntimeAddr};
pub use error::{Error, ErrorKind, Result};
pub use spec::ProbeSpec;
