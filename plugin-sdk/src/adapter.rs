//! The glue `export_driver!` puts inside a plugin: the `abi` trait objects over a
//! vendor's [`Driver`] and [`Session`], with every entry point behind
//! `catch_unwind` (a panic can never cross the plugin boundary; it becomes
//! `OPERATIONFAILED`), and the plugin's half of the log bridge.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RSlice, RSliceMut, RStr, RString, RVec, Tuple2};
use tsp_core::{HookSwitchDevice, HookSwitchDevs, HookSwitchMode, LampModes, PhoneError};

use crate::abi::*;
use crate::codec::{button_info_from_bytes, button_info_to_bytes, caps_to_bytes, status_to_bytes};
use crate::driver::{Completion, Driver, DriverContext, DriverEvents, PhoneEvents, Session};
use crate::error::DriverError;

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// The log target of "the driver panicked" lines, which the host recognises.
pub(crate) const PANIC_TARGET: &str = "tsp_plugin_sdk::panic";

/// Runs `f`, turning a panic into `OPERATIONFAILED` and a log line.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, DriverError>) -> Result<T, DriverError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let text = panic_text(payload.as_ref());
        tracing::error!(target: PANIC_TARGET, entry = what, "driver panicked: {text}");
        Err(DriverError::new(
            PhoneError::OperationFailed,
            format!("driver panicked in {what}: {text}"),
        ))
    })
}

/// Runs an asynchronous entry point; a panic drops the completion, which then
/// completes with `OPERATIONFAILED`.
fn guarded_async(what: &str, f: impl FnOnce()) {
    let _ = guarded(what, || {
        f();
        Ok(())
    });
}

fn to_ffi<T>(result: Result<T, DriverError>) -> FfiResult<T> {
    match result {
        Ok(value) => ROk(value),
        Err(error) => RErr(FfiError {
            code: error.code.code(),
            message: error.message.into(),
        }),
    }
}

fn sync<T>(what: &str, f: impl FnOnce() -> Result<T, PhoneError>) -> FfiResult<T> {
    to_ffi(guarded(what, || f().map_err(DriverError::from)))
}

/// Starts `D` behind the ABI: the body of the root module's `start`.
#[doc(hidden)]
pub fn start_driver<D: Driver>(settings: RStr<'_>, link: HostLinkBox) -> FfiResult<FfiDriverBox> {
    to_ffi(guarded("start", || {
        let context = DriverContext {
            settings: settings.as_str().to_owned(),
            events: DriverEvents::new(link),
        };
        let driver = D::start(context)?;
        Ok(FfiDriver_TO::from_value(DriverAdapter(driver), TD_Opaque))
    }))
}

struct DriverAdapter<D>(D);

impl<D: Driver> FfiDriver for DriverAdapter<D> {
    fn devices(&self) -> FfiResult<RVec<FfiDevice>> {
        to_ffi(guarded("devices", || {
            Ok(self.0.devices()?.iter().map(|d| d.to_ffi()).collect())
        }))
    }

    fn caps(&self, key: RStr<'_>) -> FfiResult<RVec<u8>> {
        to_ffi(guarded("caps", || {
            Ok(caps_to_bytes(&self.0.caps(key.as_str())?).into())
        }))
    }

    fn open(&self, key: RStr<'_>, events: FfiPhoneEvents) -> FfiResult<FfiSessionBox> {
        to_ffi(guarded("open", || {
            let session = self.0.open(key.as_str(), PhoneEvents::from_ffi(events))?;
            Ok(FfiSession_TO::from_value(
                SessionAdapter(session),
                TD_Opaque,
            ))
        }))
    }

    fn concurrent_sessions(&self) -> bool {
        guarded("concurrent_sessions", || Ok(self.0.concurrent_sessions())).unwrap_or(false)
    }

    fn shutdown(&self) {
        let _ = guarded("shutdown", || {
            self.0.shutdown();
            Ok(())
        });
    }
}

struct SessionAdapter(Box<dyn Session>);

/// Converts a code the host validated; a bad one refuses the request.
fn checked<T>(value: Option<T>, error: PhoneError, done: Completion) -> Option<(T, Completion)> {
    match value {
        Some(value) => Some((value, done)),
        None => {
            done.complete(Err(error));
            None
        }
    }
}

impl FfiSession for SessionAdapter {
    fn set_data(&self, data_id: u32, data: RSlice<'_, u8>, done: FfiCompletion) {
        guarded_async("set_data", || {
            self.0
                .set_data(data_id, data.as_slice(), Completion::from_ffi(done));
        });
    }

    fn get_data(&self, data_id: u32, mut buf: RSliceMut<'_, u8>) -> FfiResult<()> {
        sync("get_data", || self.0.get_data(data_id, buf.as_mut_slice()))
    }

    fn set_display(&self, row: u32, column: u32, text: RStr<'_>, done: FfiCompletion) {
        guarded_async("set_display", || {
            self.0
                .set_display(row, column, text.as_str(), Completion::from_ffi(done));
        });
    }

