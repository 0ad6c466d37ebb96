//! The gate of one phone's synchronous driver calls (and of one device's
//! opens): how many run, how many missed their deadline and are still in the
//! driver, and whether the phone is closing.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::sync::{AtomicU8, Condvar, Mutex, MutexGuard};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The synchronous calls of one phone: how many run, how many of those missed
/// their deadline and are still in the driver, and whether the phone is closing.
///
/// A phone with a call stuck past its deadline gets no further call threads: its
/// later calls fail at once (and count as misses), so one hung device costs one
/// thread, not the pool. Close waits for the calls in flight (up to their
/// deadline) before the session is closed, and none starts after.
#[derive(Debug, Default)]
pub(crate) struct CallGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    running: u32,
    overdue: u32,
    closed: bool,
}

/// Why the gate refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The phone is closing.
    Closed,
    /// An earlier call is still stuck in the driver.
    Stuck,
}

/// One call through the gate: its outcome shared by the waiter and the thread.
pub(crate) struct Pass {
    gate: Arc<CallGate>,
    /// 0 running, 1 returned, 2 abandoned by its waiter.
    stage: Arc<AtomicU8>,
}

const RUNNING: u8 = 0;
const RETURNED: u8 = 1;
const ABANDONED: u8 = 2;

impl CallGate {
    /// Lets one call in, unless the phone is closing or has a call stuck.
    pub(crate) fn enter(self: &Arc<Self>) -> Result<Pass, Refused> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(Refused::Closed);
        }
        if state.overdue > 0 {
            return Err(Refused::Stuck);
        }
        state.running += 1;
        Ok(Pass {
            gate: Arc::clone(self),
            stage: Arc::new(AtomicU8::new(RUNNING)),
        })
    }

    /// Closes the gate and waits, up to `patience`, for the calls in flight.
    pub(crate) fn close(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        let mut state = lock(&self.state);
        state.closed = true;
        while state.running > state.overdue {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("a driver call is still running as the phone closes");
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Pass {
    // Both sides change the call's stage under the gate's lock: an abandon
    // between the stage change and the count would otherwise let the return
    // uncount an overdue call not yet counted (found by the model checker).
    fn returned(&self) {
        let mut state = lock(&self.gate.state);
        let before = self.stage.swap(RETURNED, Ordering::AcqRel);
        state.running -= 1;
        if before == ABANDONED {
            state.overdue -= 1;
        }
        self.gate.changed.notify_all();
    }

    /// The waiter's side: the deadline passed first. False if the call returned
    /// meanwhile (its answer is there after all).
    pub(crate) fn abandon(&self) -> bool {
        let mut state = lock(&self.gate.state);
        let abandoned = self
            .stage
            .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if abandoned {
            state.overdue += 1;
            self.gate.changed.notify_all();
        }
        abandoned
    }

    /// The handle of the thread that runs the call: dropping it (the call
    /// returned, or the job never ran) ends the call at the gate.
    pub(crate) fn share(&self) -> OnThread {
        OnThread(Self {
            gate: Arc::clone(&self.gate),
            stage: Arc::clone(&self.stage),
        })
    }
}

/// See [`Pass::share`].
pub(crate) struct OnThread(Pass);

impl Drop for OnThread {
    fn drop(&mut self) {
        self.0.returned();
    }
}

#[cfg(all(test, not(feature = "model")))]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_call_closes_the_gate_to_later_calls_until_it_returns() {
        let gate = Arc::new(CallGate::default());
        let pass = gate.enter().expect("first call");
        let on_thread = pass.share();
        assert!(pass.abandon());
        assert_eq!(gate.enter().err(), Some(Refused::Stuck));
        drop(on_thread);
        let again = gate.enter().expect("the stuck call returned");
        drop(again.share());
        gate.close(Duration::ZERO);
        assert_eq!(gate.enter().err(), Some(Refused::Closed));
    }

    #[test]
    fn a_call_that_returned_is_not_abandoned() {
        let gate = Arc::new(CallGate::default());
        let pass = gate.enter().expect("call");
        drop(pass.share());
        assert!(!pass.abandon());
        assert!(gate.enter().is_ok(), "nothing is stuck");
    }
}
