//! Issue 15: a configuration the TSP library cannot use reaches the user: TAPI
//! shows only `LINEERR_INIFILECORRUPT`, so the file, the line and what is wrong
//! go to `tsp-rs.log` beside the library. Through the C exports of the built
//! library (one per process: this test has its own binary).

mod tapi_c;
mod tapi_side;

#[test]
fn a_configuration_that_does_not_parse_is_explained_in_the_log_beside_the_library() {
    let folder = tapi_c::build_dir().join("test-library-log");
    let _ = std::fs::remove_file(folder.join("tsp-rs.log"));
    std::fs::create_dir_all(&folder).expect("a folder");
    tsp_host::testkit::write_trusted(&folder.join("tsp-rs.toml"), "drivers = [\"mock\"\n");
    let (folder, tsp) = tapi_c::load_tsp("test-library-log");
    let (phones, init) = tsp.try_start();
    assert_eq!(phones, 0);
    assert_eq!(
        init,
        tsp_core::LineError::IniFileCorrupt.to_long(),
        "TAPI is told the configuration is broken"
    );
    let log =
        std::fs::read_to_string(folder.join("tsp-rs.log")).expect("tsp-rs.log beside the library");
    assert!(log.contains("tsp-rs.toml"), "the file: {log}");
    assert!(log.contains("line 1"), "the line: {log}");
    assert!(log.contains("unclosed array"), "what is wrong: {log}");
}
