//! The request path: an asynchronous request from its TSPI call through the
//! phone's queue and the driver to its one completion, and its deadline.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tsp_core::PhoneError;

use crate::phone::{Op, Phone, PhoneHandle};
use crate::requests::{Request, Requests, Stage, Token};

use super::{Due, Provider};
use crate::direct::{DirectCall, in_call};

impl Provider {
    /// Wakes close if it waits for requests to go.
    pub(crate) fn requests_removed(&self) {
        if self.shared.close_waiters.load(Ordering::Acquire) > 0 {
            self.shared.requests_changed.notify_all();
        }
    }

    /// Removes a request and delivers its completion, if it is still there.
    pub(crate) fn finish(&self, token: Token, result: Result<(), PhoneError>) {
        let removed = self.take_for_delivery(&mut self.table(), token);
        self.requests_removed();
        if let Some(request) = removed {
            self.deliver_completion(request.request_id, request.phone, result);
        }
    }

    /// Takes a request out of the table for its completion to be delivered:
    /// counted as on its way to the lane under the table's lock, so a close that
    /// finds the table empty still waits for that completion to be queued
    /// before it flushes. `deliver_completion` uncounts it.
    pub(super) fn take_for_delivery(
        &self,
        requests: &mut Requests,
        token: Token,
    ) -> Option<Request> {
        let removed = requests.remove(token);
        if removed.is_some() {
            self.in_transit();
        }
        removed
    }

    pub(super) fn in_transit(&self) {
        self.shared.in_transit.fetch_add(1, Ordering::AcqRel);
    }

