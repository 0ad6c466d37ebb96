//! The USB HID telephony driver of tsp-rs: headsets and handsets that speak the HID
//! Telephony page (0x0B), one TAPI phone per telephony HID interface, and the
//! Yealink USB-P1K, which speaks its own packets ([`p1k`]).
//!
//! # Settings
//!
//! ```toml
//! [settings.usbhid]
//! usb = true            # look for real handsets (Linux); default true
//! scan_ms = 1000        # how often presence is checked; hotplug wakes it earlier
//! libusb = ["047f:c053"] # through libusb, not the HID class: VID:PID or a key
//!
//! [[settings.usbhid.simulated]]     # a handset behind the transport seam
//! descriptor = "jabra.hex"         # its report descriptor: binary, or hex text
//! name = "Simulated Jabra"         # optional
//! serial = "SIM-1"                 # optional; the phone's identity
//!
//! [[settings.usbhid.simulated]]
//! model = "yealink-p1k"            # a simulated P1K instead of a descriptor
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
//! - The Yealink USB-P1K: see [`p1k`] (keypad, hook keys, LED, ringer, LCD memory
//!   and ringtone as data ids 0 and 1).
//! - A simulated handset takes `TSPI_phoneDevSpecific` commands: `input HEX` (a
//!   HID handset sends that input report), `key HEX` (the P1K key with that
//!   scancode is pressed; `ff` releases it), `unplug [MS]` (it goes away, back
//!   after `MS`), `arrive PATH [SERIAL]` (a new simulated handset is plugged in).
//! - Transport (Windows): the HID class driver, which owns HID devices there
//!   (`winhid`); the report descriptor is rebuilt from Windows' preparsed data.
//! - Transport (Linux): a device with a hidraw node is reached through it, the
//!   kernel's HID class ([`hidraw`]): its HID driver stays bound, so the
//!   desktop keeps the device's keys while a phone is open. A device without
//!   one, or one the settings' `libusb` names, is reached through libusb
//!   ([`usb`]), which detaches the kernel's driver while the phone is open.
//!   A USB device is named alike on both (serial number, else port path), so
//!   its permanent phone id does not change with the transport (but for a
//!   serial longer than the 63 bytes the kernel's `HID_UNIQ` keeps).
//! - Reservation: a lock file per phone ([`lock_path`]) and, through libusb, the
//!   claim of the interface: a second open here or in another process is
//!   `ALLOCATED`.
//! - Presence: `LIBUSB_ERROR_NO_DEVICE`, a hidraw node that fails or is no
//!   longer listed, or a scan that no longer finds the device reports it
//!   disconnected; the same identity (serial number, else port path)
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
//! over a [`transport::Transport`]: the kernel's HID class (`hidraw`, Linux),
//! the HID class driver (`winhid`, Windows), libusb ([`usb`]), or
//! [`transport::SimulatedHandset`]. [`yealink`] is the packet protocol of the
//! Yealink USB-P1K family and [`p1k`] the P1K as a running phone (polled, as the
//! firmware wants) with [`p1k::SimulatedP1k`], a firmware stand-in. The plugin's
//! own modules compose them: the settings, what a scan finds, the open phone (the
//! session) and the driver with its presence watcher.
//!
//! The modules are in layers: each names only modules below it, so the HID and
//! transport code knows nothing of the driver, and the device code knows the
//! [`transport::Transport`] seam, never one of its implementations. ARCHITECTURE.md
//! has the layers; `tests/layers.rs` keeps them.
//!
//! Descriptors, input reports and P1K replies come from devices and are untrusted:
//! see [`descriptor`] for the limits. The hidden module `fuzzing` holds the entry
//! points cargo-fuzz targets call.

mod candidate;
pub mod caps;
mod config;
pub mod descriptor;
pub mod device;
mod driver;
#[doc(hidden)]
pub mod fuzzing;
pub mod handset;
#[cfg(all(target_os = "linux", feature = "hidraw"))]
pub mod hidraw;
pub mod inspect;
pub mod p1k;
mod session;
pub mod transport;
pub mod usages;
#[cfg(all(unix, feature = "usb"))]
pub mod usb;
#[cfg(all(windows, feature = "winhid"))]
pub mod winhid;
pub mod yealink;

pub use candidate::permanent_id;
pub use config::{SimulatedConfig, check_settings};
pub use descriptor::{Descriptor, DescriptorError, Direction, Field, Usage};
pub use driver::UsbHidDriver;
pub use inspect::{Control, InspectError, Inspection};
pub use session::lock_path;
pub use usages::Role;

tsp_plugin_sdk::export_driver!(UsbHidDriver);

/// Locks `mutex`, taking it back from a holder that panicked: what the crate keeps
/// under a lock is plain data, each change of it complete before the guard drops.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
