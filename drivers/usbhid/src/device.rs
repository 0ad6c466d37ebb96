//! An open handset: a reader thread turning input reports into events, and the
//! operations that write output reports, over any [`Transport`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::descriptor::Direction;
use crate::handset::{DataError, Handset, HandsetEvent, Layout, ReportError};
use crate::transport::{Transport, TransportError};

/// How long a read waits before the reader looks at the stop flag again.
const POLL: Duration = Duration::from_millis(50);

/// What the reader reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A hookswitch or button change.
    Handset(HandsetEvent),
    /// A report that did not decode; logged, the device goes on.
    BadReport(ReportError),
    /// The device is gone; no more events follow.
    Disconnected,
}

/// Why an operation failed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    /// The device has no such lamp, or no ringer and no Ring lamp.
    #[error("the device has no such control")]
    NoSuchControl,
    /// A data request the areas do not allow.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The transfer failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A Yealink packet could not be built, or the device refused it.
    #[error(transparent)]
    Packet(#[from] crate::yealink::PacketError),
}

/// What a session asks of a running device, whatever its protocol: the Telephony
/// page ([`Device`]) or the Yealink packets ([`crate::p1k::P1k`]). Lamps are
/// numbered as in [`crate::handset::Layout::lamps`], data areas as in its
/// `data_areas`.
pub trait Control: Send + Sync + std::fmt::Debug {
    /// Lights or darkens lamp `index`.
    ///
    /// # Errors
    /// [`DeviceError::NoSuchControl`], or the transfer's error.
    fn set_lamp(&self, index: usize, on: bool) -> Result<(), DeviceError>;

    /// Rings (at `volume`, 0–0xFFFF, where the device has a ring volume) or stops.
    ///
    /// # Errors
    /// [`DeviceError::NoSuchControl`], or the transfer's error.
    fn set_ring(&self, on: bool, volume: u32) -> Result<(), DeviceError>;

    /// Takes the phone off hook or puts it on hook from software.
    ///
    /// # Errors
    /// [`DeviceError::NoSuchControl`] where the device cannot, or the transfer's
    /// error.
    fn set_hookswitch(&self, off_hook: bool) -> Result<(), DeviceError>;

    /// Downloads `data` into data area `id`.
    ///
    /// # Errors
    /// [`DeviceError::Data`] for an unknown area or too much data,
    /// [`DeviceError::Packet`] for data the device's format refuses, or the
    /// transfer's error.
    fn set_data(&self, id: u32, data: &[u8]) -> Result<(), DeviceError>;

    /// Uploads data area `id`.
    ///
    /// # Errors
    /// [`DeviceError::Data`] for an unknown area, or the transfer's error.
    fn get_data(&self, id: u32) -> Result<Vec<u8>, DeviceError>;

    /// Whether lamp `index` is lit, as last written.
    fn lamp_is_on(&self, index: usize) -> bool;
}

impl Control for Device {
    fn set_lamp(&self, index: usize, on: bool) -> Result<(), DeviceError> {
        Device::set_lamp(self, index, on)
    }

    /// HID telephony has no ring volume: `volume` is not used.
    fn set_ring(&self, on: bool, _volume: u32) -> Result<(), DeviceError> {
        Device::set_ring(self, on)
    }

    fn set_hookswitch(&self, off_hook: bool) -> Result<(), DeviceError> {
        Device::set_hookswitch(self, off_hook)
    }

    fn set_data(&self, id: u32, data: &[u8]) -> Result<(), DeviceError> {
        Device::set_data(self, id, data)
    }

    fn get_data(&self, id: u32) -> Result<Vec<u8>, DeviceError> {
        Device::get_data(self, id)
    }

    fn lamp_is_on(&self, index: usize) -> bool {
        Device::lamp_is_on(self, index)
    }
}

/// An open handset. Dropping it stops the reader thread and waits for it.
pub struct Device {
    handset: Arc<Mutex<Handset>>,
    transport: Arc<dyn Transport>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("handset", &self.handset)
            .finish_non_exhaustive()
    }
}

fn lock(handset: &Mutex<Handset>) -> MutexGuard<'_, Handset> {
    handset.lock().unwrap_or_else(|e| e.into_inner())
}

