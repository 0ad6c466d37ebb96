//! The kernel's HID class on Linux: `/dev/hidrawN`. The HID driver stays bound,
//! so the desktop keeps the headset's keys (volume, mute, call buttons) while a
//! phone is open; libusb, which detaches it, is left for devices without a
//! hidraw node and for those the settings name.
//!
//! Finding: every node of `/sys/class/hidraw`, its HID device's
//! `report_descriptor` (what the kernel parsed) and `uevent` (bus, ids, name,
//! serial), and for USB the interface folder above it (port path and interface
//! number), so a device's identity is the one libusb would give it and its
//! permanent phone id does not change with the transport.
//!
//! Reports: `read` gives one input report (its id first when the descriptor
//! declares ids), `write` takes one output report (its id first, 0 without
//! ids), and the feature reports go through `HIDIOCGFEATURE`/`HIDIOCSFEATURE`
//! (`hidraw/sys.rs`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::descriptor::DescriptorError;
use crate::handset;
use crate::transport::{Transport, TransportError, numbered};
use crate::yealink;

mod sys;

/// The kernel's bus numbers in `HID_ID`: USB, Bluetooth.
const BUS_USB: u32 = 3;
const BUS_BLUETOOTH: u32 = 5;
/// The largest report hidraw passes (the kernel's HID_MAX_BUFFER_SIZE).
const MAX_REPORT: usize = 16384;

/// One telephony HID device with a hidraw node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its node, `/dev/hidrawN`.
    pub node: PathBuf,
    /// The bus in `HID_ID` (3: USB, 5: Bluetooth).
    pub bus: u32,
    /// Vendor id.
    pub vendor_id: u16,
    /// Product id.
    pub product_id: u16,
    /// For USB: the port path (`1-1.4`) and interface number of the HID
    /// interface, as libusb's side names them.
    pub usb_interface: Option<(String, u8)>,
    /// The serial number (`HID_UNIQ`, the USB serial string), when there is one.
    pub serial: Option<String>,
    /// The product name: the USB product string, else `HID_NAME`.
    pub product: Option<String>,
    /// The report descriptor bytes, as the kernel read them.
    pub report_descriptor: Vec<u8>,
}

impl Found {
    /// The permanent id's source, the same as libusb's for the same device:
    /// the serial number, else the port path (else the node).
    pub fn identity(&self) -> String {
        let ids = format!("{:04x}:{:04x}", self.vendor_id, self.product_id);
        match (&self.serial, &self.usb_interface) {
            (Some(serial), _) => format!("{ids}:{serial}"),
            (None, Some((port_path, _))) => format!("{ids}@{port_path}"),
            (None, None) => format!("{ids}@{}", self.node.display()),
        }
    }

    /// The name a user knows the device by: its product string, or its ids.
    pub fn name(&self) -> String {
        self.product
            .clone()
            .unwrap_or_else(|| format!("HID phone {:04x}:{:04x}", self.vendor_id, self.product_id))
    }

    /// A Yealink USB-P1K family member (vendor protocol, no Telephony page).
    pub fn is_yealink_p1k(&self) -> bool {
        yealink::is_p1k(self.vendor_id, self.product_id)
    }

    /// The bus, as a user calls it.
    pub fn bus_name(&self) -> &'static str {
        match self.bus {
            BUS_USB => "USB",
            BUS_BLUETOOTH => "Bluetooth",
            _ => "HID",
        }
    }
}

/// Where hidraw nodes are listed: `/sys/class/hidraw`.
fn class_folder() -> PathBuf {
    PathBuf::from("/sys/class/hidraw")
}

/// Every telephony HID device with a hidraw node: a Telephony application
/// collection in its report descriptor, or a Yealink USB-P1K. None where the
/// system has no hidraw (a container without `/sys/class/hidraw`).
pub fn find_telephony() -> Vec<Found> {
    let Ok(nodes) = std::fs::read_dir(class_folder()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = nodes
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with("hidraw"))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| described(&name))
        .filter(is_telephony)
        .collect()
}

