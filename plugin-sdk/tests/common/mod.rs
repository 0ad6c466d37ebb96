//! What the plugin tests share: finding and staging built plugins, building the
//! fixtures, and a host that records what drivers report.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tsp_plugin_sdk::core::PhoneError;
use tsp_plugin_sdk::host::{HostLink, Plugin};
use tsp_plugin_sdk::manifest::PluginSpec;
use tsp_plugin_sdk::{DriverEvent, PhoneEvent};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/<profile>`: this test binary lives in its `deps/`.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

/// Stages a plugin built in `from` (the same code `cargo xtask` uses) into
/// `target/<profile>/test-drivers/` and returns its manifest.
pub fn stage(spec: &Path, from: &Path) -> PathBuf {
    let spec = PluginSpec::read(spec).expect("plugin.toml reads");
    spec.stage_from(from, &build_dir().join("test-drivers"))
        .unwrap_or_else(|e| panic!("{e}\n(build the plugins first: `cargo build --workspace --all-targets`, which `cargo xtask test` does)"))
}

pub fn mock_manifest() -> PathBuf {
    stage(&workspace().join("drivers/mock/plugin.toml"), &build_dir())
}

pub fn minimal_manifest() -> PathBuf {
    stage(
        &workspace().join("plugin-sdk/examples/minimal.plugin.toml"),
        &build_dir().join("examples"),
    )
}

/// Builds fixture `name` on its own (own workspace, own target folder, the
/// workspace's lock file) and stages it into its own folder.
pub fn fixture_manifest(name: &str) -> PathBuf {
    static BUILD: OnceLock<Mutex<()>> = OnceLock::new();
    let _one_at_a_time = BUILD
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = workspace().join("plugin-sdk/tests/fixtures").join(name);
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock"))
        .expect("copy the lock file");
    let target = workspace().join("target/fixtures");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // An ordinary plugin: the sanitizer flags of `cargo xtask sanitize` are
    // for the test binaries (without `--target` they would reach proc-macros).
    let status = Command::new(cargo)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args(["build", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building fixture {name} failed");
    let spec = PluginSpec::read(&dir.join("plugin.toml")).expect("plugin.toml reads");
    spec.stage_from(
        &target.join("debug"),
        &build_dir().join("test-fixtures").join(name),
    )
    .expect("the fixture stages")
}

pub fn load(manifest: &Path) -> Plugin {
    Plugin::load(manifest).unwrap_or_else(|e| panic!("{}", e.chain()))
}

/// A host that records completions and events.
#[derive(Default)]
pub struct Recorder {
    state: Mutex<Recorded>,
    changed: Condvar,
}

#[derive(Default)]
pub struct Recorded {
    pub completions: HashMap<u64, Vec<Result<(), PhoneError>>>,
    pub phone_events: Vec<(u64, PhoneEvent)>,
    pub driver_events: Vec<(String, DriverEvent)>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    pub fn with<T>(&self, f: impl FnOnce(&Recorded) -> T) -> T {
        f(&self.state.lock().expect("recorder"))
    }

    /// The results request `token` completed with, waiting up to 5 s for one.
    pub fn wait_completion(&self, token: u64) -> Vec<Result<(), PhoneError>> {
        self.wait_until(|r| r.completions.contains_key(&token));
        self.with(|r| r.completions.get(&token).cloned().unwrap_or_default())
    }

    /// Waits up to 5 s for `done`; returns whether it held.
    pub fn wait_until(&self, done: impl Fn(&Recorded) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut state = self.state.lock().expect("recorder");
        while !done(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.changed.wait_timeout(state, left).expect("recorder").0;
        }
        true
    }

    fn record(&self, f: impl FnOnce(&mut Recorded)) {
        f(&mut self.state.lock().expect("recorder"));
        self.changed.notify_all();
    }
}

impl HostLink for Recorder {
    fn complete(&self, token: u64, result: Result<(), PhoneError>) {
        self.record(|r| r.completions.entry(token).or_default().push(result));
    }

    fn phone_event(&self, session: u64, event: PhoneEvent) {
        self.record(|r| r.phone_events.push((session, event)));
    }

    fn driver_event(&self, driver: &str, event: DriverEvent) {
        let driver = driver.to_owned();
        self.record(|r| r.driver_events.push((driver, event)));
    }
}
