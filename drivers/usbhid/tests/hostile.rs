//! Descriptors and layouts built to break the driver (issue 14): each must be
//! refused with an error that says what is wrong, never panic, never allocate what
//! a device asks for beyond the kernel's limits.

mod common;

use tsp_driver_usbhid::descriptor::{self, Descriptor, DescriptorError, Field};
use tsp_driver_usbhid::handset::{self, DataArea, Handset, Lamp, Layout, Place};
use tsp_driver_usbhid::{Direction, Usage};

/// A Telephony (Headset) application collection, report id 2, around `body`.
fn telephony(body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x05, 0x0B, 0x09, 0x05, 0xA1, 0x01, 0x85, 0x02];
    bytes.extend_from_slice(body);
    bytes.push(0xC0);
    bytes
}

/// `item` `times` times after `head`.
fn repeated(head: &[u8], item: &[u8], times: usize) -> Vec<u8> {
    let mut body = head.to_vec();
    for _ in 0..times {
        body.extend_from_slice(item);
    }
    body
}

fn refused(bytes: &[u8]) -> String {
    match descriptor::parse(bytes) {
        Err(error) => error.to_string(),
        Ok(parsed) => panic!(
            "a {}-byte descriptor with {} fields was accepted",
            bytes.len(),
            parsed.fields.len()
        ),
    }
}

const HOOK: [u8; 2] = [0x09, 0x20];
const INPUT: [u8; 2] = [0x81, 0x02];
const OUTPUT: [u8; 2] = [0x91, 0x02];

#[test]
fn a_report_past_the_kernels_buffer_is_refused() {
    // Report Size 8, Report Count 4096: 4096 bytes a field; five make 20480.
    let body = repeated(&[HOOK, [0x75, 0x08]].concat(), &[], 0);
    let body = repeated(&[body, vec![0x96, 0x00, 0x10]].concat(), &INPUT, 5);
    let error = refused(&telephony(&body));
    assert!(
        error.contains("input report 2") && error.contains("16383"),
        "{error}"
    );
    // 12288 + 4095 bytes is the most the kernel takes (16384 with the id byte).
    let mut body = vec![0x09, 0x20, 0x75, 0x08, 0x96, 0x00, 0x30, 0x81, 0x02];
    body.extend_from_slice(&[0x96, 0xFF, 0x0F, 0x81, 0x02]);
    assert!(descriptor::parse(&telephony(&body)).is_ok());
    body.extend_from_slice(&[0x95, 0x01, 0x81, 0x02]);
    assert!(refused(&telephony(&body)).contains("16384 bytes"));
}

/// The issue's descriptor: 2.7 KiB of 256-bit × 12288 Off-Hook lamps, whose bit
/// offsets used to saturate at 512 MiB.
#[test]
fn the_issues_512_mib_descriptor_is_refused() {
    let head = [0x05, 0x08, 0x09, 0x17, 0x76, 0x00, 0x01, 0x96, 0x00, 0x30];
    let bytes = telephony(&repeated(&head, &OUTPUT, 1366));
    assert!(bytes.len() > 2700);
    let error = refused(&bytes);
    assert!(error.contains("output report 2"), "{error}");
}

#[test]
fn more_than_256_fields_in_one_report_are_refused() {
    let head = [0x75, 0x01, 0x95, 0x01];
    let field = [HOOK, INPUT].concat();
    assert!(descriptor::parse(&telephony(&repeated(&head, &field, 256))).is_ok());
    let error = refused(&telephony(&repeated(&head, &field, 257)));
    assert!(
        error.contains("input report 2") && error.contains("256 fields"),
        "{error}"
    );
    // Padding (no usage) is not a field to the kernel, and not counted.
    assert!(descriptor::parse(&telephony(&repeated(&head, &[0x81, 0x03], 300))).is_ok());
}

#[test]
fn more_usages_than_any_device_declares_are_refused() {
    // Six arrays of 12288 Button usages each (the kernel's per-field limit).
    let head = [0x05, 0x09, 0x75, 0x08, 0x95, 0x01];
    let array = [0x19, 0x00, 0x2A, 0xFF, 0x2F, 0x81, 0x00];
    assert!(descriptor::parse(&telephony(&repeated(&head, &array, 1))).is_ok());
    let error = refused(&telephony(&repeated(&head, &array, 6)));
    assert!(error.contains("usages"), "{error}");
}

#[test]
fn the_kernels_descriptor_and_stack_limits_hold() {
    let long = telephony(&repeated(&[0x75, 0x01, 0x95, 0x01], &[0x81, 0x03], 2100));
    assert!(refused(&long).contains("4096"));
    let pushes = [0xA4; 5];
    assert!(refused(&pushes).contains("Push"));
    assert!(descriptor::parse(&[0xA4, 0xA4, 0xA4, 0xA4, 0xB4, 0xB4, 0xB4, 0xB4]).is_ok());
}

fn field(direction: Direction, bit: u32, size: u32, count: u32, usage: Usage) -> Field {
    Field {
        direction,
        report_id: 1,
        bit,
        size,
        count,
        constant: false,
        variable: true,
        relative: false,
        logical_min: 0,
        logical_max: 1,
        usages: vec![usage],
        applications: vec![Usage::new(0x0B, 0x05)],
    }
}

