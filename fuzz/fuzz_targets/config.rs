//! `tsp-rs.toml` as anyone who can write it (or a broken editor) leaves it:
//! parsed into a configuration or refused with an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tsp_host::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, Path::new("fuzz.toml")) {
        for name in &config.drivers {
            let _ = config.deadlines.limits(name);
            let _ = config.settings_of(name);
        }
    }
});
