//! `probeaddr`: the command-line shell over the probeaddr library:
//! `flags` (clap) → `setup` (a resolver and a linker) → `cmd/<command>` →
//! `print`. Flags, output and exit codes live here; everything else is in
//! the library.
//!
//! Exit status: 0 on success (and on a closed pipe), 2 on any error — a
//! probe point that matches nothing included. Every failing probe point of a
//! batch is reported, not just the first.

mod cmd;
mod flags;
mod print;
mod progress;
mod setup;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flags::Cli::parse();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = match cli.command {
        flags::Command::Resolve(a) => cmd::resolve::resolve(&a, &mut out),
        flags::Command::Plan(a) => cmd::resolve::plan(&a, &mut out),
        flags::Command::Link(a) => cmd::trace::link(&a, &mut out),
        flags::Command::Trace(a) => {
            // The traced command's status is probeaddr's.
            let r = cmd::trace::trace(&a, &mut out);
            let r = r.and_then(|x| out.flush().map(|()| x).map_err(anyhow::Error::from));
            return match r {
                Ok(cmd::trace::Exit::Ok) => ExitCode::SUCCESS,
                Ok(cmd::trace::Exit::Failed) => ExitCode::from(2),
                Ok(cmd::trace::Exit::Code(c)) => ExitCode::from(c),
                Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("probeaddr: error: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        flags::Command::Cleanup(a) => cmd::trace::cleanup(&a, &mut out),
        flags::Command::Dups(a) => cmd::kernel::dups(&a, &mut out),
        flags::Command::Symbolize(a) => cmd::kernel::symbolize(&a, &mut out),
        flags::Command::Debuginfo(a) => cmd::debuginfo::debuginfo(&a, &mut out),
        flags::Command::List(a) => cmd::list::list(&a, &mut out),
        flags::Command::Lines(a) => cmd::list::lines(&a, &mut out),
        flags::Command::Vars(a) => cmd::resolve::vars(&a, &mut out),
        flags::Command::KallsymsCost(a) => cmd::study::cost(&a, &mut out),
        flags::Command::KallsymsExport(a) => cmd::study::export(&a, &mut out),
        flags::Command::Completions(a) => cmd::docs::completions(&a, &mut out),
        flags::Command::Man(a) => cmd::docs::man(&a, &mut out),
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
