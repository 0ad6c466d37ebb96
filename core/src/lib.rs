//! The TSPI phone vocabulary, shared by the host, the plugin SDK and every driver.
//!
//! - [`PhoneError`] and [`LineError`]: the exact `PHONEERR_*` and `LINEERR_*` codes.
//! - [`TspiVersion`] and [`VersionRange::negotiate`]: version negotiation (2.0–3.1).
//! - [`vocab`]: typed messages, states, hookswitch, buttons, lamps, features.
//! - [`PhoneCaps`], [`PhoneStatus`], [`VarString`], [`ButtonInfo`]: typed content of
//!   TAPI's variable-size structures, written by the rules of [`var::VarWriter`].
//!
//! Constants and layouts come from `windows-sys` ([`sys`]); this crate types none of
//! them in by hand. It does no I/O and starts no threads.
#![warn(missing_docs)]

pub mod caps;
pub mod error;
pub mod message;
pub mod status;
pub mod var;
pub mod version;
pub mod vocab;

/// The TAPI bindings this crate builds on: `windows_sys::Win32::Devices::Tapi`
/// (constants, structure layouts, callback types), and `GUID`.
pub mod sys {
    pub use windows_sys::Win32::Devices::Tapi::*;
    pub use windows_sys::core::GUID;
}

pub use caps::{ButtonLamp, DisplayGeometry, HookSwitchCaps, PhoneCaps};
pub use error::{LineError, PhoneError, UnknownCode, line_result, phone_result};
pub use message::Message;
pub use status::{ButtonInfo, HookSwitchStatus, PhoneStatus, VarString};
pub use var::Written;
pub use version::{IncompatibleVersion, TspiVersion, VersionRange};
pub use vocab::{
    ButtonFunction, ButtonModes, ButtonStates, HookSwitchDevice, HookSwitchDevs, HookSwitchMode,
    HookSwitchModes, LampModes, PhoneFeatures, PhoneMessage, PhoneStates, PhoneStatusFlags,
    StringFormat,
};

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
