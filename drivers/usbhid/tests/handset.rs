//! Input reports to events and settings to output reports, on the real fixture
//! layouts (device-protocols §2.4: bit 0 = LSB of the first payload byte).

mod common;

use tsp_driver_usbhid::handset::{Handset, HandsetEvent, ReportError};

fn handset(name: &str) -> Handset {
    Handset::new(common::layout(name))
}

fn events(h: &mut Handset, report: &[u8]) -> Vec<HandsetEvent> {
    h.input(report).expect("a well-formed report")
}

/// Jabra EVOLVE: input #2 b0 Hook (absolute), b2 Phone Mute (relative).
#[test]
fn hookswitch_is_a_level_and_mute_a_press() {
    let mut jabra = handset("jabra-evolve-link-ms_0b0e-0307.hex");
    let mute = jabra
        .layout()
        .buttons
        .iter()
        .position(|b| b.usage.id == 0x2F)
        .expect("Phone Mute") as u32;
    assert_eq!(
        events(&mut jabra, &[2, 0b0000_0001, 0]),
        [HandsetEvent::Hookswitch(true)]
    );
    // The press of a relative usage is down and up at once; its 0 means nothing.
    assert_eq!(
        events(&mut jabra, &[2, 0b0000_0101, 0]),
        [HandsetEvent::ButtonDown(mute), HandsetEvent::ButtonUp(mute)]
    );
    assert_eq!(events(&mut jabra, &[2, 0b0000_0001, 0]), []);
    assert_eq!(
        events(&mut jabra, &[2, 0, 0]),
        [HandsetEvent::Hookswitch(false)]
    );
}

/// Headsets send the same report twice (Jabra Engage, Plantronics): one event.
#[test]
fn a_repeated_report_gives_no_second_event() {
    let mut poly = handset("poly-bt700_047f-02e6.hex");
    assert_eq!(
        events(&mut poly, &[32, 0b1]),
        [HandsetEvent::Hookswitch(true)]
    );
    assert_eq!(events(&mut poly, &[32, 0b1]), []);
    assert_eq!(events(&mut poly, &[32, 0b1]), []);
}

/// Poly BT700 Flash (b2) is absolute: down and up are separate reports.
#[test]
fn an_absolute_button_has_its_own_up() {
    let mut poly = handset("poly-bt700_047f-02e6.hex");
    let flash = poly
        .layout()
        .buttons
        .iter()
        .position(|b| b.usage.id == 0x21)
        .expect("Flash") as u32;
    assert!(!poly.layout().buttons[flash as usize].press_only);
    assert_eq!(
        events(&mut poly, &[32, 0b100]),
        [HandsetEvent::ButtonDown(flash)]
    );
    assert_eq!(events(&mut poly, &[32, 0]), [HandsetEvent::ButtonUp(flash)]);
}

/// The keypad is a 4-bit array at b7–b10 of Jabra input #2: value n is key 0xB0+n.
#[test]
fn keypad_array_values_select_keys() {
    let jabra = handset("jabra-evolve-link-ms_0b0e-0307.hex");
    let key = |usage: u16| {
        jabra
            .layout()
            .buttons
            .iter()
            .position(|b| b.usage.id == usage)
            .expect("key") as u32
    };
    let (five, zero) = (key(0xB5), key(0xB0));
    let mut j = jabra;
    // Value 5 at bits 7..10: bit 7 of byte 0 and bit 1 of byte 1 (5 = 0b0101).
    assert_eq!(
        events(&mut j, &[2, 0b1000_0000, 0b0000_0010]),
        [HandsetEvent::ButtonUp(zero), HandsetEvent::ButtonDown(five)]
    );
    assert_eq!(
        events(&mut j, &[2, 0, 0]),
        [HandsetEvent::ButtonDown(zero), HandsetEvent::ButtonUp(five)]
    );
}

