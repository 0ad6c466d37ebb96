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

/// Data bits per character: 5, 6, 7 or 8 in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u8")]
pub enum DataBits {
    /// 5.
    Five,
    /// 6.
    Six,
    /// 7.
    Seven,
    /// 8, the default.
    Eight,
}

impl TryFrom<u8> for DataBits {
    type Error = String;

    fn try_from(bits: u8) -> Result<Self, String> {
        match bits {
            5 => Ok(Self::Five),
            6 => Ok(Self::Six),
            7 => Ok(Self::Seven),
            8 => Ok(Self::Eight),
            other => Err(format!("data_bits = {other}: use 5, 6, 7 or 8")),
        }
    }
}

impl From<DataBits> for serialport::DataBits {
    fn from(bits: DataBits) -> Self {
        match bits {
            DataBits::Five => Self::Five,
            DataBits::Six => Self::Six,
            DataBits::Seven => Self::Seven,
            DataBits::Eight => Self::Eight,
        }
    }
}

/// Parity: `none`, `odd` or `even` in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// No parity bit, the default.
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
}

impl From<Parity> for serialport::Parity {
    fn from(parity: Parity) -> Self {
        match parity {
            Parity::None => Self::None,
            Parity::Odd => Self::Odd,
            Parity::Even => Self::Even,
        }
    }
}

/// Stop bits: 1 or 2 in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u8")]
pub enum StopBits {
    /// 1, the default.
    One,
    /// 2.
    Two,
}

impl TryFrom<u8> for StopBits {
    type Error = String;

    fn try_from(bits: u8) -> Result<Self, String> {
        match bits {
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            other => Err(format!("stop_bits = {other}: use 1 or 2")),
        }
    }
}

impl From<StopBits> for serialport::StopBits {
    fn from(bits: StopBits) -> Self {
        match bits {
            StopBits::One => Self::One,
            StopBits::Two => Self::Two,
        }
    }
}

/// Flow control: `hardware`, `software` or `none` in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    /// RTS/CTS, the default (most modems want it).
    Hardware,
    /// XON/XOFF.
    Software,
    /// None.
    None,
}

impl From<FlowControl> for serialport::FlowControl {
    fn from(flow: FlowControl) -> Self {
        match flow {
            FlowControl::Hardware => Self::Hardware,
            FlowControl::Software => Self::Software,
            FlowControl::None => Self::None,
        }
    }
}

/// One configured port. What parses is valid: serde refuses a value outside
/// each setting's choices, with the line and column.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// The device path (`/dev/ttyUSB0`, `COM3`).
    pub path: PathBuf,
    /// The phone's name; the path when not given.
    pub name: Option<String>,
    /// Bits per second.
    pub baud: Option<u32>,
    /// Data bits (8 by default).
    pub data_bits: Option<DataBits>,
    /// Parity (none by default).
    pub parity: Option<Parity>,
    /// Stop bits (1 by default).
    pub stop_bits: Option<StopBits>,
    /// Flow control (hardware by default).
    pub flow_control: Option<FlowControl>,
    /// Milliseconds a command may take.
    pub timeout_ms: Option<u64>,
    /// An extra command sent after probing.
    pub init: Option<String>,
}

impl PortConfig {
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(2000))
    }

    /// How the port is opened: what is given, [`PortSettings::default`] for
    /// the rest.
    pub fn port_settings(&self) -> PortSettings {
        let defaults = PortSettings::default();
        PortSettings {
            baud: self.baud.unwrap_or(defaults.baud),
            data_bits: self.data_bits.map_or(defaults.data_bits, Into::into),
            parity: self.parity.map_or(defaults.parity, Into::into),
            stop_bits: self.stop_bits.map_or(defaults.stop_bits, Into::into),
            flow_control: self.flow_control.map_or(defaults.flow_control, Into::into),
        }
    }

    pub(crate) fn key(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

/// The driver's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    #[serde(default)]
    pub(crate) ports: Vec<PortConfig>,
}

impl Settings {
    /// Parses the settings; the error says where and what.
    pub(crate) fn parse(text: &str) -> Result<Self, tsp_plugin_sdk::settings::SettingsError> {
        tsp_plugin_sdk::settings::parse(text)
    }
}

/// Checks the driver's settings (its `[settings.serial]` table, as TOML text)
/// as `start` reads them, without opening anything: for tools and for the
/// tests that keep the documented examples true.
///
/// # Errors
/// What is wrong, in the words `start` would refuse them with.
pub fn check_settings(text: &str) -> Result<(), String> {
    Settings::parse(text).map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(extra: &str) -> PortConfig {
        toml::from_str(&format!("path = \"/dev/ttyS0\"\n{extra}")).expect("parses")
    }

    /// What `check_settings` says of a port with `extra` settings (on line 3).
    fn refused(extra: &str) -> String {
        check_settings(&format!("[[ports]]\npath = \"/dev/ttyS0\"\n{extra}\n"))
            .expect_err("refused")
    }

    #[test]
    fn port_settings_are_checked_and_say_what_to_use() {
        let settings =
            port("baud = 9600\nparity = \"even\"\nstop_bits = 2\nflow_control = \"none\"")
                .port_settings();
        assert_eq!(settings.baud, 9600);
        assert_eq!(settings.parity, serialport::Parity::Even);
        assert_eq!(settings.flow_control, serialport::FlowControl::None);
        assert_eq!(port("").port_settings(), PortSettings::default());
        let bad = refused("parity = \"mark\"");
        assert!(bad.starts_with("line 3, column 10: "), "{bad}");
        assert!(
            bad.contains("expected one of `none`, `odd`, `even`"),
            "{bad}"
        );
        let bad = refused("flow_control = \"rts\"");
        assert!(
            bad.contains("expected one of `hardware`, `software`, `none`"),
            "{bad}"
        );
        assert!(refused("data_bits = 9").contains("use 5, 6, 7 or 8"));
        assert!(refused("stop_bits = 3").contains("use 1 or 2"));
        for wrong in [
            "parity = \"None\"",
            "parity = 1",
            "data_bits = 300",
            "stop_bits = \"1\"",
            "flow_control = \"Hardware\"",
        ] {
            assert!(refused(wrong).starts_with("line 3, column "), "{wrong}");
        }
    }

    #[test]
    fn every_documented_choice_is_accepted_and_opens_the_port_so() {
        use serialport::{DataBits as D, FlowControl as F, Parity as P, StopBits as S};
        for (bits, want) in [(5, D::Five), (6, D::Six), (7, D::Seven), (8, D::Eight)] {
            let got = port(&format!("data_bits = {bits}")).port_settings();
            assert_eq!(got.data_bits, want, "data_bits = {bits}");
        }
        for (name, want) in [("none", P::None), ("odd", P::Odd), ("even", P::Even)] {
            let got = port(&format!("parity = \"{name}\"")).port_settings();
            assert_eq!(got.parity, want, "parity = {name}");
        }
        for (bits, want) in [(1, S::One), (2, S::Two)] {
            let got = port(&format!("stop_bits = {bits}")).port_settings();
            assert_eq!(got.stop_bits, want, "stop_bits = {bits}");
        }
        for (name, want) in [
            ("hardware", F::Hardware),
            ("software", F::Software),
            ("none", F::None),
        ] {
            let got = port(&format!("flow_control = \"{name}\"")).port_settings();
            assert_eq!(got.flow_control, want, "flow_control = {name}");
        }
    }
}
