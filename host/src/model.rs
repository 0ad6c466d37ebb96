//! Model checking (loom) of the callback lane and the call gate: the real code,
//! on loom's primitives (feature `model`), under the thread interleavings loom
//! explores. Run by `cargo xtask test` with a bounded number of preemptions:
//! `LOOM_MAX_PREEMPTIONS=2 cargo test -p tsp-host --features model --lib model`.
//!
//! TAPI's callbacks are plain functions, so what they see goes to process-wide
//! records, cleared at the start of each explored execution.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::gate::{CallGate, Refused};
use crate::lane::{Delivery, Lane};
use crate::tapi::{CompletionProc, EventProc};

/// What the callbacks saw: completions as `(id, 0)`, events as `(phone, msg)`.
static SEEN: StdMutex<Vec<(u64, u32)>> = StdMutex::new(Vec::new());
static IN_CALLBACK: AtomicBool = AtomicBool::new(false);
static OVERLAPS: AtomicUsize = AtomicUsize::new(0);
/// The lane of the execution, for callbacks that call back into it.
static LANE: StdMutex<Option<Arc<Lane>>> = StdMutex::new(None);
/// What an event callback does from inside (a TSPI call made from a callback).
static INSIDE: StdMutex<Option<fn(&Lane)>> = StdMutex::new(None);

fn seen() -> Vec<(u64, u32)> {
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn fresh(lane: &Arc<Lane>, inside: Option<fn(&Lane)>) {
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).clear();
    OVERLAPS.store(0, Ordering::SeqCst);
    *LANE.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(lane));
    *INSIDE.lock().unwrap_or_else(|e| e.into_inner()) = inside;
}

