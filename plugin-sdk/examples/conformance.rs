//! The conformance kit as a program: `conformance MANIFEST [SETTINGS]` loads the
//! plugin `MANIFEST` describes, runs every check with the driver settings in the
//! file `SETTINGS` (TOML, the driver's own table; none without), prints each
//! check, and ends with `N passed, M failed`. The driver's warnings and errors
//! (its log, through the host link) go to stderr, one line each. It exits 0
//! when every check passed, 1 when one failed, 2 on bad arguments.
//!
//! `cargo xtask test` cross-builds it for Windows and runs it under wine on the
//! Windows build of a driver (the USB HID driver, with its HID class transport,
//! beside simulated handsets); on Linux, `cargo xtask conformance` runs the same
//! kit in process.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let Some(manifest) = args.first() else {
        eprintln!("usage: conformance MANIFEST [SETTINGS]");
        return ExitCode::from(2);
    };
    let settings = match args.get(1).map(std::fs::read_to_string) {
        None => String::new(),
        Some(Ok(text)) => text,
        Some(Err(error)) => {
            eprintln!("cannot read the settings file: {error}");
            return ExitCode::from(2);
        }
    };
    let report = tsp_plugin_sdk::conformance::run(Path::new(manifest), &settings);
    println!("{report}");
    println!("{} passed, {} failed", report.passed(), report.failed());
    if report.failed() == 0 && report.passed() > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
