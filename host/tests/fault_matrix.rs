//! The fault matrix: each way a driver can fail, through the C exports of the
//! built TSP library, on one-at-a-time and on concurrent phones, with the
//! driver in the host's process and in `tsp-driver-host` (one test per cell;
//! the `process_*` cells are the isolated driver's own: its process crashes or
//! hangs). Each cell asserts the TSPI result it documents in RELIABILITY.md, and
//! then the checker of `tapi_c` over everything TAPI received: every accepted
//! request completed exactly once and within its deadline, a refused one never,
//! no callback overlapped another, nothing came for a phone after its close
//! returned nor at all after the shutdown. The process being alive at the end
//! is the last check of each.

mod tapi_c;
mod tapi_side;

use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tapi_c::*;
use tsp_core::PhoneError;

const REQUEST_MS: u64 = 300;

/// The library is one TSP per process: one cell at a time.
static TSP: LazyLock<Mutex<(std::path::PathBuf, tsp::Tsp)>> =
    LazyLock::new(|| Mutex::new(load_tsp("test-fault-matrix")));

thread_local! {
    /// Whether this test's cell runs the mock in `tsp-driver-host` (each test
    /// runs on a thread of its own).
    static ISOLATED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The configuration that isolates the mock: restarted at once, a call
/// running 600 ms counts as hung.
const ISOLATION: &str =
    "isolate = [\"mock\"]\n[isolation]\nbackoff_ms = 10\nhang_ms = 600\nrestarts = 100\n";

/// A started TSP on a configuration of two mock phones.
struct Cell {
    guard: MutexGuard<'static, (std::path::PathBuf, tsp::Tsp)>,
    phones: u32,
    finished: bool,
}

impl Cell {
    fn start(concurrent: bool, mock: &str) -> Self {
        let guard = TSP.lock().unwrap_or_else(|e| e.into_inner());
        let isolation = if ISOLATED.get() { ISOLATION } else { "" };
        let config = format!(
            "drivers = [\"mock\"]\n{isolation}\
             [deadlines]\nrequest_ms = {REQUEST_MS}\ncall_ms = 100\nmisses = 3\n\
             [settings.mock]\nconcurrent = {concurrent}\n{mock}"
        );
        tsp_host::testkit::write_trusted(&guard.0.join("tsp-rs.toml"), &config);
        reset();
        let phones = guard.1.start();
        Self {
            guard,
            phones,
            finished: false,
        }
    }

    fn tsp(&self) -> &tsp::Tsp {
        &self.guard.1
    }

    /// Opens `device` as a new htPhone.
    fn open(&self, device: u32) -> (usize, usize) {
        let ht_phone = NEXT_HT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let handle = self.tsp().open(device, ht_phone).expect("open");
        did(Did::Opened { ht_phone });
        (handle, ht_phone)
    }

    fn close(&self, (handle, ht_phone): (usize, usize)) -> i32 {
        let result = self.tsp().close(handle);
        did(Did::Closed { ht_phone });
        result
    }

    /// An asynchronous request, recorded for the checker; its return.
    fn request(&self, (handle, ht_phone): (usize, usize), what: &str) -> i32 {
        let request_id = NEXT_REQUEST.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let returned = match what {
            "SetData" => self.tsp().set_data(request_id, handle, b"cell"),
            command => self.tsp().dev_specific(request_id, handle, command),
        };
        did(Did::Request {
            request_id,
            ht_phone,
            returned,
            what: what.into(),
        });
        returned
    }

    /// The last shutdown, then the checker.
    fn finish(mut self) {
        self.finished = true;
        let violations = shut_down_and_check(self.tsp(), Duration::from_millis(REQUEST_MS));
        assert!(violations.is_empty(), "{violations:#?}");
    }
}

impl Drop for Cell {
    /// A cell that failed before `finish` still shuts the TSP down, so the next
    /// cell starts from nothing (and reads its own configuration).
    fn drop(&mut self) {
        if !self.finished {
            self.tsp().shutdown();
        }
    }
}

/// Whether a request the driver refused with `error` was reported as TSPI
/// allows for where the driver runs: in process by the call's return (and no
/// completion: the checker); isolated, the driver answers after the call
/// returned, so by the request's one completion.
fn refused_by_driver(returned: i32, error: i32) -> bool {
    if ISOLATED.get() {
        returned > 0 && eventually(|| completions_of(returned) == vec![error])
    } else {
        returned == error
    }
}

fn failed() -> i32 {
    PhoneError::OperationFailed.to_long()
}

fn completions_of(request_id: i32) -> Vec<i32> {
    SEEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(|e| match e.what {
            Seen::Completion {
                request_id: id,
                result,
            } if id as i32 == request_id => Some(result),
            _ => None,
        })
        .collect()
}

fn events_to(ht_phone: usize, msg: u32) -> Vec<[usize; 3]> {
    SEEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(|e| match e.what {
            Seen::Event {
                ht_phone: h,
                msg: m,
                params,
            } if h == ht_phone && m == msg => Some(params),
            _ => None,
        })
        .collect()
}

/// One cell on both queue modes, in process and isolated (`isolated_*`).
macro_rules! cell {
    ($name:ident, $concurrent:ident, $one_at_a_time:ident) => {
        #[test]
        fn $concurrent() {
            $name(true);
        }
        #[test]
        fn $one_at_a_time() {
            $name(false);
        }
        mod $name {
            #[test]
            fn isolated_concurrent() {
                super::ISOLATED.set(true);
                super::$name(true);
            }
            #[test]
            fn isolated_one_at_a_time() {
                super::ISOLATED.set(true);
                super::$name(false);
            }
        }
    };
}

/// One cell on both queue modes, isolated only.
macro_rules! isolated_cell {
    ($name:ident, $concurrent:ident, $one_at_a_time:ident) => {
        #[test]
        fn $concurrent() {
            ISOLATED.set(true);
            $name(true);
        }
        #[test]
        fn $one_at_a_time() {
            ISOLATED.set(true);
            $name(false);
        }
    };
}

/// A panic in open: OPERATIONFAILED, nothing reserved, nothing delivered.
fn panic_in_open(concurrent: bool) {
    let cell = Cell::start(concurrent, "[settings.mock.faults]\nopen = \"panic\"");
    assert_eq!(cell.tsp().open(0, 0x77), Err(failed()));
    cell.finish();
}
cell!(
    panic_in_open,
    open_panics_concurrent,
    open_panics_one_at_a_time
);

/// A panic in close: close still succeeds, the device can be opened again.
fn panic_in_close(concurrent: bool) {
    let cell = Cell::start(concurrent, "[settings.mock.faults]\nclose = \"panic\"");
    let phone = cell.open(0);
    assert_eq!(cell.close(phone), 0);
    let again = cell.open(0);
    cell.close(again);
    cell.finish();
}
cell!(
    panic_in_close,
    close_panics_concurrent,
    close_panics_one_at_a_time
);

/// A panic in an operation: an asynchronous one returns OPERATIONFAILED with no
/// completion (isolated: completes with it), a synchronous one returns
/// OPERATIONFAILED; the phone goes on.
fn panic_in_operations(concurrent: bool) {
    let cell = Cell::start(
        concurrent,
        "[settings.mock.faults]\nset_data = \"panic\"\nget_status = \"panic\"\nget_data = \"panic\"",
    );
    let phone = cell.open(0);
    assert!(refused_by_driver(cell.request(phone, "SetData"), failed()));
    assert_eq!(cell.tsp().get_status(phone.0), failed());
    assert_eq!(cell.tsp().get_data(phone.0), failed());
    assert!(
        refused_by_driver(cell.request(phone, "panic"), failed()),
        "a panicking DevSpecific"
    );
    let ok = cell.request(phone, "fault set_data ok");
    assert!(ok > 0);
    assert!(eventually(|| completions_of(ok) == vec![0]));
    let set = cell.request(phone, "SetData");
    assert!(
        eventually(|| completions_of(set) == vec![0]),
        "the phone goes on"
    );
    cell.close(phone);
    cell.finish();
}
cell!(
    panic_in_operations,
    operations_panic_concurrent,
    operations_panic_one_at_a_time
);

/// A panic on the driver's own thread holding a request: the request completes
/// with OPERATIONFAILED, once.
fn panic_on_driver_thread(concurrent: bool) {
    let cell = Cell::start(
        concurrent,
        "[settings.mock.faults]\nset_data = \"panic-thread\"",
    );
    let phone = cell.open(0);
    let id = cell.request(phone, "SetData");
    // The driver's thread may panic before SetData returns (it did under
    // ThreadSanitizer): then the failure is the return and nothing completes.
    if id > 0 {
        assert!(eventually(|| completions_of(id) == vec![failed()]));
    } else {
        assert_eq!(id, failed());
    }
    cell.close(phone);
    cell.finish();
}
cell!(
    panic_on_driver_thread,
    driver_thread_panics_concurrent,
    driver_thread_panics_one_at_a_time
);

/// A driver that never completes: the host completes at the deadline with
/// OPERATIONFAILED, the request queued behind it too.
fn never_completes(concurrent: bool) {
    let cell = Cell::start(concurrent, "[settings.mock.faults]\nset_data = \"never\"");
    let phone = cell.open(0);
    let first = cell.request(phone, "SetData");
    let second = cell.request(phone, "SetData");
    assert!(first > 0 && second > 0);
    assert!(eventually(
        || completions_of(first) == vec![failed()] && completions_of(second) == vec![failed()]
    ));
    cell.close(phone);
    cell.finish();
}
cell!(
    never_completes,
    never_completes_concurrent,
    never_completes_one_at_a_time
);

/// A driver that completes after close: close completes the request itself
/// (within the request deadline); the late completion finds nothing.
fn completes_after_close(concurrent: bool) {
    let cell = Cell::start(
        concurrent,
        "ignore_cancel = true\ncompletion = \"worker\"\ndelay_ms = 600",
    );
    let phone = cell.open(0);
    let id = cell.request(phone, "SetData");
    assert!(id > 0);
    assert_eq!(cell.close(phone), 0);
    assert_eq!(completions_of(id), vec![failed()], "completed by close");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        completions_of(id).len(),
        1,
        "the late completion found nothing"
    );
    cell.finish();
}
cell!(
    completes_after_close,
    completes_after_close_concurrent,
    completes_after_close_one_at_a_time
);

