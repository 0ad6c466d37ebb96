//! The TOML examples of a project's docs, for tests that keep them true: the
//! ```` ```toml ```` blocks of Markdown files and of `//!`/`///` doc comments.
//! tsp-rs checks every one with the real parsers (the host's configuration,
//! each driver's settings); a driver's own repository can do the same.

use std::path::{Path, PathBuf};

/// One example: where it is (`file:line`) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// `path:line` of the block's first line, the path relative to the root.
    pub origin: String,
    /// The TOML text.
    pub text: String,
}

impl Example {
    /// The table `[settings.DRIVER]` of this example as TOML text, if it has one.
    pub fn settings_of(&self, driver: &str) -> Option<String> {
        let table: toml::Table = toml::from_str(&self.text).ok()?;
        let settings = table.get("settings")?.as_table()?.get(driver)?.as_table()?;
        toml::to_string(settings).ok()
    }
}

/// The ```` ```toml ```` blocks of `text`, with the (1-based) line each starts
/// on; `rust` reads doc comments (`//!`, `///`) instead of Markdown.
pub fn toml_blocks(text: &str, rust: bool) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        let line = if rust {
            let trimmed = line.trim_start();
            match trimmed
                .strip_prefix("//!")
                .or_else(|| trimmed.strip_prefix("///"))
            {
                Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
                None => {
                    current = None;
                    continue;
                }
            }
        } else {
            line
        };
        match &mut current {
            None if line.trim() == "```toml" => current = Some((number + 2, String::new())),
            None => {}
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

/// Every TOML example under `root`: the blocks of `*.md` files and of the doc
/// comments of `*.rs` files, and every `*.toml.example` file whole. Folders
/// named `target`, `.git`, `fixtures`, `corpus` and `artifacts`, and symbolic
/// links, are skipped.
pub fn in_tree(root: &Path) -> Vec<Example> {
    let mut examples = Vec::new();
    for file in files(root) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let blocks = if name.ends_with(".toml.example") {
            vec![(1, text)]
        } else if name.ends_with(".md") {
            toml_blocks(&text, false)
        } else if name.ends_with(".rs") {
            toml_blocks(&text, true)
        } else {
            continue;
        };
        examples.extend(blocks.into_iter().map(|(line, text)| Example {
            origin: format!("{shown}:{line}"),
            text,
        }));
    }
    examples
}

/// A driver's check of its documented settings: every `[settings.DRIVER]`
/// table of the examples under `root` that `check` refuses, as `origin: why`.
///
/// # Errors
/// The docs show no `[settings.DRIVER]` table at all (say where one belongs).
pub fn refused_settings(
    root: &Path,
    driver: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, String> {
    let tables: Vec<(String, String)> = in_tree(root)
        .into_iter()
        .filter_map(|e| e.settings_of(driver).map(|table| (e.origin, table)))
        .collect();
    if tables.is_empty() {
        return Err(format!("the docs show no [settings.{driver}] example"));
    }
    Ok(tables
        .iter()
        .filter_map(|(origin, table)| check(table).err().map(|why| format!("{origin}: {why}")))
        .collect())
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let skipped = matches!(
                name.as_deref(),
                Some("target" | ".git" | "fixtures" | "corpus" | "artifacts")
            );
            // Links are not followed: a wine prefix links to `/`.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && !skipped {
                folders.push(path);
            } else if kind.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_found_in_markdown_and_in_doc_comments() {
        let markdown = "text\n```toml\na = 1\n```\n```sh\nx\n```\n";
        assert_eq!(
            toml_blocks(markdown, false),
            vec![(3, "a = 1\n".to_owned())]
        );
        let rust = "//! ```toml\n//! [settings.mock]\n//! ```\nfn f() {}\n";
        assert_eq!(
            toml_blocks(rust, true),
            vec![(2, "[settings.mock]\n".to_owned())]
        );
    }

    #[test]
    fn a_driver_s_table_is_taken_out() {
        let example = Example {
            origin: "x".into(),
            text: "drivers = [\"mock\"]\n[settings.mock]\ndelay_ms = 5\n".into(),
        };
        assert_eq!(
            example.settings_of("mock").as_deref(),
            Some("delay_ms = 5\n")
        );
        assert_eq!(example.settings_of("serial"), None);
    }
}
