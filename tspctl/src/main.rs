//! `tspctl`: the command-line tool of tsp-rs (its TAPI Browser). It embeds the host
//! with the mock driver linked in and plays TAPI's part, or, with `--bus`, asks
//! tspd on D-Bus the same questions and prints the same answers.

mod cli;
mod completions;
mod demo;
mod exit;
mod json;
mod local;
mod phones;
mod remote;
mod tapi;

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tsp_core::{LineError, PhoneError, TspiVersion};
use tsp_driver_usbhid::inspect;

use cli::{Cli, Command, Payload, PhoneCommand, Usbhid};
use exit::{Exit, Stop};
use local::Local;
use phones::Phones;
use remote::{Bus, Remote};

pub(crate) const VERSION: TspiVersion = TspiVersion::V3_1;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return exit::parse_error(&error),
    };
    if let Err(message) = tspd::logging::init(cli.log_level.as_deref(), "warn") {
        return Stop::usage(message).report();
    }
    match run(&cli) {
        Ok(()) => Exit::Success.into(),
        Err(stop) => stop.report(),
    }
}

fn run(cli: &Cli) -> Result<(), Stop> {
    match &cli.command {
        Command::Demo if cli.bus.is_some() => Err(Stop::usage(
            "demo plays TAPI in this process; run it without --bus (tspctl --bus session list works)",
        )),
        Command::Demo => demo::run(&Local::start()?).map_err(Stop::failed),
        Command::Phone(command) => {
            with_phones(cli.bus, |phones| on_phones(phones, command, cli.json))
        }
        Command::Usbhid {
            command: Usbhid::Inspect { file },
        } => usbhid_inspect(file, cli.json),
        Command::Explain { code } => {
            explain(*code);
            Ok(())
        }
        Command::Completions { shell } => completions::print(*shell),
    }
}

/// Runs `f` on the phones: tspd's with --bus, else a host in this process.
fn with_phones(
    bus: Option<Bus>,
    f: impl FnOnce(&dyn Phones) -> Result<(), Stop>,
) -> Result<(), Stop> {
    match bus {
        Some(bus) => f(&Remote::connect(bus)?),
        None => f(&Local::start()?),
    }
}

fn on_phones(phones: &dyn Phones, command: &PhoneCommand, json: bool) -> Result<(), Stop> {
    match *command {
        PhoneCommand::List => {
            phones::print_list(&phones.list()?, json);
            Ok(())
        }
        PhoneCommand::Caps { dev } => {
            phones::print_caps(&phones.caps(dev)?, json);
            Ok(())
        }
        PhoneCommand::SetData {
            dev,
            area,
            ref payload,
        } => set_data(phones, dev, area, &payload_bytes(payload)?, json),
        PhoneCommand::GetData { dev, area, size } => get_data(phones, dev, area, size, json),
        PhoneCommand::Watch {
            dev,
            count,
            seconds,
        } => watch(phones, dev, count, seconds, json),
    }
}

/// Uploads and prints the bytes in hex.
fn get_data(phones: &dyn Phones, dev: u32, area: u32, size: u32, json: bool) -> Result<(), Stop> {
    let data = phones.get_data(dev, area, size)?;
    if json {
        json::print(&json::Data {
            data: phones::hex(&data).replace(' ', ""),
        });
    } else {
        println!("{}", phones::hex(&data));
    }
    Ok(())
}

/// What set-data downloads: the text and a NUL (TAPI's strings end in one), or
/// the file's bytes as they are.
fn payload_bytes(payload: &Payload) -> Result<Vec<u8>, Stop> {
    match (&payload.text, &payload.file) {
        (_, Some(file)) => std::fs::read(file)
            .map_err(|e| Stop::failed(format!("cannot read {}: {e}", file.display()))),
        (Some(text), None) => Ok([text.as_bytes(), &[0]].concat()),
        // clap's group makes one of them required; said again rather than assumed.
        (None, None) => Err(Stop::usage("set-data needs TEXT or --file FILE")),
    }
}

/// Downloads, shows progress while it takes long, and reads the data back.
fn set_data(phones: &dyn Phones, dev: u32, area: u32, data: &[u8], json: bool) -> Result<(), Stop> {
    let what = format!("{} bytes to data area {area} of phone {dev}", data.len());
    with_progress(&what, || phones.set_data(dev, area, data))?;
    let back = phones.get_data(dev, area, data.len() as u32)?;
    let text_back = String::from_utf8_lossy(back.strip_suffix(&[0]).unwrap_or(&back)).into_owned();
    if json {
        json::print(&json::Written {
            written: data.len(),
            read_back: &text_back,
        });
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

/// Prints phone `dev`'s events until `count` of them, `seconds` or Ctrl-C.
fn watch(
    phones: &dyn Phones,
    dev: u32,
    count: Option<u32>,
    seconds: Option<u64>,
    json: bool,
) -> Result<(), Stop> {
    // A deadline past what Instant can hold is no deadline.
    let until = seconds.and_then(|s| Instant::now().checked_add(Duration::from_secs(s)));
    let mut seen = 0;
    phones.watch(dev, until, &mut |event| {
        if event == phones::Event::Watching {
            eprintln!("watching phone {dev}; Ctrl-C stops");
            return true;
        }
        if json {
            json::print(&event);
        } else {
            println!("{event}");
        }
        seen += 1;
        count.is_none_or(|count| seen < count)
    })?;
    Ok(())
}

/// Exit status 1 on an unreadable or malformed descriptor: scripts run this
/// over files from the field and tell "not telephony" (0) from "broken" (1).
fn usbhid_inspect(path: &Path, json: bool) -> Result<(), Stop> {
    let shown = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| Stop::failed(format!("cannot read {shown}: {e}")))?;
    let found = inspect::decode_file(&bytes)
        .and_then(|bytes| inspect::inspect(&bytes))
        .map_err(|e| Stop::failed(format!("{shown}: {e}")))?;
    if json {
        json::print(&json::Inspected::from(&found));
    } else {
        print!("{}", found.to_text());
    }
    Ok(())
}

/// Says what a TSPI return value means.
fn explain(value: i32) {
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
}
