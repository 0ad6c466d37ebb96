//! What the serial driver's tests share: the build folder, the staged plugin, a
//! host configured for one port, and waiting with a bound.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tsp_host::sdk::manifest::PluginSpec;
use tsp_host::{Config, ConfigSource, HostSetup, Provider};

/// `target/<profile>`: the test binary lives in its `deps/`.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_owned()
}

/// Stages the serial plugin into `<build>/<name>/drivers/` and returns
/// `<build>/<name>` (a folder laid out like the dist) and the manifest.
pub fn staged(name: &str) -> (PathBuf, PathBuf) {
    let folder = build_dir().join(name);
    let spec = PluginSpec::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.toml"))
        .expect("plugin.toml");
    let manifest = spec
        .stage_from(&build_dir(), &folder.join("drivers"))
        .unwrap_or_else(|e| panic!("{e} (cargo build --workspace builds the plugin)"));
    (folder, manifest)
}

/// A host with the serial driver loaded as a plugin from `folder`, configured
/// with one port: `port` is the TOML of its table.
pub fn provider(folder: PathBuf, port: &str) -> Provider {
    let mut config = Config {
        drivers: vec!["serial".into()],
        ..Config::default()
    };
    config.settings.insert(
        "serial".into(),
        format!("[[ports]]\n{port}").parse().expect("toml"),
    );
    Provider::new(HostSetup {
        plugin_folder: Some(folder),
        statics: Vec::new(),
        config: ConfigSource::Given(config),
    })
}

/// Waits up to 5 s for `done`.
pub fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
