//! Real USB through libusb (rusb): finding telephony HID interfaces and the
//! [`Transport`] over a claimed interface.
//!
//! The report descriptor is read from sysfs (`report_descriptor` of the
//! interface's HID child), as the kernel exposes it; the serial number too
//! (`serial` of the device), so finding devices needs no control IN transfer.
//! GET_DESCRIPTOR over endpoint 0 is the fallback where sysfs has no HID child
//! (the kernel driver is not bound).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusb::{Context, Device, DeviceHandle, Direction as UsbDirection, TransferType, UsbContext};

use crate::descriptor::DescriptorError;
use crate::handset;
use crate::transport::{Transport, TransportError};
use crate::yealink;

/// HID class code of an interface.
const CLASS_HID: u8 = 3;
const SET_REPORT: u8 = 0x09;
const GET_DESCRIPTOR: u8 = 0x06;
const GET_REPORT: u8 = 0x01;
const REPORT_TYPE_OUTPUT: u16 = 2;
const REPORT_TYPE_FEATURE: u16 = 3;
const CONTROL_TIMEOUT: Duration = Duration::from_secs(1);

/// One telephony HID interface found on the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Bus number.
    pub bus: u8,
    /// Port path, e.g. `1-1.4`: stable while the device stays in that port.
    pub port_path: String,
    /// Vendor id.
    pub vendor_id: u16,
    /// Product id.
    pub product_id: u16,
    /// The HID interface number.
    pub interface: u8,
    /// The interrupt IN endpoint.
    pub in_endpoint: u8,
    /// Its max packet size: the read buffer size.
    pub in_packet_size: u16,
    /// The interrupt OUT endpoint, if any (else output goes by SET_REPORT).
    pub out_endpoint: Option<u8>,
    /// The USB serial number, when the device has one.
    pub serial: Option<String>,
    /// The product string, when sysfs has it.
    pub product: Option<String>,
    /// The report descriptor bytes.
    pub report_descriptor: Vec<u8>,
}

impl Found {
    /// The permanent id's source: the serial number, or the port path.
    pub fn identity(&self) -> String {
        match &self.serial {
            Some(serial) => format!("{:04x}:{:04x}:{serial}", self.vendor_id, self.product_id),
            None => format!(
                "{:04x}:{:04x}@{}",
                self.vendor_id, self.product_id, self.port_path
            ),
        }
    }

    /// The name a user knows the device by: its product string, or its ids.
    pub fn name(&self) -> String {
        self.product.clone().unwrap_or_else(|| {
            format!(
                "USB HID phone {:04x}:{:04x}",
                self.vendor_id, self.product_id
            )
        })
    }

    /// A Yealink USB-P1K family member (vendor protocol, no Telephony page).
    pub fn is_yealink_p1k(&self) -> bool {
        yealink::is_p1k(self.vendor_id, self.product_id)
    }
}

/// Why USB access failed.
#[derive(Debug, thiserror::Error)]
pub enum UsbError {
    /// Another program (or another open here) holds the interface.
    #[error("the interface is claimed by another program; close it there first")]
    Busy,
    /// No permission on the device node.
    #[error(
        "no permission to open the USB device; install drivers/usbhid/udev/70-tsp-rs-telephony.rules"
    )]
    Access,
    /// The device went away.
    #[error("the device is gone (unplugged)")]
    Gone,
    /// libusb could not start (no USB support in this system or container).
    #[error("libusb cannot start: {0}; USB devices are not looked for")]
    Unavailable(rusb::Error),
    /// Anything else libusb said.
    #[error("libusb: {0}")]
    Other(rusb::Error),
}

impl From<rusb::Error> for UsbError {
    fn from(error: rusb::Error) -> Self {
        match error {
            rusb::Error::Busy => UsbError::Busy,
            rusb::Error::Access => UsbError::Access,
            rusb::Error::NoDevice => UsbError::Gone,
            other => UsbError::Other(other),
        }
    }
}

fn transport_error(error: rusb::Error) -> TransportError {
    match error {
        rusb::Error::NoDevice => TransportError::Gone,
        other => TransportError::Io(std::sync::Arc::new(other)),
    }
}

/// A libusb context of the driver's own, so that its threads end with the driver.
///
/// # Errors
/// [`UsbError::Unavailable`] where libusb cannot start.
pub fn context() -> Result<Context, UsbError> {
    Context::new().map_err(UsbError::Unavailable)
}

