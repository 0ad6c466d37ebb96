//! What the serial driver's tests share: the build folder, the staged plugin, a
//! host configured for one port, the TAPI callbacks recording what arrives, and
//! waiting with a bound.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tsp_core::PhoneMessage;
use tsp_host::sdk::manifest::PluginSpec;
use tsp_host::{CompletionProc, Config, ConfigSource, EventProc, HostSetup, Provider};

static COMPLETIONS: Mutex<Vec<(u32, i32)>> = Mutex::new(Vec::new());
static EVENTS: Mutex<Vec<(u32, [usize; 3])>> = Mutex::new(Vec::new());

unsafe extern "system" fn on_completion(id: u32, result: i32) {
    COMPLETIONS.lock().expect("completions").push((id, result));
}

unsafe extern "system" fn on_event(
    _: *mut std::ffi::c_void,
    msg: u32,
    p1: usize,
    p2: usize,
    p3: usize,
) {
    EVENTS.lock().expect("events").push((msg, [p1, p2, p3]));
}

/// The completion callback to give `TSPI_providerInit`: it records every result.
pub fn completion_proc() -> CompletionProc {
    CompletionProc::new(Some(on_completion)).expect("a function pointer")
}

/// The event callback to give `TSPI_phoneOpen`: it records every message.
pub fn event_proc() -> EventProc {
    EventProc::new(Some(on_event)).expect("a function pointer")
}

/// The result request `id` completed with, if it has.
pub fn completion(id: u32) -> Option<i32> {
    COMPLETIONS
        .lock()
        .expect("completions")
        .iter()
        .find(|c| c.0 == id)
        .map(|c| c.1)
}

/// The parameters of every `msg` event so far, oldest first.
pub fn events(msg: PhoneMessage) -> Vec<[usize; 3]> {
    EVENTS
        .lock()
        .expect("events")
        .iter()
        .filter(|e| e.0 == msg.code())
        .map(|e| e.1)
        .collect()
}

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
