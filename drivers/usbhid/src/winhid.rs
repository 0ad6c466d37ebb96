//! The HID class driver on Windows, where TAPI runs, through the `hidapi`
//! crate's native backend (SetupAPI and `HidD_*` on `windows-sys`; no C
//! library). A HID device belongs to the class driver there and libusb cannot
//! open it without replacing that driver, so this is how a Windows TSP
//! reaches real headsets.
//!
//! Windows lists each top-level collection of a device as a device of its
//! own: a telephony collection has usage page 0x0B. Its report descriptor is
//! rebuilt by hidapi from the collection's preparsed data (Windows does not
//! keep the bytes), which gives the same fields, usages and report layout,
//! the parts the layout code reads, though not the same bytes. Reads and
//! writes go through two handles on the same device path, so a writer never
//! waits for a read in progress.

use std::ffi::CString;
use std::sync::Mutex;
use std::time::Duration;

use hidapi::{HidApi, HidDevice};

use crate::descriptor::DescriptorError;
use crate::handset;
use crate::transport::{Transport, TransportError, numbered};
use crate::yealink;

mod sys;

/// The Telephony usage page of a top-level collection.
const PAGE_TELEPHONY: u16 = 0x0B;
/// The largest report descriptor hidapi rebuilds.
const MAX_DESCRIPTOR: usize = 4096;
/// The largest report read at once (the kernel's limit elsewhere; ample here).
const MAX_REPORT: usize = 16384;

/// One telephony collection the HID class driver lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its device path (`\\?\hid#vid_…`), what it is opened by.
    pub path: CString,
    /// Vendor id.
    pub vendor_id: u16,
    /// Product id.
    pub product_id: u16,
    /// The USB interface number, when the device is on USB.
    pub interface: Option<u8>,
    /// The serial number, when there is one.
    pub serial: Option<String>,
    /// The product string.
    pub product: Option<String>,
    /// The report descriptor, as hidapi rebuilt it.
    pub report_descriptor: Vec<u8>,
    /// The longest feature report, id byte included (the buffer every
    /// feature read needs).
    pub feature_len: usize,
}

impl Found {
    /// The permanent id's source, as on the other transports: the serial
    /// number, else the device path.
    pub fn identity(&self) -> String {
        let ids = format!("{:04x}:{:04x}", self.vendor_id, self.product_id);
        match &self.serial {
            Some(serial) => format!("{ids}:{serial}"),
            None => format!("{ids}@{}", self.path.to_string_lossy()),
        }
    }

    /// The name a user knows the device by.
    pub fn name(&self) -> String {
        self.product
            .clone()
            .unwrap_or_else(|| format!("HID phone {:04x}:{:04x}", self.vendor_id, self.product_id))
    }

    /// A Yealink USB-P1K family member (vendor protocol, no Telephony page).
    pub fn is_yealink_p1k(&self) -> bool {
        yealink::is_p1k(self.vendor_id, self.product_id)
    }
}

/// Every telephony collection the HID class driver lists now: SetupAPI's
/// list, each collection's usage page asked of the class driver, and only
/// the telephony ones (and Yealink P1Ks) opened through hidapi for their
/// strings and descriptor. None, with a warning, where the system will not
/// list HID devices.
pub fn find_telephony() -> Vec<Found> {
    let paths = match sys::hid_paths() {
        Ok(paths) => paths,
        Err(error) => {
            warn_once(&format!(
                "the HID class driver's devices cannot be listed: {error}"
            ));
            return Vec::new();
        }
    };
    let phones: Vec<_> = paths
        .into_iter()
        .filter_map(|path| {
            let collection = sys::collection(&path)?;
            let phone = collection.usage_page == PAGE_TELEPHONY
                || yealink::is_p1k(collection.vendor_id, collection.product_id);
            phone.then_some((path, collection))
        })
        .collect();
    // A collection is described once while it stays listed: hidapi lists
    // every HID device of the system each time it starts.
    static DESCRIBED: Mutex<Vec<Found>> = Mutex::new(Vec::new());
    let mut described = DESCRIBED.lock().unwrap_or_else(|e| e.into_inner());
    described.retain(|found| phones.iter().any(|(path, _)| *path == found.path));
    let new: Vec<_> = phones
        .iter()
        .filter(|(path, _)| described.iter().all(|found| found.path != *path))
        .collect();
    if !new.is_empty() {
        match api() {
            Ok(api) => {
                let found = new
                    .into_iter()
                    .filter_map(|(path, collection)| describe(&api, path, collection));
                described.extend(found);
            }
            Err(error) => warn_once(&format!("hidapi cannot start: {error}")),
        }
    }
    described
        .iter()
        .filter(|f| is_telephony(f))
        .cloned()
        .collect()
}

/// A warning the first time, debug after: every scan would say it again.
fn warn_once(what: &str) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::debug!("{what}");
    } else {
        tracing::warn!("{what}");
    }
}

