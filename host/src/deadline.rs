//! Deadlines for driver calls: a timer for outstanding asynchronous requests (and
//! the other things the host does later), and an executor that runs synchronous
//! driver calls off TAPI's thread so a stuck driver cannot block it. Both belong
//! to the host: opened at init, stopped and joined at the last shutdown.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::gate::{CallGate, Refused};
use std::time::{Duration, Instant};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

struct TimerState<J> {
    /// Jobs by time, then by the order they were armed in.
    due: BinaryHeap<Reverse<(Instant, u64, J)>>,
    /// The number the next armed job gets.
    next: u64,
    /// False before init and from the last shutdown on: nothing is armed then.
    open: bool,
    /// Bumped at every stop: a timer thread of an earlier generation ends, even
    /// one that was running a job when the stop came (and a re-init came before
    /// that job returned).
    generation: u64,
}

impl<J: Ord> Default for TimerState<J> {
    fn default() -> Self {
        Self {
            due: BinaryHeap::new(),
            next: 0,
            open: false,
            generation: 0,
        }
    }
}

/// Fires `on_due(job)` for each job whose time has come, on one thread.
pub(crate) struct Timer<J> {
    state: Arc<(Mutex<TimerState<J>>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<J: Ord> Default for Timer<J> {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            thread: Mutex::default(),
        }
    }
}

impl<J: Ord + Copy + Send + 'static> Timer<J> {
    /// Lets jobs be armed (at provider init).
    pub(crate) fn open(&self) {
        lock(&self.state.0).open = true;
    }

    /// Arms `job` for `at`; `on_due` is what the thread runs for due jobs (given
    /// at the first call). Ignored while the timer is not open: an arm racing the
    /// last shutdown must not start a thread that outlives it.
    pub(crate) fn arm(&self, at: Instant, job: J, on_due: impl Fn(J) + Send + 'static) {
        if ON_TIMER.with(std::cell::Cell::get) == self.id() {
            // From a job: the thread runs (and a stop joining it holds the
            // thread lock, so taking that lock here would wait for ever).
            self.push(at, job);
            return;
        }
        // The thread lock first, as `stop` takes it: whether the timer is open
        // and whether a thread runs are then read together.
        let mut thread = lock(&self.thread);
        if !self.push(at, job) {
            return;
        }
        if thread.as_ref().is_none_or(JoinHandle::is_finished) {
            let state = Arc::clone(&self.state);
            let generation = lock(&self.state.0).generation;
            let spawned = std::thread::Builder::new()
                .name("tsp-host-deadlines".into())
                .spawn(move || {
                    ON_TIMER.with(|on| on.set(Arc::as_ptr(&state) as usize));
                    run_timer(&state, &on_due, generation);
                });
            match spawned {
                Ok(handle) => *thread = Some(handle),
                Err(error) => tracing::error!("cannot start the deadline thread: {error}"),
            }
        }
    }

    /// This timer's identity for [`ON_TIMER`].
    fn id(&self) -> usize {
        Arc::as_ptr(&self.state) as usize
    }

    /// Queues `job` if the timer is open; whether it was.
    fn push(&self, at: Instant, job: J) -> bool {
        let (state, wake) = &*self.state;
        let mut state = lock(state);
        if !state.open {
            return false;
        }
        // The thread sleeps until the earliest job: only an earlier one needs
        // to wake it (a request's deadline, armed on every request, almost
        // never is; waking it each time cost a context switch per request).
        let earlier = state
            .due
            .peek()
            .is_none_or(|Reverse((first, _, _))| at < *first);
        let number = state.next;
        state.next += 1;
        state.due.push(Reverse((at, number, job)));
        if earlier {
            wake.notify_one();
        }
        true
    }

    /// How many jobs wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.state.0).due.len()
    }

    /// The mark of what is armed from now on, for [`Timer::retain_armed_before`].
    pub(crate) fn mark(&self) -> u64 {
        lock(&self.state.0).next
    }

    /// Drops the jobs armed before `mark` that `keep` refuses; later ones
    /// stay whatever `keep` says (they may belong to what `keep` was made
    /// from before they were armed).
    pub(crate) fn retain_armed_before(&self, mark: u64, keep: impl Fn(&J) -> bool) {
        lock(&self.state.0)
            .due
            .retain(|Reverse((_, number, job))| *number >= mark || keep(job));
    }

    /// Closes the timer, stops and joins its thread; pending jobs are dropped.
    pub(crate) fn stop(&self) {
        // Held throughout: an arm that got in before the close cannot start a
        // second thread while this one is being joined.
        let mut thread = lock(&self.thread);
        {
            let (state, wake) = &*self.state;
            let mut state = lock(state);
            state.open = false;
            state.generation += 1;
            state.due.clear();
            wake.notify_all();
        }
        if let Some(handle) = thread.take() {
            if handle.thread().id() == std::thread::current().id() {
                // The last shutdown came from a timer job: the thread ends when
                // the job returns and sees the new generation.
                drop(handle);
            } else {
                let _ = handle.join();
            }
        }
    }
}

