//! `Host`: the host for a Rust application that embeds it (tspd, tspctl, a
//! vendor's own tool). A builder takes the drivers, the configuration and two
//! closures; completions and events arrive typed (`Result<(), PhoneError>`, a
//! [`Message`]), and every call returns typed values instead of TAPI's `LONG`s
//! and bit masks. No `unsafe`, no process-wide state: [`Provider`] underneath
//! is the same one the C exports drive.
//!
//! ```no_run
//! use tsp_host::Host;
//! // Drivers from `drivers/` beside the application, as `tsp-rs.toml` lists
//! // them; `.driver(module)` links one in (`examples/embed.rs` does).
//! let host = Host::builder()
//!     .config_file("tsp-rs.toml")
//!     .on_completion(|request, result| println!("request {request}: {result:?}"))
//!     .on_event(|tag, message| println!("phone {tag}: {message}"))
//!     .start()?;
//! let phone = host.open(0, 1)?;
//! host.set_data(host.next_request_id(), phone, 0, b"hello")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use tsp_core::var::{Written, sized_buffer};
use tsp_core::{
    ButtonInfo, ButtonModes, ButtonStates, HookSwitchDevice, HookSwitchDevs, HookSwitchMode,
    LampModes, LineError, Message, PhoneCaps, PhoneError, PhoneStates, PhoneStatus, TspiVersion,
    VarString,
};
use tsp_plugin_sdk::abi::DriverModuleRef;

use crate::PhoneHandle;
use crate::config::{Config, ConfigSource};
use crate::provider::{Device, HostSetup, Provider};
use crate::tapi::{CompletionProc, EventProc};

/// The TSPI version an embedded host's phones are opened with.
pub const VERSION: TspiVersion = TspiVersion::V3_1;

/// How a [`Host`] is made: drivers, configuration, where its events go.
#[must_use]
pub struct HostBuilder {
    statics: Vec<DriverModuleRef>,
    config: Option<ConfigSource>,
    plugins: Option<PathBuf>,
    completion: Option<CompletionProc>,
    events: Option<EventProc>,
}

/// The host embedded in a Rust application, started and initialised; shut down
/// when dropped.
#[derive(Debug)]
pub struct Host {
    provider: Provider,
    events: EventProc,
    next_request: AtomicU32,
    /// The thread shutting the host down, if one is: a shutdown from another
    /// thread waits for it; one from its own callbacks returns at once.
    shutting_down: std::sync::Mutex<Option<std::thread::ThreadId>>,
    shut_down: std::sync::Condvar,
}

impl Host {
    /// A builder with no linked-in drivers, the configuration `TSP_RS_CONFIG`
    /// names (else demo mode), plugins from beside the application, and
    /// callbacks that drop what they are given.
    pub fn builder() -> HostBuilder {
        HostBuilder {
            statics: Vec::new(),
            config: None,
            plugins: None,
            completion: None,
            events: None,
        }
    }
}

impl HostBuilder {
    /// A driver linked into the application (used before a plugin file of the
    /// same name).
    pub fn driver(mut self, module: DriverModuleRef) -> Self {
        self.statics.push(module);
        self
    }

    /// The configuration file to read instead of `TSP_RS_CONFIG`.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = Some(ConfigSource::File(path.into()));
        self
    }

    /// A configuration built in code.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(ConfigSource::Given(config));
        self
    }

    /// The folder holding `drivers/` with the plugins.
    pub fn plugins(mut self, folder: impl Into<PathBuf>) -> Self {
        self.plugins = Some(folder.into());
        self
    }

    /// Where completions go: the request id given to the call, and its result.
    /// One callback at a time, in order, on whichever thread delivers: often
    /// inside the host call that caused it (`set_data` completing inline,
    /// `close`, `shutdown`), else a driver's or the host's own thread. So it
    /// may call back into the host, but the application must not hold a lock
    /// across a host call that its callback takes. A panic in it is logged
    /// and stops there.
    pub fn on_completion(
        mut self,
        f: impl Fn(u32, Result<(), PhoneError>) + Send + Sync + 'static,
    ) -> Self {
        self.completion = Some(CompletionProc::from_fn(f));
        self
    }

    /// Where events go: the tag given to [`Host::open`] (0 for `PHONE_CREATE`
    /// and `PHONE_REMOVE`), and the message. The same rules as completions.
    pub fn on_event(mut self, f: impl Fn(usize, Message) + Send + Sync + 'static) -> Self {
        self.events = Some(EventProc::from_fn(f));
        self
    }

    /// Starts the host as TAPISRV would: negotiation, the drivers the
    /// configuration names, device ids from 0.
    ///
    /// # Errors
    /// `INIFILECORRUPT` for a configuration that cannot be used (the log says
    /// where and why), else what `TSPI_providerInit` answers.
    pub fn start(self) -> Result<Host, LineError> {
        let mut setup = HostSetup::for_application(self.statics, None, self.plugins);
        if let Some(config) = self.config {
            setup.config = config;
        }
        let provider = Provider::new(setup);
        let completion = self
            .completion
            .unwrap_or_else(|| CompletionProc::from_fn(|_, _| {}));
        let events = self.events.unwrap_or_else(|| EventProc::from_fn(|_, _| {}));
        provider.start_as_tapi(0, Some(events.clone()), completion)?;
        Ok(Host {
            provider,
            events,
            next_request: AtomicU32::new(1),
            shutting_down: std::sync::Mutex::new(None),
            shut_down: std::sync::Condvar::new(),
        })
    }
}

