//! What the serial driver's tests share: the host's testkit (TAPI's callbacks,
//! plugin staging), with the serial plugin and one port.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};

use tsp_host::Provider;
pub use tsp_host::testkit::{completion_proc, event_proc, events, wait_for};

/// The result request `id` completed with, if it has.
pub fn completion(id: u32) -> Option<i32> {
    tsp_host::testkit::completion_of(id)
}

/// Stages the serial plugin into `<build>/<name>/drivers/` and returns
/// `<build>/<name>` (a folder laid out like the dist) and the manifest.
pub fn staged(name: &str) -> (PathBuf, PathBuf) {
    tsp_host::testkit::stage(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.toml"),
        name,
    )
}

/// A host with the serial driver loaded as a plugin from `folder`, configured
/// with one port: `port` is the TOML of its table.
pub fn provider(folder: PathBuf, port: &str) -> Provider {
    tsp_host::testkit::provider(folder, "serial", &format!("[[ports]]\n{port}"))
}
