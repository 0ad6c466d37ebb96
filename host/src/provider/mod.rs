//! The provider: lifecycle, device table, phones and requests, in safe Rust. The C
//! exports (`ffi`) check pointers and call this; tools and tests call it directly.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tsp_core::{PhoneCaps, PhoneError};
use tsp_plugin_sdk::abi::DriverModuleRef;
use tsp_plugin_sdk::host::{HostLink, LoadedDriver, Plugin};
use tsp_plugin_sdk::{DriverEvent, PhoneEvent};

use crate::config::{Config, ConfigError, ConfigSource};
use crate::lane::Lane;
use crate::phone::{PhoneHandle, PhoneTable};
use crate::requests::{Requests, Token};

mod lifecycle;
mod phones;
mod requests;

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

/// A driver of the configuration, started: the SDK's [`LoadedDriver`] with what
/// `tsp-rs.toml` says of it (its name there, its deadlines).
pub(crate) struct ConfiguredDriver {
    pub(crate) name: String,
    limits: crate::config::Limits,
    pub(crate) loaded: LoadedDriver,
    concurrent: bool,
}

#[derive(Default)]
pub(crate) struct State {
    config: Option<Result<Config, ConfigError>>,
    pub(crate) drivers: Vec<Arc<ConfiguredDriver>>,
    pub(crate) devices: Vec<Device>,
    enumerated: bool,
    phone_base: u32,
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
    /// Between init and the last shutdown (TAPI's completion procedure is
    /// the lane's).
    initialised: std::sync::atomic::AtomicBool,
    /// Threads waiting in close for a phone's requests; removals only wake
    /// anyone when there is someone to wake (a futex wake is a system call).
    close_waiters: std::sync::atomic::AtomicUsize,
    /// Completions taken out of the request table and not yet queued in the lane.
    in_transit: std::sync::atomic::AtomicUsize,
    /// How many requests the table holds (its own counter, read without its lock).
    outstanding: Arc<std::sync::atomic::AtomicUsize>,
    /// Requests that ended before their deadline since the timer was last
    /// pruned: each left a job in the timer that will find nothing.
    ended_early: std::sync::atomic::AtomicUsize,
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
        let requests = Requests::default();
        let outstanding = requests.counter();
        Self {
            shared: Arc::new(Shared {
                setup,
                state: Mutex::default(),
                phones: Mutex::default(),
                requests: crate::sync::Mutex::new(requests),
                requests_changed: Default::default(),
                lane: Lane::default(),
                plugins: Mutex::default(),
                starting: Mutex::default(),
                pnp: Mutex::default(),
                timer: Default::default(),
                executor: Default::default(),
                initialised: Default::default(),
                close_waiters: Default::default(),
                in_transit: Default::default(),
                outstanding,
                ended_early: Default::default(),
                next_press: Default::default(),
            }),
        }
    }

    /// This provider's identity among the hosts of the process (for the
    /// driver call a thread is in).
    pub(crate) fn host_id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// The request table.
    pub(crate) fn table(&self) -> crate::sync::MutexGuard<'_, Requests> {
        crate::sync::lock(&self.shared.requests)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }
}

/// The provider's [`HostLink`], what drivers call back into. Holds the
/// provider weakly: the provider owns the drivers, which own their links to it.
struct ProviderLink {
    shared: Weak<Shared>,
}

impl ProviderLink {
    fn provider(&self) -> Option<Provider> {
        self.shared.upgrade().map(|shared| Provider { shared })
    }
}

impl HostLink for ProviderLink {
    fn complete(&self, token: u64, result: Result<(), PhoneError>) {
        if crate::direct::is_direct(token) {
            // On the calling thread (the usual case) this is the whole of it:
            // the provider is not even looked at.
            let in_table = || {
                let provider = self.provider()?;
                let found = provider.table().direct(token);
                Some((provider, found?))
            };
            if let Some(Some((provider, found))) = crate::direct::completed(token, result, in_table)
            {
                provider.completed(found, result);
            }
        } else if let Some(provider) = self.provider() {
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
