//! The provider: lifecycle, device table, phones and requests, in safe Rust. The C
//! exports (`ffi`) check pointers and call this; tools and tests call it directly.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tsp_core::{
    LineError, PhoneCaps, PhoneError, PhoneStates, PhoneStatus, TspiVersion, VersionRange, Written,
};
use tsp_plugin_sdk::abi::DriverModuleRef;
use tsp_plugin_sdk::host::{HostCallbacks, LoadedDriver, Plugin};
use tsp_plugin_sdk::{DriverEvent, PhoneEvent};

use crate::config::{Config, ConfigError, ConfigSource};
use crate::deadline::{Failed, Missed};
use crate::lane::{Delivery, Lane};
use crate::phone::{Filter, Op, Phone, PhoneHandle, PhoneTable};
use crate::requests::{Request, Requests, Stage, Token};
use crate::tapi::{CompletionProc, EventProc};

/// How long close waits for a driver to complete what it cancelled before the host
/// completes the rest itself.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// Where the provider finds its drivers and configuration.
#[derive(Clone)]
pub struct HostSetup {
    /// The folder holding `drivers/` (beside the TSP library).
    pub plugin_folder: Option<PathBuf>,
    /// Drivers linked into the application, used before plugin files of the same name.
    pub statics: Vec<DriverModuleRef>,
    /// The configuration.
    pub config: ConfigSource,
}

impl HostSetup {
    /// The setup of an application that embeds the host (tspctl, tspd): the
    /// configuration `config` names, else `TSP_RS_CONFIG`, else demo mode (the
    /// mock, which the application links in among `statics`); plugins from
    /// `plugins/drivers/`, else from `drivers/` beside the application (a build
    /// folder, or the dist layout).
    pub fn for_application(
        statics: Vec<DriverModuleRef>,
        config: Option<PathBuf>,
        plugins: Option<PathBuf>,
    ) -> Self {
        let config = match config {
            Some(file) => ConfigSource::File(file),
            None => match ConfigSource::locate(None) {
                ConfigSource::Demo => ConfigSource::Given(crate::Config::demo()),
                other => other,
            },
        };
        let beside_the_application = || {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Into::into))
        };
        Self {
            plugin_folder: plugins.or_else(beside_the_application),
            statics,
            config,
        }
    }
}

impl std::fmt::Debug for HostSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSetup")
            .field("plugin_folder", &self.plugin_folder)
            .field("statics", &self.statics.len())
            .field("config", &self.config)
            .finish()
    }
}

/// A phone device: which driver serves it, under which key.
#[derive(Debug, Clone)]
pub struct Device {
    /// The driver's name.
    pub driver: String,
    /// The driver's key for the device.
    pub key: String,
    /// Its capabilities when enumerated.
    pub caps: PhoneCaps,
    /// Its TAPI device id: static phones get theirs at init (base + index),
    /// phones that arrived later at `TSPI_providerCreatePhoneDevice`.
    pub id: Option<u32>,
    /// False once the device was removed for good (its id is never reused).
    pub present: bool,
    pub(crate) driver_index: usize,
    /// The opens of this device in flight: one stuck in the driver makes later
    /// opens fail at once instead of stranding another thread.
    pub(crate) opens: Arc<crate::gate::CallGate>,
}

pub(crate) struct StartedDriver {
    pub(crate) name: String,
    limits: crate::config::Limits,
    pub(crate) loaded: LoadedDriver,
    concurrent: bool,
}

#[derive(Default)]
pub(crate) struct State {
    config: Option<Result<Config, ConfigError>>,
    pub(crate) drivers: Vec<Arc<StartedDriver>>,
    pub(crate) devices: Vec<Device>,
    enumerated: bool,
    phone_base: u32,
    completion: Option<CompletionProc>,
    init_count: u32,
}

pub(crate) struct Shared {
    setup: HostSetup,
    state: Mutex<State>,
    pub(crate) phones: Mutex<PhoneTable>,
    pub(crate) requests: crate::sync::Mutex<Requests>,
    requests_changed: crate::sync::Condvar,
    pub(crate) lane: Lane,
    plugins: Mutex<Vec<Arc<Plugin>>>,
    /// Held while drivers start (not the state lock: they may report presence).
    starting: Mutex<()>,
    pub(crate) pnp: Mutex<crate::presence::Pnp>,
    timer: crate::deadline::Timer<Due>,
    pub(crate) executor: crate::deadline::Executor,
    /// TAPI's completion procedure while initialised: read on every request, so
    /// kept out of the state lock.
    completion: std::sync::RwLock<Option<CompletionProc>>,
    /// Threads waiting in close for a phone's requests; removals only wake
    /// anyone when there is someone to wake (a futex wake is a system call).
    close_waiters: std::sync::atomic::AtomicUsize,
    /// Completions taken out of the request table and not yet queued in the lane.
    in_transit: std::sync::atomic::AtomicUsize,
    /// Keys of made-up button releases.
    pub(crate) next_press: std::sync::atomic::AtomicU64,
}

/// What the host's timer does when a time comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    /// A request's deadline.
    Request(Token),
    /// The made-up release of a press the device cannot report.
    ButtonUp { phone: PhoneHandle, press: u64 },
    /// The next probe of a device the host declared away.
    Probe(PhoneHandle),
}

