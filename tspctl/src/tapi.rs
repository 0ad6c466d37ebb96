//! tspctl plays TAPI's part: the provider's callbacks land here.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tsp_host::{CompletionProc, EventProc};

/// What the provider told TAPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callback {
    Completion { request_id: u32, result: i32 },
    Event { msg: u32, params: [usize; 3] },
}

/// Both ends of the channel the callbacks feed.
type Pair = (Mutex<Sender<Callback>>, Mutex<Receiver<Callback>>);

fn channel_pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        let (sender, receiver) = channel();
        (Mutex::new(sender), Mutex::new(receiver))
    })
}

fn send(callback: Callback) {
    if let Ok(sender) = channel_pair().0.lock() {
        let _ = sender.send(callback);
    }
}

unsafe extern "system" fn on_completion(request_id: u32, result: i32) {
    send(Callback::Completion { request_id, result });
}

unsafe extern "system" fn on_event(
    _: *mut std::ffi::c_void,
    msg: u32,
    p1: usize,
    p2: usize,
    p3: usize,
) {
    send(Callback::Event {
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

/// The next callback, waiting at most `timeout`.
pub(crate) fn next(timeout: Duration) -> Option<Callback> {
    channel_pair().1.lock().ok()?.recv_timeout(timeout).ok()
}