/// What sysfs says of node `name` (`hidrawN`).
fn described(name: &str) -> Option<Found> {
    let hid = std::fs::canonicalize(class_folder().join(name).join("device")).ok()?;
    let uevent = std::fs::read_to_string(hid.join("uevent")).ok()?;
    let (bus, vendor_id, product_id) = hid_id(&uevent)?;
    let report_descriptor = std::fs::read(hid.join("report_descriptor")).ok()?;
    // The USB interface folder is the nearest one above with an interface
    // number: a receiver's devices (hid-logitech-dj) sit one HID device lower.
    let interface_folder = (bus == BUS_USB)
        .then(|| {
            hid.ancestors()
                .skip(1)
                .find(|folder| folder.join("bInterfaceNumber").exists())
        })
        .flatten();
    let usb_interface = interface_folder.and_then(usb_interface_of);
    let usb_device = interface_folder.and_then(|folder| folder.parent().map(Path::to_path_buf));
    let serial = property(&uevent, "HID_UNIQ").or_else(|| {
        usb_device
            .as_ref()
            .and_then(|d| attribute(&d.join("serial")))
    });
    let product = usb_device
        .as_ref()
        .and_then(|d| attribute(&d.join("product")))
        .or_else(|| property(&uevent, "HID_NAME"));
    Some(Found {
        node: PathBuf::from("/dev").join(name),
        bus,
        vendor_id,
        product_id,
        usb_interface,
        serial,
        product,
        report_descriptor,
    })
}

/// Whether `found` is a phone this user may open; a descriptor that cannot
/// be laid out is logged once and left out. A node the user may not open is
/// left out too (with one log line), so libusb, which the user may have
/// access to by another rule, serves the device.
fn is_telephony(found: &Found) -> bool {
    if !sys::accessible(&found.node) {
        not_accessible(found);
        return false;
    }
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

/// Logs, once per node, that a telephony-looking node cannot be opened.
fn not_accessible(found: &Found) {
    static SEEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen.contains(&found.node) {
        return;
    }
    if seen.len() >= 256 {
        seen.clear();
    }
    seen.push(found.node.clone());
    tracing::info!(
        node = %found.node.display(),
        "no read and write access to this hidraw node: the device is left to libusb; install drivers/usbhid/udev/70-tsp-rs-telephony.rules to reach it through the HID class"
    );
}

/// Logs that `found`'s report descriptor is refused (once per reason at
/// warning level: every scan finds the device again).
pub(crate) fn refused(found: &Found, error: &DescriptorError) {
    crate::descriptor::log_refused(
        &format!("{} ({})", found.identity(), found.node.display()),
        error,
    );
}

/// `HID_ID=0003:00001234:00005678`: bus, vendor and product.
fn hid_id(uevent: &str) -> Option<(u32, u16, u16)> {
    let id = property(uevent, "HID_ID")?;
    let mut parts = id.split(':');
    let bus = u32::from_str_radix(parts.next()?, 16).ok()?;
    let vendor = u32::from_str_radix(parts.next()?, 16).ok()?;
    let product = u32::from_str_radix(parts.next()?, 16).ok()?;
    Some((
        bus,
        u16::try_from(vendor).ok()?,
        u16::try_from(product).ok()?,
    ))
}

fn property(uevent: &str, key: &str) -> Option<String> {
    uevent
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

fn attribute(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// An interface folder `1-1.4:1.0`: port path `1-1.4`, and the interface
/// number its `bInterfaceNumber` says (hex), else its name's.
fn usb_interface_of(folder: &Path) -> Option<(String, u8)> {
    let name = folder.file_name()?.to_str()?;
    let (port_path, config_interface) = name.split_once(':')?;
    let interface = match attribute(&folder.join("bInterfaceNumber")) {
        Some(hex) => u8::from_str_radix(&hex, 16).ok()?,
        None => config_interface.split_once('.')?.1.parse().ok()?,
    };
    Some((port_path.to_owned(), interface))
}

/// An open hidraw node.
pub struct HidrawTransport {
    file: File,
    found: Found,
    uses_report_ids: bool,
}

impl std::fmt::Debug for HidrawTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HidrawTransport")
            .field("node", &self.found.node)
            .finish_non_exhaustive()
    }
}

/// Why a hidraw node could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum HidrawError {
    /// No permission on the node.
    #[error("no permission to open {0}; install drivers/usbhid/udev/70-tsp-rs-telephony.rules")]
    Access(PathBuf),
    /// The node is gone (unplugged).
    #[error("{0} is gone (unplugged)")]
    Gone(PathBuf),
    /// Anything else the system said.
    #[error("cannot open {0}")]
    Other(PathBuf, #[source] std::io::Error),
}

impl HidrawTransport {
    /// Opens `found`'s node for reading and writing. Nothing is detached or
    /// claimed: other programs keep the device's keys.
    ///
    /// # Errors
    /// [`HidrawError::Access`] without permission, [`HidrawError::Gone`] when
    /// the node has gone.
    pub fn open(found: &Found, uses_report_ids: bool) -> Result<Self, HidrawError> {
        let node = found.node.clone();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&node)
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::PermissionDenied => HidrawError::Access(node.clone()),
                std::io::ErrorKind::NotFound => HidrawError::Gone(node.clone()),
                _ => HidrawError::Other(node.clone(), error),
            })?;
        // A real hidraw node is never a terminal; umockdev's emulated nodes
        // are pseudo-terminals, whose line discipline would echo and edit
        // the reports.
        sys::raw_if_terminal(&file);
        Ok(Self {
            file,
            found: found.clone(),
            uses_report_ids,
        })
    }

    /// What a failed transfer means. The device is gone when the kernel says
    /// ENODEV, when a read fails with EIO (what hidraw answers once the device
    /// is disconnected), or when the node is no longer listed; any other
    /// error (EPIPE: the device stalled a request; EIO from a Bluetooth
    /// device refusing one) is that transfer's alone.
    fn failed(&self, error: std::io::Error, reading: bool) -> TransportError {
        match error.raw_os_error() {
            Some(sys::ENODEV) => TransportError::Gone,
            Some(sys::EIO) if reading => TransportError::Gone,
            _ if !self.still_listed() => TransportError::Gone,
            _ => TransportError::Io(std::sync::Arc::new(error)),
        }
    }

    /// Whether sysfs still lists the node.
    fn still_listed(&self) -> bool {
        self.found
            .node
            .file_name()
            .is_some_and(|name| class_folder().join(name).exists())
    }
}

