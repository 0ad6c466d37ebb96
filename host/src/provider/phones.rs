//! Phones: open and close (close waits for a phone's requests, then cancels
//! what is left), and the synchronous calls on an open phone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tsp_core::{PhoneError, PhoneStates, PhoneStatus, Written};

use crate::deadline::{Failed, Missed};
use crate::phone::{Filter, Phone, PhoneHandle};
use crate::requests::Token;
use crate::tapi::EventProc;

use super::{ConfiguredDriver, Device, Provider, lock};

/// How long close waits for a driver to complete what it cancelled before the host
/// completes the rest itself.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

impl Provider {
    /// `TSPI_phoneOpen`: reserves the device through its driver and returns the
    /// handle. On failure nothing is reserved and no handle exists.
    pub fn open(
        &self,
        device_id: u32,
        ht_phone: usize,
        version: u32,
        event_proc: EventProc,
    ) -> Result<PhoneHandle, PhoneError> {
        let (index, device) = self.device_index(device_id)?;
        let version = Self::check_version(version)?;
        let driver = self
            .state()
            .drivers
            .get(device.driver_index)
            .cloned()
            .ok_or(PhoneError::NoDriver)?;
        let handle = lock(&self.shared.phones).reserve(index)?;
        let opened = self.open_session(&driver, &device, handle);
        let (session, ring) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                lock(&self.shared.phones).release(handle);
                tracing::info!(device_id, "open refused: {error:?}");
                return Err(error);
            }
        };
        let phone = Arc::new(Phone {
            handle,
            device: index,
            ht_phone,
            event_proc,
            version,
            caps: std::sync::RwLock::new(crate::phone::CapsNow::new(device.caps)),
            session,
            serial: !driver.concurrent,
            filter: Mutex::default(),
            queue: Default::default(),
            presence: Default::default(),
            presence_order: Mutex::default(),
            probe_backoff_ms: Default::default(),
            closing: Default::default(),
            in_calls: Default::default(),
            abandoned: Default::default(),
            completes_inline: AtomicBool::new(true),
            limits: driver.limits,
            misses: Default::default(),
            calls: Arc::default(),
            pressed: Mutex::default(),
            caps_reading: Default::default(),
            ring: Mutex::new(ring),
        });
        // Published under the state lock, after checking the device is still
        // there: a removal marks it gone under that lock before it looks for its
        // phone, so either it finds this phone or this open sees it gone.
        let state = self.state();
        if !state.devices.get(index).is_some_and(|d| d.present) {
            drop(state);
            lock(&self.shared.phones).release(handle);
            self.session_call(&phone, "close", |session| session.close());
            tracing::info!(
                device_id,
                "the device was removed while it was being opened"
            );
            return Err(PhoneError::NoDevice);
        }
        self.shared.lane.admit(handle);
        lock(&self.shared.phones).publish(phone);
        drop(state);
        tracing::debug!(device_id, handle, %version, "phone opened");
        Ok(handle)
    }

    /// Opens the driver's session within the driver's deadline, off TAPI's
    /// thread (opening may talk to the device), with the ring state events are
    /// compared with. A session that arrives too late is dropped, which releases
    /// it; while such an open is stuck in the driver, opens of the device fail
    /// at once.
    pub(super) fn open_session(
        &self,
        driver: &Arc<ConfiguredDriver>,
        device: &Device,
        handle: PhoneHandle,
    ) -> Result<(tsp_plugin_sdk::host::OpenSession, Option<(u32, u32)>), PhoneError> {
        let opener = Arc::clone(driver);
        let key = device.key.clone();
        let opened =
            self.shared
                .executor
                .call_through(&device.opens, driver.limits.call, move || {
                    let session = opener.loaded.open(&key, handle)?;
                    let ring = session.get_ring().ok();
                    Ok::<_, tsp_plugin_sdk::DriverError>((session, ring))
                });
        match opened {
            Ok(Ok(opened)) => Ok(opened),
            Ok(Err(error)) => {
                tracing::info!(key = device.key, "the driver refused the open: {error}");
                Err(error.code)
            }
            Err(Failed::Refused(_)) => {
                tracing::warn!(key = device.key, "an earlier open is stuck in the driver");
                Err(PhoneError::OperationFailed)
            }
            Err(Failed::Missed(missed)) => {
                tracing::warn!(key = device.key, ?missed, "open past its deadline");
                Err(PhoneError::OperationFailed)
            }
        }
    }

    pub(crate) fn phone(&self, handle: PhoneHandle) -> Result<Arc<Phone>, PhoneError> {
        lock(&self.shared.phones)
            .get(handle)
            .ok_or(PhoneError::InvalPhoneHandle)
    }

    /// `TSPI_phoneClose`: refuses new requests, cancels, delivers every completion,
    /// releases the reservation, then returns. Nothing of the phone is delivered
    /// after it returns (called from inside a TAPI callback, the completions follow
    /// as soon as that callback returns: the lane never nests callbacks). A phone
    /// the provider closed itself (PHONE_CLOSE) is forgotten, with success, once
    /// that closing is done (its completions and PHONE_CLOSE delivered).
    pub fn close(&self, handle: PhoneHandle) -> Result<(), PhoneError> {
        let phone = {
            let mut phones = lock(&self.shared.phones);
            if let Some(done) = phones.forget_force_closed(handle) {
                drop(phones);
                // From inside a callback the removal may be waiting for this very
                // thread to deliver; what is left follows when the callback returns.
                if !self.shared.lane.delivering_here() {
                    done.wait();
                    self.shared.lane.flush(handle);
                }
                return Ok(());
            }
            phones.take(handle).ok_or(PhoneError::InvalPhoneHandle)?
        };
        self.shut_phone(phone);
        Ok(())
    }

    /// Everything close does once the phone is out of the table: no new request
    /// or call gets in, queued requests fail, the driver's calls in flight end
    /// (or pass their deadline), outstanding requests complete, every delivery
    /// of the phone is out, and the session closes.
    pub(crate) fn shut_phone(&self, phone: Arc<Phone>) {
        let handle = phone.handle;
        phone.closing.store(true, Ordering::SeqCst);
        self.shared.lane.silence(handle);
        phone.pressed().clear();
        for token in phone.queue.close() {
            self.finish(token, Err(PhoneError::OperationFailed));
        }
        phone.calls.close(phone.limits.call);
        self.session_call(&phone, "cancel", |session| session.cancel());
        // No longer than a request may take: past that the driver is late anyway.
        self.wait_for_requests(&phone, phone.limits.request.min(CLOSE_PATIENCE));
        self.shared.lane.flush(handle);
        self.session_call(&phone, "close", |session| session.close());
        tracing::debug!(handle, "phone closed");
    }

    /// Cancel or close of a session, within the phone's deadline: a driver stuck
    /// there does not keep TAPI's thread (the call goes on without it). Without a
    /// free call thread it runs here: skipping it would leak the reservation.
    pub(super) fn session_call(
        &self,
        phone: &Arc<Phone>,
        what: &'static str,
        call: fn(&tsp_plugin_sdk::host::OpenSession),
    ) {
        let owned = Arc::clone(phone);
        match self
            .shared
            .executor
            .call(phone.limits.call, move || call(&owned.session))
        {
            Ok(()) => {}
            Err(Missed::Deadline) => {
                tracing::warn!(handle = phone.handle, what, "the driver is stuck in {what}");
            }
            Err(Missed::NoThread) => call(&phone.session),
        }
    }

    /// Waits for the driver to complete the phone's requests; past the deadline the
    /// host completes them itself (a late completion from the driver finds nothing).
    /// Direct requests still in their driver call when it stops waiting are
    /// abandoned: they report by their return.
    pub(super) fn wait_for_requests(&self, phone: &Phone, patience: Duration) {
        let handle = phone.handle;
        let deadline = Instant::now() + patience;
        let mut requests = self.table();
        // Counted under the lock, before looking: a removal after this wakes us.
        self.shared.close_waiters.fetch_add(1, Ordering::SeqCst);
        let _counted = WaiterGuard(&self.shared.close_waiters);
        // A request whose driver call this thread is in (close from inside a
        // callback that call caused) cannot end before this returns, so
        // waiting for it would only wait out the patience. One in the table
        // is failed now; a direct one is abandoned below.
        let own = crate::direct::current();
        let own = (own.token != 0 && own.phone == handle && own.host == self.host_id())
            .then_some(own.token);
        let own_in_table = own.filter(|t| {
            !crate::direct::is_direct(*t)
                && requests.of_phone(handle).iter().any(|r| r.to_u64() == *t)
        });
        if let Some(own) = own_in_table {
            drop(requests);
            self.finish(Token::from_u64(own), Err(PhoneError::OperationFailed));
            requests = self.table();
        }
        let own_direct = usize::from(own.is_some_and(crate::direct::is_direct));
        loop {
            let left = requests.of_phone(handle);
            let in_calls = phone.in_calls.load(Ordering::SeqCst);
            let settled = left.is_empty()
                && in_calls <= own_direct
                && self.shared.in_transit.load(Ordering::Acquire) == 0;
            if settled {
                phone.abandoned.store(true, Ordering::SeqCst);
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                // Under the table's lock: a direct request whose call returns
                // now either went to the table before (and is in `left`) or
                // sees this.
                phone.abandoned.store(true, Ordering::SeqCst);
                drop(requests);
                tracing::warn!(
                    handle,
                    count = left.len(),
                    in_calls = in_calls - own_direct,
                    "the driver did not complete cancelled requests; completing them"
                );
                for token in left {
                    self.finish(token, Err(PhoneError::OperationFailed));
                }
                // A request's own deadline may fire at this very moment: its
                // completion, taken by the timer thread, must be in the lane
                // before close flushes it (seen in the fault matrix under load,
                // where both deadlines are 300 ms).
                self.wait_in_transit();
                return;
            }
            requests = self
                .shared
                .requests_changed
                .wait_timeout(requests, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// `TSPI_phoneGetData`.
    pub fn get_data(
        &self,
        handle: PhoneHandle,
        data_id: u32,
        buf: &mut [u8],
    ) -> Result<(), PhoneError> {
        let phone = self.phone(handle)?;
        let Some(&area) = phone.caps().get_data.get(data_id as usize) else {
            return Err(PhoneError::InvalDataId);
        };
        if phone.is_disconnected() {
            return Err(PhoneError::InvalPhoneState);
        }
        // TAPI's buffer may be far larger than the area: read (and allocate)
        // at most the area, and leave the rest of the buffer as it was.
        let size = buf.len().min(area as usize);
        let data = self.sync_call(&phone, move |phone| {
            let mut data = vec![0u8; size];
            phone.session.get_data(data_id, &mut data).map(|()| data)
        })?;
        buf[..size].copy_from_slice(&data);
        Ok(())
    }

    /// `TSPI_phoneGetStatus`: PHONESTATUS for the phone's version into `buf`.
    pub fn get_status(&self, handle: PhoneHandle, buf: &mut [u8]) -> Result<Written, PhoneError> {
        let phone = self.phone(handle)?;
        if buf.len() < PhoneStatus::fixed_size(phone.version) {
            return Err(PhoneError::StructureTooSmall);
        }
        let status = self.sync_call(&phone, |phone| phone.session.get_status())?;
        status.write(buf, phone.version)
    }

    /// `TSPI_phoneSetStatusMessages`.
    pub fn set_status_messages(
        &self,
        handle: PhoneHandle,
        states: u32,
        button_modes: u32,
        button_states: u32,
    ) -> Result<(), PhoneError> {
        let phone = self.phone(handle)?;
        let states = tsp_core::PhoneStates::from_bits(states).ok_or(PhoneError::InvalPhoneState)?;
        let modes =
            tsp_core::ButtonModes::from_bits(button_modes).ok_or(PhoneError::InvalButtonMode)?;
        // With no button modes, dwButtonStates is ignored (reference §5.6).
        let button_states = if modes.is_empty() {
            tsp_core::ButtonStates::empty()
        } else {
            let states = tsp_core::ButtonStates::from_bits(button_states)
                .ok_or(PhoneError::InvalButtonState)?;
            if states.is_empty() {
                return Err(PhoneError::InvalButtonState);
            }
            states
        };
        *phone.filter.lock().unwrap_or_else(|e| e.into_inner()) = Filter {
            states: states | PhoneStates::REINIT,
            button_modes: modes,
            button_states,
        };
        Ok(())
    }
}

/// Uncounts a close waiting for requests, however it leaves.
struct WaiterGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
