//! A plugin whose files another user could have written is refused before any of
//! its code loads (issue 14). `dlopen` runs a library's initialisers, so refusing
//! after loading would be too late: the libraries here are garbage (not a shared
//! object at all), so a refusal that came from the loader would say so instead.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tsp_plugin_sdk::host::{LoadError, Plugin};
use tsp_plugin_sdk::manifest::{Manifest, ManifestError};
use tsp_plugin_sdk::trust::{Kind, check_trusted};

/// A drivers folder in a fresh temporary folder holding plugin `name`, whose
/// library is garbage; every mode set explicitly (0755 folder and library, 0644
/// manifest), whatever the umask.
struct Garbage {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    drivers: PathBuf,
    manifest: PathBuf,
    library: PathBuf,
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn garbage_plugin(name: &str) -> Garbage {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let root = tmp.path().to_owned();
    let drivers = root.join("drivers");
    std::fs::create_dir(&drivers).expect("the drivers folder");
    set_mode(&drivers, 0o755);
    let manifest = Manifest {
        name: name.to_owned(),
        version: "0.1.0".to_owned(),
        sdk_version: tsp_plugin_sdk::SDK_VERSION.to_owned(),
        library: format!("libtsp_driver_{name}.so"),
        devices: Vec::new(),
    };
    let library = drivers.join(&manifest.library);
    std::fs::write(&library, b"\x7fELF? no: garbage, not a shared object\n").expect("library");
    set_mode(&library, 0o755);
    let manifest = manifest.write_to(&drivers).expect("the manifest writes");
    set_mode(&manifest, 0o644);
    Garbage {
        _tmp: tmp,
        root,
        drivers,
        manifest,
        library,
    }
}

/// The refusal of the plugin at `manifest`, which must be the trust check's, of
/// `path` as `what`: a loader's error would mean the check came too late.
fn refusal(manifest: &Path, what: Kind, path: &Path) -> String {
    match Plugin::load(manifest) {
        Err(LoadError::Untrusted(error)) => {
            assert_eq!((error.what, error.path.as_path()), (what, path), "{error}");
            error.to_string()
        }
        Err(other) => panic!("not the trust check's refusal: {other}"),
        Ok(plugin) => panic!("loaded: {plugin:?}"),
    }
}

fn assert_names(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is missing from: {text}");
    }
}

/// The control: a garbage library nobody else could have written gets as far as
/// the loader, which refuses it. Every refusal below therefore came before it.
#[test]
fn a_trusted_garbage_library_reaches_the_loader() {
    let plugin = garbage_plugin("mock");
    let error = Plugin::load(&plugin.manifest).expect_err("garbage does not load");
    assert!(matches!(error, LoadError::Open { .. }), "{error}");
    // The system's reason is the cause, kept as an error, and the chain (what
    // the host logs) tells it after the one-line refusal.
    let cause = std::error::Error::source(&error).expect("the loader's error is the source");
    let chain = error.chain();
    assert!(
        chain.starts_with(&error.to_string()) && chain.ends_with(&cause.to_string()),
        "{chain}"
    );
    assert!(
        cause.to_string().contains("libtsp_driver_mock"),
        "the system's words name the file: {cause}"
    );
}

#[test]
fn a_group_writable_library_is_refused_before_it_is_loaded() {
    let plugin = garbage_plugin("mock");
    set_mode(&plugin.library, 0o775);
    let text = refusal(&plugin.manifest, Kind::PluginLibrary, &plugin.library);
    let path = plugin.library.display().to_string();
    assert_names(
        &text,
        &[
            &format!("refusing plugin library {path}: "),
            "writable by its group or by others (mode 0775)",
            &format!("run `chmod go-w {path}`"),
        ],
    );
}

#[test]
fn a_manifest_writable_by_others_is_refused() {
    let plugin = garbage_plugin("mock");
    set_mode(&plugin.manifest, 0o646);
    let text = refusal(&plugin.manifest, Kind::PluginManifest, &plugin.manifest);
    let path = plugin.manifest.display().to_string();
    assert_names(
        &text,
        &[
            &format!("refusing plugin manifest {path}: "),
            "(mode 0646)",
            &format!("`chmod go-w {path}`"),
        ],
    );
}

#[test]
fn a_drivers_folder_writable_by_others_is_refused() {
    let plugin = garbage_plugin("mock");
    set_mode(&plugin.drivers, 0o757);
    let text = refusal(&plugin.manifest, Kind::DriversFolder, &plugin.drivers);
    let path = plugin.drivers.display().to_string();
    assert_names(
        &text,
        &[
            &format!("refusing drivers folder {path}: "),
            "(mode 0757)",
            &format!("`chmod go-w {path}`"),
        ],
    );
}