/// A driver stuck in SetData on the caller's own thread past close's
/// patience: close returns without waiting for it any longer, and nothing of
/// the phone reaches TAPI after that (the checker). The request then reports
/// by its return: on a concurrent phone it never entered the request table
/// (it was expected to complete inline), so the stuck call returns
/// OPERATIONFAILED and no completion ever follows; on a one-at-a-time phone it
/// is in the table, and close completed it before returning, as it is for an
/// isolated driver (whose call returns at once, the stall being in its process).
fn stalls_past_close(concurrent: bool) {
    let cell = Cell::start(
        concurrent,
        "[settings.mock.faults]\nset_data = \"stall 700\"",
    );
    let phone = cell.open(0);
    std::thread::scope(|scope| {
        let stuck = scope.spawn(|| cell.request(phone, "SetData"));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(cell.close(phone), 0);
        let returned = stuck.join().expect("the stuck call returns");
        if concurrent && !ISOLATED.get() {
            assert_eq!(returned, failed(), "reported by its return");
        } else {
            assert!(returned > 0, "accepted: {returned}");
            assert_eq!(
                completions_of(returned),
                vec![failed()],
                "completed by close"
            );
        }
    });
    cell.finish();
}
cell!(
    stalls_past_close,
    stalls_past_close_concurrent,
    stalls_past_close_one_at_a_time
);

