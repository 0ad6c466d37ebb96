//! TAPI's two callbacks, as the provider receives them, and the only place they
//! are called.

use tsp_core::sys::{ASYNC_COMPLETION, PHONEEVENT};

/// `ASYNC_COMPLETION`, from `TSPI_providerInit`.
#[derive(Clone, Copy, Debug)]
pub struct CompletionProc(unsafe extern "system" fn(request_id: u32, result: i32));

/// `PHONEEVENT`, from `TSPI_phoneOpen` or `TSPI_providerEnumDevices`.
#[derive(Clone, Copy, Debug)]
pub struct EventProc(
    unsafe extern "system" fn(
        ht_phone: *mut std::ffi::c_void,
        msg: u32,
        p1: usize,
        p2: usize,
        p3: usize,
    ),
);

impl CompletionProc {
    /// Wraps TAPI's pointer; `None` for a null one.
    pub fn new(proc_: ASYNC_COMPLETION) -> Option<Self> {
        proc_.map(Self)
    }

    pub(crate) fn call(self, request_id: u32, result: i32) {
        // SAFETY: TAPI hands the provider this procedure at TSPI_providerInit and
        // keeps it valid until the last TSPI_providerShutdown returns; the lane calls
        // it only between the two, one call at a time.
        unsafe { (self.0)(request_id, result) }
    }
}

impl EventProc {
    /// Wraps TAPI's pointer; `None` for a null one.
    pub fn new(proc_: PHONEEVENT) -> Option<Self> {
        proc_.map(Self)
    }

    pub(crate) fn call(self, ht_phone: usize, msg: u32, params: [usize; 3]) {
        let [p1, p2, p3] = params;
        // SAFETY: TAPI keeps a phone's event procedure valid while the phone is open
        // (and the create procedure until shutdown); the lane calls it only for a
        // phone whose close has not returned, one call at a time. `ht_phone` is
        // TAPI's own opaque handle, passed back unchanged.
        unsafe { (self.0)(ht_phone as *mut std::ffi::c_void, msg, p1, p2, p3) }
    }
}
