//! Plugins load through the real loader (`dlopen` of the built files): two
//! different drivers side by side, a mismatched plugin refused with a short error,
//! an older-SDK plugin accepted, panics contained, manifests checked.

mod common;

use common::*;
use tsp_driver_mock_commands::*;
use tsp_plugin_sdk::core::PhoneError;
use tsp_plugin_sdk::host::{LoadError, Plugin};
use tsp_plugin_sdk::manifest::{Manifest, ManifestError};

/// The mock's DevSpecific commands, spelled out (the SDK's tests do not link the
/// mock: they only load it).
mod tsp_driver_mock_commands {
    pub fn fault(op: &str, fault: &str) -> Vec<u8> {
        format!("fault {op} {fault}").into_bytes()
    }
}

#[test]
fn two_different_plugins_load_side_by_side_and_answer_as_themselves() {
    let mock = load(&mock_manifest());
    let minimal = load(&minimal_manifest());
    assert_eq!((mock.name(), minimal.name()), ("mock", "minimal"));

    let host = Recorder::new();
    let mock = mock.start("", host.clone()).expect("mock starts");
    let minimal = minimal.start("", host.clone()).expect("minimal starts");

    let mock_names: Vec<String> = mock
        .devices()
        .expect("devices")
        .into_iter()
        .map(|d| d.caps.name)
        .collect();
    assert_eq!(mock_names, ["Mock Phone 0", "Mock Phone 1"]);
    let minimal_devices = minimal.devices().expect("devices");
    assert_eq!(minimal_devices.len(), 1);
    assert_eq!(minimal_devices[0].caps.name, "Minimal Phone");
    assert_eq!(minimal_devices[0].caps.set_data, [64]);

    let phone = minimal.open("minimal0", 7).expect("opens");
    phone.set_data(1, 0, b"hello");
    assert_eq!(host.wait_completion(1), [Ok(())]);
    let mut back = [0u8; 5];
    phone.get_data(0, &mut back).expect("reads");
    assert_eq!(&back, b"hello");
    phone.close();
    mock.shutdown();
    minimal.shutdown();
}

#[test]
fn a_plugin_built_against_a_changed_sdk_is_refused_in_one_short_line() {
    let manifest = fixture_manifest("mismatch");
    let error = Plugin::load(&manifest).expect_err("the layout differs");
    let LoadError::Abi {
        difference,
        plugin_sdk,
        ..
    } = &error
    else {
        panic!("not an interface error: {error}");
    };
    assert_eq!(plugin_sdk, tsp_plugin_sdk::SDK_VERSION);
    let text = error.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(
        text.contains("libtsp_fixture_mismatch"),
        "names the file: {text}"
    );
    assert!(
        text.contains("tsp-plugin-sdk"),
        "names both versions: {text}"
    );
    assert!(
        difference.contains("u64") && difference.contains("u32"),
        "first difference: {difference}"
    );
    assert!(text.len() < 400, "short: {} chars", text.len());
}

#[test]
fn a_plugin_built_against_an_older_sdk_still_loads_and_works() {
    let plugin = load(&fixture_manifest("older"));
    assert!(!plugin.has_log_bridge(), "the older SDK had no log bridge");
    let host = Recorder::new();
    let driver = plugin.start("", host.clone()).expect("starts");
    let phone = driver.open("minimal0", 1).expect("opens");
    phone.set_data(9, 0, b"old");
    assert_eq!(host.wait_completion(9), [Ok(())]);
    phone.close();
    driver.shutdown();
}

#[test]
fn panics_in_entry_points_come_back_as_operation_failed() {
    let host = Recorder::new();
    let driver = load(&mock_manifest())
        .start("", host.clone())
        .expect("starts");
    let phone = driver.open("mock1", 1).expect("opens");

    phone.dev_specific(1, &fault("set_data", "panic"));
    phone.dev_specific(2, &fault("get_data", "panic"));
    phone.dev_specific(3, b"panic");
    assert_eq!(host.wait_completion(3), [Err(PhoneError::OperationFailed)]);

    phone.set_data(4, 0, b"x");
    assert_eq!(
        host.wait_completion(4),
        [Err(PhoneError::OperationFailed)],
        "asynchronous entry point"
    );
    assert_eq!(
        phone.get_data(0, &mut [0; 4]),
        Err(PhoneError::OperationFailed),
        "synchronous entry point"
    );

    phone.dev_specific(5, &fault("set_data", "ok"));
    phone.set_data(6, 0, b"alive");
    assert_eq!(
        host.wait_completion(6),
        [Ok(())],
        "the plugin still works after its panics"
    );
    phone.close();
    driver.shutdown();
}

