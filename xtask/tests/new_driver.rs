//! `cargo xtask new-driver` makes a crate that builds and passes conformance as
//! generated. Generated into a temporary folder with a path dependency on the SDK,
//! the workspace's Cargo.lock and the workspace's target folder, so nothing is
//! rebuilt from scratch and the workspace is left untouched.

use std::path::{Path, PathBuf};
use std::process::Command;

use tsp_plugin_sdk::conformance;
use tsp_plugin_sdk::manifest::PluginSpec;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `cargo xtask new-driver acme-desk --path DIR`.
fn new_driver(dir: &Path) -> std::process::Output {
    cargo()
        .args([
            "run",
            "--quiet",
            "-p",
            "xtask",
            "--",
            "new-driver",
            "acme-desk",
            "--path",
        ])
        .arg(dir)
        .current_dir(workspace())
        .output()
        .expect("cargo runs")
}

#[test]
fn a_generated_driver_builds_and_passes_conformance() {
    let dir = std::env::temp_dir().join(format!("tsp-new-driver-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let crate_dir = dir.join("acme-desk");

    let created = new_driver(&crate_dir);
    assert!(
        created.status.success(),
        "new-driver failed: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(crate_dir.join("src/lib.rs").is_file());

    std::fs::copy(workspace().join("Cargo.lock"), crate_dir.join("Cargo.lock")).expect("lock file");
    let target = workspace().join("target");
    // The workspace's dev profile, so the SDK and its dependencies are reused.
    let status = cargo()
        .args(["build", "--quiet"])
        .args(["--config", "profile.dev.debug=\"line-tables-only\""])
        .args(["--config", "profile.dev.package.\"*\".debug=false"])
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the generated driver does not build");

    let spec = PluginSpec::read(&crate_dir.join("plugin.toml")).expect("plugin.toml");
    let manifest = spec
        .stage_from(&target.join("debug"), &dir.join("staged"))
        .expect("stages");
    let report = conformance::run(&manifest, "");
    assert_eq!(report.driver, "acme-desk");
    assert_eq!(report.failed(), 0, "{report}");

    let again = new_driver(&crate_dir);
    assert!(!again.status.success(), "refuses to overwrite");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let _ = std::fs::remove_dir_all(&dir);
}
