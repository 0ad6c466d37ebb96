//! Requests that enter the request table only if their driver does not
//! complete them before its call returns.
//!
//! Most requests to a concurrent phone complete inside the driver's call. For
//! those, the table's insert, the completion's lookup and the removal were a
//! third of the request path (three lock pairs and a hash map). A direct
//! request instead carries a token naming the calling thread's *record* and a
//! sequence number; the thread knows it is in that call (`CALL`), so a
//! completion on the same thread is a thread-local write. Only a completion
//! from another thread before the call returns needs a lock: the record's,
//! which the caller also takes when the call returned without a completion,
//! to insert the request into the table (with this token as an alias) unless
//! that completion is already there. Whichever comes second under the
//! record's lock sees the other, so no completion is lost or doubled.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tsp_core::PhoneError;

/// The bit that marks a direct request's token (a table token never has it).
pub(crate) const DIRECT: u64 = 1 << 63;
const SEQ_BITS: u32 = 48;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// Records are numbered in 15 bits: more threads than that at once in direct
/// calls fall back to the table.
const MAX_RECORDS: usize = 1 << 15;

/// What this thread is doing in a driver call.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ThreadCall {
    /// The token of the request whose driver call this thread is in (0: none).
    pub(crate) token: u64,
    /// That request's phone.
    pub(crate) phone: u64,
    /// The host (provider) the call is for: handles are per host, and a
    /// process may hold several.
    pub(crate) host: usize,
    /// The completion the driver gave on this thread during the call.
    pub(crate) outcome: Option<Result<(), PhoneError>>,
    record: Option<&'static Record>,
}

std::thread_local! {
    static CALL: Cell<ThreadCall> = const { Cell::new(ThreadCall {
        token: 0, phone: 0, host: 0, outcome: None, record: None,
    }) };
    static RELEASE: Release = const { Release(Cell::new(usize::MAX)) };
}

/// A thread's record: read by other threads only through a direct token.
#[derive(Debug, Default)]
pub(crate) struct Record {
    index: usize,
    /// The sequence number of the direct call this thread is in (0: none, or
    /// the call returned and its request went to the table).
    current: AtomicU64,
    /// The last sequence number used; written by the owning thread only.
    last: AtomicU64,
    /// A completion from another thread that came while the call ran.
    early: Mutex<Option<(u64, Result<(), PhoneError>)>>,
}

#[derive(Default)]
struct Registry {
    records: Vec<&'static Record>,
    free: Vec<usize>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    records: Vec::new(),
    free: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gives a thread's record back when the thread ends, for the next thread.
struct Release(Cell<usize>);

impl Drop for Release {
    fn drop(&mut self) {
        let index = self.0.get();
        if index != usize::MAX {
            // Forgotten here first: a request from a later thread-local
            // destructor must not use a record another thread now owns.
            let _ = CALL.try_with(|c| {
                let mut call = c.get();
                call.record = None;
                c.set(call);
            });
            registry().free.push(index);
        }
    }
}

/// This thread's record, registered at its first direct request. `None` when
/// [`MAX_RECORDS`] threads hold one.
fn own_record() -> Option<&'static Record> {
    if let Some(record) = CALL.with(Cell::get).record {
        return Some(record);
    }
    // A thread ending (its thread-locals going) takes the table.
    let releases = RELEASE.try_with(|r| r.0.get() == usize::MAX).ok()?;
    if !releases {
        return None;
    }
    let record = {
        let mut registry = registry();
        match registry.free.pop() {
            Some(index) => registry.records[index],
            None if registry.records.len() < MAX_RECORDS => {
                let index = registry.records.len();
                // Records live as long as the process: each is reused by the
                // next thread once its thread ends, so there are never more
                // than threads alive at once.
                let record: &'static Record = Box::leak(Box::new(Record {
                    index,
                    ..Record::default()
                }));
                registry.records.push(record);
                record
            }
            None => return None,
        }
    };
    RELEASE.with(|r| r.0.set(record.index));
    CALL.with(|c| {
        let mut call = c.get();
        call.record = Some(record);
        c.set(call);
    });
    Some(record)
}

/// A direct call begun on this thread.
pub(crate) struct DirectCall {
    record: &'static Record,
    seq: u64,
    /// The token the driver receives.
    pub(crate) token: u64,
}

impl DirectCall {
    /// Begins a direct call, unless this thread is in a driver call already (a
    /// request from inside a callback that call caused takes the table: the
    /// record follows one call at a time) or has no record.
    pub(crate) fn begin() -> Option<Self> {
        if CALL.with(Cell::get).token != 0 {
            return None;
        }
        let record = own_record()?;
        // 1 to 2^48 - 1: 0 is `current`'s "no call".
        let seq = record.last.load(Ordering::Relaxed) % SEQ_MASK + 1;
        record.last.store(seq, Ordering::Relaxed);
        // Seen by a completing thread through whatever handed it the
        // completion, which the driver got in the call below.
        record.current.store(seq, Ordering::Release);
        let token = DIRECT | ((record.index as u64) << SEQ_BITS) | seq;
        Some(Self { record, seq, token })
    }

