//! The plugin's driver: the devices seen (simulated handsets and USB), the
//! presence watcher, and open. The settings and the mapping are in the crate docs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tsp_core::{PhoneCaps, PhoneError};
use tsp_plugin_sdk::{
    DeviceInfo, Driver, DriverContext, DriverError, DriverEvents, PhoneEvents, Session,
};

use crate::candidate::{Candidate, SimulatedDevice, Source, simulated_candidate};
use crate::config::{Settings, SimulatedConfig, settings_error};
use crate::lock;
use crate::session::{HidSession, Live, Presence};
use crate::transport::Transport;

/// A simulated handset, and when it is to come back after `unplug MS`.
#[derive(Debug)]
struct Simulated {
    candidate: Candidate,
    handset: SimulatedDevice,
    replug_at: Option<Instant>,
}

impl Simulated {
    fn new(candidate: Candidate, handset: SimulatedDevice) -> Self {
        Self {
            candidate,
            handset,
            replug_at: None,
        }
    }
}

/// A device seen since the driver started.
#[derive(Debug)]
struct Known {
    candidate: Candidate,
    caps: PhoneCaps,
    present: bool,
    live: Weak<Live>,
}

#[derive(Debug, Default)]
struct Registry {
    known: Vec<Known>,
    /// Arrivals are announced only once the host has listed the devices.
    enumerated: bool,
}

/// What the driver, its sessions and its watcher share.
pub(crate) struct Shared {
    registry: Mutex<Registry>,
    simulated: Mutex<Vec<Simulated>>,
    events: DriverEvents,
    #[cfg(all(unix, feature = "usb"))]
    usb: Option<rusb::Context>,
    /// Whether devices are looked for through the system's HID class.
    #[cfg(all(target_os = "linux", feature = "hidraw"))]
    hidraw: bool,
    /// The settings' `libusb`: devices left to libusb.
    #[cfg(all(target_os = "linux", feature = "hidraw"))]
    libusb: Vec<String>,
    /// Whether devices are looked for through Windows' HID class driver.
    #[cfg(all(windows, feature = "winhid"))]
    winhid: bool,
    stop: Mutex<bool>,
    wake: Condvar,
    /// Set by libusb's hotplug callbacks: scan now.
    changed: Arc<AtomicBool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// Every device present now: the plugged-in simulated handsets, then
    /// those with a hidraw node, then those on USB through libusb (but the
    /// interfaces a hidraw node already stands for).
    fn scan(&self) -> Vec<Candidate> {
        let now = Instant::now();
        let seen: Vec<Candidate> = lock(&self.simulated)
            .iter_mut()
            .filter_map(|sim| {
                if sim.replug_at.is_some_and(|at| at <= now) {
                    sim.replug_at = None;
                    sim.handset.replug();
                }
                sim.handset.is_plugged().then(|| sim.candidate.clone())
            })
            .collect();
        #[cfg(all(windows, feature = "winhid"))]
        let seen: Vec<Candidate> = if self.winhid {
            seen.into_iter()
                .chain(crate::candidate::winhid_candidates())
                .collect()
        } else {
            seen
        };
        #[cfg(all(target_os = "linux", feature = "hidraw"))]
        #[cfg_attr(not(feature = "usb"), allow(unused_variables))]
        let (seen, by_hidraw) = self.with_hidraw(seen);
        #[cfg(all(unix, feature = "usb"))]
        let seen: Vec<Candidate> = match &self.usb {
            Some(context) => {
                let usb = crate::candidate::usb_candidates(context).into_iter();
                #[cfg(all(target_os = "linux", feature = "hidraw"))]
                let usb = usb.filter(|c| {
                    c.source
                        .usb_interface()
                        .is_none_or(|interface| !by_hidraw.contains(&interface))
                });
                seen.into_iter().chain(usb).collect()
            }
            None => seen,
        };
        seen
    }

    /// `seen` and the devices with a hidraw node, and the USB interfaces
    /// those stand for.
    #[cfg(all(target_os = "linux", feature = "hidraw"))]
    fn with_hidraw(&self, mut seen: Vec<Candidate>) -> (Vec<Candidate>, Vec<(String, u8)>) {
        if !self.hidraw {
            return (seen, Vec::new());
        }
        let wants_libusb = |key: &str, vendor, product| {
            crate::config::Settings::wants_libusb(&self.libusb, key, vendor, product)
        };
        let found = crate::candidate::hidraw_candidates(wants_libusb);
        let interfaces = found
            .iter()
            .filter_map(|c| c.source.usb_interface())
            .collect();
        seen.extend(found);
        (seen, interfaces)
    }

