//! `tspd`: the tsp-rs host as a Linux service. It loads the drivers its
//! configuration names (the mock's default phones without one) and offers each
//! phone on D-Bus as `org.tsprs.Telephony1` (see the library's docs for the
//! interface). SIGTERM or SIGINT: outstanding requests are completed, phones
//! closed, the name released, exit status 0.

mod bus;
mod callbacks;
mod pool;
mod service;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tsp_core::{Message, PhoneStates};
use tspd::{BUS_NAME, PHONE_INTERFACE, ROOT_PATH, phone_path};
use zbus::blocking::Connection;
use zbus::zvariant::OwnedObjectPath;

use bus::{Manager, PhoneObject};
use callbacks::{Event, Events};
use service::Service;

const USAGE: &str = "\
usage: tspd [--bus system|session] [--config FILE] [--plugins DIR] [--log-level LEVEL]

Offers the phones of the tsp-rs host on D-Bus as org.tsprs.Telephony1.

  --bus system|session   the bus to serve on (default: system)
  --config FILE          the tsp-rs.toml to use (default: TSP_RS_CONFIG, else the
                         mock driver's two default phones)
  --plugins DIR          where the driver plugins are: DIR/drivers/NAME.toml and
                         the library beside it (default: beside tspd)
  --log-level LEVEL      error, warn, info (default), debug or trace, or a filter
                         such as warn,tsp_host=debug (else TSP_RS_LOG or RUST_LOG);
                         the log goes to stderr (the journal under systemd)
  --help                 this text

SIGTERM or SIGINT completes outstanding requests, closes the phones, releases
the name and exits with status 0.";

/// How long shutdown waits for the replies of requests it completed.
const REPLY_PATIENCE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bus {
    System,
    Session,
}

#[derive(Debug)]
struct Options {
    bus: Bus,
    config: Option<PathBuf>,
    plugins: Option<PathBuf>,
    log_level: Option<String>,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        bus: Bus::System,
        config: None,
        plugins: None,
        log_level: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bus" => {
                options.bus = match args.next().map(String::as_str) {
                    Some("system") => Bus::System,
                    Some("session") => Bus::Session,
                    Some(other) => return Err(format!("--bus {other}: use system or session")),
                    None => return Err("--bus needs system or session".into()),
                }
            }
            "--config" => {
                options.config = Some(args.next().ok_or("--config needs a file")?.into());
            }
            "--plugins" => {
                options.plugins = Some(args.next().ok_or("--plugins needs a folder")?.into());
            }
            "--log-level" => {
                options.log_level = Some(args.next().ok_or("--log-level needs a level")?.clone());
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match options(&args).and_then(|options| serve(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tspd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: &Options) -> Result<(), String> {
    tspd::logging::init(options.log_level.as_deref(), "info")?;
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
    let service = Arc::new(Service::start(
        options.config.clone(),
        options.plugins.clone(),
    )?);
    let events = service.events();
    let connection =
        connect(options.bus, &service).inspect_err(|_| service.shutdown(Duration::ZERO))?;
    eprintln!(
        "tspd: {} phone(s) on the {} bus as {BUS_NAME}",
        service.phones().len(),
        if options.bus == Bus::System {
            "system"
        } else {
            "session"
        }
    );
    let pump = {
        let (connection, service) = (connection.clone(), Arc::clone(&service));
        std::thread::Builder::new()
            .name("tspd-events".into())
            .spawn(move || pump_events(&connection, &service, events))
            .map_err(|e| e.to_string())?
    };
    watch_clients(&connection, &service)?;
    wait_for_signal(signals);
    eprintln!("tspd: stopping: completing requests, closing phones");
    service.shutdown(REPLY_PATIENCE);
    let _ = pump.join();
    let _ = connection.release_name(BUS_NAME);
    eprintln!("tspd: stopped");
    Ok(())
}

fn wait_for_signal(mut signals: signal_hook::iterator::Signals) {
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "stopping");
    }
}

/// Connects, serves the root and one object per phone, and takes the name.
fn connect(bus: Bus, service: &Arc<Service>) -> Result<Connection, String> {
    let builder = match bus {
        Bus::System => zbus::blocking::connection::Builder::system(),
        Bus::Session => zbus::blocking::connection::Builder::session(),
    };
    let mut builder = builder
        .and_then(|b| b.serve_at(ROOT_PATH, zbus::fdo::ObjectManager))
        .and_then(|b| {
            b.serve_at(
                ROOT_PATH,
                Manager {
                    service: Arc::clone(service),
                },
            )
        })
        .map_err(|e| format!("cannot reach the bus: {e}"))?;
    for (device_id, _) in service.phones() {
        builder = builder
            .serve_at(phone_path(device_id), phone_object(service, device_id))
            .map_err(|e| e.to_string())?;
    }
    builder
        .name(BUS_NAME)
        .and_then(|b| b.build())
        .map_err(|e| match e {
            zbus::Error::NameTaken => {
                format!("{BUS_NAME} is owned by another process (another tspd?)")
            }
            other => format!("cannot serve {BUS_NAME}: {other} (is the D-Bus policy installed?)"),
        })
}

fn phone_object(service: &Arc<Service>, device_id: u32) -> PhoneObject {
    PhoneObject {
        service: Arc::clone(service),
        device_id,
    }
}

/// Closes the phones of clients that leave the bus.
fn watch_clients(connection: &Connection, service: &Arc<Service>) -> Result<(), String> {
    let proxy = zbus::blocking::fdo::DBusProxy::new(connection).map_err(|e| e.to_string())?;
    let changes = proxy
        .receive_name_owner_changed()
        .map_err(|e| e.to_string())?;
    let (service, connection) = (Arc::clone(service), connection.clone());
    std::thread::Builder::new()
        .name("tspd-clients".into())
        .spawn(move || {
            for change in changes {
                let Ok(args) = change.args() else { continue };
                let name = args.name().to_string();
                if name.starts_with(':') && args.new_owner().is_none() {
                    for device_id in service.client_gone(&name) {
                        property_changed(&connection, device_id, Property::Owner);
                    }
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Turns the host's events into signals, and phones that come and go into
/// objects that appear and disappear.
fn pump_events(connection: &Connection, service: &Arc<Service>, events: Events) {
    for Event { tag, message } in events {
        let result = match (tag, message) {
            (0, Message::Create { temp_id, .. }) => created(connection, service, temp_id),
            (0, Message::Remove { device_id }) => removed(connection, service, device_id),
            (0, _) => Ok(()),
            (ht, message) => match service.open_of(ht) {
                Some((device_id, owner)) => {
                    let phone = OpenPhone {
                        device_id,
                        ht,
                        owner,
                    };
                    phone_signal(connection, service, &phone, message)
                }
                // A late event of an open that has ended: nobody may hear it.
                None => Ok(()),
            },
        };
        if let Err(error) = result {
            tracing::warn!(%error, "a signal was not sent");
        }
    }
}

/// The open an event belongs to.
#[derive(Debug)]
struct OpenPhone {
    device_id: u32,
    ht: usize,
    owner: String,
}

/// Sends a phone's event as its signal: presence to everyone, the rest to the
/// client that holds the phone only, so no other local user can read its keys.
fn phone_signal(
    connection: &Connection,
    service: &Service,
    phone: &OpenPhone,
    message: Message,
) -> zbus::Result<()> {
    let path = phone_path(phone.device_id);
    let send = |to: Option<&str>, name: &str, body: Body| match body {
        Body::Three(b) => connection.emit_signal(to, path.as_str(), PHONE_INTERFACE, name, &b),
        Body::Two(b) => connection.emit_signal(to, path.as_str(), PHONE_INTERFACE, name, &b),
        Body::Empty => connection.emit_signal(to, path.as_str(), PHONE_INTERFACE, name, &()),
    };
    let to_owner = |name: &str, body: Body| send(Some(phone.owner.as_str()), name, body);
    match message {
        Message::Button { id, mode, state } => {
            to_owner("Button", Body::Three((id, mode.bits(), state.bits())))
        }
        // The bus carries a driver's parameters as DWORDs, as TAPI's 32-bit
        // PHONEEVENT did.
        Message::DevSpecific { params } => {
            let [p1, p2, p3] = params.map(|p| p as u32);
            to_owner("DeviceEvent", Body::Three((p1, p2, p3)))
        }
        Message::State { state, detail } => {
            let body = Body::Two((state.bits(), detail));
            if state == PhoneStates::CONNECTED || state == PhoneStates::DISCONNECTED {
                let connected = state == PhoneStates::CONNECTED;
                service.set_connected(phone.device_id, connected);
                property_changed(connection, phone.device_id, Property::Connected);
                send(None, "State", body)
            } else {
                to_owner("State", body)
            }
        }
        Message::Close => {
            service.forget_open(phone.device_id, phone.ht);
            to_owner("Closed", Body::Empty)
        }
        _ => Ok(()),
    }
}

/// The bodies of the phone signals.
#[derive(Debug, Clone, Copy)]
enum Body {
    Three((u32, u32, u32)),
    Two((u32, u32)),
    Empty,
}

/// A phone property whose change is announced with PropertiesChanged.
#[derive(Debug, Clone, Copy)]
enum Property {
    Connected,
    Owner,
}

fn property_changed(connection: &Connection, device_id: u32, property: Property) {
    let path = phone_path(device_id);
    let Ok(object) = connection
        .object_server()
        .interface::<_, PhoneObject>(path.as_str())
    else {
        return;
    };
    let emitter = object.signal_emitter();
    let phone = object.get();
    let sent = match property {
        Property::Connected => zbus::block_on(phone.connected_changed(emitter)),
        Property::Owner => zbus::block_on(phone.owner_changed(emitter)),
    };
    if let Err(error) = sent {
        tracing::warn!(%error, ?property, "PropertiesChanged was not sent");
    }
}

fn created(connection: &Connection, service: &Arc<Service>, temp_id: usize) -> zbus::Result<()> {
    let device_id = match service.create(temp_id) {
        Ok(id) => id,
        Err(error) => {
            tracing::warn!(%error, "a phone arrived but could not be added");
            return Ok(());
        }
    };
    let path = phone_path(device_id);
    connection
        .object_server()
        .at(path.as_str(), phone_object(service, device_id))?;
    let path = OwnedObjectPath::try_from(path)?;
    connection.emit_signal(
        None::<&str>,
        ROOT_PATH,
        tspd::MANAGER_INTERFACE,
        "PhoneCreated",
        &(path, device_id),
    )
}

fn removed(connection: &Connection, service: &Arc<Service>, device_id: u32) -> zbus::Result<()> {
    service.forget(device_id);
    let path = phone_path(device_id);
    connection
        .object_server()
        .remove::<PhoneObject, _>(path.as_str())?;
    let path = OwnedObjectPath::try_from(path)?;
    connection.emit_signal(
        None::<&str>,
        ROOT_PATH,
        tspd::MANAGER_INTERFACE,
        "PhoneRemoved",
        &(path, device_id),
    )
}
