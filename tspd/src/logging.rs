//! The log tspd and tspctl write (both link this library): `tracing` events on
//! stderr through `tracing-subscriber`. The filter is `--log-level`, else
//! `TSP_RS_LOG`, else `RUST_LOG`, else the program's default; a level or filter
//! that does not parse is an error that says what is accepted. Under systemd
//! (`JOURNAL_STREAM` set) lines carry no colour and no time: the journal adds it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Where a filter came from, for the error that names it.
fn chosen(flag: Option<&str>, default: &str) -> (String, &'static str) {
    if let Some(flag) = flag {
        return (flag.to_owned(), "--log-level");
    }
    for variable in ["TSP_RS_LOG", "RUST_LOG"] {
        if let Some(value) = std::env::var(variable)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            return (value, variable);
        }
    }
    (default.to_owned(), "the default")
}

/// The filter `text` names: a level (`error` … `trace`) or directives such as
/// `warn,tsp_host=debug`.
///
/// # Errors
/// What is wrong and what is accepted.
pub fn filter(text: &str, from: &str) -> Result<EnvFilter, String> {
    let plain_words = text
        .split(',')
        .all(|part| part.chars().all(|c| c.is_ascii_alphabetic()));
    let levels = ["error", "warn", "info", "debug", "trace", "off"];
    let known = |part: &str| levels.contains(&part.trim().to_ascii_lowercase().as_str());
    if plain_words && !text.split(',').all(known) {
        return Err(format!(
            "{from}: `{text}` is not a log level: use error, warn, info, debug or trace \
             (or a filter such as warn,tsp_host=debug)"
        ));
    }
    EnvFilter::try_new(text).map_err(|e| format!("{from}: `{text}` is not a log filter: {e}"))
}

/// Installs the log on stderr; `default` is the program's own level.
///
/// # Errors
/// A level or filter that does not parse (say which, from where, and what is
/// accepted).
pub fn init(flag: Option<&str>, default: &str) -> Result<(), String> {
    let (text, from) = chosen(flag, default);
    let filter = filter(&text, from)?;
    let under_systemd = std::env::var_os("JOURNAL_STREAM").is_some();
    let colour = !under_systemd && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false);
    // A second init (tests) keeps the first; that is no error for the program.
    let installed = if under_systemd {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    if let Err(error) = installed {
        tracing::debug!(%error, "a log was installed already");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_filters_parse_and_a_misspelt_level_is_an_error() {
        assert!(filter("debug", "--log-level").is_ok());
        assert!(filter("warn,tsp_host=debug", "TSP_RS_LOG").is_ok());
        let error = filter("dbug", "--log-level").expect_err("misspelt");
        assert!(
            error.contains("--log-level") && error.contains("dbug"),
            "{error}"
        );
        assert!(
            error.contains("error, warn, info, debug or trace"),
            "{error}"
        );
    }
}
