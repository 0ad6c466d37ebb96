//! `RequestWorker`: a session's asynchronous requests run one at a time, in
//! the order they came, on a thread of the session's own — what a driver
//! whose device takes one command at a time (a serial modem, a USB handset
//! whose transfers may take a second) needs, written once.
//!
//! ```
//! use std::sync::Arc;
//! use tsp_plugin_sdk::{Completion, RequestWorker};
//!
//! struct Device; // what the jobs need: a port, a USB handle …
//! impl Device {
//!     fn write(&self, _data: &[u8]) -> Result<(), tsp_plugin_sdk::core::PhoneError> {
//!         Ok(())
//!     }
//! }
//!
//! struct MySession {
//!     worker: RequestWorker<Device>,
//! }
//! impl MySession {
//!     fn set_data(&self, data: &[u8], done: Completion) {
//!         let data = data.to_vec();
//!         self.worker.run(done, move |device| device.write(&data));
//!     }
//! }
//! let session = MySession { worker: RequestWorker::start("my-requests", Arc::new(Device)) };
//! session.worker.stop();
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tsp_core::PhoneError;

use crate::Completion;

type Job<C> = Box<dyn FnOnce(&C) + Send>;

/// One thread that runs a session's requests in order, each completing its
/// [`Completion`] with what the work returned. Requests that never run (the
/// session cancelled or stopped, the thread gone) complete with
/// `OPERATIONFAILED`, exactly once, as a dropped `Completion` does.
pub struct RequestWorker<C: ?Sized + Send + Sync + 'static> {
    jobs: Mutex<Option<Sender<Job<C>>>>,
    cancelled: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<C: ?Sized + Send + Sync + 'static> RequestWorker<C> {
    /// Starts the thread, named `name`, whose jobs get `context`. When no
    /// thread can be started it says so in the log, and every request
    /// completes with `OPERATIONFAILED`.
    pub fn start(name: &str, context: Arc<C>) -> Self {
        let (jobs, queue) = channel::<Job<C>>();
        let cancelled = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name(name.into()).spawn({
            let cancelled = Arc::clone(&cancelled);
            move || run_jobs(&*context, &queue, &cancelled)
        });
        if let Err(error) = &thread {
            tracing::error!(%error, name, "cannot start the request worker; requests will fail");
        }
        Self {
            jobs: Mutex::new(Some(jobs)),
            cancelled,
            thread: Mutex::new(thread.ok()),
        }
    }

    /// Queues `work`; its result completes `done`. A panic in `work` fails
    /// that request alone (`OPERATIONFAILED`); the worker goes on.
    pub fn run(
        &self,
        done: Completion,
        work: impl FnOnce(&C) -> Result<(), PhoneError> + Send + 'static,
    ) {
        let job: Job<C> = Box::new(move |context| done.complete(work(context)));
        // Stopped: the job, and with it the completion, is dropped here.
        if let Some(jobs) = lock(&self.jobs).as_ref() {
            let _ = jobs.send(job);
        }
    }

    /// `Session::cancel`: nothing queued or queued later runs any more (each
    /// completes with `OPERATIONFAILED`); the job running goes on to its end.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// `Session::close`: cancels, takes no more work, and waits for the job
    /// running to end. Idempotent.
    pub fn stop(&self) {
        self.cancel();
        lock(&self.jobs).take();
        let thread = lock(&self.thread).take();
        // Called from a job itself (a job that closes its own session), the
        // thread ends once this job returns: joining it here would wait forever.
        if let Some(thread) = thread.filter(|t| t.thread().id() != std::thread::current().id()) {
            let _ = thread.join();
        }
    }
}

