//! The callback lane: every call into TAPI goes through here.
//!
//! Never two callbacks at once; in the order they were submitted (so per phone
//! too); no lock held while TAPI runs. Whoever submits while nobody is delivering
//! becomes the deliverer and drains the queue; a submission made while a delivery
//! is running (another thread, or TAPI calling back into the provider from inside a
//! callback) is queued and delivered by the thread already in the lane before it
//! leaves. Nothing is ever delivered for a phone after its close returned, nor at
//! all after the last shutdown.

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};

use std::sync::atomic::{AtomicBool, Ordering};

use crate::sync::{Condvar, Mutex, MutexGuard};

// The lanes this thread is delivering for, by address. Per lane, and all of
// them: a thread inside one host's callback may call into another host of the
// same process, whose callback may call back into the first: each lane must
// know the thread is (still) its deliverer, or its close would wait for a
// delivery further up the thread's own stack. The innermost is a `Cell`, read
// on every request; the outer ones, there only while lanes nest, a list.
#[cfg(not(feature = "model"))]
std::thread_local! {
    static DELIVERING: Cell<usize> = const { Cell::new(0) };
    static OUTER: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

#[cfg(feature = "model")]
loom::thread_local! {
    static DELIVERING: Cell<usize> = Cell::new(0);
    static OUTER: RefCell<Vec<usize>> = RefCell::new(Vec::new());
}

/// This thread delivers for `lane` while it lives. Unwinding (a panic that
/// escaped a callback's own guard) leaves the lane able to deliver again.
struct Delivering<'a> {
    lane: &'a Lane,
    /// The lane this thread delivered for before (0: none).
    outer: usize,
}

impl<'a> Delivering<'a> {
    fn begin(lane: &'a Lane) -> Self {
        let outer = DELIVERING.with(|d| d.replace(lane.id()));
        if outer != 0 {
            OUTER.with(|o| o.borrow_mut().push(outer));
        }
        Self { lane, outer }
    }
}

impl Drop for Delivering<'_> {
    fn drop(&mut self) {
        // Guards end in the reverse order they began: the last outer is ours.
        if self.outer != 0 {
            OUTER.with(|o| o.borrow_mut().pop());
        }
        DELIVERING.with(|d| d.set(self.outer));
        // A panic unwinds between deliveries, never with the lane's lock held.
        if std::thread::panicking() {
            let mut state = self.lane.lock();
            state.delivering = false;
            state.in_flight = None;
            self.lane.idle.notify_all();
        }
    }
}

use crate::tapi::{CompletionProc, EventProc};
use tsp_core::{PhoneMessage, PhoneStates};

/// One call into TAPI.
#[derive(Debug, Clone)]
pub(crate) enum Delivery {
    /// `ASYNC_COMPLETION(request_id, result)`.
    Completion {
        proc_: CompletionProc,
        request_id: u32,
        result: i32,
        phone: u64,
    },
    /// `PHONEEVENT(ht_phone, msg, p1, p2, p3)` of an open phone (dropped once its
    /// close began), or of the provider (`phone` 0: PHONE_CREATE, PHONE_REMOVE).
    Event {
        proc_: EventProc,
        ht_phone: usize,
        msg: u32,
        params: [usize; 3],
        phone: u64,
    },
    /// PHONE_CLOSE of a phone the provider closed itself: delivered although the
    /// phone is no longer open (it is the last word about it), flushed with it.
    Closed {
        proc_: EventProc,
        ht_phone: usize,
        phone: u64,
    },
}

impl Delivery {
    fn phone(&self) -> u64 {
        match self {
            Self::Completion { phone, .. }
            | Self::Event { phone, .. }
            | Self::Closed { phone, .. } => *phone,
        }
    }

    /// Whether the lane may drop it at its bound: an event of an open phone but
    /// a presence change (TAPI's view of the device must not go stale).
    fn may_be_dropped(&self) -> bool {
        let presence = (PhoneStates::CONNECTED | PhoneStates::DISCONNECTED).bits() as usize;
        match self {
            Self::Event {
                phone, msg, params, ..
            } => {
                let is_presence = *msg == PhoneMessage::State.code()
                    && params[0] != 0
                    && params[0] & !presence == 0;
                *phone != NO_PHONE && !is_presence
            }
            Self::Completion { .. } | Self::Closed { .. } => false,
        }
    }

