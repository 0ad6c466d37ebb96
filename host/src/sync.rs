//! The synchronisation primitives of the parts the model checker explores (the
//! callback lane, the call gate): std's, or loom's with the `model` feature, so
//! `cargo test -p tsp-host --features model --lib model` runs the real code
//! under every interleaving loom reaches.

#[cfg(feature = "model")]
pub(crate) use loom::sync::atomic::AtomicU8;
#[cfg(feature = "model")]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(feature = "model"))]
pub(crate) use std::sync::atomic::AtomicU8;
#[cfg(not(feature = "model"))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// Locks, taking a poisoned lock as it is (a panic elsewhere must not wedge the
/// host).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
