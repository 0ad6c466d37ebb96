//! Loading a plugin: its manifest, the trust checks, the SDK version, the
//! library and its root module (in whichever layout it was built with), and
//! starting it.

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use abi_stable::library::{LibraryError, lib_header_from_path};
use abi_stable::std_types::{RResult, RStr};

use super::driver::{LoadedDriver, from_ffi};
use super::link::{HostLink, new_link};
use crate::abi::{
    DriverModuleRef, FfiDriverBox, FfiError, FfiResult, HostLinkBox, LogBridgeFn, StartFn,
    clone_link, layout1,
};
use crate::error::DriverError;
use crate::manifest::{Manifest, ManifestError};
use crate::trust::{Kind, UntrustedError, check_trusted};

/// Why a plugin was refused. Its `Display` is one line; the causes behind it
/// (the system's error, abi_stable's) are its [`source`](Error::source)s, and
/// [`LoadError::chain`] is all of them on one line, for a log or a report.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest is missing, broken or names no library.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Another user could have written the drivers folder, the manifest or the
    /// library (see [`crate::trust`]); nothing of the plugin was loaded.
    #[error(transparent)]
    Untrusted(#[from] UntrustedError),
    /// The manifest says the plugin needs an SDK this host cannot offer.
    #[error("plugin {}: built with tsp-plugin-sdk {plugin_sdk}, this host has {host_sdk}: {advice}", file.display())]
    SdkVersion {
        /// The library.
        file: PathBuf,
        /// The SDK version the plugin was built with.
        plugin_sdk: String,
        /// The host's SDK version.
        host_sdk: &'static str,
        /// What to do.
        advice: &'static str,
    },
    /// The library's interface does not match this host's.
    #[error("plugin {}: built with tsp-plugin-sdk {plugin_sdk}, this host has {host_sdk}; its interface differs: {difference}", file.display())]
    Abi {
        /// The library.
        file: PathBuf,
        /// The SDK version the plugin was built with (from its manifest).
        plugin_sdk: String,
        /// The host's SDK version.
        host_sdk: &'static str,
        /// The first difference abi_stable found, on one line.
        difference: String,
        /// What abi_stable found: one line, and its whole report with `{:#}`.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The library cannot be loaded at all.
    #[error("plugin {}: cannot load the library", file.display())]
    Open {
        /// The library.
        file: PathBuf,
        /// Why: the system's error (on Windows a [`std::io::Error`] from
        /// `LoadLibraryExW`), or the loader's with the system's as its source.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The library is not the plugin its manifest describes.
    #[error("plugin {}: the manifest says {field} `{manifest}`, the library says `{library}`: rebuild the plugin and its manifest together", file.display())]
    Mismatch {
        /// The library.
        file: PathBuf,
        /// Which field differs.
        field: &'static str,
        /// What the manifest says.
        manifest: String,
        /// What the library says.
        library: String,
    },
}

impl LoadError {
    /// This error and each of its causes, joined by `: ` on one line: the
    /// whole story, where `Display` gives only the first part. A cause whose
    /// words are already there (a `Display` that includes its source) is not
    /// repeated.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = self.source();
        while let Some(error) = cause {
            let words = error.to_string();
            if !words.is_empty() && !text.contains(&words) {
                text.push_str(": ");
                text.push_str(&words);
            }
            cause = error.source();
        }
        text
    }
}

/// What abi_stable said of a library it would not load, as an error of this
/// crate's, so that abi_stable stays out of the public API. `Display` is one
/// line (`{:#}`: abi_stable's whole report); when the system refused to open
/// the library, the system's error is the source.
#[derive(Debug)]
struct LoaderError(LibraryError);

impl fmt::Display for LoaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return write!(f, "{}", self.0.to_string().trim());
        }
        match &self.0 {
            // The system's words name the file and the reason.
            LibraryError::OpenError { err, .. } | LibraryError::GetSymbolError { err, .. } => {
                write!(f, "{err}")
            }
            LibraryError::AbiInstability(_) => f.write_str(
                "abi_stable's layout check failed (its whole report is in the debug log)",
            ),
            LibraryError::IncompatibleVersionNumber {
                expected_version,
                actual_version,
                ..
            } => write!(
                f,
                "abi_stable's version check: this host has {expected_version}, the library {actual_version}"
            ),
            other => f.write_str(&first_line(&other.to_string())),
        }
    }
}

