//! `tspctl`: the command-line tool of tsp-rs (its TAPI Browser). It embeds the host
//! with the mock driver linked in and plays TAPI's part, or, with `--bus`, asks
//! tspd on D-Bus the same questions and prints the same answers.

mod completions;
mod local;
mod phones;
mod remote;
mod tapi;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tsp_core::{LineError, PhoneError, PhoneMessage, PhoneStates, TspiVersion};
use tsp_host::{PhoneHandle, Provider};

use local::Local;
use phones::{Failure, Phones};
use remote::{Bus, Remote};
use tapi::Callback;
use tsp_driver_usbhid::inspect;

const USAGE: &str = "\
usage: tspctl [--bus session|system] [--json] <command>

commands:
  demo                      a guided tour on the mock driver's phones: find them, open
                            one, write and read data, receive an event, close
  list                      the phones and their permanent ids
  caps DEV                  the capabilities of phone DEV
  set-data DEV AREA TEXT    download TEXT (and a NUL) to data area AREA of phone DEV,
                            then read it back
  set-data DEV AREA --file FILE
                            download the bytes of FILE (progress shown while it runs)
  get-data DEV AREA [SIZE]  upload SIZE bytes (default 16) from data area AREA
  watch DEV [--count N] [--seconds S]
                            print phone DEV's events as they happen (PHONE_BUTTON,
                            PHONE_STATE …) until N events or S seconds, or Ctrl-C
  usbhid inspect FILE       the telephony controls a USB HID report descriptor
                            declares (a sysfs report_descriptor file, or hex text)
  explain CODE              what a TSPI return value means (hex like 0x9000000C, or
                            the signed LONG like -1879048180)
  completions SHELL         a completion script for bash, zsh or fish
  help                      this text

options (before or after the command):
  --bus session|system      talk to tspd on that bus instead of running the host here
  --json                    print JSON for scripts (list, caps, get-data, watch,
                            usbhid inspect)
  --log-level LEVEL         the log on stderr: error, warn (default), info, debug or
                            trace, or a filter such as warn,tsp_host=debug (else
                            TSP_RS_LOG or RUST_LOG)

Without --bus, phones come from TSP_RS_CONFIG if it is set (drivers are then loaded
as plugins from beside tspctl), else from the mock driver's two default phones.";

pub(crate) const VERSION: TspiVersion = TspiVersion::V3_1;

/// The options that apply to every command, taken out of the arguments.
#[derive(Debug, Default)]
struct Globals {
    bus: Option<Bus>,
    json: bool,
    log_level: Option<String>,
}

