//! AT phones and modems over a serial port (V.250 / 3GPP TS 27.007).
//!
//! Today: the AT engine ([`at`]), which frames, classifies and pairs what a device
//! sends, and parses the phone-control commands' answers in the variants real
//! devices send, tested against real transcripts. The driver around it (serial
//! I/O, reservation, probing, the TSPI mapping, the modem simulator) follows.
#![warn(missing_docs)]

pub mod at;
