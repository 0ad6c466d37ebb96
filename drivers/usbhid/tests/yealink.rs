//! Yealink USB-P1K packets against the worked bytes of device-protocols §3 (sums
//! computed by hand from the rule there) and the real default ringtones.

mod common;

use tsp_driver_usbhid::inspect;
use tsp_driver_usbhid::yealink::{self, Generation, PacketError, cmd};

fn hex(text: &str) -> Vec<u8> {
    inspect::decode_file(text.as_bytes()).expect("hex")
}

fn g1(head: &str, tail: &str) -> Vec<u8> {
    let mut bytes = hex(head);
    bytes.resize(15, 0);
    bytes.extend(hex(tail));
    bytes
}

use common::fixture;

#[test]
fn generation_1_packets_match_the_worked_examples() {
    let p = |c, size, data: &[u8]| yealink::packet(Generation::G1, c, size, 0, data).expect("fits");
    assert_eq!(p(cmd::VERSION, 2, &[]), g1("87 02", "77"));
    assert_eq!(p(cmd::INIT, 10, &[]), g1("8e 0a", "68"));
    assert_eq!(p(cmd::KEY_POLL, 1, &[]), g1("80 01", "7f"));
    assert_eq!(p(cmd::LED, 1, &[1]), g1("05 01 00 00 01", "f9"));
    assert_eq!(p(cmd::RINGER, 1, &[0x24]), g1("03 01 00 00 24", "d8"));
    assert_eq!(p(cmd::RING_VOLUME, 1, &[0xEF]), g1("11 01 00 00 ef", "ff"));
}

#[test]
fn the_default_ringtone_downloads_in_chunks_of_eleven() {
    let buffer = fixture("yealink-usb-p1k_default-ringtone-g1.hex");
    let packets = yealink::ringtone(Generation::G1, &buffer).expect("a valid ringtone");
    // Volume, then 38 note bytes: 11 + 11 + 11 + 5 at offsets 0, 11, 22, 33.
    assert_eq!(packets.len(), 5);
    assert_eq!(packets[0], g1("11 01 00 00 ef", "ff"));
    assert_eq!(
        packets[1],
        hex("02 0b 00 00 fb 1e 00 0c fc 18 00 0c fb 1e 00 95")
    );
    let offsets: Vec<(u8, u16)> = packets[1..]
        .iter()
        .map(|p| (p[1], u16::from_be_bytes([p[2], p[3]])))
        .collect();
    assert_eq!(offsets, [(11, 0), (11, 11), (11, 22), (5, 33)]);
    let last = &packets[4];
    assert_eq!(
        &last[4..9],
        &hex("ff 01 90 00 00")[..],
        "the end marker is sent"
    );
    assert!(packets.iter().all(|p| yealink::checksum(p) == 0));
}

#[test]
fn bad_ringtones_are_refused() {
    assert_eq!(
        yealink::ringtone(Generation::G1, &[]),
        Err(PacketError::BadRingtone)
    );
    assert_eq!(
        yealink::ringtone(Generation::G1, &hex("ef fb 1e 00 0c")),
        Err(PacketError::BadRingtone),
        "no end marker"
    );
    assert_eq!(
        yealink::ringtone(Generation::G1, &hex("ef fb 1e 00 00 00")),
        Err(PacketError::BadRingtone),
        "a broken note"
    );
    let g2 = fixture("yealink-usb-p1kh_default-ringtone-g2.hex");
    assert_eq!(
        yealink::ringtone(Generation::G2, &g2),
        Err(PacketError::NotOnGeneration2)
    );
}

#[test]
fn the_lcd_is_written_in_offset_addressed_chunks() {
    let segments: Vec<u8> = (1..=24).collect();
    let packets = yealink::lcd_write(0, &segments).expect("fits");
    assert_eq!(packets.len(), 3);
    assert_eq!(&packets[2][..6], &[cmd::LCD, 2, 0, 22, 23, 24]);
    assert_eq!(
        yealink::lcd_write(20, &[0; 5]),
        Err(PacketError::OutOfRange {
            offset: 20,
            len: 5,
            size: 24
        })
    );
}

#[test]
fn replies_are_checked() {
    let version = yealink::packet(Generation::G1, cmd::VERSION, 2, 0, &[0x01, 0x10]).expect("fits");
    let (c, data) = yealink::reply(Generation::G1, &version).expect("valid");
    assert_eq!(c, cmd::VERSION);
    assert_eq!(
        yealink::model_of_version(u16::from_be_bytes([data[0], data[1]])),
        Some("P1K")
    );
    let mut damaged = version.clone();
    damaged[5] ^= 1;
    assert_eq!(
        yealink::reply(Generation::G1, &damaged),
        Err(PacketError::Checksum)
    );
    let refused = yealink::packet(Generation::G1, cmd::BAD_PACKET, 0, 0, &[]).expect("fits");
    assert_eq!(
        yealink::reply(Generation::G1, &refused),
        Err(PacketError::Refused)
    );
    assert_eq!(
        yealink::reply(Generation::G2, &version),
        Err(PacketError::WrongSize { got: 16, want: 8 })
    );
    let g2 = yealink::packet(Generation::G2, cmd::KEY_POLL, 0, 0, &[7]).expect("fits");
    assert_eq!(g2.len(), 8);
    assert_eq!(yealink::reply(Generation::G2, &g2).expect("valid").1[0], 7);
    assert_eq!(yealink::p1k_key(0x03), Some("pickup"));
    assert_eq!(yealink::p1k_key(0xFF), None);
    assert_eq!(Generation::from_max_packet_size(8), Some(Generation::G2));
}

#[test]
fn an_lcd_write_at_an_absurd_offset_is_out_of_range() {
    assert!(matches!(
        yealink::lcd_write(usize::MAX, &[1]),
        Err(PacketError::OutOfRange { .. })
    ));
}
