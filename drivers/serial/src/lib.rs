//! AT phones and modems over a serial port (V.250 / 3GPP TS 27.007).
//!
//! Today: the AT engine ([`at`]), which frames, classifies and pairs what a device
//! sends, and parses the phone-control commands' answers in the variants real
//! devices send, tested against real transcripts; the port ([`port`]): exclusive
//! open with errors that say what to do, a reader thread, one command in flight
//! with a timeout, unsolicited codes handed on, the line going away noticed; and
//! the modem simulator ([`sim`]) on a pseudo-terminal that the tests talk to.
//! Still to come: probing at open, the TSPI mapping (the `Driver`), presence.
#![warn(missing_docs)]

pub mod at;
pub mod port;
pub mod probe;
#[cfg(unix)]
pub mod sim;
