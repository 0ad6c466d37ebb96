//! AT phones and modems over a serial port (V.250 / 3GPP TS 27.007).
//!
//! Today: the AT engine ([`at`]), which frames, classifies and pairs what a device
//! sends, and parses the phone-control commands' answers in the variants real
//! devices send, tested against real transcripts; the port ([`port`]): exclusive
//! open with errors that say what to do, a reader thread, one command in flight
//! with a timeout, unsolicited codes handed on, the port going away noticed; and
//! the modem simulator ([`sim`]) on a pseudo-terminal that the tests talk to.
//! The driver ([`SerialDriver`]) maps TSPI onto the port; its module docs
//! (`driver.rs`) list the mapping. The settings are a list of [`PortConfig`]
//! (`config.rs` has the documented example; [`check_settings`] checks a table
//! as `start` would, without opening anything).
//!
//! What a device sends is untrusted: it costs bounded memory and never panics.
//! [`at`] bounds a line and a command's answer, [`urc`] the unsolicited codes
//! waiting for the listener, [`port`] says what a command gets at a bound.
#![warn(missing_docs)]

pub mod at;
mod config;
mod connection;
mod driver;
mod events;
pub mod port;
pub mod probe;
mod session;
#[cfg(unix)]
pub mod sim;
#[cfg(test)]
mod test_log;
pub mod urc;

pub use config::{DataBits, FlowControl, Parity, PortConfig, StopBits, check_settings};
pub use driver::{SerialDriver, permanent_id};

tsp_plugin_sdk::export_driver!(SerialDriver);

/// Entry points for fuzzers (cargo-fuzz targets), not an API: everything that
/// turns what a device sends into lines, results and events, in one place.
/// What the AT engine offers is public in [`at`] already and re-exported here;
/// this adds what the driver makes of an unsolicited code.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::at::{
        Engine, EngineEvent, Frame, Framer, MAX_INFO_LINES, MAX_LINE, classify, final_code, parse,
    };

    /// The phone event the driver makes of unsolicited code `line` when the
    /// device answered `cind_test` (the payload of its `+CIND=?` answer, e.g.
    /// `("call",(0,1)),("callsetup",(0-3))`; anything that does not parse means
    /// no indicators) at probing.
    pub fn unsolicited_event(cind_test: &str, line: &str) -> Option<tsp_plugin_sdk::PhoneEvent> {
        let indicators = parse::indicators(cind_test).unwrap_or_default();
        crate::events::unsolicited_event(line, &indicators)
    }
}
