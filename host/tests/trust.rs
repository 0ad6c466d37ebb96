//! The host's side of issue 14's "untrusted input" on disk: the configuration file
//! gets the plugin files' ownership check however it was found (named by the
//! application, by `TSP_RS_CONFIG`, or beside the library); driver names in it
//! are plain names; a driver's manifest must describe the driver the
//! configuration asked for.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tsp_host::config::{CONFIG_ENV, CONFIG_FILE};
use tsp_host::{Config, ConfigSource, HostSetup, Provider};

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// `tsp-rs.toml` naming the mock, in a fresh temporary folder, with `mode`.
fn config_file(mode: u32) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let file = tmp.path().join(CONFIG_FILE);
    std::fs::write(&file, "drivers = [\"mock\"]\n").expect("write the configuration");
    set_mode(&file, mode);
    (tmp, file)
}

fn assert_refused_as_group_writable(source: &ConfigSource, file: &Path, mode: &str) {
    let error = source
        .load()
        .expect_err("another user could have written it");
    let text = error.to_string();
    let path = file.display().to_string();
    for part in [
        path.as_str(),
        &format!("writable by its group or by others (mode {mode})"),
        &format!("run `chmod go-w {path}`"),
    ] {
        assert!(text.contains(part), "{part:?} is missing from: {text}");
    }
}

#[test]
fn a_group_writable_configuration_given_by_path_is_refused() {
    let (_tmp, file) = config_file(0o664);
    let source = ConfigSource::File(file.clone());
    assert_refused_as_group_writable(&source, &file, "0664");

    set_mode(&file, 0o644);
    let config = source.load().expect("trusted now");
    assert_eq!(config.drivers, ["mock"]);
}

#[test]
fn a_configuration_beside_the_library_gets_the_same_check() {
    if std::env::var_os(CONFIG_ENV).is_some() {
        println!("skipped: {CONFIG_ENV} is set, so the file beside the library is not looked at");
        return;
    }
    let (tmp, file) = config_file(0o620);
    let source = ConfigSource::locate(Some(tmp.path()));
    assert_eq!(source, ConfigSource::File(file.clone()));
    assert_refused_as_group_writable(&source, &file, "0620");
}

/// The environment is the process's: the check of a file `TSP_RS_CONFIG` names
/// runs in a child (this test binary again, running only
/// `tsp_rs_config_in_a_child`), so no other test sees the variable.
#[test]
fn a_configuration_named_by_tsp_rs_config_gets_the_same_check() {
    let (_tmp, file) = config_file(0o666);
    let exe = std::env::current_exe().expect("a test knows its own path");
    let output = Command::new(exe)
        .args(["--exact", "tsp_rs_config_in_a_child", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CONFIG_ENV, &file)
        .env(CHILD_EXPECTS, &file)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child check failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

const CHILD_EXPECTS: &str = "TSP_RS_TRUST_TEST_CHILD";

#[test]
#[ignore = "run by a_configuration_named_by_tsp_rs_config_gets_the_same_check"]
fn tsp_rs_config_in_a_child() {
    let Some(file) = std::env::var_os(CHILD_EXPECTS).map(PathBuf::from) else {
        println!(
            "nothing to do: run by a_configuration_named_by_tsp_rs_config_gets_the_same_check"
        );
        return;
    };
    let source = ConfigSource::locate(None);
    assert_eq!(source, ConfigSource::File(file.clone()));
    assert_refused_as_group_writable(&source, &file, "0666");
}

#[test]
fn driver_names_are_plain_names() {
    for bad in [
        "../evil", "a/b", "a\\b", "", ".hidden", "..", "C:evil", "a..b",
    ] {
        let text = format!("drivers = [{bad:?}]\n");
        let error = Config::parse(&text, Path::new("tsp-rs.toml"))
            .expect_err(&format!("{bad:?} is not a plain name"));
        assert!(
            error.problem.contains(&format!("{bad:?}")) && error.problem.contains("plain name"),
            "{bad:?}: {error}"
        );

        let given = Config {
            drivers: vec![bad.to_owned()],
            ..Config::default()
        };
        let error = ConfigSource::Given(given)
            .load()
            .expect_err(&format!("{bad:?} given directly"));
        assert!(error.problem.contains("plain name"), "{bad:?}: {error}");
    }
    for good in ["mock", "acme-desk", "usb_hid2", "v1.2"] {
        let text = format!("drivers = [{good:?}]\n");
        Config::parse(&text, Path::new("tsp-rs.toml"))
            .unwrap_or_else(|e| panic!("{good:?} is a plain name: {e}"));
    }
}

/// `drivers/other.toml` holding the mock's manifest (and the mock's library
/// beside it): the configuration asks for `other`, the manifest says `mock`.
/// The control, the same files as `drivers/mock.toml`, serves the mock's phones.
#[test]
fn a_manifest_describing_another_driver_than_the_configured_one_is_refused() {
    let (staged_folder, staged) = tsp_host::testkit::stage(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../drivers/mock/plugin.toml"),
        "test-host-trust",
    );
    let manifest = tsp_host::sdk::manifest::Manifest::read(&staged).expect("the staged manifest");
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let drivers = tmp.path().join("drivers");
    std::fs::create_dir(&drivers).expect("drivers folder");
    set_mode(&drivers, 0o755);
    std::fs::copy(
        staged_folder.join("drivers").join(&manifest.library),
        drivers.join(&manifest.library),
    )
    .expect("copy the library");
    set_mode(&drivers.join(&manifest.library), 0o755);
    let text = std::fs::read_to_string(&staged).expect("the manifest reads");
    for name in ["other", "mock"] {
        let file = drivers.join(format!("{name}.toml"));
        std::fs::write(&file, &text).expect("write the manifest");
        set_mode(&file, 0o644);
    }

    let phones = |driver: &str| {
        let provider = Provider::new(HostSetup {
            plugin_folder: Some(tmp.path().to_owned()),
            statics: Vec::new(),
            config: ConfigSource::Given(Config {
                drivers: vec![driver.to_owned()],
                ..Config::default()
            }),
        });
        provider.enum_devices(1, None)
    };
    assert_eq!(phones("other"), 0, "drivers/other.toml describes the mock");
    assert_eq!(phones("mock"), 2, "the control: the mock's two phones");
}
