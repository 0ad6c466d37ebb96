//! `cargo xtask conformance PATH [--config FILE]`.

use std::path::Path;
use std::process::ExitCode;

use tsp_plugin_sdk::conformance::{self, Report};

pub(crate) fn command(args: &[String]) -> Result<ExitCode, String> {
    let mut manifest = None;
    let mut config = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = Some(args.next().ok_or("--config needs a file")?),
            other if other.starts_with('-') => return Err(format!("unknown option `{other}`")),
            other if manifest.is_none() => manifest = Some(other),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    let manifest = manifest
        .ok_or("conformance needs a plugin manifest, e.g. target/debug/drivers/mock.toml")?;
    let settings = match config {
        Some(file) => {
            std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?
        }
        None => String::new(),
    };
    let report = conformance::run(Path::new(manifest), &settings);
    println!("{report}");
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The per-driver table `cargo xtask test` prints.
pub(crate) fn table(reports: &[Report]) -> String {
    let mut out = format!(
        "{:<12} {:>6} {:>6} {:>6}\n",
        "driver", "checks", "passed", "failed"
    );
    for report in reports {
        out += &format!(
            "{:<12} {:>6} {:>6} {:>6}\n",
            report.driver,
            report.checks.len(),
            report.passed(),
            report.failed()
        );
    }
    out
}
