//! What the host's two callbacks deliver to tspd, held by the service (no
//! process-wide state): completions go to whoever waits for that request id;
//! events go to the one thread that turns them into D-Bus signals.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tsp_core::{Message, PhoneError, PhoneStates};
use tsp_host::Host;

/// A PHONEEVENT as the host delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// The tag given at open (each open has its own), 0 for PHONE_CREATE and
    /// PHONE_REMOVE.
    pub(crate) tag: usize,
    pub(crate) message: Message,
}

/// What a request's completion says.
pub(crate) type Completion = Result<(), PhoneError>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Event {
    /// Whether the ring may drop it when full: not PHONE_CREATE, PHONE_REMOVE
    /// (tag 0), PHONE_CLOSE or a presence change, which tspd's own
    /// bookkeeping follows; they are bounded by the phones there are.
    fn may_be_dropped(&self) -> bool {
        let presence = PhoneStates::CONNECTED | PhoneStates::DISCONNECTED;
        let kept = self.tag == 0
            || match self.message {
                Message::Close => true,
                Message::State { state, .. } => !state.is_empty() && presence.contains(state),
                _ => false,
            };
        !kept
    }
}

/// The most events waiting for the signal thread. A device or driver that
/// floods events faster than the bus takes them loses the oldest: the host's
/// callbacks never block, and tspd's memory stays bounded. Events tspd's own
/// bookkeeping follows are never dropped (see [`Event::may_be_dropped`]).
pub(crate) const MAX_EVENTS: usize = 4096;

/// The events on their way to the signal thread: a ring of at most
/// [`MAX_EVENTS`], dropping the oldest, with one log line per burst of drops.
#[derive(Debug)]
struct Ring {
    events: VecDeque<Event>,
    /// Events dropped since the signal thread last took one.
    dropped: u64,
    open: bool,
}

/// The requests waiting for their completion and the events on their way to
/// the signal thread; shared by `Arc` between the service and the closures the
/// host calls.
#[derive(Debug)]
pub(crate) struct Callbacks {
    /// Requests waiting for their completion, by request id.
    waiting: Mutex<HashMap<u32, async_channel::Sender<Completion>>>,
    ring: Mutex<Ring>,
    ready: Condvar,
}

impl Callbacks {
    /// Open from the start: events the host delivers while it starts wait in
    /// the ring for the signal thread.
    pub(crate) fn new() -> Self {
        Self {
            waiting: Mutex::default(),
            ring: Mutex::new(Ring {
                events: VecDeque::new(),
                dropped: 0,
                open: true,
            }),
            ready: Condvar::new(),
        }
    }

    /// A request id of `host`'s that no outstanding request has, registered to
    /// receive its completion.
    pub(crate) fn new_request(&self, host: &Host) -> (u32, async_channel::Receiver<Completion>) {
        let (sender, receiver) = async_channel::bounded(1);
        let mut waiting = lock(&self.waiting);
        loop {
            let id = host.next_request_id();
            if let Entry::Vacant(slot) = waiting.entry(id) {
                slot.insert(sender);
                return (id, receiver);
            }
        }
    }

    /// Forgets a request the host refused (it will never complete).
    pub(crate) fn forget(&self, request_id: u32) {
        lock(&self.waiting).remove(&request_id);
    }

    /// The host's completion callback: the result goes to the request's waiter.
    pub(crate) fn complete(&self, request_id: u32, result: Completion) {
        if let Some(sender) = lock(&self.waiting).remove(&request_id) {
            let _ = sender.try_send(result);
        }
    }

    /// The host's event callback: queues `event` for the signal thread; the
    /// oldest goes when the ring is full.
    pub(crate) fn push(&self, event: Event) {
        let mut ring = lock(&self.ring);
        if !ring.open {
            return;
        }
        let oldest = ring.events.iter().position(Event::may_be_dropped);
        if let Some(oldest) = oldest.filter(|_| ring.events.len() >= MAX_EVENTS) {
            ring.events.remove(oldest);
            if ring.dropped == 0 {
                tracing::warn!(
                    bound = MAX_EVENTS,
                    "events arrive faster than they can be signalled: dropping the oldest"
                );
            }
            ring.dropped += 1;
        }
        ring.events.push_back(event);
        self.ready.notify_one();
    }

    /// The events as the signal thread reads them; they end when
    /// [`Callbacks::end_events`] runs.
    pub(crate) fn events(self: &Arc<Self>) -> Events {
        Events(Arc::clone(self))
    }

    /// Stops the event stream: its reader ends once it has taken what is queued.
    pub(crate) fn end_events(&self) {
        lock(&self.ring).open = false;
        self.ready.notify_all();
    }
}

/// The events as the signal thread reads them.
#[derive(Debug)]
pub(crate) struct Events(Arc<Callbacks>);

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let mut ring = lock(&self.0.ring);
        loop {
            if let Some(event) = ring.events.pop_front() {
                if ring.dropped > 0 {
                    tracing::warn!(dropped = ring.dropped, "events were dropped");
                    ring.dropped = 0;
                }
                return Some(event);
            }
            if !ring.open {
                return None;
            }
            ring = self.0.ready.wait(ring).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u32) -> Event {
        Event {
            tag: 1,
            message: Message::Button {
                id: n,
                mode: tsp_core::ButtonModes::KEYPAD,
                state: tsp_core::ButtonStates::DOWN,
            },
        }
    }

    fn id(event: &Event) -> u32 {
        match event.message {
            Message::Button { id, .. } => id,
            other => panic!("not a button: {other}"),
        }
    }

    #[test]
    fn a_flood_of_events_keeps_the_newest_within_the_bound() {
        let callbacks = Arc::new(Callbacks::new());
        let events = callbacks.events();
        let max = MAX_EVENTS as u32;
        for n in 0..max + 10 {
            callbacks.push(event(n));
        }
        callbacks.end_events();
        let kept: Vec<u32> = events.map(|e| id(&e)).collect();
        assert_eq!(kept.len(), MAX_EVENTS, "bounded");
        assert_eq!(kept.first(), Some(&10), "the oldest were dropped");
        assert_eq!(kept.last(), Some(&(max + 9)), "the newest kept");
        callbacks.push(event(0));
        assert!(
            lock(&callbacks.ring).events.is_empty(),
            "nothing after the end"
        );
    }

    #[test]
    fn arrivals_closes_and_presence_are_never_dropped() {
        let close = Event {
            tag: 3,
            message: Message::Close,
        };
        let create = Event {
            tag: 0,
            message: Message::Create {
                provider: 0,
                temp_id: 7,
            },
        };
        let away = Event {
            tag: 3,
            message: Message::State {
                state: PhoneStates::DISCONNECTED,
                detail: 0,
            },
        };
        let nothing = Event {
            tag: 3,
            message: Message::State {
                state: PhoneStates::empty(),
                detail: 0,
            },
        };
        assert!(!close.may_be_dropped() && !create.may_be_dropped() && !away.may_be_dropped());
        assert!(event(1).may_be_dropped() && nothing.may_be_dropped());
    }

    #[test]
    fn a_completion_reaches_its_waiter_once() {
        let callbacks = Callbacks::new();
        let (sender, receiver) = async_channel::bounded(1);
        lock(&callbacks.waiting).insert(5, sender);
        callbacks.complete(5, Err(PhoneError::InvalLampMode));
        callbacks.complete(5, Ok(()));
        assert_eq!(receiver.try_recv(), Ok(Err(PhoneError::InvalLampMode)));
        assert!(receiver.try_recv().is_err(), "one completion, then none");
        assert!(lock(&callbacks.waiting).is_empty());
    }
}
