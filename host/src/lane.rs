//! The callback lane: every call into TAPI goes through here.
//!
//! Never two callbacks at once; in the order they were submitted (so per phone
//! too); no lock held while TAPI runs. Whoever submits while nobody is delivering
//! becomes the deliverer and drains the queue; a submission made while a delivery
//! is running (another thread, or TAPI calling back into the provider from inside a
//! callback) is queued and delivered by the thread already in the lane before it
//! leaves. Nothing is ever delivered for a phone after its close returned, nor at
//! all after the last shutdown.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

thread_local! {
    /// Whether this thread is the one delivering (cheaper than comparing thread ids).
    static DELIVERING: Cell<bool> = const { Cell::new(false) };
}

fn delivering_here() -> bool {
    DELIVERING.with(Cell::get)
}

use crate::tapi::{CompletionProc, EventProc};

/// One call into TAPI.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Delivery {
    /// `ASYNC_COMPLETION(request_id, result)`.
    Completion {
        proc_: CompletionProc,
        request_id: u32,
        result: i32,
        phone: u64,
    },
    /// `PHONEEVENT(ht_phone, msg, p1, p2, p3)`.
    Event {
        proc_: EventProc,
        ht_phone: usize,
        msg: u32,
        params: [usize; 3],
        phone: u64,
    },
}

impl Delivery {
    fn phone(&self) -> u64 {
        match self {
            Self::Completion { phone, .. } | Self::Event { phone, .. } => *phone,
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Delivery>,
    /// Whether some thread is delivering now.
    delivering: bool,
    /// The phone whose delivery is running now.
    in_flight: Option<u64>,
    /// Phones whose events are dropped (closing or closed).
    silenced: Vec<u64>,
    /// Set at the last shutdown: nothing is delivered.
    stopped: bool,
    /// Threads waiting for the lane to go idle (only they need waking).
    waiters: usize,
}

/// The lane.
#[derive(Default)]
pub(crate) struct Lane {
    state: Mutex<State>,
    idle: Condvar,
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the lane (at provider init).
    pub(crate) fn start(&self) {
        let mut state = self.lock();
        state.stopped = false;
        state.silenced.clear();
    }

    /// Queues a delivery and, unless someone is delivering, delivers everything.
    pub(crate) fn submit(&self, delivery: Delivery) {
        let mut state = self.lock();
        if state.stopped {
            return;
        }
        state.queue.push_back(delivery);
        if state.delivering {
            return;
        }
        state.delivering = true;
        DELIVERING.with(|d| d.set(true));
        while let Some(next) = state.queue.pop_front() {
            let dropped =
                matches!(next, Delivery::Event { .. }) && state.silenced.contains(&next.phone());
            if dropped {
                continue;
            }
            state.in_flight = Some(next.phone());
            drop(state);
            deliver(next);
            state = self.lock();
            state.in_flight = None;
            if state.waiters > 0 {
                self.idle.notify_all();
            }
        }
        state.delivering = false;
        DELIVERING.with(|d| d.set(false));
        if state.waiters > 0 {
            self.idle.notify_all();
        }
    }

    /// From now on, events of `phone` are dropped (completions still go).
    pub(crate) fn silence(&self, phone: u64) {
        let mut state = self.lock();
        if !state.silenced.contains(&phone) {
            state.silenced.push(phone);
        }
    }

    /// Forgets a phone that is gone (its handle is never reused).
    pub(crate) fn forget(&self, phone: u64) {
        self.lock().silenced.retain(|p| *p != phone);
    }

    /// Waits until nothing of `phone` is queued or being delivered by another
    /// thread. Called on the thread already delivering (TAPI calling back from a
    /// callback), it returns at once: that thread delivers the rest when the
    /// callback returns.
    pub(crate) fn flush(&self, phone: u64) {
        if delivering_here() {
            return;
        }
        let mut state = self.lock();
        loop {
            let busy =
                state.in_flight == Some(phone) || state.queue.iter().any(|d| d.phone() == phone);
            if !busy || !state.delivering {
                return;
            }
            state.waiters += 1;
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiters -= 1;
        }
    }

    /// Stops the lane: what is queued is dropped, nothing more is delivered. Waits
    /// for a delivery running on another thread.
    pub(crate) fn stop(&self) {
        let here = delivering_here();
        let mut state = self.lock();
        state.stopped = true;
        state.queue.clear();
        while state.delivering && !here {
            state.waiters += 1;
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiters -= 1;
        }
    }
}

fn deliver(delivery: Delivery) {
    match delivery {
        Delivery::Completion {
            proc_,
            request_id,
            result,
            ..
        } => proc_.call(request_id, result),
        Delivery::Event {
            proc_,
            ht_phone,
            msg,
            params,
            ..
        } => proc_.call(ht_phone, msg, params),
    }
}