fn enter() {
    // TAPI's callback takes time: other threads may run before it records.
    loom::thread::yield_now();
    if IN_CALLBACK.swap(true, Ordering::SeqCst) {
        OVERLAPS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe extern "system" fn on_completion(request_id: u32, _result: i32) {
    enter();
    SEEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((u64::from(request_id), 0));
    IN_CALLBACK.store(false, Ordering::SeqCst);
}

unsafe extern "system" fn on_event(
    ht_phone: *mut std::ffi::c_void,
    msg: u32,
    _: usize,
    _: usize,
    _: usize,
) {
    enter();
    SEEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((ht_phone as u64, msg));
    let inside = INSIDE.lock().unwrap_or_else(|e| e.into_inner()).take();
    let lane = LANE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    IN_CALLBACK.store(false, Ordering::SeqCst);
    if let (Some(inside), Some(lane)) = (inside, lane) {
        // The lane's own thread, still inside its delivery: as TAPI would.
        IN_CALLBACK.store(true, Ordering::SeqCst);
        inside(&lane);
        IN_CALLBACK.store(false, Ordering::SeqCst);
    }
}

fn completion(request_id: u32) -> Delivery {
    Delivery::Completion {
        proc_: CompletionProc::new(Some(on_completion)).expect("a function"),
        request_id,
        result: 0,
        phone: 1,
    }
}

fn event(phone: u64, msg: u32) -> Delivery {
    Delivery::Event {
        proc_: EventProc::new(Some(on_event)).expect("a function"),
        ht_phone: phone as usize,
        msg,
        params: [0; 3],
        phone,
    }
}

/// The records are process-wide: one model at a time.
static SERIAL: StdMutex<()> = StdMutex::new(());

fn model(f: impl Fn() + Send + Sync + 'static) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

#[test]
fn the_lane_never_overlaps_and_keeps_each_submitter_s_order() {
    model(|| {
        let lane = Arc::new(Lane::default());
        fresh(&lane, None);
        let other = {
            let lane = Arc::clone(&lane);
            loom::thread::spawn(move || {
                lane.submit(completion(10));
                lane.submit(completion(11));
            })
        };
        lane.submit(completion(20));
        lane.submit(completion(21));
        other.join().expect("joined");
        let seen = seen();
        assert_eq!(OVERLAPS.load(Ordering::SeqCst), 0, "callbacks overlapped");
        assert_eq!(seen.len(), 4, "each delivered once: {seen:?}");
        let order = |a: u64, b: u64| {
            let at = |id| seen.iter().position(|s| s.0 == id).expect("delivered");
            at(a) < at(b)
        };
        assert!(order(10, 11) && order(20, 21), "submission order: {seen:?}");
    });
}

#[test]
fn nothing_of_a_phone_follows_its_silence_and_flush() {
    model(|| {
        let lane = Arc::new(Lane::default());
        fresh(&lane, None);
        lane.admit(7);
        let driver = {
            let lane = Arc::clone(&lane);
            loom::thread::spawn(move || {
                lane.submit(event(7, 1));
                lane.submit(event(7, 2));
            })
        };
        // TSPI_phoneClose: silence, flush, then "returned".
        lane.silence(7);
        lane.flush(7);
        let at_close = seen().len();
        driver.join().expect("joined");
        assert_eq!(seen().len(), at_close, "an event after close returned");
        assert_eq!(OVERLAPS.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn a_stop_inside_a_callback_keeps_the_completions_it_queued() {
    model(|| {
        let lane = Arc::new(Lane::default());
        // Inside the event's callback: a close completes request 5, then the
        // last shutdown stops the lane.
        fresh(
            &lane,
            Some(|lane| {
                lane.submit(completion(5));
                lane.submit(event(3, 9));
                lane.stop();
            }),
        );
        lane.admit(3);
        let other = {
            let lane = Arc::clone(&lane);
            loom::thread::spawn(move || lane.submit(event(3, 4)))
        };
        lane.submit(event(3, 1));
        other.join().expect("joined");
        let seen = seen();
        assert_eq!(
            seen.iter().filter(|s| **s == (5, 0)).count(),
            1,
            "the completion queued before the stop: {seen:?}"
        );
        assert!(!seen.contains(&(3, 9)), "an event after the stop: {seen:?}");
        assert_eq!(OVERLAPS.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn close_waits_for_calls_in_flight_and_none_starts_after() {
    model(|| {
        let gate = Arc::new(CallGate::default());
        let finished = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let caller = {
            let (gate, finished) = (Arc::clone(&gate), Arc::clone(&finished));
            loom::thread::spawn(move || match gate.enter() {
                Ok(pass) => {
                    let on_thread = pass.share();
                    finished.store(true, Ordering::SeqCst);
                    drop(on_thread);
                    true
                }
                Err(refused) => {
                    assert_eq!(refused, Refused::Closed);
                    false
                }
            })
        };
        gate.close(Duration::from_secs(3600));
        let closed_with_finished = finished.load(Ordering::SeqCst);
        let entered = caller.join().expect("joined");
        assert_eq!(
            entered, closed_with_finished,
            "a call that got in ended before close returned; none got in after"
        );
        assert_eq!(gate.enter().err(), Some(Refused::Closed));
    });
}

#[test]
fn a_call_past_its_deadline_refuses_the_next_until_it_returns() {
    model(|| {
        let gate = Arc::new(CallGate::default());
        let pass = gate.enter().expect("the first call");
        let on_thread = pass.share();
        let driver = loom::thread::spawn(move || drop(on_thread));
        let abandoned = pass.abandon();
        let next = gate.enter();
        driver.join().expect("joined");
        match (abandoned, next) {
            // Abandoned while still in the driver: refused, or already back.
            (true, Err(refused)) => assert_eq!(refused, Refused::Stuck),
            (_, Ok(next)) => drop(next.share()),
            (false, Err(refused)) => panic!("refused {refused:?} though nothing is stuck"),
        }
        let after = gate.enter().expect("nothing stuck once it returned");
        drop(after.share());
    });
}

#[test]
fn the_queue_gives_the_driver_one_request_at_a_time_and_never_stalls() {
    use crate::queue::{SerialQueue, Turn, Waiting};
    use crate::requests::{Requests, Stage, Token};
    use crate::sync::{Mutex, lock};

    fn waiting(token: Token) -> Waiting {
        Waiting {
            token,
            op: crate::phone::Op::DevSpecific {
                params: std::borrow::Cow::Owned(Vec::new()),
            },
            due: std::time::Instant::now(),
        }
    }

    /// Hands `token` to the driver: no other request it was given may still be
    /// outstanding.
    fn give(table: &Mutex<Requests>, given: &StdMutex<Vec<Token>>, token: Token) {
        let table = lock(table);
        let mut given = given.lock().unwrap_or_else(|e| e.into_inner());
        let outstanding: Vec<_> = given
            .iter()
            .filter(|t| table.stage(**t).is_some())
            .collect();
        assert!(
            outstanding.is_empty(),
            "the driver already has {outstanding:?}"
        );
        given.push(token);
    }

    /// Ends what the driver has (its completion, deadline or disconnect), then
    /// starts the next: what every such path does.
    fn end_current(table: &Mutex<Requests>, queue: &SerialQueue, given: &StdMutex<Vec<Token>>) {
        let current = given
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .copied();
        if let Some(current) = current {
            lock(table).remove(current);
        }
        if let Some(next) = queue.next(table) {
            give(table, given, next.token);
        }
    }

    model(|| {
        let table = Arc::new(Mutex::new(Requests::default()));
        let queue = Arc::new(SerialQueue::default());
        let given = Arc::new(StdMutex::new(Vec::new()));
        let ender = {
            let (table, queue, given) =
                (Arc::clone(&table), Arc::clone(&queue), Arc::clone(&given));
            loom::thread::spawn(move || {
                end_current(&table, &queue, &given);
                end_current(&table, &queue, &given);
            })
        };
        let mut tokens = Vec::new();
        for id in 1..=3 {
            let token = lock(&table)
                .insert(id, 1, Stage::InCall)
                .expect("a fresh id");
            tokens.push(token);
            match queue.offer(&table, token, || waiting(token)) {
                Turn::Now => give(&table, &given, token),
                Turn::Queued => {}
                Turn::QueuedStartNext => {
                    if let Some(next) = queue.next(&table) {
                        give(&table, &given, next.token);
                    }
                }
                Turn::Closed => panic!("nothing closed the queue"),
            }
        }
        ender.join().expect("joined");
        // Whatever the interleaving, ending requests one by one runs them all.
        for _ in 0..3 {
            end_current(&table, &queue, &given);
        }
        let given = given.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(given, tokens, "each request given once, in order");
    });
}
