//! `tspctl`: the command-line tool of tsp-rs (its TAPI Browser). It embeds the host
//! with the mock driver linked in, and plays TAPI's part.

mod tapi;

use std::process::ExitCode;
use std::time::Duration;

use tsp_core::var::sized_buffer;
use tsp_core::{LineError, PhoneCaps, PhoneError, PhoneMessage, PhoneStates, TspiVersion};
use tsp_host::{Config, ConfigSource, HostSetup, PhoneHandle, Provider};

use tapi::Callback;
use tsp_driver_usbhid::inspect;

const USAGE: &str = "\
usage: tspctl <command>

commands:
  demo                      a guided tour on the mock driver's phones: find them, open
                            one, write and read data, receive an event, close
  list                      the phones and their permanent ids
  caps DEV                  the capabilities of phone DEV, read from PHONECAPS
  set-data DEV AREA TEXT    download TEXT to data area AREA of phone DEV, then read
                            it back (the mock's memory lives as long as the process)
  get-data DEV AREA [SIZE]  upload SIZE bytes (default 16) from data area AREA
  usbhid inspect FILE [--json]
                            the telephony controls a USB HID report descriptor
                            declares (a sysfs report_descriptor file, or hex text)
  explain CODE              what a TSPI return value means (hex like 0x9000000C, or
                            the signed LONG like -1879048180)
  help                      this text

Phones come from TSP_RS_CONFIG if it is set (drivers are then loaded as plugins
from target/debug), else from the mock driver's two default phones.";

const VERSION: TspiVersion = TspiVersion::V3_1;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["demo"] => with_provider(demo),
        ["list"] => with_provider(list),
        ["caps", dev] => number(dev).and_then(|dev| with_provider(|p| caps(p, dev))),
        ["set-data", dev, area, text] => number(dev).and_then(|dev| {
            number(area).and_then(|area| with_provider(|p| set_data(p, dev, area, text)))
        }),
        ["get-data", dev, area, rest @ ..] if rest.len() <= 1 => {
            let size = rest.first().map_or(Ok(16), |s| number(s));
            number(dev).and_then(|dev| {
                number(area).and_then(|area| {
                    size.and_then(|size| with_provider(|p| get_data(p, dev, area, size)))
                })
            })
        }
        ["explain", code] => explain(code),
        ["usbhid", "inspect", file] => return usbhid_inspect(file, false),
        ["usbhid", "inspect", file, "--json"] | ["usbhid", "inspect", "--json", file] => {
            return usbhid_inspect(file, true);
        }
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        [] => Err(USAGE.to_owned()),
        [_, ..] => Err(format!(
            "unknown command or wrong arguments: `{}`\n\n{USAGE}",
            words.join(" ")
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tspctl: {message}");
            ExitCode::from(2)
        }
    }
}

fn number(text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

/// Starts a provider the way TAPISRV does, runs `f`, shuts it down.
fn with_provider(f: impl FnOnce(&Provider) -> Result<(), String>) -> Result<(), String> {
    let config = match ConfigSource::locate(None) {
        ConfigSource::Demo => ConfigSource::Given(Config::demo()),
        other => other,
    };
    let provider = Provider::new(HostSetup {
        plugin_folder: std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Into::into)),
        statics: vec![tsp_driver_mock::tsp_driver_module()],
        config,
    });
    provider
        .line_negotiate(
            tsp_core::sys::INITIALIZE_NEGOTIATION,
            0x0002_0000,
            VERSION.raw(),
        )
        .map_err(|e| e.to_string())?;
    provider.enum_devices(0, None);
    provider
        .init(0, tapi::completion_proc())
        .map_err(|e: LineError| e.to_string())?;
    let result = f(&provider);
    let _ = provider.shutdown();
    result
}