impl Device {
    /// Starts reading `transport`; `on_event` runs on the reader thread.
    ///
    /// A hookswitch change is echoed to the Off-Hook lamp before it is reported:
    /// headsets that do not hear it back revert their state.
    pub fn start(
        layout: Layout,
        transport: Arc<dyn Transport>,
        on_event: impl FnMut(DeviceEvent) + Send + 'static,
    ) -> std::io::Result<Self> {
        let handset = Arc::new(Mutex::new(Handset::new(layout)));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (handset, transport, stop) = (handset.clone(), transport.clone(), stop.clone());
            std::thread::Builder::new()
                .name("tsp-usbhid-reader".into())
                .spawn(move || read_loop(&handset, &*transport, &stop, on_event))?
        };
        Ok(Self {
            handset,
            transport,
            stop,
            reader: Some(reader),
        })
    }

    /// Lights or darkens lamp `index` (TAPI's lamp number).
    ///
    /// # Errors
    /// [`DeviceError::NoSuchControl`], or the transfer's error.
    pub fn set_lamp(&self, index: usize, on: bool) -> Result<(), DeviceError> {
        self.write(|h| h.set_lamp(index, on))
    }

    /// Rings or stops ringing.
    ///
    /// # Errors
    /// [`DeviceError::NoSuchControl`], or the transfer's error.
    pub fn set_ring(&self, on: bool) -> Result<(), DeviceError> {
        self.write(|h| h.set_ring(on))
    }

    /// Takes the headset off hook or puts it on hook from software.
    ///
    /// # Errors
    /// [`DeviceError::NoSuchControl`] without an Off-Hook lamp, or the transfer's
    /// error.
    pub fn set_hookswitch(&self, off_hook: bool) -> Result<(), DeviceError> {
        self.write(|h| h.echo_hookswitch(off_hook))
    }

    /// Downloads `data` into data area `id`: an output or feature report.
    ///
    /// # Errors
    /// [`DeviceError::Data`] for an unknown area or too much data, or the
    /// transfer's error.
    pub fn set_data(&self, id: u32, data: &[u8]) -> Result<(), DeviceError> {
        let mut handset = lock(&self.handset);
        let (area, report) = handset.set_data(id, data)?;
        match area.direction {
            Direction::Feature => self.transport.write_feature(&report)?,
            _ => self.transport.write_output(&report)?,
        }
        Ok(())
    }

    /// Uploads data area `id`: a feature report is read from the device; an
    /// output report, which devices do not return, is what was last written.
    ///
    /// # Errors
    /// [`DeviceError::Data`] for an unknown area, or the transfer's error.
    pub fn get_data(&self, id: u32) -> Result<Vec<u8>, DeviceError> {
        let handset = lock(&self.handset);
        let area = handset.area(id)?;
        if area.direction != Direction::Feature {
            return Ok(handset.written_data(id)?);
        }
        let mut report = self.transport.read_feature(area.report_id, area.len)?;
        if handset.uses_report_ids() && !report.is_empty() {
            report.remove(0);
        }
        Ok(report)
    }

    /// Whether lamp `index` is lit, as last written.
    pub fn lamp_is_on(&self, index: usize) -> bool {
        lock(&self.handset).lamp_is_on(index)
    }

    /// The shadow is updated and written under one lock, so the device sees
    /// reports in the order the shadow changed.
    fn write(
        &self,
        change: impl FnOnce(&mut Handset) -> Option<Vec<u8>>,
    ) -> Result<(), DeviceError> {
        let mut handset = lock(&self.handset);
        let report = change(&mut handset).ok_or(DeviceError::NoSuchControl)?;
        self.transport.write_output(&report)?;
        Ok(())
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn read_loop(
    handset: &Mutex<Handset>,
    transport: &dyn Transport,
    stop: &AtomicBool,
    mut on_event: impl FnMut(DeviceEvent),
) {
    while !stop.load(Ordering::Acquire) {
        let report = match transport.read_input(POLL) {
            Ok(Some(report)) => report,
            Ok(None) => continue,
            Err(TransportError::Gone) => {
                on_event(DeviceEvent::Disconnected);
                return;
            }
            Err(error) => {
                let error = crate::transport::chain(&error);
                tracing::warn!(%error, "reading a USB HID input report failed");
                continue;
            }
        };
        // The decoding is checked arithmetic on bounded lengths; should a bug
        // panic all the same, the report is dropped and the reader goes on.
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            let mut handset = lock(handset);
            let decoded = handset.input(&report);
            for event in decoded.iter().flatten() {
                if let HandsetEvent::Hookswitch(off_hook) = event {
                    echo(&mut handset, transport, *off_hook);
                }
            }
            decoded
        }));
        let Ok(decoded) = decoded else {
            tracing::error!(
                len = report.len(),
                "decoding an input report panicked, a bug; the report is dropped"
            );
            continue;
        };
        match decoded {
            Ok(events) => events
                .into_iter()
                .for_each(|e| on_event(DeviceEvent::Handset(e))),
            Err(error) => {
                tracing::warn!(%error, "an input report was dropped");
                on_event(DeviceEvent::BadReport(error));
            }
        }
    }
}

fn echo(handset: &mut Handset, transport: &dyn Transport, off_hook: bool) {
    if let Some(report) = handset.echo_hookswitch(off_hook)
        && let Err(error) = transport.write_output(&report)
    {
        tracing::warn!(%error, "echoing the hookswitch to the Off-Hook lamp failed");
    }
}
