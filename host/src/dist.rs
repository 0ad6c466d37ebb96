//! The dist layout that tools outside the project rely on:
//!
//! ```text
//! <out>/libtsp_host.so          the TSP library (tsp-rs.tsp on Windows: a DLL)
//! <out>/tsp-driver-host         the process isolated drivers run in (.exe on Windows)
//! <out>/tsp-rs.toml.example     a sample configuration, not active
//! <out>/drivers/NAME.toml       each driver's manifest
//! <out>/drivers/<library>       each driver's library
//! ```
//!
//! `cargo xtask dist` lays it out for release builds; tests lay out the same for
//! debug builds with this same code.

use std::path::{Path, PathBuf};

use tsp_plugin_sdk::manifest::{Platform, PluginSpec};

/// The sample configuration shipped beside the library.
pub const CONFIG_EXAMPLE: &str = include_str!("../tsp-rs.toml.example");

/// Lays out the TSP library and `drivers` built in `build_dir` (`target/release`)
/// into `out`. Returns the library's path in `out`.
pub fn lay_out(build_dir: &Path, out: &Path, drivers: &[PluginSpec]) -> Result<PathBuf, String> {
    lay_out_on(build_dir, out, drivers, Platform::HOST)
}

/// The file name of the TSP library on `platform`: on Windows the `.tsp`
/// extension TAPI providers carry (a DLL by another name).
pub fn tsp_file_name(platform: Platform) -> String {
    if platform == Platform::WINDOWS {
        "tsp-rs.tsp".to_owned()
    } else {
        platform.library_file_name("tsp-host")
    }
}

/// [`lay_out`] for libraries built for `platform` (Windows, cross-built).
pub fn lay_out_on(
    build_dir: &Path,
    out: &Path,
    drivers: &[PluginSpec],
    platform: Platform,
) -> Result<PathBuf, String> {
    let built = build_dir.join(platform.library_file_name("tsp-host"));
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let target = out.join(tsp_file_name(platform));
    // Never rewritten in place: another run may have it loaded.
    tsp_plugin_sdk::manifest::install_library(&built, &target).map_err(|e| {
        format!(
            "cannot copy {} (build tsp-host first): {e}",
            built.display()
        )
    })?;
    let program = format!(
        "{}{}",
        tsp_plugin_sdk::isolation::PROGRAM,
        platform.exe_suffix()
    );
    tsp_plugin_sdk::manifest::install_library(&build_dir.join(&program), &out.join(&program))
        .map_err(|e| {
            format!(
                "cannot copy {} (build tsp-host first): {e}",
                build_dir.join(&program).display()
            )
        })?;
    std::fs::write(out.join("tsp-rs.toml.example"), CONFIG_EXAMPLE)
        .map_err(|e| format!("cannot write the sample configuration: {e}"))?;
    for spec in drivers {
        spec.stage_from_on(build_dir, &out.join("drivers"), platform)
            .map_err(|e| e.to_string())?;
    }
    Ok(target)
}
