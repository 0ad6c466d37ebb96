//! tspctl's exit statuses in one place: each code, what `tspctl --help` says of
//! it, and the error that carries one out of a command.

use std::process::ExitCode;

use crate::phones::Failure;

/// What tspctl's exit status tells a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Success = 0,
    /// The phone or the input said no: scripts retry nothing, they report it.
    Failed = 1,
    /// clap's own code for bad arguments, kept for the errors tspctl finds itself.
    Usage = 2,
    /// Worth telling apart: starting tspd (or the bus) fixes it.
    Unreachable = 3,
}

impl Exit {
    /// Every status, in the order `--help` lists them.
    pub(crate) const ALL: [Exit; 4] = [Exit::Success, Exit::Failed, Exit::Usage, Exit::Unreachable];

    /// The status's number.
    pub(crate) const fn code(self) -> u8 {
        self as u8
    }

    /// What it means, as `--help` and the README say it.
    pub(crate) const fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success (usbhid inspect: also a descriptor without telephony)",
            Exit::Failed => {
                "the operation failed: a PHONEERR_*, an unreadable file, a malformed descriptor"
            }
            Exit::Usage => "usage error: an unknown command, wrong or missing arguments",
            Exit::Unreachable => "cannot reach tspd (--bus): no such bus, or tspd is not on it",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The end of `tspctl --help`: the exit statuses, written from [`Exit`] so the
/// text cannot drift from the codes.
pub(crate) fn after_help() -> String {
    let mut text = String::from(
        "Without --bus, phones come from TSP_RS_CONFIG if it is set (drivers are then\n\
         loaded as plugins from beside tspctl), else from the mock driver's two default\n\
         phones. --json output is described in the README (\"tspctl's JSON output\").\n\n\
         Exit status:\n",
    );
    for exit in Exit::ALL {
        text += &format!("  {}  {}\n", exit.code(), exit.meaning());
    }
    text + "\nExample:\n  tspctl demo\n  tspctl --bus session list --json"
}

/// Why tspctl stops: the message for stderr and the status to exit with.
#[derive(Debug)]
pub(crate) struct Stop {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

impl Stop {
    /// The operation failed.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Failed,
            message: message.into(),
        }
    }

    /// The arguments make no sense together (clap finds the other usage errors).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    /// Says why on stderr and gives the status.
    pub(crate) fn report(self) -> ExitCode {
        eprintln!("tspctl: {}", self.message);
        self.exit.into()
    }
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Self {
        let exit = match failure {
            Failure::Unreachable(_) => Exit::Unreachable,
            Failure::Phone(_) | Failure::Other(_) => Exit::Failed,
        };
        Self {
            exit,
            message: failure.to_string(),
        }
    }
}

/// A clap error: help and `--version` go to stdout with status 0; anything
/// else is a usage error, said with tspctl's `tspctl: ` in front like every
/// other error of the tool.
pub(crate) fn parse_error(error: &clap::Error) -> ExitCode {
    if !error.use_stderr() {
        let _ = error.print();
        return Exit::Success.into();
    }
    let text = error.render().to_string();
    eprint!("tspctl: {}", text.strip_prefix("error: ").unwrap_or(&text));
    Exit::Usage.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_lists_every_status_with_its_meaning() {
        let help = after_help();
        for exit in Exit::ALL {
            let line = format!("  {}  {}", exit.code(), exit.meaning());
            assert!(help.contains(&line), "{line} missing from:\n{help}");
        }
    }

    #[test]
    fn a_failure_keeps_its_message_and_gets_its_status() {
        let unreachable = Stop::from(Failure::Unreachable("no bus".into()));
        assert_eq!(
            (unreachable.exit, unreachable.message.as_str()),
            (Exit::Unreachable, "no bus")
        );
        let phone = Stop::from(Failure::Phone(tsp_core::PhoneError::InvalDataId));
        assert_eq!(phone.exit, Exit::Failed);
        assert!(
            phone.message.starts_with("PHONEERR_INVALDATAID: "),
            "{}",
            phone.message
        );
    }
}