impl Error for LoaderError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.0 {
            LibraryError::OpenError { err, .. } | LibraryError::GetSymbolError { err, .. } => {
                err.source()
            }
            _ => None,
        }
    }
}

/// A plugin's root module, in whichever layout it was built with; or, for a
/// driver run in a driver host, what its manifest says of it.
#[derive(Clone)]
enum Module {
    Current(DriverModuleRef),
    Layout1(layout1::DriverModuleRef),
    #[cfg(feature = "isolation")]
    Isolated(Box<Isolated>),
}

/// A driver run in a `tsp-driver-host` process: its manifest's words (the
/// library is loaded there, not here) and how it runs.
#[cfg(feature = "isolation")]
#[derive(Clone)]
struct Isolated {
    name: &'static str,
    version: &'static str,
    sdk_version: &'static str,
    isolation: crate::isolation::Isolation,
}

impl Module {
    fn name(&self) -> &'static str {
        match self {
            Self::Current(m) => m.name().as_str(),
            Self::Layout1(m) => m.name().as_str(),
            #[cfg(feature = "isolation")]
            Self::Isolated(i) => i.name,
        }
    }

    fn version(&self) -> &'static str {
        match self {
            Self::Current(m) => m.version().as_str(),
            Self::Layout1(m) => m.version().as_str(),
            #[cfg(feature = "isolation")]
            Self::Isolated(i) => i.version,
        }
    }

    fn sdk_version(&self) -> &'static str {
        match self {
            Self::Current(m) => m.sdk_version().as_str(),
            Self::Layout1(m) => m.sdk_version().as_str(),
            #[cfg(feature = "isolation")]
            Self::Isolated(i) => i.sdk_version,
        }
    }

    fn start(&self) -> Option<StartFn> {
        match self {
            Self::Current(m) => Some(m.start()),
            Self::Layout1(m) => Some(m.start()),
            #[cfg(feature = "isolation")]
            Self::Isolated(_) => None,
        }
    }

    fn log_bridge(&self) -> Option<LogBridgeFn> {
        match self {
            Self::Current(m) => current_log_bridge(*m),
            _ => None,
        }
    }
}

#[cfg(not(feature = "__fixture_older_sdk"))]
fn current_log_bridge(module: DriverModuleRef) -> Option<LogBridgeFn> {
    module.install_log_bridge()
}

// An SDK built as the older fixture has no such entry point at all.
#[cfg(feature = "__fixture_older_sdk")]
fn current_log_bridge(_: DriverModuleRef) -> Option<LogBridgeFn> {
    None
}

