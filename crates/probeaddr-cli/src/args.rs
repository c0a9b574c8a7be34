//! Command-line flags. Validation only; no I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Turn symbolic probe points into exact, verified probe addresses.
#[derive(Debug, Parser)]
#[command(name = "probeaddr", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve probe points to every location they name.
    ///
    /// Probe points use perf-probe syntax (`helper@b.c`, `helper+0x4`,
    /// `helper%return`, `b.c:12`) or SystemTap syntax
    /// (`process("./prog").function("helper@b.c").return`).
    Resolve(ResolveArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// `uprobe_events` lines, ready for tracefs.
    Uprobe,
    /// A JSON array of locations.
    Json,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Probe points.
    #[arg(required = true, value_name = "POINT")]
    pub points: Vec<String>,

    /// The user-space ELF file (executable or shared library) for perf-syntax
    /// probe points.
    #[arg(short = 'x', long = "exec", value_name = "PATH")]
    pub exec: Option<PathBuf>,

    /// Also give runtime addresses in this process (from /proc/PID/maps).
    #[arg(long, value_name = "PID", conflicts_with = "maps")]
    pub pid: Option<u32>,

    /// Like --pid, from a saved copy of a /proc/PID/maps file.
    #[arg(long, value_name = "FILE")]
    pub maps: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Make more than one match an error that lists every candidate.
    #[arg(long)]
    pub unique: bool,

    /// Event group for probe definitions.
    #[arg(long, default_value = "probeaddr", value_name = "NAME")]
    pub group: String,

    /// Look for separate debug files here too (before /usr/lib/debug).
    #[arg(long = "debug-dir", value_name = "DIR")]
    pub debug_dirs: Vec<PathBuf>,

    /// Accept a debug file whose build-id differs from the object's.
    #[arg(long)]
    pub no_build_id_check: bool,
}
