//! Docs that cannot drift (issue 15): every TOML example in the repository's
//! Markdown, doc comments and `*.toml.example` files parses as the host's
//! configuration (or as the plugin manifest or `plugin.toml` it shows), and the serial driver's tables with its parser (the mock's
//! and the USB HID driver's are checked by their own crates' `docs` tests: one
//! binary cannot link several drivers). The README's Rust version is the
//! workspace's `rust-version`.

use std::path::{Path, PathBuf};

use tsp_plugin_sdk::examples::{Example, in_tree};
use tsp_plugin_sdk::manifest::{Manifest, PluginSpec};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Checks one example as the host reads it (with a `drivers` list made up
/// from its settings tables when it has none: examples often show one
/// driver's table), and the serial driver's table with its parser.
fn check(example: &Example) -> Result<(), String> {
    let table: toml::Table = toml::from_str(&example.text).map_err(|e| format!("not TOML: {e}"))?;
    // A plugin manifest (NAME.toml) or a driver's plugin.toml, not a configuration.
    if table.contains_key("library") {
        return toml::from_str::<Manifest>(&example.text)
            .map(|_| ())
            .map_err(|e| format!("not a plugin manifest: {e}"));
    }
    if table.contains_key("crate") {
        return toml::from_str::<PluginSpec>(&example.text)
            .map(|_| ())
            .map_err(|e| format!("not a plugin.toml: {e}"));
    }
    let settings = table.get("settings").and_then(|s| s.as_table());
    let mut full = example.text.clone();
    if !table.contains_key("drivers") {
        let names: Vec<String> = settings
            .map(|s| s.keys().map(|k| format!("{k:?}")).collect())
            .unwrap_or_default();
        full = format!("drivers = [{}]\n{full}", names.join(", "));
    }
    tsp_host::Config::parse(&full, Path::new(&example.origin)).map_err(|e| e.to_string())?;
    if let Some(serial) = example.settings_of("serial") {
        tsp_driver_serial::check_settings(&serial)
            .map_err(|e| format!("[settings.serial]: {e}"))?;
    }
    Ok(())
}

#[test]
fn every_toml_example_is_a_configuration_the_host_reads() {
    let examples = in_tree(&workspace());
    assert!(examples.len() >= 6, "the examples are found: {examples:?}");
    let broken: Vec<String> = examples
        .iter()
        .filter_map(|e| check(e).err().map(|why| format!("{}: {why}", e.origin)))
        .collect();
    assert!(
        broken.is_empty(),
        "examples that do not parse:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_readme_names_the_workspace_s_rust_version() {
    let text = std::fs::read_to_string(workspace().join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml::Table = toml::from_str(&text).expect("TOML");
    let version = manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .expect("a rust-version")
        .to_owned();
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README");
    assert!(
        readme.contains(&format!("Rust {version} or later")),
        "README.md must say `Rust {version} or later` (the workspace's rust-version)"
    );
}
