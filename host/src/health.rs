//! Whether an open phone's device is there: synchronous driver calls within
//! their deadline, misses counted, devices away and back.
//!
//! A device is away when its driver says so (`Disconnected` … `Connected`) or
//! when the host declares it, after `misses` driver calls in a row missed their
//! deadline. A declared absence ends at the first driver call that answers in
//! time: a synchronous call, a completion, or the host's own probe
//! (`get_status`, first after [`FIRST_PROBE`], then at doubling intervals up to
//! [`LAST_PROBE`]), so a driver that was merely slow comes back by itself with
//! PHONE_STATE(CONNECTED). Away, the phone refuses requests except DevSpecific,
//! the requests it had outstanding or queued complete with an error, and the
//! buttons that were down get their UP.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tsp_core::{PhoneCaps, PhoneError, PhoneStates};

use crate::deadline::{Failed, Missed};
use crate::gate::Refused;
use crate::phone::{AWAY, DECLARED_AWAY, Op, PRESENT, Phone, PhoneHandle};
use crate::provider::{ConfiguredDriver, Due, Provider};
use crate::requests::{Stage, Token};

/// The first probe of a device the host declared away.
const FIRST_PROBE: Duration = Duration::from_millis(500);
/// The longest interval between probes.
const LAST_PROBE: Duration = Duration::from_secs(30);

