//! The bounded queue between a port's reader thread and whoever handles its
//! unsolicited result codes (the driver's listener).
//!
//! A device can send unsolicited codes faster than they are handled, or while
//! nobody reads them (during probing, between a reopen and its listener), so the
//! queue holds at most its capacity ([`CAPACITY`] for the ports the driver
//! opens). At the bound the **oldest** code is dropped to make room: the newest
//! say what the device is doing now (the hookswitch, the call indicator), and
//! the reader's last word, [`GONE`](crate::port::GONE), is never the one dropped.
//! `std::sync::mpsc::sync_channel` cannot do that (its sender cannot take the
//! oldest out, and a full one either blocks the reader — which would stop
//! command answers too — or refuses the newest), hence this small ring.
//!
//! Sending never blocks. A burst of drops is reported with **one** `warn`, at
//! its first drop; the burst ends when the receiver has caught up (emptied the
//! queue). [`Receiver::dropped`] counts every drop.

use std::collections::VecDeque;
use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The capacity of the ports' unsolicited queues: real devices send a few codes
/// a second and the listener handles each at once; 64 leaves room for a burst
/// (and for what arrives while probing) at a bounded cost (64 lines of at most
/// [`MAX_LINE`](crate::at::MAX_LINE) bytes).
pub const CAPACITY: usize = 64;

#[derive(Debug)]
struct State {
    queue: VecDeque<String>,
    capacity: usize,
    sender: bool,
    receiver: bool,
    dropped: u64,
    in_burst: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A bounded queue of unsolicited codes holding at most `capacity` (at least 1).
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::with_capacity(capacity),
            capacity,
            sender: true,
            receiver: true,
            dropped: 0,
            in_burst: false,
        }),
        ready: Condvar::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

/// The reader's end. Dropping it tells the receiver no more will come.
#[derive(Debug)]
pub struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    /// Queues `line`; when the queue is full the oldest is dropped to make room.
    /// Never blocks. Returns `false` when the receiver is gone (the line is then
    /// discarded).
    pub fn send(&self, line: String) -> bool {
        let mut state = self.shared.lock();
        if !state.receiver {
            return false;
        }
        if state.queue.len() >= state.capacity {
            state.queue.pop_front();
            state.dropped = state.dropped.saturating_add(1);
            if !state.in_burst {
                state.in_burst = true;
                tracing::warn!(
                    capacity = state.capacity,
                    "unsolicited codes come faster than they are handled; dropping the oldest \
                     until the listener catches up"
                );
            }
        }
        state.queue.push_back(line);
        drop(state);
        self.shared.ready.notify_one();
        true
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.shared.lock().sender = false;
        self.shared.ready.notify_all();
    }
}

/// The listener's end.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
}

impl Receiver {
    fn take(state: &mut State) -> Option<String> {
        let line = state.queue.pop_front()?;
        if state.queue.is_empty() {
            // Caught up: the next drop starts a new burst, and is reported.
            state.in_burst = false;
        }
        Some(line)
    }

    /// The oldest queued code, waiting for one; an error once the sender is gone
    /// and the queue is empty.
    pub fn recv(&self) -> Result<String, RecvError> {
        let mut state = self.shared.lock();
        loop {
            if let Some(line) = Self::take(&mut state) {
                return Ok(line);
            }
            if !state.sender {
                return Err(RecvError);
            }
            state = self
                .shared
                .ready
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// As [`recv`](Self::recv), waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<String, RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(line) = Self::take(&mut state) {
                return Ok(line);
            }
            if !state.sender {
                return Err(RecvTimeoutError::Disconnected);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvTimeoutError::Timeout);
            }
            state = self
                .shared
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The oldest queued code, without waiting.
    pub fn try_recv(&self) -> Result<String, TryRecvError> {
        let mut state = self.shared.lock();
        match Self::take(&mut state) {
            Some(line) => Ok(line),
            None if state.sender => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Disconnected),
        }
    }

    /// How many codes are queued now (never more than the capacity).
    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many codes were dropped at the bound since the queue was made.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver = false;
        state.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_log::warnings;

    #[test]
    fn at_the_bound_the_oldest_go_and_one_line_is_logged_per_burst() {
        let (tx, rx) = channel(4);
        let ((), logged) = warnings(|| {
            for i in 0..100_000 {
                assert!(tx.send(format!("+CIEV: 2,{i}")));
                assert!(rx.len() <= 4);
            }
        });
        assert_eq!(logged, 1, "one line for the burst, not one per code");
        assert_eq!(rx.dropped(), 100_000 - 4);
        let kept: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            kept,
            [
                "+CIEV: 2,99996",
                "+CIEV: 2,99997",
                "+CIEV: 2,99998",
                "+CIEV: 2,99999"
            ],
            "the newest are kept"
        );
        let ((), logged) = warnings(|| {
            for i in 0..10 {
                tx.send(format!("RING {i}"));
            }
        });
        assert_eq!(logged, 1, "caught up, then a new burst: reported again");
    }

    #[test]
    fn a_slow_listener_under_a_steady_flood_is_one_burst() {
        let (tx, rx) = channel(4);
        let ((), logged) = warnings(|| {
            for i in 0..1000 {
                tx.send(format!("RING {i}"));
                if i % 3 == 0 {
                    let _ = rx.try_recv();
                }
            }
        });
        assert_eq!(logged, 1, "it never caught up: one burst");
    }

    #[test]
    fn the_sender_never_blocks_and_the_end_is_seen() {
        let (tx, rx) = channel(1);
        assert!(tx.send("RING".into()));
        assert!(
            tx.send("+CKEV: 1,1".into()),
            "full: the oldest goes instead"
        );
        drop(tx);
        assert_eq!(rx.recv().as_deref(), Ok("+CKEV: 1,1"));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Disconnected)
        );
        let (tx, rx) = channel(CAPACITY);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Timeout)
        );
        drop(rx);
        assert!(!tx.send("RING".into()), "nobody listens");
    }
}
