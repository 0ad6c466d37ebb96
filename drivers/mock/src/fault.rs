//! Faults the mock can be told to commit, per operation.

use std::str::FromStr;

use serde::Deserialize;
use tsp_core::PhoneError;

/// What an operation does instead of (or before) its normal work.
///
/// In configuration and in DevSpecific commands a fault is written as text:
/// `ok`, `inline`, `worker`, `delay MS`, `stall MS`, `fail CODE` (a `PHONEERR_*` name, with or
/// without the prefix), `never`, `panic`, `panic-thread`, `disconnect-after N`, `remove-after N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Fault {
    /// Behave normally.
    None,
    /// Complete before returning, whatever the configuration says.
    Inline,
    /// Complete from the worker thread.
    Worker,
    /// Complete from the worker thread after this many milliseconds.
    Delay(u64),
    /// Block in the call for this many milliseconds, then complete before
    /// returning: a driver doing its device I/O on the caller's thread, stuck.
    Stall(u64),
    /// Complete with this error.
    Fail(PhoneError),
    /// Never complete (until the phone is closed).
    Never,
    /// Panic inside the operation.
    Panic,
    /// Hand the request to a new driver thread, which panics holding it.
    PanicOnThread,
    /// Work normally for N requests, then report the device disconnected.
    DisconnectAfter(u32),
    /// Work normally for N requests, then report the device removed.
    RemoveAfter(u32),
}

impl TryFrom<String> for Fault {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

fn error_by_name(name: &str) -> Option<PhoneError> {
    let wanted = name.trim().to_ascii_uppercase();
    let wanted = wanted.strip_prefix("PHONEERR_").unwrap_or(&wanted);
    PhoneError::ALL
        .iter()
        .copied()
        .find(|e| e.name().strip_prefix("PHONEERR_") == Some(wanted))
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut words = text.split_whitespace();
        let verb = words.next().unwrap_or("");
        let arg = words.next();
        let number = |what: &str| -> Result<u64, String> {
            arg.and_then(|a| a.parse().ok())
                .ok_or_else(|| format!("`{verb}` needs {what}, as in `{verb} 5`"))
        };
        let fault = match verb {
            "ok" => Self::None,
            "inline" => Self::Inline,
            "worker" => Self::Worker,
            "delay" => Self::Delay(number("milliseconds")?),
            "stall" => Self::Stall(number("milliseconds")?),
            "never" => Self::Never,
            "panic" => Self::Panic,
            "panic-thread" => Self::PanicOnThread,
            "fail" => {
                let name = arg.ok_or("`fail` needs an error name, as in `fail OPERATIONFAILED`")?;
                Self::Fail(
                    error_by_name(name)
                        .ok_or_else(|| format!("`{name}` is not a PHONEERR_ name"))?,
                )
            }
            "disconnect-after" => Self::DisconnectAfter(number("a request count")? as u32),
            "remove-after" => Self::RemoveAfter(number("a request count")? as u32),
            other => {
                return Err(format!(
                    "unknown fault `{other}`; use ok, inline, worker, delay MS, stall MS, fail CODE, never, panic, panic-thread, disconnect-after N or remove-after N"
                ));
            }
        };
        let takes_argument = matches!(
            verb,
            "delay" | "stall" | "fail" | "disconnect-after" | "remove-after"
        );
        if words.next().is_some() || (!takes_argument && arg.is_some()) {
            return Err(format!("too many words in fault `{text}`"));
        }
        Ok(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_from_text() {
        assert_eq!("never".parse(), Ok(Fault::Never));
        assert_eq!("delay 20".parse(), Ok(Fault::Delay(20)));
        assert_eq!(
            "fail INVALDATAID".parse(),
            Ok(Fault::Fail(PhoneError::InvalDataId))
        );
        assert_eq!(
            "fail phoneerr_nomem".parse(),
            Ok(Fault::Fail(PhoneError::NoMem))
        );
        assert_eq!("remove-after 3".parse(), Ok(Fault::RemoveAfter(3)));
        assert!("fail BOGUS".parse::<Fault>().is_err());
        assert!("delay".parse::<Fault>().is_err());
        assert!("explode".parse::<Fault>().is_err());
        assert!("never ever".parse::<Fault>().is_err());
    }
}