std::thread_local! {
    /// The timer this thread runs (its state's address; 0: none). Per timer:
    /// a job of one host's timer may arm another host's, which must then start
    /// its own thread as usual.
    static ON_TIMER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn run_timer<J: Ord + Copy>(
    shared: &(Mutex<TimerState<J>>, Condvar),
    on_due: &dyn Fn(J),
    generation: u64,
) {
    let (state, wake) = shared;
    let mut guard = lock(state);
    loop {
        if guard.generation != generation || !guard.open {
            return;
        }
        let now = Instant::now();
        match guard.due.peek().map(|r| r.0) {
            Some((at, _, job)) if at <= now => {
                guard.due.pop();
                drop(guard);
                on_due(job);
                guard = lock(state);
            }
            Some((at, _, _)) => {
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

/// How many call threads may exist at once. A call stuck in a driver keeps its
/// thread; [`crate::gate::CallGate`] lets each phone strand at most one, so this bounds how
/// many phones with hung drivers the host serves beside the others. Past it a
/// call fails at once instead of waiting in a queue.
const MAX_CALL_THREADS: usize = 64;
/// How long the last shutdown waits for a call thread stuck in a driver.
const JOIN_PATIENCE: Duration = Duration::from_secs(2);
/// How long an idle call thread waits for work before it ends.
const IDLE_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Pool {
    /// Idle threads, each waiting on its own channel (no shared queue: a job
    /// goes to a thread that is free, or is refused).
    idle: Vec<Idle>,
    threads: Vec<JoinHandle<()>>,
    /// Threads a shutdown left behind in a driver: they still count against
    /// the limit until they end.
    stranded: Vec<JoinHandle<()>>,
    stopping: bool,
    /// Bumped at every stop: a thread of an earlier generation that comes back
    /// from a driver ends instead of serving the next init.
    generation: u64,
    next_id: u64,
}

struct Idle {
    id: u64,
    sender: SyncSender<Option<Job>>,
}

/// Why a call through a gate did not give its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failed {
    /// The gate did not let it in.
    Refused(Refused),
    /// It ran, and missed its deadline or found no thread.
    Missed(Missed),
}

/// Why a call did not give its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missed {
    /// It did not return within its deadline (it may still be running).
    Deadline,
    /// Every call thread is busy in a driver (or the host is shutting down).
    NoThread,
}

/// Runs driver calls on the host's own threads, with a deadline.
#[derive(Default)]
pub(crate) struct Executor {
    pool: Arc<Mutex<Pool>>,
}

impl Executor {
    /// Lets calls run (at provider init).
    pub(crate) fn open(&self) {
        lock(&self.pool).stopping = false;
    }

    /// Runs `call` on a call thread and waits for it until `deadline`.
    pub(crate) fn call<T: Send + 'static>(
        &self,
        deadline: Duration,
        call: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Missed> {
        let (answer, result) = sync_channel(1);
        self.spawn(move || {
            let _ = answer.send(call());
        })?;
        result.recv_timeout(deadline).map_err(|_| Missed::Deadline)
    }

    /// `call` through `gate`, within `deadline`: refused by the gate, or run
    /// and waited for; a call that misses its deadline is abandoned at the gate
    /// (it stays counted as stuck until it returns).
    pub(crate) fn call_through<T: Send + 'static>(
        &self,
        gate: &Arc<CallGate>,
        deadline: Duration,
        call: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Failed> {
        let pass = gate.enter().map_err(Failed::Refused)?;
        let on_thread = pass.share();
        // The call's pass travels with its value: one that comes back too
        // late is dropped (a late open's session closed) before the pass
        // is, so the gate lets no other call in before that drop is done.
        let answer = self.call(deadline, move || (call(), on_thread));
        if matches!(answer, Err(Missed::Deadline)) {
            pass.abandon();
        }
        answer
            .map(|(value, _returned)| value)
            .map_err(Failed::Missed)
    }

    /// Runs `job` on a call thread without waiting for it.
    pub(crate) fn spawn(&self, job: impl FnOnce() + Send + 'static) -> Result<(), Missed> {
        let mut job: Job = Box::new(job);
        let mut pool = lock(&self.pool);
        if pool.stopping {
            return Err(Missed::NoThread);
        }
        while let Some(thread) = pool.idle.pop() {
            match thread.sender.try_send(Some(job)) {
                Ok(()) => return Ok(()),
                // Cannot happen (an idle thread waits on an empty channel and
                // leaves the list before it ends); the job goes elsewhere.
                Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => match back {
                    Some(unsent) => job = unsent,
                    None => return Err(Missed::NoThread),
                },
            }
        }
        pool.threads.retain(|t| !t.is_finished());
        pool.stranded.retain(|t| !t.is_finished());
        let count = pool.threads.len() + pool.stranded.len();
        if count >= MAX_CALL_THREADS {
            tracing::error!(
                threads = count,
                "every call thread is stuck in a driver; call refused"
            );
            return Err(Missed::NoThread);
        }
        let (sender, receiver) = sync_channel::<Option<Job>>(1);
        let pool_ref = Arc::clone(&self.pool);
        let me = Idle {
            id: pool.next_id,
            sender: sender.clone(),
        };
        pool.next_id += 1;
        let generation = pool.generation;
        let spawned = std::thread::Builder::new()
            .name(format!("tsp-host-call-{}", me.id))
            .spawn(move || run_calls(&receiver, &me, &pool_ref, generation));
        match spawned {
            Ok(thread) => {
                pool.threads.push(thread);
                sender.try_send(Some(job)).map_err(|_| Missed::NoThread)
            }
            Err(error) => {
                tracing::error!("cannot start a call thread: {error}");
                Err(Missed::NoThread)
            }
        }
    }

    /// Stops the call threads, waiting a little for one stuck in a driver.
    pub(crate) fn stop(&self) {
        let threads = {
            let mut pool = lock(&self.pool);
            pool.stopping = true;
            pool.generation += 1;
            for thread in pool.idle.drain(..) {
                let _ = thread.sender.try_send(None);
            }
            std::mem::take(&mut pool.threads)
        };
        let deadline = Instant::now() + JOIN_PATIENCE;
        for thread in threads {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::error!("a driver call has not returned; its thread is left behind");
                lock(&self.pool).stranded.push(thread);
            }
        }
    }
}

fn run_calls(receiver: &Receiver<Option<Job>>, me: &Idle, pool: &Mutex<Pool>, generation: u64) {
    loop {
        let job = match receiver.recv_timeout(IDLE_LIFETIME) {
            Ok(Some(job)) => job,
            Ok(None) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                // Leave the idle list under its lock: a thread still listed has
                // been given nothing, so ending is safe; one no longer listed was
                // just taken by `spawn`, and its job is on the way.
                let mut pool = lock(pool);
                let listed = pool.idle.len();
                pool.idle.retain(|i| i.id != me.id);
                if pool.idle.len() < listed {
                    return;
                }
                continue;
            }
        };
        // A panicking call (it cannot: the SDK catches driver panics) ends only itself.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        let mut pool = lock(pool);
        if pool.stopping || pool.generation != generation {
            return;
        }
        pool.idle.push(Idle {
            id: me.id,
            sender: me.sender.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arm_after_stop_starts_no_thread() {
        let timer: Timer<u64> = Timer::default();
        timer.open();
        timer.arm(Instant::now() + Duration::from_secs(60), 1, |_| {});
        timer.stop();
        timer.arm(Instant::now(), 2, |_| {});
        assert!(lock(&timer.thread).is_none(), "no thread after stop");
    }

    #[test]
    fn the_timer_works_again_after_a_stop_and_an_arm_racing_it() {
        let timer: Arc<Timer<u64>> = Arc::default();
        let fired = Arc::new(std::sync::atomic::AtomicU64::new(0));
        timer.open();
        let racer = {
            let timer = Arc::clone(&timer);
            std::thread::spawn(move || {
                for token in 0..200 {
                    timer.arm(Instant::now(), token, |_| {});
                }
            })
        };
        timer.stop();
        racer.join().expect("joined");
        timer.open();
        let counted = Arc::clone(&fired);
        timer.arm(Instant::now(), 7, move |token| {
            counted.store(token, std::sync::atomic::Ordering::SeqCst);
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while fired.load(std::sync::atomic::Ordering::SeqCst) != 7 {
            assert!(Instant::now() < deadline, "the re-opened timer never fired");
            std::thread::sleep(Duration::from_millis(2));
        }
        timer.stop();
    }

    #[test]
    fn the_executor_runs_calls_beside_a_stuck_one() {
        let executor = Executor::default();
        executor.open();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let missed = executor.call(Duration::from_millis(20), move || {
            let _ = stuck.recv();
        });
        assert_eq!(missed.err(), Some(Missed::Deadline));
        assert_eq!(executor.call(Duration::from_secs(5), || 7), Ok(7));
        drop(release);
        executor.stop();
    }
}