/// A driver plugin, loaded and checked but not started.
pub struct Plugin {
    module: Module,
    manifest: Option<Manifest>,
    library: Option<PathBuf>,
    dynamic: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name())
            .field("library", &self.library)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Loads the plugin whose manifest is at `manifest_path` (`drivers/NAME.toml`):
    /// reads the manifest (which must describe driver NAME), checks that no other
    /// user could have written the drivers folder, the manifest or the library,
    /// checks the SDK version the manifest declares, loads the library it names,
    /// checks the library's interface and that it is the driver the manifest
    /// names. Nothing of the library is loaded before those checks: `dlopen` runs
    /// a library's initialisers, so a refusal after it would come too late.
    pub fn load(manifest_path: &Path) -> Result<Self, LoadError> {
        let (manifest, file) = checked_manifest(manifest_path)?;
        let module = load_module(&file, &manifest.sdk_version)?;
        let plugin = Self {
            module,
            manifest: Some(manifest),
            library: Some(file),
            dynamic: true,
        };
        plugin.check_matches_manifest()?;
        tracing::debug!(driver = plugin.name(), file = %plugin.library_display(), "plugin loaded");
        Ok(plugin)
    }

    /// A driver linked into the application (`tsp_driver_module()` of a driver
    /// crate): the same driver table, without a library file.
    pub fn from_static(module: DriverModuleRef) -> Self {
        Self {
            module: Module::Current(module),
            manifest: None,
            library: None,
            dynamic: false,
        }
    }

    /// A driver to run in a `tsp-driver-host` process (`isolation.program`)
    /// rather than here: the manifest at `isolation.manifest` is read and the
    /// same trust and version checks are made as by [`Plugin::load`] (and the
    /// program is checked like a library), but the library is not loaded in
    /// this process. [`Plugin::start`] starts the driver host.
    #[cfg(feature = "isolation")]
    pub fn isolated(isolation: crate::isolation::Isolation) -> Result<Self, LoadError> {
        let (manifest, file) = checked_manifest(&isolation.manifest)?;
        check_trusted(&isolation.program, Kind::DriverHost)?;
        let module = Module::Isolated(Box::new(Isolated {
            name: intern(&manifest.name),
            version: intern(&manifest.version),
            sdk_version: intern(&manifest.sdk_version),
            isolation,
        }));
        Ok(Self {
            module,
            manifest: Some(manifest),
            library: Some(file),
            dynamic: true,
        })
    }

    /// Whether the driver runs in a driver host process.
    pub fn is_isolated(&self) -> bool {
        #[cfg(feature = "isolation")]
        if let Module::Isolated(_) = self.module {
            return true;
        }
        false
    }

    fn library_display(&self) -> String {
        self.library
            .as_ref()
            .map_or_else(|| "(linked in)".to_owned(), |p| p.display().to_string())
    }

    fn check_matches_manifest(&self) -> Result<(), LoadError> {
        let (Some(manifest), Some(file)) = (&self.manifest, &self.library) else {
            return Ok(());
        };
        let pairs = [
            ("name", &manifest.name, self.name()),
            ("version", &manifest.version, self.version()),
            ("sdk_version", &manifest.sdk_version, self.sdk_version()),
        ];
        for (field, in_manifest, in_library) in pairs {
            if in_manifest != in_library {
                return Err(LoadError::Mismatch {
                    file: file.clone(),
                    field,
                    manifest: in_manifest.clone(),
                    library: in_library.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The driver's name, as the library reports it.
    pub fn name(&self) -> &'static str {
        self.module.name()
    }

    /// The driver's version, as the library reports it.
    pub fn version(&self) -> &'static str {
        self.module.version()
    }

    /// The SDK version the driver was built with.
    pub fn sdk_version(&self) -> &'static str {
        self.module.sdk_version()
    }

    /// The manifest, for a loaded plugin.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// The library file, for a loaded plugin.
    pub fn library(&self) -> Option<&Path> {
        self.library.as_deref()
    }

    /// Whether the plugin has the log bridge (SDKs before it had none).
    pub fn has_log_bridge(&self) -> bool {
        self.module.log_bridge().is_some()
    }

    /// Starts the driver with its settings (TOML text); what it reports goes to
    /// `host`. The driver's log lines go to this process's `tracing`
    /// subscriber, with the driver's name.
    pub fn start(
        &self,
        settings: &str,
        host: Arc<dyn HostLink>,
    ) -> Result<LoadedDriver, DriverError> {
        let link = new_link(self.name(), host);
        #[cfg(feature = "isolation")]
        if let Module::Isolated(isolated) = &self.module {
            let driver = crate::isolation::proxy::start(
                isolated.name,
                &isolated.isolation,
                settings,
                max_log_level(),
                clone_link(&link),
            )?;
            return Ok(LoadedDriver::new(self.name(), driver, link));
        }
        let driver = from_ffi(self.start_raw(settings, &link))?;
        Ok(LoadedDriver::new(self.name(), driver, link))
    }

    /// Starts the driver in this process with `link` as its host link: the
    /// log bridge first (for a loaded library), then the driver's `start`.
    pub(crate) fn start_raw(&self, settings: &str, link: &HostLinkBox) -> FfiResult<FfiDriverBox> {
        if self.dynamic {
            match self.module.log_bridge() {
                Some(install) => install(clone_link(link), max_log_level()),
                None => tracing::info!(
                    driver = self.name(),
                    "plugin predates the log bridge: its log lines are not shown"
                ),
            }
        }
        match self.module.start() {
            Some(start) => start(RStr::from_str(settings), clone_link(link)),
            None => RResult::RErr(FfiError {
                code: tsp_core::PhoneError::OperationFailed.code(),
                message: "the driver runs in a driver host, not here".into(),
            }),
        }
    }
}

/// `text` for the life of the process, once per distinct text (driver names
/// and versions: a handful).
#[cfg(feature = "isolation")]
fn intern(text: &str) -> &'static str {
    static TEXTS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut texts = TEXTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = texts.iter().find(|t| **t == text) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
    texts.push(leaked);
    leaked
}

