//! What the USB HID tests share: the real fixtures, decoded.
#![allow(dead_code)]

use tsp_driver_usbhid::descriptor;
use tsp_driver_usbhid::handset::Layout;
use tsp_driver_usbhid::inspect;

/// The bytes of `tests/data/<name>` (hex text in the repository).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    inspect::decode_file(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The telephony layout of descriptor fixture `name`.
pub fn layout(name: &str) -> Layout {
    let parsed = descriptor::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    Layout::of(&parsed)
}

/// `target/<profile>`: the test binary lives in its `deps/`.
pub fn build_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps")
        .to_owned()
}

/// Stages the usbhid plugin into `<build>/<name>/drivers/`; returns `<build>/<name>`
/// and the manifest.
pub fn staged(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    use tsp_host::sdk::manifest::PluginSpec;
    let folder = build_dir().join(name);
    let spec =
        PluginSpec::read(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.toml"))
            .expect("plugin.toml");
    let manifest = spec
        .stage_from(&build_dir(), &folder.join("drivers"))
        .unwrap_or_else(|e| panic!("{e} (cargo build --workspace builds the plugin)"));
    (folder, manifest)
}

/// The path of fixture `name`, for a simulated handset's `descriptor` setting.
pub fn fixture_path(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Settings with USB off and one simulated handset per `(fixture, serial)`.
pub fn simulated_settings(handsets: &[(&str, &str)]) -> String {
    let mut settings = String::from("usb = false\nscan_ms = 50\n");
    for (fixture, serial) in handsets {
        settings += &format!(
            "[[simulated]]\ndescriptor = \"{}\"\nserial = \"{serial}\"\n",
            fixture_path(fixture)
        );
    }
    settings
}

type Event = (usize, u32, [usize; 3]);
static COMPLETIONS: std::sync::Mutex<Vec<(u32, i32)>> = std::sync::Mutex::new(Vec::new());
static EVENTS: std::sync::Mutex<Vec<Event>> = std::sync::Mutex::new(Vec::new());

unsafe extern "system" fn on_completion(id: u32, result: i32) {
    COMPLETIONS.lock().expect("completions").push((id, result));
}

unsafe extern "system" fn on_event(
    ht_phone: *mut std::ffi::c_void,
    msg: u32,
    p1: usize,
    p2: usize,
    p3: usize,
) {
    EVENTS
        .lock()
        .expect("events")
        .push((ht_phone as usize, msg, [p1, p2, p3]));
}

/// The completion callback for `TSPI_providerInit`: it records every result.
pub fn completion_proc() -> tsp_host::CompletionProc {
    tsp_host::CompletionProc::new(Some(on_completion)).expect("a function pointer")
}

/// The event callback for `TSPI_phoneOpen`: it records every message with the
/// phone's `htPhone`, so tests running at once tell their phones apart.
pub fn event_proc() -> tsp_host::EventProc {
    tsp_host::EventProc::new(Some(on_event)).expect("a function pointer")
}

/// The result request `id` completed with, if it has.
pub fn completion(id: u32) -> Option<i32> {
    let completions = COMPLETIONS.lock().expect("completions");
    completions.iter().find(|c| c.0 == id).map(|c| c.1)
}

/// The parameters of every `msg` sent to the phone opened as `ht_phone`.
pub fn events(ht_phone: usize, msg: tsp_core::PhoneMessage) -> Vec<[usize; 3]> {
    let events = EVENTS.lock().expect("events");
    events
        .iter()
        .filter(|e| e.0 == ht_phone && e.1 == msg.code())
        .map(|e| e.2)
        .collect()
}

/// A host with the usbhid plugin from `folder` and `settings` as its table.
pub fn provider(folder: std::path::PathBuf, settings: &str) -> tsp_host::Provider {
    let mut config = tsp_host::Config {
        drivers: vec!["usbhid".into()],
        ..tsp_host::Config::default()
    };
    config
        .settings
        .insert("usbhid".into(), settings.parse().expect("toml"));
    tsp_host::Provider::new(tsp_host::HostSetup {
        plugin_folder: Some(folder),
        statics: Vec::new(),
        config: tsp_host::ConfigSource::Given(config),
    })
}

/// Waits up to 5 s for `done`.
pub fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
