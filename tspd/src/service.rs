//! The host tspd embeds, and who owns which phone.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tsp_core::{ButtonModes, ButtonStates, PhoneError};
use tsp_host::{Device, Host, PhoneHandle};

use crate::callbacks::{Callbacks, Completion, Event, Events};

/// Why a request on the bus failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A `PHONEERR_*` from the host or the driver.
    Phone(PhoneError),
    /// Another client owns the phone.
    AccessDenied(String),
    /// tspd is running as many calls as it will at once.
    LimitsExceeded,
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
    /// The `htPhone` this open gave the host: its events carry it.
    ht: usize,
    owner: String,
    explicit: bool,
    borrowed: u32,
}

/// What the end of a call made on `handle` does to an open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Nothing: the call was on an open that has ended since.
    Other,
    /// One hold fewer; the phone stays open.
    Kept,
    /// The phone closes: the last call on a phone opened for calls alone.
    Closes,
}

fn end_of_call(opened: &Opened, handle: PhoneHandle) -> Ending {
    if opened.handle != handle {
        Ending::Other
    } else if opened.borrowed <= 1 && !opened.explicit {
        Ending::Closes
    } else if opened.borrowed == 0 {
        // An explicit open whose count is already 0 (never below).
        Ending::Other
    } else {
        Ending::Kept
    }
}

/// A phone in the table of held phones: being opened (the driver's open runs
/// without the table's lock) or open.
#[derive(Debug, Clone)]
enum Slot {
    Opening { owner: String, ht: usize },
    Opened(Opened),
}

/// How many departed clients tspd remembers, so that a call of a client that
/// left while it was queued or opening does not leave a phone held by nobody.
const DEPARTED: usize = 4096;

/// The most method calls in progress at once; beyond it a call is answered
/// `LimitsExceeded` at once, so a flooding client costs bounded memory.
pub(crate) const MAX_CALLS: usize = 1024;

/// The most calls one client may have in progress at once: fewer than the call
/// threads, so one client cannot take them all.
pub(crate) const MAX_CALLS_PER_CLIENT: usize = 16;

/// The host and the phones clients hold.
pub(crate) struct Service {
    host: Host,
    /// Where the host's completions and events land.
    callbacks: Arc<Callbacks>,
    open: Mutex<HashMap<u32, Slot>>,
    /// Signalled when an open ends, for calls waiting on that phone.
    settled: Condvar,
    disconnected: Mutex<Vec<u32>>,
    in_flight: AtomicUsize,
    per_client: Mutex<HashMap<String, usize>>,
    /// Clients that left the bus, newest last (taken after `open`, never before).
    departed: Mutex<VecDeque<String>>,
    /// The next `htPhone`: each open has its own, so a late event of an open
    /// that ended never reaches the next holder.
    next_ht: AtomicUsize,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

/// Counts a method call until it has replied, so shutdown can wait for replies
/// and no client has more than [`MAX_CALLS_PER_CLIENT`] at once.
pub(crate) struct InFlight<'a> {
    service: &'a Service,
    caller: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.service.in_flight.fetch_sub(1, Ordering::AcqRel);
        let mut per_client = lock(&self.service.per_client);
        if let Some(count) = per_client.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&self.caller);
            }
        }
    }
}

impl Service {
    /// Starts the host as TAPISRV does: negotiation, enumeration, init. Its
    /// events wait for [`Service::events`] from the start.
    pub(crate) fn start(config: Option<PathBuf>, plugins: Option<PathBuf>) -> Result<Self, String> {
        let callbacks = Arc::new(Callbacks::new());
        let mut builder = Host::builder().driver(tsp_driver_mock::tsp_driver_module());
        if let Some(config) = config {
            builder = builder.config_file(config);
        }
        if let Some(plugins) = plugins {
            builder = builder.plugins(plugins);
        }
        let completions = Arc::clone(&callbacks);
        let events = Arc::clone(&callbacks);
        let host = builder
            .on_completion(move |request_id, result| completions.complete(request_id, result))
            .on_event(move |tag, message| events.push(Event { tag, message }))
            .start()
            .map_err(|e| format!("the provider did not start: {e}"))?;
        Ok(Self {
            host,
            callbacks,
            open: Mutex::default(),
            settled: Condvar::new(),
            disconnected: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            per_client: Mutex::default(),
            departed: Mutex::default(),
            next_ht: AtomicUsize::new(1),
        })
    }

