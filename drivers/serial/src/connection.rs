//! The session's connection to the device, and its going away and coming back:
//! the port now ([`Connection`]), reopened when it vanished ([`watch`]), and a
//! device that keeps timing out reported disconnected ([`Health`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tsp_core::PhoneError;
use tsp_plugin_sdk::PhoneEvents;

use crate::at::parse;
use crate::driver::lock;
use crate::events::listen;
use crate::port::{AtError, AtPort, PortSettings};
use crate::urc;

/// The session's connection to the device: the port now, and how to open it
/// again after it vanished.
pub(crate) struct Connection {
    port: Mutex<Arc<AtPort>>,
    path: PathBuf,
    settings: PortSettings,
    timeout: Duration,
    closing: AtomicBool,
}

/// How often a vanished port is tried again.
const REOPEN_EVERY: Duration = Duration::from_millis(300);

impl Connection {
    /// The connection of a port opened (and probed) as `at`, to be opened again
    /// from `path` with `settings`; `timeout` per command.
    pub(crate) fn new(
        at: Arc<AtPort>,
        path: PathBuf,
        settings: PortSettings,
        timeout: Duration,
    ) -> Self {
        Self {
            port: Mutex::new(at),
            path,
            settings,
            timeout,
            closing: AtomicBool::new(false),
        }
    }

    /// How long a command may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The port now.
    pub(crate) fn current(&self) -> Arc<AtPort> {
        Arc::clone(&lock(&self.port))
    }

    /// Opens the port again; it counts as back once it answers `AT`. Returns the
    /// new port's unsolicited codes.
    fn reopen(&self) -> Option<urc::Receiver> {
        let (urc_tx, urc) = urc::channel(urc::CAPACITY);
        let port = AtPort::open(&self.path, &self.settings, urc_tx).ok()?;
        let answered = port.command("AT", self.timeout).ok()?;
        if !answered.final_code.is_ok() {
            return None;
        }
        let _ = port.command("ATE0", self.timeout);
        // Under the port's lock, which close takes after marking the session
        // closing: either close finds this port and closes it, or this sees
        // the mark and does (else the listener would wait on a port nobody closes).
        let mut current = lock(&self.port);
        if self.is_closing() {
            port.close();
            return None;
        }
        *current = Arc::new(port);
        Some(urc)
    }

    /// Whether the session is closing (a vanished port is then not reopened).
    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Stops reopening and closes the port now.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.current().close();
    }
}

/// Listens to the port; when it vanishes, reports the device disconnected, tries
/// to open it again until it answers, and reports it connected.
pub(crate) fn watch(
    connection: &Connection,
    mut urc: urc::Receiver,
    events: &PhoneEvents,
    indicators: &[parse::Indicator],
) {
    loop {
        let vanished = listen(urc, events, indicators);
        if !vanished || connection.is_closing() {
            return;
        }
        events.disconnected();
        // Release the dead port's lock so the device can be opened again.
        connection.current().close();
        urc = loop {
            if connection.is_closing() {
                return;
            }
            std::thread::sleep(REOPEN_EVERY);
            if let Some(urc) = connection.reopen() {
                break urc;
            }
        };
        tracing::info!(port = %connection.path.display(), "the port is back");
        events.connected();
    }
}

/// How many commands in a row may time out before the device counts as gone.
const MISSES_BEFORE_DISCONNECTED: u32 = 3;

/// Watches the device's answers: a device that keeps timing out is reported
/// disconnected, and connected again when it answers.
pub(crate) struct Health {
    misses: AtomicU32,
    away: AtomicBool,
    events: PhoneEvents,
}

impl Health {
    /// Healthy: no command missed yet.
    pub(crate) fn new(events: PhoneEvents) -> Self {
        Self {
            misses: AtomicU32::new(0),
            away: AtomicBool::new(false),
            events,
        }
    }

    /// Counts `result` of a command: the device's answer, or a timeout.
    pub(crate) fn record<T>(&self, result: Result<T, AtError>) -> Result<T, PhoneError> {
        match result {
            Ok(value) => {
                self.misses.store(0, Ordering::Release);
                if self.away.swap(false, Ordering::AcqRel) {
                    self.events.connected();
                }
                Ok(value)
            }
            Err(error) => {
                if matches!(error, AtError::Timeout(_)) {
                    let misses = self.misses.fetch_add(1, Ordering::AcqRel) + 1;
                    if misses >= MISSES_BEFORE_DISCONNECTED
                        && !self.away.swap(true, Ordering::AcqRel)
                    {
                        tracing::warn!(misses, "the device keeps timing out: disconnected");
                        self.events.disconnected();
                    }
                }
                Err(error.into())
            }
        }
    }
}
