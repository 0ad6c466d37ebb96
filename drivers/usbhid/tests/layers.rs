//! The crate's modules stay in layers (issue 16): each names (`crate::module`)
//! only modules on a lower line of [`LAYERS`], so the HID and transport code knows
//! nothing of the driver, and the device code knows the transport seam, never one
//! of its implementations. ARCHITECTURE.md states the invariant.

use std::path::Path;

/// The modules from the bottom up. A module may name only modules on lower lines;
/// modules on one line do not name each other. `lib.rs` (the crate root, its
/// module list and re-exports) is not a layer.
const LAYERS: &[&[&str]] = &[
    // Importing nothing of the crate: report descriptors, the P1K's packets, the
    // transport seam (and the simulated HID handset behind it), the settings.
    &["descriptor", "yealink", "transport", "config"],
    // What HID usages mean.
    &["usages"],
    // A layout and its reports, no I/O; what `tspctl usbhid inspect` prints.
    &["handset", "inspect"],
    // The TAPI face of a layout; a HID handset running over the seam.
    &["caps", "device"],
    // The P1K running over the seam; libusb, an implementation of the seam that
    // only the composition above names (a second transport goes here too).
    &["p1k", "usb", "hidraw", "winhid"],
    // The composition: what a scan finds, an open phone, the plugin's driver.
    &["candidate"],
    &["session"],
    &["driver", "fuzzing"],
];

/// Items of the crate root that any module may use (not modules: no layer).
const ROOT_ITEMS: &[&str] = &["lock"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|line| line.contains(&module))
}

/// Every source file but `lib.rs`, as (its module, its text): `src/a.rs` and
/// `src/a/b.rs` are both module `a` (a child belongs to its parent's layer).
fn modules() -> Vec<(String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    fn walk(root: &Path, dir: &Path, top: Option<&str>, out: &mut Vec<(String, String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("src/")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a file name")
                .to_owned();
            if path.is_dir() {
                walk(root, &path, Some(top.unwrap_or(&stem)), out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if top.is_none() && stem == "lib" {
                    continue;
                }
                let module = top.map_or_else(|| stem.clone(), str::to_owned);
                let text = std::fs::read_to_string(&path).expect("readable");
                let shown = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.push((module, shown, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &root.join("src"), None, &mut out);
    assert!(out.len() > 10, "the crate's sources were not found");
    out
}

/// The first segment of every `crate::` path in `text`, comment lines left out
/// (a doc link is not a dependency): `crate::a::B` and `crate::{a, b::C}` name
/// `a` (and `b`).
fn named(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let Some(group) = rest.strip_prefix('{') else {
            names.push(ident(rest));
            continue;
        };
        // The first segment of each path at the group's own depth.
        let (mut depth, mut start) = (1, true);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => break,
                '}' => depth -= 1,
                ',' if depth == 1 => start = true,
                c if c.is_whitespace() => {}
                _ if start && depth == 1 => {
                    names.push(ident(&group[i..]));
                    start = false;
                }
                _ => {}
            }
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

#[test]
fn the_parser_finds_every_crate_path() {
    let text = "use crate::a::B;\n// crate::commented\nuse crate::{b, c::{D, E}};\n\
                let x = crate::d::f(); $crate::g; my_crate::h;\nuse crate::{\n    e::F,\n    f,\n};";
    assert_eq!(named(text), ["a", "b", "c", "d", "e", "f"]);
}

#[test]
fn every_module_is_on_a_layer() {
    let found: Vec<String> = modules().into_iter().map(|(m, _, _)| m).collect();
    let mut problems = Vec::new();
    for module in &found {
        if layer_of(module).is_none() {
            problems.push(format!(
                "src/{module}.rs is on no line of LAYERS: add it where its imports put it"
            ));
        }
    }
    for module in LAYERS.iter().flat_map(|line| line.iter()) {
        if !found.iter().any(|m| m == module) {
            problems.push(format!("LAYERS names `{module}`, which has no file"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_module_names_one_on_its_layer_or_above() {
    let mut problems = Vec::new();
    for (module, path, text) in modules() {
        let Some(own) = layer_of(&module) else {
            continue; // every_module_is_on_a_layer says so
        };
        for name in named(&text) {
            if name == module || ROOT_ITEMS.contains(&name.as_str()) {
                continue;
            }
            match layer_of(&name) {
                Some(layer) if layer < own => {}
                Some(_) => problems.push(format!(
                    "{path}: `{module}` names `crate::{name}`, which is not below it"
                )),
                None => problems.push(format!(
                    "{path}: `crate::{name}` is neither a module on a layer nor a root item \
                     (name the module that defines it, not a re-export of lib.rs)"
                )),
            }
        }
    }
    problems.dedup();
    assert!(
        problems.is_empty(),
        "layering (tests/layers.rs, bottom up: {LAYERS:?}):\n{}",
        problems.join("\n")
    );
}
