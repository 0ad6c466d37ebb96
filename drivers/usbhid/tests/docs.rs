//! Every `[settings.usbhid]` example in the repository's docs (README, crate
//! docs, the example configuration) parses with this driver's own settings
//! parser, so the docs cannot drift from it (issue 15).

use std::path::Path;

use tsp_plugin_sdk::examples::refused_settings;

#[test]
fn every_settings_example_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let refused = refused_settings(&root, "usbhid", tsp_driver_usbhid::check_settings)
        .expect("the docs show usbhid's settings somewhere");
    assert!(
        refused.is_empty(),
        "examples that do not parse:\n{}",
        refused.join("\n")
    );
}