impl Transport for HidrawTransport {
    fn read_input(&self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        let readable = sys::readable_within(&self.file, timeout);
        if !readable.map_err(|e| self.failed(e, true))? {
            // The kernel fails the next read of an unplugged device; a node
            // whose class entry has gone is unplugged as well (and so is an
            // emulated one, which never fails).
            return if self.still_listed() {
                Ok(None)
            } else {
                Err(TransportError::Gone)
            };
        }
        let mut buffer = vec![0; MAX_REPORT];
        let read = (&self.file)
            .read(&mut buffer)
            .map_err(|e| self.failed(e, true))?;
        if read == 0 {
            return Err(TransportError::Gone);
        }
        buffer.truncate(read);
        Ok(Some(buffer))
    }

    fn write_output(&self, report: &[u8]) -> Result<(), TransportError> {
        let numbered = numbered(report, self.uses_report_ids);
        (&self.file)
            .write_all(&numbered)
            .map_err(|e| self.failed(e, false))
    }

    fn write_feature(&self, report: &[u8]) -> Result<(), TransportError> {
        let mut numbered = numbered(report, self.uses_report_ids);
        sys::set_feature(self.file.as_raw_fd(), &mut numbered)
            .map_err(|e| self.failed(e, false))?;
        Ok(())
    }

    fn read_feature(&self, id: u8, len: usize) -> Result<Vec<u8>, TransportError> {
        let mut buffer = vec![0; len + 1];
        buffer[0] = if self.uses_report_ids { id } else { 0 };
        let got = sys::get_feature(self.file.as_raw_fd(), &mut buffer)
            .map_err(|e| self.failed(e, false))?;
        buffer.truncate(got.min(buffer.len()));
        // Without ids, USB's HID driver leaves the 0 it was given in front
        // (one byte more than the report); Bluetooth's returns the report.
        if !self.uses_report_ids && got == len + 1 {
            buffer.remove(0);
        }
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hid_ids_and_usb_interfaces_are_read_as_the_kernel_writes_them() {
        let uevent = "DRIVER=hid-generic\nHID_ID=0003:0000047F:000002E6\nHID_NAME=Plantronics BT700\nHID_UNIQ=\n";
        assert_eq!(hid_id(uevent), Some((3, 0x047f, 0x02e6)));
        assert_eq!(property(uevent, "HID_UNIQ"), None, "empty is none");
        assert_eq!(
            property(uevent, "HID_NAME").as_deref(),
            Some("Plantronics BT700")
        );
        assert_eq!(
            hid_id("HID_ID=0003:00010000:00000001"),
            None,
            "ids past 16 bits"
        );
        assert_eq!(
            usb_interface_of(Path::new("/sys/devices/x/usb1/1-1.4/1-1.4:1.3")),
            Some(("1-1.4".to_owned(), 3))
        );
        assert_eq!(
            usb_interface_of(Path::new("/sys/devices/virtual/misc")),
            None
        );
    }

    #[test]
    fn a_device_s_identity_is_the_one_libusb_gives_it() {
        let found = Found {
            node: "/dev/hidraw3".into(),
            bus: BUS_USB,
            vendor_id: 0x1234,
            product_id: 0x5678,
            usb_interface: Some(("1-1".into(), 0)),
            serial: Some("TSPRS-TEST-0001".into()),
            product: None,
            report_descriptor: Vec::new(),
        };
        assert_eq!(found.identity(), "1234:5678:TSPRS-TEST-0001");
        let no_serial = Found {
            serial: None,
            ..found.clone()
        };
        assert_eq!(no_serial.identity(), "1234:5678@1-1");
        assert_eq!(found.name(), "HID phone 1234:5678");
    }
}
