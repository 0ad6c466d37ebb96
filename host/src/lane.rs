//! The callback lane: every call into TAPI goes through here.
//!
//! Never two callbacks at once; in the order they were submitted (so per phone
//! too); no lock held while TAPI runs. Whoever submits while nobody is delivering
//! becomes the deliverer and drains the queue; a submission made while a delivery
//! is running (another thread, or TAPI calling back into the provider from inside a
//! callback) is queued and delivered by the thread already in the lane before it
//! leaves. Nothing is ever delivered for a phone after its close returned, nor at
//! all after the last shutdown.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;

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
    /// The thread delivering now, if any.
    deliverer: Option<ThreadId>,
    /// The phone whose delivery is running now.
    in_flight: Option<u64>,
    /// Phones whose events are dropped (closing or closed).
    silenced: Vec<u64>,
    /// Set at the last shutdown: nothing is delivered.
    stopped: bool,
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
        if state.deliverer.is_some() {
            return;
        }
        state.deliverer = Some(std::thread::current().id());
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
            self.idle.notify_all();
        }
        state.deliverer = None;
        self.idle.notify_all();
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
        let me = std::thread::current().id();
        let mut state = self.lock();
        loop {
            if state.deliverer == Some(me) {
                return;
            }
            let busy =
                state.in_flight == Some(phone) || state.queue.iter().any(|d| d.phone() == phone);
            if !busy || state.deliverer.is_none() {
                return;
            }
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops the lane: what is queued is dropped, nothing more is delivered. Waits
    /// for a delivery running on another thread.
    pub(crate) fn stop(&self) {
        let me = std::thread::current().id();
        let mut state = self.lock();
        state.stopped = true;
        state.queue.clear();
        while state.deliverer.is_some() && state.deliverer != Some(me) {
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
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
