//! The driver host's side: load the plugin, start it, and serve the host's
//! messages until it says to stop or goes away.
//!
//! One thread reads the host's messages and answers its pings at once, with
//! how long the longest driver call under way has run; the driver calls are
//! made by one thread for the driver's own (devices, caps) and one per open
//! phone, each in the order the host sent them. So the host tells a process that
//! stopped (no answer within the heartbeat) from a driver call that hangs (an
//! answer saying it has run past the hang limit), and a slow call is only
//! slow, as it would be in the host's process. The driver reports
//! (completions, events, log lines) from any thread; each report is one
//! frame, written under the writer's lock.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RResult, RSlice, RSliceMut, RStr};
use tsp_core::PhoneError;

use super::protocol::{self, Answer, AsyncOp, FrameWriter, FromChild, Refusal, SyncOp, ToChild};
use super::{Busy, ServeError};
use crate::abi::{
    self, FfiCompletion, FfiDriverBox, FfiDriverEvent, FfiLogRecord, FfiPhoneEvent, FfiPhoneEvents,
    FfiResult, FfiSessionBox, HostLink_TO, HostLinkBox, clone_link,
};
use crate::host::Plugin;

type Out = Arc<Mutex<FrameWriter<File>>>;

fn lock(out: &Out) -> MutexGuard<'_, FrameWriter<File>> {
    out.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends one message; a host that is gone is noticed by the reading side.
fn send(out: &Out, message: &FromChild) {
    let sent = lock(out).send(message);
    if let Err(error) = sent {
        tracing::debug!("the host did not take a message: {error}");
    }
}

/// Serves the plugin whose manifest is `manifest` over the process's standard
/// input and output (see [`super::serve`]).
pub(crate) fn serve(manifest: &Path) -> Result<(), ServeError> {
    let (input, output) = super::sys::take_protocol_pipes().map_err(ServeError::Pipes)?;
    let out: Out = Arc::new(Mutex::new(FrameWriter::new(output)));
    #[cfg(unix)]
    end_with_the_host();
    let mut input = BufReader::new(input);
    let mut buf = Vec::new();
    let (settings, log_level) = match protocol::receive::<ToChild>(&mut input, &mut buf) {
        Ok(Some(ToChild::Hello {
            version: protocol::VERSION,
            settings,
            log_level,
        })) => (settings, log_level),
        Ok(Some(ToChild::Hello { version, .. })) => {
            let error = ServeError::Version {
                host: version,
                ours: protocol::VERSION,
            };
            refuse(&out, PhoneError::OperationFailed.code(), error.to_string());
            return Err(error);
        }
        Ok(other) => return Err(ServeError::NoHello(format!("{other:?}"))),
        Err(error) => return Err(ServeError::NoHello(error.to_string())),
    };
    super::log::forward_to(Arc::clone(&out), log_level);
    let plugin = match Plugin::load(manifest) {
        Ok(plugin) => plugin,
        Err(error) => {
            let error = ServeError::Start(error.chain());
            refuse(&out, PhoneError::OperationFailed.code(), error.to_string());
            return Err(error);
        }
    };
    let link: HostLinkBox = HostLink_TO::from_ptr(
        RArc::new(ChildLink {
            out: Arc::clone(&out),
        }),
        TD_Opaque,
    );
    let driver = match plugin.start_raw(&settings, &link) {
        RResult::ROk(driver) => driver,
        RResult::RErr(error) => {
            let message = error.message.to_string();
            refuse(&out, error.code, message.clone());
            return Err(ServeError::Start(message));
        }
    };
    send(
        &out,
        &FromChild::Ready {
            version: protocol::VERSION,
            name: plugin.name().to_owned(),
            concurrent: driver.concurrent_sessions(),
        },
    );
    let shared = Arc::new(Shared {
        driver,
        link,
        out: Arc::clone(&out),
    });
    let mut lanes = Lanes::new(shared)?;
    loop {
        match protocol::receive::<ToChild>(&mut input, &mut buf) {
            Ok(Some(ToChild::Shutdown)) | Ok(None) => break,
            Ok(Some(ToChild::Ping { seq })) => send(
                &out,
                &FromChild::Pong {
                    seq,
                    busy_ms: lanes.longest_call_ms(),
                },
            ),
            Ok(Some(message)) => lanes.route(message),
            Err(error) => {
                tracing::error!("the host's message does not read: {error}; stopping");
                break;
            }
        }
    }
    lanes.stop();
    Ok(())
}

