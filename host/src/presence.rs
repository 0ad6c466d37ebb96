//! Plug and play and device presence (design, "Device presence"; reference §5.7).
//!
//! A device that arrives is announced with PHONE_CREATE through TAPI's create
//! procedure (buffered until `TSPI_providerEnumDevices` gives it), and bound to
//! the id TAPI picks at `TSPI_providerCreatePhoneDevice`. A device that goes away
//! for now is PHONE_STATE(DISCONNECTED) and refuses requests with
//! `INVALPHONESTATE`; back, PHONE_STATE(CONNECTED). A device gone for good has its
//! outstanding requests completed with an error, its phone closed (PHONE_CLOSE)
//! and then PHONE_REMOVE; its id is never reused.

use tsp_core::{PhoneError, PhoneMessage};
use tsp_plugin_sdk::{DeviceInfo, DriverEvent, PhoneEvent};

use std::sync::Arc;

use crate::lane::{Delivery, NO_PHONE};
use crate::phone::Latch;
use crate::provider::{Device, Provider, lock};
use crate::tapi::EventProc;

/// A device that arrived and waits for its id.
#[derive(Debug, Clone)]
struct Arrival {
    temp_id: usize,
    driver: String,
    info: DeviceInfo,
    announced: bool,
}

/// The most arrivals waiting for `TSPI_providerCreatePhoneDevice`. A driver
/// reporting more (a flapping device, a hostile plugin) loses the oldest: its
/// temporary id is `BADDEVICEID`, as for a device that left.
pub(crate) const MAX_ARRIVALS: usize = 1024;

/// The most devices the table keeps (a removed device keeps its entry: ids are
/// never reused). Past it arrivals are ignored, with an error in the log, so a
/// device that comes and goes for ever cannot grow the host without bound.
pub(crate) const MAX_DEVICES: usize = 1 << 18;

/// TAPI's create procedure and the arrivals not yet bound to an id.
#[derive(Debug, Default)]
pub(crate) struct Pnp {
    create_proc: Option<EventProc>,
    h_provider: usize,
    next_temp: usize,
    arrivals: Vec<Arrival>,
}

impl Provider {
    /// Keeps TAPI's create procedure and announces the arrivals buffered so far.
    pub(crate) fn set_create_proc(&self, h_provider: usize, create_proc: Option<EventProc>) {
        {
            let mut pnp = lock(&self.shared.pnp);
            pnp.h_provider = h_provider;
            pnp.create_proc = create_proc;
        }
        self.announce_arrivals();
    }

    /// PHONE_CREATE for each arrival not announced yet. Not while the lane is
    /// closed (from a shutdown to the next init): they wait for that init.
    pub(crate) fn announce_arrivals(&self) {
        if !self.shared.lane.is_running() {
            return;
        }
        let (proc_, h_provider, pending) = {
            let mut pnp = lock(&self.shared.pnp);
            let Some(proc_) = pnp.create_proc.clone() else {
                return;
            };
            let pending: Vec<usize> = pnp
                .arrivals
                .iter_mut()
                .filter(|a| !a.announced)
                .map(|a| {
                    a.announced = true;
                    a.temp_id
                })
                .collect();
            (proc_, pnp.h_provider, pending)
        };
        for temp_id in pending {
            tracing::info!(temp_id, "PHONE_CREATE");
            self.shared.lane.submit(Delivery::Event {
                proc_: proc_.clone(),
                ht_phone: 0,
                msg: PhoneMessage::Create.code(),
                params: [h_provider, temp_id, 0],
                phone: NO_PHONE,
            });
        }
    }

    /// A presence event a driver reported for one of its devices.
    pub(crate) fn driver_presence(&self, driver: &str, event: DriverEvent) {
        match event {
            DriverEvent::Arrived(info) => {
                // Lock order: the state before pnp (as create_phone_device).
                let known = self.state().devices.len();
                {
                    let mut pnp = lock(&self.shared.pnp);
                    if known >= MAX_DEVICES {
                        tracing::error!(
                            bound = MAX_DEVICES,
                            driver,
                            key = info.key,
                            "the device table is full: the arrival is ignored (restart TAPI)"
                        );
                        return;
                    }
                    if pnp.arrivals.len() >= MAX_ARRIVALS {
                        // The oldest's temporary id is BADDEVICEID from now on.
                        let oldest = pnp.arrivals.remove(0);
                        tracing::warn!(
                            bound = MAX_ARRIVALS,
                            temp_id = oldest.temp_id,
                            "too many arrivals waiting for TAPI: the oldest is forgotten"
                        );
                    }
                    pnp.next_temp += 1;
                    let temp_id = pnp.next_temp;
                    pnp.arrivals.push(Arrival {
                        temp_id,
                        driver: driver.to_owned(),
                        info: *info,
                        announced: false,
                    });
                }
                self.announce_arrivals();
            }
            DriverEvent::Disconnected(key) => {
                self.device_presence(driver, &key, PhoneEvent::Disconnected)
            }
            DriverEvent::Connected(key) => {
                self.device_presence(driver, &key, PhoneEvent::Connected)
            }
            DriverEvent::Removed(key) => {
                if let Some(index) = self.device_of_key(driver, &key) {
                    self.remove_device(index);
                } else {
                    self.forget_arrival(driver, &key);
                }
            }
        }
    }