    /// Brings the registry up to date with a scan and reports what changed.
    pub(crate) fn refresh(&self) {
        let seen = self.scan();
        let mut back = Vec::new();
        let mut away = Vec::new();
        let mut arrived = Vec::new();
        let announce = {
            let mut registry = lock(&self.registry);
            for known in &mut registry.known {
                let now = seen.iter().find(|c| c.key == known.candidate.key);
                match (known.present, now) {
                    (false, Some(candidate)) => {
                        known.candidate = candidate.clone();
                        known.present = true;
                        back.push((candidate.clone(), known.live.upgrade()));
                    }
                    (true, None) => {
                        known.present = false;
                        away.push(known.candidate.key.clone());
                    }
                    // Present still: where no phone has it open, take what
                    // the scan says now (a device first seen through libusb,
                    // before its hidraw node appeared, moves to the node).
                    (true, Some(candidate)) if known.live.upgrade().is_none() => {
                        if candidate.phone_info != known.candidate.phone_info {
                            known.caps = candidate.caps();
                        }
                        known.candidate = candidate.clone();
                    }
                    _ => {}
                }
            }
            for candidate in seen {
                if registry
                    .known
                    .iter()
                    .all(|k| k.candidate.key != candidate.key)
                {
                    let caps = candidate.caps();
                    arrived.push(DeviceInfo {
                        key: candidate.key.clone(),
                        caps: caps.clone(),
                    });
                    registry.known.push(Known {
                        candidate,
                        caps,
                        present: true,
                        live: Weak::new(),
                    });
                }
            }
            registry.enumerated
        };
        for key in away {
            tracing::info!(device = %key, "disconnected");
            self.events.disconnected(&key);
        }
        for (candidate, live) in back {
            self.reconnect(&candidate, live);
        }
        for info in arrived.iter().filter(|_| announce) {
            tracing::info!(device = %info.key, "arrived");
            self.events.arrived(info);
        }
    }

    /// A device is back: an open phone is attached to it again first, so that it
    /// works by the time TAPI hears of it.
    fn reconnect(&self, candidate: &Candidate, live: Option<Arc<Live>>) {
        if let Some(live) = live {
            let attached = self
                .connect(candidate)
                .and_then(|transport| live.attach(transport));
            if let Err(error) = attached {
                tracing::warn!(device = %candidate.key, %error, "the device is back but cannot be opened; trying again at the next scan");
                self.mark_gone(&candidate.key);
                return;
            }
        }
        tracing::info!(device = %candidate.key, "connected");
        self.events.connected(&candidate.key);
    }

    fn mark_gone(&self, key: &str) -> bool {
        let mut registry = lock(&self.registry);
        let known = registry
            .known
            .iter_mut()
            .find(|k| k.candidate.key == key && k.present);
        known.map(|k| k.present = false).is_some()
    }

    /// Opens the transport of a device.
    pub(crate) fn connect(&self, candidate: &Candidate) -> Result<Arc<dyn Transport>, DriverError> {
        match &candidate.source {
            Source::Simulated(handset) => Ok(handset.transport()),
            #[cfg(all(unix, feature = "usb"))]
            Source::Usb(found) => {
                let context = self.usb.as_ref().ok_or_else(|| {
                    DriverError::new(PhoneError::NoDriver, "USB is turned off in the settings")
                })?;
                let transport = crate::usb::UsbTransport::open(
                    context,
                    found,
                    candidate.layout.uses_report_ids(),
                )
                .map_err(|error| usb_open_error(&candidate.key, error))?;
                Ok(Arc::new(transport))
            }
            #[cfg(all(target_os = "linux", feature = "hidraw"))]
            Source::Hidraw(found) => {
                let transport =
                    crate::hidraw::HidrawTransport::open(found, candidate.layout.uses_report_ids())
                        .map_err(|error| hidraw_open_error(&candidate.key, &error))?;
                Ok(Arc::new(transport))
            }
            #[cfg(all(windows, feature = "winhid"))]
            Source::WinHid(found) => {
                let transport =
                    crate::winhid::WinHidTransport::open(found, candidate.layout.uses_report_ids())
                        .map_err(|error| {
                            let words = crate::transport::chain(&error);
                            DriverError::new(
                                PhoneError::ResourceUnavail,
                                format!("{}: {words}", candidate.key),
                            )
                        })?;
                Ok(Arc::new(transport))
            }
        }
    }

    fn present(&self, key: &str) -> Result<Candidate, DriverError> {
        let registry = lock(&self.registry);
        let known = registry
            .known
            .iter()
            .find(|k| k.candidate.key == key)
            .ok_or_else(|| {
                DriverError::new(PhoneError::NoDriver, format!("no USB HID phone `{key}`"))
            })?;
        if !known.present {
            return Err(DriverError::new(
                PhoneError::ResourceUnavail,
                format!("{key} is unplugged; plug it in and open it again"),
            ));
        }
        Ok(known.candidate.clone())
    }