/// The started driver and where its reports go, shared by the workers.
struct Shared {
    driver: FfiDriverBox,
    link: HostLinkBox,
    out: Out,
}

/// The threads that make the driver calls: one for the driver's own (its
/// devices, a device's caps), one per open phone. A phone's calls run in the
/// order the host sent them, and a slow call holds up only its phone's,
/// as in the host's process.
struct Lanes {
    shared: Arc<Shared>,
    driver: Option<Lane>,
    phones: HashMap<u64, Lane>,
    /// Phones closed, their threads ending.
    ended: Vec<std::thread::JoinHandle<()>>,
}

struct Lane {
    calls: std::sync::mpsc::Sender<ToChild>,
    thread: std::thread::JoinHandle<()>,
    /// The call it is making, if any.
    busy: Arc<Busy>,
}

impl Lanes {
    fn new(shared: Arc<Shared>) -> Result<Self, ServeError> {
        let mut lanes = Self {
            shared,
            driver: None,
            phones: HashMap::new(),
            ended: Vec::new(),
        };
        let driver = lanes
            .lane("tsp-driver-calls", None)
            .map_err(|e| ServeError::Start(format!("cannot start the driver's thread: {e}")))?;
        lanes.driver = Some(driver);
        Ok(lanes)
    }

    /// A thread making the calls sent to it; for phone `session` if given.
    fn lane(&self, name: &str, session: Option<u64>) -> std::io::Result<Lane> {
        let (calls, received) = std::sync::mpsc::channel();
        let busy = Arc::new(Busy::default());
        let shared = Arc::clone(&self.shared);
        let working = Arc::clone(&busy);
        let thread =
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || match session {
                    Some(session) => serve_phone(&shared, session, &received, &working),
                    None => serve_driver(&shared, &received, &working),
                })?;
        Ok(Lane {
            calls,
            thread,
            busy,
        })
    }

    /// Hands `message` to the thread that makes it; one for a phone whose
    /// thread has ended (its open failed) is answered here.
    fn route(&mut self, message: ToChild) {
        self.phones.retain(|_, lane| !lane.thread.is_finished());
        match message {
            ToChild::Devices { .. } | ToChild::Caps { .. } => {
                if let Some(driver) = &self.driver {
                    let _ = driver.calls.send(message);
                }
            }
            // Open already (a revival and a late open both opening it): done.
            ToChild::Open { call, session, .. } if self.phones.contains_key(&session) => {
                reply(&self.shared.out, call, Ok(Answer::Unit));
            }
            ToChild::Open { call, session, .. } => {
                match self.lane("tsp-driver-phone", Some(session)) {
                    Ok(lane) => match lane.calls.send(message) {
                        Ok(()) => {
                            self.phones.insert(session, lane);
                        }
                        Err(returned) => self.unserved(returned.0),
                    },
                    Err(e) => reply(
                        &self.shared.out,
                        call,
                        Err(refusal(&format!("cannot start the phone's thread: {e}"))),
                    ),
                }
            }
            ToChild::Close { session, .. } => match self.phones.remove(&session) {
                Some(lane) => {
                    if let Err(returned) = lane.calls.send(message) {
                        self.unserved(returned.0);
                    }
                    // Its thread ends once the close is made.
                    self.ended.push(lane.thread);
                    self.ended.retain(|t| !t.is_finished());
                }
                None => self.unserved(message),
            },
            ToChild::Async { session, .. }
            | ToChild::Sync { session, .. }
            | ToChild::Cancel { session } => {
                let unserved = match self.phones.get(&session) {
                    Some(lane) => lane.calls.send(message).err().map(|e| e.0),
                    None => Some(message),
                };
                if let Some(message) = unserved {
                    self.unserved(message);
                }
            }
            ToChild::Ping { .. } | ToChild::Hello { .. } | ToChild::Shutdown => {
                tracing::warn!("the host repeated a start or stop message: ignored");
            }
        }
    }

    /// The answer to a message for a phone not open here: a close is done,
    /// a call fails, a request completes with OPERATIONFAILED.
    fn unserved(&self, message: ToChild) {
        let out = &self.shared.out;
        match message {
            ToChild::Close { call, .. } => reply(out, call, Ok(Answer::Unit)),
            ToChild::Sync { call, .. } | ToChild::Open { call, .. } => {
                reply(out, call, Err(not_open()))
            }
            ToChild::Async { token, .. } => send(
                out,
                &FromChild::Complete {
                    token,
                    result: PhoneError::OperationFailed.code(),
                },
            ),
            _ => {}
        }
    }

    /// How long the longest driver call under way has run, in milliseconds.
    fn longest_call_ms(&self) -> u64 {
        self.driver
            .iter()
            .chain(self.phones.values())
            .map(|lane| lane.busy.running_for().map_or(0, |d| d.as_millis() as u64))
            .max()
            .unwrap_or(0)
    }

    /// Every phone closed (after the calls sent before), then the driver stopped.
    fn stop(mut self) {
        let phones: Vec<Lane> = self.phones.drain().map(|(_, lane)| lane).collect();
        for lane in phones {
            drop(lane.calls);
            let _ = lane.thread.join();
        }
        for thread in self.ended.drain(..) {
            let _ = thread.join();
        }
        if let Some(driver) = self.driver.take() {
            drop(driver.calls);
            let _ = driver.thread.join();
        }
        self.shared.driver.shutdown();
    }
}