/// The TSPI provider.
#[derive(Clone)]
pub struct Provider {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("setup", &self.shared.setup)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Provider {
    /// A provider that finds drivers and configuration as `setup` says.
    pub fn new(setup: HostSetup) -> Self {
        Self {
            shared: Arc::new(Shared {
                setup,
                state: Mutex::default(),
                phones: Mutex::default(),
                requests: Default::default(),
                requests_changed: Default::default(),
                lane: Lane::default(),
                plugins: Mutex::default(),
                starting: Mutex::default(),
                pnp: Mutex::default(),
                timer: Default::default(),
                executor: Default::default(),
                completion: Default::default(),
                close_waiters: Default::default(),
                in_transit: Default::default(),
                next_press: Default::default(),
            }),
        }
    }

    /// The request table.
    pub(crate) fn table(&self) -> crate::sync::MutexGuard<'_, Requests> {
        crate::sync::lock(&self.shared.requests)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    /// Starts the provider the way TAPISRV does, for an application that plays
    /// TAPI's part (tspctl, tspd): version negotiation, then
    /// `TSPI_providerEnumDevices`, then `TSPI_providerInit` with device ids from
    /// 0. Returns the number of phones.
    ///
    /// # Errors
    /// What `TSPI_providerInit` returns (`LINEERR_INIFILECORRUPT` for a
    /// configuration that does not parse; the log says where).
    pub fn start_as_tapi(
        &self,
        h_provider: usize,
        create_proc: Option<EventProc>,
        completion: CompletionProc,
    ) -> Result<u32, LineError> {
        self.line_negotiate(
            tsp_core::sys::INITIALIZE_NEGOTIATION,
            TspiVersion::V2_0.raw(),
            TspiVersion::V3_1.raw(),
        )?;
        let phones = self.enum_devices(h_provider, create_proc);
        self.init(0, completion)?;
        Ok(phones)
    }

    /// `TSPI_lineNegotiateTSPIVersion`: only `INITIALIZE_NEGOTIATION` (this
    /// provider has no lines).
    pub fn line_negotiate(
        &self,
        device_id: u32,
        low: u32,
        high: u32,
    ) -> Result<TspiVersion, LineError> {
        if device_id != tsp_core::sys::INITIALIZE_NEGOTIATION {
            return Err(LineError::BadDeviceId);
        }
        Ok(VersionRange::PROVIDER.negotiate(low, high)?)
    }

    /// `TSPI_providerEnumDevices`: loads the configuration and the drivers it lists,
    /// freezes the device list and returns the number of phones. A configuration
    /// that does not parse gives no phones (the log says why; Init then fails).
    pub fn enum_devices(&self, h_provider: usize, create_proc: Option<EventProc>) -> u32 {
        self.ensure_enumerated();
        let count = self.state().devices.len() as u32;
        // Arrivals buffered until now are announced once TAPI's procedure is known.
        self.set_create_proc(h_provider, create_proc);
        count
    }

    /// Loads the configuration and starts its drivers, once per epoch. Driver
    /// code runs without the state lock: a driver may report presence (which
    /// takes it) from inside `start` or `devices`.
    fn ensure_enumerated(&self) {
        let _one_at_a_time = lock(&self.shared.starting);
        if self.state().enumerated {
            return;
        }
        let (config, drivers, devices) = self.start_drivers();
        let mut state = self.state();
        state.enumerated = true;
        state.config = Some(config);
        state.drivers = drivers;
        state.devices = devices;
        tracing::info!(
            phones = state.devices.len(),
            drivers = state.drivers.len(),
            "devices enumerated"
        );
    }

    /// The configuration, the drivers it names started, and their devices.
    fn start_drivers(
        &self,
    ) -> (
        Result<Config, ConfigError>,
        Vec<Arc<StartedDriver>>,
        Vec<Device>,
    ) {
        let config = match self.shared.setup.config.load() {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(
                    "the configuration cannot be used: {error}; no phones until it is fixed"
                );
                return (Err(error), Vec::new(), Vec::new());
            }
        };
        let (mut drivers, mut devices) = (Vec::new(), Vec::new());
        for name in &config.drivers {
            let Some(plugin) = self.plugin(name) else {
                continue;
            };
            let callbacks: Arc<dyn HostCallbacks> = Arc::new(Callbacks {
                shared: Arc::downgrade(&self.shared),
            });
            let settings = config.settings_text(name);
            match plugin.start(&settings.text, callbacks) {
                Ok(loaded) => {
                    let concurrent = loaded.concurrent_sessions();
                    let driver = Arc::new(StartedDriver {
                        name: name.clone(),
                        limits: config.deadlines.limits(name),
                        loaded,
                        concurrent,
                    });
                    devices.extend(devices_of(&driver, drivers.len()));
                    drivers.push(driver);
                }
                // Settings that do not parse are the configuration's error,
                // not a driver with no phones: the user is told where.
                Err(error) if error.code == PhoneError::IniFileCorrupt => {
                    for started in &drivers {
                        started.loaded.shutdown();
                    }
                    // Written anew, its lines are not the file's: say so.
                    let counted = if settings.lines_are_the_files {
                        ""
                    } else {
                        " (lines counted within the table)"
                    };
                    let error = ConfigError::new(
                        &self.shared.setup.config.file(),
                        format!("[settings.{name}]{counted}: {error}"),
                    );
                    tracing::error!(
                        "the configuration cannot be used: {error}; no phones until it is fixed"
                    );
                    return (Err(error), Vec::new(), Vec::new());
                }
                Err(error) => tracing::error!(driver = %name, "the driver did not start: {error}"),
            }
        }
        (Ok(config), drivers, devices)
    }

