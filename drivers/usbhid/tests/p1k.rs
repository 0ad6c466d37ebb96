//! The Yealink USB-P1K as a running phone, against a simulated P1K that answers
//! packets as the firmware does (device-protocols §3): keys through the poll and
//! scancode commands, the hook keys, the LED, the ringer, the LCD memory and the
//! real default ringtone downloaded in 11-byte chunks.

mod common;

use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use tsp_driver_usbhid::caps;
use tsp_driver_usbhid::device::{Control, DeviceError, DeviceEvent};
use tsp_driver_usbhid::handset::{DataError, HandsetEvent};
use tsp_driver_usbhid::p1k::{self, P1k, SimulatedP1k};
use tsp_driver_usbhid::transport::Transport;
use tsp_driver_usbhid::yealink::{self, Generation, PacketError, cmd};

fn start() -> (SimulatedP1k, P1k, Receiver<DeviceEvent>) {
    let sim = SimulatedP1k::new();
    let (tx, rx) = channel();
    let phone = P1k::start(Arc::new(sim.clone()), move |e| {
        let _ = tx.send(e);
    })
    .expect("the poll thread starts");
    (sim, phone, rx)
}

fn next(events: &Receiver<DeviceEvent>) -> DeviceEvent {
    events
        .recv_timeout(Duration::from_secs(5))
        .expect("an event within 5 s")
}

#[test]
fn keys_become_buttons_and_the_hook_keys_the_hookswitch() {
    let (sim, _phone, events) = start();
    sim.key(0x11); // '5'
    assert_eq!(
        next(&events),
        DeviceEvent::Handset(HandsetEvent::ButtonDown(5))
    );
    sim.key(0xFF);
    assert_eq!(
        next(&events),
        DeviceEvent::Handset(HandsetEvent::ButtonUp(5))
    );
    sim.key(0x03); // pickup
    assert_eq!(
        next(&events),
        DeviceEvent::Handset(HandsetEvent::Hookswitch(true))
    );
    sim.key(0xFF);
    sim.key(0x23); // IN
    assert_eq!(
        next(&events),
        DeviceEvent::Handset(HandsetEvent::ButtonDown(13))
    );
    sim.key(0x13); // hangup while IN is held: IN comes up first
    assert_eq!(
        next(&events),
        DeviceEvent::Handset(HandsetEvent::ButtonUp(13))
    );
    assert_eq!(
        next(&events),
        DeviceEvent::Handset(HandsetEvent::Hookswitch(false))
    );
    let layout = p1k::layout();
    let info = caps::button_info(&layout, 13, tsp_core::ButtonStates::UP).expect("id 13");
    assert_eq!(info.text, "IN");
    assert_eq!(
        caps::button_info(&layout, 10, tsp_core::ButtonStates::UP)
            .expect("id 10")
            .mode,
        tsp_core::ButtonModes::KEYPAD,
        "* is a keypad key"
    );
    assert!(
        sim.received()
            .iter()
            .all(|p| p.len() == 16 && yealink::checksum(p) == 0),
        "every packet is 16 bytes and sums to 0"
    );
    assert_eq!(sim.received()[0][..2], [0x8E, 0x0A], "init first");
}

#[test]
fn the_default_ringtone_downloads_in_chunks() {
    let (sim, phone, _events) = start();
    let ringtone = common::fixture("yealink-usb-p1k_default-ringtone-g1.hex");
    phone.set_data(1, &ringtone).expect("downloads");
    assert_eq!(sim.notes(), ringtone[1..], "the notes, end marker included");
    assert_eq!(sim.ring_volume_ringer_led().0, 0xEF, "the volume byte");
    assert_eq!(phone.get_data(1), Ok(ringtone.clone()));
    let chunks = sim.received().iter().filter(|p| p[0] == 0x02).count();
    assert_eq!(chunks, (ringtone.len() - 1).div_ceil(11));

    let no_end = &ringtone[..ringtone.len() - 2];
    assert_eq!(
        phone.set_data(1, no_end),
        Err(DeviceError::Packet(PacketError::BadRingtone))
    );
    assert_eq!(
        phone.get_data(1),
        Ok(ringtone),
        "a refused download changes nothing"
    );
}

#[test]
fn lcd_led_and_ringer() {
    let (sim, phone, _events) = start();
    let segments: Vec<u8> = (1..=24).collect();
    phone.set_data(0, &segments).expect("24 bytes of segments");
    assert_eq!(sim.lcd().to_vec(), segments);
    assert_eq!(phone.get_data(0), Ok(segments));
    assert_eq!(
        phone.set_data(0, &[0; 25]),
        Err(DeviceError::Data(DataError::TooLong {
            id: 0,
            len: 25,
            max: 24
        }))
    );
    assert_eq!(
        phone.set_data(2, &[0]),
        Err(DeviceError::Data(DataError::NoSuchArea(2)))
    );

    phone.set_lamp(0, true).expect("LED on");
    assert!(phone.lamp_is_on(0));
    phone.set_ring(true, 0x8000).expect("rings");
    assert_eq!(sim.ring_volume_ringer_led(), (0x80, 0x24, 1));
    phone.set_ring(false, 0).expect("stops");
    assert_eq!(sim.ring_volume_ringer_led().1, 0);
    assert_eq!(phone.set_lamp(1, true), Err(DeviceError::NoSuchControl));
    assert_eq!(
        phone.set_hookswitch(true),
        Err(DeviceError::NoSuchControl),
        "the hook is the user's"
    );
}

#[test]
fn an_unplugged_p1k_is_reported_gone() {
    let (sim, phone, events) = start();
    sim.unplug();
    assert_eq!(next(&events), DeviceEvent::Disconnected);
    assert!(phone.set_lamp(0, true).is_err());
}

/// The simulated firmware takes any bytes written to it: a packet whose size byte
/// says 0 carries no data byte to read.
#[test]
fn the_simulated_p1k_answers_an_empty_command_as_a_bad_packet() {
    let phone = SimulatedP1k::new();
    for command in [cmd::LED, cmd::RINGER, cmd::RING_VOLUME] {
        let packet = yealink::packet(Generation::G1, command, 0, 0, &[]).expect("fits");
        phone.write_output(&packet).expect("plugged in");
        let reply = phone
            .read_input(std::time::Duration::from_millis(100))
            .expect("plugged in")
            .expect("a reply");
        assert_eq!(
            yealink::reply(Generation::G1, &reply),
            Err(PacketError::Refused)
        );
    }
}

/// Replies and packets from a broken P1K (or written to the stand-in) never panic:
/// random bytes, half of them with a sum that checks out.
#[test]
fn arbitrary_replies_and_packets_never_panic() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500 {
        let mut stream = Vec::new();
        for _ in 0..(next() % 6) {
            let mut packet: Vec<u8> = (0..16).map(|_| next() as u8).collect();
            packet[0] = [cmd::KEY_POLL, cmd::SCANCODE, cmd::LED, cmd::LCD][(next() % 4) as usize];
            if next() % 2 == 0 {
                packet[15] = yealink::checksum(&packet[..15]);
            }
            stream.extend(packet);
        }
        stream.truncate(stream.len().saturating_sub((next() % 3) as usize));
        let _ = tsp_driver_usbhid::fuzzing::p1k_replies(&stream);
        let _ = tsp_driver_usbhid::fuzzing::p1k_firmware(&stream);
    }
}
