//! The provider: lifecycle, device table, phones and requests, in safe Rust. The C
//! exports (`ffi`) check pointers and call this; tools and tests call it directly.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tsp_core::{
    LineError, PhoneCaps, PhoneError, PhoneMessage, PhoneStates, PhoneStatus, TspiVersion,
    VersionRange, Written,
};
use tsp_plugin_sdk::abi::DriverModuleRef;
use tsp_plugin_sdk::host::{HostCallbacks, LoadedDriver, Plugin};
use tsp_plugin_sdk::{DriverEvent, PhoneEvent};

use crate::config::{Config, ConfigError, ConfigSource};
use crate::lane::{Delivery, Lane};
use crate::phone::{Filter, Op, Phone, PhoneHandle, PhoneTable};
use crate::requests::{Requests, Stage, Token};
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
}

pub(crate) struct StartedDriver {
    pub(crate) name: String,
    limits: crate::config::Limits,
    loaded: LoadedDriver,
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
    requests: Mutex<Requests>,
    requests_changed: Condvar,
    pub(crate) lane: Lane,
    plugins: Mutex<Vec<Arc<Plugin>>>,
    pub(crate) pnp: Mutex<crate::presence::Pnp>,
    timer: crate::deadline::Timer,
    executor: crate::deadline::Executor,
    /// TAPI's completion procedure while initialised: read on every request, so
    /// kept out of the state lock.
    completion: std::sync::RwLock<Option<CompletionProc>>,
    /// Threads waiting in close for a phone's requests; removals only wake
    /// anyone when there is someone to wake (a futex wake is a system call).
    close_waiters: std::sync::atomic::AtomicUsize,
    buttons_down: Mutex<ButtonsDown>,
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
                requests: Mutex::default(),
                requests_changed: Condvar::new(),
                lane: Lane::default(),
                plugins: Mutex::default(),
                pnp: Mutex::default(),
                timer: Default::default(),
                executor: Default::default(),
                completion: Default::default(),
                close_waiters: Default::default(),
                buttons_down: Mutex::default(),
            }),
        }
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
        let count = {
            let mut state = self.state();
            if !state.enumerated {
                self.start_drivers(&mut state);
            }
            state.devices.len() as u32
        };
        // Arrivals buffered until now are announced once TAPI's procedure is known.
        self.set_create_proc(h_provider, create_proc);
        count
    }

    fn start_drivers(&self, state: &mut State) {
        let config = self.shared.setup.config.load();
        state.enumerated = true;
        let config = match config {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(
                    "the configuration cannot be used: {error}; no phones until it is fixed"
                );
                state.config = Some(Err(error));
                return;
            }
        };
        for name in &config.drivers {
            let Some(plugin) = self.plugin(name) else {
                continue;
            };
            let callbacks: Arc<dyn HostCallbacks> = Arc::new(Callbacks {
                shared: Arc::downgrade(&self.shared),
            });
            match plugin.start(&config.settings_of(name), callbacks) {
                Ok(loaded) => {
                    let concurrent = loaded.concurrent_sessions();
                    let driver = Arc::new(StartedDriver {
                        name: name.clone(),
                        limits: config.deadlines.limits(name),
                        loaded,
                        concurrent,
                    });
                    self.add_devices(state, driver);
                }
                Err(error) => tracing::error!(driver = %name, "the driver did not start: {error}"),
            }
        }
        tracing::info!(
            phones = state.devices.len(),
            drivers = state.drivers.len(),
            "devices enumerated"
        );
        state.config = Some(Ok(config));
    }

    fn add_devices(&self, state: &mut State, driver: Arc<StartedDriver>) {
        let index = state.drivers.len();
        match driver.loaded.devices() {
            Ok(devices) => state.devices.extend(devices.into_iter().map(|d| Device {
                driver: driver.name.clone(),
                key: d.key,
                caps: d.caps,
                id: None,
                present: true,
                driver_index: index,
            })),
            Err(error) => tracing::error!(driver = %driver.name, "listing devices failed: {error}"),
        }
        state.drivers.push(driver);
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
        let mut state = self.state();
        if state.init_count > 0 {
            state.init_count += 1;
            return Ok(());
        }
        if !state.enumerated {
            self.start_drivers(&mut state);
        }
        if let Some(Err(error)) = &state.config {
            tracing::error!("TSPI_providerInit refused: {error}");
            return Err(LineError::IniFileCorrupt);
        }
        state.phone_base = phone_base;
        for (index, device) in state.devices.iter_mut().enumerate() {
            device.id = Some(phone_base + index as u32);
        }
        state.completion = Some(completion);
        self.set_completion_proc(Some(completion));
        state.init_count = 1;
        self.shared.lane.start();
        tracing::info!(
            phone_base,
            phones = state.devices.len(),
            "provider initialised"
        );
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
        lock(&self.shared.requests).bump_epoch();
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
    fn requests_removed(&self) {
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
        // Opening may talk to the device: it runs within the driver's deadline, off
        // TAPI's thread. A session that arrives too late is dropped, which releases it.
        let opener = Arc::clone(&driver);
        let key = device.key.clone();
        let opened = self
            .shared
            .executor
            .call(driver.limits.call, move || opener.loaded.open(&key, handle));
        let session = match opened {
            Some(Ok(session)) => session,
            Some(Err(error)) => {
                lock(&self.shared.phones).release(handle);
                tracing::info!(device_id, "open refused: {error}");
                return Err(error.code);
            }
            None => {
                lock(&self.shared.phones).release(handle);
                tracing::warn!(device_id, "open past its deadline");
                return Err(PhoneError::OperationFailed);
            }
        };
        let phone = Arc::new(Phone {
            handle,
            device: index,
            ht_phone,
            event_proc,
            version,
            caps: device.caps,
            session,
            serial: !driver.concurrent,
            filter: Mutex::default(),
            queue: Mutex::default(),
            disconnected: Default::default(),
            limits: driver.limits,
            misses: Default::default(),
        });
        lock(&self.shared.phones).publish(phone);
        tracing::debug!(device_id, handle, %version, "phone opened");
        Ok(handle)
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
    /// the provider closed itself (PHONE_CLOSE) is forgotten, with success.
    pub fn close(&self, handle: PhoneHandle) -> Result<(), PhoneError> {
        let phone = {
            let mut phones = lock(&self.shared.phones);
            if phones.forget_force_closed(handle) {
                return Ok(());
            }
            phones.take(handle).ok_or(PhoneError::InvalPhoneHandle)?
        };
        self.shut_phone(phone);
        Ok(())
    }

    /// Everything close does once the phone is out of the table.
    pub(crate) fn shut_phone(&self, phone: Arc<Phone>) {
        let handle = phone.handle;
        self.shared.lane.silence(handle);
        let waiting = std::mem::take(&mut phone.queue().waiting);
        for (token, _) in waiting {
            self.finish(token, Err(PhoneError::OperationFailed));
        }
        phone.session.cancel();
        self.wait_for_requests(handle);
        self.shared.lane.flush(handle);
        phone.session.close();
        self.shared.lane.forget(handle);
        tracing::debug!(handle, "phone closed");
    }

    /// Waits for the driver to complete the phone's requests; past the deadline the
    /// host completes them itself (a late completion from the driver finds nothing).
    fn wait_for_requests(&self, handle: PhoneHandle) {
        let deadline = Instant::now() + CLOSE_PATIENCE;
        let mut requests = lock(&self.shared.requests);
        // Counted under the lock, before looking: a removal after this wakes us.
        self.shared.close_waiters.fetch_add(1, Ordering::AcqRel);
        let _counted = WaiterGuard(&self.shared.close_waiters);
        loop {
            let left = requests.of_phone(handle);
            if left.is_empty() {
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
    fn finish(&self, token: Token, result: Result<(), PhoneError>) {
        let removed = lock(&self.shared.requests).remove(token);
        self.requests_removed();
        if let Some(request) = removed {
            self.deliver_completion(request.request_id, request.phone, result);
        }
    }

    fn deliver_completion(&self, request_id: u32, phone: u64, result: Result<(), PhoneError>) {
        let Some(proc_) = self.completion_proc() else {
            return;
        };
        let result = result.err().map_or(0, PhoneError::to_long);
        self.shared.lane.submit(Delivery::Completion {
            proc_,
            request_id,
            result,
            phone,
        });
    }

    /// `TSPI_phoneSetData`.
    pub fn set_data(&self, request_id: u32, handle: PhoneHandle, data_id: u32, data: &[u8]) -> i32 {
        let phone = match self.phone(handle) {
            Ok(phone) => phone,
            Err(error) => return error.to_long(),
        };
        if data_id as usize >= phone.caps.set_data.len() {
            return PhoneError::InvalDataId.to_long();
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
        let _span =
            tracing::debug_span!("request", request_id, phone = phone.handle, op = op.name())
                .entered();
        // DevSpecific still reaches a driver whose device is away: a vendor command
        // (a reset, a reconnect) may be exactly what is needed then.
        let exempt = matches!(op, Op::DevSpecific { .. });
        if phone.is_disconnected() && !exempt {
            return PhoneError::InvalPhoneState.to_long();
        }
        if !self.is_initialised() {
            return PhoneError::OperationFailed.to_long();
        }
        let token =
            match lock(&self.shared.requests).insert(request_id, phone.handle, Stage::InCall) {
                Ok(token) => token,
                Err(reason) => {
                    tracing::warn!(?reason, "request id refused");
                    return PhoneError::OperationFailed.to_long();
                }
            };
        if phone.serial {
            let mut queue = phone.queue();
            if queue.busy {
                lock(&self.shared.requests).set_stage(token, Stage::Queued);
                queue.waiting.push_back((token, op.into_owned()));
                return request_id as i32;
            }
            queue.busy = true;
        }
        op.call(&phone.session, token.to_u64());
        let outcome = {
            let mut requests = lock(&self.shared.requests);
            match requests.get(token).map(|r| r.stage) {
                Some(Stage::CompletedInCall(result)) => {
                    requests.remove(token);
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
    fn start_next(&self, phone: &Arc<Phone>) {
        if !phone.serial {
            return;
        }
        loop {
            let next = {
                let mut queue = phone.queue();
                let next = queue.waiting.pop_front();
                queue.busy = next.is_some();
                next
            };
            let Some((token, op)) = next else { return };
            lock(&self.shared.requests).set_stage(token, Stage::InCall);
            op.call(&phone.session, token.to_u64());
            let stage = {
                let mut requests = lock(&self.shared.requests);
                let stage = requests.stage(token);
                if matches!(stage, Some(Stage::InCall)) {
                    requests.set_stage(token, Stage::Running);
                    self.arm_deadline(phone, token);
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

    /// A completion from a driver.
    /// Starts the clock of an outstanding request.
    fn arm_deadline(&self, phone: &Phone, token: Token) {
        self.arm(Instant::now() + phone.limits.request, token.to_u64());
    }

    /// Arms the host's one timer. Tokens with the top bit set are synthesised
    /// button releases; the others are request deadlines.
    fn arm(&self, at: Instant, token: u64) {
        let shared = Arc::downgrade(&self.shared);
        self.shared.timer.arm(at, token, move |token| {
            if let Some(shared) = shared.upgrade() {
                let provider = Provider { shared };
                if token & BUTTON_UP_BIT != 0 {
                    provider.synthesised_button_up(token);
                } else {
                    provider.expire(Token::from_u64(token));
                }
            }
        });
    }

    /// A button went down: unless the device reports its release soon, the host
    /// makes one up (TAPI requires an UP for every DOWN).
    fn expect_button_up(&self, phone: &Phone, id: u32, mode: tsp_core::ButtonModes) {
        let key = {
            let mut pending = lock(&self.shared.buttons_down);
            pending.next = pending.next.wrapping_add(1) & !BUTTON_UP_BIT;
            let key = pending.next;
            pending
                .down
                .retain(|d| !(d.handle == phone.handle && d.id == id));
            pending.down.push(ButtonDown {
                key,
                handle: phone.handle,
                id,
                mode,
            });
            key
        };
        self.arm(Instant::now() + BUTTON_UP_AFTER, key | BUTTON_UP_BIT);
    }

    /// The device reported the release itself: nothing to make up.
    fn button_released(&self, handle: PhoneHandle, id: u32) {
        lock(&self.shared.buttons_down)
            .down
            .retain(|d| !(d.handle == handle && d.id == id));
    }

    fn synthesised_button_up(&self, token: u64) {
        let key = token & !BUTTON_UP_BIT;
        let down = {
            let mut pending = lock(&self.shared.buttons_down);
            let index = pending.down.iter().position(|d| d.key == key);
            index.map(|i| pending.down.remove(i))
        };
        if let Some(down) = down {
            tracing::debug!(handle = down.handle, id = down.id, "button release made up");
            let up = PhoneEvent::Button {
                id: down.id,
                mode: down.mode,
                state: tsp_core::ButtonStates::UP,
            };
            self.phone_event(down.handle, up);
        }
    }

    /// A request past its deadline completes with an error; its late completion
    /// from the driver finds nothing.
    fn expire(&self, token: Token) {
        let request = {
            let mut requests = lock(&self.shared.requests);
            if requests.stage(token) != Some(Stage::Running) {
                return;
            }
            requests.remove(token)
        };
        self.requests_removed();
        let Some(request) = request else { return };
        tracing::warn!(request_id = request.request_id, "request past its deadline");
        self.deliver_completion(
            request.request_id,
            request.phone,
            Err(PhoneError::OperationFailed),
        );
        if let Ok(phone) = self.phone(request.phone) {
            self.missed(&phone);
            self.start_next(&phone);
        }
    }

    /// Counts a missed deadline; enough in a row mark the device disconnected.
    fn missed(&self, phone: &Arc<Phone>) {
        let misses = phone.misses.fetch_add(1, Ordering::AcqRel) + 1;
        if misses >= phone.limits.misses && !phone.is_disconnected() {
            tracing::warn!(
                handle = phone.handle,
                misses,
                "the device keeps missing deadlines: disconnected"
            );
            self.phone_event(phone.handle, PhoneEvent::Disconnected);
        }
    }

    /// Runs a synchronous driver call off TAPI's thread, within the phone's
    /// deadline: past it, `OPERATIONFAILED` (the call goes on and is forgotten).
    pub(crate) fn sync_call<T: Send + 'static>(
        &self,
        phone: &Arc<Phone>,
        call: impl FnOnce(&Phone) -> Result<T, PhoneError> + Send + 'static,
    ) -> Result<T, PhoneError> {
        let owned = Arc::clone(phone);
        match self
            .shared
            .executor
            .call(phone.limits.call, move || call(&owned))
        {
            Some(result) => {
                phone.misses.store(0, Ordering::Release);
                result
            }
            None => {
                tracing::warn!(handle = phone.handle, "driver call past its deadline");
                self.missed(phone);
                Err(PhoneError::OperationFailed)
            }
        }
    }

    fn completed(&self, token: Token, result: Result<(), PhoneError>) {
        let request = {
            let mut requests = lock(&self.shared.requests);
            let Some(request) = requests.get(token) else {
                return;
            };
            match request.stage {
                Stage::InCall => {
                    requests.set_stage(token, Stage::CompletedInCall(result));
                    return;
                }
                Stage::Running => {
                    requests.remove(token);
                    request
                }
                Stage::Queued | Stage::CompletedInCall(_) => return,
            }
        };
        self.requests_removed();
        self.deliver_completion(request.request_id, request.phone, result);
        if let Ok(phone) = self.phone(request.phone) {
            phone.misses.store(0, Ordering::Release);
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
        if data_id as usize >= phone.caps.get_data.len() {
            return Err(PhoneError::InvalDataId);
        }
        if phone.is_disconnected() {
            return Err(PhoneError::InvalPhoneState);
        }
        let size = buf.len();
        let data = self.sync_call(&phone, move |phone| {
            let mut data = vec![0u8; size];
            phone.session.get_data(data_id, &mut data).map(|()| data)
        })?;
        buf.copy_from_slice(&data);
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
        let button_states =
            tsp_core::ButtonStates::from_bits(button_states).ok_or(PhoneError::InvalButtonState)?;
        if !modes.is_empty() && button_states.is_empty() {
            return Err(PhoneError::InvalButtonState);
        }
        *phone.filter.lock().unwrap_or_else(|e| e.into_inner()) = Filter {
            states: states | PhoneStates::REINIT,
            button_modes: modes,
            button_states: if modes.is_empty() {
                tsp_core::ButtonStates::empty()
            } else {
                button_states
            },
        };
        Ok(())
    }

    /// An event from a driver for the phone opened as `handle`.
    pub(crate) fn phone_event(&self, handle: PhoneHandle, event: PhoneEvent) {
        let Ok(phone) = self.phone(handle) else {
            return;
        };
        match event {
            PhoneEvent::Disconnected => self.set_presence(&phone, false),
            PhoneEvent::Connected => self.set_presence(&phone, true),
            PhoneEvent::Removed => {
                self.remove_device(phone.device);
                return;
            }
            PhoneEvent::Button { id, mode, state }
                if state.contains(tsp_core::ButtonStates::DOWN) =>
            {
                self.expect_button_up(&phone, id, mode);
            }
            PhoneEvent::Button { id, state, .. } if state.contains(tsp_core::ButtonStates::UP) => {
                self.button_released(handle, id);
            }
            _ => {}
        }
        let Some((msg, params)) = message_for(&phone.filter(), event) else {
            return;
        };
        self.shared.lane.submit(Delivery::Event {
            proc_: phone.event_proc,
            ht_phone: phone.ht_phone,
            msg: msg.code(),
            params,
            phone: handle,
        });
    }

    /// A device that went away fails what is outstanding and refuses new requests
    /// with `INVALPHONESTATE`; the phone stays open.
    pub(crate) fn set_presence(&self, phone: &Arc<Phone>, connected: bool) {
        phone.disconnected.store(!connected, Ordering::Release);
        if connected {
            return;
        }
        let running: Vec<Token> = {
            let requests = lock(&self.shared.requests);
            let mut all = requests.of_phone(phone.handle);
            all.retain(|t| requests.stage(*t) == Some(Stage::Running));
            all
        };
        for token in running {
            self.finish(token, Err(PhoneError::OperationFailed));
        }
    }
}

/// Timer tokens with this bit are button releases to make up.
const BUTTON_UP_BIT: u64 = 1 << 63;
/// How long after a press without a release the host makes one up.
const BUTTON_UP_AFTER: Duration = Duration::from_millis(250);

/// A button down whose release has not been seen.
#[derive(Debug, Clone, Copy)]
struct ButtonDown {
    key: u64,
    handle: PhoneHandle,
    id: u32,
    mode: tsp_core::ButtonModes,
}

#[derive(Debug, Default)]
pub(crate) struct ButtonsDown {
    next: u64,
    down: Vec<ButtonDown>,
}

/// Uncounts a close waiting for requests, however it leaves.
struct WaiterGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The TAPI message for a driver event, if the phone's filter lets it through.
fn message_for(filter: &Filter, event: PhoneEvent) -> Option<(PhoneMessage, [usize; 3])> {
    let state = |bit: PhoneStates, detail: u32| {
        filter.states.contains(bit).then_some((
            PhoneMessage::State,
            [bit.bits() as usize, detail as usize, 0],
        ))
    };
    match event {
        PhoneEvent::Button {
            id,
            mode,
            state: button,
        } => (filter.button_modes.intersects(mode) && filter.button_states.intersects(button))
            .then_some((
                PhoneMessage::Button,
                [id as usize, mode.bits() as usize, button.bits() as usize],
            )),
        PhoneEvent::HookSwitch { device, mode } => {
            state(PhoneStates::hookswitch_of(device), mode.code())
        }
        PhoneEvent::Display => state(PhoneStates::DISPLAY, 0),
        PhoneEvent::Ring { mode, .. } => state(PhoneStates::RINGMODE, mode),
        PhoneEvent::Lamp { id, .. } => state(PhoneStates::LAMP, id),
        PhoneEvent::Volume { device, .. } => state(volume_state(device), 0),
        PhoneEvent::Gain { device, .. } => state(gain_state(device), 0),
        PhoneEvent::CapsChanged => state(PhoneStates::CAPSCHANGE, 0),
        PhoneEvent::Disconnected => state(PhoneStates::DISCONNECTED, 0),
        PhoneEvent::Connected => state(PhoneStates::CONNECTED, 0),
        PhoneEvent::Removed => state(PhoneStates::REMOVED, 0),
        PhoneEvent::DevSpecific([a, b, c]) => Some((
            PhoneMessage::DevSpecific,
            [a as usize, b as usize, c as usize],
        )),
    }
}

fn volume_state(device: tsp_core::HookSwitchDevice) -> PhoneStates {
    match device {
        tsp_core::HookSwitchDevice::Handset => PhoneStates::HANDSETVOLUME,
        tsp_core::HookSwitchDevice::Speaker => PhoneStates::SPEAKERVOLUME,
        tsp_core::HookSwitchDevice::Headset => PhoneStates::HEADSETVOLUME,
    }
}

fn gain_state(device: tsp_core::HookSwitchDevice) -> PhoneStates {
    match device {
        tsp_core::HookSwitchDevice::Handset => PhoneStates::HANDSETGAIN,
        tsp_core::HookSwitchDevice::Speaker => PhoneStates::SPEAKERGAIN,
        tsp_core::HookSwitchDevice::Headset => PhoneStates::HEADSETGAIN,
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