/// Sends a call's answer; one over the frame limit is answered with an
/// error instead, so the host's call never waits for an answer that will not come.
fn reply(out: &Out, call: u64, result: Result<Answer, Refusal>) {
    let sent = lock(out).send(&FromChild::Reply { call, result });
    if let Err(error) = sent {
        tracing::warn!("the answer to call {call} was not sent: {error}");
        let refusal = refusal(&format!("the driver's answer was not sent: {error}"));
        send(
            out,
            &FromChild::Reply {
                call,
                result: Err(refusal),
            },
        );
    }
}

fn refusal(message: &str) -> Refusal {
    (PhoneError::OperationFailed.code(), message.to_owned())
}

/// The driver's own calls.
fn serve_driver(shared: &Shared, calls: &std::sync::mpsc::Receiver<ToChild>, busy: &Busy) {
    for message in calls {
        busy.begin();
        match message {
            ToChild::Devices { call } => {
                let result = answer(shared.driver.devices()).map(|devices| {
                    Answer::Devices(
                        devices
                            .into_iter()
                            .map(|d| (d.key.into(), d.caps.into()))
                            .collect(),
                    )
                });
                reply(&shared.out, call, result);
            }
            ToChild::Caps { call, key } => {
                let result = answer(shared.driver.caps(RStr::from_str(&key)))
                    .map(|caps| Answer::Bytes(caps.into()));
                reply(&shared.out, call, result);
            }
            other => tracing::warn!("a phone's call reached the driver's thread: {other:?}"),
        }
        busy.end();
    }
}

/// One phone's calls, from its open to its close; closed at the end if the
/// host stopped first.
fn serve_phone(
    shared: &Shared,
    session: u64,
    calls: &std::sync::mpsc::Receiver<ToChild>,
    busy: &Busy,
) {
    let mut open: Option<FfiSessionBox> = None;
    for message in calls {
        busy.begin();
        match message {
            ToChild::Open { call, key, .. } => {
                let events = FfiPhoneEvents {
                    link: clone_link(&shared.link),
                    session,
                };
                let result = answer(shared.driver.open(RStr::from_str(&key), events)).map(|s| {
                    open = Some(s);
                    Answer::Unit
                });
                let failed = result.is_err();
                reply(&shared.out, call, result);
                if failed {
                    // Nothing follows an open the host saw fail.
                    busy.end();
                    return;
                }
            }
            ToChild::Close { call, .. } => {
                if let Some(phone) = open.take() {
                    phone.close();
                }
                reply(&shared.out, call, Ok(Answer::Unit));
            }
            ToChild::Cancel { .. } => {
                if let Some(phone) = &open {
                    phone.cancel();
                }
            }
            ToChild::Async { token, op, .. } => match &open {
                Some(phone) => request(shared, phone, token, op),
                None => send(
                    &shared.out,
                    &FromChild::Complete {
                        token,
                        result: PhoneError::OperationFailed.code(),
                    },
                ),
            },
            ToChild::Sync { call, op, .. } => {
                let result = match &open {
                    Some(phone) => query(phone, op),
                    None => Err(not_open()),
                };
                reply(&shared.out, call, result);
            }
            other => tracing::warn!("a driver call reached a phone's thread: {other:?}"),
        }
        busy.end();
    }
    if let Some(phone) = open {
        phone.cancel();
        phone.close();
    }
}

