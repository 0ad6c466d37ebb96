//! A driver's settings: its `[settings.NAME]` table, which the host passes as
//! TOML text whose lines are the lines of `tsp-rs.toml` (so a line and column
//! in an error are the user's), parsed into the driver's own type.
//!
//! ```
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Settings {
//!     speed: u32,
//! }
//! let error = tsp_plugin_sdk::settings::parse::<Settings>("\nspeed = \"fast\"\n").unwrap_err();
//! assert_eq!(error.line_column, Some((2, 9)));
//! assert!(error.to_string().starts_with("line 2, column 9: invalid type"));
//! assert!(error.to_string().ends_with("(at `speed = \"fast\"`)"));
//! ```

use serde::de::DeserializeOwned;

/// Settings that do not parse: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}{}", at(*line_column), quoted(line.as_deref()))]
pub struct SettingsError {
    /// The line and column (from 1) where the problem is, when the parser knows.
    pub line_column: Option<(usize, usize)>,
    /// What is wrong and what is expected, without the position.
    pub message: String,
    /// The line as the user wrote it (trimmed), so the key is named even where
    /// the parser's words do not name it (`invalid type: integer `5``).
    pub line: Option<String>,
}

fn quoted(line: Option<&str>) -> String {
    line.filter(|line| !line.is_empty())
        .map_or_else(String::new, |line| format!(" (at `{line}`)"))
}

fn at(line_column: Option<(usize, usize)>) -> String {
    line_column.map_or_else(String::new, |(line, column)| {
        format!("line {line}, column {column}: ")
    })
}

/// Parses settings text into `T`.
///
/// # Errors
/// [`SettingsError`] with the line and column of the first problem and, from
/// serde, what is expected there (`unknown variant `wrker`, expected `inline`
/// or `worker``).
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, SettingsError> {
    toml::from_str(text).map_err(|error| {
        let line_column = error.span().map(|span| line_column(text, span.start));
        SettingsError {
            line_column,
            message: error.message().trim().to_owned(),
            line: line_column
                .and_then(|(line, _)| text.lines().nth(line - 1))
                .map(|line| line.trim().to_owned()),
        }
    })
}

/// The line and column (both from 1, the column in characters) of byte
/// `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    // Inside a character (or past the end): the character's own place.
    let offset = (0..=offset.min(text.len()))
        .rev()
        .find(|&at| text.is_char_boundary(at))
        .unwrap_or(0);
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Settings {
        mode: Mode,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Inline,
        Worker,
    }

    #[test]
    fn an_unknown_value_is_placed_and_the_expected_ones_named() {
        let error = parse::<Settings>("# mine\n\nmode = \"wrker\"\n").expect_err("refused");
        assert_eq!(error.line_column, Some((3, 8)));
        assert!(error.message.contains("`wrker`"), "{error}");
        assert!(error.message.contains("`inline`"), "{error}");
        assert!(!error.message.contains('\n'), "one line: {error}");
    }

    #[test]
    fn the_line_is_quoted_so_the_key_is_named() {
        let error = parse::<Settings>("mode = 5\n").expect_err("refused");
        assert!(
            !error.message.contains("mode"),
            "toml's words alone: {error}"
        );
        assert!(error.to_string().ends_with("(at `mode = 5`)"), "{error}");
    }

    #[test]
    fn an_unknown_key_is_placed() {
        let error = parse::<Settings>("mode = \"inline\"\n  speed = 3\n").expect_err("refused");
        assert_eq!(error.line_column, Some((2, 3)));
        assert!(error.message.contains("speed"), "{error}");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_column("a = \"é\"\nb", 7), (1, 7));
        assert_eq!(line_column("a = \"é\"\nb", 9), (2, 1));
        assert_eq!(line_column("ab", 99), (1, 3));
        assert_eq!(line_column("a\né\nb", 3), (2, 1), "inside é: é's place");
    }
}
