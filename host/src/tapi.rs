//! TAPI's two callbacks as the provider receives them, and the only place they
//! are called: TAPI's own function pointers (from the C exports), or Rust
//! closures from an application that embeds the host, which receive typed
//! values and need no `unsafe`.

use std::sync::Arc;

use tsp_core::sys::{ASYNC_COMPLETION, PHONEEVENT};
use tsp_core::{Message, PhoneError};

type RawCompletion = unsafe extern "system" fn(request_id: u32, result: i32);
type RawEvent = unsafe extern "system" fn(
    ht_phone: *mut std::ffi::c_void,
    msg: u32,
    p1: usize,
    p2: usize,
    p3: usize,
);
type CompletionFn = dyn Fn(u32, Result<(), PhoneError>) + Send + Sync;
type EventFn = dyn Fn(usize, Message) + Send + Sync;

/// `ASYNC_COMPLETION`, from `TSPI_providerInit` or an application.
#[derive(Clone)]
pub struct CompletionProc(Completion);

#[derive(Clone)]
enum Completion {
    Tapi(RawCompletion),
    Rust(Arc<CompletionFn>),
}

/// `PHONEEVENT`, from `TSPI_phoneOpen`, `TSPI_providerEnumDevices` or an
/// application.
#[derive(Clone)]
pub struct EventProc(Event);

#[derive(Clone)]
enum Event {
    Tapi(RawEvent),
    Rust(Arc<EventFn>),
}

impl CompletionProc {
    /// Wraps TAPI's pointer; `None` for a null one.
    pub fn new(proc_: ASYNC_COMPLETION) -> Option<Self> {
        proc_.map(|raw| Self(Completion::Tapi(raw)))
    }

    /// An application's completion procedure: the request id and its result.
    pub fn from_fn(f: impl Fn(u32, Result<(), PhoneError>) + Send + Sync + 'static) -> Self {
        Self(Completion::Rust(Arc::new(f)))
    }

    pub(crate) fn call(&self, request_id: u32, result: i32) {
        match &self.0 {
            // SAFETY: TAPI hands the provider this procedure at TSPI_providerInit
            // and keeps it valid until the last TSPI_providerShutdown returns; the
            // lane calls it only between the two, one call at a time.
            Completion::Tapi(raw) => unsafe { raw(request_id, result) },
            Completion::Rust(f) => contained("completion", || f(request_id, typed_result(result))),
        }
    }
}

impl EventProc {
    /// Wraps TAPI's pointer; `None` for a null one.
    pub fn new(proc_: PHONEEVENT) -> Option<Self> {
        proc_.map(|raw| Self(Event::Tapi(raw)))
    }

    /// An application's event procedure: the `htPhone` it gave at open (0 for
    /// `PHONE_CREATE` and `PHONE_REMOVE`) and the message.
    pub fn from_fn(f: impl Fn(usize, Message) + Send + Sync + 'static) -> Self {
        Self(Event::Rust(Arc::new(f)))
    }

    pub(crate) fn call(&self, ht_phone: usize, msg: u32, params: [usize; 3]) {
        match &self.0 {
            Event::Tapi(raw) => {
                let [p1, p2, p3] = params;
                // SAFETY: TAPI keeps a phone's event procedure valid while the
                // phone is open (and the create procedure until shutdown); the
                // lane calls it only for a phone whose close has not returned,
                // one call at a time. `ht_phone` is TAPI's own opaque handle,
                // passed back unchanged.
                unsafe { raw(ht_phone as *mut std::ffi::c_void, msg, p1, p2, p3) }
            }
            Event::Rust(f) => contained("event", || f(ht_phone, Message::from_raw(msg, params))),
        }
    }
}

/// Runs an application's callback; a panic in it is logged and goes no
/// further: unwinding into the lane would leave it marked as delivering, and
/// nothing would be delivered again.
fn contained(what: &str, callback: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback)).is_err() {
        tracing::error!(
            what,
            "the application's callback panicked; the host goes on"
        );
    }
}

/// A completion's `LONG` as a result: 0 is success; a code that is not a
/// `PHONEERR_*` (a driver's mistake) reads as `OPERATIONFAILED`.
fn typed_result(result: i32) -> Result<(), PhoneError> {
    match result {
        0 => Ok(()),
        code => Err(PhoneError::from_long(code).unwrap_or(PhoneError::OperationFailed)),
    }
}

impl std::fmt::Debug for CompletionProc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Completion::Tapi(raw) => write!(f, "CompletionProc(TAPI {:p})", *raw as *const ()),
            Completion::Rust(_) => f.write_str("CompletionProc(closure)"),
        }
    }
}

impl std::fmt::Debug for EventProc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Event::Tapi(raw) => write!(f, "EventProc(TAPI {:p})", *raw as *const ()),
            Event::Rust(_) => f.write_str("EventProc(closure)"),
        }
    }
}
