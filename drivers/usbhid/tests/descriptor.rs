//! The descriptor parser on hand-written bytes: the usage rule, the limits, and
//! input from a hostile device.

mod common;

use tsp_driver_usbhid::descriptor::{self, DescriptorError};
use tsp_driver_usbhid::fuzzing;
use tsp_driver_usbhid::{Direction, Usage};

/// Telephony application collection around `body`.
fn telephony(body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x05, 0x0B, 0x09, 0x05, 0xA1, 0x01, 0x85, 0x02];
    bytes.extend_from_slice(body);
    bytes.push(0xC0);
    bytes
}

fn usages_of_first_field(bytes: &[u8]) -> Vec<Usage> {
    let parsed = descriptor::parse(bytes).expect("the descriptor parses");
    parsed.fields[0].usages.clone()
}

#[test]
fn a_page_change_before_the_main_item_moves_the_last_usages() {
    // 09 07 (Telephony), 05 09 (Button page), 1 bit input: the kernel says Button 7.
    let bytes = telephony(&[0x09, 0x07, 0x05, 0x09, 0x75, 0x01, 0x95, 0x01, 0x81, 0x02]);
    assert_eq!(usages_of_first_field(&bytes), [Usage::new(0x09, 0x07)]);
}

#[test]
fn moving_stops_at_the_first_usage_already_on_the_page() {
    // 05 09 09 01 (Button 1), 05 0B 09 07 (Programmable Button), 05 09 again, then
    // the Main item: walking back, 0x0B:0x07 moves to 0x09:0x07, then Button 1 is
    // already on page 9 and the walk stops.
    let bytes = telephony(&[
        0x05, 0x09, 0x09, 0x01, 0x05, 0x0B, 0x09, 0x07, 0x05, 0x09, 0x75, 0x01, 0x95, 0x02, 0x81,
        0x02,
    ]);
    assert_eq!(
        usages_of_first_field(&bytes),
        [Usage::new(0x09, 0x01), Usage::new(0x09, 0x07)]
    );
    // Without the trailing page change nothing moves.
    let bytes = telephony(&[
        0x05, 0x09, 0x09, 0x01, 0x05, 0x0B, 0x09, 0x07, 0x75, 0x01, 0x95, 0x02, 0x81, 0x02,
    ]);
    assert_eq!(
        usages_of_first_field(&bytes),
        [Usage::new(0x09, 0x01), Usage::new(0x0B, 0x07)]
    );
}

#[test]
fn extended_usages_keep_their_page() {
    // 0B 20 00 0B 00: Usage 0x0B:0x20 in four bytes, then the LED page.
    let bytes = telephony(&[
        0x0B, 0x20, 0x00, 0x0B, 0x00, 0x05, 0x08, 0x75, 0x01, 0x95, 0x01, 0x81, 0x02,
    ]);
    assert_eq!(usages_of_first_field(&bytes), [Usage::new(0x0B, 0x20)]);
}

#[test]
fn usage_ranges_expand_and_bits_accumulate_per_direction_and_id() {
    let bytes = telephony(&[
        0x19, 0xB0, 0x29, 0xBB, 0x15, 0x00, 0x25, 0x0B, 0x75, 0x04, 0x95, 0x01, 0x81, 0x00, 0x05,
        0x08, 0x09, 0x17, 0x75, 0x01, 0x95, 0x01, 0x91, 0x02, 0x09, 0x18, 0x91, 0x02,
    ]);
    let parsed = descriptor::parse(&bytes).expect("parses");
    let keypad = &parsed.fields[0];
    assert!(!keypad.variable);
    assert_eq!(keypad.usages.len(), 12);
    assert_eq!(keypad.usages[11], Usage::new(0x0B, 0xBB));
    let ring = &parsed.fields[2];
    assert_eq!(
        (ring.direction, ring.report_id, ring.bit),
        (Direction::Output, 2, 1)
    );
    assert_eq!(parsed.report_len(Direction::Input, 2), Ok(1));
}

fn refused(bytes: &[u8]) -> String {
    match descriptor::parse(bytes) {
        Err(error) => error.to_string(),
        Ok(parsed) => panic!("{bytes:02x?} was accepted: {parsed:?}"),
    }
}

#[test]
fn malformed_descriptors_are_refused_with_the_place_and_reason() {
    assert_eq!(descriptor::parse(&[]), Err(DescriptorError::Empty));
    assert!(refused(&[0x05]).contains("byte 0"), "a truncated item");
    assert!(refused(&[0xC0]).contains("End Collection without a Collection"));
    assert!(refused(&[0x05, 0x0B, 0x09, 0x05, 0xA1, 0x01]).contains("never closed"));
    assert!(refused(&[0xB4]).contains("Pop without a Push"));
    assert!(refused(&[0x85, 0x00]).contains("report id 0"));
    let huge = telephony(&[0x09, 0x20, 0x76, 0x00, 0x10, 0x95, 0x01, 0x81, 0x02]);
    assert!(refused(&huge).contains("Report Size 4096"));
    assert!(refused(&[0x29, 0x05]).contains("without a Usage Minimum"));
}

/// Bytes from a device are untrusted: no input may panic or hang the parser, the
/// layout, or a handset fed input reports (through the fuzzing entry points).
#[test]
fn arbitrary_bytes_never_panic() {
    let seeds: Vec<Vec<u8>> = [
        "jabra-evolve-link-ms_0b0e-0307.hex",
        "epos-impact-d_1395-00a9.hex",
        "poly-bt700_047f-02e6.hex",
    ]
    .iter()
    .map(|name| common::fixture(name))
    .collect();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refusals = 0;
    for round in 0..3000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        let cut = (next() as usize) % bytes.len();
        bytes.truncate(cut.max(1));
        for _ in 0..(next() % 4) {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        if fuzzing::descriptor(&bytes).is_err() {
            refusals += 1;
        }
        let len = u16::try_from(bytes.len()).expect("fixtures are short");
        let mut life = len.to_le_bytes().to_vec();
        life.extend_from_slice(&bytes);
        for _ in 0..(next() % 8) {
            let report_len = next() % 12;
            life.push(report_len as u8);
            life.extend((0..report_len).map(|_| next() as u8));
        }
        let _ = fuzzing::handset(&life);
    }
    assert!(refusals > 0, "truncated descriptors must be refused");
}
