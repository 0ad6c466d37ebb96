//! The smallest useful driver: one phone with one 64-byte data area that SetData
//! writes and GetData reads. Build it with `cargo build --example minimal`; it is a
//! plugin (`cdylib`) like any vendor's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tsp_plugin_sdk::core::{PhoneCaps, PhoneError, PhoneFeatures, StringFormat};
use tsp_plugin_sdk::{
    Completion, DeviceInfo, Driver, DriverContext, DriverError, PhoneEvents, Session, export_driver,
};

const AREA_SIZE: usize = 64;

/// The driver: holds the phone's memory, which outlives its sessions.
#[derive(Debug)]
pub struct MinimalDriver {
    memory: Arc<Mutex<[u8; AREA_SIZE]>>,
    in_use: Arc<AtomicBool>,
}

impl Driver for MinimalDriver {
    const NAME: &'static str = "minimal";

    fn start(_context: DriverContext) -> Result<Self, DriverError> {
        tracing::info!("minimal driver started");
        Ok(Self {
            memory: Arc::new(Mutex::new([0; AREA_SIZE])),
            in_use: Arc::default(),
        })
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, DriverError> {
        Ok(vec![DeviceInfo {
            key: "minimal0".into(),
            caps: PhoneCaps {
                name: "Minimal Phone".into(),
                provider_info: "tsp-plugin-sdk example".into(),
                permanent_id: 0x4D49_0000,
                string_format: Some(StringFormat::Unicode),
                set_data: vec![AREA_SIZE as u32],
                get_data: vec![AREA_SIZE as u32],
                features: PhoneFeatures::SETDATA | PhoneFeatures::GETDATA,
                ..PhoneCaps::default()
            },
        }])
    }

    fn open(&self, key: &str, _events: PhoneEvents) -> Result<Box<dyn Session>, DriverError> {
        if key != "minimal0" {
            return Err(DriverError::new(
                PhoneError::NoDriver,
                format!("no device `{key}`"),
            ));
        }
        // Reserve the device (a real driver locks its port or interface here).
        if self.in_use.swap(true, Ordering::AcqRel) {
            return Err(PhoneError::Allocated.into());
        }
        Ok(Box::new(MinimalSession {
            memory: Arc::clone(&self.memory),
            in_use: Arc::clone(&self.in_use),
        }))
    }
}

struct MinimalSession {
    memory: Arc<Mutex<[u8; AREA_SIZE]>>,
    in_use: Arc<AtomicBool>,
}

impl Session for MinimalSession {
    fn set_data(&self, data_id: u32, data: &[u8], done: Completion) {
        if data_id != 0 || data.len() > AREA_SIZE {
            return done.complete(Err(PhoneError::InvalDataId));
        }
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory[..data.len()].copy_from_slice(data);
        done.complete(Ok(()));
    }

    fn get_data(&self, data_id: u32, buf: &mut [u8]) -> Result<(), PhoneError> {
        if data_id != 0 {
            return Err(PhoneError::InvalDataId);
        }
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let n = buf.len().min(AREA_SIZE);
        buf[..n].copy_from_slice(&memory[..n]);
        Ok(())
    }

    fn close(&self) {
        self.in_use.store(false, Ordering::Release);
    }
}

export_driver!(MinimalDriver);