    /// Waits for the completions taken out of the table to reach the lane. That
    /// is host code only (never a driver call), so it ends at once; the bound
    /// is a guard, not a patience. Called while close counts as a waiter, so
    /// each completion queued wakes it (`deliver_completion`).
    pub(super) fn wait_in_transit(&self) {
        let until = Instant::now() + Duration::from_secs(1);
        let mut requests = self.table();
        while self.shared.in_transit.load(Ordering::Acquire) > 0 {
            let now = Instant::now();
            if now >= until {
                tracing::warn!("a completion is still on its way to the lane after 1 s");
                return;
            }
            requests = self
                .shared
                .requests_changed
                .wait_timeout(requests, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A request refused because its phone is closing: out of the table, no
    /// completion.
    pub(super) fn refuse_closed(&self, token: Token) -> i32 {
        self.table().remove(token);
        self.requests_removed();
        PhoneError::InvalPhoneHandle.to_long()
    }

    /// Submits the completion of a request counted by `in_transit`.
    pub(super) fn deliver_completion(
        &self,
        request_id: u32,
        phone: u64,
        result: Result<(), PhoneError>,
    ) {
        // Uncounted as soon as it is queued, before this thread may go on to
        // deliver it: a close called from inside that very callback must not
        // wait for it.
        let queued = || {
            self.shared.in_transit.fetch_sub(1, Ordering::AcqRel);
            if self.shared.close_waiters.load(Ordering::Acquire) > 0 {
                // Under the lock: a waiter between its check and its wait is not missed.
                let _requests = self.table();
                self.shared.requests_changed.notify_all();
            }
        };
        let _span = request_span(request_id, phone).entered();
        match result {
            Ok(()) => tracing::debug!("completed"),
            Err(error) => tracing::debug!(error = error.name(), "completed with an error"),
        }
        let result = tsp_core::phone_result(result);
        self.shared
            .lane
            .complete(request_id, result, phone, None, &queued);
    }

    /// `TSPI_phoneSetData`.
    pub fn set_data(&self, request_id: u32, handle: PhoneHandle, data_id: u32, data: &[u8]) -> i32 {
        let phone = match self.phone(handle) {
            Ok(phone) => phone,
            Err(error) => return error.to_long(),
        };
        let Some(area) = phone.set_data_area(data_id) else {
            return PhoneError::InvalDataId.to_long();
        };
        // Refused before anything is copied or queued: no request makes the
        // host hold more than the caps say (the design's answer for oversize).
        if data.len() > area as usize {
            return PhoneError::OperationFailed.to_long();
        }
        self.request(
            &phone,
            request_id,
            Op::SetData {
                data_id,
                data: Cow::Borrowed(data),
            },
        )
    }

    /// `TSPI_phoneDevSpecific`.
    pub fn dev_specific(&self, request_id: u32, handle: PhoneHandle, params: &[u8]) -> i32 {
        match self.phone(handle) {
            Ok(phone) => self.request(
                &phone,
                request_id,
                Op::DevSpecific {
                    params: Cow::Borrowed(params),
                },
            ),
            Err(error) => error.to_long(),
        }
    }

    /// Starts an asynchronous request: returns `request_id` (a completion follows,
    /// perhaps already delivered) or a negative error (no completion).
    pub(crate) fn request(&self, phone: &Arc<Phone>, request_id: u32, op: Op<'_>) -> i32 {
        let _span = request_span(request_id, phone.handle).entered();
        tracing::debug!(op = op.name(), "request");
        // DevSpecific still reaches a driver whose device is away: a vendor command
        // (a reset, a reconnect) may be exactly what is needed then.
        let exempt = matches!(op, Op::DevSpecific { .. });
        if phone.is_disconnected() && !exempt {
            return PhoneError::InvalPhoneState.to_long();
        }
        if !self.is_initialised() {
            return PhoneError::OperationFailed.to_long();
        }
        if !phone.serial
            && phone.completes_inline.load(Ordering::Relaxed)
            && let Some(call) = DirectCall::begin()
        {
            return self.request_direct(phone, request_id, &op, &call);
        }
        let token = match self.table().insert(request_id, phone.handle, Stage::InCall) {
            Ok(token) => token,
            Err(crate::requests::BadId::Full) => {
                tracing::warn!(
                    bound = crate::requests::MAX_OUTSTANDING,
                    "too many requests outstanding: refused"
                );
                return PhoneError::ResourceUnavail.to_long();
            }
            Err(reason) => {
                tracing::warn!(?reason, "request id refused");
                return PhoneError::OperationFailed.to_long();
            }
        };
        // Read after the insert: a close that began before it sees the request
        // and waits for it, one that began after is seen here. Either way no
        // request reaches a session that is closing.
        if phone.closing.load(Ordering::SeqCst) {
            return self.refuse_closed(token);
        }
        if phone.serial {
            let due = Instant::now() + phone.limits.request;
            let waiting = || crate::queue::Waiting {
                token,
                op: op.clone().into_owned(),
                due,
            };
            match phone.queue.offer(&self.shared.requests, token, waiting) {
                crate::queue::Turn::Now => {}
                turn @ (crate::queue::Turn::Queued | crate::queue::Turn::QueuedStartNext) => {
                    // TAPI waits from now: the deadline counts the time in the queue.
                    self.arm(due, Due::Request(token));
                    if matches!(turn, crate::queue::Turn::QueuedStartNext) {
                        self.start_next(phone);
                    }
                    return request_id as i32;
                }
                // Closed under the queue's lock, which close takes to empty it:
                // nothing is queued behind close's back.
                crate::queue::Turn::Closed => return self.refuse_closed(token),
            }
        }
        // Close may have begun since the check above: a request it has not seen
        // waits for nothing and does not reach the driver after its cancel.
        if phone.closing.load(Ordering::SeqCst) {
            return self.refuse_closed(token);
        }
        in_call(token.to_u64(), phone.handle, self.host_id(), || {
            op.call(&phone.session, token.to_u64());
        });
        let outcome = {
            let mut requests = self.table();
            match requests.get(token).map(|r| r.stage) {
                Some(Stage::CompletedInCall(result)) => {
                    requests.remove(token);
                    if result.is_ok() {
                        self.in_transit();
                    }
                    self.requests_removed();
                    Some(result)
                }
                Some(_) => {
                    requests.set_stage(token, Stage::Running);
                    self.arm_deadline(phone, token);
                    None
                }
                None => None,
            }
        };
        match outcome {
            Some(Err(error)) => {
                // Refused before the call returned: a negative return, no completion.
                self.start_next(phone);
                error.to_long()
            }
            Some(Ok(())) => {
                self.deliver_completion(request_id, phone.handle, Ok(()));
                self.start_next(phone);
                request_id as i32
            }
            None => request_id as i32,
        }
    }

    /// A request of a concurrent phone whose driver completes inline: in the
    /// table only if its call returns without the completion (`direct.rs`).
    fn request_direct(
        &self,
        phone: &Arc<Phone>,
        request_id: u32,
        op: &Op<'_>,
        call: &DirectCall,
    ) -> i32 {
        if let Err(reason) = crate::requests::check_range(request_id) {
            tracing::warn!(?reason, "request id refused");
            return PhoneError::OperationFailed.to_long();
        }
        // TAPI never reuses an outstanding id; the check costs a lock only
        // when the table holds anything to find.
        if self.shared.outstanding.load(Ordering::Acquire) > 0
            && self.table().is_outstanding(request_id)
        {
            tracing::warn!(reason = "outstanding", "request id refused");
            return PhoneError::OperationFailed.to_long();
        }
        let in_call_now = InCall::enter(self, phone);
        // After the count: a close that began before it waits for this call,
        // one that began after is seen here (both sequentially consistent).
        if phone.closing.load(Ordering::SeqCst) {
            return PhoneError::InvalPhoneHandle.to_long();
        }
        let outcome = in_call(call.token, phone.handle, self.host_id(), || {
            op.call(&phone.session, call.token);
        });
        let result = match outcome {
            Some(result) => result,
            None => match call.settle(|| self.register_direct(phone, request_id, call.token)) {
                Ok(result) => result,
                Err(registered) => return registered,
            },
        };
        match result {
            // Refused before the call returned: a negative return, no completion.
            Err(error) => error.to_long(),
            Ok(()) if self.deliver_direct(request_id, phone, &in_call_now) => request_id as i32,
            // Close gave up on this call and flushed: too late for a completion.
            Ok(()) => PhoneError::OperationFailed.to_long(),
        }
    }

    /// A direct request whose call returned without its completion goes to
    /// the table (unless close gave up on it), with its deadline.
    fn register_direct(&self, phone: &Arc<Phone>, request_id: u32, direct: u64) -> i32 {
        phone.completes_inline.store(false, Ordering::Relaxed);
        let mut requests = self.table();
        if phone.abandoned.load(Ordering::SeqCst) {
            return PhoneError::OperationFailed.to_long();
        }
        let token = requests.insert_direct(request_id, phone.handle, direct);
        drop(requests);
        self.arm_deadline(phone, token);
        request_id as i32
    }

    /// Queues the completion of a direct request, unless its phone's close
    /// already flushed the lane.
    ///
    /// The request stops counting as in its call once its completion is
    /// queued (under the lane's lock), before this thread may deliver it: a
    /// close from inside that very callback must not wait for it.
    fn deliver_direct(&self, request_id: u32, phone: &Phone, in_call: &InCall<'_>) -> bool {
        tracing::debug!("completed");
        let refused = Some(&phone.abandoned);
        let queued = || in_call.leave();
        (self.shared.lane).complete(request_id, 0, phone.handle, refused, &queued)
    }

    /// Starts the queued requests of a serial phone, in a loop (never by recursion),
    /// until one stays outstanding or none is left.
    pub(crate) fn start_next(&self, phone: &Arc<Phone>) {
        if !phone.serial {
            return;
        }
        loop {
            let next = phone.queue.next(&self.shared.requests);
            let Some(crate::queue::Waiting { token, op, due }) = next else {
                return;
            };
            // Its time ran out in the queue (its deadline job is late), or close
            // began: it ends here, without the driver and without a miss.
            if phone.closing.load(Ordering::SeqCst) || Instant::now() >= due {
                self.finish(token, Err(PhoneError::OperationFailed));
                continue;
            }
            in_call(token.to_u64(), phone.handle, self.host_id(), || {
                op.call(&phone.session, token.to_u64());
            });
            let stage = {
                let mut requests = self.table();
                let stage = requests.stage(token);
                if matches!(stage, Some(Stage::InCall)) {
                    requests.set_stage(token, Stage::Running);
                    // Armed again: the deadline armed when it was queued finds
                    // nothing to do if it came while the call ran.
                    self.arm(due, Due::Request(token));
                }
                stage
            };
            match stage {
                // Its TSPI call returned long ago: report through the completion.
                Some(Stage::CompletedInCall(result)) => self.finish(token, result),
                // Outstanding: its completion starts the next one.
                Some(_) => return,
                // Removed meanwhile (the phone closed): whoever removed it reported it.
                None => {}
            }
        }
    }

    /// Starts the clock of an outstanding request.
    pub(super) fn arm_deadline(&self, phone: &Phone, token: Token) {
        self.arm(Instant::now() + phone.limits.request, Due::Request(token));
    }

    /// Arms the host's one timer.
    pub(crate) fn arm(&self, at: Instant, due: Due) {
        let shared = Arc::downgrade(&self.shared);
        self.shared.timer.arm(at, due, move |due| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let provider = Provider { shared };
            match due {
                Due::Request(token) => provider.expire(token),
                Due::ButtonUp { phone, press } => provider.made_up_release(phone, press),
                Due::Probe(phone) => provider.probe(phone),
            }
        });
    }

    /// A request past its deadline completes with an error; its late completion
    /// from the driver finds nothing.
    pub(super) fn expire(&self, token: Token) {
        let request = {
            let mut requests = self.table();
            match requests.stage(token) {
                Some(Stage::Running) => self.take_for_delivery(&mut requests, token),
                Some(Stage::Queued) => {
                    drop(requests);
                    return self.expire_queued(token);
                }
                _ => return,
            }
        };
        self.requests_removed();
        let Some(request) = request else { return };
        tracing::warn!(
            request_id = request.request_id,
            phone = request.phone,
            "request past its deadline"
        );
        self.deliver_completion(
            request.request_id,
            request.phone,
            Err(PhoneError::OperationFailed),
        );
        if let Ok(phone) = self.phone(request.phone) {
            // A request that waited in the queue had less than its deadline in
            // the driver: no miss of the driver's.
            let driver_had = if phone.serial {
                phone.queue.held_for(token)
            } else {
                None
            };
            if driver_had.is_none_or(|had| had >= phone.limits.request) {
                self.missed(&phone);
            }
            self.start_next(&phone);
        }
    }

    /// A request still waiting in its phone's queue at its deadline: taken out
    /// and failed (the driver never saw it, so it is no miss of the driver's).
    pub(super) fn expire_queued(&self, token: Token) {
        let request = self.table().get(token);
        let Some(phone) = request.and_then(|r| self.phone(r.phone).ok()) else {
            return;
        };
        let taken = phone.queue.withdraw(token);
        if taken {
            tracing::warn!(
                request_id = request.map_or(0, |r| r.request_id),
                phone = phone.handle,
                "request past its deadline in the queue"
            );
            self.finish(token, Err(PhoneError::OperationFailed));
        }
    }

    /// A completion from a driver.
    pub(super) fn completed(&self, token: Token, result: Result<(), PhoneError>) {
        let request = {
            let mut requests = self.table();
            let Some(request) = requests.get(token) else {
                return;
            };
            match request.stage {
                Stage::InCall => {
                    requests.set_stage(token, Stage::CompletedInCall(result));
                    return;
                }
                Stage::Running => {
                    self.take_for_delivery(&mut requests, token);
                    request
                }
                Stage::Queued | Stage::CompletedInCall(_) => return,
            }
        };
        self.requests_removed();
        self.deliver_completion(request.request_id, request.phone, result);
        if let Ok(phone) = self.phone(request.phone) {
            self.answered(&phone);
            self.start_next(&phone);
        }
        self.ended_before_deadline();
    }

    /// A request ended before its deadline, whose job stays in the timer
    /// until its time. A driver completing from its own threads at a high
    /// rate would fill the timer with them (rate × the deadline, 30 s by
    /// default): past a slack as large as the requests outstanding, the jobs
    /// of requests no longer in the table are dropped.
    fn ended_before_deadline(&self) {
        const SLACK: usize = 4096;
        let ended = self.shared.ended_early.fetch_add(1, Ordering::Relaxed) + 1;
        let outstanding = self.shared.outstanding.load(Ordering::Relaxed);
        if ended > SLACK.max(outstanding) {
            self.shared.ended_early.store(0, Ordering::Relaxed);
            self.prune_deadlines();
        }
    }

    /// Drops the timer's deadline jobs of requests that are no longer in the
    /// table. Jobs armed after the table was read stay (their request may
    /// have come in after it).
    fn prune_deadlines(&self) {
        let mark = self.shared.timer.mark();
        let live: std::collections::HashSet<Token> = self.table().tokens().into_iter().collect();
        self.shared
            .timer
            .retain_armed_before(mark, |due| match due {
                Due::Request(token) => live.contains(token),
                _ => true,
            });
    }
}

/// A direct request in its driver call, counted on its phone until it
/// leaves (its completion queued, or the request over).
struct InCall<'a> {
    provider: &'a Provider,
    phone: &'a Phone,
    left: std::cell::Cell<bool>,
}

impl<'a> InCall<'a> {
    fn enter(provider: &'a Provider, phone: &'a Phone) -> Self {
        phone.in_calls.fetch_add(1, Ordering::SeqCst);
        Self {
            provider,
            phone,
            left: std::cell::Cell::new(false),
        }
    }

