//! Issue 15: a driver's settings that do not parse stop the TSP library with
//! the reason in `tsp-rs.log` beside it, also when `[log]` names no place for a
//! log (warnings and errors go there then). One library per process: this test
//! has its own binary.

mod tapi_c;
mod tapi_side;

#[test]
fn a_misspelt_driver_setting_is_explained_in_the_log_beside_the_library() {
    let folder = tapi_c::build_dir().join("test-library-log-settings");
    let _ = std::fs::remove_file(folder.join("tsp-rs.log"));
    std::fs::create_dir_all(&folder).expect("a folder");
    tsp_host::testkit::write_trusted(
        &folder.join("tsp-rs.toml"),
        "drivers = [\"mock\"]\n[settings.mock]\ncompletion = \"wrker\"\n",
    );
    let (folder, tsp) = tapi_c::load_tsp("test-library-log-settings");
    let (phones, init) = tsp.try_start();
    assert_eq!(phones, 0);
    assert_eq!(init, tsp_core::LineError::IniFileCorrupt.to_long());
    let log =
        std::fs::read_to_string(folder.join("tsp-rs.log")).expect("tsp-rs.log beside the library");
    assert!(log.contains("[settings.mock]"), "which table: {log}");
    assert!(log.contains("wrker"), "what is wrong: {log}");
    assert!(
        log.contains("line 3, column 14"),
        "where in the file, as the user wrote it: {log}"
    );
    assert!(
        log.contains("expected `inline` or `worker`"),
        "what is expected: {log}"
    );
}
