//! The AT engine: V.250 / 3GPP TS 27.007 line discipline, without I/O.
//!
//! Bytes from the device go through [`Framer`] into lines, each line is
//! classified ([`classify()`]) against the command in flight, and [`Engine`] pairs
//! finals with their command while passing unsolicited codes through at any time
//! (also between an echo and its response). The parsers in [`parse`] read the
//! test and read responses of the phone-control commands in their real variants.
//!
//! Everything here takes what a device sends as untrusted: the memory it costs
//! is bounded ([`MAX_LINE`] bytes per line, [`MAX_INFO_LINES`] information lines
//! per command; the framer's and the engine's docs say what happens at each
//! bound), and no input panics. These are also the entry points a fuzzer drives:
//! [`Framer::feed`], [`classify()`], [`final_code`], [`Engine::send`] with
//! [`Engine::feed`] (and [`Engine::held`] to check the bounds), and the
//! functions of [`parse`].

mod classify;
mod engine;
mod framer;
pub mod parse;

pub use classify::{Final, Line, classify, final_code};
pub use engine::{Engine, EngineEvent, MAX_INFO_LINES, Response};
pub use framer::{Frame, Framer, MAX_LINE};
