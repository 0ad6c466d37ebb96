//! The USB HID telephony driver of tsp-rs: headsets and handsets that speak the HID
//! Telephony page (0x0B), one TAPI phone per telephony HID interface.
//!
//! # Settings
//!
//! ```toml
//! [drivers.usbhid]
//! usb = true            # look for handsets on USB (libusb; Linux); default true
//! scan_ms = 1000        # how often presence is checked; hotplug wakes it earlier
//!
//! [[drivers.usbhid.simulated]]     # a handset behind the transport seam
//! descriptor = "jabra.hex"         # its report descriptor: binary, or hex text
//! name = "Simulated Jabra"         # optional
//! serial = "SIM-1"                 # optional; the phone's identity
//! ```
//!
//! # The TSPI mapping
//!
//! - Button/lamp ids ([`caps`]): the descriptor's buttons in order (Telephony-page
//!   keys, Button-page usages inside the Telephony collection; keypad usages are
//!   `KEYPAD`, the rest `FEATURE`), then one lamp-only position per LED (modes
//!   `OFF` and `STEADY`).
//! - Hookswitch: the headset's when the collection says Headset, else the
//!   handset's; monitored always, settable where the device has an Off-Hook LED.
//! - Ring: one mode, on the Ringer usage or the Ring LED.
//! - Data ids: the output reports, then the feature reports, each by report id,
//!   with their payload sizes; GetData of an output report reads back what was
//!   last written (devices do not return output reports).
//! - A simulated handset takes `TSPI_phoneDevSpecific` commands: `input HEX` (it
//!   sends that input report), `unplug [MS]` (it goes away, back after `MS`),
//!   `arrive PATH [SERIAL]` (a new simulated handset is plugged in).
//! - Reservation: a lock file per phone ([`lock_path`]) and, on USB, the claim of
//!   the interface: a second open here or in another process is `ALLOCATED`.
//! - Presence: `LIBUSB_ERROR_NO_DEVICE` or a scan that no longer finds the device
//!   reports it disconnected; the same identity (serial number, else port path)
//!   found again reattaches an open phone and reports it connected; a new one
//!   arrives (PHONE_CREATE).
//!
//! # Code map
//!
//! [`descriptor`] turns report descriptor bytes into fields with usages resolved
//! the way the Linux kernel resolves them, [`usages`] names them and says what each
//! becomes in TAPI, [`inspect`] is what `tspctl usbhid inspect` prints, [`handset`]
//! turns input reports into events and lamp, ringer and hookswitch settings into
//! whole output reports, [`caps`] makes the PHONECAPS; [`device`] runs a handset
//! over a [`transport::Transport`]: libusb ([`usb`]), or
//! [`transport::SimulatedHandset`]. [`yealink`] is the packet protocol of the
//! Yealink USB-P1K family.

pub mod caps;
pub mod descriptor;
pub mod device;
mod driver;
pub mod handset;
pub mod inspect;
mod session;
pub mod transport;
pub mod usages;
#[cfg(unix)]
pub mod usb;
pub mod yealink;

pub use descriptor::{Descriptor, DescriptorError, Direction, Field, Usage};
pub use driver::{SimulatedConfig, UsbHidDriver, permanent_id};
pub use inspect::{Control, InspectError, Inspection};
pub use session::lock_path;
pub use usages::Role;

tsp_plugin_sdk::export_driver!(UsbHidDriver);
