//! Every `[settings.mock]` example in the repository's docs (README, crate
//! docs, the example configuration) parses with this driver's own settings
//! parser, so the docs cannot drift from it (issue 15).

use std::path::Path;

use tsp_plugin_sdk::examples::in_tree;

#[test]
fn every_settings_example_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let examples: Vec<_> = in_tree(&root)
        .into_iter()
        .filter_map(|e| e.settings_of("mock").map(|settings| (e.origin, settings)))
        .collect();
    assert!(
        !examples.is_empty(),
        "the docs show mock's settings somewhere"
    );
    let broken: Vec<String> = examples
        .iter()
        .filter_map(|(origin, settings)| {
            let checked: Result<(), String> =
                tsp_driver_mock::MockConfig::parse(settings).map(|_| ());
            checked.err().map(|why| format!("{origin}: {why}"))
        })
        .collect();
    assert!(
        broken.is_empty(),
        "examples that do not parse:\n{}",
        broken.join("\n")
    );
}