impl<C: ?Sized + Send + Sync + 'static> Drop for RequestWorker<C> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl<C: ?Sized + Send + Sync + 'static> std::fmt::Debug for RequestWorker<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestWorker")
            .field("cancelled", &self.cancelled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn run_jobs<C: ?Sized>(context: &C, queue: &Receiver<Job<C>>, cancelled: &AtomicBool) {
    while let Ok(job) = queue.recv() {
        if cancelled.load(Ordering::Acquire) {
            // Dropped: its completion says OPERATIONFAILED.
            continue;
        }
        if catch_unwind(AssertUnwindSafe(|| job(context))).is_err() {
            tracing::error!("a request panicked in the driver; it failed, the worker goes on");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::abi::{FfiCompletion, clone_link};
    use crate::{DriverEvent, PhoneEvent};

    /// A host that passes each completion on: (token, result code).
    struct Host(Mutex<mpsc::Sender<(u64, u32)>>);

    impl crate::host::HostLink for Host {
        fn complete(&self, token: u64, result: Result<(), PhoneError>) {
            let code = result.err().map_or(0, PhoneError::code);
            let _ = lock(&self.0).send((token, code));
        }
        fn phone_event(&self, _: u64, _: PhoneEvent) {}
        fn driver_event(&self, _: &str, _: DriverEvent) {}
    }

    fn host() -> (impl Fn(u64) -> Completion, mpsc::Receiver<(u64, u32)>) {
        let (sender, completed) = mpsc::channel();
        let link = crate::host::link::new_link("test", Arc::new(Host(Mutex::new(sender))));
        let completion = move |token| {
            Completion::from_ffi(FfiCompletion {
                link: clone_link(&link),
                token,
            })
        };
        (completion, completed)
    }

    const WAIT: Duration = Duration::from_secs(5);
    const FAILED: u32 = PhoneError::OperationFailed.code();

    #[test]
    fn requests_run_in_order_each_completing_once_with_its_result() {
        let (completion, completed) = host();
        let order = Arc::new(Mutex::new(Vec::new()));
        let worker = RequestWorker::start("test-requests", Arc::clone(&order));
        for token in 1..=3u64 {
            worker.run(completion(token), move |order| {
                lock(order).push(token);
                if token == 2 {
                    Err(PhoneError::InvalDataId)
                } else {
                    Ok(())
                }
            });
        }
        let got: Vec<(u64, u32)> = (0..3)
            .map(|_| completed.recv_timeout(WAIT).expect("completes"))
            .collect();
        assert_eq!(got, [(1, 0), (2, PhoneError::InvalDataId.code()), (3, 0)]);
        assert_eq!(*lock(&order), [1, 2, 3]);
        worker.stop();
        assert!(
            completed.recv_timeout(Duration::from_millis(50)).is_err(),
            "exactly once"
        );
    }

    #[test]
    fn after_cancel_or_stop_nothing_runs_and_each_request_fails_once() {
        let (completion, completed) = host();
        let ran = Arc::new(AtomicBool::new(false));
        let worker = RequestWorker::start("test-requests", Arc::clone(&ran));
        let (release, held) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel::<()>();
        worker.run(completion(1), move |_| {
            let _ = started.send(());
            let _ = held.recv_timeout(WAIT);
            Ok(())
        });
        worker.run(completion(2), |ran| {
            ran.store(true, Ordering::SeqCst);
            Ok(())
        });
        running.recv_timeout(WAIT).expect("the first request runs");
        worker.cancel();
        let _ = release.send(());
        let mut got: Vec<(u64, u32)> = (0..2)
            .map(|_| completed.recv_timeout(WAIT).expect("completes"))
            .collect();
        got.sort_unstable();
        assert_eq!(
            got,
            [(1, 0), (2, FAILED)],
            "the running one ends, the queued one fails"
        );
        worker.stop();
        worker.run(completion(3), |ran| {
            ran.store(true, Ordering::SeqCst);
            Ok(())
        });
        assert_eq!(completed.recv_timeout(WAIT), Ok((3, FAILED)));
        assert!(!ran.load(Ordering::SeqCst), "nothing ran after cancel");
    }

    #[test]
    fn a_panicking_request_fails_alone() {
        let (completion, completed) = host();
        let worker = RequestWorker::start("test-requests", Arc::new(()));
        worker.run(completion(1), |_| panic!("a driver bug"));
        worker.run(completion(2), |_| Ok(()));
        assert_eq!(completed.recv_timeout(WAIT), Ok((1, FAILED)));
        assert_eq!(completed.recv_timeout(WAIT), Ok((2, 0)));
    }
}
