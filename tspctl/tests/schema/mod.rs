//! The README's "tspctl's JSON output" read as a schema, and a JSON value held
//! to it: the fields each `#### ` heading's table lists, exactly, with their
//! types. Shared by tests/json.rs and the unit test of `watch`'s events.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The section of the README that documents the JSON.
pub const SECTION: &str = "### tspctl's JSON output";

/// Each `#### ` heading of the section, with its table's (field, type) rows.
pub fn documented() -> BTreeMap<String, Vec<(String, String)>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let start = readme
        .find(SECTION)
        .expect("the README has the JSON section");
    let mut schema = BTreeMap::new();
    let mut heading: Option<String> = None;
    for line in readme[start + SECTION.len()..].lines() {
        if line.starts_with("## ") || line.starts_with("### ") {
            break;
        }
        if let Some(name) = line.strip_prefix("#### ") {
            heading = Some(name.trim().to_owned());
        } else if let (Some(name), Some(row)) = (&heading, line.strip_prefix("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let field = cells[0].trim_end_matches('`').to_owned();
            let kind = cells.get(1).copied().unwrap_or_default().to_owned();
            schema
                .entry(name.clone())
                .or_insert_with(Vec::new)
                .push((field, kind));
        }
    }
    schema
}

/// Every field of `value` by its documented name (`display.rows`,
/// `usages[].code`), with the values it has.
fn fields<'a>(value: &'a Value, prefix: &str, out: &mut BTreeMap<String, Vec<&'a Value>>) {
    let Value::Object(object) = value else {
        return;
    };
    for (key, inner) in object {
        let name = format!("{prefix}{key}");
        out.entry(name.clone()).or_default().push(inner);
        match inner {
            Value::Object(_) => fields(inner, &format!("{name}."), out),
            Value::Array(items) => {
                for item in items {
                    fields(item, &format!("{name}[]."), out);
                }
            }
            _ => {}
        }
    }
}

/// Whether `value` is of the documented `kind` ("number", "string or null",
/// "array of numbers" …).
fn is_of(value: &Value, kind: &str) -> bool {
    kind.split(" or ").any(
        |one| match one.split_whitespace().next().unwrap_or_default() {
            "number" => value.is_number(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            _ => false,
        },
    )
}

/// The field a nested one sits in: `display` for `display.rows`, `usages` for
/// `usages[].code`.
fn parent(field: &str) -> Option<&str> {
    field
        .rsplit_once('.')
        .map(|(parent, _)| parent.trim_end_matches("[]"))
}

/// Holds `value` (an object, or an array of objects as `list` prints) to the
/// table under `heading`: the same fields, each of its type. A nested field
/// may be missing only when what holds it is null or an empty array.
pub fn check(
    schema: &BTreeMap<String, Vec<(String, String)>>,
    heading: &str,
    value: &Value,
) -> Result<(), String> {
    let documented = schema
        .get(heading)
        .ok_or_else(|| format!("the README documents no `#### {heading}`"))?;
    let mut seen = BTreeMap::new();
    match value {
        Value::Array(items) if !items.is_empty() => {
            items.iter().for_each(|item| fields(item, "", &mut seen));
        }
        Value::Object(_) => fields(value, "", &mut seen),
        other => return Err(format!("{heading}: not an object: {other}")),
    }
    let names: BTreeSet<&str> = documented.iter().map(|(f, _)| f.as_str()).collect();
    let extra: Vec<&String> = seen
        .keys()
        .filter(|k| !names.contains(k.as_str()))
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "{heading}: fields the README does not list: {extra:?}"
        ));
    }
    for (field, kind) in documented {
        let Some(values) = seen.get(field) else {
            let holder = parent(field).and_then(|p| seen.get(p));
            let empty = |v: &&Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
            if holder.is_some_and(|values| values.iter().all(empty)) {
                continue;
            }
            return Err(format!("{heading}: `{field}` is listed but not printed"));
        };
        if let Some(wrong) = values.iter().find(|v| !is_of(v, kind)) {
            return Err(format!("{heading}: `{field}` is {wrong}, not {kind}"));
        }
    }
    Ok(())
}