    fn get_display(&self) -> FfiResult<RString> {
        sync("get_display", || self.0.get_display().map(RString::from))
    }

    fn set_hookswitch(&self, devices: u32, mode: u32, done: FfiCompletion) {
        guarded_async("set_hookswitch", || {
            let done = Completion::from_ffi(done);
            let mode = HookSwitchMode::from_code(mode);
            if let Some((mode, done)) = checked(mode, PhoneError::InvalHookSwitchMode, done) {
                let devices = HookSwitchDevs::from_bits_retain(devices);
                self.0.set_hookswitch(devices, mode, done);
            }
        });
    }

    fn get_hookswitch(&self) -> FfiResult<u32> {
        sync("get_hookswitch", || {
            self.0.get_hookswitch().map(|d| d.bits())
        })
    }

    fn set_ring(&self, mode: u32, volume: u32, done: FfiCompletion) {
        guarded_async("set_ring", || {
            self.0.set_ring(mode, volume, Completion::from_ffi(done))
        });
    }

    fn get_ring(&self) -> FfiResult<Tuple2<u32, u32>> {
        sync("get_ring", || self.0.get_ring().map(|(m, v)| Tuple2(m, v)))
    }

    fn set_lamp(&self, id: u32, mode: u32, done: FfiCompletion) {
        guarded_async("set_lamp", || {
            let mode = LampModes::from_bits_retain(mode);
            self.0.set_lamp(id, mode, Completion::from_ffi(done));
        });
    }

    fn get_lamp(&self, id: u32) -> FfiResult<u32> {
        sync("get_lamp", || self.0.get_lamp(id).map(|m| m.bits()))
    }

    fn set_volume(&self, device: u32, volume: u32, done: FfiCompletion) {
        guarded_async("set_volume", || {
            let done = Completion::from_ffi(done);
            let device = HookSwitchDevice::from_code(device);
            if let Some((device, done)) = checked(device, PhoneError::InvalHookSwitchDev, done) {
                self.0.set_volume(device, volume, done);
            }
        });
    }

    fn get_volume(&self, device: u32) -> FfiResult<u32> {
        sync("get_volume", || {
            let device =
                HookSwitchDevice::from_code(device).ok_or(PhoneError::InvalHookSwitchDev)?;
            self.0.get_volume(device)
        })
    }

    fn set_gain(&self, device: u32, gain: u32, done: FfiCompletion) {
        guarded_async("set_gain", || {
            let done = Completion::from_ffi(done);
            let device = HookSwitchDevice::from_code(device);
            if let Some((device, done)) = checked(device, PhoneError::InvalHookSwitchDev, done) {
                self.0.set_gain(device, gain, done);
            }
        });
    }

    fn get_gain(&self, device: u32) -> FfiResult<u32> {
        sync("get_gain", || {
            let device =
                HookSwitchDevice::from_code(device).ok_or(PhoneError::InvalHookSwitchDev)?;
            self.0.get_gain(device)
        })
    }

    fn set_button_info(&self, id: u32, info: RVec<u8>, done: FfiCompletion) {
        guarded_async("set_button_info", || {
            let done = Completion::from_ffi(done);
            let info = button_info_from_bytes(&info);
            if let Some((info, done)) = checked(info, PhoneError::InvalParam, done) {
                self.0.set_button_info(id, &info, done);
            }
        });
    }

    fn get_button_info(&self, id: u32) -> FfiResult<RVec<u8>> {
        sync("get_button_info", || {
            self.0
                .get_button_info(id)
                .map(|i| button_info_to_bytes(&i).into())
        })
    }

    fn get_status(&self) -> FfiResult<RVec<u8>> {
        sync("get_status", || {
            self.0.get_status().map(|s| status_to_bytes(&s).into())
        })
    }

    fn dev_specific(&self, params: RSlice<'_, u8>, done: FfiCompletion) {
        guarded_async("dev_specific", || {
            self.0
                .dev_specific(params.as_slice(), Completion::from_ffi(done));
        });
    }

    fn cancel(&self) {
        guarded_async("cancel", || self.0.cancel());
    }

    fn close(&self) {
        guarded_async("close", || self.0.close());
    }
}

/// The plugin's half of the log bridge: a `tracing` subscriber, installed as the
/// plugin's global default, that hands each event to the host.
pub(crate) mod bridge {
    use std::fmt::Write as _;
    use std::sync::RwLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use tracing::field::{Field, Visit};
    use tracing::level_filters::LevelFilter;
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use crate::abi::{FfiLogRecord, HostLinkBox};

    /// Where log lines go: the host that started the driver last. A library is
    /// loaded once per process, so a driver started again (a second init, a test)
    /// re-targets the bridge rather than installing a second subscriber.
    static TARGET: RwLock<Option<(HostLinkBox, LevelFilter)>> = RwLock::new(None);

    /// The bridge's level number (0 off … 5 trace) as a `tracing` filter.
    pub(crate) fn level_filter(max_level: u8) -> LevelFilter {
        match max_level {
            0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        }
    }

