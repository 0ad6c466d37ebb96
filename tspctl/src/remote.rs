//! tspd on D-Bus: the same questions as [`crate::local`], asked of the daemon.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tsp_core::{
    ButtonFunction, ButtonLamp, ButtonModes, DisplayGeometry, LampModes, PhoneCaps, PhoneError,
    PhoneFeatures, PhoneStates, StringFormat,
};
use tspd::{BUS_NAME, MANAGER_INTERFACE, PHONE_INTERFACE, ROOT_PATH, phone_error_of, phone_path};
use zbus::blocking::{Connection, MessageIterator, Proxy};
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

use crate::phones::{Event, Failure, Listed, Phones};

/// Which bus tspd is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Bus {
    Session,
    System,
}

impl Bus {
    fn name(self) -> &'static str {
        match self {
            Bus::Session => "session",
            Bus::System => "system",
        }
    }
}

/// A connection to tspd.
pub(crate) struct Remote {
    connection: Connection,
    bus: Bus,
}

impl Remote {
    /// Connects to `bus`; tspd itself is reached at the first call.
    pub(crate) fn connect(bus: Bus) -> Result<Self, Failure> {
        let connection = match bus {
            Bus::Session => Connection::session(),
            Bus::System => Connection::system(),
        }
        .map_err(|e| Failure::Unreachable(format!("cannot reach the {} bus: {e}", bus.name())))?;
        Ok(Self { connection, bus })
    }

    fn failure(&self, error: zbus::Error) -> Failure {
        let zbus::Error::MethodError(name, message, _) = &error else {
            return Failure::Other(format!("D-Bus: {error}"));
        };
        if let Some(phone) = phone_error_of(name.as_str()) {
            return Failure::Phone(phone);
        }
        let message = message.clone().unwrap_or_default();
        match name.as_str() {
            "org.freedesktop.DBus.Error.ServiceUnknown"
            | "org.freedesktop.DBus.Error.NameHasNoOwner" => Failure::Unreachable(format!(
                "tspd is not running on the {} bus: start it with `tspd --bus {}`",
                self.bus.name(),
                self.bus.name()
            )),
            "org.freedesktop.DBus.Error.UnknownObject" => Failure::Phone(PhoneError::BadDeviceId),
            "org.freedesktop.DBus.Error.AccessDenied" => Failure::Other(format!(
                "access denied: {message} (the D-Bus policy, or another client has the phone open)"
            )),
            other => Failure::Other(format!("{other}: {message}")),
        }
    }

    fn proxy(&self, path: String, interface: &'static str) -> Result<Proxy<'static>, Failure> {
        Proxy::new(&self.connection, BUS_NAME, path, interface).map_err(|e| self.failure(e))
    }

    fn phone(&self, dev: u32) -> Result<Proxy<'static>, Failure> {
        self.proxy(phone_path(dev), PHONE_INTERFACE)
    }
}

type Dict = HashMap<String, OwnedValue>;

fn field<T: TryFrom<OwnedValue>>(dict: &Dict, key: &str) -> Option<T> {
    dict.get(key)
        .and_then(|v| v.try_clone().ok())
        .and_then(|v| T::try_from(v).ok())
}

/// The Caps dictionary back into PHONECAPS' typed form.
fn caps_of(dict: &Dict) -> PhoneCaps {
    let buttons: Vec<(u32, u32, u32)> = field(dict, "Buttons").unwrap_or_default();
    let display: (u32, u32) = field(dict, "Display").unwrap_or_default();
    PhoneCaps {
        name: field(dict, "Name").unwrap_or_default(),
        provider_info: field(dict, "ProviderInfo").unwrap_or_default(),
        phone_info: field(dict, "PhoneInfo").unwrap_or_default(),
        permanent_id: field(dict, "PermanentId").unwrap_or_default(),
        string_format: Some(StringFormat::Unicode),
        features: PhoneFeatures::from_bits_retain(field(dict, "Features").unwrap_or_default()),
        phone_states: PhoneStates::from_bits_retain(field(dict, "PhoneStates").unwrap_or_default()),
        display: (display.0 > 0).then_some(DisplayGeometry {
            rows: display.0,
            columns: display.1,
        }),
        ring_modes: field(dict, "RingModes").unwrap_or_default(),
        buttons: buttons
            .into_iter()
            .map(|(mode, function, lamp)| ButtonLamp {
                mode: ButtonModes::from_bits_retain(mode),
                function: ButtonFunction::from_code(function).unwrap_or(ButtonFunction::Unknown),
                lamp_modes: LampModes::from_bits_retain(lamp),
            })
            .collect(),
        set_data: field(dict, "SetData").unwrap_or_default(),
        get_data: field(dict, "GetData").unwrap_or_default(),
        ..PhoneCaps::default()
    }
}

