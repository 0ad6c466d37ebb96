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
    let given = manifest.ok_or(
        "conformance needs a plugin, its library or its manifest, e.g. \
         target/debug/drivers/mock.toml",
    )?;
    let manifest = manifest_of(Path::new(given))?;
    let settings = match config {
        Some(file) => {
            std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?
        }
        None => String::new(),
    };
    let report = conformance::run(&manifest, &settings);
    println!("{report}");
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The manifest of the plugin at `path`: `path` itself when it is a manifest
/// (`.toml`), else the manifest beside it whose `library` is that file (the
/// library is what a vendor holds).
pub(crate) fn manifest_of(path: &Path) -> Result<std::path::PathBuf, String> {
    if path.extension().is_some_and(|e| e == "toml") {
        return Ok(path.to_owned());
    }
    if !path.is_file() {
        return Err(format!("{}: no such file", path.display()));
    }
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{} names no file", path.display()))?;
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let entries = std::fs::read_dir(folder)
        .map_err(|e| format!("cannot read the folder of {}: {e}", path.display()))?;
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .find(|p| tsp_plugin_sdk::manifest::Manifest::read(p).is_ok_and(|m| m.library == file))
        .ok_or_else(|| {
            format!(
                "no manifest beside {} names it as its library: a plugin is its library and \
                 NAME.toml in one folder (cargo xtask stage or dist lays them out)",
                path.display()
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_leads_to_the_manifest_beside_it() {
        let folder = tempfile::tempdir().expect("a folder");
        let manifest = folder.path().join("mock.toml");
        std::fs::write(
            &manifest,
            "name = \"mock\"\nversion = \"0.1.0\"\nsdk_version = \"0.1.0\"\n\
             library = \"libtsp_driver_mock.so\"\n",
        )
        .expect("writes");
        let library = folder.path().join("libtsp_driver_mock.so");
        std::fs::write(&library, b"a library").expect("writes");
        assert_eq!(manifest_of(&library), Ok(manifest.clone()));
        assert_eq!(manifest_of(&manifest), Ok(manifest));
        let stray = folder.path().join("libother.so");
        assert!(manifest_of(&stray).is_err_and(|e| e.contains("no such file")));
        std::fs::write(&stray, b"another").expect("writes");
        let error = manifest_of(&stray).expect_err("no manifest names it");
        assert!(error.contains("libother.so"), "{error}");
    }
}
