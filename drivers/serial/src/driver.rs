//! The serial driver: one phone per configured port (the settings are in
//! [`crate::config`]).
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

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tsp_core::{
    HookSwitchDevice, HookSwitchDevs, HookSwitchMode, PhoneCaps, PhoneError, StringFormat,
};
use tsp_plugin_sdk::{
    Completion, DeviceInfo, Driver, DriverContext, DriverError, PhoneEvents, Session,
};

use crate::at::parse;
use crate::config::{PortConfig, Settings};
use crate::events::listen;
use crate::port::{AtPort, PortSettings};
use crate::probe::{DataArea, KEYS_AREA_SIZE, Probe, probe};
use crate::urc;

/// The permanent phone id of a port comes from its path.
pub use tsp_plugin_sdk::permanent_id;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

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
        let connection = Arc::new(Connection {
            port: Mutex::new(at),
            path: port.config.path.clone(),
            settings: port.config.port_settings(),
            timeout,
            closing: AtomicBool::new(false),
        });
        Ok(Box::new(SerialSession::start(
            connection, found, events, urc,
        )))
    }

    fn concurrent_sessions(&self) -> bool {
        false
    }
}

type Job = Box<dyn FnOnce(&AtPort) + Send>;

/// The session's connection to the device: the port now, and how to open it
/// again after it vanished.
struct Connection {
    port: Mutex<Arc<AtPort>>,
    path: PathBuf,
    settings: PortSettings,
    timeout: Duration,
    closing: AtomicBool,
}

/// How often a vanished port is tried again.
const REOPEN_EVERY: Duration = Duration::from_millis(300);

impl Connection {
    fn current(&self) -> Arc<AtPort> {
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
        *lock(&self.port) = Arc::new(port);
        Some(urc)
    }
}

struct SerialSession {
    connection: Arc<Connection>,
    probe: Probe,
    timeout: Duration,
    jobs: Mutex<Option<Sender<Job>>>,
    cancelled: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    rows: Arc<Mutex<Vec<String>>>,
    health: Arc<Health>,
}

impl SerialSession {
    fn start(
        connection: Arc<Connection>,
        probe: Probe,
        events: PhoneEvents,
        urc: urc::Receiver,
    ) -> Self {
        let timeout = connection.timeout;
        let (jobs, queue) = channel::<Job>();
        let cancelled = Arc::new(AtomicBool::new(false));
        let worker = {
            let (connection, cancelled) = (Arc::clone(&connection), Arc::clone(&cancelled));
            std::thread::Builder::new()
                .name("tsp-serial-jobs".into())
                .spawn(move || run_jobs(&connection, &queue, &cancelled))
        };
        let health = Arc::new(Health {
            misses: Default::default(),
            away: AtomicBool::new(false),
            events: events.clone(),
        });
        let listener = std::thread::Builder::new()
            .name("tsp-serial-events".into())
            .spawn({
                let (indicators, connection) = (probe.indicators.clone(), Arc::clone(&connection));
                move || watch(&connection, urc, &events, &indicators)
            });
        let rows = vec![String::new(); probe.display.len()];
        Self {
            connection,
            probe,
            timeout,
            jobs: Mutex::new(Some(jobs)),
            cancelled,
            threads: Mutex::new(worker.into_iter().chain(listener).collect()),
            rows: Arc::new(Mutex::new(rows)),
            health,
        }
    }

    /// Runs `work` on the session's worker; its result completes `done`.
    fn run(
        &self,
        done: Completion,
        work: impl FnOnce(&AtPort, &Health, Duration) -> Result<(), PhoneError> + Send + 'static,
    ) {
        let timeout = self.timeout;
        let health = Arc::clone(&self.health);
        let job: Job = Box::new(move |at| done.complete(work(at, &health, timeout)));
        // Once closed the job, and with it the completion, is dropped: that
        // completes it with OPERATIONFAILED.
        if let Some(jobs) = lock(&self.jobs).as_ref() {
            let _ = jobs.send(job);
        }
    }
}

fn run_jobs(connection: &Connection, queue: &Receiver<Job>, cancelled: &AtomicBool) {
    while let Ok(job) = queue.recv() {
        if cancelled.load(Ordering::Acquire) {
            drop(job);
            continue;
        }
        job(&connection.current());
    }
}

