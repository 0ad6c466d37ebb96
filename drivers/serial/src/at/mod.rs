//! The AT engine: V.250 / 3GPP TS 27.007 line discipline, without I/O.
//!
//! Bytes from the device go through [`Framer`] into lines, each line is
//! classified ([`classify`]) against the command in flight, and [`Engine`] pairs
//! finals with their command while passing unsolicited codes through at any time
//! (also between an echo and its response). The parsers in [`parse`] read the
//! test and read responses of the phone-control commands in their real variants.

mod classify;
mod engine;
mod framer;
pub mod parse;

pub use classify::{Final, Line, classify};
pub use engine::{Engine, EngineEvent, Response};
pub use framer::Framer;
