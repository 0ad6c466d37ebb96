//! tsp-host: the TSPI phone host.
//!
//! [`Provider`] is the whole provider in safe Rust: lifecycle, device table,
//! phones with generational handles, the request table and the callback lane. The
//! TSP library (this crate built as a `cdylib`) exports the `TSPI_*` C functions
//! (`ffi`), which check pointers and call the provider; `tspctl` and `tspd` embed
//! a provider directly.
#![warn(missing_docs)]

pub mod config;
mod deadline;
mod direct;
pub mod dist;
mod embed;
mod events;
pub mod ffi;
pub mod functions;
mod gate;
mod health;
mod lane;
mod logsink;
#[cfg(all(test, feature = "model"))]
mod model;
mod phone;
mod presence;
mod provider;
mod queue;
mod requests;
mod sync;
pub mod tapi;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::{Config, ConfigError, ConfigSource};
pub use embed::{Host, HostBuilder};
pub use functions::display_text;
pub use phone::{Filter, PhoneHandle};
pub use provider::{Device, HostSetup, Provider};
pub use tapi::{CompletionProc, EventProc};
pub use tsp_plugin_sdk as sdk;
