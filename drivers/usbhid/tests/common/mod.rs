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
