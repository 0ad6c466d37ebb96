//! The plugin manifest `NAME.toml` that sits beside each plugin library and is read
//! before any of the library's code is loaded.
//!
//! ```toml
//! name = "mock"                       # the driver's name (configuration, logs)
//! version = "0.1.0"                   # the driver's own version
//! sdk_version = "0.1.0"               # the tsp-plugin-sdk it was built with
//! library = "libtsp_driver_mock.so"   # the library, in the same folder
//! devices = ["scriptable mock phones"]  # what it serves, for people
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A plugin manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The driver's name; must equal what the library reports.
    pub name: String,
    /// The driver's version; must equal what the library reports.
    pub version: String,
    /// The SDK version the library was built with.
    pub sdk_version: String,
    /// The library's file name, in the manifest's folder.
    pub library: String,
    /// The devices the driver serves, in words.
    #[serde(default)]
    pub devices: Vec<String>,
}

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("cannot read plugin manifest {}: {source}", path.display())]
    Read {
        /// The manifest.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid manifest.
    #[error("plugin manifest {} is not valid: {problem}", path.display())]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// What is wrong, with line and column.
        problem: String,
    },
    /// The manifest names no library, or one with a path in it.
    #[error("plugin manifest {}: `library` must be a file name in the same folder, not `{library}`", path.display())]
    BadLibraryName {
        /// The manifest.
        path: PathBuf,
        /// What it says.
        library: String,
    },
    /// The library it names is not there.
    #[error("plugin manifest {} names library {}, which does not exist: build the plugin or fix `library`", path.display(), library.display())]
    LibraryMissing {
        /// The manifest.
        path: PathBuf,
        /// The library it names.
        library: PathBuf,
    },
    /// The manifest is not `NAME.toml` for the driver NAME it describes, so it is
    /// not the manifest of the driver looked for under its file name.
    #[error("plugin manifest {} describes driver `{name}`, but it is where driver `{file_name}` is looked for: a manifest is named after its driver; rename it to {name}.toml, or fix `name`", path.display())]
    NotNamedAfterDriver {
        /// The manifest.
        path: PathBuf,
        /// The driver it describes (`name`).
        name: String,
        /// The driver its file name says (`NAME` of `NAME.toml`).
        file_name: String,
    },
    /// The manifest cannot be written.
    #[error("cannot write plugin manifest {}: {source}", path.display())]
    Write {
        /// The manifest.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Manifest {
    /// Reads and checks the manifest at `path`: it parses, it is `NAME.toml` for
    /// the driver NAME it describes (the host finds the driver the configuration
    /// names by that file name), and the library it names lies beside it.
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| ManifestError::Parse {
            path: path.to_owned(),
            problem: e.to_string().trim().replace('\n', " "),
        })?;
        let file_name = path.file_stem().unwrap_or_default().to_string_lossy();
        if file_name != manifest.name.as_str() {
            return Err(ManifestError::NotNamedAfterDriver {
                path: path.to_owned(),
                name: manifest.name,
                file_name: file_name.into_owned(),
            });
        }
        let library = manifest.library_path(path)?;
        if !library.is_file() {
            return Err(ManifestError::LibraryMissing {
                path: path.to_owned(),
                library,
            });
        }
        Ok(manifest)
    }

    /// The library's path, for a manifest at `manifest_path`.
    pub fn library_path(&self, manifest_path: &Path) -> Result<PathBuf, ManifestError> {
        let name = Path::new(&self.library);
        let plain = name.components().count() == 1 && name.file_name().is_some();
        if !plain {
            return Err(ManifestError::BadLibraryName {
                path: manifest_path.to_owned(),
                library: self.library.clone(),
            });
        }
        let folder = manifest_path.parent().unwrap_or(Path::new("."));
        Ok(folder.join(name))
    }

    /// Writes the manifest as `NAME.toml` into `folder`, returning its path.
    pub fn write_to(&self, folder: &Path) -> Result<PathBuf, ManifestError> {
        let path = folder.join(format!("{}.toml", self.name));
        let text = toml::to_string(self).map_err(|e| ManifestError::Parse {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        // Write beside and rename, so a reader never sees half a manifest.
        let partial = partial_path(&path);
        std::fs::write(&partial, text)
            .and_then(|()| set_mode(&partial, FILE_MODE))
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|source| ManifestError::Write {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }
}

/// Why `name` cannot name a driver, if it cannot: a driver's name is a plain
/// name, because the host finds its manifest as `drivers/NAME.toml`. Not empty,
/// not starting with `.`, and without `/`, `\`, `:`, `..` or control
/// characters, so it never leaves the drivers folder.
pub fn plain_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('.') {
        Some("it starts with `.`")
    } else if name.contains("..") {
        Some("it contains `..`")
    } else if name.contains(['/', '\\', ':']) {
        Some("it contains `/`, `\\` or `:`")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

/// A driver's `plugin.toml`, kept in its source folder: what its manifest says
/// that the build cannot know.
///
/// ```toml
/// name = "mock"
/// crate = "tsp-driver-mock"
/// version = "0.1.0"      # must equal the crate's version (conformance checks it)
/// devices = ["scriptable mock phones"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// The driver's name (`Driver::NAME`).
    pub name: String,
    /// The cargo package that builds it.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// The driver's version.
    pub version: String,
    /// The devices it serves, in words.
    #[serde(default)]
    pub devices: Vec<String>,
}

impl PluginSpec {
    /// Reads a `plugin.toml`.
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ManifestError::Parse {
            path: path.to_owned(),
            problem: e.to_string().trim().replace('\n', " "),
        })
    }

    /// The manifest of this plugin built with this SDK on this platform.
    pub fn manifest(&self) -> Manifest {
        self.manifest_on(Platform::HOST)
    }

    /// The manifest of this plugin built with this SDK for `platform`.
    pub fn manifest_on(&self, platform: Platform) -> Manifest {
        Manifest {
            name: self.name.clone(),
            version: self.version.clone(),
            sdk_version: crate::SDK_VERSION.to_owned(),
            library: platform.library_file_name(&self.crate_name),
            devices: self.devices.clone(),
        }
    }

    /// Stages the plugin built in `build_dir` (`target/debug`, …) into `folder`:
    /// its library and its manifest. Returns the manifest's path.
    pub fn stage_from(&self, build_dir: &Path, folder: &Path) -> Result<PathBuf, ManifestError> {
        self.stage_from_on(build_dir, folder, Platform::HOST)
    }

    /// [`PluginSpec::stage_from`] for a plugin built for `platform`.
    pub fn stage_from_on(
        &self,
        build_dir: &Path,
        folder: &Path,
        platform: Platform,
    ) -> Result<PathBuf, ManifestError> {
        let manifest = self.manifest_on(platform);
        let built = build_dir.join(&manifest.library);
        if !built.is_file() {
            return Err(ManifestError::LibraryMissing {
                path: folder.join(format!("{}.toml", self.name)),
                library: built,
            });
        }
        stage(&manifest, &built, folder)
    }
}

