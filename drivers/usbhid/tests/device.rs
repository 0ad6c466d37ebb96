//! An open handset over the simulated transport: events from input reports, the
//! hookswitch echo, lamps written whole, and the device going away.

mod common;

use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use tsp_driver_usbhid::device::{Device, DeviceError, DeviceEvent};
use tsp_driver_usbhid::handset::HandsetEvent;
use tsp_driver_usbhid::transport::{SimulatedHandset, TransportError};

/// Generous: this bounds a hang, it does not measure speed.
const WAIT: Duration = Duration::from_secs(10);

fn open(name: &str) -> (Device, SimulatedHandset, Receiver<DeviceEvent>) {
    let layout = common::layout(name);
    let sim = SimulatedHandset::new();
    let (tx, rx) = channel();
    let device = Device::start(layout, Arc::new(sim.clone()), move |e| {
        let _ = tx.send(e);
    })
    .expect("the reader thread starts");
    (device, sim, rx)
}

fn next(rx: &Receiver<DeviceEvent>) -> DeviceEvent {
    rx.recv_timeout(WAIT).expect("an event")
}

#[test]
fn lifting_the_handset_is_reported_and_echoed_to_the_off_hook_lamp() {
    let (_device, sim, rx) = open("jabra-evolve-link-ms_0b0e-0307.hex");
    sim.send(&[2, 0b1, 0]);
    assert_eq!(
        next(&rx),
        DeviceEvent::Handset(HandsetEvent::Hookswitch(true))
    );
    // The echo is written before the event is reported.
    assert_eq!(sim.outputs(), [vec![2, 0b1, 0]]);
}

#[test]
fn repeated_reports_give_one_event_and_bad_ones_are_reported() {
    let (_device, sim, rx) = open("poly-bt700_047f-02e6.hex");
    sim.send(&[32, 0b100]);
    sim.send(&[32, 0b100]);
    sim.send(&[32]);
    sim.send(&[32, 0]);
    let flash = DeviceEvent::Handset(HandsetEvent::ButtonDown(1));
    assert_eq!(next(&rx), flash);
    assert!(matches!(next(&rx), DeviceEvent::BadReport(_)));
    assert_eq!(next(&rx), DeviceEvent::Handset(HandsetEvent::ButtonUp(1)));
}

#[test]
fn lamps_and_ringer_write_whole_reports() {
    let (device, sim, _rx) = open("jabra-evolve-link-ms_0b0e-0307.hex");
    device.set_lamp(1, true).expect("the Mute lamp");
    device.set_ring(true).expect("the ringer");
    device.set_hookswitch(true).expect("the Off-Hook lamp");
    assert_eq!(
        sim.outputs(),
        [
            vec![2, 0b10, 0],
            vec![2, 0b10_0010, 0],
            vec![2, 0b10_0011, 0]
        ]
    );
    assert_eq!(device.set_lamp(40, true), Err(DeviceError::NoSuchControl));
}

#[test]
fn an_unplugged_device_reports_disconnected_and_refuses_writes() {
    let (device, sim, rx) = open("poly-voyager-base-cd_047f-02ec.hex");
    sim.unplug();
    assert_eq!(next(&rx), DeviceEvent::Disconnected);
    assert_eq!(
        device.set_ring(true),
        Err(DeviceError::Transport(TransportError::Gone))
    );
    // The reader has stopped: dropping the device does not hang.
    drop(device);
}

#[test]
fn set_data_writes_output_and_feature_reports_and_get_data_reads_them() {
    let (device, sim, _rx) = open("jabra-evolve-link-ms_0b0e-0307.hex");
    let text: Vec<u8> = (1..=32).collect();
    device.set_data(2, &text).expect("output #5 holds 32 bytes");
    let mut expected = vec![5];
    expected.extend(&text);
    assert_eq!(sim.outputs(), [expected]);
    assert_eq!(device.get_data(2), Ok(text));
    device.set_data(3, &[1]).expect("feature #8");
    assert_eq!(device.get_data(3), Ok(vec![1]), "read back from the device");
    assert!(matches!(
        device.set_data(2, &[0; 33]),
        Err(DeviceError::Data(_))
    ));
}