/// A library that is a symlink is judged by the file it resolves to, and the
/// refusal says so and names that file in its advice.
#[test]
fn a_symlinked_library_is_judged_by_its_target() {
    let plugin = garbage_plugin("mock");
    let elsewhere = plugin.root.join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("folder");
    let target = elsewhere.join("real.so");
    std::fs::rename(&plugin.library, &target).expect("move the library");
    std::os::unix::fs::symlink(&target, &plugin.library).expect("symlink");

    set_mode(&target, 0o775);
    let text = refusal(&plugin.manifest, Kind::PluginLibrary, &plugin.library);
    let target = target.canonicalize().expect("the target resolves");
    assert_names(
        &text,
        &[
            &format!("refusing plugin library {}", plugin.library.display()),
            &format!("a symlink to {}", target.display()),
            &format!("`chmod go-w {}`", target.display()),
        ],
    );

    set_mode(&target, 0o755);
    let error = Plugin::load(&plugin.manifest).expect_err("garbage does not load");
    assert!(
        matches!(error, LoadError::Open { .. }),
        "trusted now: {error}"
    );
}

/// The manifest of driver NAME is `NAME.toml`: the host looks for the driver the
/// configuration names there, so a manifest describing another driver is refused.
#[test]
fn a_manifest_must_describe_the_driver_it_is_named_after() {
    let plugin = garbage_plugin("mock");
    let other = plugin.drivers.join("serial.toml");
    std::fs::rename(&plugin.manifest, &other).expect("rename the manifest");
    let error = Plugin::load(&other).expect_err("not the driver named");
    assert!(
        matches!(
            error,
            LoadError::Manifest(ManifestError::NotNamedAfterDriver { .. })
        ),
        "{error}"
    );
    assert_names(
        &error.to_string(),
        &[&other.display().to_string(), "`mock`", "`serial`"],
    );
}

/// The check on its own, as the host uses it for its configuration file: a
/// file or a folder; the mode bits that matter are group and others' write.
#[test]
fn check_trusted_looks_at_group_and_other_write_only() {
    let plugin = garbage_plugin("mock");
    for (mode, trusted) in [
        (0o600, true),
        (0o644, true),
        (0o755, true),
        (0o4755, true),
        (0o660, false),
        (0o602, false),
        (0o777, false),
    ] {
        set_mode(&plugin.manifest, mode);
        let result = check_trusted(&plugin.manifest, Kind::Configuration);
        assert_eq!(result.is_ok(), trusted, "mode {mode:o}: {result:?}");
    }
    let error = check_trusted(&plugin.manifest, Kind::Configuration).expect_err("0777");
    assert!(
        error.to_string().starts_with(&format!(
            "refusing configuration file {}: ",
            plugin.manifest.display()
        )),
        "{error}"
    );
    assert!(check_trusted(&plugin.drivers, Kind::DriversFolder).is_ok());
}

/// Only root can give a file away, so this case needs root; other users skip it.
#[test]
fn a_library_owned_by_another_user_is_refused() {
    let plugin = garbage_plugin("mock");
    let owner = std::fs::metadata(&plugin.manifest)
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok();
    if owner != Some(0) {
        println!("skipped: only root can chown a file to another user (this runs as {owner:?})");
        return;
    }
    std::os::unix::fs::chown(&plugin.library, Some(65534), None).expect("chown");
    let text = refusal(&plugin.manifest, Kind::PluginLibrary, &plugin.library);
    let path = plugin.library.display().to_string();
    assert_names(
        &text,
        &[
            &format!("refusing plugin library {path}: "),
            "owned by uid 65534, not by root or the user tsp-rs runs as (uid 0)",
            &format!("`chown root {path}`"),
        ],
    );
}

/// `stage` sets the modes the check wants instead of leaving them to the umask:
/// a folder, a built library and an earlier staged copy that a umask of 002
/// left group-writable end up 0755, the manifest 0644, and the plugin is
/// trusted.
#[test]
fn staging_sets_modes_whatever_the_umask() {
    use std::os::unix::fs::MetadataExt;
    let plugin = garbage_plugin("mock");
    let manifest = Manifest::read(&plugin.manifest).expect("the manifest reads");
    let built = plugin.root.join("built.so");
    std::fs::copy(&plugin.library, &built).expect("a built library");
    set_mode(&built, 0o775);
    let folder = plugin.root.join("staged");
    std::fs::create_dir(&folder).expect("folder");
    set_mode(&folder, 0o775);
    std::fs::copy(&built, folder.join(&manifest.library)).expect("an earlier copy");
    set_mode(&folder.join(&manifest.library), 0o775);

    let staged = tsp_plugin_sdk::manifest::stage(&manifest, &built, &folder).expect("stages");
    let mode = |path: &Path| std::fs::metadata(path).expect("stat").mode() & 0o7777;
    assert_eq!(mode(&folder), 0o755);
    assert_eq!(mode(&folder.join(&manifest.library)), 0o755);
    assert_eq!(mode(&staged), 0o644);
    let error = Plugin::load(&staged).expect_err("garbage does not load");
    assert!(matches!(error, LoadError::Open { .. }), "trusted: {error}");
}
