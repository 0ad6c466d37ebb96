//! `--json`: the `Serialize` types of the commands (`Listed` and `Event`, in
//! phones.rs, serialize as they are) and their printing with serde_json. The
//! README's "tspctl's JSON output" is their schema; a test holds them to it.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;
use tsp_core::PhoneCaps;
use tsp_driver_usbhid::{Control, Inspection};

/// serde_json's compact form with a space after `,` and `:`: the text tspctl
/// printed before serde, which scripts may match.
struct Spaced;

impl Formatter for Spaced {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        out: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { out.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        out: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { out.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, out: &mut W) -> io::Result<()> {
        out.write_all(b": ")
    }
}

/// `value` as one line of JSON.
pub(crate) fn to_line<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = serde_json::Serializer::with_formatter(Vec::new(), Spaced);
    // Derived Serialize of strings, numbers, lists and options into a Vec
    // has no way to fail.
    value
        .serialize(&mut out)
        .expect("tspctl's JSON types always serialize");
    String::from_utf8_lossy(&out.into_inner()).into_owned()
}

/// Prints `value` as one line of JSON.
pub(crate) fn print<T: Serialize + ?Sized>(value: &T) {
    println!("{}", to_line(value));
}

/// `caps --json`: PHONECAPS, its flags as numbers, its buttons counted.
#[derive(Debug, Serialize)]
pub(crate) struct Caps<'a> {
    name: &'a str,
    provider_info: &'a str,
    phone_info: &'a str,
    permanent_id: u32,
    features: u32,
    phone_states: u32,
    display: Option<Display>,
    buttons: usize,
    ring_modes: u32,
    set_data: &'a [u32],
    get_data: &'a [u32],
}

/// A display's size in characters.
#[derive(Debug, Serialize)]
struct Display {
    rows: u32,
    columns: u32,
}

impl<'a> From<&'a PhoneCaps> for Caps<'a> {
    fn from(caps: &'a PhoneCaps) -> Self {
        Self {
            name: &caps.name,
            provider_info: &caps.provider_info,
            phone_info: &caps.phone_info,
            permanent_id: caps.permanent_id,
            features: caps.features.bits(),
            phone_states: caps.phone_states.bits(),
            display: caps.display.map(|d| Display {
                rows: d.rows,
                columns: d.columns,
            }),
            buttons: caps.buttons.len(),
            ring_modes: caps.ring_modes,
            set_data: &caps.set_data,
            get_data: &caps.get_data,
        }
    }
}

/// `get-data --json`: the bytes in hex, no spaces.
#[derive(Debug, Serialize)]
pub(crate) struct Data {
    pub(crate) data: String,
}

/// `set-data --json`: how many bytes went down, and what came back as text.
#[derive(Debug, Serialize)]
pub(crate) struct Written<'a> {
    pub(crate) written: usize,
    pub(crate) read_back: &'a str,
}

/// `usbhid inspect --json`: built here from the driver's public result, the
/// way its `to_json` writes it (that crate is not tspctl's to change).
#[derive(Debug, Serialize)]
pub(crate) struct Inspected {
    telephony: bool,
    usages: Vec<Usage>,
}

/// One control of the Telephony collection.
#[derive(Debug, Serialize)]
struct Usage {
    code: String,
    page: u16,
    usage: u16,
    name: String,
    direction: &'static str,
    report_id: u8,
    bit: u32,
    relative: bool,
    tapi: Option<&'static str>,
}

impl From<&Inspection> for Inspected {
    fn from(found: &Inspection) -> Self {
        Self {
            telephony: found.telephony,
            usages: found.controls.iter().map(Usage::from).collect(),
        }
    }
}

impl From<&Control> for Usage {
    fn from(c: &Control) -> Self {
        Self {
            code: c.usage.to_string(),
            page: c.usage.page,
            usage: c.usage.id,
            name: tsp_driver_usbhid::usages::name(c.usage),
            direction: c.direction.name(),
            report_id: c.report_id,
            bit: c.bit,
            relative: c.relative,
            tapi: c.role.map(|role| role.name()),
        }
    }
}

/// The README's schema reader, shared with tests/json.rs.
#[cfg(test)]
#[path = "../tests/schema/mod.rs"]
mod schema;

#[cfg(test)]
mod tests {
    use super::schema;
    use super::*;
    use crate::phones::Event;

    #[test]
    fn the_spacing_is_tspctl_s_old_one() {
        let caps = PhoneCaps {
            name: "a \"b\"".into(),
            set_data: vec![1, 2],
            ..PhoneCaps::default()
        };
        let line = to_line(&Caps::from(&caps));
        assert!(
            line.starts_with(r#"{"name": "a \"b\"", "provider_info": "", "#),
            "{line}"
        );
        assert!(line.contains(r#""display": null, "#), "{line}");
        assert!(
            line.ends_with(r#""set_data": [1, 2], "get_data": []}"#),
            "{line}"
        );
    }

    /// `watch --json` needs events, which the in-process mock only sends when
    /// told to: each kind is checked here, the commands in tests/json.rs.
    #[test]
    fn every_watch_event_has_the_documented_fields() {
        let events = [
            (
                "PHONE_BUTTON",
                Event::Button {
                    id: 5,
                    mode: 8,
                    state: 2,
                },
            ),
            (
                "PHONE_STATE",
                Event::State {
                    state: 0x200,
                    detail: 8,
                },
            ),
            ("PHONE_CLOSE", Event::Closed),
            (
                "PHONE_DEVSPECIFIC",
                Event::DevSpecific { params: [1, 2, 3] },
            ),
        ];
        let documented = schema::documented();
        for (name, event) in events {
            let value: serde_json::Value = serde_json::from_str(&to_line(&event)).expect("parses");
            assert_eq!(value["event"], name);
            let heading = format!("`tspctl watch DEV --json`: {name}");
            schema::check(&documented, &heading, &value).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn usbhid_inspect_prints_what_the_driver_s_to_json_does() {
        let text = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../drivers/usbhid/tests/data/poly-bt700_047f-02e6.hex"
        ))
        .expect("the fixture");
        let bytes = tsp_driver_usbhid::inspect::decode_file(&text).expect("hex");
        let found = tsp_driver_usbhid::inspect::inspect(&bytes).expect("inspects");
        assert_eq!(to_line(&Inspected::from(&found)), found.to_json());
    }
}
