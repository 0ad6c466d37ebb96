//! The host's tests play TAPISRV with the testkit; their plugins are the mock's.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub use tsp_host::testkit::*;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A folder laid out like the dist: `drivers/` with the mock plugin staged by the
/// same code xtask uses.
pub fn plugin_folder(name: &str) -> PathBuf {
    stage(&workspace().join("drivers/mock/plugin.toml"), name).0
}