/// A variable-size structure written into a buffer sized to hold it all:
/// once with the fixed part to learn `dwNeededSize`, then at that size, as
/// TAPI asks.
fn write_sized(
    fixed: usize,
    write: impl Fn(&mut [u8]) -> Result<Written, PhoneError>,
) -> Result<Vec<u8>, PhoneError> {
    let mut buf = sized_buffer(fixed as u32);
    let first = write(&mut buf)?;
    let mut buf = sized_buffer(first.needed.max(fixed as u32));
    write(&mut buf)?;
    Ok(buf)
}

/// A variable-size structure the provider writes, read back typed.
fn read_sized<T>(
    fixed: usize,
    write: impl Fn(&mut [u8]) -> Result<Written, PhoneError>,
    read: impl Fn(&[u8]) -> Option<T>,
) -> Result<T, PhoneError> {
    read(&write_sized(fixed, write)?).ok_or(PhoneError::OperationFailed)
}

/// What an asynchronous call's `LONG` says: accepted under its request id, or
/// refused (no completion follows).
fn accepted(returned: i32) -> Result<u32, PhoneError> {
    u32::try_from(returned)
        .map_err(|_| PhoneError::from_long(returned).unwrap_or(PhoneError::OperationFailed))
}

impl Host {
    /// The provider underneath, for the TSPI calls this type does not wrap.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The next request id, counting from 1 to 0x7FFFFFFF and then around
    /// again: after 2³¹ requests an id comes back, so an application that may
    /// keep requests outstanding that long checks the id is free itself.
    pub fn next_request_id(&self) -> u32 {
        loop {
            let id = self.next_request.fetch_add(1, Ordering::Relaxed) & 0x7FFF_FFFF;
            if id != 0 {
                return id;
            }
        }
    }

    /// The phone devices, in device order (device id = index).
    pub fn devices(&self) -> Vec<Device> {
        self.provider.devices()
    }

    /// The capabilities of device `device_id`, as `TSPI_phoneGetDevCaps` gives them now.
    ///
    /// # Errors
    /// `BADDEVICEID`, or what the driver answers.
    pub fn caps(&self, device_id: u32) -> Result<PhoneCaps, PhoneError> {
        read_sized(
            PhoneCaps::fixed_size(VERSION),
            |buf| self.provider.get_dev_caps(device_id, VERSION.raw(), buf),
            |buf| PhoneCaps::read(buf, VERSION),
        )
    }

    /// Opens device `device_id`; its events carry `tag`.
    ///
    /// # Errors
    /// `ALLOCATED` when another holds it, `BADDEVICEID`, `NODEVICE` …
    pub fn open(&self, device_id: u32, tag: usize) -> Result<PhoneHandle, PhoneError> {
        self.provider
            .open(device_id, tag, VERSION.raw(), self.events.clone())
    }

    /// Closes a phone: its outstanding requests complete first.
    ///
    /// # Errors
    /// `INVALPHONEHANDLE` for a phone not open.
    pub fn close(&self, phone: PhoneHandle) -> Result<(), PhoneError> {
        self.provider.close(phone)
    }

    /// `TSPI_phoneSetData`: accepted under `request` (its completion follows),
    /// or refused.
    ///
    /// # Errors
    /// What the provider refuses the request with (no completion follows).
    pub fn set_data(
        &self,
        request: u32,
        phone: PhoneHandle,
        area: u32,
        data: &[u8],
    ) -> Result<u32, PhoneError> {
        accepted(self.provider.set_data(request, phone, area, data))
    }

    /// `TSPI_phoneGetData`: `size` bytes of data area `area`, or the whole
    /// area when it is smaller (nothing is allocated past it).
    ///
    /// # Errors
    /// `INVALDATAID`, or what the driver answers.
    pub fn get_data(
        &self,
        phone: PhoneHandle,
        area: u32,
        size: u32,
    ) -> Result<Vec<u8>, PhoneError> {
        let caps = self.provider.phone(phone)?.caps();
        let area_size = caps
            .get_data
            .get(area as usize)
            .ok_or(PhoneError::InvalDataId)?;
        let mut data = vec![0; size.min(*area_size) as usize];
        self.provider.get_data(phone, area, &mut data)?;
        Ok(data)
    }

