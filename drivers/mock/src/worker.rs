//! The mock's one worker thread: runs delayed completions at their time.
//! Started on first use; `shutdown` stops and joins it. `Pending`: the
//! completions a session holds back until their time (or its cancel).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tsp_core::PhoneError;
use tsp_plugin_sdk::Completion;

type Job = Box<dyn FnOnce() + Send>;

struct Timed {
    due: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// The running thread: where to send jobs, and how to join it.
type Running = (Sender<(Instant, Job)>, JoinHandle<()>);

#[derive(Default)]
pub(crate) struct Worker {
    running: Mutex<Option<Running>>,
}

impl Worker {
    /// Runs `job` on the worker thread after `delay`.
    pub(crate) fn schedule(&self, delay: Duration, job: impl FnOnce() + Send + 'static) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let (sender, _) = running.get_or_insert_with(start);
        // The thread only ends when the sender is dropped, so this cannot fail.
        let _ = sender.send((Instant::now() + delay, Box::new(job)));
    }

    /// Stops the thread after running what is due now; jobs not yet due are
    /// dropped (a dropped Completion completes with OPERATIONFAILED).
    pub(crate) fn shutdown(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((sender, handle)) = running {
            drop(sender);
            if handle.join().is_err() {
                tracing::error!("the mock's worker thread panicked");
            }
        }
    }
}

fn start() -> (Sender<(Instant, Job)>, JoinHandle<()>) {
    let (sender, receiver) = channel();
    let handle = std::thread::Builder::new()
        .name("tsp-mock-worker".into())
        .spawn(move || run(receiver))
        .unwrap_or_else(|e| panic!("cannot start the mock's worker thread: {e}"));
    (sender, handle)
}

fn run(receiver: Receiver<(Instant, Job)>) {
    let mut queue: BinaryHeap<Reverse<Timed>> = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        while queue.peek().is_some_and(|t| t.0.due <= Instant::now()) {
            if let Some(Reverse(timed)) = queue.pop() {
                // A panicking job ends only itself, not the worker.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(timed.job));
            }
        }
        let wait = queue.peek().map_or(Duration::from_secs(3600), |t| {
            t.0.due.saturating_duration_since(Instant::now())
        });
        match receiver.recv_timeout(wait) {
            Ok((due, job)) => {
                seq += 1;
                queue.push(Reverse(Timed { due, seq, job }));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// A held request: its completion and the result it will complete with.
type Held = (Completion, Result<(), PhoneError>);

/// Completions held back (never, or waiting for the worker), so that `cancel`
/// can complete them.
#[derive(Default)]
pub(crate) struct Pending {
    next: AtomicU64,
    held: Mutex<HashMap<u64, Held>>,
}

impl Pending {
    pub(crate) fn hold(&self, done: Completion, result: Result<(), PhoneError>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (done, result));
        id
    }

    pub(crate) fn release(&self, id: u64) {
        let entry = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if let Some((done, result)) = entry {
            done.complete(result);
        }
    }

    pub(crate) fn cancel_all(&self) {
        let all: Vec<_> = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        for (_, (done, _)) in all {
            done.complete(Err(PhoneError::OperationFailed));
        }
    }
}