    pub(super) fn retarget(link: HostLinkBox, max_level: u8) {
        let max = level_filter(max_level);
        *TARGET.write().unwrap_or_else(|e| e.into_inner()) = Some((link, max));
        tracing::callsite::rebuild_interest_cache();
    }

    fn max() -> LevelFilter {
        TARGET
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(LevelFilter::OFF, |(_, max)| *max)
    }

    #[derive(Default)]
    pub(super) struct Bridge {
        next_span: AtomicU64,
    }

    /// A `tracing` level as the log bridge numbers it (1 error … 5 trace).
    pub(crate) fn level_number(level: &Level) -> u8 {
        match *level {
            Level::ERROR => 1,
            Level::WARN => 2,
            Level::INFO => 3,
            Level::DEBUG => 4,
            Level::TRACE => 5,
        }
    }

    #[derive(Default)]
    struct Message {
        text: String,
        fields: String,
    }

    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                let _ = write!(self.text, "{value:?}");
            } else {
                let _ = write!(self.fields, " {}={value:?}", field.name());
            }
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.text.push_str(value);
            } else {
                let _ = write!(self.fields, " {}={value}", field.name());
            }
        }
    }

    impl Subscriber for Bridge {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            // Panic reports always cross: the host counts them whatever it logs.
            *metadata.level() <= max() || metadata.target() == super::PANIC_TARGET
        }

        fn max_level_hint(&self) -> Option<LevelFilter> {
            Some(max().max(LevelFilter::ERROR))
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let mut message = Message::default();
            event.record(&mut message);
            message.text.push_str(&message.fields);
            let metadata = event.metadata();
            let target = TARGET.read().unwrap_or_else(|e| e.into_inner());
            if let Some((link, _)) = target.as_ref() {
                link.log(FfiLogRecord {
                    level: level_number(metadata.level()),
                    target: metadata.target().into(),
                    message: message.text.into(),
                });
            }
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }
}

/// The body of the root module's `install_log_bridge`: routes this plugin's
/// `tracing` events, and its panic messages, to the host. Only a dynamically
/// loaded plugin calls it; a statically linked driver already logs into the
/// application's subscriber.
#[doc(hidden)]
pub fn install_log_bridge(link: HostLinkBox, max_level: u8) {
    bridge::retarget(link, max_level);
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if tracing::subscriber::set_global_default(bridge::Bridge::default()).is_ok() {
            std::panic::set_hook(Box::new(|info| {
                tracing::error!("panic: {info}");
            }));
        }
    });
}

/// Makes a type that implements [`Driver`] the plugin's driver: exports the root
/// module the host loads, and `tsp_driver_module()` for applications that link the
/// driver statically.
///
/// ```text
/// tsp_plugin_sdk::export_driver!(MyDriver);
/// ```
#[macro_export]
macro_rules! export_driver {
    ($driver:ty) => {
        /// The root module of this driver, for applications that link it statically.
        pub fn tsp_driver_module() -> $crate::abi::DriverModuleRef {
            use $crate::__private::abi_stable::prefix_type::WithMetadata;

            extern "C" fn start(
                settings: $crate::__private::abi_stable::std_types::RStr<'_>,
                link: $crate::abi::HostLinkBox,
            ) -> $crate::abi::FfiResult<$crate::abi::FfiDriverBox> {
                $crate::adapter::start_driver::<$driver>(settings, link)
            }

            extern "C" fn install_log_bridge(link: $crate::abi::HostLinkBox, max_level: u8) {
                $crate::adapter::install_log_bridge(link, max_level)
            }

            const MODULE: &WithMetadata<$crate::abi::DriverModule> =
                &WithMetadata::new($crate::abi::DriverModule::new(
                    <$driver as $crate::Driver>::NAME,
                    env!("CARGO_PKG_VERSION"),
                    start,
                    install_log_bridge,
                ));
            $crate::abi::DriverModuleRef(MODULE.static_as_prefix())
        }

        // What `abi_stable::export_root_module` generates, spelled with `$crate`
        // paths so that a driver crate needs no `abi_stable` dependency of its own.
        // The symbol name is checked against abi_stable's in this crate's tests.
        #[doc(hidden)]
        #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
        pub static TSP_DRIVER_LIB_HEADER: $crate::__private::abi_stable::library::LibHeader = {
            extern "C" fn erased_module() -> $crate::__private::abi_stable::library::RootModuleResult {
                $crate::__private::abi_stable::library::__call_root_module_loader(tsp_driver_module)
            }
            // SAFETY: `erased_module` returns the root module of type
            // `DriverModuleRef`, the type named here, as abi_stable requires.
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<
                    $crate::abi::DriverModuleRef,
                >(erased_module, $crate::__private::abi_stable::library::CheckTypeLayout::Yes)
            }
        };
    };
}

/// The symbol `export_driver!` exports; must equal abi_stable's.
#[cfg(test)]
pub(crate) const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

#[cfg(test)]
mod tests {
    #[test]
    fn the_exported_symbol_is_the_one_abi_stable_looks_for() {
        assert_eq!(
            super::ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
