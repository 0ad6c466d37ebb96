//! Deadlines for driver calls: a timer for outstanding asynchronous requests, and
//! an executor that runs synchronous driver calls off TAPI's thread so a stuck
//! driver cannot block it. Both threads belong to the host: started on first use,
//! stopped and joined at the last shutdown.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct TimerState {
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    stopping: bool,
}

/// Fires `on_due(token)` for each token whose time has come.
#[derive(Default)]
pub(crate) struct Timer {
    state: Arc<(Mutex<TimerState>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Timer {
    /// Arms a deadline; `on_due` is what the thread runs for due tokens (given at
    /// the first call).
    pub(crate) fn arm(&self, at: Instant, token: u64, on_due: impl Fn(u64) + Send + 'static) {
        {
            let (state, wake) = &*self.state;
            let mut state = lock(state);
            state.stopping = false;
            state.due.push(Reverse((at, token)));
            wake.notify_one();
        }
        let mut thread = lock(&self.thread);
        if thread.is_none() {
            let state = Arc::clone(&self.state);
            let spawned = std::thread::Builder::new()
                .name("tsp-host-deadlines".into())
                .spawn(move || run_timer(&state, &on_due));
            match spawned {
                Ok(handle) => *thread = Some(handle),
                Err(error) => tracing::error!("cannot start the deadline thread: {error}"),
            }
        }
    }

    /// Stops and joins the thread; pending deadlines are dropped.
    pub(crate) fn stop(&self) {
        {
            let (state, wake) = &*self.state;
            let mut state = lock(state);
            state.stopping = true;
            state.due.clear();
            wake.notify_all();
        }
        if let Some(handle) = lock(&self.thread).take() {
            let _ = handle.join();
        }
    }
}

fn run_timer(shared: &(Mutex<TimerState>, Condvar), on_due: &dyn Fn(u64)) {
    let (state, wake) = shared;
    let mut guard = lock(state);
    loop {
        if guard.stopping {
            return;
        }
        let now = Instant::now();
        match guard.due.peek().map(|r| r.0) {
            Some((at, token)) if at <= now => {
                guard.due.pop();
                drop(guard);
                on_due(token);
                guard = lock(state);
            }
            Some((at, _)) => {
                guard = wake
                    .wait_timeout(guard, at - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => guard = wake.wait(guard).unwrap_or_else(|e| e.into_inner()),
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// How many threads at most run synchronous driver calls: one more starts when
/// none is idle (a driver stuck past its deadline keeps its thread busy).
const MAX_CALL_THREADS: usize = 8;
/// How long the last shutdown waits for a call thread stuck in a driver.
const JOIN_PATIENCE: Duration = Duration::from_secs(2);

/// The running call threads: where jobs go, where threads take them from, and
/// how to join them.
struct CallThreads {
    sender: Sender<Job>,
    receiver: Arc<Mutex<Receiver<Job>>>,
    threads: Vec<JoinHandle<()>>,
}

/// Runs synchronous driver calls on the host's own threads, with a deadline.
#[derive(Default)]
pub(crate) struct Executor {
    running: Mutex<Option<CallThreads>>,
    idle: Arc<std::sync::atomic::AtomicUsize>,
}

impl Executor {
    /// Runs `call` on a call thread and waits for it until `deadline`; `None`
    /// when the deadline passed first (the call goes on; its result is dropped).
    pub(crate) fn call<T: Send + 'static>(
        &self,
        deadline: Duration,
        call: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, result) = sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = answer.send(call());
        });
        {
            let mut running = lock(&self.running);
            let calls = running.get_or_insert_with(|| {
                let (sender, receiver) = channel::<Job>();
                CallThreads {
                    sender,
                    receiver: Arc::new(Mutex::new(receiver)),
                    threads: Vec::new(),
                }
            });
            let idle = self.idle.load(std::sync::atomic::Ordering::Acquire);
            if idle == 0 && calls.threads.len() < MAX_CALL_THREADS {
                self.start_thread(calls);
            }
            if calls.sender.send(job).is_err() {
                return None;
            }
        }
        result.recv_timeout(deadline).ok()
    }

    fn start_thread(&self, calls: &mut CallThreads) {
        let receiver = Arc::clone(&calls.receiver);
        let idle = Arc::clone(&self.idle);
        let spawned = std::thread::Builder::new()
            .name(format!("tsp-host-call-{}", calls.threads.len()))
            .spawn(move || run_calls(&receiver, &idle));
        match spawned {
            Ok(thread) => calls.threads.push(thread),
            Err(error) => tracing::error!("cannot start a call thread: {error}"),
        }
    }

    /// Stops the call threads, waiting a little for one stuck in a driver.
    pub(crate) fn stop(&self) {
        let Some(CallThreads {
            sender, threads, ..
        }) = lock(&self.running).take()
        else {
            return;
        };
        drop(sender);
        let deadline = Instant::now() + JOIN_PATIENCE;
        for thread in threads {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::error!("a driver call has not returned; its thread is left behind");
            }
        }
    }
}

fn run_calls(receiver: &Mutex<Receiver<Job>>, idle: &std::sync::atomic::AtomicUsize) {
    use std::sync::atomic::Ordering;
    loop {
        idle.fetch_add(1, Ordering::AcqRel);
        let job = lock(receiver).recv_timeout(Duration::from_secs(3600));
        idle.fetch_sub(1, Ordering::AcqRel);
        let job = match job {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // A panicking call (it cannot: the SDK catches driver panics) ends only itself.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}