#[test]
fn short_and_unknown_reports() {
    let mut jabra = handset("jabra-evolve-link-ms_0b0e-0307.hex");
    assert_eq!(
        jabra.input(&[2, 1]),
        Err(ReportError::Short {
            id: 2,
            got: 1,
            want: 2
        })
    );
    assert_eq!(jabra.input(&[]), Err(ReportError::Empty));
    // Report 1 is the volume report: no telephony control, no event.
    assert_eq!(events(&mut jabra, &[1, 0b11]), []);
    // The short report changed nothing: the hook still goes off now.
    assert_eq!(
        events(&mut jabra, &[2, 1, 0]),
        [HandsetEvent::Hookswitch(true)]
    );
}

/// Jabra packs Off-Hook, Mute, Ring, Hold, Microphone and Ringer in output #2:
/// setting one must keep the others.
#[test]
fn lamps_rewrite_the_whole_report_from_the_shadow() {
    let mut jabra = handset("jabra-evolve-link-ms_0b0e-0307.hex");
    let mute = jabra.layout().lamp_index(0x09).expect("Mute lamp");
    assert_eq!(jabra.set_lamp(mute, true), Some(vec![2, 0b0000_0010, 0]));
    assert_eq!(jabra.echo_hookswitch(true), Some(vec![2, 0b0000_0011, 0]));
    assert_eq!(jabra.set_ring(true), Some(vec![2, 0b0010_0011, 0]));
    assert_eq!(jabra.set_lamp(mute, false), Some(vec![2, 0b0010_0001, 0]));
    assert!(!jabra.lamp_is_on(mute));
    assert_eq!(jabra.set_lamp(99, true), None);
}

/// Poly has one report per LED and no Ringer usage: ringing lights the Ring lamp,
/// report #33; input #1 and output #1 of the Voyager are different reports.
#[test]
fn one_report_per_lamp_and_ring_without_a_ringer() {
    let mut poly = handset("poly-bt700_047f-02e6.hex");
    assert_eq!(poly.set_ring(true), Some(vec![33, 1]));
    assert_eq!(poly.echo_hookswitch(true), Some(vec![36, 1]));
    let mut voyager = handset("poly-voyager-base-cd_047f-02ec.hex");
    assert_eq!(voyager.set_ring(true), Some(vec![1, 1]));
    assert_eq!(
        events(&mut voyager, &[1, 0b1]),
        [HandsetEvent::Hookswitch(true)]
    );
}

/// Jabra EVOLVE's output and feature reports, read from the descriptor bytes:
/// output #2 (6 LED/ringer bits + 10 padding = 2 bytes), output #4 (2 bytes, the
/// vendor mirror), output #5 (`75 08 95 20 92 02 01`: 32 buffered bytes), feature
/// #8 (`b1 22` 1 bit + 7 padding = 1 byte). Outputs first, then features.
#[test]
fn data_areas_are_the_output_and_feature_reports() {
    let mut jabra = handset("jabra-evolve-link-ms_0b0e-0307.hex");
    let areas: Vec<_> = jabra
        .layout()
        .data_areas
        .iter()
        .map(|a| (a.direction.name(), a.report_id, a.len))
        .collect();
    assert_eq!(
        areas,
        [
            ("output", 2, 2),
            ("output", 4, 2),
            ("output", 5, 32),
            ("feature", 8, 1)
        ]
    );
    // Data into the LED report keeps a lit lamp's neighbours and updates the shadow.
    let mute = jabra.layout().lamp_index(0x09).expect("Mute lamp");
    jabra.set_lamp(mute, true);
    let (_, report) = jabra.set_data(0, &[0b0000_0011]).expect("fits");
    assert_eq!(report, [2, 0b11, 0]);
    assert!(jabra.lamp_is_on(mute));
    assert_eq!(jabra.written_data(0), Ok(vec![0b11, 0]));
    assert_eq!(
        jabra.set_data(3, &[1, 2]),
        Err(tsp_driver_usbhid::handset::DataError::TooLong {
            id: 3,
            len: 2,
            max: 1
        })
    );
    assert_eq!(
        jabra.set_data(4, &[1]),
        Err(tsp_driver_usbhid::handset::DataError::NoSuchArea(4))
    );
}
