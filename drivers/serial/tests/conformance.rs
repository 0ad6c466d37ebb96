//! The serial driver, built as a plugin, passes the conformance kit against the
//! modem simulator on a pseudo-terminal: real serial I/O through the real loader.
#![cfg(unix)]

use std::path::Path;
use std::time::Duration;

use tsp_driver_serial::sim::Simulator;
use tsp_plugin_sdk::conformance::{Options, run_with};
use tsp_plugin_sdk::manifest::PluginSpec;

fn build_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_owned()
}

#[test]
fn the_serial_driver_passes_conformance_against_the_simulator() {
    let spec = PluginSpec::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.toml"))
        .expect("plugin.toml");
    let manifest = spec
        .stage_from(&build_dir(), &build_dir().join("test-serial-plugin"))
        .unwrap_or_else(|e| panic!("{e} (cargo build --workspace builds the plugin)"));
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
