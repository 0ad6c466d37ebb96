//! Every `[settings.mock]` example in the repository's docs (README, crate
//! docs, the example configuration) parses with this driver's own settings
//! parser, so the docs cannot drift from it (issue 15).

use std::path::Path;

use tsp_plugin_sdk::examples::refused_settings;

#[test]
fn every_settings_example_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let refused = refused_settings(&root, "mock", |t| {
        tsp_driver_mock::MockConfig::parse(t).map(|_| ())
    })
    .expect("the docs show mock's settings somewhere");
    assert!(
        refused.is_empty(),
        "examples that do not parse:\n{}",
        refused.join("\n")
    );
}
