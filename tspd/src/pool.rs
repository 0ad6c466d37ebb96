//! The threads method calls run on: host calls block, the bus's executor must
//! not. At most [`MAX_THREADS`] threads; a call that finds them all busy is
//! answered `LimitsExceeded` at once instead of growing the daemon. Clean-up
//! work (giving a borrowed phone back) is never refused: it is queued for the
//! next free thread (and a thread is started for it when there is room).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The most threads running host calls at once.
pub(crate) const MAX_THREADS: usize = 32;

/// How long an idle thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Whether a job may be refused when every thread is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Urgency {
    /// A client's call: refused when the pool is full.
    Refusable,
    /// Clean-up that must happen: queued until a thread is free.
    Must,
}

/// Why a job did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every thread is busy.
    Full,
    /// The system would not start a thread.
    NoThread,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

struct Pool {
    state: Mutex<State>,
    work: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::default(),
        work: Condvar::new(),
    })
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `job` on a pool thread.
pub(crate) fn submit(job: Job, urgency: Urgency) -> Result<(), Refused> {
    let pool = pool();
    let mut state = lock(&pool.state);
    if state.idle > state.queue.len() {
        state.queue.push_back(job);
        pool.work.notify_one();
        return Ok(());
    }
    if urgency == Urgency::Must && state.threads > 0 {
        // Queued first: if no new thread starts, a running one takes it.
        state.queue.push_back(job);
        if state.threads < MAX_THREADS {
            state.threads += 1;
            drop(state);
            let _ = start_thread(None);
        }
        return Ok(());
    }
    if state.threads < MAX_THREADS {
        state.threads += 1;
        drop(state);
        return start_thread(Some(job));
    }
    match urgency {
        Urgency::Must => {
            state.queue.push_back(job);
            Ok(())
        }
        Urgency::Refusable => Err(Refused::Full),
    }
}

fn start_thread(job: Option<Job>) -> Result<(), Refused> {
    let started = std::thread::Builder::new()
        .name("tspd-call".into())
        .spawn(move || work(job));
    started.map(|_| ()).map_err(|error| {
        tracing::error!(%error, "cannot start a thread for a call");
        lock(&pool().state).threads -= 1;
        Refused::NoThread
    })
}

/// A pool thread: its first job, then whatever is queued, until idle for [`IDLE`].
fn work(first: Option<Job>) {
    let pool = pool();
    let mut job = first;
    loop {
        // A panic here is a bug in tspd: the call's reply channel drops and the
        // call fails with OPERATIONFAILED; the thread goes on.
        if let Some(job) = job.take() {
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
        let mut state = lock(&pool.state);
        state.idle += 1;
        let next = loop {
            if let Some(next) = state.queue.pop_front() {
                break Some(next);
            }
            let (guard, waited) = pool
                .work
                .wait_timeout(state, IDLE)
                .unwrap_or_else(|e| e.into_inner());
            state = guard;
            if waited.timed_out() && state.queue.is_empty() {
                break None;
            }
        };
        state.idle -= 1;
        match next {
            Some(next) => job = Some(next),
            None => {
                state.threads -= 1;
                return;
            }
        }
    }
}