/// A hidapi context, for opening collections by path. (It lists every HID
/// device of the system as it starts, through cfgmgr32, which fails under
/// wine: it starts only when there is a new telephony collection to open.)
fn api() -> hidapi::HidResult<HidApi> {
    HidApi::new()
}

/// The telephony collection at `path`: its strings and its descriptor.
fn describe(api: &HidApi, path: &std::ffi::CStr, collection: &sys::Collection) -> Option<Found> {
    let device = api
        .open_path(path)
        .map_err(|error| tracing::debug!(%error, path = %path.to_string_lossy(), "cannot open a HID collection"))
        .ok()?;
    let info = device.get_device_info().ok()?;
    let mut descriptor = vec![0; MAX_DESCRIPTOR];
    let len = device.get_report_descriptor(&mut descriptor).ok()?;
    descriptor.truncate(len);
    Some(Found {
        path: path.to_owned(),
        vendor_id: collection.vendor_id,
        product_id: collection.product_id,
        interface: u8::try_from(info.interface_number()).ok(),
        serial: info
            .serial_number()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        product: info.product_string().map(str::to_owned),
        report_descriptor: descriptor,
        feature_len: collection.feature_len,
    })
}

fn is_telephony(found: &Found) -> bool {
    if found.is_yealink_p1k() {
        return true;
    }
    match handset::telephony_layout(&found.report_descriptor) {
        Ok(layout) => layout.is_some(),
        Err(error) => {
            refused(found, &error);
            false
        }
    }
}

/// Logs that `found`'s report descriptor is refused (once per reason at
/// warning level: every scan finds the device again).
pub(crate) fn refused(found: &Found, error: &DescriptorError) {
    crate::descriptor::log_refused(&found.identity(), error);
}

/// Why a collection could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open {device} through the HID class driver")]
pub struct WinHidError {
    device: String,
    #[source]
    cause: hidapi::HidError,
}

/// An open telephony collection: a handle to read with, one to write with.
pub struct WinHidTransport {
    reader: Mutex<HidDevice>,
    writer: Mutex<HidDevice>,
    uses_report_ids: bool,
    feature_len: usize,
}

impl std::fmt::Debug for WinHidTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WinHidTransport").finish_non_exhaustive()
    }
}

impl WinHidTransport {
    /// Opens `found` twice (reads and writes never wait for each other).
    ///
    /// # Errors
    /// [`WinHidError`] when the class driver refuses it (gone, or held).
    pub fn open(found: &Found, uses_report_ids: bool) -> Result<Self, WinHidError> {
        let failed = |cause| WinHidError {
            device: found.identity(),
            cause,
        };
        let api = api().map_err(failed)?;
        let reader = api.open_path(&found.path).map_err(failed)?;
        let writer = api.open_path(&found.path).map_err(failed)?;
        Ok(Self {
            reader: Mutex::new(reader),
            writer: Mutex::new(writer),
            uses_report_ids,
            feature_len: found.feature_len,
        })
    }
}

fn io(error: hidapi::HidError) -> TransportError {
    TransportError::Io(std::sync::Arc::new(error))
}

fn lock(device: &Mutex<HidDevice>) -> std::sync::MutexGuard<'_, HidDevice> {
    device.lock().unwrap_or_else(|e| e.into_inner())
}

impl Transport for WinHidTransport {
    /// A failed read is the device gone: the class driver fails reads of a
    /// removed device, and the driver's scan finds it again if it is there.
    fn read_input(&self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut buffer = vec![0; MAX_REPORT];
        match lock(&self.reader).read_timeout(&mut buffer, millis) {
            Ok(0) => Ok(None),
            Ok(len) => {
                buffer.truncate(len);
                Ok(Some(buffer))
            }
            Err(error) => {
                tracing::debug!(%error, "a HID read failed: the device is gone");
                Err(TransportError::Gone)
            }
        }
    }

    fn write_output(&self, report: &[u8]) -> Result<(), TransportError> {
        let numbered = numbered(report, self.uses_report_ids);
        lock(&self.writer).write(&numbered).map_err(io)?;
        Ok(())
    }

    fn write_feature(&self, report: &[u8]) -> Result<(), TransportError> {
        let numbered = numbered(report, self.uses_report_ids);
        lock(&self.writer)
            .send_feature_report(&numbered)
            .map_err(io)
    }

    /// The class driver wants a buffer as long as the longest feature report
    /// and returns the id byte first (0 without ids); `len` payload bytes
    /// after it are kept.
    fn read_feature(&self, id: u8, len: usize) -> Result<Vec<u8>, TransportError> {
        let mut buffer = vec![0; (len + 1).max(self.feature_len)];
        buffer[0] = if self.uses_report_ids { id } else { 0 };
        let got = lock(&self.writer)
            .get_feature_report(&mut buffer)
            .map_err(io)?;
        buffer.truncate(got.min(len + 1));
        if !self.uses_report_ids && !buffer.is_empty() {
            buffer.remove(0);
        }
        Ok(buffer)
    }
}