fn read_caps(provider: &Provider, dev: u32) -> Result<PhoneCaps, String> {
    let mut buf = sized_buffer(PhoneCaps::fixed_size(VERSION) as u32);
    let first = provider
        .get_dev_caps(dev, VERSION.raw(), &mut buf)
        .map_err(|e| e.to_string())?;
    let mut buf = sized_buffer(first.needed);
    let second = provider
        .get_dev_caps(dev, VERSION.raw(), &mut buf)
        .map_err(|e| e.to_string())?;
    println!(
        "PHONECAPS {VERSION}: {} bytes gave dwNeededSize {}; {} bytes gave dwUsedSize {}",
        PhoneCaps::fixed_size(VERSION),
        first.needed,
        buf.len(),
        second.used
    );
    PhoneCaps::read(&buf, VERSION).ok_or_else(|| "PHONECAPS does not read back".to_owned())
}

fn list(provider: &Provider) -> Result<(), String> {
    for (dev, device) in (0u32..).zip(provider.devices()) {
        println!(
            "{dev}  {:<16} permanent id {:#010x}  driver {}",
            device.caps.name, device.caps.permanent_id, device.driver
        );
    }
    Ok(())
}

fn caps(provider: &Provider, dev: u32) -> Result<(), String> {
    let caps = read_caps(provider, dev)?;
    println!("name            {}", caps.name);
    println!("provider        {}", caps.provider_info);
    println!("phone           {}", caps.phone_info);
    println!("permanent id    {:#010x}", caps.permanent_id);
    println!("features        {:?}", caps.features);
    println!("phone states    {:?}", caps.phone_states);
    if let Some(display) = caps.display {
        println!("display         {} x {}", display.rows, display.columns);
    }
    println!("buttons         {}", caps.buttons.len());
    println!("ring modes      {}", caps.ring_modes);
    println!("SetData areas   {:?} bytes", caps.set_data);
    println!("GetData areas   {:?} bytes", caps.get_data);
    Ok(())
}

fn open(provider: &Provider, dev: u32) -> Result<PhoneHandle, String> {
    provider
        .open(dev, 1, VERSION.raw(), tapi::event_proc())
        .map_err(|e| e.to_string())
}

/// Waits for the completion of `request_id`, printing the events that arrive first.
fn wait_completion(request_id: u32) -> Result<(), String> {
    loop {
        match tapi::next(Duration::from_secs(5)) {
            Some(Callback::Completion {
                request_id: id,
                result,
            }) if id == request_id => {
                return match PhoneError::from_long(result) {
                    None => Ok(()),
                    Some(error) => Err(error.to_string()),
                };
            }
            Some(other) => show(other),
            None => return Err(format!("request {request_id} did not complete within 5 s")),
        }
    }
}

fn show(callback: Callback) {
    match callback {
        Callback::Completion { request_id, result } => {
            println!("  ASYNC_COMPLETION({request_id}, {result:#x})")
        }
        Callback::Event {
            msg,
            params: [p1, p2, p3],
        } => {
            let name = PhoneMessage::from_code(msg).map_or("PHONE_?", PhoneMessage::name);
            println!("  PHONEEVENT {name}({p1:#x}, {p2:#x}, {p3:#x})");
        }
    }
}

/// Starts a request and reports it.
fn request(what: &str, request_id: u32, returned: i32) -> Result<(), String> {
    if returned < 0 {
        let error = PhoneError::from_long(returned)
            .map_or_else(|| format!("{returned:#x}"), |e| e.to_string());
        return Err(format!("{what}: {error}"));
    }
    println!("  {what} returned request id {returned}");
    wait_completion(request_id)?;
    println!("  ASYNC_COMPLETION({request_id}, 0): done");
    Ok(())
}

fn set_data(provider: &Provider, dev: u32, area: u32, text: &str) -> Result<(), String> {
    let phone = open(provider, dev)?;
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    let result = request(
        "TSPI_phoneSetData",
        1,
        provider.set_data(1, phone, area, &bytes),
    )
    .and_then(|()| {
        let mut back = vec![0u8; bytes.len()];
        provider
            .get_data(phone, area, &mut back)
            .map_err(|e| e.to_string())?;
        println!(
            "  read back: {:?}",
            String::from_utf8_lossy(&back[..back.len() - 1])
        );
        Ok(())
    });
    let _ = provider.close(phone);
    result
}