    /// Marks a call of `caller` in progress until the guard drops; refused
    /// with `LimitsExceeded` when [`MAX_CALLS`] are in progress, or
    /// [`MAX_CALLS_PER_CLIENT`] of this caller's: a client flooding requests is
    /// refused, the others are still served.
    pub(crate) fn call(&self, caller: &str) -> Result<InFlight<'_>, Fault> {
        let mut per_client = lock(&self.per_client);
        let mine = per_client.entry(caller.to_owned()).or_insert(0);
        *mine += 1;
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let too_many = *mine > MAX_CALLS_PER_CLIENT || before >= MAX_CALLS;
        drop(per_client);
        let call = InFlight {
            service: self,
            caller: caller.to_owned(),
        };
        if too_many {
            return Err(Fault::LimitsExceeded);
        }
        Ok(call)
    }

    /// The host's events, for the one thread that signals them; they end once
    /// [`Service::shutdown`] has run.
    pub(crate) fn events(&self) -> Events {
        self.callbacks.events()
    }

    /// The phones present, with their device ids.
    pub(crate) fn phones(&self) -> Vec<(u32, Device)> {
        self.host
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

    /// The client that holds the phone, if one does. Never waits for a driver:
    /// property getters run on the bus's executor.
    pub(crate) fn owner(&self, device_id: u32) -> Option<String> {
        match lock(&self.open).get(&device_id) {
            Some(Slot::Opened(opened)) => Some(opened.owner.clone()),
            Some(Slot::Opening { .. }) | None => None,
        }
    }

    /// The device and the client of the open whose events carry `ht`; `None`
    /// once that open has ended (its late events go nowhere).
    pub(crate) fn open_of(&self, ht: usize) -> Option<(u32, String)> {
        lock(&self.open).iter().find_map(|(id, slot)| match slot {
            Slot::Opening { owner, ht: h } if *h == ht => Some((*id, owner.clone())),
            Slot::Opened(o) if o.ht == ht => Some((*id, o.owner.clone())),
            _ => None,
        })
    }

    /// Whether `client` has left the bus. Called with `open` held.
    fn has_departed(&self, client: &str) -> bool {
        lock(&self.departed).iter().any(|name| name == client)
    }

    /// The held phones once no open of `device_id` is in progress.
    fn settled(&self, device_id: u32) -> MutexGuard<'_, HashMap<u32, Slot>> {
        let mut open = lock(&self.open);
        while let Some(Slot::Opening { .. }) = open.get(&device_id) {
            open = self.settled.wait(open).unwrap_or_else(|e| e.into_inner());
        }
        open
    }

    /// The size of data area `data_id` of GetData, if the phone has it.
    pub(crate) fn get_data_area(&self, device_id: u32, data_id: u32) -> Option<usize> {
        let device = self.device(device_id).ok()?;
        let area = *device.caps.get_data.get(data_id as usize)?;
        Some(area as usize)
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

    fn open_for(&self, device_id: u32, ht: usize) -> Result<PhoneHandle, Fault> {
        let device = self.device(device_id)?;
        let handle = self.host.open(device_id, ht)?;
        let both = ButtonStates::UP | ButtonStates::DOWN;
        let states = device.caps.phone_states;
        if let Err(error) = self
            .host
            .set_status_messages(handle, states, ButtonModes::all(), both)
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

    /// Takes the phone for `caller`, by `Open` or for one call. The driver's
    /// open runs without the table's lock, so getters (`Owner`) answer while it
    /// does; other calls on that phone wait for it to end.
    fn hold(&self, device_id: u32, caller: &str, how: Hold) -> Result<PhoneHandle, Fault> {
        let mut open = self.settled(device_id);
        match (open.get_mut(&device_id), how) {
            (Some(Slot::Opened(opened)), Hold::Open) if opened.owner == caller => {
                opened.explicit = true;
                Ok(opened.handle)
            }
            (Some(Slot::Opened(opened)), Hold::Borrow) if opened.owner == caller => {
                opened.borrowed += 1;
                Ok(opened.handle)
            }
            (Some(_), Hold::Open) => Err(Fault::Phone(PhoneError::Allocated)),
            (Some(Slot::Opened(opened)), Hold::Borrow) => Err(Fault::AccessDenied(format!(
                "phone {device_id} is open by {}; only it may use the phone until it closes",
                opened.owner
            ))),
            (Some(Slot::Opening { .. }), Hold::Borrow) => Err(Fault::Phone(PhoneError::Allocated)),
            (None, _) if self.has_departed(caller) => {
                Err(Fault::Phone(PhoneError::OperationFailed))
            }
            (None, how) => {
                let ht = self.next_ht.fetch_add(1, Ordering::Relaxed);
                let owner = caller.to_owned();
                open.insert(device_id, Slot::Opening { owner, ht });
                drop(open);
                // A panic (a bug) must not leave the phone opening for ever.
                let opened = catch_unwind(AssertUnwindSafe(|| self.open_for(device_id, ht)))
                    .unwrap_or(Err(Fault::Phone(PhoneError::OperationFailed)));
                let mut open = lock(&self.open);
                // The caller may have left while the driver opened: client_gone
                // did not see this phone, so it is closed here.
                let gone = self.has_departed(caller);
                let (result, orphan) = match opened {
                    Ok(handle) if !gone => {
                        let opened = Opened {
                            handle,
                            ht,
                            owner: caller.to_owned(),
                            explicit: how == Hold::Open,
                            borrowed: u32::from(how == Hold::Borrow),
                        };
                        open.insert(device_id, Slot::Opened(opened));
                        tracing::debug!(device_id, caller, ?how, "opened");
                        (Ok(handle), None)
                    }
                    Ok(handle) => {
                        open.remove(&device_id);
                        tracing::info!(device_id, caller, "the client left during its open");
                        (Err(Fault::Phone(PhoneError::OperationFailed)), Some(handle))
                    }
                    Err(fault) => {
                        open.remove(&device_id);
                        (Err(fault), None)
                    }
                };
                drop(open);
                self.settled.notify_all();
                if let Some(handle) = orphan {
                    let _ = self.host.close(handle);
                }
                result
            }
        }
    }

    /// Removes `caller`'s phone from the table if `keep` says it is done with
    /// it, and returns its handle to close.
    fn take_if(
        &self,
        device_id: u32,
        caller: &str,
        done: impl FnOnce(&mut Opened) -> bool,
    ) -> Option<PhoneHandle> {
        let mut open = self.settled(device_id);
        let Some(Slot::Opened(opened)) = open.get_mut(&device_id) else {
            return None;
        };
        if opened.owner != caller || !done(opened) {
            return None;
        }
        let handle = opened.handle;
        open.remove(&device_id);
        Some(handle)
    }

    /// Ends a call of `caller` made on `handle`; a phone opened only for calls
    /// closes with the last. A call on an open that has ended since changes
    /// nothing (not the next open's count).
    pub(crate) fn release(&self, device_id: u32, caller: &str, handle: PhoneHandle) {
        let closing = self.take_if(device_id, caller, |opened| {
            match end_of_call(opened, handle) {
                Ending::Other => false,
                Ending::Kept => {
                    opened.borrowed -= 1;
                    false
                }
                Ending::Closes => true,
            }
        });
        if let Some(handle) = closing {
            let _ = self.host.close(handle);
        }
    }

    /// `release` where it ends without the host: whether it did. Not when it
    /// is the last call on a phone opened only for calls (then the phone
    /// closes: `release`, off the executor). Never waits: a device being
    /// opened is not this call's open (its handle would be new), so there is
    /// nothing to release.
    pub(crate) fn release_at_once(
        &self,
        device_id: u32,
        caller: &str,
        handle: PhoneHandle,
    ) -> bool {
        let mut open = lock(&self.open);
        let Some(Slot::Opened(opened)) = open.get_mut(&device_id) else {
            return true;
        };
        if opened.owner != caller {
            return true;
        }
        match end_of_call(opened, handle) {
            Ending::Other => true,
            Ending::Kept => {
                opened.borrowed -= 1;
                true
            }
            Ending::Closes => false,
        }
    }

    /// Closes a phone `caller` holds: its requests complete first.
    pub(crate) fn close(&self, device_id: u32, caller: &str) -> Result<(), Fault> {
        let Some(handle) = self.take_if(device_id, caller, |_| true) else {
            let owner = self.owner(device_id);
            if let Some(owner) = owner.filter(|owner| owner != caller) {
                return Err(Fault::AccessDenied(format!(
                    "phone {device_id} is open by {owner}, not by you"
                )));
            }
            self.device(device_id)?;
            return Err(Fault::Phone(PhoneError::InvalPhoneHandle));
        };
        self.host.close(handle)?;
        tracing::info!(device_id, caller, "closed");
        Ok(())
    }

    /// Starts an asynchronous request for `caller`; the receiver gets its
    /// completion's result. Call [`Service::release`] once it has completed.
    pub(crate) fn request(
        &self,
        device_id: u32,
        caller: &str,
        start: impl FnOnce(&Host, u32, PhoneHandle) -> Result<u32, PhoneError>,
    ) -> Result<(PhoneHandle, async_channel::Receiver<Completion>), Fault> {
        let handle = self.acquire(device_id, caller)?;
        let (request_id, completion) = self.callbacks.new_request(&self.host);
        if let Err(error) = start(&self.host, request_id, handle) {
            self.callbacks.forget(request_id);
            self.release(device_id, caller, handle);
            return Err(Fault::Phone(error));
        }
        Ok((handle, completion))
    }

    /// Runs a synchronous function for `caller`.
    pub(crate) fn query<T>(
        &self,
        device_id: u32,
        caller: &str,
        query: impl FnOnce(&Host, PhoneHandle) -> Result<T, PhoneError>,
    ) -> Result<T, Fault> {
        let handle = self.acquire(device_id, caller)?;
        let result = query(&self.host, handle);
        self.release(device_id, caller, handle);
        Ok(result?)
    }

    /// A client left the bus: the phones it held are closed, their requests
    /// completed, nothing stays reserved. Returns their device ids.
    pub(crate) fn client_gone(&self, name: &str) -> Vec<u32> {
        let held: Vec<u32> = {
            let open = lock(&self.open);
            // Under `open`: an open of this client that ends after this sees
            // it departed; one that ended before is in the table below.
            let mut departed = lock(&self.departed);
            if departed.len() >= DEPARTED {
                departed.pop_front();
            }
            departed.push_back(name.to_owned());
            drop(departed);
            open.iter()
                .filter(|(_, slot)| matches!(slot, Slot::Opened(o) if o.owner == name))
                .map(|(id, _)| *id)
                .collect()
        };
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

    /// The provider closed the open `ht` itself (PHONE_CLOSE).
    pub(crate) fn forget_open(&self, device_id: u32, ht: usize) {
        let mut open = self.settled(device_id);
        if !matches!(open.get(&device_id), Some(Slot::Opened(o)) if o.ht == ht) {
            return;
        }
        let slot = open.remove(&device_id);
        drop(open);
        if let Some(Slot::Opened(opened)) = slot {
            // TAPI's side of a PHONE_CLOSE: the handle is closed, with success.
            let _ = self.host.close(opened.handle);
        }
    }

    /// The phone was removed: whoever held it holds nothing.
    pub(crate) fn forget(&self, device_id: u32) {
        let slot = self.settled(device_id).remove(&device_id);
        if let Some(Slot::Opened(opened)) = slot {
            // TAPI's side of a PHONE_CLOSE: the handle is closed, with success.
            let _ = self.host.close(opened.handle);
        }
    }

    /// Binds a phone that arrived (PHONE_CREATE's temporary id) to the next
    /// device id; returns it.
    pub(crate) fn create(&self, temp_id: usize) -> Result<u32, PhoneError> {
        let next = self
            .host
            .devices()
            .iter()
            .filter_map(|d| d.id)
            .max()
            .map_or(0, |id| id + 1);
        self.host.create_phone_device(temp_id, next)?;
        Ok(next)
    }

    /// Closes every phone (completing what is outstanding), waits up to
    /// `patience` for the method calls to reply, shuts the host down and ends
    /// the events once the host has delivered its last.
    pub(crate) fn shutdown(&self, patience: Duration) {
        let held: Vec<(u32, String)> = lock(&self.open)
            .iter()
            .filter_map(|(id, slot)| match slot {
                Slot::Opened(o) => Some((*id, o.owner.clone())),
                Slot::Opening { .. } => None,
            })
            .collect();
        for (device_id, owner) in held {
            let _ = self.close(device_id, &owner);
        }
        let deadline = Instant::now() + patience;
        while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.host.shutdown();
        self.callbacks.end_events();
    }
}
