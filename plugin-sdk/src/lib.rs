//! tsp-plugin-sdk: what a hardware vendor builds a tsp-rs driver plugin against.
//!
//! A driver is a crate of type `cdylib` that implements [`Driver`] (and the
//! [`Session`] its `open` returns) and says `export_driver!(MyDriver);`. Beside the
//! built library goes its manifest (`NAME.toml`, see [`manifest`]); `cargo xtask`
//! writes it. Before shipping, run the conformance kit on the built file.
//!
//! The host side of the boundary is [`host`]: [`host::Plugin::load`] reads a
//! manifest, loads the library and checks its interface; a started driver is a
//! [`host::LoadedDriver`].
//!
//! # Compatibility policy
//!
//! A plugin is checked when it loads: the SDK version its manifest declares, then
//! the layout of every type that crosses the boundary (abi_stable), then that the
//! library is the driver its manifest names.
//! - A **patch** release (0.1.x; x.y.z for a fixed x.y after 1.0) changes no type
//!   that crosses the boundary.
//! - A **minor** release (0.x counts as major before 1.0) may add entry points, and
//!   only as new fields at the end of the root module; every type already crossing
//!   stays frozen, and new services come as new trait objects reached through the
//!   new fields. The host keeps each older root-module layout of its series
//!   ([`abi::layout1`] …) and loads a plugin with the newest layout it matches, so
//!   a newer host loads plugins built with older SDKs of its series (an entry
//!   point they lack answers `OPERATIONUNAVAIL`; a plugin without the log bridge
//!   loads without logs). A plugin built with a newer SDK than the host is
//!   refused, with a message to upgrade the host.
//! - A **major** release may change anything. A plugin built before it is refused
//!   in one line naming the file, both SDK versions and the first difference;
//!   abi_stable's full report goes to the debug log.
//!
//! Every release's changes to what crosses the boundary are listed in the
//! project's CHANGELOG.md.
//!
//! Structures cross as TAPI's own PHONECAPS, PHONESTATUS and PHONEBUTTONINFO
//! layouts, so the typed values (`tsp_core::PhoneCaps` …) can grow without
//! touching the interface.
#![warn(missing_docs)]

pub mod abi;
#[doc(hidden)]
pub mod adapter;
mod codec;
pub mod conformance;
pub mod driver;
mod error;
pub mod event;
pub mod examples;
pub mod host;
#[cfg(feature = "isolation")]
pub mod isolation;
pub mod manifest;
pub mod reservation;
pub mod settings;
pub mod trust;
#[cfg(windows)]
mod winload;
mod worker;

pub use driver::{
    Completion, DeviceInfo, Driver, DriverContext, DriverEvents, PhoneEvents, Session, permanent_id,
};
pub use error::DriverError;
pub use event::{DriverEvent, PhoneEvent};
pub use reservation::{LOCK_DIR_VARIABLE, LockFile};
pub use tsp_core as core;
pub use worker::RequestWorker;

/// The version of this SDK, recorded in every plugin built with it.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

#[doc(hidden)]
pub mod __private {
    pub use abi_stable;
}