/// A driver that fails a request before returning: the error is the return,
/// no completion follows (isolated: its one completion).
fn fails(concurrent: bool) {
    let cell = Cell::start(
        concurrent,
        "[settings.mock.faults]\nset_data = \"fail INVALDATAID\"",
    );
    let phone = cell.open(0);
    let returned = cell.request(phone, "SetData");
    assert!(refused_by_driver(
        returned,
        PhoneError::InvalDataId.to_long()
    ));
    cell.close(phone);
    cell.finish();
}
cell!(fails, fails_concurrent, fails_one_at_a_time);

/// A device that vanishes with a request outstanding: the request completes
/// with OPERATIONFAILED, PHONE_CLOSE then PHONE_REMOVE, TSPI_phoneClose then
/// succeeds and the handle is dead. Isolated, each phone has its own thread
/// in the driver host, so the removal (sent through the other phone) may
/// reach the driver before the SetData does, which it then refuses as
/// INVALPHONESTATE: one completion with an error either way.
fn vanishes_with_requests_outstanding(concurrent: bool) {
    let cell = Cell::start(concurrent, "[settings.mock.faults]\nset_data = \"never\"");
    let phone = cell.open(0);
    let other = cell.open(1);
    let id = cell.request(phone, "SetData");
    let remove = cell.request(other, "remove-device mock0");
    assert!(id > 0 && remove > 0);
    let away = PhoneError::InvalPhoneState.to_long();
    assert!(eventually(|| {
        let seen = completions_of(id);
        seen == vec![failed()] || (ISOLATED.get() && seen == vec![away])
    }));
    assert!(eventually(|| events_to(phone.1, PHONE_CLOSE).len() == 1));
    assert_eq!(cell.close(phone), 0);
    assert_eq!(
        cell.tsp().set_data(9, phone.0, b"x"),
        PhoneError::InvalPhoneHandle.to_long()
    );
    cell.close(other);
    cell.finish();
}
cell!(
    vanishes_with_requests_outstanding,
    vanishes_concurrent,
    vanishes_one_at_a_time
);

