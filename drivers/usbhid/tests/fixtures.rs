//! Every fixture descriptor parsed and mapped. The expected controls were written
//! from the descriptor bytes (decoded by hand in the reference's device-protocols
//! §2.4 table, bit 0 = LSB of the first payload byte), not from running this code.

mod common;

use tsp_driver_usbhid::descriptor::{self, Direction};
use tsp_driver_usbhid::inspect::{self, Inspection};
use tsp_driver_usbhid::{Role, Usage};

const TEL: u16 = 0x0B;
const LED: u16 = 0x08;
const BTN: u16 = 0x09;

use common::fixture;

fn inspected(name: &str) -> Inspection {
    inspect::inspect(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `(report id, bit, page, usage)` of every control playing `role` in `direction`.
fn controls(found: &Inspection, direction: Direction, role: Role) -> Vec<(u8, u32, u16, u16)> {
    found
        .with_role(role)
        .filter(|c| c.direction == direction)
        .map(|c| (c.report_id, c.bit, c.usage.page, c.usage.id))
        .collect()
}

fn hookswitch(found: &Inspection) -> Vec<(u8, u32, u16, u16)> {
    controls(found, Direction::Input, Role::Hookswitch)
}

fn buttons(found: &Inspection) -> Vec<(u8, u32, u16, u16)> {
    controls(found, Direction::Input, Role::Button)
}

fn lamps(found: &Inspection) -> Vec<(u8, u32, u16, u16)> {
    controls(found, Direction::Output, Role::Lamp)
}

fn ringer(found: &Inspection) -> Vec<(u8, u32, u16, u16)> {
    controls(found, Direction::Output, Role::Ringer)
}

fn keypad(report: u8, bit: u32) -> impl Iterator<Item = (u8, u32, u16, u16)> {
    (0xB0..=0xBB).map(move |id| (report, bit, TEL, id))
}

/// Jabra EVOLVE LINK MS and Yealink WH66 share one layout: input #2 b0 Hook, b1 Line
/// Busy, b2 Mute, b3 Flash, b4 Redial, b5 Speed Dial, b6 the programmable button
/// (`09 07 05 09 … 81 02`: Button 7 by the kernel's rule), b7–b10 keypad array;
/// output #2 b0 Off-Hook, b1 Mute, b2 Ring, b3 Hold, b4 Microphone, b5 Ringer.
fn assert_jabra_evolve_layout(name: &str) {
    let found = inspected(name);
    assert!(found.telephony, "{name}");
    assert_eq!(hookswitch(&found), [(2, 0, TEL, 0x20)], "{name}");
    let mut expected = vec![
        (2, 2, TEL, 0x2F),
        (2, 3, TEL, 0x21),
        (2, 4, TEL, 0x24),
        (2, 5, TEL, 0x50),
        (2, 6, BTN, 0x07),
    ];
    expected.extend(keypad(2, 7));
    assert_eq!(buttons(&found), expected, "{name}");
    let lamps_expected = [
        (2, 0, LED, 0x17),
        (2, 1, LED, 0x09),
        (2, 2, LED, 0x18),
        (2, 3, LED, 0x20),
        (2, 4, LED, 0x21),
    ];
    assert_eq!(lamps(&found), lamps_expected, "{name}");
    assert_eq!(ringer(&found), [(2, 5, TEL, 0x9E)], "{name}");
    let line_busy = found
        .controls
        .iter()
        .find(|c| c.usage == Usage::new(TEL, 0x97));
    assert!(
        line_busy.is_some_and(|c| c.role.is_none() && c.bit == 1),
        "{name}"
    );
}

#[test]
fn jabra_evolve_link_ms() {
    assert_jabra_evolve_layout("jabra-evolve-link-ms_0b0e-0307.hex");
}

#[test]
fn yealink_wh66_matches_the_evolve_layout() {
    assert_jabra_evolve_layout("yealink-wh66_6993-b02b.hex");
}

#[test]
fn jabra_speak_810() {
    let found = inspected("jabra-speak-810_0b0e-2456.hex");
    assert_eq!(hookswitch(&found), [(2, 0, TEL, 0x20)]);
    assert_eq!(
        buttons(&found),
        [(2, 2, TEL, 0x2F), (2, 3, TEL, 0x21), (2, 4, BTN, 0x07)]
    );
    assert_eq!(lamps(&found).len(), 5);
    assert_eq!(ringer(&found), [(2, 5, TEL, 0x9E)]);
}

/// Poly puts one LED in each output report, and input and output ids overlap on the
/// Voyager (input #1 is not output #1).
#[test]
fn poly_bt700_and_voyager_base() {
    for (name, input, first_output) in [
        ("poly-bt700_047f-02e6.hex", 32, 33),
        ("poly-voyager-base-cd_047f-02ec.hex", 1, 1),
    ] {
        let found = inspected(name);
        assert_eq!(hookswitch(&found), [(input, 0, TEL, 0x20)], "{name}");
        let expected = [
            (input, 1, TEL, 0x2F),
            (input, 2, TEL, 0x21),
            (input, 3, TEL, 0x24),
            (input, 4, TEL, 0x07),
        ];
        assert_eq!(buttons(&found), expected, "{name}");
        let leds = [0x18, 0x1E, 0x09, 0x17, 0x20];
        let expected: Vec<_> = (first_output..)
            .zip(leds)
            .map(|(id, led)| (id, 0, LED, led))
            .collect();
        assert_eq!(lamps(&found), expected, "{name}");
        assert!(ringer(&found).is_empty(), "{name}");
    }
}

#[test]
fn plantronics_blackwire_c5220() {
    let found = inspected("plantronics-blackwire-c5220_047f-c053.hex");
    assert_eq!(hookswitch(&found), [(8, 1, TEL, 0x20)]);
    assert_eq!(
        buttons(&found),
        [
            (8, 0, TEL, 0x2F),
            (8, 2, TEL, 0x21),
            (8, 3, TEL, 0x24),
            (8, 4, TEL, 0x07)
        ]
    );
    let expected = [
        (9, 0, LED, 0x09),
        (23, 0, LED, 0x17),
        (24, 0, LED, 0x18),
        (26, 0, LED, 0x1E),
        (32, 0, LED, 0x20),
        (42, 0, LED, 0x2A),
    ];
    assert_eq!(lamps(&found), expected);
}

#[test]
fn sennheiser_sc660() {
    let found = inspected("sennheiser-sc660-anc-usb_1395-0082.hex");
    assert_eq!(hookswitch(&found), [(8, 1, TEL, 0x20)]);
    let expected = [
        (8, 0, TEL, 0x2F),
        (8, 2, TEL, 0x24),
        (8, 3, TEL, 0x21),
        (8, 4, TEL, 0x26),
        (8, 5, TEL, 0x07),
    ];
    assert_eq!(buttons(&found), expected);
    let leds = [0x09, 0x17, 0x18, 0x21, 0x2A, 0x20];
    let expected: Vec<_> = (0..)
        .zip(leds)
        .map(|(bit, led)| (9, bit, LED, led))
        .collect();
    assert_eq!(lamps(&found), expected);
}

/// Consumer volume usages sit inside the headset collection; the programmable button
/// is a 1-bit array selecting Programmable Button or Button 1.
#[test]
fn epos_impact_d() {
    let found = inspected("epos-impact-d_1395-00a9.hex");
    assert_eq!(hookswitch(&found), [(2, 2, TEL, 0x20)]);
    let expected = [
        (2, 3, TEL, 0x21),
        (2, 4, TEL, 0x24),
        (2, 5, TEL, 0x2F),
        (2, 6, TEL, 0x26),
        (2, 7, TEL, 0x07),
        (2, 7, BTN, 0x01),
    ];
    assert_eq!(buttons(&found), expected);
    let volume: Vec<_> = found
        .controls
        .iter()
        .filter(|c| c.usage.page == 0x0C)
        .collect();
    assert_eq!(volume.len(), 2);
    assert!(volume.iter().all(|c| c.role.is_none()));
    let leds = [0x17, 0x21, 0x18, 0x09, 0x2A, 0x20];
    let expected: Vec<_> = (1..)
        .zip(leds)
        .map(|(bit, led)| (3, bit, LED, led))
        .collect();
    assert_eq!(lamps(&found), expected);
    assert_eq!(ringer(&found), [(3, 0, TEL, 0x9E)]);
}

#[test]
fn a_gaming_headset_without_telephony_is_not_a_phone() {
    let found = inspected("logitech-g535_046d-0ac4.hex");
    assert!(!found.telephony);
    assert!(found.controls.is_empty());
    assert_eq!(found.to_json(), r#"{"telephony": false, "usages": []}"#);
}

/// Vendor mirror collections repeat telephony ids on pages 0xFFxx: never telephony.
#[test]
fn vendor_mirror_collections_are_not_telephony() {
    let parsed = descriptor::parse(&fixture("jabra-evolve-link-ms_0b0e-0307.hex"))
        .expect("the fixture parses");
    assert!(parsed.applications.iter().any(|a| a.page >= 0xFF00));
    let found = inspect::inspection_of(&parsed);
    assert!(found.controls.iter().all(|c| c.usage.page < 0xFF00));
}

/// Payload lengths: the id's fields rounded up to bytes (padding included).
#[test]
fn report_lengths_include_padding() {
    let parsed = descriptor::parse(&fixture("jabra-evolve-link-ms_0b0e-0307.hex"))
        .expect("the fixture parses");
    assert!(parsed.uses_report_ids);
    assert_eq!(parsed.report_len(Direction::Input, 2), Ok(2));
    assert_eq!(parsed.report_len(Direction::Output, 2), Ok(2));
    let poly = descriptor::parse(&fixture("poly-bt700_047f-02e6.hex")).expect("parses");
    assert_eq!(poly.report_len(Direction::Input, 32), Ok(1));
    assert_eq!(poly.report_len(Direction::Output, 36), Ok(1));
}

#[test]
fn every_descriptor_fixture_parses() {
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut parsed = 0;
    for entry in std::fs::read_dir(&dir).expect("the fixture folder") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.ends_with(".hex") || name.contains("ringtone") {
            continue;
        }
        let found = inspected(&name);
        assert_eq!(found.telephony, !name.starts_with("logitech"), "{name}");
        parsed += 1;
    }
    assert_eq!(parsed, 9);
}

#[test]
fn json_lists_each_control_as_documented() {
    let json = inspected("poly-bt700_047f-02e6.hex").to_json();
    assert!(json.starts_with(r#"{"telephony": true, "usages": [{"code": "0x0B:0x20", "page": 11, "usage": 32, "name": "Hook Switch", "direction": "input", "report_id": 32, "#));
    assert!(json.contains(r#""code": "0x08:0x17", "page": 8, "usage": 23, "name": "Off-Hook", "direction": "output", "report_id": 36, "bit": 0, "relative": false, "tapi": "lamp"}"#));
}

/// sysfs gives raw bytes; the fixtures are hex text; C arrays have `0x` and commas.
#[test]
fn raw_bytes_hex_text_and_c_arrays_read_the_same() {
    let bytes = fixture("jabra-speak-810_0b0e-2456.hex");
    assert_eq!(inspect::decode_file(&bytes).expect("raw"), bytes);
    let c_array: Vec<String> = bytes.iter().map(|b| format!("0x{b:02X},")).collect();
    assert_eq!(
        inspect::decode_file(c_array.join(" ").as_bytes()).expect("C"),
        bytes
    );
    assert!(
        inspect::decode_file(b"05 0b 0").is_err(),
        "an odd digit count"
    );
}
