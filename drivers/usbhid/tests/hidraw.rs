//! End to end through the kernel's HID class, emulated by umockdev: a USB
//! device built from the Jabra EVOLVE LINK MS report descriptor whose HID
//! device has a hidraw node (`tests/umockdev/jabra-hidraw.umockdev`), and a
//! script for that node (`jabra-hidraw.script`): input #2 off hook, the
//! Off-Hook LED echo written as output #2 byte for byte, on hook, the Flash key
//! down, the Mute lamp set, the key up.
//! Then the node goes away (its sysfs entry is removed) and the driver sees
//! the device gone. Twice: the transport alone, and the whole plugin under the
//! host, as TAPI would see it.
//!
//! The same device is on USB for libusb too (its node has no ioctl script, so
//! any libusb open or claim would fail): the plugin lists it once, through
//! hidraw, and never detaches the kernel's driver.
#![cfg(all(target_os = "linux", feature = "hidraw"))]

mod common;

use std::time::Duration;

use tsp_driver_usbhid::handset::{Handset, HandsetEvent};
use tsp_driver_usbhid::hidraw::{self, HidrawTransport};
use tsp_driver_usbhid::transport::{Transport, TransportError};

use common::INSIDE;
const KEY: &str = "0b0e:0307:TSPRS-HIDRAW-0001";

/// Both transports name the same device alike, so its permanent id does
/// not change with the transport.
#[cfg(feature = "usb")]
#[test]
fn the_identity_is_libusb_s_with_and_without_a_serial() {
    for serial in [Some("TSPRS-TEST-0001".to_owned()), None] {
        let hidraw = hidraw::Found {
            node: "/dev/hidraw3".into(),
            bus: 3,
            vendor_id: 0x047f,
            product_id: 0xc053,
            usb_interface: Some(("1-1.4".into(), 3)),
            serial: serial.clone(),
            product: None,
            report_descriptor: Vec::new(),
        };
        let usb = tsp_driver_usbhid::usb::Found {
            bus: 1,
            port_path: "1-1.4".into(),
            vendor_id: 0x047f,
            product_id: 0xc053,
            interface: 3,
            in_endpoint: 0x81,
            in_packet_size: 64,
            out_endpoint: None,
            serial,
            product: None,
            report_descriptor: Vec::new(),
        };
        assert_eq!(hidraw.identity(), usb.identity());
    }
}

#[test]
fn a_jabra_headset_through_hidraw() {
    run_inside_umockdev("transport_inside_umockdev");
}

#[test]
fn the_plugin_serves_a_jabra_headset_through_hidraw() {
    run_inside_umockdev("plugin_inside_umockdev");
}

#[test]
#[cfg(feature = "usb")]
fn a_device_the_settings_leave_to_libusb_is_listed_through_libusb() {
    run_inside_umockdev("left_to_libusb_inside_umockdev");
}

#[test]
fn the_plugin_serves_a_yealink_p1k_through_hidraw() {
    run_device_inside_umockdev("yealink-p1k-hidraw", "p1k_inside_umockdev");
}

fn run_inside_umockdev(test: &str) {
    run_device_inside_umockdev("jabra-hidraw", test);
}

fn run_device_inside_umockdev(device: &str, test: &str) {
    let testbed = [
        "-d".to_owned(),
        common::umockdev_file(&format!("{device}.umockdev")),
        "-s".to_owned(),
        format!(
            "/dev/hidraw0={}",
            common::umockdev_file(&format!("{device}.script"))
        ),
    ];
    common::run_inside_umockdev(&testbed, test);
}

/// The node's entry in `/sys/class/hidraw`, in umockdev's testbed.
fn class_entry() -> std::path::PathBuf {
    let testbed = std::env::var("UMOCKDEV_DIR").expect("umockdev-run sets UMOCKDEV_DIR");
    std::path::Path::new(&testbed).join("sys/class/hidraw/hidraw0")
}

/// The node leaves: its entry in sysfs is removed. Returns where it pointed.
fn unplug() -> std::path::PathBuf {
    let entry = class_entry();
    let target = std::fs::read_link(&entry).expect("the class entry is a link");
    std::fs::remove_file(&entry).expect("removed");
    target
}

/// The node is back.
fn replug(target: &std::path::Path) {
    std::os::unix::fs::symlink(target, class_entry()).expect("the class entry again");
}

