//! The TSPI phone host: device table, phone lifecycle, request bookkeeping and the
//! callback lane, and the TSP library exporting the `TSPI_*` functions.
//!
//! Built by the host issues; today it only links the crates it will stand on.
#![warn(missing_docs)]

pub use tsp_plugin_sdk as sdk;
