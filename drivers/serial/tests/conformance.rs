//! The serial driver, built as a plugin, passes the conformance kit against the
//! modem simulator on a pseudo-terminal: real serial I/O through the real loader.
#![cfg(unix)]

mod common;

use std::time::Duration;

use tsp_driver_serial::sim::Simulator;
use tsp_plugin_sdk::conformance::{Options, run_with};

#[test]
fn the_serial_driver_passes_conformance_against_the_simulator() {
    let (_, manifest) = common::staged("test-serial-plugin");
    let sim = Simulator::phone().expect("pty");
    let options = Options {
        settings: format!(
            "[[ports]]\npath = \"{}\"\ntimeout_ms = 1000\n",
            sim.path().display()
        ),
        patience: Duration::from_secs(5),
    };
    let report = run_with(&manifest, &options);
    println!("{report}");
    assert_eq!(report.driver, "serial");
    assert_eq!(report.failed(), 0, "{report}");
    assert!(
        sim.received().iter().any(|c| c.starts_with("AT+CKPD=")),
        "data reached the device"
    );
}
