//! Laying out built plugins the way the host finds them: `drivers/` with each
//! driver's library and manifest.

use std::path::{Path, PathBuf};

use tsp_plugin_sdk::manifest::PluginSpec;

/// The workspace root (xtask lives in `xtask/`).
pub(crate) fn workspace() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    path.canonicalize().unwrap_or(path)
}

/// Where cargo builds: `CARGO_TARGET_DIR` when set (relative to the current
/// folder, as cargo reads it), else the workspace's `target/`.
pub(crate) fn target_dir() -> PathBuf {
    target_dir_from(std::env::var_os("CARGO_TARGET_DIR"), &workspace())
}

fn target_dir_from(variable: Option<std::ffi::OsString>, workspace: &Path) -> PathBuf {
    match variable.filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir().map_or(dir.clone(), |cwd| cwd.join(&dir))
            }
        }
        None => workspace.join("target"),
    }
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
    let build = target_dir().join(profile);
    let folder = build.join("drivers");
    driver_specs()?
        .into_iter()
        .map(|(_, spec)| spec.stage_from(&build, &folder).map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_target_dir_is_honoured() {
        let workspace = Path::new("/w");
        assert_eq!(target_dir_from(None, workspace), PathBuf::from("/w/target"));
        assert_eq!(
            target_dir_from(Some("/elsewhere".into()), workspace),
            PathBuf::from("/elsewhere")
        );
        assert_eq!(
            target_dir_from(Some("".into()), workspace),
            PathBuf::from("/w/target")
        );
        let relative = target_dir_from(Some("out".into()), workspace);
        assert!(
            relative.is_absolute() && relative.ends_with("out"),
            "{relative:?}"
        );
    }
}
