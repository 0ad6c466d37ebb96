//! The host's side: a driver in a `tsp-driver-host` process, behind the ABI's
//! own trait objects ([`abi::FfiDriver`], [`abi::FfiSession`]), so that the
//! host drives it exactly as it drives a plugin loaded in its own process.
//!
//! Threads, per isolated driver: the *supervisor* reads the child's messages
//! and, when the child is gone, buries it and starts the next one (a
//! *revival* thread then lists the devices and re-opens the phones); the
//! *watchdog* pings the child (through a thread that writes the pings, so
//! it never waits on a full pipe itself) and kills it when an answer is
//! later than the heartbeat (the process stopped), says a driver call has
//! run past the hang limit (the driver hangs), or a write to it stays
//! blocked; the *dispatcher* makes the host's callbacks (completions, phone
//! events, log lines) in the order the child sent them, on a thread of its
//! own so that a callback that calls back into the driver (a close from
//! inside a completion) never waits for the thread that would read the
//! answer; the *presence* thread delivers devices away, back, arrived and
//! removed (apart, because a removal waits for the phone's completions,
//! which the dispatcher delivers); and one thread per child forwards what it
//! writes to standard error to the log.
//!
//! Exactly once: every request sent is in `outstanding` until its completion
//! is taken out of it, by the supervisor when the child completes it or when
//! the child is gone (then with `OPERATIONFAILED`). A completion for a request
//! no longer there is dropped.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RSlice, RSliceMut, RStr, RString, RVec, Tuple2};
use tsp_core::PhoneError;

use super::protocol::{self, Answer, AsyncOp, FrameWriter, FromChild, Refusal, SyncOp, ToChild};
use super::{Busy, Isolation};
use crate::abi::{
    self, DRIVER_EVENT_ARRIVED, DRIVER_EVENT_CONNECTED, DRIVER_EVENT_DISCONNECTED,
    DRIVER_EVENT_REMOVED, FfiCompletion, FfiDevice, FfiDriver_TO, FfiDriverBox, FfiDriverEvent,
    FfiError, FfiLogRecord, FfiPhoneEvent, FfiPhoneEvents, FfiResult, FfiSession_TO, FfiSessionBox,
    HostLinkBox,
};
use crate::error::DriverError;

/// Starts driver `name` in a driver host and waits until it is ready (or
/// refused: its error, `INIFILECORRUPT` for settings that do not parse).
pub(crate) fn start(
    name: &'static str,
    isolation: &Isolation,
    settings: &str,
    log_level: u8,
    link: HostLinkBox,
) -> Result<FfiDriverBox, DriverError> {
    let (deliver, deliveries) = channel();
    let (presence, presence_events) = channel();
    let inner = Arc::new(Inner {
        name,
        isolation: isolation.clone(),
        settings: settings.to_owned(),
        log_level,
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        writer: Mutex::new(Writer::default()),
        deliver: Mutex::new(Some(deliver)),
        presence: Mutex::new(Some(presence)),
        writing: Busy::default(),
    });
    let (started, reader) = inner.spawn()?;
    if inner.install(started, true).is_none() {
        return Err(DriverError::new(
            PhoneError::OperationFailed,
            "the driver was stopped while it started",
        ));
    }
    let presence_link = abi::clone_link(&link);
    let dispatcher = spawn_thread(name, "dispatch", move || dispatch(link, deliveries))?;
    let presence = spawn_thread(name, "presence", move || {
        dispatch(presence_link, presence_events)
    })?;
    let supervisor = {
        let inner = Arc::clone(&inner);
        spawn_thread(name, "supervise", move || inner.supervise(reader))?
    };
    let watchdog = {
        let inner = Arc::clone(&inner);
        spawn_thread(name, "watchdog", move || inner.watch())?
    };
    let proxy = Proxy {
        inner,
        threads: Mutex::new(vec![supervisor, watchdog, dispatcher, presence]),
    };
    Ok(FfiDriver_TO::from_value(proxy, TD_Opaque))
}

