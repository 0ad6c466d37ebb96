//! What the USB HID tests share: the real fixtures, decoded.
#![allow(dead_code, unused_imports)]

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
    Layout::of(&parsed).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Stages the usbhid plugin into `<build>/<name>/drivers/`; returns `<build>/<name>`
/// and the manifest.
pub fn staged(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    tsp_host::testkit::stage(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.toml"),
        name,
    )
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

pub use tsp_host::testkit::{completion_proc, event_proc, wait_for};

/// The result request `id` completed with, if it has.
pub fn completion(id: u32) -> Option<i32> {
    tsp_host::testkit::completion_of(id)
}

/// The parameters of every `msg` sent to the phone opened as `ht_phone`.
pub fn events(ht_phone: usize, msg: tsp_core::PhoneMessage) -> Vec<[usize; 3]> {
    tsp_host::testkit::events_of(ht_phone, msg)
}

/// A host with the usbhid plugin from `folder` and `settings` as its table.
pub fn provider(folder: std::path::PathBuf, settings: &str) -> tsp_host::Provider {
    tsp_host::testkit::provider(folder, "usbhid", settings)
}

/// What marks a test binary run by [`run_inside_umockdev`].
pub const INSIDE: &str = "TSP_RS_INSIDE_UMOCKDEV";

/// Runs the ignored test `test` of this test binary under `umockdev-run`
/// with `testbed` (its `-d`, `-i`, `-s` arguments), and asserts it passed.
pub fn run_inside_umockdev(testbed: &[String], test: &str) {
    let exe = std::env::current_exe().expect("the test binary");
    let output = std::process::Command::new("umockdev-run")
        .args(testbed)
        .arg("--")
        .arg(exe)
        .args(["--exact", test, "--ignored", "--nocapture"])
        .env(INSIDE, "1")
        .output()
        .expect("umockdev-run is installed (cargo xtask test installs the umockdev package)");
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{log}");
    assert!(log.contains("1 passed"), "{log}");
}

/// `tests/umockdev/NAME`.
pub fn umockdev_file(name: &str) -> String {
    format!("{}/tests/umockdev/{name}", env!("CARGO_MANIFEST_DIR"))
}