    /// Whether this is an event of a phone that is not open (any more).
    fn is_stale(&self, open: &HashSet<u64>) -> bool {
        matches!(self, Self::Event { phone, .. } if *phone != NO_PHONE && !open.contains(phone))
    }
}

/// The tag of provider-wide deliveries (no phone).
pub(crate) const NO_PHONE: u64 = 0;

#[derive(Default)]
struct State {
    queue: VecDeque<Delivery>,
    /// Whether some thread is delivering now.
    delivering: bool,
    /// The phone whose delivery is running now.
    in_flight: Option<u64>,
    /// Phones whose events are delivered: open and not closing. Events of any
    /// other phone are dropped, so an event looked up before a close cannot reach
    /// TAPI after it (handles are never reused).
    open: HashSet<u64>,
    /// Set at the last shutdown: nothing is delivered.
    stopped: bool,
    /// Threads waiting for the lane to go idle (only they need waking).
    waiters: usize,
    /// Events dropped at the bound since the lane last ran dry.
    dropped: u64,
    /// TAPI's completion procedure, from the init that started the lane: read
    /// under the lock every submission takes anyway.
    completion: Option<CompletionProc>,
}

/// The most deliveries queued before events are dropped. TAPI slower than a
/// device's events (a stuck callback, a flooding device) loses the oldest
/// events of open phones, with one log line per burst (button events too: past
/// the bound a DOWN may lose its UP); completions, PHONE_CLOSE, PHONE_CREATE,
/// PHONE_REMOVE and presence changes are never dropped (each is owed exactly once,
/// and they are bounded by the requests outstanding, the phones open and the
/// arrivals pending).
pub(crate) const MAX_QUEUED: usize = 4096;

impl State {
    /// Drops the oldest events until the queue is within [`MAX_QUEUED`] or holds
    /// nothing but what is owed.
    fn trim(&mut self) {
        let mut excess = self.queue.len().saturating_sub(MAX_QUEUED);
        if excess == 0 {
            return;
        }
        if self.dropped == 0 {
            tracing::warn!(
                bound = MAX_QUEUED,
                "events arrive faster than TAPI takes them: dropping the oldest"
            );
        }
        let mut dropped = 0;
        self.queue.retain(|d| {
            let drop_it = excess > 0 && d.may_be_dropped();
            if drop_it {
                excess -= 1;
                dropped += 1;
            }
            !drop_it
        });
        self.dropped += dropped;
    }
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

    /// Opens the lane (at provider init), with TAPI's completion procedure.
    pub(crate) fn start(&self, completion: CompletionProc) {
        let mut state = self.lock();
        state.stopped = false;
        state.open.clear();
        state.completion = Some(completion);
    }

    /// Whether this thread is the one delivering (TAPI calling back from inside a
    /// callback).
    pub(crate) fn delivering_here(&self) -> bool {
        let id = self.id();
        let innermost = DELIVERING.with(Cell::get);
        innermost == id || (innermost != 0 && OUTER.with(|o| o.borrow().contains(&id)))
    }

    /// This lane's identity for [`DELIVERING`]: its address, fixed while it lives.
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Whether the lane delivers (between init and the last shutdown).
    pub(crate) fn is_running(&self) -> bool {
        !self.lock().stopped
    }

    /// Queues a delivery and, unless someone is delivering, delivers everything.
    pub(crate) fn submit(&self, delivery: Delivery) {
        self.submit_one(|_| Some(delivery), &|| {});
    }

    /// Queues `ASYNC_COMPLETION(request_id, result)` of a request of `phone`
    /// to the procedure of the init that started the lane, unless `refused`
    /// is set (read under the lane's lock, so one who sets it and then
    /// flushes knows nothing gets in after the flush). `queued` runs once the
    /// completion is queued (or refused), before anything is delivered,
    /// under the lane's lock: it may take the request table's lock, which is
    /// never held while the lane's is taken. Whether the completion was
    /// accepted.
    pub(crate) fn complete(
        &self,
        request_id: u32,
        result: i32,
        phone: u64,
        refused: Option<&AtomicBool>,
        queued: &dyn Fn(),
    ) -> bool {
        let completion = |state: &State| {
            if refused.is_some_and(|r| r.load(Ordering::SeqCst)) {
                return None;
            }
            Some(Delivery::Completion {
                proc_: state.completion.clone()?,
                request_id,
                result,
                phone,
            })
        };
        self.submit_one(completion, queued)
    }