    /// The plugin for driver `name`: linked in, or loaded from `drivers/NAME.toml`
    /// (once per process: libraries are never unloaded).
    fn plugin(&self, name: &str) -> Option<Arc<Plugin>> {
        let mut plugins = lock(&self.shared.plugins);
        if let Some(plugin) = plugins.iter().find(|p| p.name() == name) {
            return Some(Arc::clone(plugin));
        }
        let plugin = if let Some(module) = self
            .shared
            .setup
            .statics
            .iter()
            .find(|m| m.name().as_str() == name)
        {
            Plugin::from_static(*module)
        } else {
            let Some(folder) = &self.shared.setup.plugin_folder else {
                tracing::error!(
                    driver = name,
                    "no plugin folder and no linked-in driver of this name"
                );
                return None;
            };
            let manifest = folder.join("drivers").join(format!("{name}.toml"));
            match Plugin::load(&manifest) {
                Ok(plugin) => plugin,
                Err(error) => {
                    tracing::error!(driver = name, "{error}");
                    return None;
                }
            }
        };
        let plugin = Arc::new(plugin);
        plugins.push(Arc::clone(&plugin));
        Some(plugin)
    }

    /// `TSPI_providerInit`. A second init while a pair is outstanding is counted
    /// and succeeds.
    pub fn init(&self, phone_base: u32, completion: CompletionProc) -> Result<(), LineError> {
        self.ensure_enumerated();
        let mut state = self.state();
        if state.init_count > 0 {
            state.init_count += 1;
            return Ok(());
        }
        if let Some(Err(error)) = &state.config {
            tracing::error!("TSPI_providerInit refused: {error}");
            return Err(LineError::IniFileCorrupt);
        }
        // The ids must neither wrap nor reach 0xFFFFFFFF (INITIALIZE_NEGOTIATION):
        // the last, base + count - 1, is below it exactly when base + count fits.
        let ids_fit = u32::try_from(state.devices.len())
            .ok()
            .and_then(|count| phone_base.checked_add(count))
            .is_some();
        if !ids_fit {
            tracing::error!(
                phone_base,
                phones = state.devices.len(),
                "TSPI_providerInit refused: the phone ids would pass 0xFFFFFFFE"
            );
            return Err(LineError::InvalParam);
        }
        state.phone_base = phone_base;
        for (index, device) in (0u32..).zip(state.devices.iter_mut()) {
            // Below base + count, which was checked to fit.
            device.id = phone_base.checked_add(index);
        }
        state.completion = Some(completion);
        self.set_completion_proc(Some(completion));
        state.init_count = 1;
        self.shared.timer.open();
        self.shared.executor.open();
        self.shared.lane.start();
        tracing::info!(
            phone_base,
            phones = state.devices.len(),
            "provider initialised"
        );
        drop(state);
        // Devices that arrived while the lane was closed (between a shutdown and
        // this init) are announced now.
        self.announce_arrivals();
        Ok(())
    }

    /// `TSPI_providerShutdown`. The last one of overlapping pairs closes every
    /// phone, completes or aborts every request, stops every driver and starts a
    /// new epoch; nothing is delivered to TAPI after it.
    pub fn shutdown(&self) -> Result<(), LineError> {
        {
            let mut state = self.state();
            match state.init_count {
                0 => return Ok(()),
                1 => {}
                _ => {
                    state.init_count -= 1;
                    return Ok(());
                }
            }
        }
        let handles = lock(&self.shared.phones).handles();
        for handle in handles {
            let _ = self.close(handle);
        }
        // A removal closing a phone on another thread completes its requests
        // before the lane stops (from inside a callback it may be waiting for
        // this very thread: the in-callback exception again).
        if !self.shared.lane.delivering_here() {
            let closing = lock(&self.shared.phones).force_closing();
            for done in closing {
                done.wait();
            }
        }
        self.shared.lane.stop();
        let drivers = {
            let mut state = self.state();
            state.devices.clear();
            state.enumerated = false;
            state.config = None;
            state.completion = None;
            state.init_count = 0;
            self.set_completion_proc(None);
            std::mem::take(&mut state.drivers)
        };
        // No lock held: a driver may still call back while it stops its threads.
        for driver in drivers {
            driver.loaded.shutdown();
        }
        self.shared.timer.stop();
        self.shared.executor.stop();
        self.table().bump_epoch();
        *lock(&self.shared.pnp) = crate::presence::Pnp::default();
        tracing::info!("provider shut down");
        Ok(())
    }

    /// Whether the provider is initialised.
    pub fn is_initialised(&self) -> bool {
        self.completion_proc().is_some()
    }

