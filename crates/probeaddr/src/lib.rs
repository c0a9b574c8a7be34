//! probeaddr turns symbolic probe points into exact, verified addresses for
//! uprobes and kprobes, including `static` functions whose names are not unique.
//!
//! # Design
//!
//! Data flows one way, through one pipeline for every object kind:
//!
//! ```text
//! probe point ──parse──▶ ProbeSpec ──Resolver──▶ [Location] ──Linker──▶ [Linked] ──emit──▶ forms, probe definitions, JSON
//! ```
//!
//! * [`ProbeSpec::parse`] reads perf-probe and SystemTap syntax into one spec.
//! * A [`Resolver`] opens the objects its [`Source`]s name — user-space files,
//!   the vmlinux, modules, kallsyms or System.map listings — once, lazily,
//!   and returns *every* [`Location`] a spec names, each with its source
//!   file: compiler clones and inlined sites included, offsets checked on
//!   instruction boundaries, several matches never narrowed to one. A
//!   location holds no runtime address, only an [`Anchor`]: a file offset,
//!   `_text + offset`, or an offset into a module section.
//! * A [`Linker`] is the only code that reads the live system (kallsyms,
//!   `/sys`, `/proc/PID/maps`, or files standing in for them): it checks
//!   build-ids and adds each anchor's base. A [`Plan`] is locations
//!   serialized on a build host and linked on the target.
//! * [`emit`] writes a linked location in the [`Form`]s probe APIs take
//!   (`PATH:0xOFF`, `_text+0xOFF`, `SYM+0xOFF` only when SYM is unique,
//!   `MOD:SYM+0xOFF`, the address) and the one `p|r:GROUP/EVENT` line.
//!
//! Ambiguity and "not found" come back as data ([`Reason`]) on the error,
//! with the candidates and the probe point that pins each.
//!
//! # Examples
//!
//! A uprobe offset for `malloc` in libc:
//!
//! ```no_run
//! use probeaddr::{Anchor, ProbeSpec, Resolver, Source};
//!
//! let libc = Resolver::new([Source::User("/lib/x86_64-linux-gnu/libc.so.6".into())]);
//! for l in libc.resolve(&ProbeSpec::parse("malloc")?)?.locations {
//!     if let Anchor::File { offset } = l.anchor {
//!         println!("{} [{}] at file offset {offset}", l.symbol, l.file.as_deref().unwrap_or("?"));
//!     }
//! }
//! # Ok::<(), probeaddr::Error>(())
//! ```
//!
//! A kprobe on one of the kernel's eight `init_once`, linked to the running kernel:
//!
//! ```no_run
//! use probeaddr::{FormChoice, Linker, ProbeDef, ProbeSpec, Resolver, Source};
//!
//! let linker = Linker::live();
//! let mut sources = vec![Source::Vmlinux("/usr/lib/debug/boot/vmlinux".into())];
//! sources.extend(linker.kernel_symbols()?.map(Source::Kallsyms));
//! let kernel = Resolver::new(sources);
//! let spec = ProbeSpec::parse("init_once@fs/proc/inode.c")?;
//! for l in kernel.resolve(&spec)?.locations {
//!     let linked = linker.link(&l)?;
//!     let def = ProbeDef::new(&linked, "init_once", FormChoice::Safest)?;
//!     println!("{}", def.line(&Default::default()));
//! }
//! # Ok::<(), probeaddr::Error>(())
//! ```
//!
//! # Features
//!
//! `default-features = false` gives the resolver, linker and emitters
//! alone; `debuginfod` adds the client that fetches debug files, `tracefs`
//! the session that registers probes, `study` the kallsyms cost study.
#![deny(missing_docs, missing_debug_implementations)]

pub mod addr;
mod blacklist;
#[cfg(feature = "debuginfod")]
pub mod debuginfod;
pub mod emit;
mod error;
mod index;
mod insn;
mod lines;
pub mod link;
pub mod location;
mod object;
mod pin;
pub mod plan;
pub mod resolve;
mod source;
mod sources;
pub mod spec;
#[cfg(feature = "study")]
pub mod study;
#[cfg(feature = "tracefs")]
pub mod tracefs;

pub use addr::{FileOffset, LinkAddr, RuntimeAddr, SectionOffset};
pub use emit::{attach_point, bpftrace_probe, AttachPoint, Form, FormChoice, ProbeDef};
pub use error::{Candidate, Error, ErrorKind, Reason, Result};
pub use link::{Linked, Linker, LinkerConfig};
pub use location::{Anchor, Location, LocationKind, Marker, Object, Variable, VariableKind};
pub use pin::pins;
pub use plan::Plan;
pub use resolve::{Resolution, ResolveOptions, Resolver};
pub use source::{KernelSymbols, Source};
pub use spec::ProbeSpec;

/// Readers, exposed for the fuzz targets and benchmarks only: not part of the API.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::index::{SymbolIndex, SymbolKind};
    pub use crate::sources::{dwarf, elf, kallsyms, maps, sysfs, Bytes};
}
