//! Issue 15: a run with a lock folder of its own (`TSP_RS_LOCK_DIR`, which
//! `cargo xtask test` sets for everything it runs) never meets another run or a
//! running tspd, which hold the mock's phones in theirs. The host is started
//! in a child (this test binary again, running only `open_phone_0_in_a_child`)
//! with the variable set, so no other test sees it.

mod tapi_side;

use std::path::Path;
use std::process::Command;

use tapi_side::*;
use tsp_plugin_sdk::{LOCK_DIR_VARIABLE, LockFile};

const CHILD: &str = "TSP_RS_HERMETIC_TEST_CHILD";

/// What `TSPI_phoneOpen` of phone 0 gave in a child whose lock folder is `folder`.
fn open_in_a_child(folder: &Path) -> String {
    let exe = std::env::current_exe().expect("a test knows its own path");
    let output = Command::new(exe)
        .args(["--exact", "open_phone_0_in_a_child", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(LOCK_DIR_VARIABLE, folder)
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split("open: ").nth(1))
        .unwrap_or_else(|| panic!("the child says what open gave:\n{stdout}"))
        .trim()
        .to_owned()
}

#[test]
fn a_run_with_a_lock_folder_of_its_own_never_meets_another() {
    let theirs = tempfile::tempdir().expect("a folder");
    let ours = tempfile::tempdir().expect("a folder");
    // Another run (or a tspd) holds phone 0 in its folder, as the mock does.
    let id = tsp_driver_mock::default_phone_caps(0).permanent_id;
    let _held = LockFile::take_in(theirs.path(), "mock", id, "Mock Phone 0").expect("free");
    assert_eq!(open_in_a_child(ours.path()), "ok", "a folder of its own");
    assert_eq!(
        open_in_a_child(theirs.path()),
        "Allocated",
        "the same folder: the reservation still holds across processes"
    );
}

#[test]
#[ignore = "run by a_run_with_a_lock_folder_of_its_own_never_meets_another"]
fn open_phone_0_in_a_child() {
    if std::env::var_os(CHILD).is_none() {
        println!("nothing to do: run by a_run_with_a_lock_folder_of_its_own_never_meets_another");
        return;
    }
    let provider = provider(
        stage(
            &workspace().join("drivers/mock/plugin.toml"),
            "test-hermetic",
        )
        .0,
        "mock",
        "",
    );
    provider.enum_devices(0xABC, Some(event_proc()));
    provider.init(0, completion_proc()).expect("init");
    let opened = provider.open(0, 1, 0x0003_0001, event_proc());
    match opened {
        Ok(handle) => {
            println!("open: ok");
            provider.close(handle).expect("closes");
        }
        Err(error) => println!("open: {error:?}"),
    }
    provider.shutdown().expect("shutdown");
}

/// Two runs in one checkout lay the TSP library out into the same folder
/// (`tapi_c::load_tsp`): a second run laying out a newer build must not
/// rewrite the file the first has loaded, or the first one's mapped code
/// changes under it (a 500,000-operation stress run died with SIGSEGV when a
/// `cargo test -p tsp-host` ran beside it). The library is replaced: a new
/// file under the name, the loaded one left as it was.
#[cfg(unix)]
#[test]
fn laying_out_a_newer_build_replaces_the_library_and_never_rewrites_it() {
    use std::os::unix::fs::MetadataExt;

    let built = tsp_host::sdk::manifest::Platform::HOST.library_file_name("tsp-host");
    let build_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join("debug");
    let scratch = tempfile::tempdir().expect("a folder");
    let out = scratch.path().join("out");
    let library = tsp_host::dist::lay_out(&build_dir, &out, &[]).expect("laid out");
    let before = std::fs::metadata(&library).expect("there").ino();
    let loaded = std::fs::read(&library).expect("readable");

    // A newer build: the same library one byte longer, in a build folder of its own.
    let newer = scratch.path().join("newer");
    std::fs::create_dir_all(&newer).expect("a folder");
    let mut bytes = std::fs::read(build_dir.join(&built)).expect("the built library");
    bytes.push(0);
    std::fs::write(newer.join(&built), &bytes).expect("written");
    let program = tsp_host::sdk::isolation::program_file_name();
    std::fs::copy(build_dir.join(&program), newer.join(&program)).expect("the driver host");
    tsp_host::dist::lay_out(&newer, &out, &[]).expect("laid out again");

    assert_ne!(
        std::fs::metadata(&library).expect("there").ino(),
        before,
        "a new file under the name, not the old one rewritten"
    );
    assert_eq!(
        std::fs::read(&library).expect("readable"),
        bytes,
        "the newer build"
    );
    assert_ne!(loaded, bytes);
}
