//! The provider's lifecycle: version negotiation, the configuration and the
//! drivers it names started (`TSPI_providerEnumDevices`), init and shutdown,
//! and the device table.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tsp_core::{LineError, PhoneError, TspiVersion, VersionRange, Written};
use tsp_plugin_sdk::host::{HostLink, Plugin};
use tsp_plugin_sdk::isolation::Isolation;

use crate::config::{Config, ConfigError};
use crate::tapi::{CompletionProc, EventProc};

use super::{ConfiguredDriver, Device, Provider, ProviderLink, lock};

impl Provider {
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
    pub(super) fn ensure_enumerated(&self) {
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
    pub(super) fn start_drivers(
        &self,
    ) -> (
        Result<Config, ConfigError>,
        Vec<Arc<ConfiguredDriver>>,
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
            let plugin = if config.isolate.contains(name) {
                self.isolated_plugin(name, &config)
            } else {
                self.plugin(name)
            };
            let Some(plugin) = plugin else {
                continue;
            };
            let link: Arc<dyn HostLink> = Arc::new(ProviderLink {
                shared: Arc::downgrade(&self.shared),
            });
            let settings = config.settings_text(name);
            match plugin.start(&settings.text, link) {
                Ok(loaded) => {
                    let concurrent = loaded.concurrent_sessions();
                    let driver = Arc::new(ConfiguredDriver {
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
    pub(super) fn plugin(&self, name: &str) -> Option<Arc<Plugin>> {
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
                    tracing::error!(driver = name, "{}", error.chain());
                    return None;
                }
            }
        };
        let plugin = Arc::new(plugin);
        plugins.push(Arc::clone(&plugin));
        Some(plugin)
    }

    /// Driver `name` to run in a `tsp-driver-host` process: its manifest is
    /// `drivers/NAME.toml` in the plugin folder, as for a plugin loaded here
    /// (a driver linked into the application has none: it cannot be isolated).
    /// Made anew at each start: nothing of it is loaded in this process.
    fn isolated_plugin(&self, name: &str, config: &Config) -> Option<Arc<Plugin>> {
        let Some(folder) = &self.shared.setup.plugin_folder else {
            tracing::error!(
                driver = name,
                "the driver is in `isolate` but there is no plugin folder: an isolated driver needs its plugin file, drivers/{name}.toml"
            );
            return None;
        };
        let manifest = folder.join("drivers").join(format!("{name}.toml"));
        let program = config
            .isolation
            .program
            .clone()
            .unwrap_or_else(|| folder.join(tsp_plugin_sdk::isolation::program_file_name()));
        let limits = config.deadlines.limits(name);
        let isolation = Isolation {
            heartbeat: limits.call,
            hang: Duration::from_millis(config.isolation.hang_ms),
            start_timeout: limits.request,
            restarts: config.isolation.restarts,
            window: Duration::from_millis(config.isolation.window_ms),
            backoff: Duration::from_millis(config.isolation.backoff_ms),
            run_as: config.isolation.uid.zip(config.isolation.gid),
            ..Isolation::new(program, manifest)
        };
        match Plugin::isolated(isolation) {
            Ok(plugin) => Some(Arc::new(plugin)),
            Err(error) => {
                tracing::error!(driver = name, "{}", error.chain());
                None
            }
        }
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
        state.init_count = 1;
        self.shared.timer.open();
        self.shared.executor.open();
        self.shared.lane.start(completion);
        // Last: a request accepted once this is set finds the lane delivering.
        self.shared.initialised.store(true, Ordering::Release);
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
            state.init_count = 0;
            self.shared.initialised.store(false, Ordering::Release);
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
        // A flag (the completion procedure is the lane's): read on every
        // request, it must cost no lock.
        self.shared.initialised.load(Ordering::Acquire)
    }

    /// The phone devices, in device order (ids from the base given at init).
    pub fn devices(&self) -> Vec<Device> {
        self.state().devices.clone()
    }

    /// The index of absolute device id `device_id`, or `BADDEVICEID`.
    pub(crate) fn device_index(&self, device_id: u32) -> Result<(usize, Device), PhoneError> {
        let state = self.state();
        let is_it = |d: &Device| d.present && d.id == Some(device_id);
        // A phone enumerated at init has id base + index: found at once (a
        // scan per open made opening 100,000 phones quadratic). One that
        // arrived later has whatever id TAPI gave it: searched for.
        let direct = device_id
            .checked_sub(state.phone_base)
            .map(|index| index as usize)
            .filter(|&index| state.devices.get(index).is_some_and(is_it));
        direct
            .or_else(|| state.devices.iter().position(is_it))
            .map(|index| (index, state.devices[index].clone()))
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
}

/// The devices `driver` lists, as entries of the device table (`index`: the
/// driver's place in the driver list).
fn devices_of(driver: &ConfiguredDriver, index: usize) -> Vec<Device> {
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
