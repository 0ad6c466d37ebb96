//! The USB HID driver, built as a plugin and loaded through the real loader,
//! passes the conformance kit against simulated handsets behind the transport
//! seam: a Jabra Evolve (headset collection, ringer, feature report) and a Poly
//! BT700 (Ring lamp instead of a ringer, many output reports).

mod common;

use tsp_plugin_sdk::conformance::{CHECKS, run};

#[test]
fn the_usbhid_driver_passes_conformance_on_simulated_handsets() {
    let (_, manifest) = common::staged("test-usbhid-conformance");
    let settings = common::simulated_settings(&[
        ("jabra-evolve-link-ms_0b0e-0307.hex", "CONF-JABRA"),
        ("poly-bt700_047f-02e6.hex", "CONF-POLY"),
    ]);
    let report = run(&manifest, &settings);
    println!("{report}");
    assert_eq!(report.driver, "usbhid");
    assert_eq!(report.checks.len(), CHECKS.len(), "{report}");
    assert_eq!(report.failed(), 0, "{report}");
}