fn max_log_level() -> u8 {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::OFF => 0,
        LevelFilter::ERROR => 1,
        LevelFilter::WARN => 2,
        LevelFilter::INFO => 3,
        LevelFilter::DEBUG => 4,
        _ => 5,
    }
}

/// The manifest at `manifest_path` and the library it names, once the
/// drivers folder, the manifest and the library passed the trust checks and
/// the SDK version it declares is one this host loads. The manifest is text,
/// read first so that a missing or broken one is reported as such; nothing it
/// says is acted on before the checks.
fn checked_manifest(manifest_path: &Path) -> Result<(Manifest, PathBuf), LoadError> {
    let manifest = Manifest::read(manifest_path)?;
    let file = manifest.library_path(manifest_path)?;
    let folder = match manifest_path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    check_trusted(folder, Kind::DriversFolder)?;
    check_trusted(manifest_path, Kind::PluginManifest)?;
    check_trusted(&file, Kind::PluginLibrary)?;
    check_sdk_version(&file, &manifest.sdk_version)?;
    Ok((manifest, file))
}

/// The host's SDK version compared with the one a plugin declares: the same major
/// version (for 0.x, the same minor), and not newer than the host.
fn check_sdk_version(file: &Path, plugin_sdk: &str) -> Result<(), LoadError> {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
        Some((parts.next()??, parts.next()??, parts.next()??))
    };
    let refuse = |advice| LoadError::SdkVersion {
        file: file.to_owned(),
        plugin_sdk: plugin_sdk.to_owned(),
        host_sdk: crate::SDK_VERSION,
        advice,
    };
    let (Some(plugin), Some(host)) = (parse(plugin_sdk), parse(crate::SDK_VERSION)) else {
        return Err(refuse(
            "`sdk_version` in the manifest is not a version like 0.1.0",
        ));
    };
    let series =
        |(major, minor, _): (u64, u64, u64)| if major == 0 { (0, minor) } else { (major, 0) };
    if series(plugin) != series(host) {
        return Err(refuse(
            "the two are incompatible; rebuild the plugin against this host's SDK",
        ));
    }
    if plugin > host {
        return Err(refuse("the plugin needs a newer host; upgrade the host"));
    }
    Ok(())
}