impl Provider {
    /// Runs a synchronous driver call off TAPI's thread, within the phone's
    /// deadline: past it, `OPERATIONFAILED` (the call goes on and is forgotten,
    /// and until it returns the phone's later calls fail at once).
    pub(crate) fn sync_call<T: Send + 'static>(
        &self,
        phone: &Arc<Phone>,
        call: impl FnOnce(&Phone) -> Result<T, PhoneError> + Send + 'static,
    ) -> Result<T, PhoneError> {
        let owned = Arc::clone(phone);
        let answer =
            self.shared
                .executor
                .call_through(&phone.calls, phone.limits.call, move || call(&owned));
        match answer {
            Ok(result) => {
                self.answered(phone);
                result
            }
            Err(Failed::Refused(Refused::Closed)) => Err(PhoneError::InvalPhoneHandle),
            Err(Failed::Refused(Refused::Stuck)) => {
                tracing::warn!(
                    handle = phone.handle,
                    "an earlier call is stuck in the driver"
                );
                self.missed(phone);
                Err(PhoneError::OperationFailed)
            }
            Err(Failed::Missed(Missed::Deadline)) => {
                tracing::warn!(handle = phone.handle, "driver call past its deadline");
                self.missed(phone);
                Err(PhoneError::OperationFailed)
            }
            Err(Failed::Missed(Missed::NoThread)) => Err(PhoneError::OperationFailed),
        }
    }

    /// Counts a missed deadline; enough in a row and the host declares the device
    /// away.
    pub(crate) fn missed(&self, phone: &Arc<Phone>) {
        let misses = phone.misses.fetch_add(1, Ordering::AcqRel) + 1;
        if misses >= phone.limits.misses && !phone.is_disconnected() {
            tracing::warn!(
                handle = phone.handle,
                misses,
                "the device keeps missing deadlines: disconnected"
            );
            self.set_presence(phone, false, true);
        }
    }

    /// The driver answered in time: the misses start over, and an absence the
    /// host declared ends.
    pub(crate) fn answered(&self, phone: &Arc<Phone>) {
        phone.misses.store(0, Ordering::Release);
        if phone.presence.load(Ordering::Acquire) == DECLARED_AWAY {
            tracing::info!(handle = phone.handle, "the device answers again");
            self.set_presence(phone, true, true);
        }
    }

    /// The device went away (`connected` false) or came back, as its driver
    /// reported (`by_host` false) or as the host concluded. Only a change is
    /// told to TAPI. An absence the driver reported is ended only by the
    /// driver.
    pub(crate) fn set_presence(&self, phone: &Arc<Phone>, connected: bool, by_host: bool) {
        // Held from the change until its message is queued: TAPI hears the
        // changes in the order they happened, whichever threads make them.
        let order = phone.presence_order();
        let presence = &phone.presence;
        let before = match (connected, by_host) {
            // The host ends only its own conclusion.
            (true, true) => match presence.compare_exchange(
                DECLARED_AWAY,
                PRESENT,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(before) => before,
                Err(_) => return,
            },
            (true, false) => presence.swap(PRESENT, Ordering::AcqRel),
            // The host concludes only about a device it thought present.
            (false, true) => {
                match presence.compare_exchange(
                    PRESENT,
                    DECLARED_AWAY,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(before) => before,
                    Err(_) => return,
                }
            }
            // The driver's word replaces the host's conclusion (no probing then).
            (false, false) => presence.swap(AWAY, Ordering::AcqRel),
        };
        if connected {
            if before != PRESENT {
                self.notify_state_holding(phone, PhoneStates::CONNECTED, order);
            }
            return;
        }
        if before != PRESENT {
            return;
        }
        self.notify_state_holding(phone, PhoneStates::DISCONNECTED, order);
        // Back already (another thread)? Then what it accepted since stays.
        if phone.presence.load(Ordering::Acquire) != PRESENT {
            self.fail_outstanding(phone);
            self.release_all(phone);
        }
        if by_host {
            phone
                .probe_backoff_ms
                .store(FIRST_PROBE.as_millis() as u64, Ordering::Release);
            self.arm(Instant::now() + FIRST_PROBE, Due::Probe(phone.handle));
        }
    }

    /// A device away: its outstanding requests and those queued behind them
    /// complete with an error, except queued DevSpecific requests (a vendor
    /// command may be what brings it back), which the queue then runs.
    fn fail_outstanding(&self, phone: &Arc<Phone>) {
        let running: Vec<Token> = {
            let requests = self.table();
            let mut all = requests.of_phone(phone.handle);
            all.retain(|t| requests.stage(*t) == Some(Stage::Running));
            all
        };
        for token in running {
            self.finish(token, Err(PhoneError::OperationFailed));
        }
        let refused = phone
            .queue
            .withdraw_where(|op| !matches!(op, Op::DevSpecific { .. }));
        for token in refused {
            self.finish(token, Err(PhoneError::OperationFailed));
        }
        // What ran is finished: the queue must move on, or it waits for good.
        self.start_next(phone);
    }

    /// The host's probe of a device it declared away: `get_status` as a
    /// synchronous call, from a call thread (the timer's thread never waits); an
    /// answer in time brings the device back, otherwise the next probe is armed,
    /// twice as far away.
    pub(crate) fn probe(&self, handle: PhoneHandle) {
        let Ok(phone) = self.phone(handle) else {
            return;
        };
        if phone.presence.load(Ordering::Acquire) != DECLARED_AWAY {
            return;
        }
        let provider = self.clone();
        let owned = Arc::clone(&phone);
        let spawned = self.shared.executor.spawn(move || {
            let answer = provider.sync_call(&owned, |phone| phone.session.get_status());
            if answer.is_err() && owned.presence.load(Ordering::Acquire) == DECLARED_AWAY {
                provider.next_probe(&owned);
            }
        });
        if spawned.is_err() {
            self.next_probe(&phone);
        }
    }

    fn next_probe(&self, phone: &Phone) {
        let last = phone.probe_backoff_ms.load(Ordering::Acquire);
        let next = (last.saturating_mul(2)).min(LAST_PROBE.as_millis() as u64);
        phone.probe_backoff_ms.store(next, Ordering::Release);
        self.arm(
            Instant::now() + Duration::from_millis(next),
            Due::Probe(phone.handle),
        );
    }

    /// The driver serving device `index`, and the device's key.
    pub(crate) fn driver_of(&self, index: usize) -> Option<(Arc<ConfiguredDriver>, String)> {
        let state = self.state();
        let device = state.devices.get(index)?;
        let driver = state.drivers.get(device.driver_index)?;
        Some((Arc::clone(driver), device.key.clone()))
    }

    /// New caps for device `index`, for GetDevCaps.
    pub(crate) fn update_caps(&self, index: usize, caps: &PhoneCaps) {
        if let Some(device) = self.state().devices.get_mut(index) {
            device.caps = caps.clone();
        }
    }
}
