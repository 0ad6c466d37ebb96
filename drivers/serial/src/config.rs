//! The serial driver's settings: its table in `tsp-rs.toml`, one entry per port.
//!
//! ```toml
//! [settings.serial]
//! [[settings.serial.ports]]
//! path = "/dev/ttyUSB0"      # COM3 on Windows
//! name = "Desk phone"        # optional
//! baud = 115200              # optional
//! data_bits = 8              # 5-8, optional
//! parity = "none"            # none, odd, even
//! stop_bits = 1              # 1 or 2
//! flow_control = "hardware"  # hardware, software, none
//! timeout_ms = 2000          # per command, optional
//! init = "AT&F"              # an extra init command, optional
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::port::PortSettings;

/// One configured port.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// The device path (`/dev/ttyUSB0`, `COM3`).
    pub path: PathBuf,
    /// The phone's name; the path when not given.
    pub name: Option<String>,
    /// Bits per second.
    pub baud: Option<u32>,
    /// Data bits: 5, 6, 7 or 8 (8 by default).
    pub data_bits: Option<u8>,
    /// `none` (default), `odd` or `even`.
    pub parity: Option<String>,
    /// 1 (default) or 2.
    pub stop_bits: Option<u8>,
    /// `hardware` (default), `software` or `none`.
    pub flow_control: Option<String>,
    /// Milliseconds a command may take.
    pub timeout_ms: Option<u64>,
    /// An extra command sent after probing.
    pub init: Option<String>,
}

impl PortConfig {
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(2000))
    }

    pub(crate) fn settings(&self) -> PortSettings {
        // Checked at start: what is here parses.
        self.parsed_settings().unwrap_or_default()
    }

    /// The port settings, or what is wrong with them.
    pub fn parsed_settings(&self) -> Result<PortSettings, String> {
        use serialport::{DataBits, FlowControl, Parity, StopBits};
        let defaults = PortSettings::default();
        let data_bits = match self.data_bits {
            None | Some(8) => DataBits::Eight,
            Some(7) => DataBits::Seven,
            Some(6) => DataBits::Six,
            Some(5) => DataBits::Five,
            Some(other) => return Err(format!("data_bits = {other}: use 5, 6, 7 or 8")),
        };
        let parity = match self.parity.as_deref() {
            None | Some("none") => Parity::None,
            Some("odd") => Parity::Odd,
            Some("even") => Parity::Even,
            Some(other) => return Err(format!("parity = \"{other}\": use none, odd or even")),
        };
        let stop_bits = match self.stop_bits {
            None | Some(1) => StopBits::One,
            Some(2) => StopBits::Two,
            Some(other) => return Err(format!("stop_bits = {other}: use 1 or 2")),
        };
        let flow_control = match self.flow_control.as_deref() {
            None => defaults.flow_control,
            Some("hardware") => FlowControl::Hardware,
            Some("software") => FlowControl::Software,
            Some("none") => FlowControl::None,
            Some(other) => {
                return Err(format!(
                    "flow_control = \"{other}\": use hardware, software or none"
                ));
            }
        };
        Ok(PortSettings {
            baud: self.baud.unwrap_or(defaults.baud),
            data_bits,
            parity,
            stop_bits,
            flow_control,
        })
    }

    pub(crate) fn key(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    #[serde(default)]
    pub(crate) ports: Vec<PortConfig>,
}

/// Checks the driver's settings (its `[settings.serial]` table, as TOML text)
/// as `start` reads them, without opening anything: for tools and for the
/// tests that keep the documented examples true.
///
/// # Errors
/// What is wrong, in the words `start` would refuse them with.
pub fn check_settings(text: &str) -> Result<(), String> {
    let settings: Settings = tsp_plugin_sdk::settings::parse(text).map_err(|e| e.to_string())?;
    for port in &settings.ports {
        port.parsed_settings()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(extra: &str) -> PortConfig {
        toml::from_str(&format!("path = \"/dev/ttyS0\"\n{extra}")).expect("parses")
    }

    #[test]
    fn port_settings_are_checked_and_say_what_to_use() {
        let settings =
            port("baud = 9600\nparity = \"even\"\nstop_bits = 2\nflow_control = \"none\"")
                .parsed_settings()
                .expect("valid");
        assert_eq!(settings.baud, 9600);
        assert_eq!(settings.parity, serialport::Parity::Even);
        assert_eq!(settings.flow_control, serialport::FlowControl::None);
        assert_eq!(port("").parsed_settings(), Ok(PortSettings::default()));
        let bad = port("parity = \"mark\"")
            .parsed_settings()
            .expect_err("not supported");
        assert!(bad.contains("none, odd or even"), "{bad}");
        assert!(port("data_bits = 9").parsed_settings().is_err());
        assert!(port("stop_bits = 3").parsed_settings().is_err());
    }
}
