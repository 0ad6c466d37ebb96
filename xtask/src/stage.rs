//! Laying out built plugins the way the host finds them: `drivers/` with each
//! driver's library and manifest.

use std::path::{Path, PathBuf};

use tsp_plugin_sdk::manifest::PluginSpec;

/// The workspace root (xtask lives in `xtask/`).
pub(crate) fn workspace() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    path.canonicalize().unwrap_or(path)
}

/// Every driver of the workspace: the `plugin.toml` of each `drivers/*`.
pub(crate) fn driver_specs() -> Result<Vec<(PathBuf, PluginSpec)>, String> {
    let folder = workspace().join("drivers");
    let entries =
        std::fs::read_dir(&folder).map_err(|e| format!("cannot list {}: {e}", folder.display()))?;
    let mut specs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join("plugin.toml");
        if path.is_file() {
            let spec = PluginSpec::read(&path).map_err(|e| e.to_string())?;
            specs.push((path, spec));
        }
    }
    specs.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    Ok(specs)
}

/// Stages every workspace driver built in `target/<profile>` into
/// `target/<profile>/drivers/`; returns the manifests.
pub(crate) fn stage_drivers(profile: &str) -> Result<Vec<PathBuf>, String> {
    let build = workspace().join("target").join(profile);
    let folder = build.join("drivers");
    driver_specs()?
        .into_iter()
        .map(|(_, spec)| spec.stage_from(&build, &folder).map_err(|e| e.to_string()))
        .collect()
}
