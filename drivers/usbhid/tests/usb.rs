//! End to end on emulated USB with real libusb: umockdev serves a device built
//! from the Poly BT700 report descriptor (see `tests/umockdev/README.md`), and the
//! driver finds it, claims it, reads the hook going off, echoes the Off-Hook LED
//! with SET_REPORT, byte for byte as the ioctl script demands, and sees the device
//! go away (the next interrupt IN ends with ENODEV). Twice: the transport alone,
//! and the whole plugin under the host, as TAPI would see it.
//!
//! Built where the crate has `usb` (the default feature, on Unix), as `usb.rs` is.
#![cfg(all(unix, feature = "usb"))]

mod common;

use std::time::Duration;

use tsp_driver_usbhid::descriptor;
use tsp_driver_usbhid::handset::{Handset, HandsetEvent, Layout};
use tsp_driver_usbhid::transport::Transport;
use tsp_driver_usbhid::usb::{self, UsbTransport};

use common::INSIDE;

#[test]
fn a_poly_headset_on_emulated_usb() {
    run_inside_umockdev("inside_umockdev");
}

#[test]
fn the_plugin_serves_a_poly_headset_on_emulated_usb() {
    run_inside_umockdev("plugin_inside_umockdev");
}

#[test]
fn the_plugin_serves_a_yealink_p1k_on_emulated_usb() {
    run_device_inside_umockdev("yealink-p1k", "p1k_inside_umockdev");
}

fn run_inside_umockdev(test: &str) {
    run_device_inside_umockdev("poly-bt700", test);
}

fn run_device_inside_umockdev(device: &str, test: &str) {
    let testbed = [
        "-d".to_owned(),
        common::umockdev_file(&format!("{device}.umockdev")),
        "-i".to_owned(),
        format!(
            "/dev/bus/usb/001/002={}",
            common::umockdev_file(&format!("{device}.ioctl"))
        ),
    ];
    common::run_inside_umockdev(&testbed, test);
}

#[test]
#[ignore = "run by a_poly_headset_on_emulated_usb under umockdev-run"]
fn inside_umockdev() {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run under umockdev-run only"
    );
    let expected = common::fixture("poly-bt700_047f-02e6.hex");

    let context = usb::context().expect("libusb starts");
    let found = usb::find_telephony(&context).expect("libusb lists devices");
    assert_eq!(found.len(), 1, "{found:?}");
    let poly = &found[0];
    assert_eq!((poly.vendor_id, poly.product_id), (0x1234, 0x5678));
    assert_eq!(
        poly.report_descriptor, expected,
        "the descriptor comes from sysfs"
    );
    assert_eq!(poly.serial.as_deref(), Some("TSPRS-TEST-0001"));
    assert_eq!(poly.identity(), "1234:5678:TSPRS-TEST-0001");
    assert_eq!(
        (poly.interface, poly.in_endpoint, poly.out_endpoint),
        (0, 0x81, None)
    );

    let parsed = descriptor::parse(&poly.report_descriptor).expect("parses");
    let mut handset = Handset::new(Layout::of(&parsed).expect("lays out"));
    let transport =
        UsbTransport::open(&context, poly, parsed.uses_report_ids).expect("claims the interface");
    let report = transport
        .read_input(Duration::from_secs(5))
        .expect("an interrupt IN read")
        .expect("a report");
    assert_eq!(report, [0x20, 0x01]);
    assert_eq!(
        handset.input(&report),
        Ok(vec![HandsetEvent::Hookswitch(true)])
    );
    let echo = handset.echo_hookswitch(true).expect("the Off-Hook LED");
    assert_eq!(echo, [36, 1]);
    transport
        .write_output(&echo)
        .expect("SET_REPORT as scripted");
    assert_eq!(
        transport.read_input(Duration::from_secs(5)),
        Err(tsp_driver_usbhid::transport::TransportError::Gone),
        "an URB that ends with ENODEV: the device is gone"
    );
}

/// Under umockdev: the plugin finds one device, and once opened, hears its hook
/// go off and then sees it unplugged. The ioctl scripts leave room for one
/// session only, so the driver does not rescan during the test.
fn serve_until_unplugged(
    staged_as: &str,
    hook: tsp_core::HookSwitchDevice,
    check_device: impl FnOnce(&tsp_host::Device),
) {
    use common::{completion_proc, event_proc, events, provider, staged, wait_for};
    use tsp_core::{HookSwitchDevs, HookSwitchMode, PhoneMessage, PhoneStates, TspiVersion};

    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run under umockdev-run only"
    );
    let (folder, _) = staged(staged_as);
    let p = provider(folder, "scan_ms = 600000");
    assert_eq!(p.enum_devices(0, None), 1, "the emulated device is found");
    check_device(&p.devices()[0]);
    p.init(0, completion_proc()).expect("init");
    let ht = 0x0B;
    let hd = p
        .open(0, ht, TspiVersion::V3_0.raw(), event_proc())
        .expect("claims the interface");
    let hook_state = PhoneStates::hookswitch_of(hook);
    let watched = hook_state | PhoneStates::CONNECTED | PhoneStates::DISCONNECTED;
    p.set_status_messages(hd, watched.bits(), 0, 0)
        .expect("filter");
    let off_hook = [
        hook_state.bits() as usize,
        HookSwitchMode::MicSpeaker.code() as usize,
        0,
    ];
    let gone = [PhoneStates::DISCONNECTED.bits() as usize, 0, 0];
    wait_for("PHONE_STATE(DISCONNECTED)", || {
        events(ht, PhoneMessage::State).contains(&gone)
    });
    // The filter was set after open: the hookswitch may have come before it,
    // but the phone's state says it came.
    let states = events(ht, PhoneMessage::State);
    assert!(
        states.last() == Some(&gone) && states.iter().all(|s| *s == off_hook || *s == gone),
        "{states:?}"
    );
    assert_eq!(
        p.get_hookswitch(hd),
        Ok(HookSwitchDevs::from(hook).bits()),
        "off hook"
    );
    p.close(hd).expect("closes");
    p.shutdown().expect("shuts down");
}

#[test]
#[ignore = "run by the_plugin_serves_a_poly_headset_on_emulated_usb under umockdev-run"]
fn plugin_inside_umockdev() {
    serve_until_unplugged(
        "test-usbhid-umockdev",
        tsp_core::HookSwitchDevice::Headset,
        |device| {
            assert_eq!(device.key, "1234:5678:TSPRS-TEST-0001");
            assert_eq!(device.caps.name, "Fake HID Handset", "the product string");
            assert_eq!(
                device.caps.permanent_id,
                tsp_driver_usbhid::permanent_id("1234:5678:TSPRS-TEST-0001")
            );
        },
    );
}

/// Init, key poll, scancode 0x03 (the pickup key), key poll: off hook, then gone.
#[test]
#[ignore = "run by the_plugin_serves_a_yealink_p1k_on_emulated_usb under umockdev-run"]
fn p1k_inside_umockdev() {
    serve_until_unplugged(
        "test-usbhid-umockdev-p1k",
        tsp_core::HookSwitchDevice::Handset,
        |device| {
            assert_eq!(device.key, "6993:b001:TSPRS-P1K-0001", "found by its ids");
            assert_eq!(device.caps.name, "USB-P1K (emulated)");
            assert_eq!(device.caps.set_data, [24, 256], "LCD memory and ringtone");
        },
    );
}
