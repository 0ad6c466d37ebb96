//! `cargo xtask new-driver NAME [--path DIR]`: a driver crate that builds and passes
//! conformance as generated.

use std::path::{Path, PathBuf};

use crate::stage::workspace;

const USAGE: &str = "usage: cargo xtask new-driver NAME [--path DIR]
  NAME   lowercase letters, digits and '-', starting with a letter (e.g. acme-desk)
  --path where to create the crate (default: drivers/NAME, a workspace member)";

pub(crate) fn command(args: &[String]) -> Result<(), String> {
    let mut name = None;
    let mut path = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--path" => path = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            other if other.starts_with('-') => {
                return Err(format!("unknown option `{other}`\n{USAGE}"));
            }
            other if name.is_none() => name = Some(other.to_owned()),
            other => return Err(format!("unexpected argument `{other}`\n{USAGE}")),
        }
    }
    let name = name.ok_or(USAGE)?;
    let dir = path.unwrap_or_else(|| workspace().join("drivers").join(&name));
    let created = generate(&name, &dir)?;
    println!("created driver `{name}` in {}", created.display());
    println!("next: build it, then `cargo xtask conformance` on its staged manifest");
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if first_ok && rest_ok && !name.ends_with('-') {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a driver name: use lowercase letters, digits and '-', starting with a letter"
        ))
    }
}

fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Writes the crate into `dir`, which must not exist yet. Inside the workspace's
/// `drivers/` it joins the workspace; elsewhere it is a workspace of its own with
/// an absolute path to the SDK.
pub(crate) fn generate(name: &str, dir: &Path) -> Result<PathBuf, String> {
    check_name(name)?;
    if dir.exists() {
        return Err(format!(
            "{} already exists: choose another --path",
            dir.display()
        ));
    }
    let sdk = workspace().join("plugin-sdk");
    let sdk = sdk
        .canonicalize()
        .map_err(|e| format!("cannot find the SDK at {}: {e}", sdk.display()))?;
    let inside = dir.starts_with(workspace().join("drivers"))
        || dir.parent().is_some_and(|p| p.ends_with("drivers"));
    let own_workspace = if inside { "" } else { "\n[workspace]\n" };
    let crate_name = format!("tsp-driver-{name}");
    let files = [
        ("Cargo.toml", cargo_toml(&crate_name, &sdk, own_workspace)),
        ("plugin.toml", plugin_toml(name, &crate_name)),
        ("src/lib.rs", lib_rs(name)),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(dir.to_owned())
}

fn cargo_toml(crate_name: &str, sdk: &Path, own_workspace: &str) -> String {
    format!(
        r#"[package]
name = "{crate_name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# A plugin for the host (cdylib), and a library for applications that link it.
crate-type = ["cdylib", "rlib"]

[dependencies]
tsp-plugin-sdk = {{ path = "{sdk}" }}
tracing = {{ version = "0.1", default-features = false, features = ["std"] }}
{own_workspace}"#,
        sdk = sdk.display().to_string().replace('\\', "/"),
    )
}

fn plugin_toml(name: &str, crate_name: &str) -> String {
    format!(
        r#"# What the plugin's manifest says that the build cannot know.
name = "{name}"
crate = "{crate_name}"
version = "0.1.0"
devices = ["describe the devices this driver serves"]
"#
    )
}

fn lib_rs(name: &str) -> String {
    include_str!("new_driver_template.rs")
        .replace("__DRIVER_NAME__", name)
        .replace("TemplateDriver", &format!("{}Driver", camel(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("acme-desk2").is_ok());
        for bad in ["", "Acme", "2acme", "acme_desk", "acme-", "ac me"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(camel("acme-desk"), "AcmeDesk");
    }
}
