//! What tspctl asks of phones, whether the host runs in this process or in tspd
//! on D-Bus: the same questions, the same answers, the same output.

use std::fmt;

use serde::Serialize;
use tsp_core::message::flag_names;
use tsp_core::{ButtonModes, ButtonStates, PhoneCaps, PhoneError, PhoneStates};

use crate::json;

/// A phone in the list; `list --json` prints these as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Listed {
    pub(crate) device_id: u32,
    pub(crate) name: String,
    pub(crate) permanent_id: u32,
    pub(crate) driver: String,
}

/// A PHONE_* event; `watch --json` prints these as they are, named by `event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "event")]
pub(crate) enum Event {
    /// The watch is set up: every event from now on is seen.
    #[serde(rename = "watching")]
    Watching,
    #[serde(rename = "PHONE_BUTTON")]
    Button { id: u32, mode: u32, state: u32 },
    #[serde(rename = "PHONE_STATE")]
    State { state: u32, detail: u32 },
    #[serde(rename = "PHONE_CLOSE")]
    Closed,
    #[serde(rename = "PHONE_DEVSPECIFIC")]
    DevSpecific { params: [u32; 3] },
}

/// Why a command failed: a `PHONEERR_*`, tspd out of reach, or something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    Phone(PhoneError),
    /// No bus, or no tspd on it: its own exit status, since starting tspd fixes it.
    Unreachable(String),
    Other(String),
}

impl From<PhoneError> for Failure {
    fn from(error: PhoneError) -> Self {
        Failure::Phone(error)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Phone(error) => {
                // The text names the code in parentheses; say it once, in front.
                let text = error
                    .to_string()
                    .replace(&format!(" ({})", error.name()), "");
                write!(f, "{}: {text}", error.name())
            }
            Failure::Unreachable(message) | Failure::Other(message) => f.write_str(message),
        }
    }
}

/// The phones, wherever the host runs.
pub(crate) trait Phones {
    /// Every phone.
    fn list(&self) -> Result<Vec<Listed>, Failure>;
    /// A phone's capabilities.
    fn caps(&self, dev: u32) -> Result<PhoneCaps, Failure>;
    /// Downloads `data` to data area `area`; returns when it completed.
    fn set_data(&self, dev: u32, area: u32, data: &[u8]) -> Result<(), Failure>;
    /// Uploads `size` bytes of data area `area`.
    fn get_data(&self, dev: u32, area: u32, size: u32) -> Result<Vec<u8>, Failure>;
    /// Passes each event of the phone to `seen` until it returns false, or until
    /// `until` has passed.
    fn watch(
        &self,
        dev: u32,
        until: Option<std::time::Instant>,
        seen: &mut dyn FnMut(Event) -> bool,
    ) -> Result<(), Failure>;
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Event::Watching => f.write_str("watching"),
            Event::Button { id, mode, state } => write!(
                f,
                "PHONE_BUTTON  button {id}  {}  {}",
                flag_names(ButtonModes::from_bits_retain(mode)),
                flag_names(ButtonStates::from_bits_retain(state))
            ),
            Event::State { state, detail } => {
                let state = flag_names(PhoneStates::from_bits_retain(state));
                write!(f, "PHONE_STATE  {state}  {detail:#x}")
            }
            Event::Closed => f.write_str("PHONE_CLOSE"),
            Event::DevSpecific { params: [a, b, c] } => {
                write!(f, "PHONE_DEVSPECIFIC  {a:#x} {b:#x} {c:#x}")
            }
        }
    }
}

/// `list` as people read it, or as JSON.
pub(crate) fn print_list(phones: &[Listed], json: bool) {
    if json {
        json::print(phones);
        return;
    }
    for p in phones {
        println!(
            "{}  {:<16} permanent id {:#010x}  driver {}",
            p.device_id, p.name, p.permanent_id, p.driver
        );
    }
}

/// `caps` as people read it, or as JSON.
pub(crate) fn print_caps(caps: &PhoneCaps, json: bool) {
    if json {
        json::print(&json::Caps::from(caps));
        return;
    }
    println!("name            {}", caps.name);
    println!("provider        {}", caps.provider_info);
    println!("phone           {}", caps.phone_info);
    println!("permanent id    {:#010x}", caps.permanent_id);
    println!("features        {:?}", caps.features);
    println!("phone states    {:?}", caps.phone_states);
    if let Some(display) = caps.display {
        println!("display         {} x {}", display.rows, display.columns);
    }
    println!("buttons         {}", caps.buttons.len());
    println!("ring modes      {}", caps.ring_modes);
    println!("SetData areas   {:?} bytes", caps.set_data);
    println!("GetData areas   {:?} bytes", caps.get_data);
}

/// Bytes in hex, as `get-data` prints them.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(" ")
}
