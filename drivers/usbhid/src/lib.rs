//! The USB HID telephony driver of tsp-rs: headsets and handsets that speak the HID
//! Telephony page (0x0B).
//!
//! This first part reads report descriptors: [`descriptor`] turns the bytes into
//! fields with usages resolved the way the Linux kernel resolves them, [`usages`]
//! names them and says what each becomes in TAPI, [`inspect`] is what
//! `tspctl usbhid inspect` prints, and [`handset`] turns input reports into events
//! and lamp, ringer and hookswitch settings into whole output reports; [`yealink`]
//! is the packet protocol of the Yealink USB-P1K family. [`device`] runs a handset
//! over a [`transport::Transport`]: libusb, or [`transport::SimulatedHandset`].

pub mod descriptor;
pub mod device;
pub mod handset;
pub mod inspect;
pub mod transport;
pub mod usages;
pub mod usb;
pub mod yealink;

pub use descriptor::{Descriptor, DescriptorError, Direction, Field, Usage};
pub use inspect::{Control, InspectError, Inspection};
pub use usages::Role;