    /// Uncounts the request (once), waking a close that waits for it.
    fn leave(&self) {
        if self.left.replace(true) {
            return;
        }
        self.phone.in_calls.fetch_sub(1, Ordering::SeqCst);
        if self.provider.shared.close_waiters.load(Ordering::SeqCst) > 0 {
            // Under the table's lock: close checks the count under it, so it
            // is either before its check or already waiting.
            let _requests = self.provider.table();
            self.provider.shared.requests_changed.notify_all();
        }
    }
}

impl Drop for InCall<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// The span a request's log lines carry: at `debug`, every line logged on its
/// way (the driver's too, when it logs in the call) names the request and the
/// phone. A debug span costs nothing on the request path at the usual `warn`
/// or `info`, so the warnings about a request carry both fields themselves.
fn request_span(request_id: u32, phone: u64) -> tracing::Span {
    tracing::debug_span!("request", request_id, phone)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;
    use std::time::Duration;

    use crate::{Config, Host};

    /// A driver completing every request from its own thread: each request's
    /// deadline job outlives it (30 s); the timer keeps no more of them than
    /// the slack, whatever the number of requests.
    #[test]
    fn deadlines_of_requests_that_ended_do_not_pile_up() {
        let locks = tempfile::tempdir().expect("a folder");
        let mut config = Config {
            drivers: vec!["mock".into()],
            ..Config::default()
        };
        let settings = format!(
            "completion = \"worker\"\ndelay_ms = 0\nlock_dir = {:?}\n",
            locks.path().display().to_string()
        );
        config
            .settings
            .insert("mock".into(), settings.parse().expect("TOML"));
        let (done, completed) = channel();
        let host = Host::builder()
            .driver(tsp_driver_mock::tsp_driver_module())
            .config(config)
            .on_completion(move |id, result| {
                let _ = done.send((id, result));
            })
            .start()
            .expect("starts");
        let phone = host.open(0, 1).expect("opens");
        let requests = 12_000;
        for _ in 0..requests {
            let id = host.next_request_id();
            assert_eq!(host.set_data(id, phone, 0, b"x"), Ok(id));
            assert_eq!(
                completed.recv_timeout(Duration::from_secs(10)).map(|c| c.0),
                Ok(id)
            );
        }
        let waiting = host.provider().shared.timer.len();
        assert!(
            waiting <= 4096 + 16,
            "{waiting} deadline jobs wait after {requests} requests ended"
        );
        host.shutdown();
    }
}
