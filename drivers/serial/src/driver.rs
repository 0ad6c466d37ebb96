//! The serial driver: one phone per configured port (the settings are in
//! [`crate::config`]); open probes the port and starts a session
//! ([`crate::session`]) over a connection that reopens a vanished port
//! ([`crate::connection`]), whose unsolicited codes become events
//! ([`crate::events`]).
//!
//! The TSPI mapping: the SetData areas are those the device has, in this order:
//! keypad emulation (64 bytes: the bytes, up to a NUL, sent as a `+CKPD` key
//! string, characters outside the key set dropped), then the display's text
//! (rows × columns bytes, up to a NUL, filling the rows in turn, through `+CDIS`).
//! SetDisplay/GetDisplay go through `+CDIS` (one element per row); PHONE_BUTTON
//! comes from `+CKEV` (down and up; keys `0`–`9`, `*`, `#` are ids 0–11);
//! SetVolume is `+CLVL` scaled from the device's range to 0–0xFFFF; SetGain is
//! mute (`+CMUT`: 0 mutes); SetRing is `+CALM`/`+CRSL`; SetHookSwitch is `ATA`
//! (off hook) and `ATH` (on hook); GetHookSwitch asks `+CPAS`. A port that goes
//! away is reported disconnected.
//!
//! What the device sends costs bounded memory: a command answered with more than
//! the engine keeps fails with OPERATIONFAILED (see [`crate::at`]), and the
//! unsolicited codes wait for the listener in a queue of [`urc::CAPACITY`] that
//! drops the oldest when full (see [`crate::urc`]). The queue of asynchronous
//! requests is not the device's to fill: the driver takes one request at a time
//! (`concurrent_sessions` is false), so the host holds the others.

use std::sync::{Arc, Mutex, MutexGuard};

use tsp_core::{PhoneCaps, PhoneError, StringFormat};
use tsp_plugin_sdk::{DeviceInfo, Driver, DriverContext, DriverError, PhoneEvents, Session};

use crate::config::{PortConfig, Settings};
use crate::connection::Connection;
use crate::port::AtPort;
use crate::probe::{Probe, probe};
use crate::session::SerialSession;
use crate::urc;

/// The permanent phone id of a port comes from its path.
pub use tsp_plugin_sdk::permanent_id;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A configured port, and what probing it found (nothing while it has not
/// answered).
struct Port {
    config: PortConfig,
    probe: Mutex<Option<Probe>>,
}

impl Port {
    fn name(&self) -> String {
        self.config
            .name
            .clone()
            .unwrap_or_else(|| self.config.key())
    }

    fn caps(&self) -> PhoneCaps {
        let id = permanent_id(&self.config.key());
        match lock(&self.probe).as_ref() {
            Some(probe) => probe.caps(&self.name(), id),
            None => PhoneCaps {
                name: self.name(),
                provider_info: format!("tsp-rs serial AT driver {}", env!("CARGO_PKG_VERSION")),
                permanent_id: id,
                string_format: Some(StringFormat::Unicode),
                ..PhoneCaps::default()
            },
        }
    }

    /// Probes the device if that was not done yet (a busy or absent port stays
    /// unprobed: its caps claim nothing).
    fn probe_once(&self) {
        if lock(&self.probe).is_some() {
            return;
        }
        let (tx, _rx) = urc::channel(urc::CAPACITY);
        match AtPort::open(&self.config.path, &self.config.port_settings(), tx) {
            Ok(port) => match probe(&port, self.config.timeout()) {
                Ok(found) => *lock(&self.probe) = Some(found),
                Err(error) => tracing::warn!(port = %self.config.key(), "probing failed: {error}"),
            },
            Err(error) => tracing::info!(port = %self.config.key(), "not probed now: {error}"),
        }
    }
}

/// The serial driver.
pub struct SerialDriver {
    ports: Vec<Port>,
}

impl std::fmt::Debug for SerialDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialDriver")
            .field("ports", &self.ports.len())
            .finish()
    }
}

impl Driver for SerialDriver {
    const NAME: &'static str = "serial";

    fn start(context: DriverContext) -> Result<Self, DriverError> {
        let settings = Settings::parse(&context.settings).map_err(|e| {
            DriverError::new(PhoneError::IniFileCorrupt, format!("serial settings: {e}"))
        })?;
        let ports = settings
            .ports
            .into_iter()
            .map(|config| Port {
                config,
                probe: Mutex::default(),
            })
            .collect();
        Ok(Self { ports })
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, DriverError> {
        Ok(self
            .ports
            .iter()
            .map(|port| {
                port.probe_once();
                DeviceInfo {
                    key: port.config.key(),
                    caps: port.caps(),
                }
            })
            .collect())
    }

    fn open(&self, key: &str, events: PhoneEvents) -> Result<Box<dyn Session>, DriverError> {
        let port = self
            .ports
            .iter()
            .find(|p| p.config.key() == key)
            .ok_or_else(|| {
                DriverError::new(PhoneError::NoDriver, format!("no configured port `{key}`"))
            })?;
        let (urc_tx, urc) = urc::channel(urc::CAPACITY);
        let at = Arc::new(AtPort::open(
            &port.config.path,
            &port.config.port_settings(),
            urc_tx,
        )?);
        let timeout = port.config.timeout();
        let found = probe(&at, timeout)
            .map_err(|e| DriverError::new(PhoneError::OperationFailed, format!("{key}: {e}")))?;
        if let Some(init) = &port.config.init {
            let _ = at.command(init, timeout);
        }
        if let Some(command) = found.cmec_command() {
            // Let the TE drive the keypad and display as well as the phone itself.
            let _ = at.command(&command, timeout);
        }
        if let Some(command) = found.cmer_command() {
            let _ = at.command(&command, timeout);
        }
        *lock(&port.probe) = Some(found.clone());
        let connection = Arc::new(Connection::new(
            at,
            port.config.path.clone(),
            port.config.port_settings(),
            timeout,
        ));
        Ok(Box::new(SerialSession::start(
            connection, found, events, urc,
        )))
    }

    fn concurrent_sessions(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_ids_come_from_the_path() {
        assert_eq!(permanent_id("/dev/ttyUSB0"), permanent_id("/dev/ttyUSB0"));
        assert_ne!(permanent_id("/dev/ttyUSB0"), permanent_id("/dev/ttyUSB1"));
    }
}
