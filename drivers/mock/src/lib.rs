//! The mock driver: scriptable phones with fault injection. Every test and the demo
//! run on it when no hardware is there; it is also the smallest complete example of
//! a driver.
//!
//! The contract tools rely on (the design's "mock's default phones"): two phones,
//! "Mock Phone 0" and "Mock Phone 1", with stable permanent ids; four data areas of
//! 256 bytes each, shared between SetData and GetData, zero-filled at start;
//! SetData writes the first `dwSize` bytes and leaves the rest; a `dwSize` larger
//! than the area is refused with `OPERATIONFAILED` (nothing written, no
//! completion); the memory lives as long as the process. Requests complete inline
//! and sessions are concurrent by default; both are configurable ([`MockConfig`]).
//! The reservation is an OS file lock in the system temporary folder
//! ([`lock_path`]), so a second open fails with `ALLOCATED` in this process or
//! another; `TSP_RS_LOCK_DIR`, or the setting `lock_dir`, moves it (tests and
//! parallel runs use a folder of their own). Tests drive it at run time through `TSPI_phoneDevSpecific` commands
//! ([`command`]).
#![warn(missing_docs)]

pub mod command;
mod config;
mod fault;
mod phone;
mod session;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tsp_core::{PhoneCaps, PhoneError};
use tsp_plugin_sdk::{
    DeviceInfo, Driver, DriverContext, DriverError, DriverEvents, PhoneEvents, Session,
};

pub use config::{CompletionMode, MockConfig, PhoneConfig};
pub use fault::Fault;
pub use phone::lock_path;
pub use session::OPERATIONS;

use phone::Phone;
use session::MockSession;
use worker::Worker;

/// How many phones the mock serves when nothing configures it.
pub const DEFAULT_PHONE_COUNT: u32 = 2;
/// Data areas per default phone, for SetData and GetData alike.
pub const DEFAULT_DATA_AREAS: usize = 4;
/// Size in bytes of each default data area.
pub const DEFAULT_DATA_AREA_SIZE: u32 = 256;

/// The permanent phone id of mock phone `index`: stable across runs and hosts.
pub const fn default_permanent_id(index: u32) -> u32 {
    // "MK" in the high half keeps mock ids apart from those of real drivers.
    0x4D4B_0000 | index
}

/// The capabilities of default phone `index` ("Mock Phone 0", "Mock Phone 1").
pub fn default_phone_caps(index: u32) -> PhoneCaps {
    phone::caps_of(index, &PhoneConfig::default())
}

/// The capabilities of every default phone, in device order.
pub fn default_phones() -> Vec<PhoneCaps> {
    (0..DEFAULT_PHONE_COUNT).map(default_phone_caps).collect()
}

/// What the driver and its sessions share.
pub(crate) struct Shared {
    config: MockConfig,
    phones: Mutex<Vec<Arc<Phone>>>,
    next_index: AtomicU32,
    events: DriverEvents,
    worker: Worker,
    /// Set by the `hang` command: every call blocks until the driver shuts down.
    hung: Hang,
}

/// The driver's `hang`: calls wait here while it is hung; shutdown lets them go.
#[derive(Debug, Default)]
pub(crate) struct Hang {
    /// Read by every call: while the driver is not hung, without a lock.
    hung: std::sync::atomic::AtomicBool,
    lock: Mutex<()>,
    released: std::sync::Condvar,
}

impl Hang {
    /// From now on every call blocks (this one too).
    pub(crate) fn start(&self) {
        {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.hung.store(true, Ordering::SeqCst);
        }
        self.wait();
    }

    /// Blocks while the driver is hung.
    pub(crate) fn wait(&self) {
        if !self.hung.load(Ordering::SeqCst) {
            return;
        }
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _released = self
            .released
            .wait_while(guard, |()| self.hung.load(Ordering::SeqCst))
            .unwrap_or_else(|e| e.into_inner());
    }

    /// Lets every blocked call go (at shutdown: nothing is left in the driver).
    fn end(&self) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.hung.store(false, Ordering::SeqCst);
        self.released.notify_all();
    }
}

impl Shared {
    fn faults(&self) -> HashMap<String, Fault> {
        self.config
            .faults
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// A new phone arrives (the `arrive` command).
    fn arrive(&self) {
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let phone = Arc::new(Phone::new(
            index,
            PhoneConfig::default(),
            &self.faults(),
            self.config.lie_about_data,
        ));
        let info = DeviceInfo {
            key: phone.key.clone(),
            caps: phone.caps(),
        };
        self.phones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(phone);
        self.events.arrived(&info);
    }

    /// The device `key` is gone for good, whether a session has it open or not.
    fn remove_device(&self, key: &str) -> Result<(), PhoneError> {
        let phone = self.phone(key).ok_or(PhoneError::InvalParam)?;
        phone.set_removed();
        self.events.removed(key);
        Ok(())
    }

    fn phone(&self, key: &str) -> Option<Arc<Phone>> {
        let phones = self.phones.lock().unwrap_or_else(|e| e.into_inner());
        phones.iter().find(|p| p.key == key).cloned()
    }
}

/// The mock driver.
pub struct MockDriver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MockDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockDriver")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Driver for MockDriver {
    const NAME: &'static str = "mock";