/// How a platform names libraries: the build's own, or Windows when cross-built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// Before the crate's name (`lib` on Unix).
    pub dll_prefix: &'static str,
    /// After it (`.so`, `.dll`).
    pub dll_suffix: &'static str,
}

impl Platform {
    /// The platform this code was built for.
    pub const HOST: Self = Self {
        dll_prefix: std::env::consts::DLL_PREFIX,
        dll_suffix: std::env::consts::DLL_SUFFIX,
    };
    /// Windows (`x86_64-pc-windows-gnu`, cross-built).
    pub const WINDOWS: Self = Self {
        dll_prefix: "",
        dll_suffix: ".dll",
    };

    /// The extension of programs on this platform (`.exe` on Windows).
    pub fn exe_suffix(self) -> &'static str {
        if self == Self::WINDOWS {
            ".exe"
        } else {
            std::env::consts::EXE_SUFFIX
        }
    }

    /// The file name of a cdylib crate's library on this platform.
    pub fn library_file_name(self, crate_name: &str) -> String {
        format!(
            "{}{}{}",
            self.dll_prefix,
            crate_name.replace('-', "_"),
            self.dll_suffix
        )
    }
}

/// The file name a cdylib crate's library has on this platform
/// (`libtsp_driver_mock.so`, `tsp_driver_mock.dll`, `libtsp_driver_mock.dylib`).
pub fn library_file_name(crate_name: &str) -> String {
    Platform::HOST.library_file_name(crate_name)
}

/// Lays out a built plugin the way the host finds it: the library copied into
/// `folder`, with its manifest beside it. Used by `cargo xtask` and by tests, so
/// both stage the same layout.
///
/// On Unix the modes are set, not left to the umask: 0755 for the folder and the
/// library, 0644 for the manifest. The host refuses plugin files its group or
/// others may write ([`crate::trust`]), so a umask of 002 would otherwise stage
/// plugins no host loads.
pub fn stage(
    manifest: &Manifest,
    built_library: &Path,
    folder: &Path,
) -> Result<PathBuf, ManifestError> {
    let write_error = |source| ManifestError::Write {
        path: folder.to_owned(),
        source,
    };
    std::fs::create_dir_all(folder)
        .and_then(|()| set_mode(folder, FOLDER_MODE))
        .map_err(write_error)?;
    let target = folder.join(&manifest.library);
    install_library(built_library, &target).map_err(write_error)?;
    manifest.write_to(folder)
}

/// A staged folder's mode (Unix).
const FOLDER_MODE: u32 = 0o755;
/// A staged library's mode (Unix).
const LIBRARY_MODE: u32 = 0o755;
/// A manifest's mode (Unix).
const FILE_MODE: u32 = 0o644;

/// Sets `path`'s permission bits to `mode` on Unix (unless they are already, so
/// a folder someone else owns with the right mode is no error); elsewhere files
/// keep what their folder passes on.
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(path)?.permissions().mode() & 0o7777 == mode {
            return Ok(());
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// A name beside `path` that no other writer, in this process or another, uses.
fn partial_path(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}.{n}.partial", std::process::id()));
    path.with_file_name(name)
}

/// Installs library `from` as `to`: copied unless the target has the same size
/// and is not older, and then written beside and renamed over it, so a library
/// already loaded by a running process is never rewritten under it (that
/// process keeps the file it mapped); either way the library ends with mode
/// 0755 on Unix. Plugins, the TSP library and the driver host program are
/// laid out with it.
///
/// # Errors
/// The system's error reading `from` or writing beside `to`.
pub fn install_library(from: &Path, to: &Path) -> std::io::Result<()> {
    let source = std::fs::metadata(from)?;
    if let Ok(target) = std::fs::metadata(to) {
        let same_size = source.len() == target.len();
        let fresh = match (source.modified(), target.modified()) {
            (Ok(s), Ok(t)) => t >= s,
            _ => false,
        };
        if same_size && fresh {
            return set_mode(to, LIBRARY_MODE);
        }
    }
    // Write beside and rename, so a reader never sees half a library.
    let partial = partial_path(to);
    std::fs::copy(from, &partial)?;
    set_mode(&partial, LIBRARY_MODE)?;
    std::fs::rename(&partial, to)
}
