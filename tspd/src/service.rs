//! The host tspd embeds, and who owns which phone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tsp_core::{ButtonModes, ButtonStates, PhoneError, TspiVersion};
use tsp_host::{Device, HostSetup, PhoneHandle, Provider};

use crate::tapi;

/// The TSPI version tspd negotiates, as TAPI 3.1 does.
pub(crate) const VERSION: TspiVersion = TspiVersion::V3_1;

/// Why a request on the bus failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A `PHONEERR_*` from the host or the driver.
    Phone(PhoneError),
    /// Another client owns the phone.
    AccessDenied(String),
}

impl From<PhoneError> for Fault {
    fn from(error: PhoneError) -> Self {
        Fault::Phone(error)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a client takes a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// With `Open`, until `Close` or the client leaves.
    Open,
    /// For one call.
    Borrow,
}

/// A phone a client holds: opened with `Open` (explicit), or for the length of
/// the calls it is making (borrowed), so that one-shot clients such as
/// `dbus-send` and `busctl` can use a phone nobody holds.
#[derive(Debug, Clone)]
struct Opened {
    handle: PhoneHandle,
    owner: String,
    explicit: bool,
    borrowed: u32,
}

/// The host and the phones clients hold.
pub(crate) struct Service {
    provider: Provider,
    open: Mutex<HashMap<u32, Opened>>,
    disconnected: Mutex<Vec<u32>>,
    in_flight: AtomicUsize,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

/// Counts a method call until it has replied, so shutdown can wait for replies.
pub(crate) struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The `htPhone` tspd gives the phone with device id `device_id`.
pub(crate) fn ht_phone(device_id: u32) -> usize {
    device_id as usize + 1
}

impl Service {
    /// Starts the host as TAPISRV does: negotiation, enumeration, init.
    pub(crate) fn start(config: Option<PathBuf>, plugins: Option<PathBuf>) -> Result<Self, String> {
        let provider = Provider::new(HostSetup::for_application(
            vec![tsp_driver_mock::tsp_driver_module()],
            config,
            plugins,
        ));
        provider
            .start_as_tapi(1, Some(tapi::event_proc()), tapi::completion_proc())
            .map_err(|e| format!("the provider did not start: {e}"))?;
        Ok(Self {
            provider,
            open: Mutex::default(),
            disconnected: Mutex::default(),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Marks a method call in progress until the guard drops.
    pub(crate) fn call(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(&self.in_flight)
    }

    /// The phones present, with their device ids.
    pub(crate) fn phones(&self) -> Vec<(u32, Device)> {
        self.provider
            .devices()
            .into_iter()
            .filter(|d| d.present)
            .filter_map(|d| d.id.map(|id| (id, d)))
            .collect()
    }

    /// The phone with device id `device_id`.
    pub(crate) fn device(&self, device_id: u32) -> Result<Device, Fault> {
        self.phones()
            .into_iter()
            .find(|(id, _)| *id == device_id)
            .map(|(_, d)| d)
            .ok_or(Fault::Phone(PhoneError::BadDeviceId))
    }

    /// The client that holds the phone, if one does.
    pub(crate) fn owner(&self, device_id: u32) -> Option<String> {
        lock(&self.open).get(&device_id).map(|o| o.owner.clone())
    }

    /// Whether the phone's device is there (it may be unplugged while open).
    pub(crate) fn connected(&self, device_id: u32) -> bool {
        !lock(&self.disconnected).contains(&device_id)
    }

    pub(crate) fn set_connected(&self, device_id: u32, connected: bool) {
        let mut away = lock(&self.disconnected);
        away.retain(|id| *id != device_id);
        if !connected {
            away.push(device_id);
        }
    }

    /// Opens the phone for `owner`, with every event turned on. Opening a phone
    /// one already holds succeeds; one another client holds is `ALLOCATED`.
    pub(crate) fn open(&self, device_id: u32, owner: &str) -> Result<(), Fault> {
        self.hold(device_id, owner, Hold::Open).map(|_| ())
    }

    fn open_for(&self, device_id: u32) -> Result<PhoneHandle, Fault> {
        let device = self.device(device_id)?;
        let handle = self.provider.open(
            device_id,
            ht_phone(device_id),
            VERSION.raw(),
            tapi::event_proc(),
        )?;
        let all_buttons = ButtonModes::all().bits();
        let both = (ButtonStates::UP | ButtonStates::DOWN).bits();
        let states = device.caps.phone_states.bits();
        if let Err(error) = self
            .provider
            .set_status_messages(handle, states, all_buttons, both)
        {
            tracing::warn!(device_id, %error, "events stay off");
        }
        Ok(handle)
    }

    /// The handle for a call of `caller`: the phone it holds, or the phone opened
    /// for this call when nobody holds it. Give it back with [`Service::release`].
    fn acquire(&self, device_id: u32, caller: &str) -> Result<PhoneHandle, Fault> {
        self.hold(device_id, caller, Hold::Borrow)
    }

    /// Takes the phone for `caller`, by `Open` or for one call.
    fn hold(&self, device_id: u32, caller: &str, how: Hold) -> Result<PhoneHandle, Fault> {
        let mut open = lock(&self.open);
        match (open.get_mut(&device_id), how) {
            (Some(opened), Hold::Open) if opened.owner == caller => {
                opened.explicit = true;
                Ok(opened.handle)
            }
            (Some(opened), Hold::Borrow) if opened.owner == caller => {
                opened.borrowed += 1;
                Ok(opened.handle)
            }
            (Some(_), Hold::Open) => Err(Fault::Phone(PhoneError::Allocated)),
            (Some(opened), Hold::Borrow) => Err(Fault::AccessDenied(format!(
                "phone {device_id} is open by {}; only it may use the phone until it closes",
                opened.owner
            ))),
            (None, how) => {
                let handle = self.open_for(device_id)?;
                let opened = Opened {
                    handle,
                    owner: caller.to_owned(),
                    explicit: how == Hold::Open,
                    borrowed: u32::from(how == Hold::Borrow),
                };
                open.insert(device_id, opened);
                tracing::debug!(device_id, caller, ?how, "opened");
                Ok(handle)
            }
        }
    }

    /// Ends a call of `caller`; a phone opened only for calls closes with the last.
    pub(crate) fn release(&self, device_id: u32, caller: &str) {
        let closing = {
            let mut open = lock(&self.open);
            let Some(opened) = open.get_mut(&device_id).filter(|o| o.owner == caller) else {
                return;
            };
            opened.borrowed = opened.borrowed.saturating_sub(1);
            if opened.borrowed > 0 || opened.explicit {
                return;
            }
            open.remove(&device_id).map(|o| o.handle)
        };
        if let Some(handle) = closing {
            let _ = self.provider.close(handle);
        }
    }

    /// Closes a phone `caller` holds: its requests complete first.
    pub(crate) fn close(&self, device_id: u32, caller: &str) -> Result<(), Fault> {
        let handle = {
            let mut open = lock(&self.open);
            match open.get(&device_id) {
                Some(opened) if opened.owner == caller => {}
                Some(opened) => {
                    return Err(Fault::AccessDenied(format!(
                        "phone {device_id} is open by {}, not by you",
                        opened.owner
                    )));
                }
                None => {
                    drop(open);
                    self.device(device_id)?;
                    return Err(Fault::Phone(PhoneError::InvalPhoneHandle));
                }
            }
            open.remove(&device_id).map(|o| o.handle)
        };
        if let Some(handle) = handle {
            self.provider.close(handle)?;
        }
        tracing::info!(device_id, caller, "closed");
        Ok(())
    }

    /// Starts an asynchronous request for `caller`; the receiver gets its
    /// completion's result. Call [`Service::release`] once it has completed.
    pub(crate) fn request(
        &self,
        device_id: u32,
        caller: &str,
        start: impl FnOnce(&Provider, u32, PhoneHandle) -> i32,
    ) -> Result<async_channel::Receiver<i32>, Fault> {
        let handle = self.acquire(device_id, caller)?;
        let (request_id, completion) = tapi::new_request();
        let returned = start(&self.provider, request_id, handle);
        if returned < 0 {
            tapi::forget(request_id);
            self.release(device_id, caller);
            return Err(Fault::Phone(
                PhoneError::from_long(returned).unwrap_or(PhoneError::OperationFailed),
            ));
        }
        Ok(completion)
    }

    /// Runs a synchronous function for `caller`.
    pub(crate) fn query<T>(
        &self,
        device_id: u32,
        caller: &str,
        query: impl FnOnce(&Provider, PhoneHandle) -> Result<T, PhoneError>,
    ) -> Result<T, Fault> {
        let handle = self.acquire(device_id, caller)?;
        let result = query(&self.provider, handle);
        self.release(device_id, caller);
        Ok(result?)
    }

    /// A client left the bus: the phones it held are closed, their requests
    /// completed, nothing stays reserved. Returns their device ids.
    pub(crate) fn client_gone(&self, name: &str) -> Vec<u32> {
        let held: Vec<u32> = lock(&self.open)
            .iter()
            .filter(|(_, o)| o.owner == name)
            .map(|(id, _)| *id)
            .collect();
        for &device_id in &held {
            tracing::info!(
                device_id,
                client = name,
                "the client left: closing its phone"
            );
            let _ = self.close(device_id, name);
        }
        held
    }

    /// The provider closed the phone itself (PHONE_CLOSE) or it was removed.
    pub(crate) fn forget(&self, device_id: u32) {
        if let Some(opened) = lock(&self.open).remove(&device_id) {
            // TAPI's side of a PHONE_CLOSE: the handle is closed, with success.
            let _ = self.provider.close(opened.handle);
        }
    }

    /// Binds a phone that arrived (PHONE_CREATE's temporary id) to the next
    /// device id; returns it.
    pub(crate) fn create(&self, temp_id: usize) -> Result<u32, PhoneError> {
        let next = self
            .provider
            .devices()
            .iter()
            .filter_map(|d| d.id)
            .max()
            .map_or(0, |id| id + 1);
        self.provider.create_phone_device(temp_id, next)?;
        Ok(next)
    }

    /// Closes every phone (completing what is outstanding), waits up to
    /// `patience` for the method calls to reply, and shuts the host down.
    pub(crate) fn shutdown(&self, patience: Duration) {
        let held: Vec<(u32, String)> = lock(&self.open)
            .iter()
            .map(|(id, o)| (*id, o.owner.clone()))
            .collect();
        for (device_id, owner) in held {
            let _ = self.close(device_id, &owner);
        }
        let deadline = Instant::now() + patience;
        while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.provider.shutdown();
    }
}