fn get_data(provider: &Provider, dev: u32, area: u32, size: u32) -> Result<(), String> {
    let phone = open(provider, dev)?;
    let mut buf = vec![0u8; size as usize];
    let result = provider
        .get_data(phone, area, &mut buf)
        .map_err(|e| e.to_string());
    if result.is_ok() {
        let hex: Vec<String> = buf.iter().map(|b| format!("{b:02x}")).collect();
        println!("{}", hex.join(" "));
    }
    let _ = provider.close(phone);
    result
}

fn demo(provider: &Provider) -> Result<(), String> {
    println!("tsp-rs demo: the host with the mock driver, TAPI played by tspctl\n");
    println!("1. TSPI_providerEnumDevices found these phones:");
    list(provider)?;

    println!(
        "\n2. TSPI_phoneGetDevCaps(0) — asked twice, as TAPI does (fixed part, then dwNeededSize):"
    );
    caps(provider, 0)?;

    println!(
        "\n3. TSPI_phoneOpen(0): the driver reserves the phone (a second open gets ALLOCATED)"
    );
    let phone = open(provider, 0)?;
    match provider.open(0, 2, VERSION.raw(), tapi::event_proc()) {
        Err(error) => println!("  a second TSPI_phoneOpen(0): {}", error.name()),
        Ok(_) => return Err("a second open succeeded".into()),
    }

    let result = demo_open_phone(provider, phone);
    println!(
        "\n7. TSPI_phoneClose: outstanding requests are completed first, then the reservation is released"
    );
    provider.close(phone).map_err(|e| e.to_string())?;
    println!("  closed");
    result
}

fn demo_open_phone(provider: &Provider, phone: PhoneHandle) -> Result<(), String> {
    println!("\n4. TSPI_phoneSetData(area 1, \"hello, phone\") — asynchronous:");
    request(
        "TSPI_phoneSetData",
        1,
        provider.set_data(1, phone, 1, b"hello, phone\0"),
    )?;

    println!("\n5. TSPI_phoneGetData(area 1):");
    let mut back = [0u8; 13];
    provider
        .get_data(phone, 1, &mut back)
        .map_err(|e| e.to_string())?;
    println!("  {:?}", String::from_utf8_lossy(&back[..12]));

    println!(
        "\n6. Events: TSPI_phoneSetStatusMessages turns on keypad buttons and the handset hookswitch,"
    );
    println!(
        "   then the mock is told (TSPI_phoneDevSpecific) to press key 5 and lift the handset:"
    );
    let states = PhoneStates::HANDSETHOOKSWITCH.bits();
    provider
        .set_status_messages(phone, states, tsp_core::ButtonModes::KEYPAD.bits(), 0x3)
        .map_err(|e| e.to_string())?;
    request(
        "TSPI_phoneDevSpecific(\"press 5\")",
        2,
        provider.dev_specific(2, phone, b"press 5"),
    )?;
    let lift = b"hookswitch handset micspeaker";
    request(
        "TSPI_phoneDevSpecific(\"hookswitch handset micspeaker\")",
        3,
        provider.dev_specific(3, phone, lift),
    )?;
    Ok(())
}

/// Exit status 1 (not 2) on an unreadable or malformed descriptor: scripts run this
/// over files from the field and tell "not telephony" (0) from "broken" (1).
fn usbhid_inspect(path: &str, json: bool) -> ExitCode {
    let found = std::fs::read(path)
        .map_err(|e| format!("cannot read {path}: {e}"))
        .and_then(|bytes| inspect::decode_file(&bytes).map_err(|e| format!("{path}: {e}")))
        .and_then(|bytes| inspect::inspect(&bytes).map_err(|e| format!("{path}: {e}")));
    match found {
        Ok(found) if json => println!("{}", found.to_json()),
        Ok(found) => print!("{}", found.to_text()),
        Err(message) => {
            eprintln!("tspctl: {message}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn explain(text: &str) -> Result<(), String> {
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