fn globals(args: &[String]) -> Result<(Globals, Vec<String>), String> {
    let mut globals = Globals::default();
    let mut rest = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bus" => {
                globals.bus = Some(match args.next().map(String::as_str) {
                    Some("session") => Bus::Session,
                    Some("system") => Bus::System,
                    Some(other) => return Err(format!("--bus {other}: use session or system")),
                    None => return Err("--bus needs session or system".into()),
                })
            }
            "--json" => globals.json = true,
            "--log-level" => {
                let level = args.next().ok_or("--log-level needs a level")?;
                globals.log_level = Some(level.clone());
            }
            _ => rest.push(arg.clone()),
        }
    }
    Ok((globals, rest))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (globals, args) = match globals(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("tspctl: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(message) = tspd::logging::init(globals.log_level.as_deref(), "warn") {
        eprintln!("tspctl: {message}");
        return ExitCode::from(2);
    }
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["usbhid", "inspect", file] => return usbhid_inspect(file, globals.json),
        ["explain", code] => explain(code),
        ["completions", shell] => completions::print(shell),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        ["demo"] if globals.bus.is_some() => Err(
            "demo plays TAPI in this process; run it without --bus (tspctl --bus session list works)"
                .to_owned(),
        ),
        ["demo"] => Local::start()
            .map_err(|e| e.to_string())
            .and_then(|local| demo(local.provider())),
        [] => Err(USAGE.to_owned()),
        command => with_phones(&globals, |phones| run(phones, command, globals.json)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tspctl: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs `f` on the phones: tspd's with --bus, else a host in this process.
fn with_phones(
    globals: &Globals,
    f: impl FnOnce(&dyn Phones) -> Result<(), String>,
) -> Result<(), String> {
    match globals.bus {
        Some(bus) => f(&Remote::connect(bus).map_err(|e| e.to_string())?),
        None => f(&Local::start().map_err(|e| e.to_string())?),
    }
}

fn number(text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

fn run(phones: &dyn Phones, command: &[&str], json: bool) -> Result<(), String> {
    let failed = |e: Failure| e.to_string();
    match command {
        ["list"] => {
            phones::print_list(&phones.list().map_err(failed)?, json);
            Ok(())
        }
        ["caps", dev] => {
            phones::print_caps(&phones.caps(number(dev)?).map_err(failed)?, json);
            Ok(())
        }
        ["set-data", dev, area, "--file", file] => {
            let data = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
            set_data(phones, number(dev)?, number(area)?, &data, json)
        }
        ["set-data", dev, area, text] => {
            let mut data = text.as_bytes().to_vec();
            data.push(0);
            set_data(phones, number(dev)?, number(area)?, &data, json)
        }
        ["get-data", dev, area, rest @ ..] if rest.len() <= 1 => {
            let size = rest.first().map_or(Ok(16), |s| number(s))?;
            let data = phones
                .get_data(number(dev)?, number(area)?, size)
                .map_err(failed)?;
            if json {
                println!("{{\"data\": \"{}\"}}", phones::hex(&data).replace(' ', ""));
            } else {
                println!("{}", phones::hex(&data));
            }
            Ok(())
        }
        ["watch", dev, options @ ..] => watch(phones, number(dev)?, options, json),
        _ => Err(format!(
            "unknown command or wrong arguments: `{}`\n\n{USAGE}",
            command.join(" ")
        )),
    }
}

/// Downloads, shows progress while it takes long, and reads the data back.
fn set_data(
    phones: &dyn Phones,
    dev: u32,
    area: u32,
    data: &[u8],
    json: bool,
) -> Result<(), String> {
    let what = format!("{} bytes to data area {area} of phone {dev}", data.len());
    with_progress(&what, || phones.set_data(dev, area, data)).map_err(|e| e.to_string())?;
    let back = phones
        .get_data(dev, area, data.len() as u32)
        .map_err(|e| e.to_string())?;
    let text_back = String::from_utf8_lossy(back.strip_suffix(&[0]).unwrap_or(&back)).into_owned();
    if json {
        println!(
            "{{\"written\": {}, \"read_back\": {}}}",
            data.len(),
            phones::json_string(&text_back)
        );
    } else {
        println!("set-data: {what}: done");
        println!("  read back: {text_back:?}");
    }
    Ok(())
}

/// Runs `work`; on a terminal, after half a second, shows that it is still
/// running and for how long (TSPI reports no progress of its own).
fn with_progress<T>(what: &str, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let done = Arc::new(AtomicBool::new(false));
    let spinner = {
        let (done, what) = (Arc::clone(&done), what.to_owned());
        std::thread::spawn(move || {
            let started = Instant::now();
            let frames = ['|', '/', '-', '\\'];
            let mut shown = false;
            for frame in frames.iter().cycle() {
                if done.load(Ordering::Acquire) {
                    break;
                }
                if started.elapsed() > Duration::from_millis(500) {
                    eprint!(
                        "\r{frame} sending {what} … {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                    shown = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if shown {
                eprint!("\r\x1b[2K");
            }
        })
    };
    let result = work();
    done.store(true, Ordering::Release);
    let _ = spinner.join();
    result
}

fn watch(phones: &dyn Phones, dev: u32, options: &[&str], json: bool) -> Result<(), String> {
    let (mut count, mut until) = (None, None);
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let value = options.next().ok_or(format!("{option} needs a number"));
        match *option {
            "--count" => count = Some(number(value?)?),
            "--seconds" => {
                until = Some(Instant::now() + Duration::from_secs(u64::from(number(value?)?)))
            }
            other => return Err(format!("watch: unknown option `{other}`")),
        }
    }
    let mut seen = 0;
    phones
        .watch(dev, until, &mut |event| {
            if event == phones::Event::Watching {
                eprintln!("watching phone {dev}; Ctrl-C stops");
                return true;
            }
            if json {
                println!("{}", phones::event_json(&event));
            } else {
                println!("{event}");
            }
            seen += 1;
            count.is_none_or(|count| seen < count)
        })
        .map_err(|e| e.to_string())
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

fn open(provider: &Provider, dev: u32) -> Result<PhoneHandle, String> {
    provider
        .open(dev, 1, VERSION.raw(), tapi::event_proc())
        .map_err(|e| e.to_string())
}

/// Waits for the completion of `request_id`, printing the events that come first.
fn wait_completion(request_id: u32) -> Result<(), String> {
    local::wait_completion(request_id, &mut show).map_err(|e| e.to_string())
}

fn demo(provider: &Provider) -> Result<(), String> {
    println!("tsp-rs demo: the host with the mock driver, TAPI played by tspctl\n");
    println!("1. TSPI_providerEnumDevices found these phones:");
    let listed: Vec<phones::Listed> = (0u32..)
        .zip(provider.devices())
        .map(|(device_id, d)| phones::Listed {
            device_id,
            name: d.caps.name,
            permanent_id: d.caps.permanent_id,
            driver: d.driver,
        })
        .collect();
    phones::print_list(&listed, false);

    println!(
        "\n2. TSPI_phoneGetDevCaps(0) — asked twice, as TAPI does (fixed part, then dwNeededSize):"
    );
    let (caps, needed, used) = local::read_caps(provider, 0).map_err(|e| e.to_string())?;
    println!(
        "PHONECAPS {VERSION}: {} bytes gave dwNeededSize {needed}; {needed} bytes gave dwUsedSize {used}",
        tsp_core::PhoneCaps::fixed_size(VERSION)
    );
    phones::print_caps(&caps, false);

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
