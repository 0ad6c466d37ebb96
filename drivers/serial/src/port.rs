//! One serial port speaking AT: opened exclusively, a reader thread feeding the
//! engine, one command in flight with a timeout, unsolicited codes handed on.
//!
//! What the reader holds on the device's behalf is bounded: the engine's line
//! and information lines (see [`crate::at`]); the unsolicited codes nobody has
//! taken yet ([`crate::urc`]: at most its capacity, the oldest dropped with one
//! log line per burst; the reader never waits on it, so a device flooding
//! unsolicited codes cannot hold up command answers); and the answers channel,
//! which holds at most [`ANSWERS`] (one command is in flight at a time, and the
//! reader never waits on it either). A command whose answer was more than the
//! engine keeps fails with [`AtError::TooMuch`].

use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serialport::SerialPort;
use tsp_core::PhoneError;
use tsp_plugin_sdk::DriverError;

use crate::at::{Engine, EngineEvent, MAX_INFO_LINES, MAX_LINE, Response};
use crate::urc;

/// What the answers channel holds: one command is in flight at a time, so its
/// answer, plus room for a late answer to a command that timed out (taken out
/// before the next command is sent) or the line going away.
pub const ANSWERS: usize = 2;

/// How a port is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSettings {
    /// Bits per second.
    pub baud: u32,
    /// Data bits per character.
    pub data_bits: serialport::DataBits,
    /// Parity.
    pub parity: serialport::Parity,
    /// Stop bits.
    pub stop_bits: serialport::StopBits,
    /// Flow control.
    pub flow_control: serialport::FlowControl,
}

impl Default for PortSettings {
    /// 115200 8N1, hardware flow control as most modems want.
    fn default() -> Self {
        Self {
            baud: 115_200,
            data_bits: serialport::DataBits::Eight,
            parity: serialport::Parity::None,
            stop_bits: serialport::StopBits::One,
            flow_control: serialport::FlowControl::Hardware,
        }
    }
}

/// Why a command did not get its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtError {
    /// No final result code within the timeout.
    #[error("`{0}` got no answer in time")]
    Timeout(String),
    /// The line is gone (the device was unplugged, the other side closed).
    #[error("the port is gone: {0}")]
    Gone(String),
    /// Another command is in flight.
    #[error("{0}")]
    Busy(String),
    /// The device answered with more than the engine keeps for one command
    /// (more than [`MAX_INFO_LINES`] lines, or a line longer than [`MAX_LINE`]
    /// bytes): the answer is incomplete, so it is not used. The port stays in
    /// step; the next command gets its own answer.
    #[error(
        "`{command}` was answered with more than is kept ({dropped} lines dropped past \
         {MAX_INFO_LINES} lines or {MAX_LINE} bytes a line): the device is streaming garbage; \
         check the port's baud rate and that it is the device's AT port"
    )]
    TooMuch {
        /// The command.
        command: String,
        /// The lines not kept.
        dropped: usize,
    },
}

impl From<AtError> for PhoneError {
    fn from(error: AtError) -> Self {
        match error {
            AtError::Timeout(_) | AtError::Busy(_) | AtError::TooMuch { .. } => {
                PhoneError::OperationFailed
            }
            AtError::Gone(_) => PhoneError::InvalPhoneState,
        }
    }
}

/// Opens `path` exclusively (`TIOCEXCL` and `flock`): a port held by anyone else
/// is `ALLOCATED`, one that does not exist `NODRIVER`, one the user may not open
/// `RESOURCEUNAVAIL` with what to do.
pub fn open_exclusive(
    path: &Path,
    settings: &PortSettings,
) -> Result<Box<dyn SerialPort>, DriverError> {
    let name = path.to_string_lossy();
    serialport::new(name.as_ref(), settings.baud)
        .data_bits(settings.data_bits)
        .parity(settings.parity)
        .stop_bits(settings.stop_bits)
        .flow_control(settings.flow_control)
        .timeout(Duration::from_millis(50))
        .open()
        .map_err(|error| open_error(path, &error))
}

fn open_error(path: &Path, error: &serialport::Error) -> DriverError {
    let shown = path.display();
    match error.kind() {
        serialport::ErrorKind::NoDevice if error.description.contains("exclusive") => {
            DriverError::new(
                PhoneError::Allocated,
                format!("{shown} is held by another program"),
            )
        }
        serialport::ErrorKind::Io(std::io::ErrorKind::NotFound)
        | serialport::ErrorKind::NoDevice => {
            DriverError::new(PhoneError::NoDriver, format!("{shown} does not exist"))
        }
        serialport::ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => DriverError::new(
            PhoneError::ResourceUnavail,
            format!(
                "{shown}: permission denied; add the user to the port's group (usually `dialout`) and log in again"
            ),
        ),
        _ => DriverError::new(PhoneError::OperationFailed, format!("{shown}: {error}")),
    }
}