    /// `TSPI_phoneDevSpecific`.
    ///
    /// # Errors
    /// What the provider refuses the request with.
    pub fn dev_specific(
        &self,
        request: u32,
        phone: PhoneHandle,
        params: &[u8],
    ) -> Result<u32, PhoneError> {
        accepted(self.provider.dev_specific(request, phone, params))
    }

    /// `TSPI_phoneSetLamp`.
    ///
    /// # Errors
    /// `INVALLAMPMODE` for a mode the lamp does not have, `INVALBUTTONLAMPID` …
    pub fn set_lamp(
        &self,
        request: u32,
        phone: PhoneHandle,
        id: u32,
        mode: LampModes,
    ) -> Result<u32, PhoneError> {
        accepted(self.provider.set_lamp(request, phone, id, mode.bits()))
    }

    /// `TSPI_phoneGetLamp`.
    ///
    /// # Errors
    /// `INVALBUTTONLAMPID`, or what the driver answers.
    pub fn get_lamp(&self, phone: PhoneHandle, id: u32) -> Result<LampModes, PhoneError> {
        let bits = self.provider.get_lamp(phone, id)?;
        Ok(LampModes::from_bits_retain(bits))
    }

    /// `TSPI_phoneSetRing`: ring mode (0 = silence) and volume (0–0xFFFF).
    ///
    /// # Errors
    /// `INVALRINGMODE` …
    pub fn set_ring(
        &self,
        request: u32,
        phone: PhoneHandle,
        mode: u32,
        volume: u32,
    ) -> Result<u32, PhoneError> {
        accepted(self.provider.set_ring(request, phone, mode, volume))
    }

    /// `TSPI_phoneGetRing`: the ring mode and volume.
    ///
    /// # Errors
    /// What the driver answers.
    pub fn get_ring(&self, phone: PhoneHandle) -> Result<(u32, u32), PhoneError> {
        self.provider.get_ring(phone)
    }

    /// `TSPI_phoneGetHookSwitch`: the devices whose microphone or speaker is on.
    ///
    /// # Errors
    /// `OPERATIONUNAVAIL` for a phone with no hookswitch …
    pub fn get_hookswitch(&self, phone: PhoneHandle) -> Result<HookSwitchDevs, PhoneError> {
        let bits = self.provider.get_hookswitch(phone)?;
        Ok(HookSwitchDevs::from_bits_retain(bits))
    }

    /// `TSPI_phoneGetStatus`.
    ///
    /// # Errors
    /// What the driver answers.
    pub fn status(&self, phone: PhoneHandle) -> Result<PhoneStatus, PhoneError> {
        read_sized(
            PhoneStatus::fixed_size(VERSION),
            |buf| self.provider.get_status(phone, buf),
            |buf| PhoneStatus::read(buf, VERSION),
        )
    }
    /// `TSPI_phoneSetDisplay`: `text` from `row`, `column` (what does not fit
    /// is cut at the edge).
    ///
    /// # Errors
    /// `OPERATIONUNAVAIL` for a phone with no display, `INVALPARAM` for a
    /// place off it.
    pub fn set_display(
        &self,
        request: u32,
        phone: PhoneHandle,
        row: u32,
        column: u32,
        text: &str,
    ) -> Result<u32, PhoneError> {
        // TSPI takes the text as the LPCWSTR TAPI passes: UTF-16LE with its NUL.
        let wide: Vec<u8> = text
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        accepted(
            self.provider
                .set_display(request, phone, row, column, &wide),
        )
    }

    /// `TSPI_phoneGetDisplay`: the display's text.
    ///
    /// # Errors
    /// `OPERATIONUNAVAIL` for a phone with no display, or what the driver answers.
    pub fn get_display(&self, phone: PhoneHandle) -> Result<String, PhoneError> {
        let display = read_sized(
            VarString::FIXED_SIZE,
            |buf| self.provider.get_display(phone, buf),
            VarString::read,
        )?;
        display.as_text().ok_or(PhoneError::OperationFailed)
    }

    /// `TSPI_phoneSetHookSwitch`: `devices` to `mode`.
    ///
    /// # Errors
    /// `INVALHOOKSWITCHDEV`, `INVALHOOKSWITCHMODE` for what the phone lacks.
    pub fn set_hookswitch(
        &self,
        request: u32,
        phone: PhoneHandle,
        devices: HookSwitchDevs,
        mode: HookSwitchMode,
    ) -> Result<u32, PhoneError> {
        let (devices, mode) = (devices.bits(), mode.code());
        accepted(self.provider.set_hookswitch(request, phone, devices, mode))
    }

