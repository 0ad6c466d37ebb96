//! `tspctl completions SHELL`: the completion script clap_complete writes from
//! the one definition of the commands in cli.rs.

use std::io::{ErrorKind, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::exit::Stop;

/// Prints the script for `shell` on stdout.
pub(crate) fn print(shell: Shell) -> Result<(), Stop> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tspctl", &mut script);
    match std::io::stdout().write_all(&script) {
        // `tspctl completions bash | head`: the reader has what it wanted.
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            Err(Stop::failed(format!("cannot write the script: {e}")))
        }
        _ => Ok(()),
    }
}
