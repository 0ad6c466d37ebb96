//! What the usages are called and what each becomes in TAPI.

use crate::descriptor::{Direction, PAGE_BUTTON, PAGE_CONSUMER, PAGE_LED, PAGE_TELEPHONY, Usage};

/// The part a usage plays in a TAPI phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The handset's hookswitch: a level, 1 = off hook (PHONE_STATE).
    Hookswitch,
    /// A button (PHONE_BUTTON down/up).
    Button,
    /// A lamp (TSPI_phoneSetLamp).
    Lamp,
    /// The ringer (TSPI_phoneSetRing).
    Ringer,
}

impl Role {
    /// `hookswitch`, `button`, `lamp` or `ringer`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Hookswitch => "hookswitch",
            Role::Button => "button",
            Role::Lamp => "lamp",
            Role::Ringer => "ringer",
        }
    }
}

/// Telephony-page controls a user presses (HID Usage Tables, Telephony page).
fn is_telephony_button(id: u16) -> bool {
    matches!(
        id,
        0x07 | 0x21 | 0x23..=0x2C | 0x2F | 0x31 | 0x50..=0x53 | 0x70..=0x74 | 0xB0..=0xC2
    )
}

/// LED-page usages a phone's lamps are made of.
fn is_phone_lamp(id: u16) -> bool {
    matches!(id, 0x09 | 0x17..=0x1A | 0x1E..=0x21 | 0x2A..=0x2C)
}

/// The TAPI role of `usage` travelling in `direction` inside a Telephony collection.
/// Button-page usages there are buttons too (the kernel's rule makes the Jabra and
/// Yealink programmable button Button 7).
pub fn role(usage: Usage, direction: Direction) -> Option<Role> {
    match (direction, usage.page, usage.id) {
        (Direction::Input, PAGE_TELEPHONY, 0x20) => Some(Role::Hookswitch),
        (Direction::Input, PAGE_TELEPHONY, id) if is_telephony_button(id) => Some(Role::Button),
        (Direction::Input, PAGE_BUTTON, 1..) => Some(Role::Button),
        (Direction::Output, PAGE_LED, id) if is_phone_lamp(id) => Some(Role::Lamp),
        (Direction::Output, PAGE_TELEPHONY, 0x9E) => Some(Role::Ringer),
        _ => None,
    }
}

/// The name the HID Usage Tables give `usage`, or a generic one.
pub fn name(usage: Usage) -> String {
    let known = match usage.page {
        PAGE_TELEPHONY => telephony_name(usage.id),
        PAGE_LED => led_name(usage.id),
        PAGE_CONSUMER => consumer_name(usage.id),
        PAGE_BUTTON if usage.id > 0 => return format!("Button {}", usage.id),
        _ => None,
    };
    match known {
        Some(name) => name.to_owned(),
        None if usage.page == PAGE_TELEPHONY && (0xB0..=0xB9).contains(&usage.id) => {
            format!("Phone Key {}", usage.id - 0xB0)
        }
        None if usage.page >= 0xFF00 => format!("Vendor {usage}"),
        None => format!("Usage {usage}"),
    }
}

fn telephony_name(id: u16) -> Option<&'static str> {
    Some(match id {
        0x01 => "Phone",
        0x02 => "Answering Machine",
        0x03 => "Message Controls",
        0x04 => "Handset",
        0x05 => "Headset",
        0x06 => "Telephony Key Pad",
        0x07 => "Programmable Button",
        0x20 => "Hook Switch",
        0x21 => "Flash",
        0x22 => "Feature",
        0x23 => "Hold",
        0x24 => "Redial",
        0x25 => "Transfer",
        0x26 => "Drop",
        0x27 => "Park",
        0x28 => "Forward Calls",
        0x29 => "Alternate Function",
        0x2A => "Line",
        0x2B => "Speaker Phone",
        0x2C => "Conference",
        0x2D => "Ring Enable",
        0x2E => "Ring Select",
        0x2F => "Phone Mute",
        0x30 => "Caller ID",
        0x31 => "Send",
        0x50 => "Speed Dial",
        0x51 => "Store Number",
        0x52 => "Recall Number",
        0x53 => "Phone Directory",
        0x70 => "Voice Mail",
        0x71 => "Screen Calls",
        0x72 => "Do Not Disturb",
        0x73 => "Message",
        0x74 => "Answer On/Off",
        0x97 => "Line Busy Tone",
        0x9E => "Ringer",
        0xBA => "Phone Key Star",
        0xBB => "Phone Key Pound",
        0xBC => "Phone Key A",
        0xBD => "Phone Key B",
        0xBE => "Phone Key C",
        0xBF => "Phone Key D",
        0xC0 => "Phone Call History Key",
        0xC1 => "Phone Caller ID Key",
        0xC2 => "Phone Settings Key",
        _ => return None,
    })
}

fn led_name(id: u16) -> Option<&'static str> {
    Some(match id {
        0x09 => "Mute",
        0x17 => "Off-Hook",
        0x18 => "Ring",
        0x19 => "Message Waiting",
        0x1A => "Data Mode",
        0x1E => "Speaker",
        0x1F => "Head Set",
        0x20 => "Hold",
        0x21 => "Microphone",
        0x2A => "On-Line",
        0x2B => "Off-Line",
        0x2C => "Busy",
        0x4B => "Generic Indicator",
        _ => return None,
    })
}

fn consumer_name(id: u16) -> Option<&'static str> {
    Some(match id {
        0xCD => "Play/Pause",
        0xE0 => "Volume",
        0xE2 => "Mute",
        0xE9 => "Volume Increment",
        0xEA => "Volume Decrement",
        _ => return None,
    })
}
