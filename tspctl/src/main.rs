//! `tspctl`: the command-line tool of tsp-rs (its TAPI Browser).

use std::process::ExitCode;

use tsp_core::var::sized_buffer;
use tsp_core::{LineError, PhoneCaps, PhoneError, TspiVersion, VersionRange};

const USAGE: &str = "\
usage: tspctl <command>

commands:
  demo            a tour: version negotiation and the mock driver's default phones,
                  as TAPI reads their PHONECAPS
  explain CODE    what a TSPI return value means (hex like 0x9000000C, or the
                  signed LONG like -1879048180)
  help            this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("explain") => explain(args.get(1).map(String::as_str)),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tspctl: {message}");
            ExitCode::from(2)
        }
    }
}

fn demo() -> Result<(), String> {
    println!("tsp-rs demo: the TSPI phone vocabulary on the mock driver's default phones");
    println!("(the host comes with the next issues; this tour grows with it)\n");

    println!("Version negotiation (TSPI_lineNegotiateTSPIVersion, provider range 2.0-3.1):");
    for (low, high) in [
        (TspiVersion::V1_4, TspiVersion::V3_1),
        (TspiVersion::V2_0, TspiVersion::V2_2),
        (TspiVersion::V1_3, TspiVersion::V1_4),
    ] {
        match VersionRange::PROVIDER.negotiate(low.raw(), high.raw()) {
            Ok(version) => println!("  TAPI offers {low}-{high}: provider answers {version}"),
            Err(error) => println!(
                "  TAPI offers {low}-{high}: {} ({error})",
                LineError::from(error).name()
            ),
        }
    }

    let version = TspiVersion::V3_1;
    for (index, caps) in tsp_driver_mock::default_phones().iter().enumerate() {
        println!("\nTSPI_phoneGetDevCaps(phone {index}, {version}):");
        show_caps(caps, version)?;
    }
    Ok(())
}

/// Fills PHONECAPS the way TAPI asks for it: first with only the fixed part, then
/// again with `dwNeededSize` bytes.
fn show_caps(caps: &PhoneCaps, version: TspiVersion) -> Result<(), String> {
    let fixed = PhoneCaps::fixed_size(version);
    let mut buf = sized_buffer(fixed as u32);
    let first = caps.write(&mut buf, version).map_err(|e| e.to_string())?;
    println!(
        "  with {fixed} bytes: dwUsedSize {}, dwNeededSize {} -> ask again",
        first.used, first.needed
    );
    let mut buf = sized_buffer(first.needed);
    let second = caps.write(&mut buf, version).map_err(|e| e.to_string())?;
    println!(
        "  with {} bytes: dwUsedSize {}, dwNeededSize {}",
        buf.len(),
        second.used,
        second.needed
    );
    let back = PhoneCaps::read(&buf, version).ok_or("PHONECAPS does not read back")?;
    println!("  name            {}", back.name);
    println!("  provider        {}", back.provider_info);
    println!("  permanent id    {:#010x}", back.permanent_id);
    println!("  permanent GUID  {:032x}", back.permanent_guid);
    println!("  features        {:?}", back.features);
    println!("  SetData areas   {:?} bytes", back.set_data);
    println!("  GetData areas   {:?} bytes", back.get_data);
    Ok(())
}

fn explain(code: Option<&str>) -> Result<(), String> {
    let text = code.ok_or("explain needs a code, e.g. `tspctl explain 0x9000000C`")?;
    let value = parse_long(text).ok_or_else(|| format!("`{text}` is not a number"))?;
    if let Some(error) = PhoneError::from_long(value) {
        println!("{:#010x} {}: {error}", value as u32, error.name());
    } else if let Some(error) = LineError::from_long(value) {
        println!("{:#010x} {}: {error}", value as u32, error.name());
    } else if value > 0 {
        println!("{value}: a request id (an asynchronous request was accepted)");
    } else if value == 0 {
        println!("0: success");
    } else {
        println!(
            "{:#010x}: not a TAPI error code this tool knows",
            value as u32
        );
    }
    Ok(())
}

fn parse_long(text: &str) -> Option<i32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok().map(|v| v as i32),
        None => text.parse::<i32>().ok(),
    }
}