fn spawn_thread(
    driver: &str,
    role: &str,
    f: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, DriverError> {
    std::thread::Builder::new()
        .name(format!("tsp-isolate-{role}"))
        .spawn(f)
        .map_err(|e| {
            DriverError::new(
                PhoneError::ResourceUnavail,
                format!("cannot start a thread for driver {driver}'s process: {e}"),
            )
        })
}

/// What the dispatcher hands to the host, in order.
enum Delivery {
    Complete(u64, u32),
    Phone(u64, FfiPhoneEvent),
    Driver(u32, String, Vec<u8>),
    Log(u8, String, String),
}

fn dispatch(link: HostLinkBox, deliveries: Receiver<Delivery>) {
    for delivery in deliveries {
        match delivery {
            Delivery::Complete(token, result) => link.complete(token, result),
            Delivery::Phone(session, event) => link.phone_event(session, event),
            Delivery::Driver(kind, key, caps) => driver_event(&link, kind, key, caps),
            Delivery::Log(level, target, message) => link.log(FfiLogRecord {
                level,
                target: target.into(),
                message: message.into(),
            }),
        }
    }
}

fn driver_event(link: &HostLinkBox, kind: u32, key: String, caps: Vec<u8>) {
    link.driver_event(FfiDriverEvent {
        kind,
        device: FfiDevice {
            key: key.into(),
            caps: caps.into(),
        },
    });
}

/// A phone the host opened, by the host's session number.
#[derive(Debug)]
struct OpenPhone {
    key: String,
    /// Open in the current child (false from its death until it is re-opened).
    live: bool,
    /// The host's open of it has not been answered yet (not one to re-open).
    opening: bool,
}

#[derive(Default)]
struct State {
    /// Counts children: a message or request belongs to the child it was sent to.
    generation: u64,
    /// A child is running and answered its hello.
    up: bool,
    /// The host shut the driver down: no restart.
    stopping: bool,
    /// Restarts gave up.
    failed: bool,
    concurrent: bool,
    process: Option<Child>,
    next_call: u64,
    /// Synchronous calls waiting for their reply (`None` until it comes).
    calls: HashMap<u64, Option<Result<Answer, Refusal>>>,
    /// Requests sent and not completed: token → session.
    outstanding: HashMap<u64, u64>,
    sessions: HashMap<u64, OpenPhone>,
    /// The keys of the devices the driver listed or reported, with their caps.
    devices: BTreeMap<String, Vec<u8>>,
    /// The ping not answered yet: its number and when it went.
    ping: Option<(u64, Instant)>,
    /// When the last ping went (one per tick, however often the state changes).
    last_ping: Option<Instant>,
    next_ping: u64,
    /// When each child died, within the restart window.
    deaths: Vec<Instant>,
    /// A revival is matching the devices: the child's own presence events
    /// wait in `held` until it has, so the two never cross.
    reviving: bool,
    held: Vec<(u32, String, Vec<u8>)>,
}

impl State {
    /// Whether child `generation` is the one running.
    fn is_current(&self, generation: u64) -> bool {
        self.up && self.generation == generation
    }

    /// Kills the running child, if any (its end then buries it).
    fn kill_child(&mut self) {
        if let Some(process) = self.process.as_mut() {
            let _ = process.kill();
        }
    }

    /// A number for a call to the child.
    fn next_call(&mut self) -> u64 {
        self.next_call += 1;
        self.next_call
    }
}

#[derive(Default)]
struct Writer {
    generation: u64,
    pipe: Option<FrameWriter<ChildStdin>>,
}

struct Inner {
    name: &'static str,
    isolation: Isolation,
    settings: String,
    log_level: u8,
    state: Mutex<State>,
    changed: Condvar,
    writer: Mutex<Writer>,
    /// To the dispatcher; taken at shutdown so that it ends.
    deliver: Mutex<Option<Sender<Delivery>>>,
    /// To the presence thread (devices away, back, arrived, removed): apart
    /// from the dispatcher, because a removal waits for the phone's
    /// completions, which the dispatcher delivers.
    presence: Mutex<Option<Sender<Delivery>>>,
    /// The write to the child under way, if any.
    writing: Busy,
}

/// What became of a message for the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Taken,
    /// Over the frame limit: nothing was written.
    TooLarge,
    /// The child is gone; its burial answers what waits for it.
    Gone,
}

/// A child that answered its hello.
struct Started {
    process: Child,
    pipe: FrameWriter<ChildStdin>,
    concurrent: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn deliver(&self, delivery: Delivery) {
        if let Some(deliver) = &*lock(&self.deliver) {
            let _ = deliver.send(delivery);
        }
    }

    fn deliver_presence(&self, delivery: Delivery) {
        if let Some(presence) = &*lock(&self.presence) {
            let _ = presence.send(delivery);
        }
    }

    /// Starts a child and waits for its hello, reading (and delivering) what
    /// it says before it.
    fn spawn(&self) -> Result<(Started, BufReader<ChildStdout>), DriverError> {
        let program = &self.isolation.program;
        let mut command = Command::new(program);
        command
            .arg("--manifest")
            .arg(&self.isolation.manifest)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        if let Some((uid, gid)) = self.isolation.run_as {
            use std::os::unix::process::CommandExt;
            // std drops the supplementary groups too when it switches from root.
            command.uid(uid).gid(gid);
        }
        #[cfg(windows)]
        {
            use std::os::windows::process::CommandExt;
            // No console window for a process started by a service.
            const CREATE_NO_WINDOW: u32 = 0x0800_0000;
            command.creation_flags(CREATE_NO_WINDOW);
        }
        let mut process = command.spawn().map_err(|e| {
            DriverError::new(
                PhoneError::OperationFailed,
                format!(
                    "cannot start the driver host {} for driver {}: {e} (it ships beside the TSP library)",
                    program.display(),
                    self.name
                ),
            )
        })?;
        let taken = (
            process.stdin.take(),
            process.stdout.take(),
            process.stderr.take(),
        );
        let (Some(pipe), Some(output), Some(errors)) = taken else {
            let _ = process.kill();
            let _ = process.wait();
            return Err(DriverError::new(
                PhoneError::OperationFailed,
                "the driver host's pipes were not made",
            ));
        };
        let name = self.name;
        let _ = std::thread::Builder::new()
            .name("tsp-isolate-stderr".into())
            .spawn(move || forward_stderr(name, errors));
        let mut pipe = FrameWriter::new(pipe);
        let mut reader = BufReader::new(output);
        let hello = pipe.send(&ToChild::Hello {
            version: protocol::VERSION,
            settings: self.settings.clone(),
            log_level: self.log_level,
        });
        let (mut process, ready) = match hello {
            Ok(()) => self.await_ready(process, &mut reader),
            Err(e) => (
                process,
                Err(Ready::Failed(format!(
                    "the driver host did not take its hello: {e}"
                ))),
            ),
        };
        match ready {
            Ok(concurrent) => Ok((
                Started {
                    process,
                    pipe,
                    concurrent,
                },
                reader,
            )),
            Err(refusal) => {
                let _ = process.kill();
                let status = process.wait().ok();
                let (code, message) = match refusal {
                    Ready::Refused(code, message) => (code, message),
                    Ready::Failed(message) => (PhoneError::OperationFailed, message),
                };
                let exit = status.map(|s| format!(" ({s})")).unwrap_or_default();
                Err(DriverError::new(code, format!("{message}{exit}")))
            }
        }
    }

