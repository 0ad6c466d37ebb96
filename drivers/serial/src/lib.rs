//! AT phones and modems over a serial port (V.250 / 3GPP TS 27.007).
//!
//! Today: the AT engine ([`at`]), which frames, classifies and pairs what a device
//! sends, and parses the phone-control commands' answers in the variants real
//! devices send, tested against real transcripts; the port ([`port`]): exclusive
//! open with errors that say what to do, a reader thread, one command in flight
//! with a timeout, unsolicited codes handed on, the line going away noticed; and
//! the modem simulator ([`sim`]) on a pseudo-terminal that the tests talk to.
//! The driver ([`SerialDriver`]) maps TSPI onto the port; its module docs list
//! the mapping and the settings.
#![warn(missing_docs)]

pub mod at;
mod driver;
pub mod port;
pub mod probe;
#[cfg(unix)]
pub mod sim;
#[cfg(test)]
mod test_log;
pub mod urc;

pub use driver::{PortConfig, SerialDriver, permanent_id};

tsp_plugin_sdk::export_driver!(SerialDriver);
