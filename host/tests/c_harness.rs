//! The TSP library as TAPISRV uses it: a C program, compiled here with the
//! system's C compiler, loads the built library with `dlopen` from a folder laid
//! out by the dist code (the library, the sample configuration, `drivers/` with
//! the mock plugin; no tsp-rs.toml, so demo mode), and plays TAPISRV. Its own
//! checks are printed; this test requires them all to pass.

mod tapi_side;

use std::process::Command;

use tapi_side::*;

#[test]
fn the_c_harness_passes_against_the_tsp_library() {
    let folder = plugin_folder("test-c-harness");
    let library = folder.join(tsp_host::sdk::manifest::library_file_name("tsp-host"));
    std::fs::copy(
        build_dir().join(library.file_name().expect("name")),
        &library,
    )
    .expect("the TSP library is built (cargo build --workspace)");

    let source = workspace().join("host/tests/c/harness.c");
    let program = folder.join("harness");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread", "-o",
        ])
        .arg(&program)
        .arg(&source)
        .arg("-ldl")
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(status.success(), "the harness does not compile");

    let output = Command::new(&program)
        .arg(&library)
        .env_remove("TSP_RS_CONFIG")
        .output()
        .expect("the harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" 0 failed"),
        "the harness reports failures: {last}"
    );
    assert!(
        output.status.success(),
        "the harness exited with {}",
        output.status
    );
    assert!(
        stdout.lines().filter(|l| l.starts_with("PASS")).count() >= 40,
        "{stdout}"
    );
}
