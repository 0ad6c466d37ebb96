//! The driver's settings: its `[settings.usbhid]` table (the crate docs show it)
//! and the check tools run on it.

use std::path::PathBuf;

use serde::Deserialize;
use tsp_core::PhoneError;
use tsp_plugin_sdk::DriverError;

/// One simulated handset of the settings: a HID handset with `descriptor`, or a
/// Yealink P1K with `model = "yealink-p1k"`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SimulatedConfig {
    /// Its report descriptor: a binary file, or hex text as in `report_descriptor`
    /// dumps (what `tspctl usbhid inspect` reads).
    pub descriptor: Option<PathBuf>,
    /// A model that has no descriptor to read: `yealink-p1k`.
    pub model: Option<String>,
    /// The phone's name.
    pub name: Option<String>,
    /// Its identity, as a USB serial number would be.
    pub serial: Option<String>,
}

fn default_usb() -> bool {
    true
}

fn default_scan_ms() -> u64 {
    1000
}

/// The driver's `[settings.usbhid]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// Look for handsets on USB.
    #[serde(default = "default_usb")]
    pub(crate) usb: bool,
    /// How often presence is checked, in milliseconds.
    #[serde(default = "default_scan_ms")]
    pub(crate) scan_ms: u64,
    /// The simulated handsets.
    #[serde(default)]
    pub(crate) simulated: Vec<SimulatedConfig>,
    /// Devices reached through libusb although the system's HID class has
    /// them (Linux: a hidraw node), each a `VID:PID` in hex or a device's key
    /// (`1234:5678:SERIAL`). libusb detaches the kernel's driver while a phone
    /// is open: the desktop loses the device's keys meanwhile.
    #[serde(default)]
    #[cfg_attr(not(all(target_os = "linux", feature = "hidraw")), allow(dead_code))]
    pub(crate) libusb: Vec<String>,
}

impl Settings {
    /// Whether the device with `key` and these ids is to be reached through
    /// libusb (its entry in `libusb`).
    #[cfg_attr(not(all(target_os = "linux", feature = "hidraw")), allow(dead_code))]
    pub(crate) fn wants_libusb(
        libusb: &[String],
        key: &str,
        vendor_id: u16,
        product_id: u16,
    ) -> bool {
        let ids = format!("{vendor_id:04x}:{product_id:04x}");
        libusb
            .iter()
            .any(|entry| entry.eq_ignore_ascii_case(key) || entry.eq_ignore_ascii_case(&ids))
    }
}

/// Checks the driver's settings (its `[settings.usbhid]` table, as TOML text)
/// as `start` reads them, without touching a device (a simulated handset's
/// descriptor file is not read): for tools and for the tests that keep the
/// documented examples true.
///
/// # Errors
/// What is wrong, in the words `start` would refuse them with.
pub fn check_settings(text: &str) -> Result<(), String> {
    tsp_plugin_sdk::settings::parse::<Settings>(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A settings error as `start` refuses with it.
pub(crate) fn settings_error(message: String) -> DriverError {
    DriverError::new(
        PhoneError::IniFileCorrupt,
        format!("usbhid settings: {message}"),
    )
}