#[test]
#[ignore = "run by a_jabra_headset_through_hidraw under umockdev-run"]
fn transport_inside_umockdev() {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run under umockdev-run only"
    );
    let found = hidraw::find_telephony();
    assert_eq!(found.len(), 1, "{found:?}");
    let jabra = &found[0];
    assert_eq!(jabra.node, std::path::Path::new("/dev/hidraw0"));
    assert_eq!((jabra.vendor_id, jabra.product_id), (0x0b0e, 0x0307));
    assert_eq!(jabra.identity(), KEY, "the identity libusb would give it");
    assert_eq!(jabra.usb_interface, Some(("1-1".to_owned(), 0)));
    assert_eq!(
        jabra.report_descriptor,
        common::fixture("jabra-evolve-link-ms_0b0e-0307.hex"),
        "the descriptor as the kernel read it"
    );
    let layout = common::layout("jabra-evolve-link-ms_0b0e-0307.hex");
    assert_eq!(
        tsp_driver_usbhid::handset::telephony_layout(&jabra.report_descriptor),
        Ok(Some(layout.clone())),
        "the same layout whichever transport read the descriptor"
    );
    let mut handset = Handset::new(layout.clone());
    let transport = HidrawTransport::open(jabra, layout.uses_report_ids()).expect("opens");
    let read = |transport: &HidrawTransport| {
        transport
            .read_input(Duration::from_secs(5))
            .expect("a read")
            .expect("a report")
    };
    let off_hook = read(&transport);
    assert_eq!(off_hook, [2, 1, 0]);
    assert_eq!(
        handset.input(&off_hook),
        Ok(vec![HandsetEvent::Hookswitch(true)])
    );
    let echo = handset.echo_hookswitch(true).expect("the Off-Hook LED");
    transport.write_output(&echo).expect("written as scripted");
    assert_eq!(
        read(&transport),
        [2, 0, 0],
        "the script went on: the echo matched"
    );
    let _ = unplug();
    assert_eq!(
        transport.read_input(Duration::from_millis(200)),
        Err(TransportError::Gone)
    );
}

#[test]
#[ignore = "run by the_plugin_serves_a_jabra_headset_through_hidraw under umockdev-run"]
fn plugin_inside_umockdev() {
    use common::{completion_proc, event_proc, events, provider, staged, wait_for};
    use tsp_core::{
        ButtonModes, ButtonStates, HookSwitchMode, LampModes, PhoneMessage, PhoneStates,
        TspiVersion,
    };
    use tsp_driver_usbhid::descriptor::Usage;

    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run under umockdev-run only"
    );
    let (folder, _) = staged("test-usbhid-hidraw");
    // Scans often: the node's return is found by a scan.
    let p = provider(folder, "scan_ms = 200");
    assert_eq!(
        p.enum_devices(0, None),
        1,
        "one device, though libusb sees it as well"
    );
    let device = &p.devices()[0];
    assert_eq!(device.key, KEY);
    assert!(
        device.caps.phone_info.contains("/dev/hidraw0"),
        "served through hidraw: {}",
        device.caps.phone_info
    );
    p.init(0, completion_proc()).expect("init");
    let ht = 0x0C;
    let hd = p
        .open(0, ht, TspiVersion::V3_0.raw(), event_proc())
        .expect("opens the node, claiming nothing");
    let layout = common::layout("jabra-evolve-link-ms_0b0e-0307.hex");
    let hook = PhoneStates::hookswitch_of(tsp_driver_usbhid::caps::hookswitch_device(&layout));
    let watched = hook | PhoneStates::CONNECTED | PhoneStates::DISCONNECTED;
    let feature = ButtonModes::FEATURE;
    let (down, up) = (ButtonStates::DOWN, ButtonStates::UP);
    p.set_status_messages(hd, watched.bits(), feature.bits(), (down | up).bits())
        .expect("filter");
    let on_hook = [
        hook.bits() as usize,
        HookSwitchMode::OnHook.code() as usize,
        0,
    ];
    // Off hook, echoed (or the script would not go on), then on hook again.
    wait_for("PHONE_STATE back on hook", || {
        events(ht, PhoneMessage::State).contains(&on_hook)
    });
    let flash = layout
        .buttons
        .iter()
        .position(|b| b.usage == Usage::new(0x0B, 0x21))
        .expect("a Flash button");
    let pressed = [flash, feature.bits() as usize, down.bits() as usize];
    wait_for("PHONE_BUTTON(Flash, DOWN)", || {
        events(ht, PhoneMessage::Button).contains(&pressed)
    });
    // The Mute lamp, written as output #2 (the script demands those bytes).
    let mute = tsp_driver_usbhid::caps::lamp_id(&layout, 1);
    let request = 77;
    assert_eq!(
        p.set_lamp(request, hd, mute, LampModes::STEADY.bits()),
        request as i32
    );
    wait_for("the SetLamp completion", || {
        common::completion(request) == Some(0)
    });
    let released = [flash, feature.bits() as usize, up.bits() as usize];
    wait_for("PHONE_BUTTON(Flash, UP): the script went on", || {
        events(ht, PhoneMessage::Button).contains(&released)
    });
    let target = unplug();
    let gone = [PhoneStates::DISCONNECTED.bits() as usize, 0, 0];
    wait_for("PHONE_STATE(DISCONNECTED)", || {
        events(ht, PhoneMessage::State).contains(&gone)
    });
    replug(&target);
    let back = [PhoneStates::CONNECTED.bits() as usize, 0, 0];
    wait_for("PHONE_STATE(CONNECTED): found again by a scan", || {
        events(ht, PhoneMessage::State).contains(&back)
    });
    p.close(hd).expect("closes");
    p.shutdown().expect("shuts down");
}