/// An open AT port.
pub struct AtPort {
    /// Taken out by `close`, which releases the port's lock.
    writer: Mutex<Option<Box<dyn SerialPort>>>,
    engine: Arc<Mutex<Engine>>,
    responses: Mutex<Receiver<Result<Response, AtError>>>,
    reader: Mutex<Option<JoinHandle<()>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for AtPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtPort").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl AtPort {
    /// Opens `path` and starts reading; unsolicited codes go to `unsolicited`
    /// (made with [`urc::channel`]; when the line goes away the last is [`GONE`]).
    pub fn open(
        path: &Path,
        settings: &PortSettings,
        unsolicited: urc::Sender,
    ) -> Result<Self, DriverError> {
        let port = open_exclusive(path, settings)?;
        let reader_port = port.try_clone().map_err(|e| {
            DriverError::new(
                PhoneError::OperationFailed,
                format!("{}: {e}", path.display()),
            )
        })?;
        let engine = Arc::new(Mutex::new(Engine::default()));
        let (responses_tx, responses) = sync_channel(ANSWERS);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (engine, stop) = (Arc::clone(&engine), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("tsp-serial-reader".into())
                .spawn(move || read_loop(reader_port, &engine, &responses_tx, &unsolicited, &stop))
                .map_err(|e| {
                    DriverError::new(
                        PhoneError::OperationFailed,
                        format!("cannot start a reader: {e}"),
                    )
                })?
        };
        Ok(Self {
            writer: Mutex::new(Some(port)),
            engine,
            responses: Mutex::new(responses),
            reader: Mutex::new(Some(reader)),
            stop,
        })
    }

    /// Sends `command` (e.g. `AT+CIND=?`) and waits up to `timeout` for its final.
    /// One at a time: a second caller waits for the first.
    pub fn command(&self, command: &str, timeout: Duration) -> Result<Response, AtError> {
        let responses = lock(&self.responses);
        // Answers that arrived after an earlier command timed out are not this one's.
        while responses.try_recv().is_ok() {}
        let bytes = lock(&self.engine).send(command).map_err(AtError::Busy)?;
        {
            let mut writer = lock(&self.writer);
            let Some(writer) = writer.as_mut() else {
                lock(&self.engine).abandon();
                return Err(AtError::Gone("the port is closed".into()));
            };
            if let Err(error) = writer.write_all(&bytes).and_then(|()| writer.flush()) {
                lock(&self.engine).abandon();
                return Err(AtError::Gone(error.to_string()));
            }
        }
        match responses.recv_timeout(timeout) {
            Ok(Ok(response)) if response.dropped > 0 => Err(AtError::TooMuch {
                command: response.command,
                dropped: response.dropped,
            }),
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                lock(&self.engine).abandon();
                Err(AtError::Timeout(command.to_owned()))
            }
            Err(RecvTimeoutError::Disconnected) => Err(AtError::Gone("the reader stopped".into())),
        }
    }

    /// Stops the reader and closes the port (releasing its lock).
    pub fn close(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        if let Some(reader) = lock(&self.reader).take() {
            let _ = reader.join();
        }
        lock(&self.writer).take();
    }
}

impl Drop for AtPort {
    fn drop(&mut self) {
        self.close();
    }
}

fn read_loop(
    mut port: Box<dyn SerialPort>,
    engine: &Mutex<Engine>,
    responses: &SyncSender<Result<Response, AtError>>,
    unsolicited: &urc::Sender,
    stop: &std::sync::atomic::AtomicBool,
) {
    let mut buf = [0u8; 512];
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let n = match port.read(&mut buf) {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) => {
                tracing::warn!("serial read failed: {e}");
                answer(responses, Err(AtError::Gone(e.to_string())));
                unsolicited.send(GONE.to_owned());
                return;
            }
        };
        let events = lock(engine).feed(&buf[..n]);
        for event in events {
            match event {
                EngineEvent::Response(response) => answer(responses, Ok(response)),
                EngineEvent::Unsolicited(text) => {
                    unsolicited.send(text);
                }
            }
        }
    }
}

/// Hands an answer on without waiting. The channel cannot be full while a
/// command waits (it is emptied before each command is sent); an answer nobody
/// waits for is not worth waiting for.
fn answer(responses: &SyncSender<Result<Response, AtError>>, answer: Result<Response, AtError>) {
    if let Err(TrySendError::Full(_)) = responses.try_send(answer) {
        tracing::debug!("an answer nobody waits for was dropped");
    }
}

/// What the reader sends on the unsolicited channel when the line goes away. It
/// starts with a NUL, which the framer never lets through from a device, so a
/// device cannot send it.
pub const GONE: &str = "\u{0}port gone";