/// A device removed while TAPI closes its phone: close returns after the
/// completions and PHONE_CLOSE, and nothing follows it (the checker).
fn removed_during_close(concurrent: bool) {
    let cell = Cell::start(
        concurrent,
        "ignore_cancel = true\n[settings.mock.faults]\nset_data = \"never\"",
    );
    let phone = cell.open(0);
    let other = cell.open(1);
    let id = cell.request(phone, "SetData");
    assert!(id > 0);
    std::thread::scope(|scope| {
        let closer = scope.spawn(|| cell.close(phone));
        std::thread::sleep(Duration::from_millis(50));
        cell.request(other, "remove-device mock0");
        assert_eq!(closer.join().expect("close returns"), 0);
    });
    assert_eq!(completions_of(id).len(), 1);
    cell.close(other);
    cell.finish();
}
cell!(
    removed_during_close,
    removed_during_close_concurrent,
    removed_during_close_one_at_a_time
);

/// A device that arrives while the host enumerates: it is a phone once, either
/// enumerated or created from its PHONE_CREATE, never both.
fn arrives_during_enumeration(concurrent: bool) {
    let cell = Cell::start(concurrent, "arrive_after_ms = 0");
    std::thread::sleep(Duration::from_millis(100));
    let creates: Vec<usize> = SEEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(|e| match e.what {
            Seen::Event {
                msg: PHONE_CREATE,
                params,
                ..
            } => Some(params[1]),
            _ => None,
        })
        .collect();
    let created = creates
        .iter()
        .filter(|temp| cell.tsp().create_phone_device(**temp, 50) == 0)
        .count();
    assert_eq!(
        cell.phones as usize + created,
        3,
        "two default phones and the arrival, each once (enumerated {}, created {created})",
        cell.phones
    );
    cell.finish();
}
cell!(
    arrives_during_enumeration,
    arrives_during_enumeration_concurrent,
    arrives_during_enumeration_one_at_a_time
);

/// A synchronous call that hangs: OPERATIONFAILED at the call deadline, later
/// calls of that phone fail at once, the other phone is served, close works.
fn sync_call_hangs(concurrent: bool) {
    let cell = Cell::start(concurrent, "");
    let phone = cell.open(0);
    let other = cell.open(1);
    let slow = cell.request(phone, "fault get_status delay 1500");
    assert!(eventually(|| completions_of(slow) == vec![0]));
    assert_eq!(cell.tsp().get_status(phone.0), failed());
    let started = Instant::now();
    assert_eq!(cell.tsp().get_status(phone.0), failed());
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "failed at once"
    );
    assert_eq!(
        cell.tsp().get_status(other.0),
        0,
        "the other phone is served"
    );
    assert_eq!(cell.close(phone), 0);
    cell.close(other);
    cell.finish();
}
cell!(
    sync_call_hangs,
    sync_call_hangs_concurrent,
    sync_call_hangs_one_at_a_time
);

/// The driver's process dies (`command`: `crash` aborts it, `hang` blocks
/// every call until the host kills it) with requests outstanding on one phone:
/// every request completes once with OPERATIONFAILED, both phones go
/// DISCONNECTED and come back CONNECTED, and the phone takes requests again.
fn process_dies(concurrent: bool, command: &str) {
    let cell = Cell::start(concurrent, "");
    let phone = cell.open(0);
    let other = cell.open(1);
    let fault = cell.request(phone, "fault set_data never");
    assert!(eventually(|| completions_of(fault) == vec![0]));
    let held = cell.request(phone, "SetData");
    let killer = cell.request(other, command);
    assert!(held > 0 && killer > 0);
    assert!(eventually(|| completions_of(killer) == vec![failed()]));
    assert!(eventually(|| completions_of(held) == vec![failed()]));
    for (_, ht_phone) in [phone, other] {
        let back = || {
            let states: Vec<usize> = events_to(ht_phone, PHONE_STATE)
                .iter()
                .map(|p| p[0])
                .collect();
            let (connected, disconnected) = (0x2, 0x4);
            let away = states.iter().position(|s| *s == disconnected);
            away.is_some_and(|at| states[at..].contains(&connected))
        };
        assert!(eventually(back), "DISCONNECTED then CONNECTED");
    }
    let after = cell.request(phone, "SetData");
    assert!(
        eventually(|| completions_of(after) == vec![0]),
        "a SetData after the restart"
    );
    cell.close(phone);
    cell.close(other);
    cell.finish();
}

fn process_crashes(concurrent: bool) {
    process_dies(concurrent, "crash");
}
isolated_cell!(
    process_crashes,
    process_crashes_concurrent,
    process_crashes_one_at_a_time
);

fn process_hangs(concurrent: bool) {
    process_dies(concurrent, "hang");
}
isolated_cell!(
    process_hangs,
    process_hangs_concurrent,
    process_hangs_one_at_a_time
);
