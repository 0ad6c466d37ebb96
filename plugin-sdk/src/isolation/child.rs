//! The driver host's side: load the plugin, start it, and serve the host's
//! messages until it says to stop or goes away.
//!
//! One thread reads and handles the host's messages in order, so a
//! [`ToChild::Ping`] is answered only once everything sent before it was
//! handled: a driver call that hangs stops the answers, which is how the host
//! tells a hung driver from a slow pipe. The driver reports (completions,
//! events, log lines) from any thread; each report is one frame, written
//! under the writer's lock.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RResult, RSlice, RSliceMut, RStr};
use tsp_core::PhoneError;

use super::protocol::{
    self, Answer, AsyncOp, FrameWriter, FromChild, Refusal, SyncOp, ToChild,
};
use crate::abi::{
    self, FfiCompletion, FfiDriverBox, FfiDriverEvent, FfiLogRecord, FfiPhoneEvent,
    FfiPhoneEvents, FfiResult, FfiSessionBox, HostLink_TO, HostLinkBox, clone_link,
};
use super::ServeError;
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
            refuse(&out, PhoneError::OperationFailed, error.to_string());
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
            refuse(&out, PhoneError::OperationFailed, error.to_string());
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
            send(
                &out,
                &FromChild::Refused {
                    code: error.code,
                    message: message.clone(),
                },
            );
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
    let mut served = Served {
        driver,
        link,
        sessions: HashMap::new(),
        out,
    };
    loop {
        match protocol::receive::<ToChild>(&mut input, &mut buf) {
            Ok(Some(ToChild::Shutdown)) | Ok(None) => break,
            Ok(Some(message)) => served.handle(message),
            Err(error) => {
                tracing::error!("the host's message does not read: {error}; stopping");
                break;
            }
        }
    }
    served.stop();
    Ok(())
}

fn refuse(out: &Out, code: PhoneError, message: String) {
    send(
        out,
        &FromChild::Refused {
            code: code.code(),
            message,
        },
    );
}

/// The started driver and its open phones, by the host's session numbers.
struct Served {
    driver: FfiDriverBox,
    link: HostLinkBox,
    sessions: HashMap<u64, FfiSessionBox>,
    out: Out,
}

impl Served {
    fn handle(&mut self, message: ToChild) {
        match message {
            ToChild::Ping { seq } => send(&self.out, &FromChild::Pong { seq }),
            ToChild::Devices { call } => {
                let result = answer(self.driver.devices()).map(|devices| {
                    Answer::Devices(
                        devices
                            .into_iter()
                            .map(|d| (d.key.into(), d.caps.into()))
                            .collect(),
                    )
                });
                self.reply(call, result);
            }
            ToChild::Caps { call, key } => {
                let result = answer(self.driver.caps(RStr::from_str(&key)))
                    .map(|caps| Answer::Bytes(caps.into()));
                self.reply(call, result);
            }
            ToChild::Open { call, key, session } => {
                let events = FfiPhoneEvents {
                    link: clone_link(&self.link),
                    session,
                };
                let result = answer(self.driver.open(RStr::from_str(&key), events)).map(|s| {
                    self.sessions.insert(session, s);
                    Answer::Unit
                });
                self.reply(call, result);
            }
            ToChild::Close { call, session } => {
                if let Some(session) = self.sessions.remove(&session) {
                    session.close();
                }
                self.reply(call, Ok(Answer::Unit));
            }
            ToChild::Cancel { session } => {
                if let Some(session) = self.sessions.get(&session) {
                    session.cancel();
                }
            }
            ToChild::Async { session, token, op } => match self.sessions.get(&session) {
                Some(open) => self.request(open, token, op),
                None => send(
                    &self.out,
                    &FromChild::Complete {
                        token,
                        result: PhoneError::OperationFailed.code(),
                    },
                ),
            },
            ToChild::Sync { call, session, op } => {
                let result = match self.sessions.get(&session) {
                    Some(open) => query(open, op),
                    None => Err(not_open()),
                };
                self.reply(call, result);
            }
            ToChild::Hello { .. } | ToChild::Shutdown => {
                tracing::warn!("the host repeated a start or stop message: ignored");
            }
        }
    }

    fn reply(&self, call: u64, result: Result<Answer, Refusal>) {
        send(&self.out, &FromChild::Reply { call, result });
    }

    fn request(&self, session: &FfiSessionBox, token: u64, op: AsyncOp) {
        let done = FfiCompletion {
            link: clone_link(&self.link),
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
            AsyncOp::DevSpecific { params } => {
                session.dev_specific(RSlice::from_slice(&params), done)
            }
        }
    }

    /// Every phone closed and the driver stopped: the host is gone or said so.
    fn stop(self) {
        for (_, session) in self.sessions {
            session.cancel();
            session.close();
        }
        self.driver.shutdown();
    }
}

fn query(session: &FfiSessionBox, op: SyncOp) -> Result<Answer, Refusal> {
    match op {
        SyncOp::GetData { data_id, len } => {
            let mut buf = vec![0; len as usize];
            answer(session.get_data(data_id, RSliceMut::from_mut_slice(&mut buf)))
                .map(|()| Answer::Bytes(buf))
        }
        SyncOp::GetDisplay => answer(session.get_display()).map(|t| Answer::Text(t.into())),
        SyncOp::GetHookswitch => answer(session.get_hookswitch()).map(Answer::Number),
        SyncOp::GetRing => answer(session.get_ring()).map(|t| Answer::Pair(t.0, t.1)),
        SyncOp::GetLamp { id } => answer(session.get_lamp(id)).map(Answer::Number),
        SyncOp::GetVolume { device } => answer(session.get_volume(device)).map(Answer::Number),
        SyncOp::GetGain { device } => answer(session.get_gain(device)).map(Answer::Number),
        SyncOp::GetButtonInfo { id } => {
            answer(session.get_button_info(id)).map(|b| Answer::Bytes(b.into()))
        }
        SyncOp::GetStatus => answer(session.get_status()).map(|b| Answer::Bytes(b.into())),
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
