//! The host in this process, tspctl playing TAPI's part.

use std::time::{Duration, Instant};

use tsp_core::var::sized_buffer;
use tsp_core::{ButtonModes, ButtonStates, PhoneCaps, PhoneError, PhoneMessage};
use tsp_host::{HostSetup, PhoneHandle, Provider};

use crate::VERSION;
use crate::phones::{Event, Failure, Listed, Phones};
use crate::tapi::{self, Callback};

/// How long a request may take before tspctl gives up on it.
const PATIENCE: Duration = Duration::from_secs(30);

/// A provider started the way TAPISRV starts one; shut down when dropped.
pub(crate) struct Local {
    provider: Provider,
}

impl Local {
    /// The phones of TSP_RS_CONFIG, or the mock's two default phones.
    pub(crate) fn start() -> Result<Self, Failure> {
        let provider = Provider::new(HostSetup::for_application(
            vec![tsp_driver_mock::tsp_driver_module()],
            None,
            None,
        ));
        provider
            .start_as_tapi(0, None, tapi::completion_proc())
            .map_err(|e| Failure::Other(e.to_string()))?;
        Ok(Self { provider })
    }

    pub(crate) fn provider(&self) -> &Provider {
        &self.provider
    }

    fn open(&self, dev: u32) -> Result<PhoneHandle, Failure> {
        Ok(self
            .provider
            .open(dev, 1, VERSION.raw(), tapi::event_proc())?)
    }

    /// Runs `f` on phone `dev`, opened for it and closed after.
    fn with_phone<T>(
        &self,
        dev: u32,
        f: impl FnOnce(PhoneHandle) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let phone = self.open(dev)?;
        let result = f(phone);
        let _ = self.provider.close(phone);
        result
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
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

/// Waits for the completion of `request_id`, handing the events that come first
/// to `event`.
pub(crate) fn wait_completion(
    request_id: u32,
    event: &mut dyn FnMut(Callback),
) -> Result<(), Failure> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tapi::next(left) {
            Some(Callback::Completion {
                request_id: id,
                result,
            }) if id == request_id => {
                return match PhoneError::from_long(result) {
                    None => Ok(()),
                    Some(error) => Err(error.into()),
                };
            }
            Some(other) => event(other),
            None => {
                return Err(Failure::Other(format!(
                    "request {request_id} did not complete within {PATIENCE:?}"
                )));
            }
        }
    }
}

/// A request's synchronous answer: a request id, or the error.
pub(crate) fn started(returned: i32) -> Result<(), Failure> {
    match PhoneError::from_long(returned) {
        Some(error) => Err(error.into()),
        None if returned < 0 => Err(Failure::Other(format!("{returned:#x}"))),
        None => Ok(()),
    }
}

fn event_of(msg: u32, [p1, p2, p3]: [usize; 3]) -> Option<Event> {
    let [p1, p2, p3] = [p1 as u32, p2 as u32, p3 as u32];
    Some(match PhoneMessage::from_code(msg)? {
        PhoneMessage::Button => Event::Button {
            id: p1,
            mode: p2,
            state: p3,
        },
        PhoneMessage::State => Event::State {
            state: p1,
            detail: p2,
        },
        PhoneMessage::Close => Event::Closed,
        PhoneMessage::DevSpecific => Event::DevSpecific {
            params: [p1, p2, p3],
        },
        _ => return None,
    })
}

impl Phones for Local {
    fn list(&self) -> Result<Vec<Listed>, Failure> {
        Ok((0u32..)
            .zip(self.provider.devices())
            .map(|(device_id, device)| Listed {
                device_id,
                name: device.caps.name,
                permanent_id: device.caps.permanent_id,
                driver: device.driver,
            })
            .collect())
    }

    fn caps(&self, dev: u32) -> Result<PhoneCaps, Failure> {
        read_caps(&self.provider, dev).map(|(caps, _, _)| caps)
    }

    fn set_data(&self, dev: u32, area: u32, data: &[u8]) -> Result<(), Failure> {
        self.with_phone(dev, |phone| {
            started(self.provider.set_data(1, phone, area, data))?;
            wait_completion(1, &mut |_| {})
        })
    }

    fn get_data(&self, dev: u32, area: u32, size: u32) -> Result<Vec<u8>, Failure> {
        self.with_phone(dev, |phone| {
            let mut buf = vec![0u8; size as usize];
            self.provider.get_data(phone, area, &mut buf)?;
            Ok(buf)
        })
    }

    fn watch(
        &self,
        dev: u32,
        until: Option<Instant>,
        seen: &mut dyn FnMut(Event) -> bool,
    ) -> Result<(), Failure> {
        self.with_phone(dev, |phone| {
            let states = self.provider.devices()[dev as usize]
                .caps
                .phone_states
                .bits();
            self.provider.set_status_messages(
                phone,
                states,
                ButtonModes::all().bits(),
                (ButtonStates::UP | ButtonStates::DOWN).bits(),
            )?;
            if !seen(Event::Watching) {
                return Ok(());
            }
            while until.is_none_or(|until| Instant::now() < until) {
                let wait = until.map_or(Duration::from_secs(1), |u| {
                    u.saturating_duration_since(Instant::now())
                });
                if let Some(Callback::Event { msg, params }) = tapi::next(wait)
                    && let Some(event) = event_of(msg, params)
                    && !seen(event)
                {
                    return Ok(());
                }
            }
            Ok(())
        })
    }
}