    fn set_live(&self, key: &str, live: Weak<Live>) {
        if let Some(known) = lock(&self.registry)
            .known
            .iter_mut()
            .find(|k| k.candidate.key == key)
        {
            known.live = live;
        }
    }

    /// Waits a moment for something to happen (a hotplug event, `arrive`,
    /// `unplug`); false once the driver stops.
    fn pause(&self) -> bool {
        #[cfg(all(unix, feature = "usb"))]
        if let Some(context) = &self.usb
            && rusb::has_hotplug()
        {
            // Hotplug callbacks run inside handle_events; they only set `changed`.
            let _ = rusb::UsbContext::handle_events(context, Some(POLL));
            return !*lock(&self.stop);
        }
        let stop = lock(&self.stop);
        let (stop, _) = self
            .wake
            .wait_timeout_while(stop, POLL, |stop| !*stop)
            .unwrap_or_else(|e| e.into_inner());
        !*stop
    }
}

/// What the sessions ask of the driver, through [`Presence`] so that they do not
/// name it.
impl Presence for Shared {
    /// An open device's transfers say it is gone.
    fn gone(&self, key: &str) {
        if self.mark_gone(key) {
            tracing::info!(device = %key, "disconnected");
            self.events.disconnected(key);
        }
    }

    /// Adds a simulated handset (the `arrive` command); the next scan finds it.
    fn add_simulated(&self, config: &SimulatedConfig) -> Result<(), String> {
        let mut simulated = lock(&self.simulated);
        let index = simulated.len();
        let (candidate, handset) = simulated_candidate(config, index)?;
        if simulated.iter().any(|s| s.candidate.key == candidate.key) {
            return Err(format!("a simulated handset `{}` exists", candidate.key));
        }
        simulated.push(Simulated::new(candidate, handset));
        drop(simulated);
        self.changed.store(true, Ordering::Release);
        self.wake.notify_all();
        Ok(())
    }

    /// Unplugs a simulated handset; it comes back `after` later (never without).
    fn unplug_simulated(&self, key: &str, after: Option<Duration>) {
        if let Some(sim) = lock(&self.simulated)
            .iter_mut()
            .find(|s| s.candidate.key == key)
        {
            sim.handset.unplug();
            sim.replug_at = after.map(|after| Instant::now() + after);
        }
        self.changed.store(true, Ordering::Release);
        self.wake.notify_all();
    }
}

/// How often the watcher looks at its stop flag.
const POLL: Duration = Duration::from_millis(100);

#[cfg(all(target_os = "linux", feature = "hidraw"))]
fn hidraw_open_error(key: &str, error: &crate::hidraw::HidrawError) -> DriverError {
    use crate::hidraw::HidrawError;
    let code = match error {
        HidrawError::Access(_) => PhoneError::ResourceUnavail,
        HidrawError::Gone(_) => PhoneError::NoDriver,
        HidrawError::Other(..) => PhoneError::OperationFailed,
    };
    let words = crate::transport::chain(error);
    DriverError::new(code, format!("{key}: {words}"))
}

#[cfg(all(unix, feature = "usb"))]
fn usb_open_error(key: &str, error: crate::usb::UsbError) -> DriverError {
    use crate::usb::UsbError;
    let code = match error {
        UsbError::Busy => PhoneError::Allocated,
        UsbError::Access => PhoneError::ResourceUnavail,
        UsbError::Gone => PhoneError::NoDriver,
        UsbError::Unavailable(_) | UsbError::Other(_) => PhoneError::OperationFailed,
    };
    DriverError::new(code, format!("{key}: {error}"))
}

/// The USB HID driver.
pub struct UsbHidDriver {
    shared: Arc<Shared>,
    watcher: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for UsbHidDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbHidDriver").finish_non_exhaustive()
    }
}

impl Driver for UsbHidDriver {
    const NAME: &'static str = "usbhid";

