//! `probeaddr completions` and `probeaddr man`: generated from the same
//! clap definitions as `--help`, so they never drift from the flags.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::flags::{Cli, CompletionsArgs, ManArgs};

/// The completion script for `a.shell`.
pub fn completions(a: &CompletionsArgs, out: &mut dyn Write) -> anyhow::Result<bool> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "probeaddr", out);
    Ok(true)
}

/// probeaddr(1) on standard output, or every page into `a.dir`.
pub fn man(a: &ManArgs, out: &mut dyn Write) -> anyhow::Result<bool> {
    let cmd = Cli::command();
    match &a.dir {
        None => clap_mangen::Man::new(cmd).render(out)?,
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create the directory", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("{}: cannot write the man pages", dir.display()))?;
            writeln!(out, "{}", dir.display())?;
        }
    }
    Ok(true)
}