    /// One delivery, the request path's case, made under the lock (`None`:
    /// refused). With nobody delivering and nothing waiting it is delivered
    /// at once, never queued (the queue's push, trim and pop were a fifth of
    /// the lane's cost).
    fn submit_one(&self, make: impl FnOnce(&State) -> Option<Delivery>, queued: &dyn Fn()) -> bool {
        let mut state = self.lock();
        let delivery = if state.stopped { None } else { make(&state) };
        queued();
        let Some(delivery) = delivery else {
            return false;
        };
        if state.delivering || !state.queue.is_empty() {
            state.queue.push_back(delivery);
            state.trim();
            return true;
        }
        self.deliver_all(state, Some(delivery));
        true
    }

    /// `submit` for several deliveries, queued together in this order, with
    /// `queued` as in `complete`.
    pub(crate) fn submit_all_then(
        &self,
        deliveries: impl IntoIterator<Item = Delivery>,
        queued: &dyn Fn(),
    ) {
        let mut state = self.lock();
        if state.stopped {
            drop(state);
            return queued();
        }
        state.queue.extend(deliveries);
        state.trim();
        queued();
        if !state.delivering {
            self.deliver_all(state, None);
        }
    }

    /// Becomes the deliverer: delivers `first`, then everything queued, until
    /// the queue is empty.
    fn deliver_all<'a>(&'a self, mut state: MutexGuard<'a, State>, first: Option<Delivery>) {
        state.delivering = true;
        let _delivering = Delivering::begin(self);
        let mut next = first.or_else(|| state.queue.pop_front());
        while let Some(delivery) = next {
            if !(delivery.is_stale(&state.open) || (state.stopped && !delivery.is_completion())) {
                state.in_flight = Some(delivery.phone());
                drop(state);
                deliver(delivery);
                state = self.lock();
                state.in_flight = None;
                if state.waiters > 0 {
                    self.idle.notify_all();
                }
            }
            next = state.queue.pop_front();
        }
        state.delivering = false;
        if state.dropped > 0 {
            tracing::warn!(dropped = state.dropped, "events were dropped");
            state.dropped = 0;
        }
        if state.waiters > 0 {
            self.idle.notify_all();
        }
    }

    /// From now on, events of the newly opened `phone` are delivered.
    pub(crate) fn admit(&self, phone: u64) {
        self.lock().open.insert(phone);
    }

    /// From now on, events of `phone` are dropped (completions still go): its
    /// close began. For good: handles are never reused.
    pub(crate) fn silence(&self, phone: u64) {
        self.lock().open.remove(&phone);
    }

    /// Waits until nothing of `phone` is queued or being delivered by another
    /// thread. Called on the thread already delivering (TAPI calling back from a
    /// callback), it returns at once: that thread delivers the rest when the
    /// callback returns.
    pub(crate) fn flush(&self, phone: u64) {
        if self.delivering_here() {
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

    /// Stops the lane: queued events are dropped, nothing more is accepted. Waits
    /// for a delivery running on another thread. Called from inside a callback,
    /// the completions already queued (of the phones the shutdown closed) are
    /// still delivered by this thread when the callback returns: every request
    /// TAPI was told is pending gets its completion.
    pub(crate) fn stop(&self) {
        let here = self.delivering_here();
        let mut state = self.lock();
        state.stopped = true;
        // Queued completions hold their own; an application's closure (and
        // what it holds, perhaps the host itself) goes with the shutdown.
        state.completion = None;
        if here {
            state.queue.retain(Delivery::is_completion);
        } else {
            state.queue.clear();
        }
        state.open.clear();
        while state.delivering && !here {
            state.waiters += 1;
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiters -= 1;
        }
    }
}

impl Delivery {
    fn is_completion(&self) -> bool {
        matches!(self, Self::Completion { .. })
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
        Delivery::Closed {
            proc_, ht_phone, ..
        } => {
            proc_.call(ht_phone, tsp_core::PhoneMessage::Close.code(), [0; 3]);
        }
    }
}
