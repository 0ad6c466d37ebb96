//! `tspctl usbhid inspect`: the telephony capabilities a report descriptor declares,
//! for vendors and support staff holding a `report_descriptor` file from the field.

use std::collections::HashSet;

use crate::descriptor::{self, Descriptor, DescriptorError, Direction, Usage};
use crate::usages::{self, Role};

/// One control of the Telephony collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    /// Its usage, resolved the kernel's way.
    pub usage: Usage,
    /// Input, output or feature.
    pub direction: Direction,
    /// The report carrying it (0 when the descriptor declares no ids).
    pub report_id: u8,
    /// Bit offset in the payload; for an array, of the array's first element.
    pub bit: u32,
    /// Whether it reports changes (a press) rather than a level.
    pub relative: bool,
    /// What it becomes in TAPI, if anything.
    pub role: Option<Role>,
}

/// What `inspect` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// Whether an application collection is on the Telephony page.
    pub telephony: bool,
    /// The controls inside Telephony collections, in descriptor order.
    pub controls: Vec<Control>,
}

/// Why a descriptor file could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The text looked like hex but is not whole bytes.
    #[error("the hex text has an odd number of digits or a character that is not hex: {0}")]
    BadHex(String),
    /// The descriptor itself is refused.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
}

/// The descriptor bytes of a file holding either the raw descriptor (as sysfs
/// exposes it) or hex text (as in the fixtures: byte pairs, whitespace between;
/// `0x` prefixes and commas are accepted too, as in C arrays).
///
/// # Errors
/// [`InspectError::BadHex`] when text that is meant as hex does not decode.
pub fn decode_file(contents: &[u8]) -> Result<Vec<u8>, InspectError> {
    match std::str::from_utf8(contents) {
        Ok(text) if looks_like_hex(text) => parse_hex(text),
        _ => Ok(contents.to_vec()),
    }
}

/// Hex text to bytes: byte pairs, whitespace between; `0x` prefixes and commas
/// are accepted too.
///
/// # Errors
/// [`InspectError::BadHex`] naming the first word that does not decode.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, InspectError> {
    let cleaned = text.replace("0x", " ").replace("0X", " ").replace(',', " ");
    let mut bytes = Vec::new();
    for word in cleaned.split_whitespace() {
        if !word.len().is_multiple_of(2) {
            return Err(InspectError::BadHex(format!("`{word}`")));
        }
        for pair in word.as_bytes().chunks(2) {
            let pair = String::from_utf8_lossy(pair);
            let byte = u8::from_str_radix(&pair, 16)
                .map_err(|_| InspectError::BadHex(format!("`{pair}`")))?;
            bytes.push(byte);
        }
    }
    Ok(bytes)
}

/// Raw descriptors start with an item header byte, rarely a printable character;
/// text made only of hex digits, separators and whitespace is taken as hex.
fn looks_like_hex(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_hexdigit())
        && text.chars().all(|c| {
            c.is_ascii_hexdigit() || c.is_ascii_whitespace() || matches!(c, ',' | 'x' | 'X')
        })
}

/// Parses `bytes` and lists the controls of its Telephony collections.
///
/// # Errors
/// [`InspectError::Descriptor`] when the descriptor is refused (malformed, past
/// the kernel's limits, or a bug panicked on it: [`descriptor::parse`] runs inside
/// `catch_unwind`).
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    let descriptor = descriptor::parse(bytes)?;
    Ok(inspection_of(&descriptor))
}

/// The controls of `descriptor`'s Telephony collections.
///
/// A usage is listed once per direction and report, at its first element; the
/// work is linear in the declared usages, whatever the Report Counts.
pub fn inspection_of(descriptor: &Descriptor) -> Inspection {
    let mut controls: Vec<Control> = Vec::new();
    let mut seen = HashSet::new();
    for field in descriptor
        .fields
        .iter()
        .filter(|f| f.in_telephony() && !f.constant)
    {
        let elements: Vec<(Usage, u32)> = if field.variable {
            // Elements past the declared usages repeat the last one, already seen.
            field.variable_elements().take(field.usages.len()).collect()
        } else {
            field.usages.iter().map(|u| (*u, field.bit)).collect()
        };
        for (usage, bit) in elements {
            if seen.insert((usage, field.direction, field.report_id)) {
                controls.push(Control {
                    usage,
                    direction: field.direction,
                    report_id: field.report_id,
                    bit,
                    relative: field.relative,
                    role: usages::role(usage, field.direction),
                });
            }
        }
    }
    Inspection {
        telephony: descriptor.has_telephony(),
        controls,
    }
}

impl Inspection {
    /// The controls playing `role`.
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &Control> {
        self.controls.iter().filter(move |c| c.role == Some(role))
    }

    /// The JSON `tspctl usbhid inspect --json` prints.
    pub fn to_json(&self) -> String {
        let usages: Vec<String> = self.controls.iter().map(control_json).collect();
        format!(
            "{{\"telephony\": {}, \"usages\": [{}]}}",
            self.telephony,
            usages.join(", ")
        )
    }

    /// A table for people.
    pub fn to_text(&self) -> String {
        if !self.telephony {
            return "no Telephony collection (usage page 0x0B): not a telephony device\n".into();
        }
        let mut out =
            String::from("direction  report  bit  usage           name                    TAPI\n");
        for c in &self.controls {
            out += &format!(
                "{:<9}  #{:<5}  {:>3}  {:<14}  {:<22}  {}\n",
                c.direction.name(),
                c.report_id,
                c.bit,
                c.usage.to_string(),
                usages::name(c.usage),
                c.role.map_or("-", Role::name),
            );
        }
        let count = |role| self.with_role(role).count();
        out += &format!(
            "\nhookswitch: {}, buttons: {}, lamps: {}, ringer: {}\n",
            if count(Role::Hookswitch) > 0 {
                "yes"
            } else {
                "no"
            },
            count(Role::Button),
            count(Role::Lamp),
            if count(Role::Ringer) > 0 { "yes" } else { "no" },
        );
        out
    }
}

fn control_json(c: &Control) -> String {
    // Names are ASCII from our own tables: nothing to escape.
    format!(
        "{{\"code\": \"{}\", \"page\": {}, \"usage\": {}, \"name\": \"{}\", \"direction\": \"{}\", \"report_id\": {}, \"bit\": {}, \"relative\": {}, \"tapi\": {}}}",
        c.usage,
        c.usage.page,
        c.usage.id,
        usages::name(c.usage),
        c.direction.name(),
        c.report_id,
        c.bit,
        c.relative,
        c.role
            .map_or("null".to_owned(), |r| format!("\"{}\"", r.name())),
    )
}
