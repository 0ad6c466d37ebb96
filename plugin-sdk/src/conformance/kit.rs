//! The host the kit plays: it records completions and panics, hands out
//! request tokens, and waits for completions no longer than its patience; and
//! the process's thread count, for the shutdown check.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tsp_core::PhoneError;

use crate::host::HostLink;
use crate::{DriverEvent, PhoneEvent};

/// The kit's host: records completions and panics.
pub(super) struct Kit {
    state: Mutex<KitState>,
    changed: Condvar,
    patience: Duration,
}

#[derive(Default)]
struct KitState {
    next_token: u64,
    completions: HashMap<u64, Vec<Result<(), PhoneError>>>,
    panics: Vec<String>,
}

impl Kit {
    pub(super) fn new(patience: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            changed: Condvar::new(),
            patience,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KitState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn next_token(&self) -> u64 {
        let mut state = self.lock();
        state.next_token += 1;
        state.next_token
    }

    /// Waits for every token in `tokens` to complete at least once.
    pub(super) fn wait_all(&self, tokens: &[u64]) -> Result<(), String> {
        let deadline = Instant::now() + self.patience;
        let mut state = self.lock();
        loop {
            let missing = tokens
                .iter()
                .filter(|t| !state.completions.contains_key(t))
                .count();
            if missing == 0 {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{missing} of {} requests did not complete within {:?}",
                    tokens.len(),
                    self.patience
                ));
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub(super) fn wait(&self, token: u64) -> Result<Result<(), PhoneError>, String> {
        self.wait_all(&[token])?;
        Ok(self.lock().completions[&token][0])
    }

    pub(super) fn exactly_once(&self, tokens: &[u64]) -> Result<(), String> {
        // Give a duplicate a moment to show up.
        std::thread::sleep(Duration::from_millis(20));
        let state = self.lock();
        let twice = tokens
            .iter()
            .filter(|t| state.completions.get(t).is_some_and(|c| c.len() > 1))
            .count();
        if twice > 0 {
            return Err(format!("{twice} requests completed more than once"));
        }
        Ok(())
    }

    pub(super) fn panics(&self) -> Result<(), String> {
        let state = self.lock();
        match state.panics.first() {
            None => Ok(()),
            Some(first) => Err(format!(
                "the driver panicked {} times; first: {first}",
                state.panics.len()
            )),
        }
    }
}

impl HostLink for Kit {
    fn complete(&self, token: u64, result: Result<(), PhoneError>) {
        self.lock()
            .completions
            .entry(token)
            .or_default()
            .push(result);
        self.changed.notify_all();
    }

    fn phone_event(&self, _: u64, _: PhoneEvent) {}

    fn driver_event(&self, _: &str, _: DriverEvent) {}

    fn driver_panicked(&self, _: &str, message: &str) {
        self.lock().panics.push(message.to_owned());
    }
}

/// This process's threads, where the platform tells.
pub(super) fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

pub(super) fn no_new_threads(before: Option<usize>) -> Result<(), String> {
    let Some(before) = before else {
        return Ok(());
    };
    // Joined threads leave the task list at once; give exiting ones a moment.
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        let now = thread_count().unwrap_or(before);
        if now <= before {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} thread(s) still running after shutdown",
                now - before
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