fn request(shared: &Shared, session: &FfiSessionBox, token: u64, op: AsyncOp) {
    let done = FfiCompletion {
        link: clone_link(&shared.link),
        token,
    };
    match op {
        AsyncOp::SetData { data_id, data } => {
            session.set_data(data_id, RSlice::from_slice(&data), done)
        }
        AsyncOp::SetDisplay { row, column, text } => {
            session.set_display(row, column, RStr::from_str(&text), done)
        }
        AsyncOp::SetHookswitch { devices, mode } => session.set_hookswitch(devices, mode, done),
        AsyncOp::SetRing { mode, volume } => session.set_ring(mode, volume, done),
        AsyncOp::SetLamp { id, mode } => session.set_lamp(id, mode, done),
        AsyncOp::SetVolume { device, volume } => session.set_volume(device, volume, done),
        AsyncOp::SetGain { device, gain } => session.set_gain(device, gain, done),
        AsyncOp::SetButtonInfo { id, info } => session.set_button_info(id, info.into(), done),
        AsyncOp::DevSpecific { params } => session.dev_specific(RSlice::from_slice(&params), done),
    }
}

/// A host that dies without a word leaves its pipe open if something else
/// holds it; the process it started must not outlive it by much.
#[cfg(unix)]
fn end_with_the_host() {
    let parent = std::os::unix::process::parent_id();
    let _ = std::thread::Builder::new()
        .name("tsp-driver-parent".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(500));
                if std::os::unix::process::parent_id() != parent {
                    tracing::error!("the host is gone: exiting");
                    std::process::exit(3);
                }
            }
        });
}

fn refuse(out: &Out, code: u32, message: String) {
    send(out, &FromChild::Refused { code, message });
}

fn query(session: &FfiSessionBox, op: SyncOp) -> Result<Answer, Refusal> {
    match op {
        SyncOp::Data { data_id, len } => {
            let mut buf = vec![0; len as usize];
            answer(session.get_data(data_id, RSliceMut::from_mut_slice(&mut buf)))
                .map(|()| Answer::Bytes(buf))
        }
        SyncOp::Display => answer(session.get_display()).map(|t| Answer::Text(t.into())),
        SyncOp::Hookswitch => answer(session.get_hookswitch()).map(Answer::Number),
        SyncOp::Ring => answer(session.get_ring()).map(|t| Answer::Pair(t.0, t.1)),
        SyncOp::Lamp { id } => answer(session.get_lamp(id)).map(Answer::Number),
        SyncOp::Volume { device } => answer(session.get_volume(device)).map(Answer::Number),
        SyncOp::Gain { device } => answer(session.get_gain(device)).map(Answer::Number),
        SyncOp::ButtonInfo { id } => {
            answer(session.get_button_info(id)).map(|b| Answer::Bytes(b.into()))
        }
        SyncOp::Status => answer(session.get_status()).map(|b| Answer::Bytes(b.into())),
    }
}

fn answer<T>(result: FfiResult<T>) -> Result<T, Refusal> {
    match result {
        RResult::ROk(value) => Ok(value),
        RResult::RErr(error) => Err((error.code, error.message.into())),
    }
}

fn not_open() -> Refusal {
    (
        PhoneError::OperationFailed.code(),
        "the phone is not open in the driver host".to_owned(),
    )
}

/// The link the driver gets in the driver host: each report becomes a frame.
struct ChildLink {
    out: Out,
}

impl abi::HostLink for ChildLink {
    fn complete(&self, token: u64, result: u32) {
        send(&self.out, &FromChild::Complete { token, result });
    }

    fn phone_event(&self, session: u64, event: FfiPhoneEvent) {
        send(
            &self.out,
            &FromChild::PhoneEvent {
                session,
                kind: event.kind,
                params: event.params,
            },
        );
    }

    fn driver_event(&self, event: FfiDriverEvent) {
        send(
            &self.out,
            &FromChild::DriverEvent {
                kind: event.kind,
                key: event.device.key.into(),
                caps: event.device.caps.into(),
            },
        );
    }

    fn log(&self, record: FfiLogRecord) {
        send(
            &self.out,
            &FromChild::Log {
                level: record.level,
                target: record.target.into(),
                message: record.message.into(),
            },
        );
    }
}