    fn start(context: DriverContext) -> Result<Self, DriverError> {
        let config = MockConfig::parse(&context.settings).map_err(|problem| {
            DriverError::new(
                PhoneError::IniFileCorrupt,
                format!("mock settings: {problem}"),
            )
        })?;
        let faults: HashMap<String, Fault> =
            config.faults.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let phones: Vec<Arc<Phone>> = config
            .phones()
            .into_iter()
            .zip(0..)
            .map(|(phone, index)| {
                Arc::new(Phone::new(index, phone, &faults, config.lie_about_data))
            })
            .collect();
        if config.leak_thread {
            tracing::warn!("misbehaving on purpose: a thread shutdown will not stop");
            let _ = std::thread::Builder::new()
                .name("tsp-mock-leak".into())
                .spawn(|| std::thread::sleep(std::time::Duration::from_secs(3600)));
        }
        tracing::info!(phones = phones.len(), "mock driver started");
        let arrive_after = config.arrive_after_ms;
        let shared = Arc::new(Shared {
            next_index: AtomicU32::new(phones.len() as u32),
            phones: Mutex::new(phones),
            config,
            events: context.events,
            worker: Worker::default(),
            hung: Hang::default(),
        });
        if let Some(ms) = arrive_after {
            let later = Arc::downgrade(&shared);
            shared
                .worker
                .schedule(std::time::Duration::from_millis(ms), move || {
                    if let Some(shared) = later.upgrade() {
                        shared.arrive();
                    }
                });
        }
        Ok(Self { shared })
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, DriverError> {
        let phones = self.shared.phones.lock().unwrap_or_else(|e| e.into_inner());
        Ok(phones
            .iter()
            .filter(|p| !p.state().removed)
            .map(|p| DeviceInfo {
                key: p.key.clone(),
                caps: p.caps(),
            })
            .collect())
    }

    fn open(&self, key: &str, events: PhoneEvents) -> Result<Box<dyn Session>, DriverError> {
        self.shared.hung.wait();
        let phone = self.shared.phone(key).ok_or_else(|| {
            DriverError::new(PhoneError::NoDriver, format!("no mock phone `{key}`"))
        })?;
        match phone.fault("open") {
            Fault::Panic => panic!("mock fault: panic in open"),
            Fault::Fail(code) => return Err(DriverError::new(code, "mock fault in open")),
            Fault::Delay(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            _ => {}
        }
        let reservation = if self.shared.config.reservation {
            Some(phone.reserve(self.shared.config.lock_dir.as_deref())?)
        } else {
            None
        };
        tracing::debug!(phone = key, "mock phone opened");
        Ok(Box::new(MockSession::new(
            phone,
            Arc::clone(&self.shared),
            events,
            reservation,
        )))
    }

    fn concurrent_sessions(&self) -> bool {
        self.shared.config.concurrent
    }

    fn shutdown(&self) {
        self.shared.hung.end();
        self.shared.worker.shutdown();
        tracing::info!("mock driver stopped");
    }
}

tsp_plugin_sdk::export_driver!(MockDriver);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_phones_match_the_design_contract() {
        let phones = default_phones();
        assert_eq!(phones.len(), 2);
        assert_eq!(phones[0].name, "Mock Phone 0");
        assert_eq!(phones[1].name, "Mock Phone 1");
        assert_ne!(phones[0].permanent_id, phones[1].permanent_id);
        for phone in &phones {
            assert_eq!(phone.set_data, [256; 4]);
            assert_eq!(phone.get_data, [256; 4]);
        }
    }

    #[test]
    fn permanent_ids_are_stable() {
        assert_eq!(
            default_phone_caps(1).permanent_id,
            default_phone_caps(1).permanent_id
        );
        assert_eq!(default_permanent_id(0), 0x4D4B_0000);
    }

    #[test]
    fn the_lock_folder_is_a_setting() {
        let config = MockConfig::parse("lock_dir = \"/run/tsp-rs/locks\"").expect("parses");
        assert_eq!(
            config.lock_dir.as_deref(),
            Some(std::path::Path::new("/run/tsp-rs/locks"))
        );
        assert_eq!(MockConfig::default().lock_dir, None);
    }

    #[test]
    fn settings_errors_say_what_is_wrong() {
        let error = MockConfig::parse("completion = \"sometimes\"").expect_err("bad mode");
        assert!(error.contains("sometimes"), "{error}");
        let error = MockConfig::parse("[faults]\nfly = \"never\"").expect_err("bad op");
        assert!(error.contains("fly"), "{error}");
        let config = MockConfig::parse("[faults]\nset_data = \"delay 5\"").expect("parses");
        assert_eq!(config.faults["set_data"], Fault::Delay(5));
    }
}