    /// Waits for the child's hello. The start may take long (a driver
    /// probing its devices): it is bounded by `start_timeout`, past which the
    /// child is killed (its pipe then ends, which ends the wait), as it is
    /// when the driver is shut down meanwhile.
    fn await_ready(
        &self,
        process: Child,
        reader: &mut BufReader<ChildStdout>,
    ) -> (Child, Result<bool, Ready>) {
        let deadline = Instant::now() + self.isolation.start_timeout;
        // The child, and whether the wait is over.
        let waiting = (Mutex::new((process, false)), Condvar::new());
        let result = std::thread::scope(|scope| {
            let timer = std::thread::Builder::new()
                .name("tsp-isolate-start".into())
                .spawn_scoped(scope, || self.kill_unless_ready(&waiting, deadline));
            if timer.is_err() {
                tracing::warn!(
                    driver = self.name,
                    "no timer for the driver's start: it is not bounded"
                );
            }
            let result = self.read_until_ready(reader);
            lock(&waiting.0).1 = true;
            waiting.1.notify_all();
            result
        });
        let (process, _) = waiting.0.into_inner().unwrap_or_else(|e| e.into_inner());
        (process, result)
    }

    /// Kills the starting child at `deadline` or when the driver is being
    /// shut down, unless its hello came first.
    fn kill_unless_ready(&self, waiting: &(Mutex<(Child, bool)>, Condvar), deadline: Instant) {
        let (child, woken) = waiting;
        let mut guard = lock(child);
        while !guard.1 {
            let now = Instant::now();
            if now >= deadline || self.state().stopping {
                tracing::error!(
                    driver = self.name,
                    "the driver's process did not start in time (or the driver stopped): killed"
                );
                let _ = guard.0.kill();
                return;
            }
            let slice = (deadline - now).min(Duration::from_millis(100));
            guard = woken
                .wait_timeout(guard, slice)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn read_until_ready(&self, reader: &mut BufReader<ChildStdout>) -> Result<bool, Ready> {
        let mut buf = Vec::new();
        loop {
            match protocol::receive::<FromChild>(reader, &mut buf) {
                Ok(Some(FromChild::Ready {
                    version: protocol::VERSION,
                    concurrent,
                    ..
                })) => return Ok(concurrent),
                Ok(Some(FromChild::Ready { version, .. })) => {
                    return Err(Ready::Failed(format!(
                        "the driver host speaks protocol {version}, this host {}: install tsp-driver-host from the same release as the TSP library",
                        protocol::VERSION
                    )));
                }
                Ok(Some(FromChild::Refused { code, message })) => {
                    let code = PhoneError::from_code(code).unwrap_or(PhoneError::OperationFailed);
                    return Err(Ready::Refused(code, message));
                }
                Ok(Some(other)) => self.take(other),
                Ok(None) => {
                    return Err(Ready::Failed(
                        "the driver host ended before the driver started".into(),
                    ));
                }
                Err(error) => {
                    return Err(Ready::Failed(format!(
                        "the driver host's answer does not read: {error}"
                    )));
                }
            }
        }
    }

    /// Makes `started` the current child; its generation. `None` when the
    /// driver is stopping: the child is killed (checked under the lock
    /// shutdown sets `stopping` under, so no child comes up after it).
    fn install(&self, started: Started, first: bool) -> Option<u64> {
        let mut state = self.state();
        if state.stopping {
            let mut process = started.process;
            let _ = process.kill();
            let _ = process.wait();
            return None;
        }
        state.generation += 1;
        state.up = true;
        state.concurrent = started.concurrent;
        state.process = Some(started.process);
        state.ping = None;
        let generation = state.generation;
        *lock(&self.writer) = Writer {
            generation,
            pipe: Some(started.pipe),
        };
        if !first {
            tracing::info!(driver = self.name, "the driver's process was restarted");
        }
        state.reviving = !first;
        Some(generation)
    }

    /// Sends `message` to child `generation` (not to a later one).
    fn send(&self, generation: u64, message: &ToChild) -> Sent {
        let mut writer = lock(&self.writer);
        if writer.generation != generation {
            return Sent::Gone;
        }
        let Some(pipe) = writer.pipe.as_mut() else {
            return Sent::Gone;
        };
        // A write blocks while the child does not read (a hung driver with
        // its pipe full): the watchdog sees how long, and kills it.
        self.writing.begin();
        let sent = pipe.send(message);
        self.writing.end();
        match sent {
            Ok(()) => Sent::Taken,
            Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => {
                tracing::warn!(driver = self.name, "{error}: refused");
                Sent::TooLarge
            }
            Err(error) => {
                // The child is gone or going: the supervisor sees it end.
                tracing::debug!(
                    driver = self.name,
                    "the driver's process did not take a message: {error}"
                );
                writer.pipe = None;
                Sent::Gone
            }
        }
    }

    /// Closes the child's input (it then stops its driver and exits), unless
    /// a write to it stays blocked for `patience`: whether it did.
    fn close_input_within(&self, patience: Duration) -> bool {
        let until = Instant::now() + patience;
        loop {
            if self.blocked_for().is_none()
                && let Ok(mut writer) = self.writer.try_lock()
            {
                writer.pipe = None;
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// How long a write to the child has been blocked, if one is.
    fn blocked_for(&self) -> Option<Duration> {
        self.writing.running_for()
    }

    /// A message from the child, outside replies to the start.
    fn take(&self, message: FromChild) {
        match message {
            FromChild::Reply { call, result } => {
                let mut state = self.state();
                if let Some(slot) = state.calls.get_mut(&call) {
                    *slot = Some(result);
                    self.changed.notify_all();
                }
            }
            FromChild::Complete { token, result } => {
                if self.state().outstanding.remove(&token).is_some() {
                    self.deliver(Delivery::Complete(token, result));
                } else {
                    tracing::debug!(
                        driver = self.name,
                        token,
                        "completion of a request no longer outstanding dropped"
                    );
                }
            }
            FromChild::PhoneEvent {
                session,
                kind,
                params,
            } => {
                if self.state().sessions.contains_key(&session) {
                    self.deliver(Delivery::Phone(session, FfiPhoneEvent { kind, params }));
                }
            }
            FromChild::DriverEvent { kind, key, caps } => self.driver_event(kind, key, caps),
            FromChild::Log {
                level,
                target,
                message,
            } => self.deliver(Delivery::Log(level, target, message)),
            FromChild::Pong { seq, busy_ms } => {
                let mut state = self.state();
                if state.ping.is_some_and(|(sent, _)| sent == seq) {
                    state.ping = None;
                }
                let hang = self.isolation.hang;
                if Duration::from_millis(busy_ms) > hang {
                    tracing::error!(
                        driver = self.name,
                        busy_ms,
                        hang_ms = hang.as_millis() as u64,
                        "a driver call has not returned past the hang limit: the driver's process is killed"
                    );
                    state.kill_child();
                }
            }
            FromChild::Ready { .. } | FromChild::Refused { .. } => {
                tracing::warn!(
                    driver = self.name,
                    "the driver's process repeated its start: ignored"
                );
            }
        }
    }

    /// A presence event, kept in the device list and delivered under the
    /// state lock (so it never crosses a revival's or a burial's). A device
    /// the host knows already that "arrives" (a restarted driver finding it
    /// again) is back. Held while a revival matches the devices.
    fn driver_event(&self, kind: u32, key: String, caps: Vec<u8>) {
        let mut state = self.state();
        if state.reviving {
            state.held.push((kind, key, caps));
            return;
        }
        self.note_driver_event(&mut state, kind, key, caps);
    }

    fn note_driver_event(&self, state: &mut State, kind: u32, key: String, caps: Vec<u8>) {
        let kind = match kind {
            DRIVER_EVENT_ARRIVED if state.devices.contains_key(&key) => {
                state.devices.insert(key.clone(), caps.clone());
                DRIVER_EVENT_CONNECTED
            }
            DRIVER_EVENT_ARRIVED => {
                state.devices.insert(key.clone(), caps.clone());
                kind
            }
            DRIVER_EVENT_REMOVED => {
                state.devices.remove(&key);
                kind
            }
            other => other,
        };
        self.deliver_presence(Delivery::Driver(kind, key, caps));
    }

    /// Reads each child's messages; when one is gone, buries it and starts
    /// the next.
    fn supervise(self: Arc<Self>, mut reader: BufReader<ChildStdout>) {
        loop {
            let why = self.read_until_gone(&mut reader);
            let buried = self.bury(&why);
            if !buried {
                return;
            }
            match self.restart() {
                Some(next) => reader = next,
                None => return,
            }
        }
    }

    fn read_until_gone(&self, reader: &mut BufReader<ChildStdout>) -> String {
        let mut buf = Vec::new();
        loop {
            match protocol::receive::<FromChild>(reader, &mut buf) {
                Ok(Some(message)) => self.take(message),
                Ok(None) => return "its pipe closed".into(),
                Err(error) => return format!("its message does not read ({error})"),
            }
        }
    }

    /// The child is gone: every request it had completes with
    /// OPERATIONFAILED, every call waiting for it fails, every device is
    /// DISCONNECTED. False when the driver is stopping (no restart).
    fn bury(&self, why: &str) -> bool {
        let (process, outstanding, devices, stopping) = {
            let mut state = self.state();
            state.up = false;
            state.ping = None;
            for slot in state.calls.values_mut().filter(|s| s.is_none()) {
                *slot = Some(Err((
                    PhoneError::OperationFailed.code(),
                    format!("driver {}'s process ended", self.name),
                )));
            }
            for phone in state.sessions.values_mut() {
                phone.live = false;
            }
            state.reviving = false;
            state.held.clear();
            self.changed.notify_all();
            let outstanding: Vec<u64> = state.outstanding.drain().map(|(token, _)| token).collect();
            let devices: Vec<String> = state.devices.keys().cloned().collect();
            (state.process.take(), outstanding, devices, state.stopping)
        };
        // Killed before the writer is touched: a write blocked on a full pipe
        // holds it, and only the child's end lets it go.
        let status = process.map(|mut child| {
            let _ = child.kill();
            child.wait()
        });
        lock(&self.writer).pipe = None;
        if stopping {
            tracing::debug!(driver = self.name, "the driver's process ended");
            return false;
        }
        let status = match status {
            Some(Ok(status)) => status.to_string(),
            Some(Err(error)) => format!("its status does not read: {error}"),
            None => "no process".into(),
        };
        tracing::error!(
            driver = self.name,
            requests = outstanding.len(),
            "the driver's process is gone ({why}; {status}): its phones are disconnected and it is restarted"
        );
        for token in outstanding {
            self.deliver(Delivery::Complete(
                token,
                PhoneError::OperationFailed.code(),
            ));
        }
        for key in devices {
            self.deliver_presence(Delivery::Driver(DRIVER_EVENT_DISCONNECTED, key, Vec::new()));
        }
        true
    }

    /// Starts the next child after a backoff; `None` when the driver is
    /// stopping or restarts gave up (too many deaths in the window).
    fn restart(self: &Arc<Self>) -> Option<BufReader<ChildStdout>> {
        loop {
            let delay = self.next_delay()?;
            if self.sleep_unless_stopping(delay) {
                return None;
            }
            match self.spawn() {
                Ok((started, reader)) => {
                    let generation = self.install(started, false)?;
                    let inner = Arc::clone(self);
                    let revived = std::thread::Builder::new()
                        .name("tsp-isolate-revive".into())
                        .spawn(move || inner.revive(generation));
                    if revived.is_err() {
                        tracing::error!(
                            driver = self.name,
                            "cannot start the thread that re-opens the phones"
                        );
                    }
                    return Some(reader);
                }
                Err(error) => {
                    tracing::error!(
                        driver = self.name,
                        "the driver's process did not restart: {error}"
                    );
                    // Counted as a death by the next `next_delay`.
                }
            }
        }
    }

    /// The backoff before the next start, or `None` (stopping, or too many
    /// deaths within the window: the driver is reported failed).
    fn next_delay(&self) -> Option<Duration> {
        let mut state = self.state();
        if state.stopping {
            return None;
        }
        let now = Instant::now();
        let window = self.isolation.window;
        state.deaths.push(now);
        state
            .deaths
            .retain(|&t| now.saturating_duration_since(t) <= window);
        let tries = state.deaths.len() as u32;
        if tries > self.isolation.restarts {
            state.failed = true;
            tracing::error!(
                driver = self.name,
                restarts = self.isolation.restarts,
                window_ms = window.as_millis() as u64,
                "the driver failed: its process died too often; its phones stay disconnected until TAPI restarts the provider"
            );
            return None;
        }
        let doubled = self
            .isolation
            .backoff
            .saturating_mul(1 << tries.saturating_sub(1).min(16));
        Some(doubled.min(MAX_BACKOFF))
    }

    /// Sleeps `delay`; true when the driver is stopping (woken early).
    fn sleep_unless_stopping(&self, delay: Duration) -> bool {
        let state = self.state();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, delay, |s| !s.stopping)
            .unwrap_or_else(|e| e.into_inner());
        state.stopping
    }

    /// After a restart: the devices listed again and matched by key (gone:
    /// removed; back: connected; new: arrived), and the open phones opened
    /// again in the new child under the same session numbers.
    ///
    /// Everything it changes or reports is for the child it was started for:
    /// once that one is gone too, it stops (the next restart revives).
    fn revive(&self, generation: u64) {
        let listed = match self
            .call_at(Some(generation), |call| ToChild::Devices { call })
            .0
        {
            Ok(Answer::Devices(devices)) => devices,
            Ok(_) | Err(_) => {
                tracing::error!(
                    driver = self.name,
                    "the restarted driver did not list its devices: its phones stay disconnected"
                );
                self.end_revival(generation);
                return;
            }
        };
        let listed: BTreeMap<String, Vec<u8>> = listed.into_iter().collect();
        // The phones open when the last child died; not those the host
        // opened since (live) or is opening.
        let phones: Vec<(u64, String)> = {
            let state = self.state();
            if !state.is_current(generation) {
                return;
            }
            state
                .sessions
                .iter()
                .filter(|(_, phone)| !phone.live && !phone.opening)
                .filter(|(_, phone)| listed.contains_key(&phone.key))
                .map(|(session, phone)| (*session, phone.key.clone()))
                .collect()
        };
        let mut not_reopened = Vec::new();
        for (session, key) in phones {
            let opened = self
                .call_at(Some(generation), |call| ToChild::Open {
                    call,
                    key: key.clone(),
                    session,
                })
                .0;
            let mut state = self.state();
            if !state.is_current(generation) {
                return;
            }
            match opened {
                Ok(_) => match state.sessions.get_mut(&session) {
                    Some(phone) => phone.live = true,
                    // The host closed it meanwhile: so does the child.
                    None => {
                        drop(state);
                        let close = |call| ToChild::Close { call, session };
                        let _ = self.call_at(Some(generation), close);
                    }
                },
                Err((code, message)) => {
                    tracing::error!(
                        driver = self.name,
                        key,
                        code,
                        "the phone did not open again after the restart: {message}; it stays disconnected"
                    );
                    not_reopened.push(key);
                }
            }
        }
        let mut state = self.state();
        if !state.is_current(generation) {
            return;
        }
        let known = std::mem::replace(&mut state.devices, listed.clone());
        // Delivered under the state lock: a burial after this queues its
        // DISCONNECTED after them.
        for key in known.keys().filter(|k| !listed.contains_key(*k)) {
            self.deliver_presence(Delivery::Driver(
                DRIVER_EVENT_REMOVED,
                key.clone(),
                Vec::new(),
            ));
        }
        for key in known.keys().filter(|k| listed.contains_key(*k)) {
            if !not_reopened.contains(key) {
                self.deliver_presence(Delivery::Driver(
                    DRIVER_EVENT_CONNECTED,
                    key.clone(),
                    Vec::new(),
                ));
            }
        }
        for (key, caps) in listed.iter().filter(|(k, _)| !known.contains_key(*k)) {
            self.deliver_presence(Delivery::Driver(
                DRIVER_EVENT_ARRIVED,
                key.clone(),
                caps.clone(),
            ));
        }
        self.replay_held(&mut state);
    }

    /// The revival for `generation` is over without matching the devices:
    /// what the child reported meanwhile goes out.
    fn end_revival(&self, generation: u64) {
        let mut state = self.state();
        if state.is_current(generation) {
            self.replay_held(&mut state);
        }
    }

    /// The child's presence events held during a revival, in order.
    fn replay_held(&self, state: &mut State) {
        state.reviving = false;
        for (kind, key, caps) in std::mem::take(&mut state.held) {
            self.note_driver_event(state, kind, key, caps);
        }
    }

    /// Pings the child every quarter heartbeat; kills it when a ping is
    /// unanswered for a whole heartbeat (the child answers from the thread
    /// that reads, whatever the driver is doing: the process has stopped).
    fn watch(&self) {
        // The pings are written by a thread of their own: a write can block
        // on a full pipe (a stopped child), and the watchdog must not.
        let (pinger, pings) = channel::<(u64, u64)>();
        std::thread::scope(|scope| {
            let sent = std::thread::Builder::new()
                .name("tsp-isolate-ping".into())
                .spawn_scoped(scope, || {
                    for (generation, seq) in pings {
                        if self.send(generation, &ToChild::Ping { seq }) != Sent::Taken {
                            self.state().ping = None;
                        }
                    }
                });
            if sent.is_err() {
                tracing::error!(
                    driver = self.name,
                    "cannot start the pinging thread: the driver's process is not watched"
                );
                return;
            }
            self.watch_with(&pinger);
            drop(pinger);
        });
    }

    fn watch_with(&self, pinger: &Sender<(u64, u64)>) {
        let heartbeat = self.isolation.heartbeat;
        let tick = (heartbeat / 4).max(Duration::from_millis(10));
        let mut state = self.state();
        loop {
            state = self
                .changed
                .wait_timeout(state, tick)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if state.stopping {
                return;
            }
            if !state.up {
                continue;
            }
            let blocked = self.blocked_for().is_some_and(|t| t > heartbeat);
            match state.ping {
                _ if blocked => {
                    tracing::error!(
                        driver = self.name,
                        heartbeat_ms = heartbeat.as_millis() as u64,
                        "the driver's process stopped reading: killed"
                    );
                    state.kill_child();
                }
                Some((_, sent)) if sent.elapsed() > heartbeat => {
                    tracing::error!(
                        driver = self.name,
                        heartbeat_ms = heartbeat.as_millis() as u64,
                        "the driver's process stopped answering: killed"
                    );
                    state.ping = None;
                    state.kill_child();
                }
                Some(_) => {}
                // Not queued behind a blocked write: the blocked write is
                // what is being timed then.
                None if self.blocked_for().is_some() => {}
                None if state.last_ping.is_some_and(|at| at.elapsed() < tick) => {}
                None => {
                    state.next_ping += 1;
                    let seq = state.next_ping;
                    let now = Instant::now();
                    state.ping = Some((seq, now));
                    state.last_ping = Some(now);
                    if pinger.send((state.generation, seq)).is_err() {
                        state.ping = None;
                    }
                }
            }
        }
    }

    /// A synchronous call: the child's reply, or an error when it is gone.
    fn call(&self, message: impl FnOnce(u64) -> ToChild) -> Result<Answer, Refusal> {
        self.call_at(None, message).0
    }

    /// [`Inner::call`] to child `expected` (refused if another is current),
    /// or to the current one; with the generation of the child it went to.
    /// Bounded: a child that neither answers nor dies within the hang limit
    /// and a heartbeat (a lost answer) fails the call.
    fn call_at(
        &self,
        expected: Option<u64>,
        message: impl FnOnce(u64) -> ToChild,
    ) -> (Result<Answer, Refusal>, u64) {
        let (call, generation) = {
            let mut state = self.state();
            if !state.up || expected.is_some_and(|g| g != state.generation) {
                return (Err(self.down(&state)), state.generation);
            }
            let call = state.next_call();
            state.calls.insert(call, None);
            (call, state.generation)
        };
        if self.send(generation, &message(call)) == Sent::TooLarge {
            self.state().calls.remove(&call);
            let refusal = (
                PhoneError::OperationFailed.code(),
                "the call's data is over the driver host's message limit".into(),
            );
            return (Err(refusal), generation);
        }
        // Gone: the child's burial answers the call.
        let patience = self.isolation.hang + self.isolation.heartbeat;
        let state = self.state();
        let (mut state, waited) = self
            .changed
            .wait_timeout_while(state, patience, |s| {
                matches!(s.calls.get(&call), Some(None))
            })
            .unwrap_or_else(|e| e.into_inner());
        let result = match state.calls.remove(&call).flatten() {
            Some(result) => result,
            None if waited.timed_out() => {
                tracing::error!(
                    driver = self.name,
                    call,
                    "the driver's process never answered a call"
                );
                Err((
                    PhoneError::OperationFailed.code(),
                    format!("driver {}'s process never answered", self.name),
                ))
            }
            None => Err(self.down(&state)),
        };
        (result, generation)
    }

    fn down(&self, state: &State) -> Refusal {
        let why = if state.failed {
            "failed (its process died too often)"
        } else if state.stopping {
            "stopped"
        } else {
            "restarting its process"
        };
        (
            PhoneError::OperationFailed.code(),
            format!("driver {} is {why}", self.name),
        )
    }

    /// An asynchronous request of `session`: sent to the child, or completed
    /// with OPERATIONFAILED at once when the phone is not open in a running one.
    fn request(&self, session: u64, done: FfiCompletion, op: AsyncOp) {
        let token = done.token;
        let generation = {
            let mut state = self.state();
            let live = state.up && state.sessions.get(&session).is_some_and(|p| p.live);
            if live {
                state.outstanding.insert(token, session);
                Some(state.generation)
            } else {
                None
            }
        };
        let refused = match generation {
            // Gone: the child's burial completes it.
            Some(generation) => {
                self.send(generation, &ToChild::Async { session, token, op }) == Sent::TooLarge
                    && self.state().outstanding.remove(&token).is_some()
            }
            None => true,
        };
        if refused {
            done.link
                .complete(token, PhoneError::OperationFailed.code());
        }
    }

    /// Phone `session` (`key`) opened in child `sent_to`. If that child died
    /// since and another is up, it is opened there too (an open the child
    /// has already is answered as done), unless its revival did.
    fn opened(&self, session: u64, key: &str, sent_to: u64) {
        let reopen_in = {
            let mut state = self.state();
            let current = state.is_current(sent_to);
            let generation = state.generation;
            let up = state.up;
            let Some(phone) = state.sessions.get_mut(&session) else {
                return;
            };
            phone.opening = false;
            if current {
                phone.live = true;
            }
            (!phone.live && up).then_some(generation)
        };
        let Some(generation) = reopen_in else {
            return;
        };
        let (again, _) = self.call_at(Some(generation), |call| ToChild::Open {
            call,
            key: key.to_owned(),
            session,
        });
        let mut state = self.state();
        if again.is_ok()
            && state.is_current(generation)
            && let Some(phone) = state.sessions.get_mut(&session)
        {
            phone.live = true;
        }
    }

    /// Phone `session`'s open failed. One that timed out may still happen in
    /// the child: it is closed after it there (the same phone thread; a
    /// phone never opened is answered at once), without waiting.
    fn not_opened(&self, session: u64, sent_to: u64) {
        let current = {
            let mut state = self.state();
            state.sessions.remove(&session);
            state.is_current(sent_to)
        };
        if current {
            // A call number no one waits for: its answer is dropped.
            let call = self.state().next_call();
            self.send(sent_to, &ToChild::Close { call, session });
        }
    }

    /// The host is done with phone `session`: it is closed in the child (the
    /// answer waited for); what it still had is the host's to end.
    fn forget(&self, session: u64) {
        let live = {
            let mut state = self.state();
            let phone = state.sessions.remove(&session);
            state.outstanding.retain(|_, s| *s != session);
            state.up && phone.is_some_and(|p| p.live)
        };
        if live {
            let _ = self.call(|call| ToChild::Close { call, session });
        }
    }

    /// Stops the driver: the child's input is closed (it stops its driver and
    /// exits), and it is killed if it has not ended within a heartbeat, or at
    /// once when a write to it is blocked.
    fn shutdown(&self) {
        {
            let mut state = self.state();
            if state.stopping {
                return;
            }
            state.stopping = true;
            self.changed.notify_all();
        }
        // Its input is closed once no write holds the pipe (a reading child
        // lets a write finish); a write still blocked after a heartbeat means
        // the child does not read, and it is killed at once.
        let closed = self.close_input_within(self.isolation.heartbeat);
        let patience = if closed {
            self.isolation.heartbeat
        } else {
            Duration::ZERO
        };
        let state = self.state();
        let (mut state, waited) = self
            .changed
            .wait_timeout_while(state, patience, |s| s.up)
            .unwrap_or_else(|e| e.into_inner());
        if waited.timed_out() {
            tracing::warn!(
                driver = self.name,
                "the driver's process did not stop: killed"
            );
            state.kill_child();
        }
        drop(state);
        // The dispatcher and the presence thread end once what they hold is
        // delivered.
        lock(&self.deliver).take();
        lock(&self.presence).take();
    }
}

/// The longest wait between two starts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

enum Ready {
    Refused(PhoneError, String),
    Failed(String),
}

/// What the child writes to standard error, as warnings of its driver.
fn forward_stderr(driver: &'static str, errors: std::process::ChildStderr) {
    for line in BufReader::new(errors).lines() {
        match line {
            Ok(line) if !line.trim().is_empty() => {
                tracing::warn!(target: "tsp_plugin", driver, "driver process: {line}")
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

/// The isolated driver, as the host sees it.
struct Proxy {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

fn ffi<T>(result: Result<T, Refusal>) -> FfiResult<T> {
    match result {
        Ok(value) => RResult::ROk(value),
        Err((code, message)) => RResult::RErr(FfiError {
            code,
            message: message.into(),
        }),
    }
}

fn unexpected<T>() -> Result<T, Refusal> {
    Err((
        PhoneError::OperationFailed.code(),
        "the driver's process answered with the wrong kind of value".to_owned(),
    ))
}

impl abi::FfiDriver for Proxy {
    fn devices(&self) -> FfiResult<RVec<FfiDevice>> {
        ffi(match self.inner.call(|call| ToChild::Devices { call }) {
            Ok(Answer::Devices(devices)) => {
                self.inner.state().devices = devices.iter().cloned().collect();
                Ok(devices
                    .into_iter()
                    .map(|(key, caps)| FfiDevice {
                        key: key.into(),
                        caps: caps.into(),
                    })
                    .collect())
            }
            Ok(_) => unexpected(),
            Err(e) => Err(e),
        })
    }

    fn caps(&self, key: RStr<'_>) -> FfiResult<RVec<u8>> {
        let key = key.to_string();
        ffi(match self.inner.call(|call| ToChild::Caps { call, key }) {
            Ok(Answer::Bytes(caps)) => Ok(caps.into()),
            Ok(_) => unexpected(),
            Err(e) => Err(e),
        })
    }

    fn open(&self, key: RStr<'_>, events: FfiPhoneEvents) -> FfiResult<FfiSessionBox> {
        let key = key.to_string();
        let session = events.session;
        // Known before it opens: the events the driver sends while it opens
        // are the phone's.
        self.inner.state().sessions.insert(
            session,
            OpenPhone {
                key: key.clone(),
                live: false,
                opening: true,
            },
        );
        let (opened, sent_to) = self.inner.call_at(None, |call| ToChild::Open {
            call,
            key: key.clone(),
            session,
        });
        match opened {
            Ok(_) => {
                self.inner.opened(session, &key, sent_to);
                ffi(Ok(FfiSession_TO::from_value(
                    ProxySession {
                        inner: Arc::clone(&self.inner),
                        session,
                        closed: std::sync::atomic::AtomicBool::new(false),
                    },
                    TD_Opaque,
                )))
            }
            Err(refusal) => {
                self.inner.not_opened(session, sent_to);
                ffi(Err(refusal))
            }
        }
    }

    fn concurrent_sessions(&self) -> bool {
        self.inner.state().concurrent
    }

    fn shutdown(&self) {
        self.inner.shutdown();
        let threads = std::mem::take(&mut *lock(&self.threads));
        let here = std::thread::current().id();
        for thread in threads {
            // Never from the dispatcher's own callback (it would wait for itself).
            if thread.thread().id() != here {
                let _ = thread.join();
            }
        }
    }
}

/// An open phone of the isolated driver.
struct ProxySession {
    inner: Arc<Inner>,
    session: u64,
    closed: std::sync::atomic::AtomicBool,
}

impl Drop for ProxySession {
    /// A session dropped without its close (the host gave up on a late open)
    /// is closed in the child, as dropping it in process releases the
    /// device: it must not stay open there, nor be opened again at every
    /// restart. Waited for (within the call's bound), so the device is free
    /// when the drop returns.
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.inner.forget(self.session);
        }
    }
}

impl ProxySession {
    fn query(&self, op: SyncOp) -> Result<Answer, Refusal> {
        let session = self.session;
        self.inner.call(|call| ToChild::Sync { call, session, op })
    }

    fn number(&self, op: SyncOp) -> FfiResult<u32> {
        ffi(match self.query(op) {
            Ok(Answer::Number(n)) => Ok(n),
            Ok(_) => unexpected(),
            Err(e) => Err(e),
        })
    }

    fn bytes(&self, op: SyncOp) -> FfiResult<RVec<u8>> {
        ffi(match self.query(op) {
            Ok(Answer::Bytes(b)) => Ok(b.into()),
            Ok(_) => unexpected(),
            Err(e) => Err(e),
        })
    }

    fn request(&self, done: FfiCompletion, op: AsyncOp) {
        self.inner.request(self.session, done, op);
    }
}

impl abi::FfiSession for ProxySession {
    fn set_data(&self, data_id: u32, data: RSlice<'_, u8>, done: FfiCompletion) {
        let data = data.to_vec();
        self.request(done, AsyncOp::SetData { data_id, data });
    }

    fn get_data(&self, data_id: u32, mut buf: RSliceMut<'_, u8>) -> FfiResult<()> {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        ffi(match self.query(SyncOp::Data { data_id, len }) {
            Ok(Answer::Bytes(bytes)) if bytes.len() == buf.len() => {
                buf.copy_from_slice(&bytes);
                Ok(())
            }
            Ok(_) => unexpected(),
            Err(e) => Err(e),
        })
    }

    fn set_display(&self, row: u32, column: u32, text: RStr<'_>, done: FfiCompletion) {
        let text = text.to_string();
        self.request(done, AsyncOp::SetDisplay { row, column, text });
    }

    fn get_display(&self) -> FfiResult<RString> {
        ffi(match self.query(SyncOp::Display) {
            Ok(Answer::Text(text)) => Ok(text.into()),
            Ok(_) => unexpected(),
            Err(e) => Err(e),
        })
    }

    fn set_hookswitch(&self, devices: u32, mode: u32, done: FfiCompletion) {
        self.request(done, AsyncOp::SetHookswitch { devices, mode });
    }

    fn get_hookswitch(&self) -> FfiResult<u32> {
        self.number(SyncOp::Hookswitch)
    }

    fn set_ring(&self, mode: u32, volume: u32, done: FfiCompletion) {
        self.request(done, AsyncOp::SetRing { mode, volume });
    }

    fn get_ring(&self) -> FfiResult<Tuple2<u32, u32>> {
        ffi(match self.query(SyncOp::Ring) {
            Ok(Answer::Pair(mode, volume)) => Ok(Tuple2(mode, volume)),
            Ok(_) => unexpected(),
            Err(e) => Err(e),
        })
    }

    fn set_lamp(&self, id: u32, mode: u32, done: FfiCompletion) {
        self.request(done, AsyncOp::SetLamp { id, mode });
    }

    fn get_lamp(&self, id: u32) -> FfiResult<u32> {
        self.number(SyncOp::Lamp { id })
    }

    fn set_volume(&self, device: u32, volume: u32, done: FfiCompletion) {
        self.request(done, AsyncOp::SetVolume { device, volume });
    }

    fn get_volume(&self, device: u32) -> FfiResult<u32> {
        self.number(SyncOp::Volume { device })
    }

    fn set_gain(&self, device: u32, gain: u32, done: FfiCompletion) {
        self.request(done, AsyncOp::SetGain { device, gain });
    }

    fn get_gain(&self, device: u32) -> FfiResult<u32> {
        self.number(SyncOp::Gain { device })
    }

    fn set_button_info(&self, id: u32, info: RVec<u8>, done: FfiCompletion) {
        let info = info.into_vec();
        self.request(done, AsyncOp::SetButtonInfo { id, info });
    }

    fn get_button_info(&self, id: u32) -> FfiResult<RVec<u8>> {
        self.bytes(SyncOp::ButtonInfo { id })
    }

    fn get_status(&self) -> FfiResult<RVec<u8>> {
        self.bytes(SyncOp::Status)
    }

    fn dev_specific(&self, params: RSlice<'_, u8>, done: FfiCompletion) {
        let params = params.to_vec();
        self.request(done, AsyncOp::DevSpecific { params });
    }

    fn cancel(&self) {
        let (session, generation, live) = {
            let state = self.inner.state();
            let live = state.up && state.sessions.get(&self.session).is_some_and(|p| p.live);
            (self.session, state.generation, live)
        };
        if live {
            self.inner.send(generation, &ToChild::Cancel { session });
        }
    }

    fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.inner.forget(self.session);
        }
    }
}
