//! `tsp-driver-host`: the process a driver named in `isolate = [...]` runs in.
//! The host starts it with the plugin's manifest and talks to it over its
//! standard input and output (`tsp_plugin_sdk::isolation`); it is not meant to
//! be started by hand.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: tsp-driver-host --manifest DRIVERS/NAME.toml\n\
    (started by the tsp-rs host for each driver in `isolate`; not by hand)";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let manifest = match (args.next(), args.next(), args.next()) {
        (Some(flag), Some(path), None) if flag == "--manifest" => PathBuf::from(path),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match tsp_plugin_sdk::isolation::serve(&manifest) {
        Ok(()) => ExitCode::SUCCESS,
        // The host logs what this process writes to standard error.
        Err(error) => {
            eprintln!("tsp-driver-host: {error}");
            ExitCode::FAILURE
        }
    }
}