    fn completion_proc(&self) -> Option<CompletionProc> {
        *self
            .shared
            .completion
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn set_completion_proc(&self, proc_: Option<CompletionProc>) {
        *self
            .shared
            .completion
            .write()
            .unwrap_or_else(|e| e.into_inner()) = proc_;
    }

    /// Wakes close if it waits for requests to go.
    pub(crate) fn requests_removed(&self) {
        if self.shared.close_waiters.load(Ordering::Acquire) > 0 {
            self.shared.requests_changed.notify_all();
        }
    }

    /// The phone devices, in device order (ids from the base given at init).
    pub fn devices(&self) -> Vec<Device> {
        self.state().devices.clone()
    }

    /// The index of absolute device id `device_id`, or `BADDEVICEID`.
    pub(crate) fn device_index(&self, device_id: u32) -> Result<(usize, Device), PhoneError> {
        let state = self.state();
        state
            .devices
            .iter()
            .enumerate()
            .find(|(_, d)| d.present && d.id == Some(device_id))
            .map(|(index, d)| (index, d.clone()))
            .ok_or(PhoneError::BadDeviceId)
    }

    /// `TSPI_phoneNegotiateTSPIVersion`. `INITIALIZE_NEGOTIATION` is answered like
    /// the provider-wide negotiation (reference §9.1: the docs disagree whether it
    /// can come here; answering it is the tolerant reading).
    pub fn phone_negotiate(
        &self,
        device_id: u32,
        low: u32,
        high: u32,
    ) -> Result<TspiVersion, PhoneError> {
        if device_id != tsp_core::sys::INITIALIZE_NEGOTIATION {
            self.device_index(device_id)?;
        }
        Ok(VersionRange::PROVIDER.negotiate(low, high)?)
    }

    pub(crate) fn check_version(version: u32) -> Result<TspiVersion, PhoneError> {
        let version = TspiVersion::from_raw(version);
        if TspiVersion::KNOWN.contains(&version) && VersionRange::PROVIDER.contains(version) {
            Ok(version)
        } else {
            Err(PhoneError::IncompatibleApiVersion)
        }
    }

    /// `TSPI_phoneGetDevCaps`: PHONECAPS for `version` into `buf`.
    pub fn get_dev_caps(
        &self,
        device_id: u32,
        version: u32,
        buf: &mut [u8],
    ) -> Result<Written, PhoneError> {
        let (_, device) = self.device_index(device_id)?;
        let version = Self::check_version(version)?;
        device.caps.write(buf, version)
    }

    /// `TSPI_phoneOpen`: reserves the device through its driver and returns the
    /// handle. On failure nothing is reserved and no handle exists.
    pub fn open(
        &self,
        device_id: u32,
        ht_phone: usize,
        version: u32,
        event_proc: EventProc,
    ) -> Result<PhoneHandle, PhoneError> {
        let (index, device) = self.device_index(device_id)?;
        let version = Self::check_version(version)?;
        let driver = self
            .state()
            .drivers
            .get(device.driver_index)
            .cloned()
            .ok_or(PhoneError::NoDriver)?;
        let handle = lock(&self.shared.phones).reserve(index)?;
        let opened = self.open_session(&driver, &device, handle);
        let (session, ring) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                lock(&self.shared.phones).release(handle);
                tracing::info!(device_id, "open refused: {error:?}");
                return Err(error);
            }
        };
        let phone = Arc::new(Phone {
            handle,
            device: index,
            ht_phone,
            event_proc,
            version,
            caps: std::sync::RwLock::new(Arc::new(device.caps)),
            session,
            serial: !driver.concurrent,
            filter: Mutex::default(),
            queue: Default::default(),
            presence: Default::default(),
            presence_order: Mutex::default(),
            probe_backoff_ms: Default::default(),
            closing: Default::default(),
            limits: driver.limits,
            misses: Default::default(),
            calls: Arc::default(),
            pressed: Mutex::default(),
            caps_reading: Default::default(),
            ring: Mutex::new(ring),
        });
        // Published under the state lock, after checking the device is still
        // there: a removal marks it gone under that lock before it looks for its
        // phone, so either it finds this phone or this open sees it gone.
        let state = self.state();
        if !state.devices.get(index).is_some_and(|d| d.present) {
            drop(state);
            lock(&self.shared.phones).release(handle);
            self.session_call(&phone, "close", |session| session.close());
            tracing::info!(
                device_id,
                "the device was removed while it was being opened"
            );
            return Err(PhoneError::NoDevice);
        }
        self.shared.lane.admit(handle);
        lock(&self.shared.phones).publish(phone);
        drop(state);
        tracing::debug!(device_id, handle, %version, "phone opened");
        Ok(handle)
    }

    /// Opens the driver's session within the driver's deadline, off TAPI's
    /// thread (opening may talk to the device), with the ring state events are
    /// compared with. A session that arrives too late is dropped, which releases
    /// it; while such an open is stuck in the driver, opens of the device fail
    /// at once.
    fn open_session(
        &self,
        driver: &Arc<StartedDriver>,
        device: &Device,
        handle: PhoneHandle,
    ) -> Result<(tsp_plugin_sdk::host::OpenSession, Option<(u32, u32)>), PhoneError> {
        let opener = Arc::clone(driver);
        let key = device.key.clone();
        let opened =
            self.shared
                .executor
                .call_through(&device.opens, driver.limits.call, move || {
                    let session = opener.loaded.open(&key, handle)?;
                    let ring = session.get_ring().ok();
                    Ok::<_, tsp_plugin_sdk::DriverError>((session, ring))
                });
        match opened {
            Ok(Ok(opened)) => Ok(opened),
            Ok(Err(error)) => {
                tracing::info!(key = device.key, "the driver refused the open: {error}");
                Err(error.code)
            }
            Err(Failed::Refused(_)) => {
                tracing::warn!(key = device.key, "an earlier open is stuck in the driver");
                Err(PhoneError::OperationFailed)
            }
            Err(Failed::Missed(missed)) => {
                tracing::warn!(key = device.key, ?missed, "open past its deadline");
                Err(PhoneError::OperationFailed)
            }
        }
    }

    pub(crate) fn phone(&self, handle: PhoneHandle) -> Result<Arc<Phone>, PhoneError> {
        lock(&self.shared.phones)
            .get(handle)
            .ok_or(PhoneError::InvalPhoneHandle)
    }

    /// `TSPI_phoneClose`: refuses new requests, cancels, delivers every completion,
    /// releases the reservation, then returns. Nothing of the phone is delivered
    /// after it returns (called from inside a TAPI callback, the completions follow
    /// as soon as that callback returns: the lane never nests callbacks). A phone
    /// the provider closed itself (PHONE_CLOSE) is forgotten, with success, once
    /// that closing is done (its completions and PHONE_CLOSE delivered).
    pub fn close(&self, handle: PhoneHandle) -> Result<(), PhoneError> {
        let phone = {
            let mut phones = lock(&self.shared.phones);
            if let Some(done) = phones.forget_force_closed(handle) {
                drop(phones);
                // From inside a callback the removal may be waiting for this very
                // thread to deliver; what is left follows when the callback returns.
                if !self.shared.lane.delivering_here() {
                    done.wait();
                    self.shared.lane.flush(handle);
                }
                return Ok(());
            }
            phones.take(handle).ok_or(PhoneError::InvalPhoneHandle)?
        };
        self.shut_phone(phone);
        Ok(())
    }

    /// Everything close does once the phone is out of the table: no new request
    /// or call gets in, queued requests fail, the driver's calls in flight end
    /// (or pass their deadline), outstanding requests complete, every delivery
    /// of the phone is out, and the session closes.
    pub(crate) fn shut_phone(&self, phone: Arc<Phone>) {
        let handle = phone.handle;
        phone.closing.store(true, Ordering::SeqCst);
        self.shared.lane.silence(handle);
        phone.pressed().clear();
        for token in phone.queue.close() {
            self.finish(token, Err(PhoneError::OperationFailed));
        }
        phone.calls.close(phone.limits.call);
        self.session_call(&phone, "cancel", |session| session.cancel());
        // No longer than a request may take: past that the driver is late anyway.
        self.wait_for_requests(handle, phone.limits.request.min(CLOSE_PATIENCE));
        self.shared.lane.flush(handle);
        self.session_call(&phone, "close", |session| session.close());
        tracing::debug!(handle, "phone closed");
    }

    /// Cancel or close of a session, within the phone's deadline: a driver stuck
    /// there does not keep TAPI's thread (the call goes on without it). Without a
    /// free call thread it runs here: skipping it would leak the reservation.
    fn session_call(
        &self,
        phone: &Arc<Phone>,
        what: &'static str,
        call: fn(&tsp_plugin_sdk::host::OpenSession),
    ) {
        let owned = Arc::clone(phone);
        match self
            .shared
            .executor
            .call(phone.limits.call, move || call(&owned.session))
        {
            Ok(()) => {}
            Err(Missed::Deadline) => {
                tracing::warn!(handle = phone.handle, what, "the driver is stuck in {what}");
            }
            Err(Missed::NoThread) => call(&phone.session),
        }
    }

    /// Waits for the driver to complete the phone's requests; past the deadline the
    /// host completes them itself (a late completion from the driver finds nothing).
    fn wait_for_requests(&self, handle: PhoneHandle, patience: Duration) {
        let deadline = Instant::now() + patience;
        let mut requests = self.table();
        // Counted under the lock, before looking: a removal after this wakes us.
        self.shared.close_waiters.fetch_add(1, Ordering::AcqRel);
        let _counted = WaiterGuard(&self.shared.close_waiters);
        // A removal the driver reported from inside a call of this phone (this
        // thread's): that request cannot end before this returns, so waiting for
        // it would only wait out the patience.
        let own = IN_CALL.with(std::cell::Cell::get);
        if own != 0 && requests.of_phone(handle).iter().any(|t| t.to_u64() == own) {
            drop(requests);
            self.finish(Token::from_u64(own), Err(PhoneError::OperationFailed));
            requests = self.table();
        }
        loop {
            let left = requests.of_phone(handle);
            if left.is_empty() && self.shared.in_transit.load(Ordering::Acquire) == 0 {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                drop(requests);
                tracing::warn!(
                    handle,
                    count = left.len(),
                    "the driver did not complete cancelled requests; completing them"
                );
                for token in left {
                    self.finish(token, Err(PhoneError::OperationFailed));
                }
                // A request's own deadline may fire at this very moment: its
                // completion, taken by the timer thread, must be in the lane
                // before close flushes it (seen in the fault matrix under load,
                // where both deadlines are 300 ms).
                self.wait_in_transit();
                return;
            }
            requests = self
                .shared
                .requests_changed
                .wait_timeout(requests, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Removes a request and delivers its completion, if it is still there.
    pub(crate) fn finish(&self, token: Token, result: Result<(), PhoneError>) {
        let removed = self.take_for_delivery(&mut self.table(), token);
        self.requests_removed();
        if let Some(request) = removed {
            self.deliver_completion(request.request_id, request.phone, result);
        }
    }

    /// Takes a request out of the table for its completion to be delivered:
    /// counted as on its way to the lane under the table's lock, so a close that
    /// finds the table empty still waits for that completion to be queued
    /// before it flushes. `deliver_completion` uncounts it.
    fn take_for_delivery(&self, requests: &mut Requests, token: Token) -> Option<Request> {
        let removed = requests.remove(token);
        if removed.is_some() {
            self.in_transit();
        }
        removed
    }

    fn in_transit(&self) {
        self.shared.in_transit.fetch_add(1, Ordering::AcqRel);
    }

    /// Waits for the completions taken out of the table to reach the lane. That
    /// is host code only (never a driver call), so it ends at once; the bound
    /// is a guard, not a patience. Called while close counts as a waiter, so
    /// each completion queued wakes it (`deliver_completion`).
    fn wait_in_transit(&self) {
        let until = Instant::now() + Duration::from_secs(1);
        let mut requests = self.table();
        while self.shared.in_transit.load(Ordering::Acquire) > 0 {
            let now = Instant::now();
            if now >= until {
                tracing::warn!("a completion is still on its way to the lane after 1 s");
                return;
            }
            requests = self
                .shared
                .requests_changed
                .wait_timeout(requests, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A request refused because its phone is closing: out of the table, no
    /// completion.
    fn refuse_closed(&self, token: Token) -> i32 {
        self.table().remove(token);
        self.requests_removed();
        PhoneError::InvalPhoneHandle.to_long()
    }

    /// Submits the completion of a request counted by `in_transit`.
    fn deliver_completion(&self, request_id: u32, phone: u64, result: Result<(), PhoneError>) {
        // Uncounted as soon as it is queued, before this thread may go on to
        // deliver it: a close called from inside that very callback must not
        // wait for it.
        let queued = || {
            self.shared.in_transit.fetch_sub(1, Ordering::AcqRel);
            if self.shared.close_waiters.load(Ordering::Acquire) > 0 {
                // Under the lock: a waiter between its check and its wait is not missed.
                let _requests = self.table();
                self.shared.requests_changed.notify_all();
            }
        };
        let _span = request_span(request_id, phone).entered();
        match result {
            Ok(()) => tracing::debug!("completed"),
            Err(error) => tracing::debug!(error = error.name(), "completed with an error"),
        }
        let Some(proc_) = self.completion_proc() else {
            return queued();
        };
        let result = result.err().map_or(0, PhoneError::to_long);
        let delivery = Delivery::Completion {
            proc_,
            request_id,
            result,
            phone,
        };
        self.shared.lane.submit_then(delivery, &queued);
    }

    /// `TSPI_phoneSetData`.
    pub fn set_data(&self, request_id: u32, handle: PhoneHandle, data_id: u32, data: &[u8]) -> i32 {
        let phone = match self.phone(handle) {
            Ok(phone) => phone,
            Err(error) => return error.to_long(),
        };
        let Some(&area) = phone.caps().set_data.get(data_id as usize) else {
            return PhoneError::InvalDataId.to_long();
        };
        // Refused before anything is copied or queued: no request makes the
        // host hold more than the caps say (the design's answer for oversize).
        if data.len() > area as usize {
            return PhoneError::OperationFailed.to_long();
        }
        self.request(
            &phone,
            request_id,
            Op::SetData {
                data_id,
                data: Cow::Borrowed(data),
            },
        )
    }

    /// `TSPI_phoneDevSpecific`.
    pub fn dev_specific(&self, request_id: u32, handle: PhoneHandle, params: &[u8]) -> i32 {
        match self.phone(handle) {
            Ok(phone) => self.request(
                &phone,
                request_id,
                Op::DevSpecific {
                    params: Cow::Borrowed(params),
                },
            ),
            Err(error) => error.to_long(),
        }
    }

    /// Starts an asynchronous request: returns `request_id` (a completion follows,
    /// perhaps already delivered) or a negative error (no completion).
    pub(crate) fn request(&self, phone: &Arc<Phone>, request_id: u32, op: Op<'_>) -> i32 {
        let _span = request_span(request_id, phone.handle).entered();
        tracing::debug!(op = op.name(), "request");
        // DevSpecific still reaches a driver whose device is away: a vendor command
        // (a reset, a reconnect) may be exactly what is needed then.
        let exempt = matches!(op, Op::DevSpecific { .. });
        if phone.is_disconnected() && !exempt {
            return PhoneError::InvalPhoneState.to_long();
        }
        if !self.is_initialised() {
            return PhoneError::OperationFailed.to_long();
        }
        let token = match self.table().insert(request_id, phone.handle, Stage::InCall) {
            Ok(token) => token,
            Err(crate::requests::BadId::Full) => {
                tracing::warn!(
                    bound = crate::requests::MAX_OUTSTANDING,
                    "too many requests outstanding: refused"
                );
                return PhoneError::ResourceUnavail.to_long();
            }
            Err(reason) => {
                tracing::warn!(?reason, "request id refused");
                return PhoneError::OperationFailed.to_long();
            }
        };
        // Read after the insert: a close that began before it sees the request
        // and waits for it, one that began after is seen here. Either way no
        // request reaches a session that is closing.
        if phone.closing.load(Ordering::SeqCst) {
            return self.refuse_closed(token);
        }
        if phone.serial {
            let due = Instant::now() + phone.limits.request;
            let waiting = || crate::queue::Waiting {
                token,
                op: op.clone().into_owned(),
                due,
            };
            match phone.queue.offer(&self.shared.requests, token, waiting) {
                crate::queue::Turn::Now => {}
                turn @ (crate::queue::Turn::Queued | crate::queue::Turn::QueuedStartNext) => {
                    // TAPI waits from now: the deadline counts the time in the queue.
                    self.arm(due, Due::Request(token));
                    if matches!(turn, crate::queue::Turn::QueuedStartNext) {
                        self.start_next(phone);
                    }
                    return request_id as i32;
                }
                // Closed under the queue's lock, which close takes to empty it:
                // nothing is queued behind close's back.
                crate::queue::Turn::Closed => return self.refuse_closed(token),
            }
        }
        // Close may have begun since the check above: a request it has not seen
        // waits for nothing and does not reach the driver after its cancel.
        if phone.closing.load(Ordering::SeqCst) {
            return self.refuse_closed(token);
        }
        in_call(token, || op.call(&phone.session, token.to_u64()));
        let outcome = {
            let mut requests = self.table();
            match requests.get(token).map(|r| r.stage) {
                Some(Stage::CompletedInCall(result)) => {
                    requests.remove(token);
                    if result.is_ok() {
                        self.in_transit();
                    }
                    self.requests_removed();
                    Some(result)
                }
                Some(_) => {
                    requests.set_stage(token, Stage::Running);
                    self.arm_deadline(phone, token);
                    None
                }
                None => None,
            }
        };
        match outcome {
            Some(Err(error)) => {
                // Refused before the call returned: a negative return, no completion.
                self.start_next(phone);
                error.to_long()
            }
            Some(Ok(())) => {
                self.deliver_completion(request_id, phone.handle, Ok(()));
                self.start_next(phone);
                request_id as i32
            }
            None => request_id as i32,
        }
    }

    /// Starts the queued requests of a serial phone, in a loop (never by recursion),
    /// until one stays outstanding or none is left.
    pub(crate) fn start_next(&self, phone: &Arc<Phone>) {
        if !phone.serial {
            return;
        }
        loop {
            let next = phone.queue.next(&self.shared.requests);
            let Some(crate::queue::Waiting { token, op, due }) = next else {
                return;
            };
            // Its time ran out in the queue (its deadline job is late), or close
            // began: it ends here, without the driver and without a miss.
            if phone.closing.load(Ordering::SeqCst) || Instant::now() >= due {
                self.finish(token, Err(PhoneError::OperationFailed));
                continue;
            }
            in_call(token, || op.call(&phone.session, token.to_u64()));
            let stage = {
                let mut requests = self.table();
                let stage = requests.stage(token);
                if matches!(stage, Some(Stage::InCall)) {
                    requests.set_stage(token, Stage::Running);
                    // Armed again: the deadline armed when it was queued finds
                    // nothing to do if it came while the call ran.
                    self.arm(due, Due::Request(token));
                }
                stage
            };
            match stage {
                // Its TSPI call returned long ago: report through the completion.
                Some(Stage::CompletedInCall(result)) => self.finish(token, result),
                // Outstanding: its completion starts the next one.
                Some(_) => return,
                // Removed meanwhile (the phone closed): whoever removed it reported it.
                None => {}
            }
        }
    }

    /// Starts the clock of an outstanding request.
    fn arm_deadline(&self, phone: &Phone, token: Token) {
        self.arm(Instant::now() + phone.limits.request, Due::Request(token));
    }

    /// Arms the host's one timer.
    pub(crate) fn arm(&self, at: Instant, due: Due) {
        let shared = Arc::downgrade(&self.shared);
        self.shared.timer.arm(at, due, move |due| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let provider = Provider { shared };
            match due {
                Due::Request(token) => provider.expire(token),
                Due::ButtonUp { phone, press } => provider.made_up_release(phone, press),
                Due::Probe(phone) => provider.probe(phone),
            }
        });
    }

    /// A request past its deadline completes with an error; its late completion
    /// from the driver finds nothing.
    fn expire(&self, token: Token) {
        let request = {
            let mut requests = self.table();
            match requests.stage(token) {
                Some(Stage::Running) => self.take_for_delivery(&mut requests, token),
                Some(Stage::Queued) => {
                    drop(requests);
                    return self.expire_queued(token);
                }
                _ => return,
            }
        };
        self.requests_removed();
        let Some(request) = request else { return };
        tracing::warn!(
            request_id = request.request_id,
            phone = request.phone,
            "request past its deadline"
        );
        self.deliver_completion(
            request.request_id,
            request.phone,
            Err(PhoneError::OperationFailed),
        );
        if let Ok(phone) = self.phone(request.phone) {
            // A request that waited in the queue had less than its deadline in
            // the driver: no miss of the driver's.
            let driver_had = if phone.serial {
                phone.queue.held_for(token)
            } else {
                None
            };
            if driver_had.is_none_or(|had| had >= phone.limits.request) {
                self.missed(&phone);
            }
            self.start_next(&phone);
        }
    }

    /// A request still waiting in its phone's queue at its deadline: taken out
    /// and failed (the driver never saw it, so it is no miss of the driver's).
    fn expire_queued(&self, token: Token) {
        let request = self.table().get(token);
        let Some(phone) = request.and_then(|r| self.phone(r.phone).ok()) else {
            return;
        };
        let taken = phone.queue.withdraw(token);
        if taken {
            tracing::warn!(
                request_id = request.map_or(0, |r| r.request_id),
                phone = phone.handle,
                "request past its deadline in the queue"
            );
            self.finish(token, Err(PhoneError::OperationFailed));
        }
    }

    /// A completion from a driver.
    fn completed(&self, token: Token, result: Result<(), PhoneError>) {
        let request = {
            let mut requests = self.table();
            let Some(request) = requests.get(token) else {
                return;
            };
            match request.stage {
                Stage::InCall => {
                    requests.set_stage(token, Stage::CompletedInCall(result));
                    return;
                }
                Stage::Running => {
                    self.take_for_delivery(&mut requests, token);
                    request
                }
                Stage::Queued | Stage::CompletedInCall(_) => return,
            }
        };
        self.requests_removed();
        self.deliver_completion(request.request_id, request.phone, result);
        if let Ok(phone) = self.phone(request.phone) {
            self.answered(&phone);
            self.start_next(&phone);
        }
    }

    /// `TSPI_phoneGetData`.
    pub fn get_data(
        &self,
        handle: PhoneHandle,
        data_id: u32,
        buf: &mut [u8],
    ) -> Result<(), PhoneError> {
        let phone = self.phone(handle)?;
        let Some(&area) = phone.caps().get_data.get(data_id as usize) else {
            return Err(PhoneError::InvalDataId);
        };
        if phone.is_disconnected() {
            return Err(PhoneError::InvalPhoneState);
        }
        // TAPI's buffer may be far larger than the area: read (and allocate)
        // at most the area, and leave the rest of the buffer as it was.
        let size = buf.len().min(area as usize);
        let data = self.sync_call(&phone, move |phone| {
            let mut data = vec![0u8; size];
            phone.session.get_data(data_id, &mut data).map(|()| data)
        })?;
        buf[..size].copy_from_slice(&data);
        Ok(())
    }

    /// `TSPI_phoneGetStatus`: PHONESTATUS for the phone's version into `buf`.
    pub fn get_status(&self, handle: PhoneHandle, buf: &mut [u8]) -> Result<Written, PhoneError> {
        let phone = self.phone(handle)?;
        if buf.len() < PhoneStatus::fixed_size(phone.version) {
            return Err(PhoneError::StructureTooSmall);
        }
        let status = self.sync_call(&phone, |phone| phone.session.get_status())?;
        status.write(buf, phone.version)
    }

    /// `TSPI_phoneSetStatusMessages`.
    pub fn set_status_messages(
        &self,
        handle: PhoneHandle,
        states: u32,
        button_modes: u32,
        button_states: u32,
    ) -> Result<(), PhoneError> {
        let phone = self.phone(handle)?;
        let states = tsp_core::PhoneStates::from_bits(states).ok_or(PhoneError::InvalPhoneState)?;
        let modes =
            tsp_core::ButtonModes::from_bits(button_modes).ok_or(PhoneError::InvalButtonMode)?;
        // With no button modes, dwButtonStates is ignored (reference §5.6).
        let button_states = if modes.is_empty() {
            tsp_core::ButtonStates::empty()
        } else {
            let states = tsp_core::ButtonStates::from_bits(button_states)
                .ok_or(PhoneError::InvalButtonState)?;
            if states.is_empty() {
                return Err(PhoneError::InvalButtonState);
            }
            states
        };
        *phone.filter.lock().unwrap_or_else(|e| e.into_inner()) = Filter {
            states: states | PhoneStates::REINIT,
            button_modes: modes,
            button_states,
        };
        Ok(())
    }
}

std::thread_local! {
    /// The request whose driver call this thread is in (0: none).
    static IN_CALL: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Runs a driver call of request `token`, known to this thread meanwhile.
fn in_call(token: Token, call: impl FnOnce()) {
    let outer = IN_CALL.with(|c| c.replace(token.to_u64()));
    call();
    IN_CALL.with(|c| c.set(outer));
}

/// The devices `driver` lists, as entries of the device table (`index`: the
/// driver's place in the driver list).
fn devices_of(driver: &StartedDriver, index: usize) -> Vec<Device> {
    match driver.loaded.devices() {
        Ok(devices) => devices
            .into_iter()
            .map(|d| Device {
                driver: driver.name.clone(),
                key: d.key,
                caps: d.caps,
                id: None,
                present: true,
                driver_index: index,
                opens: Arc::default(),
            })
            .collect(),
        Err(error) => {
            tracing::error!(driver = %driver.name, "listing devices failed: {error}");
            Vec::new()
        }
    }
}

/// Uncounts a close waiting for requests, however it leaves.
struct WaiterGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What drivers call back into. Holds the provider weakly: the provider owns the
/// drivers, which own their links to it.
struct Callbacks {
    shared: Weak<Shared>,
}

impl Callbacks {
    fn provider(&self) -> Option<Provider> {
        self.shared.upgrade().map(|shared| Provider { shared })
    }
}

impl HostCallbacks for Callbacks {
    fn complete(&self, token: u64, result: Result<(), PhoneError>) {
        if let Some(provider) = self.provider() {
            provider.completed(Token::from_u64(token), result);
        }
    }

    fn phone_event(&self, session: u64, event: PhoneEvent) {
        if let Some(provider) = self.provider() {
            provider.phone_event(session, event);
        }
    }

    fn driver_event(&self, driver: &str, event: DriverEvent) {
        if let Some(provider) = self.provider() {
            provider.driver_presence(driver, event);
        }
    }
}

/// The span a request's log lines carry: at `debug`, every line logged on its
/// way (the driver's too, when it logs in the call) names the request and the
/// phone. A debug span costs nothing on the request path at the usual `warn`
/// or `info`, so the warnings about a request carry both fields themselves.
fn request_span(request_id: u32, phone: u64) -> tracing::Span {
    tracing::debug_span!("request", request_id, phone)
}
