//! What a scan finds: a [`Candidate`] is a device the driver may serve, with its
//! layout, its protocol and where its reports come from (a simulated device of
//! the settings, a hidraw node, or a USB interface through libusb). The
//! driver's registry keeps them; a session starts the device of one.

use std::sync::Arc;

use tsp_core::PhoneCaps;

use crate::caps;
use crate::config::SimulatedConfig;
use crate::handset::{self, Layout};
#[cfg(all(target_os = "linux", feature = "hidraw"))]
use crate::hidraw;
use crate::inspect;
use crate::p1k::{self, SimulatedP1k};
use crate::transport::{SimulatedHandset, Transport};
#[cfg(all(unix, feature = "usb"))]
use crate::usb;
#[cfg(all(windows, feature = "winhid"))]
use crate::winhid;
#[cfg(any(
    all(unix, feature = "usb"),
    all(target_os = "linux", feature = "hidraw"),
    all(windows, feature = "winhid")
))]
use crate::yealink;

/// The permanent phone id of a handset comes from its identity (serial number,
/// else port path).
pub use tsp_plugin_sdk::permanent_id;

/// How a device is spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// The HID Telephony page.
    Hid,
    /// The Yealink USB-P1K packets (generation 1).
    YealinkP1k,
}

/// Where a device's reports come from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// A simulated handset of the settings, or of `arrive`.
    Simulated(SimulatedDevice),
    /// A telephony interface on USB, through libusb.
    #[cfg(all(unix, feature = "usb"))]
    Usb(usb::Found),
    /// A telephony device through the kernel's HID class (`/dev/hidrawN`).
    #[cfg(all(target_os = "linux", feature = "hidraw"))]
    Hidraw(hidraw::Found),
    /// A telephony collection through Windows' HID class driver.
    #[cfg(all(windows, feature = "winhid"))]
    WinHid(winhid::Found),
}

impl Source {
    /// The USB interface it is, as (port path, interface number), when it is one.
    #[cfg(all(target_os = "linux", feature = "hidraw"))]
    pub(crate) fn usb_interface(&self) -> Option<(String, u8)> {
        match self {
            #[cfg(feature = "usb")]
            Source::Usb(found) => Some((found.port_path.clone(), found.interface)),
            Source::Hidraw(found) => found.usb_interface.clone(),
            Source::Simulated(_) => None,
        }
    }
}

/// A device a scan found.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    /// Its identity: `sim:SERIAL`, or USB's (serial number, else port path).
    pub(crate) key: String,
    /// The phone's name.
    pub(crate) name: String,
    /// PHONECAPS' phone info: what and where it is.
    pub(crate) phone_info: String,
    /// Its controls.
    pub(crate) layout: Layout,
    /// How it is spoken to.
    pub(crate) protocol: Protocol,
    /// Where its reports come from.
    pub(crate) source: Source,
}

impl Candidate {
    /// Its PHONECAPS, the permanent id from its key.
    pub(crate) fn caps(&self) -> PhoneCaps {
        caps::phone_caps(
            &self.layout,
            &self.name,
            &self.phone_info,
            permanent_id(&self.key),
        )
    }
}

/// A simulated device of either protocol, as the driver's settings make them.
#[derive(Clone, Debug)]
pub(crate) enum SimulatedDevice {
    /// A HID telephony handset.
    Hid(SimulatedHandset),
    /// A Yealink USB-P1K.
    P1k(SimulatedP1k),
}

impl SimulatedDevice {
    /// Unplugs it.
    pub(crate) fn unplug(&self) {
        match self {
            SimulatedDevice::Hid(handset) => handset.unplug(),
            SimulatedDevice::P1k(phone) => phone.unplug(),
        }
    }

    /// Plugs it back in.
    pub(crate) fn replug(&self) {
        match self {
            SimulatedDevice::Hid(handset) => handset.replug(),
            SimulatedDevice::P1k(phone) => phone.replug(),
        }
    }

    /// Whether it is plugged in.
    pub(crate) fn is_plugged(&self) -> bool {
        match self {
            SimulatedDevice::Hid(handset) => handset.is_plugged(),
            SimulatedDevice::P1k(phone) => phone.is_plugged(),
        }
    }

