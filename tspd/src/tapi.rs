//! tspd plays TAPI's part for the host it embeds: the provider's callbacks land
//! here. Completions go to whoever waits for that request id; events go to the
//! one thread that turns them into D-Bus signals.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use tsp_core::{PhoneMessage, PhoneStates};
use tsp_host::{CompletionProc, EventProc};

/// A PHONEEVENT as TAPI receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `htPhone` given at open (the device id + 1), 0 for PHONE_CREATE and
    /// PHONE_REMOVE.
    pub(crate) ht_phone: usize,
    pub(crate) msg: u32,
    pub(crate) params: [usize; 3],
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Requests waiting for their ASYNC_COMPLETION, by request id.
fn waiting() -> &'static Mutex<HashMap<u32, async_channel::Sender<i32>>> {
    static WAITING: OnceLock<Mutex<HashMap<u32, async_channel::Sender<i32>>>> = OnceLock::new();
    WAITING.get_or_init(Mutex::default)
}

impl Event {
    /// Whether the ring may drop it when full: not PHONE_CREATE, PHONE_REMOVE
    /// (`htPhone` 0), PHONE_CLOSE or a presence change, which tspd's own
    /// bookkeeping follows; they are bounded by the phones there are.
    fn may_be_dropped(&self) -> bool {
        let presence = PhoneStates::CONNECTED | PhoneStates::DISCONNECTED;
        let kept = self.ht_phone == 0
            || self.msg == PhoneMessage::Close.code()
            || (self.msg == PhoneMessage::State.code()
                && presence.contains(PhoneStates::from_bits_retain(self.params[0] as u32))
                && self.params[0] != 0);
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
#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<Event>,
    /// Events dropped since the signal thread last took one.
    dropped: u64,
    open: bool,
}

fn ring() -> &'static (Mutex<Ring>, Condvar) {
    static RING: OnceLock<(Mutex<Ring>, Condvar)> = OnceLock::new();
    RING.get_or_init(Default::default)
}

/// Queues `event` for the signal thread; the oldest goes when the ring is full.
fn push(event: Event) {
    let (ring, ready) = ring();
    let mut ring = lock(ring);
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
    ready.notify_one();
}

/// The events as the signal thread reads them; ends when [`end_events`] runs.
#[derive(Debug)]
pub(crate) struct Events(());

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let (ring, ready) = ring();
        let mut ring = lock(ring);
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
            ring = ready.wait(ring).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A request id no outstanding request has (1 to 0x7FFFFFFF), registered to
/// receive its completion.
pub(crate) fn new_request() -> (u32, async_channel::Receiver<i32>) {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let (sender, receiver) = async_channel::bounded(1);
    let mut waiting = lock(waiting());
    loop {
        let id = NEXT.fetch_add(1, Ordering::Relaxed) & 0x7FFF_FFFF;
        if id != 0 && !waiting.contains_key(&id) {
            waiting.insert(id, sender);
            return (id, receiver);
        }
    }
}

/// Forgets a request the provider refused (it will never complete).
pub(crate) fn forget(request_id: u32) {
    lock(waiting()).remove(&request_id);
}

unsafe extern "system" fn on_completion(request_id: u32, result: i32) {
    if let Some(sender) = lock(waiting()).remove(&request_id) {
        let _ = sender.try_send(result);
    }
}

unsafe extern "system" fn on_event(
    ht_phone: *mut std::ffi::c_void,
    msg: u32,
    p1: usize,
    p2: usize,
    p3: usize,
) {
    push(Event {
        ht_phone: ht_phone as usize,
        msg,
        params: [p1, p2, p3],
    });
}

pub(crate) fn completion_proc() -> CompletionProc {
    CompletionProc::new(Some(on_completion)).expect("a function is never null")
}

pub(crate) fn event_proc() -> EventProc {
    EventProc::new(Some(on_event)).expect("a function is never null")
}

/// Where the events go from now on.
pub(crate) fn event_stream() -> Events {
    lock(&ring().0).open = true;
    Events(())
}

/// Stops the event stream: its reader ends once it has taken what is queued.
pub(crate) fn end_events() {
    let (ring, ready) = ring();
    lock(ring).open = false;
    ready.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> Event {
        Event {
            ht_phone: 1,
            msg: 0,
            params: [n, 0, 0],
        }
    }

    #[test]
    fn a_flood_of_events_keeps_the_newest_within_the_bound() {
        let events = event_stream();
        for n in 0..MAX_EVENTS + 10 {
            push(event(n));
        }
        end_events();
        let kept: Vec<usize> = events.map(|e| e.params[0]).collect();
        assert_eq!(kept.len(), MAX_EVENTS, "bounded");
        assert_eq!(kept.first(), Some(&10), "the oldest were dropped");
        assert_eq!(kept.last(), Some(&(MAX_EVENTS + 9)), "the newest kept");
        push(event(0));
        assert!(lock(&ring().0).events.is_empty(), "nothing after the end");
    }

    #[test]
    fn arrivals_closes_and_presence_are_never_dropped() {
        let close = Event {
            ht_phone: 3,
            msg: PhoneMessage::Close.code(),
            params: [0; 3],
        };
        let create = Event {
            ht_phone: 0,
            msg: PhoneMessage::Create.code(),
            params: [0, 7, 0],
        };
        let away = Event {
            ht_phone: 3,
            msg: PhoneMessage::State.code(),
            params: [PhoneStates::DISCONNECTED.bits() as usize, 0, 0],
        };
        let button = Event {
            ht_phone: 3,
            msg: PhoneMessage::Button.code(),
            params: [1, 0, 0],
        };
        assert!(!close.may_be_dropped() && !create.may_be_dropped() && !away.may_be_dropped());
        assert!(button.may_be_dropped());
    }
}
