//! What tspctl asks of phones, whether the host runs in this process or in tspd
//! on D-Bus: the same questions, the same answers, the same output.

use std::fmt;

use tsp_core::{ButtonModes, ButtonStates, PhoneCaps, PhoneError, PhoneStates};

/// A phone in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) device_id: u32,
    pub(crate) name: String,
    pub(crate) permanent_id: u32,
    pub(crate) driver: String,
}

/// A PHONE_* event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The watch is set up: every event from now on is seen.
    Watching,
    Button {
        id: u32,
        mode: u32,
        state: u32,
    },
    State {
        state: u32,
        detail: u32,
    },
    Closed,
    DevSpecific([u32; 3]),
}

/// Why a command failed: a `PHONEERR_*`, or something around it (no tspd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    Phone(PhoneError),
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
            Failure::Other(message) => f.write_str(message),
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

fn flag_names(names: &[(u32, &str)], bits: u32) -> String {
    let found: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    if found.is_empty() {
        format!("{bits:#x}")
    } else {
        found.join("|")
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Event::Watching => f.write_str("watching"),
            Event::Button { id, mode, state } => {
                let modes = [
                    (ButtonModes::CALL.bits(), "CALL"),
                    (ButtonModes::FEATURE.bits(), "FEATURE"),
                    (ButtonModes::KEYPAD.bits(), "KEYPAD"),
                    (ButtonModes::LOCAL.bits(), "LOCAL"),
                    (ButtonModes::DISPLAY.bits(), "DISPLAY"),
                    (ButtonModes::DUMMY.bits(), "DUMMY"),
                ];
                let states = [
                    (ButtonStates::DOWN.bits(), "DOWN"),
                    (ButtonStates::UP.bits(), "UP"),
                    (ButtonStates::UNKNOWN.bits(), "UNKNOWN"),
                    (ButtonStates::UNAVAIL.bits(), "UNAVAIL"),
                ];
                write!(
                    f,
                    "PHONE_BUTTON  button {id}  {}  {}",
                    flag_names(&modes, mode),
                    flag_names(&states, state)
                )
            }
            Event::State { state, detail } => {
                let name = PhoneStates::from_bits(state)
                    .and_then(|s| s.iter_names().next().map(|(name, _)| name))
                    .unwrap_or("?");
                write!(f, "PHONE_STATE  {name}  {detail:#x}")
            }
            Event::Closed => f.write_str("PHONE_CLOSE"),
            Event::DevSpecific([a, b, c]) => {
                write!(f, "PHONE_DEVSPECIFIC  {a:#x} {b:#x} {c:#x}")
            }
        }
    }
}

/// A JSON string literal.
pub(crate) fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            c if (c as u32) < 0x20 => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_numbers(values: &[u32]) -> String {
    let values: Vec<String> = values.iter().map(u32::to_string).collect();
    format!("[{}]", values.join(", "))
}

/// `list` as people read it, or as JSON.
pub(crate) fn print_list(phones: &[Listed], json: bool) {
    if json {
        let items: Vec<String> = phones
            .iter()
            .map(|p| {
                format!(
                    "{{\"device_id\": {}, \"name\": {}, \"permanent_id\": {}, \"driver\": {}}}",
                    p.device_id,
                    json_string(&p.name),
                    p.permanent_id,
                    json_string(&p.driver)
                )
            })
            .collect();
        println!("[{}]", items.join(", "));
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
        let display = caps.display.map_or("null".to_owned(), |d| {
            format!("{{\"rows\": {}, \"columns\": {}}}", d.rows, d.columns)
        });
        println!(
            "{{\"name\": {}, \"provider_info\": {}, \"phone_info\": {}, \"permanent_id\": {}, \"features\": {}, \"phone_states\": {}, \"display\": {display}, \"buttons\": {}, \"ring_modes\": {}, \"set_data\": {}, \"get_data\": {}}}",
            json_string(&caps.name),
            json_string(&caps.provider_info),
            json_string(&caps.phone_info),
            caps.permanent_id,
            caps.features.bits(),
            caps.phone_states.bits(),
            caps.buttons.len(),
            caps.ring_modes,
            json_numbers(&caps.set_data),
            json_numbers(&caps.get_data),
        );
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

/// An event as `watch --json` prints it.
pub(crate) fn event_json(event: &Event) -> String {
    match *event {
        Event::Watching => "{\"event\": \"watching\"}".to_owned(),
        Event::Button { id, mode, state } => format!(
            "{{\"event\": \"PHONE_BUTTON\", \"id\": {id}, \"mode\": {mode}, \"state\": {state}}}"
        ),
        Event::State { state, detail } => {
            format!("{{\"event\": \"PHONE_STATE\", \"state\": {state}, \"detail\": {detail}}}")
        }
        Event::Closed => "{\"event\": \"PHONE_CLOSE\"}".to_owned(),
        Event::DevSpecific(p) => format!(
            "{{\"event\": \"PHONE_DEVSPECIFIC\", \"params\": {}}}",
            json_numbers(&p)
        ),
    }
}