/// Fields are public: one made by hand may sit anywhere, and its elements must
/// not wrap around (the second one here would end past `u32::MAX`).
#[test]
fn element_offsets_never_wrap() {
    let f = field(Direction::Input, u32::MAX - 9, 8, 4, Usage::new(0x0B, 0x20));
    let bits: Vec<u32> = f.variable_elements().map(|(_, bit)| bit).collect();
    assert_eq!(bits, [u32::MAX - 9]);
    assert_eq!(f.end(), None);
}

fn hand_made(fields: Vec<Field>) -> Descriptor {
    Descriptor {
        fields,
        applications: vec![Usage::new(0x0B, 0x05)],
        uses_report_ids: true,
    }
}

/// A descriptor not made by `parse` is checked again where it is laid out: no
/// report past the kernel's buffer, no offset that wraps.
#[test]
fn a_layout_of_a_hand_made_descriptor_keeps_the_kernels_limits() {
    let lamp = Usage::new(0x08, 0x17);
    for count in [1, 2] {
        let d = hand_made(vec![field(
            Direction::Output,
            u32::MAX - 255,
            256,
            count,
            lamp,
        )]);
        let error = Layout::of(&d).expect_err("a 512 MiB output report");
        assert_eq!(
            error,
            DescriptorError::ReportTooLong {
                direction: Direction::Output,
                report_id: 1,
                bytes: (u64::from(u32::MAX - 255) + 256 * u64::from(count)).div_ceil(8),
            }
        );
        assert!(
            error.to_string().contains("output report 1 is 536870"),
            "{error}"
        );
    }
}

/// 122880 one-bit Button 1 elements: no phone has that many buttons, and each
/// costs a Button in the layout and a position in PHONECAPS.
#[test]
fn a_layout_of_more_controls_than_a_phone_has_is_refused() {
    let head = [0x05, 0x09, 0x75, 0x01, 0x96, 0x00, 0x30];
    let bytes = telephony(&repeated(&head, &[0x09, 0x01, 0x81, 0x02], 10));
    let parsed = descriptor::parse(&bytes).expect("within the kernel's limits");
    assert_eq!(Layout::of(&parsed), Err(DescriptorError::TooManyControls));
    assert!(
        handset::telephony_layout(&bytes)
            .expect_err("refused")
            .to_string()
            .contains("more than 4096 telephony buttons and lamps")
    );
    // At the limit it is taken.
    let head = [0x05, 0x09, 0x09, 0x01, 0x75, 0x01, 0x96, 0x00, 0x10];
    let layout = handset::telephony_layout(&telephony(&[&head[..], &INPUT].concat()))
        .expect("taken")
        .expect("a phone");
    assert_eq!(layout.buttons.len(), 4096);
}

fn lamp_layout(place: Place, areas: Vec<DataArea>) -> Layout {
    let mut layout = Layout::default();
    layout.lamps = vec![Lamp {
        usage: Usage::new(0x08, 0x17),
        place,
    }];
    layout.data_areas = areas;
    layout
}

fn output(report_id: u8, len: usize) -> DataArea {
    DataArea {
        direction: Direction::Output,
        report_id,
        len,
    }
}

#[test]
fn lamp_bits_at_the_end_of_the_offsets_do_not_wrap() {
    let place = Place {
        report_id: 0,
        bit: u32::MAX - 3,
        size: 8,
    };
    let mut handset = Handset::new(lamp_layout(place, vec![output(0, 1)]));
    assert_eq!(handset.set_lamp(0, true), Some(vec![0]));
    assert!(!handset.lamp_is_on(0));
}

#[test]
fn two_areas_for_one_report_do_not_break_set_data() {
    let place = Place {
        report_id: 0,
        bit: 0,
        size: 1,
    };
    let mut handset = Handset::new(lamp_layout(place, vec![output(0, 10), output(0, 1)]));
    for id in 0..2 {
        let _ = handset.set_data(id, &[0xAA; 10]);
        let _ = handset.written_data(id);
    }
}

/// Every real descriptor in tests/data still parses and lays out.
#[test]
fn every_fixture_descriptor_still_parses() {
    let folder = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&folder).expect("tests/data") {
        let name = entry.expect("an entry").file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".hex") || name.contains("ringtone") {
            continue;
        }
        let parsed =
            descriptor::parse(&common::fixture(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        if parsed.has_telephony() {
            Layout::of(&parsed).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        seen += 1;
    }
    assert!(seen >= 9, "{seen} fixtures");
}

/// Every field of 12288 elements past its one usage: twelve million elements in
/// 4 KiB. The layout walks only the elements that can matter.
#[test]
fn elements_repeating_the_last_usage_are_not_walked_one_by_one() {
    let mut body = vec![0x75, 0x00, 0x96, 0x00, 0x30];
    let mut fields = 0;
    while body.len() < 4080 {
        if fields % 250 == 0 {
            body.extend_from_slice(&[0x85, 3 + u8::try_from(fields / 250).expect("few")]);
        }
        body.extend_from_slice(&[0x09, 0x01, 0x81, 0x02]);
        fields += 1;
    }
    let layout = handset::telephony_layout(&telephony(&body))
        .expect("within every limit")
        .expect("a phone");
    assert!(layout.buttons.is_empty() && layout.hookswitch.is_none());
    // A repeated hookswitch is its last element, as when each was walked.
    let body = [0x75, 0x01, 0x95, 0x03, 0x09, 0x20, 0x81, 0x02];
    let layout = handset::telephony_layout(&telephony(&body))
        .expect("taken")
        .expect("a phone");
    assert_eq!(
        layout.hookswitch,
        Some(Place {
            report_id: 2,
            bit: 2,
            size: 1
        })
    );
}