    fn start(context: DriverContext) -> Result<Self, DriverError> {
        let settings: Settings = tsp_plugin_sdk::settings::parse(&context.settings)
            .map_err(|e| settings_error(e.to_string()))?;
        let simulated = settings
            .simulated
            .iter()
            .enumerate()
            .map(|(index, config)| {
                simulated_candidate(config, index)
                    .map(|(candidate, handset)| Simulated::new(candidate, handset))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(settings_error)?;
        let shared = Arc::new(Shared {
            registry: Mutex::default(),
            simulated: Mutex::new(simulated),
            events: context.events,
            #[cfg(all(unix, feature = "usb"))]
            usb: settings.usb.then(start_usb).flatten(),
            #[cfg(all(target_os = "linux", feature = "hidraw"))]
            hidraw: settings.usb,
            #[cfg(all(target_os = "linux", feature = "hidraw"))]
            libusb: settings.libusb.clone(),
            #[cfg(all(windows, feature = "winhid"))]
            winhid: settings.usb,
            stop: Mutex::new(false),
            wake: Condvar::new(),
            changed: Arc::default(),
        });
        #[cfg(not(any(all(unix, feature = "usb"), all(windows, feature = "winhid"))))]
        if settings.usb {
            tracing::info!(
                "real handsets are served on Linux (features `usb`, `hidraw`) and Windows (feature `winhid`), the defaults; this build has neither"
            );
        }
        shared.refresh();
        let period = Duration::from_millis(settings.scan_ms.max(10));
        let watcher = std::thread::Builder::new()
            .name("tsp-usbhid-watch".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || watch(&shared, period)
            })
            .map_err(|e| {
                DriverError::new(
                    PhoneError::OperationFailed,
                    format!("cannot start the presence watcher: {e}"),
                )
            })?;
        Ok(Self {
            shared,
            watcher: Mutex::new(Some(watcher)),
        })
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, DriverError> {
        self.shared.refresh();
        let mut registry = lock(&self.shared.registry);
        registry.enumerated = true;
        Ok(registry
            .known
            .iter()
            .filter(|k| k.present)
            .map(|k| DeviceInfo {
                key: k.candidate.key.clone(),
                caps: k.caps.clone(),
            })
            .collect())
    }

    fn caps(&self, key: &str) -> Result<PhoneCaps, DriverError> {
        lock(&self.shared.registry)
            .known
            .iter()
            .find(|k| k.candidate.key == key)
            .map(|k| k.caps.clone())
            .ok_or_else(|| DriverError::new(PhoneError::BadDeviceId, format!("no device `{key}`")))
    }

    fn open(&self, key: &str, events: PhoneEvents) -> Result<Box<dyn Session>, DriverError> {
        let candidate = self.shared.present(key)?;
        // The session reaches the driver only as `dyn Presence`.
        let presence: Arc<dyn Presence> = self.shared.clone();
        let live = Live::reserve(&candidate, events, Arc::downgrade(&presence))?;
        let transport = self.shared.connect(&candidate)?;
        live.attach(transport)
            .map_err(|e| DriverError::new(PhoneError::OperationFailed, format!("{key}: {e}")))?;
        self.shared.set_live(key, Arc::downgrade(&live));
        Ok(Box::new(HidSession::new(live, presence)))
    }

    fn concurrent_sessions(&self) -> bool {
        false
    }

    fn shutdown(&self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        if let Some(watcher) = lock(&self.watcher).take() {
            let _ = watcher.join();
        }
    }
}

impl Drop for UsbHidDriver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(all(unix, feature = "usb"))]
fn start_usb() -> Option<rusb::Context> {
    match crate::usb::context() {
        Ok(context) => Some(context),
        Err(error) => {
            tracing::warn!(%error);
            None
        }
    }
}

/// Rescans every `period` until the driver stops, and at once when hotplug (where
/// libusb has it) or a simulated handset says something changed.
fn watch(shared: &Shared, period: Duration) {
    #[cfg(all(unix, feature = "usb"))]
    let _hotplug = shared
        .usb
        .as_ref()
        .and_then(|context| register_hotplug(context, Arc::clone(&shared.changed)));
    let mut last = Instant::now();
    while shared.pause() {
        let changed = shared.changed.swap(false, Ordering::AcqRel);
        let replug_due = lock(&shared.simulated)
            .iter()
            .any(|s| s.replug_at.is_some_and(|at| at <= Instant::now()));
        if changed || replug_due || last.elapsed() >= period {
            shared.refresh();
            last = Instant::now();
        }
    }
}

#[cfg(all(unix, feature = "usb"))]
struct HotplugSignal(Arc<AtomicBool>);

#[cfg(all(unix, feature = "usb"))]
impl rusb::Hotplug<rusb::Context> for HotplugSignal {
    fn device_arrived(&mut self, _: rusb::Device<rusb::Context>) {
        self.0.store(true, Ordering::Release);
    }

    fn device_left(&mut self, _: rusb::Device<rusb::Context>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Registers for hotplug events where libusb supports them.
#[cfg(all(unix, feature = "usb"))]
fn register_hotplug(
    context: &rusb::Context,
    changed: Arc<AtomicBool>,
) -> Option<rusb::Registration<rusb::Context>> {
    if !rusb::has_hotplug() {
        return None;
    }
    rusb::HotplugBuilder::new()
        .enumerate(false)
        .register(context, Box::new(HotplugSignal(changed)))
        .map_err(|error| tracing::info!(%error, "no USB hotplug; scanning instead"))
        .ok()
}