/// Listens to the port; when it vanishes, reports the device disconnected, tries
/// to open it again until it answers, and reports it connected.
fn watch(
    connection: &Connection,
    mut urc: urc::Receiver,
    events: &PhoneEvents,
    indicators: &[parse::Indicator],
) {
    loop {
        let vanished = listen(urc, events, indicators);
        if !vanished || connection.closing.load(Ordering::Acquire) {
            return;
        }
        events.disconnected();
        // Release the dead port's lock so the device can be opened again.
        connection.current().close();
        urc = loop {
            if connection.closing.load(Ordering::Acquire) {
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
struct Health {
    misses: std::sync::atomic::AtomicU32,
    away: AtomicBool,
    events: PhoneEvents,
}

impl Health {
    fn record<T>(&self, result: Result<T, crate::port::AtError>) -> Result<T, PhoneError> {
        match result {
            Ok(value) => {
                self.misses.store(0, Ordering::Release);
                if self.away.swap(false, Ordering::AcqRel) {
                    self.events.connected();
                }
                Ok(value)
            }
            Err(error) => {
                if matches!(error, crate::port::AtError::Timeout(_)) {
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

fn send(
    at: &AtPort,
    health: &Health,
    command: &str,
    timeout: Duration,
) -> Result<crate::at::Response, PhoneError> {
    let response = health.record(at.command(command, timeout))?;
    if response.final_code.is_ok() {
        Ok(response)
    } else {
        Err(PhoneError::OperationFailed)
    }
}

fn quoted(text: &str) -> String {
    text.chars().filter(|c| *c != '"').collect()
}

impl Session for SerialSession {
    fn set_data(&self, data_id: u32, data: &[u8], done: Completion) {
        let Some(area) = self.probe.data_areas().get(data_id as usize).copied() else {
            return done.complete(Err(PhoneError::InvalDataId));
        };
        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
        let data = &data[..end];
        match area {
            DataArea::Keys => {
                if data.len() > KEYS_AREA_SIZE as usize {
                    return done.complete(Err(PhoneError::OperationFailed));
                }
                let keys: String = data
                    .iter()
                    .map(|&b| b as char)
                    .filter(|c| c.is_ascii_graphic() && *c != '"')
                    .collect();
                self.run(done, move |at, health, timeout| {
                    send(at, health, &format!("AT+CKPD=\"{keys}\""), timeout).map(|_| ())
                });
            }
            DataArea::DisplayText => {
                let columns = self.probe.display.iter().copied().max().unwrap_or(0) as usize;
                let text: Vec<char> = data
                    .iter()
                    .map(|&b| b as char)
                    .filter(|c| !c.is_control())
                    .collect();
                if text.len() > columns * self.probe.display.len() {
                    return done.complete(Err(PhoneError::OperationFailed));
                }
                let rows: Vec<String> = text
                    .chunks(columns.max(1))
                    .map(|r| r.iter().collect())
                    .collect();
                *lock(&self.rows) = rows
                    .iter()
                    .cloned()
                    .chain(std::iter::repeat(String::new()))
                    .take(self.probe.display.len())
                    .collect();
                let charset = self.probe.charset.clone();
                let count = self.probe.display.len();
                self.run(done, move |at, health, timeout| {
                    let elements: Vec<String> = rows
                        .iter()
                        .map(String::as_str)
                        .chain(std::iter::repeat(""))
                        .take(count)
                        .map(|r| format!("\"{}\"", parse::encode_text(r, &charset)))
                        .collect();
                    send(
                        at,
                        health,
                        &format!("AT+CDIS={}", elements.join(",")),
                        timeout,
                    )
                    .map(|_| ())
                });
            }
        }
    }

    fn set_display(&self, row: u32, column: u32, text: &str, done: Completion) {
        if self.probe.display.is_empty() {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        let rows = Arc::clone(&self.rows);
        let text = quoted(text);
        let charset = self.probe.charset.clone();
        self.run(done, move |at, health, timeout| {
            let elements = {
                let mut rows = lock(&rows);
                let line = rows.get_mut(row as usize).ok_or(PhoneError::InvalParam)?;
                let mut chars: Vec<char> = line.chars().collect();
                chars.resize(chars.len().max(column as usize), ' ');
                for (i, c) in text.chars().enumerate() {
                    let at = column as usize + i;
                    if at < chars.len() {
                        chars[at] = c
                    } else {
                        chars.push(c)
                    }
                }
                *line = chars.into_iter().collect();
                rows.iter()
                    .map(|r| format!("\"{}\"", parse::encode_text(r, &charset)))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            send(at, health, &format!("AT+CDIS={elements}"), timeout).map(|_| ())
        });
    }

    fn get_display(&self) -> Result<String, PhoneError> {
        if self.probe.display.is_empty() {
            return Err(PhoneError::OperationUnavail);
        }
        let response = send(
            &self.connection.current(),
            &self.health,
            "AT+CDIS?",
            self.timeout,
        )?;
        let payload = response
            .info
            .iter()
            .find_map(|l| parse::payload(l, "+CDIS"))
            .unwrap_or("");
        Ok(parse::top_level(payload)
            .iter()
            .map(|e| parse::decode_text(e.trim().trim_matches('"'), &self.probe.charset))
            .collect::<Vec<_>>()
            .join(""))
    }

    fn set_hookswitch(&self, devices: HookSwitchDevs, mode: HookSwitchMode, done: Completion) {
        if devices != HookSwitchDevs::HANDSET {
            return done.complete(Err(PhoneError::InvalHookSwitchDev));
        }
        let command = if mode == HookSwitchMode::OnHook {
            "ATH"
        } else {
            "ATA"
        };
        self.run(done, move |at, health, timeout| {
            send(at, health, command, timeout).map(|_| ())
        });
    }

    fn get_hookswitch(&self) -> Result<HookSwitchDevs, PhoneError> {
        let response = send(
            &self.connection.current(),
            &self.health,
            "AT+CPAS",
            self.timeout,
        )?;
        let status = response
            .info
            .iter()
            .find_map(|l| parse::payload(l, "+CPAS"))
            .and_then(|s| s.parse::<u32>().ok());
        Ok(if status == Some(4) {
            HookSwitchDevs::HANDSET
        } else {
            HookSwitchDevs::empty()
        })
    }

    fn set_volume(&self, device: HookSwitchDevice, volume: u32, done: Completion) {
        let Some(range) = self
            .probe
            .volume
            .filter(|_| device == HookSwitchDevice::Handset)
        else {
            return done.complete(Err(PhoneError::OperationUnavail));
        };
        let level = parse::from_tapi(volume, range);
        self.run(done, move |at, health, timeout| {
            send(at, health, &format!("AT+CLVL={level}"), timeout).map(|_| ())
        });
    }

    fn get_volume(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        let range = self
            .probe
            .volume
            .filter(|_| device == HookSwitchDevice::Handset)
            .ok_or(PhoneError::OperationUnavail)?;
        let response = send(
            &self.connection.current(),
            &self.health,
            "AT+CLVL?",
            self.timeout,
        )?;
        let level = response
            .info
            .iter()
            .find_map(|l| parse::payload(l, "+CLVL"))
            .and_then(|s| s.parse().ok());
        level
            .map(|l| parse::to_tapi(l, range))
            .ok_or(PhoneError::OperationFailed)
    }

    fn set_gain(&self, device: HookSwitchDevice, gain: u32, done: Completion) {
        if !self.probe.mute || device != HookSwitchDevice::Handset {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        let mute = u32::from(gain == 0);
        self.run(done, move |at, health, timeout| {
            send(at, health, &format!("AT+CMUT={mute}"), timeout).map(|_| ())
        });
    }

    fn get_gain(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        if !self.probe.mute || device != HookSwitchDevice::Handset {
            return Err(PhoneError::OperationUnavail);
        }
        let response = send(
            &self.connection.current(),
            &self.health,
            "AT+CMUT?",
            self.timeout,
        )?;
        let muted = response
            .info
            .iter()
            .find_map(|l| parse::payload(l, "+CMUT"))
            == Some("1");
        Ok(if muted { 0 } else { 0xFFFF })
    }

    fn set_ring(&self, mode: u32, volume: u32, done: Completion) {
        let Some(range) = self.probe.ringer else {
            return done.complete(Err(PhoneError::OperationUnavail));
        };
        let level = parse::from_tapi(volume, range);
        self.run(done, move |at, health, timeout| {
            if mode == 0 {
                return send(at, health, "AT+CALM=1", timeout).map(|_| ());
            }
            send(at, health, "AT+CALM=0", timeout)?;
            send(at, health, &format!("AT+CRSL={level}"), timeout).map(|_| ())
        });
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    fn close(&self) {
        self.cancelled.store(true, Ordering::Release);
        lock(&self.jobs).take();
        self.connection.closing.store(true, Ordering::Release);
        self.connection.current().close();
        for thread in lock(&self.threads).drain(..) {
            let _ = thread.join();
        }
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