fn event_of(message: &zbus::Message) -> Option<Event> {
    let header = message.header();
    let body = message.body();
    Some(match header.member()?.as_str() {
        "Button" => {
            let (id, mode, state) = body.deserialize().ok()?;
            Event::Button { id, mode, state }
        }
        "State" => {
            let (state, detail) = body.deserialize().ok()?;
            Event::State { state, detail }
        }
        "Closed" => Event::Closed,
        "DeviceEvent" => {
            let (a, b, c) = body.deserialize().ok()?;
            Event::DevSpecific { params: [a, b, c] }
        }
        _ => return None,
    })
}

impl Phones for Remote {
    fn list(&self) -> Result<Vec<Listed>, Failure> {
        let manager = self.proxy(ROOT_PATH.to_owned(), MANAGER_INTERFACE)?;
        let phones: Vec<(OwnedObjectPath, u32, String)> = manager
            .call("ListPhones", &())
            .map_err(|e| self.failure(e))?;
        phones
            .into_iter()
            .map(|(_, device_id, name)| {
                let phone = self.phone(device_id)?;
                Ok(Listed {
                    device_id,
                    name,
                    permanent_id: phone
                        .get_property("PermanentId")
                        .map_err(|e| self.failure(e))?,
                    driver: phone.get_property("Driver").map_err(|e| self.failure(e))?,
                })
            })
            .collect()
    }

    fn caps(&self, dev: u32) -> Result<PhoneCaps, Failure> {
        let dict: Dict = self
            .phone(dev)?
            .call("Caps", &())
            .map_err(|e| self.failure(e))?;
        Ok(caps_of(&dict))
    }

    fn set_data(&self, dev: u32, area: u32, data: &[u8]) -> Result<(), Failure> {
        self.phone(dev)?
            .call_method("SetData", &(area, data.to_vec()))
            .map(|_| ())
            .map_err(|e| self.failure(e))
    }

    fn get_data(&self, dev: u32, area: u32, size: u32) -> Result<Vec<u8>, Failure> {
        self.phone(dev)?
            .call("GetData", &(area, size))
            .map_err(|e| self.failure(e))
    }

    /// Opens the phone so its events flow; a phone another client holds is
    /// watched as it is (its events are broadcast).
    fn watch(
        &self,
        dev: u32,
        until: Option<Instant>,
        seen: &mut dyn FnMut(Event) -> bool,
    ) -> Result<(), Failure> {
        let phone = self.phone(dev)?;
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(PHONE_INTERFACE)
            .and_then(|r| r.path(phone_path(dev)))
            .map_err(|e| self.failure(e))?
            .build();
        let signals = MessageIterator::for_match_rule(rule, &self.connection, Some(64))
            .map_err(|e| self.failure(e))?;
        match phone.call_method("Open", &()) {
            Ok(_) => {}
            Err(e) if self.failure(e.clone()) == Failure::Phone(PhoneError::Allocated) => {
                eprintln!(
                    "phone {dev} is open by another client: tspd sends its keys and states to \
                     that client only; its presence (connected or not) still shows here"
                );
            }
            Err(e) => return Err(self.failure(e)),
        }
        if !seen(Event::Watching) {
            return Ok(());
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for message in signals.flatten() {
                if let Some(event) = event_of(&message)
                    && sender.send(event).is_err()
                {
                    return;
                }
            }
        });
        loop {
            let wait = until.map_or(Duration::from_secs(3600), |u| {
                u.saturating_duration_since(Instant::now())
            });
            match receiver.recv_timeout(wait) {
                Ok(event) if !seen(event) => return Ok(()),
                Ok(_) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if until.is_some() => {
                    return Ok(());
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Failure::Unreachable("the bus connection ended".into()));
                }
            }
        }
    }
}