/// Loads the library and checks its root module against the current layout, then
/// against the older layouts this SDK still accepts; the error reported is the
/// one against the current layout.
fn load_module(file: &Path, plugin_sdk: &str) -> Result<Module, LoadError> {
    #[cfg(windows)]
    crate::winload::preload(file).map_err(|code| {
        tracing::error!(file = %file.display(), code, "LoadLibraryExW failed");
        LoadError::Open {
            file: file.to_owned(),
            source: Box::new(std::io::Error::from_raw_os_error(code as i32)),
        }
    })?;
    let header = lib_header_from_path(file).map_err(|e| LoadError::Open {
        file: file.to_owned(),
        source: Box::new(LoaderError(e)),
    })?;
    let current = match header.init_root_module::<DriverModuleRef>() {
        Ok(module) => return Ok(Module::Current(module)),
        Err(error) => error,
    };
    if let Ok(module) = header.init_root_module::<layout1::DriverModuleRef>() {
        tracing::debug!(file = %file.display(), "plugin uses root-module layout 1 (no log bridge)");
        return Ok(Module::Layout1(module));
    }
    Err(current).map_err(|error: LibraryError| {
        let report = error.to_string();
        tracing::debug!(file = %file.display(), "abi_stable's full report:\n{report}");
        let interface = matches!(
            error,
            LibraryError::AbiInstability(_) | LibraryError::IncompatibleVersionNumber { .. }
        );
        let source = Box::new(LoaderError(error));
        if interface {
            LoadError::Abi {
                file: file.to_owned(),
                plugin_sdk: plugin_sdk.to_owned(),
                host_sdk: crate::SDK_VERSION,
                difference: first_difference(&report),
                source,
            }
        } else {
            LoadError::Open {
                file: file.to_owned(),
                source,
            }
        }
    })
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_owned()
}

/// The useful part of abi_stable's long report: its first `Error:` line with the
/// `Expected:`/`Found:` pair after it, on one line.
pub(crate) fn first_difference(report: &str) -> String {
    let lines: Vec<&str> = report.lines().map(str::trim).collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("Error:")) else {
        return first_line(report);
    };
    let mut parts = vec![lines[start].trim_start_matches("Error:").trim().to_owned()];
    let mut rest = lines[start + 1..].iter().filter(|l| !l.is_empty());
    for label in ["Expected:", "Found:"] {
        match rest.next() {
            Some(line) if line.starts_with(label) => {
                let value = line.trim_start_matches(label).trim();
                let value = if value.is_empty() {
                    rest.next().copied().unwrap_or_default()
                } else {
                    value
                };
                parts.push(format!("{} {value}", label.to_lowercase()));
            }
            _ => break,
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_tells_each_cause_once() {
        let open = LoadError::Open {
            file: "x.so".into(),
            source: Box::new(std::io::Error::from_raw_os_error(2)),
        };
        let words = std::io::Error::from_raw_os_error(2).to_string();
        assert_eq!(open.to_string(), "plugin x.so: cannot load the library");
        assert_eq!(
            open.chain(),
            format!("plugin x.so: cannot load the library: {words}")
        );
        // ManifestError::Read says its source's words itself: not twice.
        let read = LoadError::Manifest(ManifestError::Read {
            path: "x.toml".into(),
            source: std::io::Error::from_raw_os_error(2),
        });
        assert_eq!(read.chain(), read.to_string());
        assert!(read.chain().ends_with(&words), "{}", read.chain());
    }

    #[test]
    fn the_first_difference_is_one_line() {
        let report = "\nLayout of Module:\n  lots\nError:mismatched type\n   Expected:\n     u64\n   Found:\n     u32\nError:other\n";
        assert_eq!(
            first_difference(report),
            "mismatched type, expected: u64, found: u32"
        );
    }

    #[test]
    fn sdk_versions_follow_semver_for_0_x() {
        let file = Path::new("x.so");
        assert!(check_sdk_version(file, crate::SDK_VERSION).is_ok());
        assert!(check_sdk_version(file, "0.0.9").is_err());
        assert!(check_sdk_version(file, "9.0.0").is_err());
        assert!(check_sdk_version(file, "nonsense").is_err());
    }
}