    /// A device away or back: reported on its phone if it is open.
    fn device_presence(&self, driver: &str, key: &str, event: PhoneEvent) {
        let Some(index) = self.device_of_key(driver, key) else {
            return;
        };
        let handle = lock(&self.shared.phones).of_device(index).map(|p| p.handle);
        if let Some(handle) = handle {
            self.phone_event(handle, event);
        }
    }

    /// A device that left before TAPI gave it an id: its temporary id is
    /// `BADDEVICEID` from now on, so no phone is bound to a device that is gone.
    fn forget_arrival(&self, driver: &str, key: &str) {
        let mut pnp = lock(&self.shared.pnp);
        pnp.arrivals
            .retain(|a| !(a.driver == driver && a.info.key == key));
    }

    fn device_of_key(&self, driver: &str, key: &str) -> Option<usize> {
        self.state()
            .devices
            .iter()
            .position(|d| d.present && d.driver == driver && d.key == key)
    }

    /// `TSPI_providerCreatePhoneDevice`: binds an arrival's temporary id to the
    /// device id TAPI chose. An unknown id, or a device that left meanwhile, is
    /// `BADDEVICEID`.
    pub fn create_phone_device(&self, temp_id: usize, device_id: u32) -> Result<(), PhoneError> {
        // Everything is checked before the arrival is taken: a refused id must
        // not lose the device. 0xFFFFFFFF is INITIALIZE_NEGOTIATION, never an id.
        if device_id == u32::MAX {
            return Err(PhoneError::BadDeviceId);
        }
        let mut state = self.state();
        if state.devices.iter().any(|d| d.id == Some(device_id)) {
            return Err(PhoneError::BadDeviceId);
        }
        let arrival = {
            let mut pnp = lock(&self.shared.pnp);
            let position = pnp
                .arrivals
                .iter()
                .position(|a| a.temp_id == temp_id)
                .ok_or(PhoneError::BadDeviceId)?;
            let candidate = &pnp.arrivals[position];
            if !state.drivers.iter().any(|d| d.name == candidate.driver) {
                return Err(PhoneError::BadDeviceId);
            }
            // A device that arrived while the drivers started is listed by the
            // enumeration too: it has its id already and gets no second one.
            let listed = state
                .devices
                .iter()
                .any(|d| d.present && d.driver == candidate.driver && d.key == candidate.info.key);
            if listed {
                pnp.arrivals.remove(position);
                return Err(PhoneError::BadDeviceId);
            }
            pnp.arrivals.remove(position)
        };
        let driver_index = state
            .drivers
            .iter()
            .position(|d| d.name == arrival.driver)
            .ok_or(PhoneError::BadDeviceId)?;
        state.devices.push(Device {
            driver: arrival.driver,
            key: arrival.info.key,
            caps: arrival.info.caps,
            id: Some(device_id),
            present: true,
            driver_index,
            opens: Arc::default(),
        });
        tracing::info!(temp_id, device_id, "phone device created");
        Ok(())
    }

    /// A device gone for good: its phone is closed by the provider (requests
    /// completed with an error, PHONE_CLOSE), then PHONE_REMOVE. Its id and
    /// permanent id are never reused.
    pub(crate) fn remove_device(&self, index: usize) {
        let device_id = {
            let mut state = self.state();
            let Some(device) = state.devices.get_mut(index).filter(|d| d.present) else {
                return;
            };
            device.present = false;
            device.id
        };
        // A TSPI_phoneClose that comes meanwhile waits for this latch, so it
        // returns only after the completions and PHONE_CLOSE below.
        let done = Arc::new(Latch::default());
        let phone = {
            let mut phones = lock(&self.shared.phones);
            let handle = phones.of_device(index).map(|p| p.handle);
            handle.and_then(|h| phones.force_close(h, Arc::clone(&done)))
        };
        if let Some(phone) = phone {
            let (proc_, ht_phone, handle) =
                (phone.event_proc.clone(), phone.ht_phone, phone.handle);
            self.shut_phone(phone);
            self.shared.lane.submit(Delivery::Closed {
                proc_,
                ht_phone,
                phone: handle,
            });
        }
        done.set();
        let create_proc = lock(&self.shared.pnp).create_proc.clone();
        if let (Some(proc_), Some(device_id)) = (create_proc, device_id) {
            tracing::info!(device_id, "PHONE_REMOVE");
            self.shared.lane.submit(Delivery::Event {
                proc_,
                ht_phone: 0,
                msg: PhoneMessage::Remove.code(),
                params: [device_id as usize, 0, 0],
                phone: NO_PHONE,
            });
        }
    }
}
