//! tspd plays TAPI's part for the host it embeds: the provider's callbacks land
//! here. Completions go to whoever waits for that request id; events go to the
//! one thread that turns them into D-Bus signals.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, MutexGuard, OnceLock};

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

fn events() -> &'static Mutex<Option<Sender<Event>>> {
    static EVENTS: Mutex<Option<Sender<Event>>> = Mutex::new(None);
    &EVENTS
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
    if let Some(sender) = lock(events()).as_ref() {
        let _ = sender.send(Event {
            ht_phone: ht_phone as usize,
            msg,
            params: [p1, p2, p3],
        });
    }
}

pub(crate) fn completion_proc() -> CompletionProc {
    CompletionProc::new(Some(on_completion)).expect("a function is never null")
}

pub(crate) fn event_proc() -> EventProc {
    EventProc::new(Some(on_event)).expect("a function is never null")
}

/// Where the events go from now on.
pub(crate) fn event_stream() -> Receiver<Event> {
    let (sender, receiver) = channel();
    *lock(events()) = Some(sender);
    receiver
}

/// Stops the event stream (its receiver then ends).
pub(crate) fn end_events() {
    lock(events()).take();
}