/// Every telephony HID interface on the system: a Telephony application
/// collection in its report descriptor, or a Yealink USB-P1K.
///
/// # Errors
/// [`UsbError`] when libusb cannot list devices at all; a device that cannot be
/// read is skipped with a warning.
pub fn find_telephony(context: &Context) -> Result<Vec<Found>, UsbError> {
    let mut found = Vec::new();
    for device in context.devices()?.iter() {
        match interfaces_of(&device) {
            Ok(interfaces) => found.extend(interfaces),
            Err(error) => {
                tracing::warn!(%error, bus = device.bus_number(), address = device.address(), "skipping a USB device")
            }
        }
    }
    Ok(found)
}

fn sysfs_root() -> PathBuf {
    std::env::var_os("TSP_RS_SYSFS_USB")
        .map_or_else(|| PathBuf::from("/sys/bus/usb/devices"), PathBuf::from)
}

fn interfaces_of(device: &Device<Context>) -> Result<Vec<Found>, UsbError> {
    let info = device.device_descriptor()?;
    let config = device.active_config_descriptor()?;
    let port_path = port_path(device)?;
    let serial = read_attribute(&sysfs_root().join(&port_path).join("serial"));
    let product = read_attribute(&sysfs_root().join(&port_path).join("product"));
    let mut found = Vec::new();
    for interface in config.interfaces() {
        for setting in interface
            .descriptors()
            .filter(|s| s.class_code() == CLASS_HID)
        {
            let endpoints: Vec<_> = setting
                .endpoint_descriptors()
                .filter(|e| e.transfer_type() == TransferType::Interrupt)
                .collect();
            let Some(input) = endpoints.iter().find(|e| e.direction() == UsbDirection::In) else {
                continue;
            };
            let number = setting.interface_number();
            let folder = format!("{port_path}:{}.{number}", config.number());
            let yealink = yealink::is_p1k(info.vendor_id(), info.product_id());
            // The P1K is spoken to by its packets: its descriptor is not needed.
            let report_descriptor = sysfs_report_descriptor(&sysfs_root().join(folder))
                .or_else(|| control_report_descriptor(device, number))
                .unwrap_or_default();
            if report_descriptor.is_empty() && !yealink {
                continue;
            }
            let candidate = Found {
                bus: device.bus_number(),
                port_path: port_path.clone(),
                vendor_id: info.vendor_id(),
                product_id: info.product_id(),
                interface: number,
                in_endpoint: input.address(),
                in_packet_size: input.max_packet_size(),
                out_endpoint: endpoints
                    .iter()
                    .find(|e| e.direction() == UsbDirection::Out)
                    .map(|e| e.address()),
                serial: serial.clone(),
                product: product.clone(),
                report_descriptor,
            };
            if yealink {
                found.push(candidate);
                continue;
            }
            match handset::telephony_layout(&candidate.report_descriptor) {
                Ok(Some(_)) => found.push(candidate),
                Ok(None) => {}
                Err(error) => refused(&candidate, &error),
            }
        }
    }
    Ok(found)
}

/// Logs that `found`'s report descriptor is refused (once per reason at
/// warning level: every scan finds the device again).
pub(crate) fn refused(found: &Found, error: &DescriptorError) {
    crate::descriptor::log_refused(
        &format!("{} interface {}", found.identity(), found.interface),
        error,
    );
}

/// `<bus>-<port>.<port>…`, the name sysfs gives the device.
fn port_path(device: &Device<Context>) -> Result<String, rusb::Error> {
    let ports: Vec<String> = device.port_numbers()?.iter().map(u8::to_string).collect();
    Ok(format!("{}-{}", device.bus_number(), ports.join(".")))
}

fn read_attribute(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `report_descriptor` of the HID child of an interface folder in sysfs.
fn sysfs_report_descriptor(interface: &Path) -> Option<Vec<u8>> {
    std::fs::read_dir(interface)
        .ok()?
        .flatten()
        .find_map(|child| {
            let bytes = std::fs::read(child.path().join("report_descriptor")).ok()?;
            (!bytes.is_empty()).then_some(bytes)
        })
}

fn control_report_descriptor(device: &Device<Context>, interface: u8) -> Option<Vec<u8>> {
    let handle = device.open().ok()?;
    let mut buffer = vec![0; 4096];
    let len = handle
        .read_control(
            0x81,
            GET_DESCRIPTOR,
            0x2200,
            u16::from(interface),
            &mut buffer,
            CONTROL_TIMEOUT,
        )
        .ok()?;
    buffer.truncate(len);
    (!buffer.is_empty()).then_some(buffer)
}

/// A claimed HID interface. Dropping it releases the interface and gives a
/// detached kernel driver back.
pub struct UsbTransport {
    handle: DeviceHandle<Context>,
    found: Found,
    uses_report_ids: bool,
    detached: bool,
}

impl std::fmt::Debug for UsbTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbTransport")
            .field("found", &self.found.identity())
            .finish_non_exhaustive()
    }
}