#[test]
fn a_panic_in_open_is_operation_failed() {
    let host = Recorder::new();
    let driver = load(&mock_manifest())
        .start("[faults]\nopen = \"panic\"", host)
        .expect("starts");
    let error = driver.open("mock0", 1).expect_err("open panicked");
    assert_eq!(error.code, PhoneError::OperationFailed);
    assert!(error.message.contains("panic"), "{}", error.message);
    driver.shutdown();
}

#[test]
fn a_panic_on_a_driver_thread_completes_its_request_and_spares_the_host() {
    let host = Recorder::new();
    let driver = load(&mock_manifest())
        .start("", host.clone())
        .expect("starts");
    let phone = driver.open("mock0", 1).expect("opens");
    phone.dev_specific(1, &fault("set_data", "panic-thread"));
    phone.set_data(2, 0, b"lost");
    assert_eq!(host.wait_completion(2), [Err(PhoneError::OperationFailed)]);
    phone.dev_specific(3, &fault("set_data", "ok"));
    phone.set_data(4, 0, b"fine");
    assert_eq!(host.wait_completion(4), [Ok(())]);
    phone.close();
    driver.shutdown();
}

#[test]
fn settings_that_do_not_parse_are_inifilecorrupt_with_the_reason() {
    let error = load(&mock_manifest())
        .start("completion = 5", Recorder::new())
        .expect_err("bad settings");
    assert_eq!(error.code, PhoneError::IniFileCorrupt);
    assert!(error.message.contains("completion"), "{}", error.message);
}

fn write_manifest(dir: &std::path::Path, manifest: &Manifest) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("folder");
    manifest.write_to(dir).expect("writes")
}

#[test]
fn manifests_are_checked_before_any_code_loads() {
    let staged = Manifest::read(&mock_manifest()).expect("the staged manifest reads");
    let library = mock_manifest()
        .parent()
        .expect("folder")
        .join(&staged.library);
    let dir = build_dir().join("test-bad-manifests");
    std::fs::create_dir_all(&dir).expect("folder");
    std::fs::copy(&library, dir.join(&staged.library)).expect("copy");
    // Modes set, not left to the umask: the loader refuses what others may write.
    #[cfg(unix)]
    for (path, mode) in [(dir.clone(), 0o755), (dir.join(&staged.library), 0o755)] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    let missing = Plugin::load(&dir.join("nothing.toml")).expect_err("no manifest");
    assert!(
        matches!(missing, LoadError::Manifest(ManifestError::Read { .. })),
        "{missing}"
    );

    std::fs::write(dir.join("broken.toml"), "name = \"mock\"\nversion = ").expect("write");
    let broken = Plugin::load(&dir.join("broken.toml")).expect_err("does not parse");
    assert!(broken.to_string().contains("line"), "says where: {broken}");

    let no_library = Manifest {
        library: "libnot_there.so".into(),
        ..staged.clone()
    };
    let error = Plugin::load(&write_manifest(&dir.join("a"), &no_library)).expect_err("no library");
    assert!(error.to_string().contains("does not exist"), "{error}");

    let escape = Manifest {
        library: "../evil.so".into(),
        ..staged.clone()
    };
    let error = Plugin::load(&write_manifest(&dir.join("b"), &escape)).expect_err("a path");
    assert!(
        matches!(
            error,
            LoadError::Manifest(ManifestError::BadLibraryName { .. })
        ),
        "{error}"
    );

    let newer = Manifest {
        sdk_version: "0.99.0".into(),
        ..staged.clone()
    };
    let error = Plugin::load(&write_manifest(&dir, &newer)).expect_err("incompatible SDK");
    assert!(matches!(error, LoadError::SdkVersion { .. }), "{error}");

    let renamed = Manifest {
        name: "other".into(),
        ..staged
    };
    let error = Plugin::load(&write_manifest(&dir, &renamed)).expect_err("not that driver");
    assert!(
        error
            .to_string()
            .contains("the manifest says name `other`, the library says `mock`"),
        "{error}"
    );
}

#[test]
fn a_dropped_completion_completes_once_with_operation_failed() {
    let host = Recorder::new();
    let driver = load(&mock_manifest())
        .start("", host.clone())
        .expect("starts");
    let phone = driver.open("mock1", 1).expect("opens");
    phone.dev_specific(1, &fault("set_data", "never"));
    phone.set_data(2, 0, b"held");
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        host.with(|r| !r.completions.contains_key(&2)),
        "held by the driver, not completed"
    );
    phone.cancel();
    assert_eq!(host.wait_completion(2), [Err(PhoneError::OperationFailed)]);
    phone.close();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(host.with(|r| r.completions[&2].len()), 1, "exactly once");
    driver.shutdown();
}
