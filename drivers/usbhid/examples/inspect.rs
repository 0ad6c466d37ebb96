//! Prints what `tspctl usbhid inspect` would: `cargo run --example inspect FILE`.
fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: inspect FILE");
        return std::process::ExitCode::FAILURE;
    };
    let result = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            tsp_driver_usbhid::inspect::decode_file(&bytes).map_err(|e| e.to_string())
        })
        .and_then(|bytes| tsp_driver_usbhid::inspect::inspect(&bytes).map_err(|e| e.to_string()));
    match result {
        Ok(found) => {
            print!("{}", found.to_text());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