impl UsbTransport {
    /// Opens `found` and claims its interface, detaching a bound kernel driver
    /// first (libusb's auto-detach is not used: it fails under umockdev and hides
    /// which driver to give back).
    ///
    /// # Errors
    /// [`UsbError::Busy`] when another program or open holds the interface (the
    /// host's `PHONEERR_ALLOCATED`), [`UsbError::Access`] without permission.
    pub fn open(context: &Context, found: &Found, uses_report_ids: bool) -> Result<Self, UsbError> {
        let device = context
            .devices()?
            .iter()
            .find(|d| port_path(d).is_ok_and(|path| path == found.port_path))
            .ok_or(UsbError::Gone)?;
        let handle = device.open()?;
        let detached = handle
            .kernel_driver_active(found.interface)
            .unwrap_or(false);
        if detached {
            handle.detach_kernel_driver(found.interface)?;
        }
        if let Err(error) = handle.claim_interface(found.interface) {
            if detached {
                let _ = handle.attach_kernel_driver(found.interface);
            }
            return Err(error.into());
        }
        Ok(Self {
            handle,
            found: found.clone(),
            uses_report_ids,
            detached,
        })
    }
}

impl Transport for UsbTransport {
    fn read_input(&self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        let mut buffer = vec![0; usize::from(self.found.in_packet_size.max(1))];
        match self
            .handle
            .read_interrupt(self.found.in_endpoint, &mut buffer, timeout)
        {
            Ok(len) => {
                buffer.truncate(len);
                Ok(Some(buffer))
            }
            Err(rusb::Error::Timeout) => Ok(None),
            Err(error) => Err(transport_error(error)),
        }
    }

    /// Interrupt OUT where the interface has it, else SET_REPORT(Output) on
    /// endpoint 0 with the report id in wValue.
    fn write_output(&self, report: &[u8]) -> Result<(), TransportError> {
        if let Some(endpoint) = self.found.out_endpoint {
            self.handle
                .write_interrupt(endpoint, report, CONTROL_TIMEOUT)
                .map_err(transport_error)?;
            return Ok(());
        }
        self.set_report(REPORT_TYPE_OUTPUT, report)
    }

    fn write_feature(&self, report: &[u8]) -> Result<(), TransportError> {
        self.set_report(REPORT_TYPE_FEATURE, report)
    }

    fn read_feature(&self, id: u8, len: usize) -> Result<Vec<u8>, TransportError> {
        let mut buffer = vec![0; len + usize::from(self.uses_report_ids)];
        let value = (REPORT_TYPE_FEATURE << 8) | u16::from(id);
        let interface = u16::from(self.found.interface);
        let got = self
            .handle
            .read_control(
                0xA1,
                GET_REPORT,
                value,
                interface,
                &mut buffer,
                CONTROL_TIMEOUT,
            )
            .map_err(transport_error)?;
        buffer.truncate(got);
        Ok(buffer)
    }
}

impl UsbTransport {
    /// SET_REPORT on endpoint 0, the report id in wValue.
    fn set_report(&self, kind: u16, report: &[u8]) -> Result<(), TransportError> {
        let id = if self.uses_report_ids {
            report.first().copied().unwrap_or(0)
        } else {
            0
        };
        let value = (kind << 8) | u16::from(id);
        let interface = u16::from(self.found.interface);
        self.handle
            .write_control(0x21, SET_REPORT, value, interface, report, CONTROL_TIMEOUT)
            .map_err(transport_error)?;
        Ok(())
    }
}

impl Drop for UsbTransport {
    fn drop(&mut self) {
        let _ = self.handle.release_interface(self.found.interface);
        if self.detached
            && let Err(error) = self.handle.attach_kernel_driver(self.found.interface)
        {
            tracing::warn!(%error, "could not give the interface back to the kernel driver");
        }
    }
}