    /// Its transport (clones share the device).
    pub(crate) fn transport(&self) -> Arc<dyn Transport> {
        match self {
            SimulatedDevice::Hid(handset) => Arc::new(handset.clone()),
            SimulatedDevice::P1k(phone) => Arc::new(phone.clone()),
        }
    }
}

/// The candidate of simulated handset `config`, the `index`th (its serial when
/// it names none), and the device behind it.
pub(crate) fn simulated_candidate(
    config: &SimulatedConfig,
    index: usize,
) -> Result<(Candidate, SimulatedDevice), String> {
    let serial = config
        .serial
        .clone()
        .unwrap_or_else(|| format!("sim-{index}"));
    let (layout, protocol, handset, info) = match (&config.descriptor, config.model.as_deref()) {
        (Some(path), None) => (
            simulated_layout(path)?,
            Protocol::Hid,
            SimulatedDevice::Hid(SimulatedHandset::new()),
            format!("simulated, descriptor {}", path.display()),
        ),
        (None, Some("yealink-p1k")) => (
            p1k::layout(),
            Protocol::YealinkP1k,
            SimulatedDevice::P1k(SimulatedP1k::new()),
            "simulated Yealink USB-P1K".to_owned(),
        ),
        (None, Some(other)) => {
            return Err(format!(
                "simulated model \"{other}\" is not known; the one model is \"yealink-p1k\""
            ));
        }
        _ => {
            return Err(
                "a simulated handset needs either `descriptor = PATH` or `model = \"yealink-p1k\"`"
                    .into(),
            );
        }
    };
    let candidate = Candidate {
        key: format!("sim:{serial}"),
        name: config
            .name
            .clone()
            .unwrap_or_else(|| format!("Simulated handset {serial}")),
        phone_info: info,
        layout,
        protocol,
        source: Source::Simulated(handset.clone()),
    };
    Ok((candidate, handset))
}

/// The telephony layout of the descriptor in file `path`.
fn simulated_layout(path: &std::path::Path) -> Result<Layout, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let bytes = inspect::decode_file(&bytes).map_err(|e| format!("{shown}: {e}"))?;
    handset::telephony_layout(&bytes)
        .map_err(|e| format!("{shown}: {e}"))?
        .ok_or_else(|| format!("{shown} has no Telephony application collection: not a phone"))
}

/// Every telephony interface on USB now, as candidates; a device that cannot be
/// listed is logged and left out.
#[cfg(all(unix, feature = "usb"))]
pub(crate) fn usb_candidates(context: &rusb::Context) -> Vec<Candidate> {
    let found = match usb::find_telephony(context) {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "listing USB devices failed");
            return Vec::new();
        }
    };
    found.into_iter().filter_map(usb_candidate).collect()
}

#[cfg(all(unix, feature = "usb"))]
fn usb_candidate(found: usb::Found) -> Option<Candidate> {
    let phone_info = format!(
        "USB {:04x}:{:04x} at {} interface {}",
        found.vendor_id, found.product_id, found.port_path, found.interface
    );
    // The P1K's packets are the endpoint's size. `find_telephony` has laid
    // the descriptor out once already; the same bytes give the same answer,
    // so a refusal here is logged as there (once).
    let p1k = found.is_yealink_p1k().then_some(Some(found.in_packet_size));
    let (layout, protocol) = layout_of(&found.identity(), &found.report_descriptor, p1k, |e| {
        usb::refused(&found, e);
    })?;
    Some(Candidate {
        key: found.identity(),
        name: found.name(),
        phone_info,
        layout,
        protocol,
        source: Source::Usb(found),
    })
}

/// Every telephony device with a hidraw node now, as candidates, but those
/// `wants_libusb` names (they are left to libusb).
#[cfg(all(target_os = "linux", feature = "hidraw"))]
pub(crate) fn hidraw_candidates(wants_libusb: impl Fn(&str, u16, u16) -> bool) -> Vec<Candidate> {
    hidraw::find_telephony()
        .into_iter()
        .filter(|found| !wants_libusb(&found.identity(), found.vendor_id, found.product_id))
        .filter_map(hidraw_candidate)
        .collect()
}