    /// The call returned without a completion on this thread: the completion
    /// another thread gave meanwhile, or `None`, and then `register` runs (it
    /// puts the request in the table) before any later completion is looked
    /// for there.
    pub(crate) fn settle<T>(
        &self,
        register: impl FnOnce() -> T,
    ) -> Result<Result<(), PhoneError>, T> {
        let mut early = lock_early(self.record);
        self.record.current.store(0, Ordering::Release);
        match early.take() {
            Some((seq, result)) if seq == self.seq => Ok(result),
            _ => Err(register()),
        }
    }
}

fn lock_early(record: &Record) -> MutexGuard<'_, Option<(u64, Result<(), PhoneError>)>> {
    record.early.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a driver call of the request with `token` on `phone` of `host`,
/// known to this thread meanwhile; returns the completion the driver gave on
/// this thread during the call, if any.
pub(crate) fn in_call(
    token: u64,
    phone: u64,
    host: usize,
    call: impl FnOnce(),
) -> Option<Result<(), PhoneError>> {
    let outer = CALL.with(|c| {
        let outer = c.get();
        c.set(ThreadCall {
            token,
            phone,
            host,
            outcome: None,
            record: outer.record,
        });
        outer
    });
    call();
    CALL.with(|c| {
        let inner = c.get();
        c.set(ThreadCall {
            record: inner.record,
            ..outer
        });
        inner.outcome
    })
}

/// The driver call this thread is in.
pub(crate) fn current() -> ThreadCall {
    CALL.with(Cell::get)
}

/// A completion of direct request `token`: kept for the caller while its call
/// runs; otherwise `in_table` runs under the record's lock (the caller
/// cannot be inserting the request meanwhile) and finds it in the table.
pub(crate) fn completed<T>(
    token: u64,
    result: Result<(), PhoneError>,
    in_table: impl FnOnce() -> T,
) -> Option<T> {
    let here = CALL.with(|c| {
        let mut call = c.get();
        if call.token != token {
            return false;
        }
        // The driver's Completion is used once; a second would be a host bug.
        if call.outcome.is_none() {
            call.outcome = Some(result);
            c.set(call);
        }
        true
    });
    if here {
        return None;
    }
    let index = ((token & !DIRECT) >> SEQ_BITS) as usize;
    let seq = token & SEQ_MASK;
    let record = *registry().records.get(index)?;
    let mut early = lock_early(record);
    if record.current.load(Ordering::Acquire) == seq {
        *early = Some((seq, result));
        return None;
    }
    Some(in_table())
}

/// Whether `token` is a direct request's.
pub(crate) fn is_direct(token: u64) -> bool {
    token & DIRECT != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_on_the_calling_thread_is_the_call_s_outcome() {
        let call = DirectCall::begin().expect("a record");
        let outcome = in_call(call.token, 1, 1, || {
            assert!(completed(call.token, Ok(()), || ()).is_none());
        });
        assert_eq!(outcome, Some(Ok(())));
        assert_eq!(current().token, 0, "out of the call");
    }

    #[test]
    fn a_completion_from_another_thread_during_the_call_is_kept_for_the_caller() {
        let call = DirectCall::begin().expect("a record");
        let token = call.token;
        let outcome = in_call(token, 1, 1, || {
            std::thread::spawn(move || {
                assert!(completed(token, Err(PhoneError::ResourceUnavail), || ()).is_none());
            })
            .join()
            .expect("the completing thread");
        });
        assert_eq!(outcome, None, "not on this thread");
        let settled = call.settle(|| "registered");
        assert_eq!(settled, Ok(Err(PhoneError::ResourceUnavail)));
    }

    #[test]
    fn a_completion_after_the_call_settled_goes_to_the_table() {
        let call = DirectCall::begin().expect("a record");
        let token = call.token;
        assert_eq!(in_call(token, 1, 1, || {}), None);
        assert_eq!(call.settle(|| "registered"), Err("registered"));
        let looked_up = std::thread::spawn(move || completed(token, Ok(()), || "table"))
            .join()
            .expect("the completing thread");
        assert_eq!(looked_up, Some("table"));
    }

    #[test]
    fn a_nested_call_takes_the_table() {
        let call = DirectCall::begin().expect("a record");
        in_call(call.token, 1, 1, || assert!(DirectCall::begin().is_none()));
        assert!(DirectCall::begin().is_some(), "free again after the call");
    }
}
