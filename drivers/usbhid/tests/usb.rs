//! End to end on emulated USB with real libusb: umockdev serves a device built
//! from the Poly BT700 report descriptor (see `tests/umockdev/README.md`), and the
//! driver finds it, claims it, reads the hook going off and echoes the Off-Hook
//! LED with SET_REPORT, byte for byte as the ioctl script demands.

mod common;

use std::process::Command;
use std::time::Duration;

use tsp_driver_usbhid::descriptor;
use tsp_driver_usbhid::handset::{Handset, HandsetEvent, Layout};
use tsp_driver_usbhid::transport::Transport;
use tsp_driver_usbhid::usb::{self, UsbTransport};

const INSIDE: &str = "TSP_RS_INSIDE_UMOCKDEV";

fn dir() -> String {
    format!("{}/tests", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_poly_headset_on_emulated_usb() {
    let exe = std::env::current_exe().expect("the test binary");
    let output = Command::new("umockdev-run")
        .arg("-d")
        .arg(format!("{}/umockdev/poly-bt700.umockdev", dir()))
        .arg("-i")
        .arg(format!(
            "/dev/bus/usb/001/002={}/umockdev/poly-bt700.ioctl",
            dir()
        ))
        .arg("--")
        .arg(exe)
        .args(["--exact", "inside_umockdev", "--ignored", "--nocapture"])
        .env(INSIDE, "1")
        .output()
        .expect("umockdev-run is installed (.ci/run installs the umockdev package)");
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{log}");
    assert!(log.contains("1 passed"), "{log}");
}

#[test]
#[ignore = "run by a_poly_headset_on_emulated_usb under umockdev-run"]
fn inside_umockdev() {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run under umockdev-run only"
    );
    let expected = common::fixture("poly-bt700_047f-02e6.hex");

    let found = usb::find_telephony().expect("libusb lists devices");
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
    let mut handset = Handset::new(Layout::of(&parsed));
    let transport = UsbTransport::open(poly, parsed.uses_report_ids).expect("claims the interface");
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
}
