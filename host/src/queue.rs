//! The queue of a phone whose driver takes one request at a time.
//!
//! The driver has at most one request: the queue's `current`, as long as its
//! token is in the request table. Who ends it (its completion, its deadline, a
//! disconnect, close) takes it out of the table and then asks for the next one;
//! whoever asks first gets it, under the queue's lock and then the table's, so
//! no two threads start two requests and none is left waiting behind a request
//! that ended. `host/src/model.rs` checks this under loom.

use std::collections::VecDeque;
use std::time::Instant;

use crate::phone::Op;
use crate::requests::{Requests, Stage, Token};
use crate::sync::{Mutex, MutexGuard, lock};

/// A request waiting for its turn.
#[derive(Debug)]
pub(crate) struct Waiting {
    pub(crate) token: Token,
    pub(crate) op: Op<'static>,
    /// Its deadline, counted from its acceptance.
    pub(crate) due: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    current: Option<Token>,
    /// When the driver was given `current`.
    since: Option<Instant>,
    waiting: VecDeque<Waiting>,
    closed: bool,
}

/// Where a request stands once it was offered to the queue.
#[derive(Debug)]
pub(crate) enum Turn {
    /// It is the driver's now: call it.
    Now,
    /// It waits behind the one the driver has.
    Queued,
    /// It waits behind others, and the driver has none: the caller starts the
    /// first one waiting (as whoever ended the last one would have).
    QueuedStartNext,
    /// The phone is closing: nothing reaches the driver any more.
    Closed,
}

/// See the module.
#[derive(Debug, Default)]
pub(crate) struct SerialQueue {
    inner: Mutex<Inner>,
}

impl SerialQueue {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Offers request `token` (in the table, `InCall`): it becomes the driver's
    /// if the driver has none, else it waits (stage `Queued`).
    pub(crate) fn offer(
        &self,
        requests: &Mutex<Requests>,
        token: Token,
        waiting: impl FnOnce() -> Waiting,
    ) -> Turn {
        let mut inner = self.lock();
        if inner.closed {
            return Turn::Closed;
        }
        let mut table = lock(requests);
        let busy = inner.current.is_some_and(|t| table.stage(t).is_some());
        // Behind requests that wait even when the driver has none (the one that
        // ended has not started the next yet): TAPI's order is kept.
        if busy || !inner.waiting.is_empty() {
            table.set_stage(token, Stage::Queued);
            drop(table);
            inner.waiting.push_back(waiting());
            return if busy {
                Turn::Queued
            } else {
                Turn::QueuedStartNext
            };
        }
        inner.current = Some(token);
        inner.since = Some(Instant::now());
        Turn::Now
    }

    /// The next request for the driver, `InCall` from now, if the one it had
    /// left the table; `None` if it still has one or none waits.
    pub(crate) fn next(&self, requests: &Mutex<Requests>) -> Option<Waiting> {
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        let mut table = lock(requests);
        if inner.current.is_some_and(|t| table.stage(t).is_some()) {
            return None;
        }
        let next = inner.waiting.pop_front();
        inner.current = next.as_ref().map(|w| w.token);
        inner.since = next.as_ref().map(|_| Instant::now());
        if let Some(next) = &next {
            table.set_stage(next.token, Stage::InCall);
        }
        next
    }

    /// How long the driver has had `token`; `None` if it is not the driver's.
    pub(crate) fn held_for(&self, token: Token) -> Option<std::time::Duration> {
        let inner = self.lock();
        if inner.current != Some(token) {
            return None;
        }
        inner.since.map(|since| since.elapsed())
    }

    /// Closes the queue: what waits is handed back (to be failed), nothing is
    /// offered or started after.
    pub(crate) fn close(&self) -> Vec<Token> {
        let mut inner = self.lock();
        inner.closed = true;
        inner.waiting.drain(..).map(|w| w.token).collect()
    }

    /// Takes `token` out if it still waits.
    pub(crate) fn withdraw(&self, token: Token) -> bool {
        let mut inner = self.lock();
        let before = inner.waiting.len();
        inner.waiting.retain(|w| w.token != token);
        inner.waiting.len() != before
    }

    /// Takes out every waiting request `refuse` picks.
    pub(crate) fn withdraw_where(&self, refuse: impl Fn(&Op<'static>) -> bool) -> Vec<Token> {
        let mut inner = self.lock();
        let (refused, kept): (Vec<_>, Vec<_>) =
            inner.waiting.drain(..).partition(|w| refuse(&w.op));
        inner.waiting = kept.into();
        refused.into_iter().map(|w| w.token).collect()
    }
}