    /// `TSPI_phoneSetVolume`: 0 to 0xFFFF (more is taken as 0xFFFF).
    ///
    /// # Errors
    /// `INVALHOOKSWITCHDEV`, `OPERATIONUNAVAIL` for a device without volume.
    pub fn set_volume(
        &self,
        request: u32,
        phone: PhoneHandle,
        device: HookSwitchDevice,
        volume: u32,
    ) -> Result<u32, PhoneError> {
        accepted(
            self.provider
                .set_volume(request, phone, device.code(), volume),
        )
    }

    /// `TSPI_phoneGetVolume`.
    ///
    /// # Errors
    /// `INVALHOOKSWITCHDEV`, or what the driver answers.
    pub fn get_volume(
        &self,
        phone: PhoneHandle,
        device: HookSwitchDevice,
    ) -> Result<u32, PhoneError> {
        self.provider.get_volume(phone, device.code())
    }

    /// `TSPI_phoneSetGain`: 0 to 0xFFFF (more is taken as 0xFFFF).
    ///
    /// # Errors
    /// `INVALHOOKSWITCHDEV`, `OPERATIONUNAVAIL` for a device without gain.
    pub fn set_gain(
        &self,
        request: u32,
        phone: PhoneHandle,
        device: HookSwitchDevice,
        gain: u32,
    ) -> Result<u32, PhoneError> {
        accepted(self.provider.set_gain(request, phone, device.code(), gain))
    }

    /// `TSPI_phoneGetGain`.
    ///
    /// # Errors
    /// `INVALHOOKSWITCHDEV`, or what the driver answers.
    pub fn get_gain(
        &self,
        phone: PhoneHandle,
        device: HookSwitchDevice,
    ) -> Result<u32, PhoneError> {
        self.provider.get_gain(phone, device.code())
    }

    /// `TSPI_phoneGetButtonInfo`.
    ///
    /// # Errors
    /// `INVALBUTTONLAMPID`, or what the driver answers.
    pub fn get_button_info(&self, phone: PhoneHandle, id: u32) -> Result<ButtonInfo, PhoneError> {
        read_sized(
            ButtonInfo::fixed_size(VERSION),
            |buf| self.provider.get_button_info(phone, id, buf),
            ButtonInfo::read,
        )
    }

    /// `TSPI_phoneSetButtonInfo`.
    ///
    /// # Errors
    /// `INVALBUTTONLAMPID`, or what the provider refuses the request with.
    pub fn set_button_info(
        &self,
        request: u32,
        phone: PhoneHandle,
        id: u32,
        info: &ButtonInfo,
    ) -> Result<u32, PhoneError> {
        let structure = write_sized(ButtonInfo::fixed_size(VERSION), |buf| {
            info.write(buf, VERSION)
        })?;
        accepted(
            self.provider
                .set_button_info(request, phone, id, &structure),
        )
    }

    /// `TSPI_phoneSetStatusMessages`: which events the phone's tag receives.
    ///
    /// # Errors
    /// `INVALPHONESTATE`, `INVALBUTTONMODE`, `INVALBUTTONSTATE`.
    pub fn set_status_messages(
        &self,
        phone: PhoneHandle,
        states: PhoneStates,
        modes: ButtonModes,
        button_states: ButtonStates,
    ) -> Result<(), PhoneError> {
        self.provider
            .set_status_messages(phone, states.bits(), modes.bits(), button_states.bits())
    }

    /// `TSPI_providerCreatePhoneDevice`: the id for the device a
    /// [`Message::Create`] announced.
    ///
    /// # Errors
    /// `BADDEVICEID` for an id in use or a temporary id not announced.
    pub fn create_phone_device(&self, temp_id: usize, device_id: u32) -> Result<(), PhoneError> {
        self.provider.create_phone_device(temp_id, device_id)
    }
}

impl Host {
    /// Shuts the host down: every phone closed, every request completed,
    /// every driver stopped; nothing reaches the callbacks after it returns.
    /// Calling it again does nothing: one called meanwhile on another thread
    /// returns when the first is done, one called from a callback during the
    /// shutdown returns at once (the shutdown goes on, and may be waiting for
    /// that callback). Dropping the host calls it.
    pub fn shutdown(&self) {
        let me = std::thread::current().id();
        {
            let mut who = self.shutting_down.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                // From a callback (on whichever thread delivers it), the
                // shutdown going on may be waiting for this very callback.
                let from_a_callback = self.provider.shared.lane.delivering_here();
                match *who {
                    None => break,
                    Some(thread) if thread == me || from_a_callback => return,
                    Some(_) => {
                        who = self.shut_down.wait(who).unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
            *who = Some(me);
        }
        let _ = self.provider.shutdown();
        *self.shutting_down.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.shut_down.notify_all();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("statics", &self.statics.len())
            .field("config", &self.config)
            .field("plugins", &self.plugins)
            .finish_non_exhaustive()
    }
}
