//! The seam between the device code and the bus: [`Transport`] and
//! [`TransportError`], which [`crate::device`] and [`crate::p1k`] are written
//! against. Implementations: libusb (`crate::usb`), [`SimulatedHandset`] here (a
//! HID handset for tests, the conformance step and anyone without the hardware),
//! and the P1K's firmware stand-in ([`crate::p1k::SimulatedP1k`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Why a transfer failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TransportError {
    /// The device was unplugged (`LIBUSB_ERROR_NO_DEVICE`).
    #[error("the device is gone (unplugged or reset)")]
    Gone,
    /// A transfer failed; the cause is the system's (libusb's, the HID
    /// class driver's) own error, kept for the log.
    #[error("the USB transfer failed")]
    Io(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
    /// The device did not answer as its protocol says.
    #[error("the device did not answer as its protocol says: {0}")]
    NoAnswer(String),
    /// The device has no reports of this kind.
    #[error("the device has no {0} reports")]
    Unsupported(&'static str),
}

/// Two errors are equal when they say the same: a system error is compared
/// by its words (tests compare results; a cause has no equality of its own).
impl PartialEq for TransportError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Gone, Self::Gone) => true,
            (Self::Io(a), Self::Io(b)) => a.to_string() == b.to_string(),
            (Self::NoAnswer(a), Self::NoAnswer(b)) => a == b,
            (Self::Unsupported(a), Self::Unsupported(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for TransportError {}

/// An error and its causes on one line (`the USB transfer failed: Pipe
/// error`): what a log line needs, since `Display` shows only the first.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// `report` as the operating system's HID class takes it (hidraw's write
/// and feature ioctls, Windows' class driver): the report id first, 0 for a
/// device whose descriptor declares no ids.
#[cfg_attr(
    not(any(
        all(target_os = "linux", feature = "hidraw"),
        all(windows, feature = "winhid")
    )),
    allow(dead_code)
)]
pub(crate) fn numbered(report: &[u8], uses_report_ids: bool) -> Vec<u8> {
    if uses_report_ids {
        return report.to_vec();
    }
    let mut numbered = Vec::with_capacity(report.len() + 1);
    numbered.push(0);
    numbered.extend_from_slice(report);
    numbered
}

/// Reports to and from one HID interface. Reads and writes may run on different
/// threads at once, as libusb allows on different endpoints.
pub trait Transport: Send + Sync {
    /// Waits up to `timeout` for the next input report (`[id][payload]` when the
    /// descriptor declares ids). `Ok(None)` when none came.
    ///
    /// # Errors
    /// [`TransportError::Gone`] once the device is unplugged; `Io` otherwise.
    fn read_input(&self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError>;

    /// Sends a whole output report (interrupt OUT or SET_REPORT).
    ///
    /// # Errors
    /// [`TransportError::Gone`] once the device is unplugged; `Io` otherwise.
    fn write_output(&self, report: &[u8]) -> Result<(), TransportError>;

    /// Sends a whole feature report (SET_REPORT Feature).
    ///
    /// # Errors
    /// [`TransportError::Gone`] once the device is unplugged; `Io` otherwise.
    fn write_feature(&self, report: &[u8]) -> Result<(), TransportError>;

    /// Reads feature report `id`: `len` payload bytes after the id byte when ids
    /// are declared (GET_REPORT Feature). Returns what the device sent.
    ///
    /// # Errors
    /// [`TransportError::Gone`] once the device is unplugged; `Io` otherwise.
    fn read_feature(&self, id: u8, len: usize) -> Result<Vec<u8>, TransportError>;
}

#[derive(Debug, Default)]
struct SimState {
    inputs: VecDeque<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
    features: std::collections::HashMap<u8, Vec<u8>>,
    gone: bool,
}

/// A handset that replays input reports and records output reports, for tests
/// and for anyone without the hardware. Clones share one device.
#[derive(Clone, Debug, Default)]
pub struct SimulatedHandset {
    state: Arc<(Mutex<SimState>, Condvar)>,
}

impl SimulatedHandset {
    /// A connected handset with nothing to say yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, SimState> {
        self.state.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state, or [`TransportError::Gone`] once unplugged.
    fn plugged(&self) -> Result<MutexGuard<'_, SimState>, TransportError> {
        let state = self.state();
        if state.gone {
            return Err(TransportError::Gone);
        }
        Ok(state)
    }

    /// The user does something: the device will send `report`.
    pub fn send(&self, report: &[u8]) {
        self.state().inputs.push_back(report.to_vec());
        self.state.1.notify_all();
    }

    /// Every output report written so far, oldest first.
    pub fn outputs(&self) -> Vec<Vec<u8>> {
        self.state().outputs.clone()
    }

    /// Unplugs it: every transfer fails with [`TransportError::Gone`] until
    /// [`SimulatedHandset::replug`].
    pub fn unplug(&self) {
        self.state().gone = true;
        self.state.1.notify_all();
    }

    /// Plugs it back in, with nothing queued to send.
    pub fn replug(&self) {
        let mut state = self.state();
        state.gone = false;
        state.inputs.clear();
    }

    /// Whether it is plugged in.
    pub fn is_plugged(&self) -> bool {
        !self.state().gone
    }
}

impl Transport for SimulatedHandset {
    fn read_input(&self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        let guard = self.state();
        let (mut state, _) = self
            .state
            .1
            .wait_timeout_while(guard, timeout, |s| s.inputs.is_empty() && !s.gone)
            .unwrap_or_else(|e| e.into_inner());
        if state.gone {
            return Err(TransportError::Gone);
        }
        Ok(state.inputs.pop_front())
    }

    fn write_output(&self, report: &[u8]) -> Result<(), TransportError> {
        let mut state = self.plugged()?;
        state.outputs.push(report.to_vec());
        Ok(())
    }

    /// Keeps the report as the device's feature `report[0]` (the simulated
    /// device is given ids-declaring descriptors).
    fn write_feature(&self, report: &[u8]) -> Result<(), TransportError> {
        let mut state = self.plugged()?;
        let id = report.first().copied().unwrap_or(0);
        state.features.insert(id, report.to_vec());
        Ok(())
    }

    fn read_feature(&self, id: u8, len: usize) -> Result<Vec<u8>, TransportError> {
        let state = self.plugged()?;
        let mut zeros = vec![0; len + 1];
        zeros[0] = id;
        Ok(state.features.get(&id).cloned().unwrap_or(zeros))
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn a_transfer_error_keeps_its_cause_and_the_log_line_shows_it() {
        let cause = std::io::Error::other("Pipe error");
        let error = TransportError::Io(std::sync::Arc::new(cause));
        assert_eq!(error.to_string(), "the USB transfer failed");
        assert_eq!(
            std::error::Error::source(&error).map(ToString::to_string),
            Some("Pipe error".to_owned())
        );
        assert_eq!(chain(&error), "the USB transfer failed: Pipe error");
    }
}