#[cfg(all(target_os = "linux", feature = "hidraw"))]
fn hidraw_candidate(found: hidraw::Found) -> Option<Candidate> {
    let place = match &found.usb_interface {
        Some((port_path, interface)) => format!(" at {port_path} interface {interface}"),
        None => String::new(),
    };
    let phone_info = format!(
        "{} {:04x}:{:04x}{place}, {} (the system's HID class)",
        found.bus_name(),
        found.vendor_id,
        found.product_id,
        found.node.display()
    );
    let p1k = found
        .is_yealink_p1k()
        .then(|| longest_input(&found.report_descriptor));
    let (layout, protocol) = layout_of(&found.identity(), &found.report_descriptor, p1k, |e| {
        hidraw::refused(&found, e);
    })?;
    Some(Candidate {
        key: found.identity(),
        name: found.name(),
        phone_info,
        layout,
        protocol,
        source: Source::Hidraw(found),
    })
}

/// Every telephony collection Windows' HID class driver lists now, as
/// candidates.
#[cfg(all(windows, feature = "winhid"))]
pub(crate) fn winhid_candidates() -> Vec<Candidate> {
    winhid::find_telephony()
        .into_iter()
        .filter_map(winhid_candidate)
        .collect()
}

#[cfg(all(windows, feature = "winhid"))]
fn winhid_candidate(found: winhid::Found) -> Option<Candidate> {
    let interface = found
        .interface
        .map_or_else(String::new, |i| format!(" interface {i}"));
    let phone_info = format!(
        "USB {:04x}:{:04x}{interface} (the HID class driver)",
        found.vendor_id, found.product_id
    );
    let p1k = found
        .is_yealink_p1k()
        .then(|| longest_input(&found.report_descriptor));
    let (layout, protocol) = layout_of(&found.identity(), &found.report_descriptor, p1k, |e| {
        winhid::refused(&found, e);
    })?;
    Some(Candidate {
        key: found.identity(),
        name: found.name(),
        phone_info,
        layout,
        protocol,
        source: Source::WinHid(found),
    })
}

/// A device's layout and protocol: a Yealink P1K (`p1k` holds its packet
/// size, when known) of generation 1, or what its report descriptor's
/// Telephony collection declares. `None` for anything else (a P1KH, whose
/// key table is not known; no Telephony collection; a refused descriptor,
/// passed to `refused`).
#[cfg(any(
    all(unix, feature = "usb"),
    all(target_os = "linux", feature = "hidraw"),
    all(windows, feature = "winhid")
))]
fn layout_of(
    key: &str,
    descriptor: &[u8],
    p1k: Option<Option<u16>>,
    refused: impl FnOnce(&crate::descriptor::DescriptorError),
) -> Option<(Layout, Protocol)> {
    if let Some(packet_size) = p1k {
        let generation = packet_size.and_then(yealink::Generation::from_max_packet_size);
        if generation != Some(yealink::Generation::G1) {
            tracing::debug!(device = %key, "a Yealink P1KH (generation 2): its key table is not known, not served");
            return None;
        }
        return Some((p1k::layout(), Protocol::YealinkP1k));
    }
    match handset::telephony_layout(descriptor) {
        Ok(Some(layout)) => Some((layout, Protocol::Hid)),
        Ok(None) => None,
        Err(error) => {
            refused(&error);
            None
        }
    }
}

/// The longest input report a descriptor declares without an id: a P1K's
/// packet, as the endpoint's packet size tells it on libusb.
#[cfg(any(
    all(target_os = "linux", feature = "hidraw"),
    all(windows, feature = "winhid")
))]
fn longest_input(descriptor: &[u8]) -> Option<u16> {
    crate::descriptor::parse(descriptor)
        .and_then(|d| d.report_len(crate::descriptor::Direction::Input, 0))
        .ok()
        .and_then(|len| u16::try_from(len).ok())
}