#[test]
#[cfg(feature = "usb")]
#[ignore = "run by a_device_the_settings_leave_to_libusb_is_listed_through_libusb under umockdev-run"]
fn left_to_libusb_inside_umockdev() {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run under umockdev-run only"
    );
    let (folder, _) = common::staged("test-usbhid-hidraw-libusb");
    let p = common::provider(folder, "scan_ms = 600000\nlibusb = [\"0B0E:0307\"]");
    assert_eq!(p.enum_devices(0, None), 1, "still one device");
    let device = &p.devices()[0];
    assert_eq!(
        device.key, KEY,
        "the same identity, so the same permanent id"
    );
    assert_eq!(
        device.caps.phone_info, "USB 0b0e:0307 at 1-1 interface 0",
        "through libusb"
    );
}

/// The P1K's packets over hidraw: init, key polls and the scancode read, each
/// an output report answered by an input report; the pickup key takes the
/// handset off hook; the node leaves.
#[test]
#[ignore = "run by the_plugin_serves_a_yealink_p1k_through_hidraw under umockdev-run"]
fn p1k_inside_umockdev() {
    use common::{completion_proc, event_proc, events, provider, staged, wait_for};
    use tsp_core::{HookSwitchDevice, HookSwitchMode, PhoneMessage, PhoneStates, TspiVersion};

    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run under umockdev-run only"
    );
    let (folder, _) = staged("test-usbhid-hidraw-p1k");
    let p = provider(folder, "scan_ms = 600000");
    assert_eq!(p.enum_devices(0, None), 1);
    let device = &p.devices()[0];
    assert_eq!(device.key, "6993:b001:TSPRS-P1K-0001", "found by its ids");
    assert!(
        device.caps.phone_info.contains("/dev/hidraw0"),
        "{}",
        device.caps.phone_info
    );
    assert_eq!(device.caps.set_data, [24, 256], "LCD memory and ringtone");
    p.init(0, completion_proc()).expect("init");
    let ht = 0x0D;
    let hd = p
        .open(0, ht, TspiVersion::V3_0.raw(), event_proc())
        .expect("opens");
    let hook = PhoneStates::hookswitch_of(HookSwitchDevice::Handset);
    let watched = hook | PhoneStates::CONNECTED | PhoneStates::DISCONNECTED;
    p.set_status_messages(hd, watched.bits(), 0, 0)
        .expect("filter");
    let off_hook = [
        hook.bits() as usize,
        HookSwitchMode::MicSpeaker.code() as usize,
        0,
    ];
    // The filter was set after open: the hookswitch may have come before it,
    // but the phone's state says it came.
    wait_for("off hook", || {
        p.get_hookswitch(hd) == Ok(tsp_core::HookSwitchDevs::from(HookSwitchDevice::Handset).bits())
    });
    let _ = unplug();
    let gone = [PhoneStates::DISCONNECTED.bits() as usize, 0, 0];
    wait_for("PHONE_STATE(DISCONNECTED)", || {
        events(ht, PhoneMessage::State).contains(&gone)
    });
    let states = events(ht, PhoneMessage::State);
    assert!(
        states.iter().all(|s| *s == off_hook || *s == gone),
        "{states:?}"
    );
    p.close(hd).expect("closes");
    p.shutdown().expect("shuts down");
}
