//! The driver side of tsp-rs: what a hardware vendor builds a driver plugin against.
//!
//! This crate will hold the stable plugin ABI, the safe `Driver` and `Session`
//! traits, `export_driver!`, the loader and the conformance kit (issue 3). Today it
//! re-exports the TSPI vocabulary every driver speaks.
#![warn(missing_docs)]

pub use tsp_core as core;
