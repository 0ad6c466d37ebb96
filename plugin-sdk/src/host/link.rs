//! The host link: what a driver calls back into the host with. [`HostLink`] is
//! the Rust trait the host implements; [`HostLinkAdapter`] puts it behind the
//! ABI's trait object of the same name ([`abi::HostLink`]), making the values
//! typed and guarding every call against panics.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::RArc;
use tsp_core::PhoneError;

use crate::abi::{
    self, DRIVER_EVENT_ARRIVED, DRIVER_EVENT_CONNECTED, DRIVER_EVENT_DISCONNECTED,
    DRIVER_EVENT_REMOVED, FfiDriverEvent, FfiLogRecord, FfiPhoneEvent, HostLink_TO, HostLinkBox,
};
use crate::codec::caps_from_bytes;
use crate::driver::DeviceInfo;
use crate::event::{DriverEvent, PhoneEvent};

/// The host link: what the host does with what a driver reports. Called from
/// any thread, including from inside a call into the driver (a completion
/// before the call returns). Implementations must not panic; a panic is caught
/// and logged.
///
/// Its form across the boundary is [`abi::HostLink`], the ABI's trait object,
/// which [`Plugin::start`](super::Plugin::start) builds from this one.
pub trait HostLink: Send + Sync + 'static {
    /// Request `token` finished.
    fn complete(&self, token: u64, result: Result<(), PhoneError>);
    /// Something happened on the phone opened as `session`.
    fn phone_event(&self, session: u64, event: PhoneEvent);
    /// A device of driver `driver` arrived, left or came back.
    fn driver_event(&self, driver: &str, event: DriverEvent);

    /// Driver `driver` panicked in an entry point (caught inside the plugin and
    /// answered with `OPERATIONFAILED`). Reported by plugins with the log bridge.
    fn driver_panicked(&self, driver: &str, message: &str) {
        let _ = (driver, message);
    }
}

/// The link driver `driver` gets: `host` behind the ABI's trait object.
pub(crate) fn new_link(driver: &'static str, host: Arc<dyn HostLink>) -> HostLinkBox {
    HostLink_TO::from_ptr(RArc::new(HostLinkAdapter { driver, host }), TD_Opaque)
}

/// The host's [`HostLink`] as one driver sees it: the ABI's trait object over
/// it, tagged with the driver's name.
struct HostLinkAdapter {
    driver: &'static str,
    host: Arc<dyn HostLink>,
}

impl HostLinkAdapter {
    fn guarded(&self, what: &str, f: impl FnOnce()) {
        if catch_unwind(AssertUnwindSafe(f)).is_err() {
            tracing::error!(driver = self.driver, "HostLink::{what} panicked");
        }
    }
}

impl abi::HostLink for HostLinkAdapter {
    fn complete(&self, token: u64, result: u32) {
        let result = match result {
            0 => Ok(()),
            code => Err(PhoneError::from_code(code).unwrap_or(PhoneError::OperationFailed)),
        };
        self.guarded("complete", || self.host.complete(token, result));
    }

    fn phone_event(&self, session: u64, event: FfiPhoneEvent) {
        let Some(event) = PhoneEvent::from_ffi(event) else {
            tracing::debug!(driver = self.driver, ?event, "unknown phone event ignored");
            return;
        };
        self.guarded("phone_event", || self.host.phone_event(session, event));
    }

    fn driver_event(&self, event: FfiDriverEvent) {
        let key = event.device.key.to_string();
        let event = match event.kind {
            DRIVER_EVENT_ARRIVED => match caps_from_bytes(&event.device.caps) {
                Some(caps) => DriverEvent::Arrived(Box::new(DeviceInfo { key, caps })),
                None => {
                    tracing::warn!(
                        driver = self.driver,
                        key,
                        "arrived device with unreadable caps ignored"
                    );
                    return;
                }
            },
            DRIVER_EVENT_DISCONNECTED => DriverEvent::Disconnected(key),
            DRIVER_EVENT_CONNECTED => DriverEvent::Connected(key),
            DRIVER_EVENT_REMOVED => DriverEvent::Removed(key),
            other => {
                tracing::debug!(
                    driver = self.driver,
                    kind = other,
                    "unknown driver event ignored"
                );
                return;
            }
        };
        self.guarded("driver_event", || {
            self.host.driver_event(self.driver, event)
        });
    }

    fn log(&self, record: FfiLogRecord) {
        let (driver, target, message) =
            (self.driver, record.target.as_str(), record.message.as_str());
        if target == crate::adapter::PANIC_TARGET {
            self.guarded("driver_panicked", || {
                self.host.driver_panicked(driver, message)
            });
        }
        match record.level {
            1 => tracing::error!(target: "tsp_plugin", driver, target, "{message}"),
            2 => tracing::warn!(target: "tsp_plugin", driver, target, "{message}"),
            3 => tracing::info!(target: "tsp_plugin", driver, target, "{message}"),
            4 => tracing::debug!(target: "tsp_plugin", driver, target, "{message}"),
            _ => tracing::trace!(target: "tsp_plugin", driver, target, "{message}"),
        }
    }
}
