//! The host's side of the boundary: load a plugin (or take a statically linked
//! driver), start it, and drive its devices through safe types. The host and the
//! conformance kit both use this, so plugins load the same way everywhere.
//!
//! `load.rs` finds, checks and loads a plugin ([`Plugin`], [`LoadError`]);
//! `link.rs` is what a driver calls back into the host with ([`HostLink`]);
//! `driver.rs` is a started driver and its open phones ([`LoadedDriver`],
//! [`OpenSession`]).

mod driver;
pub(crate) mod link;
mod load;

pub use driver::{LoadedDriver, OpenSession};
pub use link::HostLink;
pub use load::{LoadError, Plugin};
