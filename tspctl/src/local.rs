//! The host in this process, tspctl playing TAPI's part.

use std::sync::Mutex;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use tsp_core::var::sized_buffer;
use tsp_core::{ButtonModes, ButtonStates, Message, PhoneCaps};
use tsp_host::{Host, PhoneHandle, Provider};

use crate::VERSION;
use crate::phones::{Event, Failure, Listed, Phones};
use crate::tapi::{self, Callback};

/// How long a request may take before tspctl gives up on it.
const PATIENCE: Duration = Duration::from_secs(30);

/// A host started the way TAPISRV starts one; shut down when dropped.
pub(crate) struct Local {
    host: Host,
    callbacks: Mutex<Receiver<Callback>>,
}

impl Local {
    /// The phones of TSP_RS_CONFIG, or the mock's two default phones.
    pub(crate) fn start() -> Result<Self, Failure> {
        let builder = Host::builder().driver(tsp_driver_mock::tsp_driver_module());
        let (builder, callbacks) = tapi::listened(builder);
        let host = builder.start().map_err(|e| Failure::Other(e.to_string()))?;
        Ok(Self {
            host,
            callbacks: Mutex::new(callbacks),
        })
    }

    pub(crate) fn host(&self) -> &Host {
        &self.host
    }

    /// The next callback, waiting at most `timeout`.
    pub(crate) fn next(&self, timeout: Duration) -> Option<Callback> {
        let callbacks = self.callbacks.lock().unwrap_or_else(|e| e.into_inner());
        callbacks.recv_timeout(timeout).ok()
    }

    /// Waits for the completion of `request_id`, handing the events that come
    /// first to `event`.
    pub(crate) fn wait_completion(
        &self,
        request_id: u32,
        event: &mut dyn FnMut(Callback),
    ) -> Result<(), Failure> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some(Callback::Completion {
                    request_id: id,
                    result,
                }) if id == request_id => return Ok(result?),
                Some(other) => event(other),
                None => {
                    return Err(Failure::Other(format!(
                        "request {request_id} did not complete within {PATIENCE:?}"
                    )));
                }
            }
        }
    }

    /// Runs `f` on phone `dev`, opened for it and closed after.
    fn with_phone<T>(
        &self,
        dev: u32,
        f: impl FnOnce(PhoneHandle) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let phone = self.host.open(dev, 1)?;
        let result = f(phone);
        let _ = self.host.close(phone);
        result
    }
}

/// PHONECAPS read as TAPI reads it: the fixed part first, then what it needs.
pub(crate) fn read_caps(provider: &Provider, dev: u32) -> Result<(PhoneCaps, u32, u32), Failure> {
    let mut buf = sized_buffer(PhoneCaps::fixed_size(VERSION) as u32);
    let first = provider.get_dev_caps(dev, VERSION.raw(), &mut buf)?;
    let mut buf = sized_buffer(first.needed);
    let second = provider.get_dev_caps(dev, VERSION.raw(), &mut buf)?;
    let caps = PhoneCaps::read(&buf, VERSION)
        .ok_or_else(|| Failure::Other("PHONECAPS does not read back".into()))?;
    Ok((caps, first.needed, second.used))
}

fn event_of(message: Message) -> Option<Event> {
    Some(match message {
        Message::Button { id, mode, state } => Event::Button {
            id,
            mode: mode.bits(),
            state: state.bits(),
        },
        Message::State { state, detail } => Event::State {
            state: state.bits(),
            detail,
        },
        Message::Close => Event::Closed,
        Message::DevSpecific { params } => Event::DevSpecific {
            params: params.map(|p| p as u32),
        },
        _ => return None,
    })
}

impl Phones for Local {
    fn list(&self) -> Result<Vec<Listed>, Failure> {
        Ok((0u32..)
            .zip(self.host.devices())
            .map(|(device_id, device)| Listed {
                device_id,
                name: device.caps.name,
                permanent_id: device.caps.permanent_id,
                driver: device.driver,
            })
            .collect())
    }

    fn caps(&self, dev: u32) -> Result<PhoneCaps, Failure> {
        Ok(self.host.caps(dev)?)
    }

    fn set_data(&self, dev: u32, area: u32, data: &[u8]) -> Result<(), Failure> {
        self.with_phone(dev, |phone| {
            let request = self
                .host
                .set_data(self.host.next_request_id(), phone, area, data)?;
            self.wait_completion(request, &mut |_| {})
        })
    }

    fn get_data(&self, dev: u32, area: u32, size: u32) -> Result<Vec<u8>, Failure> {
        self.with_phone(dev, |phone| Ok(self.host.get_data(phone, area, size)?))
    }

    fn watch(
        &self,
        dev: u32,
        until: Option<Instant>,
        seen: &mut dyn FnMut(Event) -> bool,
    ) -> Result<(), Failure> {
        self.with_phone(dev, |phone| {
            let states = self.host.devices()[dev as usize].caps.phone_states;
            self.host.set_status_messages(
                phone,
                states,
                ButtonModes::all(),
                ButtonStates::UP | ButtonStates::DOWN,
            )?;
            if !seen(Event::Watching) {
                return Ok(());
            }
            while until.is_none_or(|until| Instant::now() < until) {
                let wait = until.map_or(Duration::from_secs(1), |u| {
                    u.saturating_duration_since(Instant::now())
                });
                if let Some(Callback::Event(message)) = self.next(wait)
                    && let Some(event) = event_of(message)
                    && !seen(event)
                {
                    return Ok(());
                }
            }
            Ok(())
        })
    }
}
