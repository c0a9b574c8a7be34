//! `probeaddr`: the command-line shell over the probeaddr library. Flags,
//! output and exit codes live here; everything else is in the library.
//!
//! Exit status: 0 on success (and on a closed pipe), 2 on any error — a
//! probe point that matches nothing included. Every failing probe point of a
//! batch is reported, not just the first.

mod args;
mod cost_cmd;
mod kernel_cmd;
mod list_cmd;
mod output;
mod trace_cmd;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = match cli.command {
        args::Command::Resolve(a) => output::resolve(&a, &mut out),
        args::Command::Dups(a) => kernel_cmd::dups(&a, &mut out),
        args::Command::KallsymsCost(a) => cost_cmd::cost(&a, &mut out),
        args::Command::KallsymsExport(a) => cost_cmd::export(&a, &mut out),
        args::Command::Symbolize(a) => kernel_cmd::symbolize(&a, &mut out),
        args::Command::List(a) => list_cmd::list(&a, &mut out),
        args::Command::Plan(a) => trace_cmd::plan(&a, &mut out),
        args::Command::Link(a) => trace_cmd::link(&a, &mut out),
        args::Command::Trace(a) => trace_cmd::trace(&a, &mut out),
        args::Command::Cleanup(a) => trace_cmd::cleanup(&a, &mut out),
        args::Command::Lines(a) => list_cmd::lines(&a, &mut out),
    };
    let result = result.and_then(|ok| out.flush().map(|()| ok).map_err(anyhow::Error::from));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("probeaddr: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
