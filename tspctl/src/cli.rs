//! tspctl's commands and options, defined once: clap parses them, writes
//! `--help` and, through clap_complete, the completion scripts from this.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit;
use crate::remote::Bus;

/// Browse and drive TAPI phones: the tsp-rs host in this process (tspctl plays
/// TAPI's part), or tspd on D-Bus with --bus.
#[derive(Debug, Parser)]
#[command(
    name = "tspctl",
    version,
    subcommand_required = true,
    arg_required_else_help = true,
    after_help = exit::after_help()
)]
pub(crate) struct Cli {
    /// Talk to tspd on this bus instead of running the host here
    #[arg(long, global = true, value_enum, value_name = "BUS")]
    pub(crate) bus: Option<Bus>,
    /// Print JSON for scripts (list, caps, set-data, get-data, watch, usbhid inspect)
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// The log on stderr: error, warn (default), info, debug or trace, or a filter
    /// such as warn,tsp_host=debug (else TSP_RS_LOG or RUST_LOG)
    #[arg(long, global = true, value_name = "LEVEL")]
    pub(crate) log_level: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// A command.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// A guided tour on the mock driver's phones
    ///
    /// Finds them, reads their caps, opens one, writes and reads data, receives
    /// a key press and a hookswitch change, and closes it: each TSPI call and
    /// what TAPI gets back. Runs the host in this process (not with --bus).
    #[command(after_help = "Example:\n  tspctl demo")]
    Demo,
    #[command(flatten)]
    Phone(PhoneCommand),
    /// USB HID report descriptors
    #[command(after_help = "Example:\n  tspctl usbhid inspect report_descriptor")]
    Usbhid {
        #[command(subcommand)]
        command: Usbhid,
    },
    /// What a TSPI return value means
    #[command(after_help = "Example:\n  tspctl explain 0x9000000C\n  tspctl explain -1879048180")]
    Explain {
        /// The value: hex like 0x9000000C, or the signed LONG like -1879048180
        #[arg(value_parser = parse_long, allow_negative_numbers = true)]
        code: i32,
    },
    /// A completion script for SHELL, on stdout
    #[command(after_help = "Example:\n  \
        eval \"$(tspctl completions bash)\"\n  \
        tspctl completions zsh > \"${fpath[1]}/_tspctl\"\n  \
        tspctl completions fish > ~/.config/fish/completions/tspctl.fish")]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// The commands that ask phones, here or in tspd.
#[derive(Debug, Subcommand)]
pub(crate) enum PhoneCommand {
    /// The phones and their permanent ids
    #[command(after_help = "Example:\n  tspctl list\n  tspctl --bus session list --json")]
    List,
    /// The capabilities of phone DEV (PHONECAPS)
    #[command(after_help = "Example:\n  tspctl caps 0")]
    Caps {
        /// The phone's device id, as `list` shows it
        dev: u32,
    },
    /// Download TEXT or FILE to a data area, then read it back
    ///
    /// Downloads TEXT and a NUL, or the bytes of FILE, to data area AREA of
    /// phone DEV (TSPI_phoneSetData), then reads the area back. On a terminal,
    /// a download that takes long shows that it is running.
    #[command(
        // clap would put the TEXT|--file group first; the arguments go in this order.
        override_usage = "tspctl set-data [OPTIONS] <DEV> <AREA> <TEXT|--file <FILE>>",
        after_help = "Example:\n  tspctl set-data 0 1 hello\n  tspctl set-data 0 1 --file logo.bin"
    )]
    SetData {
        /// The phone's device id
        dev: u32,
        /// The data area (PHONECAPS' SetData areas)
        area: u32,
        #[command(flatten)]
        payload: Payload,
    },
    /// Upload bytes from a data area, printed in hex
    ///
    /// Uploads SIZE bytes from data area AREA of phone DEV (TSPI_phoneGetData).
    #[command(after_help = "Example:\n  tspctl get-data 0 1 4")]
    GetData {
        /// The phone's device id
        dev: u32,
        /// The data area (PHONECAPS' GetData areas)
        area: u32,
        /// How many bytes
        #[arg(default_value_t = 16)]
        size: u32,
    },
    /// Print a phone's events as they happen
    ///
    /// Prints phone DEV's events (PHONE_BUTTON, PHONE_STATE …) until N events or
    /// S seconds, or Ctrl-C. Over --bus, a phone another client holds shows its
    /// presence only (tspd sends its keys to that client).
    #[command(after_help = "Example:\n  tspctl --bus session watch 0 --count 5")]
    Watch {
        /// The phone's device id
        dev: u32,
        /// Stop after N events
        #[arg(long, value_name = "N")]
        count: Option<u32>,
        /// Stop after S seconds
        #[arg(long, value_name = "S")]
        seconds: Option<u64>,
    },
}

/// What `set-data` downloads: exactly one of TEXT and --file.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Payload {
    /// The text to download (a NUL is added)
    pub(crate) text: Option<String>,
    /// Download the bytes of FILE instead
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

/// `usbhid` commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Usbhid {
    /// The telephony controls a USB HID report descriptor declares
    ///
    /// Lists the controls of the Telephony collection (hookswitch, buttons,
    /// lamps, ringer) with their report id and bit, and what each becomes in
    /// TAPI. Exit status 1 when the file cannot be read or the descriptor is
    /// malformed; 0 when it merely declares no telephony.
    #[command(after_help = "Example:\n  \
        tspctl usbhid inspect /sys/class/hidraw/hidraw0/device/report_descriptor\n  \
        tspctl usbhid inspect descriptor.hex --json")]
    Inspect {
        /// A sysfs report_descriptor file, or hex text (0x and commas allowed)
        file: PathBuf,
    },
}

/// A TSPI `LONG` as people write it: hex (its bits, `0x9000000C`) or signed
/// decimal (`-1879048180`).
fn parse_long(text: &str) -> Result<i32, String> {
    let value = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        // Hex names the bits: 0x9000000C is the negative LONG it reads as.
        Some(hex) => u32::from_str_radix(hex, 16).ok().map(|v| v as i32),
        None => text.parse::<i32>().ok(),
    };
    value.ok_or_else(|| "not a number: use hex like 0x9000000C or a LONG like -1879048180".into())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_long_reads_in_both_spellings() {
        assert_eq!(parse_long("0x9000000C"), Ok(-1879048180));
        assert_eq!(parse_long("-1879048180"), Ok(-1879048180));
        assert_eq!(parse_long("42"), Ok(42));
        assert!(parse_long("zz").is_err());
        assert!(
            parse_long("4294967295").is_err(),
            "decimal is the signed LONG"
        );
    }

    #[test]
    fn every_command_s_help_has_an_example() {
        let mut cli = Cli::command();
        cli.build();
        let mut missing = Vec::new();
        let mut check = |command: &clap::Command| {
            let after = command.get_after_help().map(ToString::to_string);
            if !after.is_some_and(|text| text.contains("Example:\n  ") && text.contains("tspctl "))
            {
                missing.push(command.get_name().to_owned());
            }
        };
        for command in cli.get_subcommands().filter(|c| c.get_name() != "help") {
            check(command);
            command
                .get_subcommands()
                .filter(|c| c.get_name() != "help")
                .for_each(&mut check);
        }
        assert!(missing.is_empty(), "no example: {missing:?}");
    }
}
