//! The mock's `TSPI_phoneDevSpecific` commands, through which a test that has only
//! the C exports drives it. A command is UTF-8 text (a trailing NUL is allowed):
//!
//! | command | effect |
//! | --- | --- |
//! | `press ID` | PHONE_BUTTON down, then up, for keypad button `ID` |
//! | `press-down ID` | a press on a device that cannot report releases (`PhoneEvents::button_pressed`): PHONE_BUTTON down, the host makes up the up |
//! | `hold ID` | PHONE_BUTTON down; the release comes with `release ID`, as on a device that reports both |
//! | `release ID` | PHONE_BUTTON up for a held key (the host drops it for a key that is not down) |
//! | `ring-modes N` | the phone now has `N` ring modes: its caps change (PHONE_STATE CAPSCHANGE) |
//! | `hookswitch handset MODE` | the handset goes to `MODE` (`onhook`, `mic`, `speaker`, `micspeaker`), PHONE_STATE follows |
//! | `disconnect` | the device goes away for now |
//! | `reconnect` | the device is back |
//! | `remove` | the device is gone for good |
//! | `arrive` | a new mock phone arrives (PHONE_CREATE); keys count on from the configured phones (`mock2` after the two defaults) |
//! | `remove-device KEY` | the device `KEY` (`mock0` …) is gone for good, open or not |
//! | `fault OP FAULT` | from now on operation `OP` (`set_data` … or `all`) commits `FAULT` (see [`crate::Fault`]) |
//! | `panic` | the command panics inside the driver |
//! | `crash` | the process the driver runs in aborts (for a driver isolated in a process of its own; in-process it takes the host down, which is what isolation is for) |
//! | `hang` | the driver stops answering anything: this command and every call after it, on every phone, blocks until the driver shuts down |
//!
//! The request itself completes with success; with `INVALPARAM` for a command that
//! does not parse or a `remove-device` key the mock does not have; with the
//! phone's error for a key or handset it lacks. While the device is away only
//! `reconnect`, `remove`, `fault`, `panic`, `crash` and `hang` run, the rest complete with
//! `INVALPHONESTATE`. The functions below build the bytes, for Rust tests.

use tsp_core::HookSwitchMode;

/// `press ID`.
pub fn press(id: u32) -> Vec<u8> {
    format!("press {id}").into_bytes()
}

/// `hookswitch handset MODE`.
pub fn hookswitch(mode: HookSwitchMode) -> Vec<u8> {
    format!("hookswitch handset {}", mode_name(mode)).into_bytes()
}

/// `fault OP FAULT`.
pub fn fault(operation: &str, fault: &str) -> Vec<u8> {
    format!("fault {operation} {fault}").into_bytes()
}

/// A command without arguments: `disconnect`, `reconnect`, `remove`, `arrive`, `panic`.
pub fn plain(word: &str) -> Vec<u8> {
    word.as_bytes().to_vec()
}

pub(crate) fn mode_name(mode: HookSwitchMode) -> &'static str {
    match mode {
        HookSwitchMode::OnHook => "onhook",
        HookSwitchMode::Mic => "mic",
        HookSwitchMode::Speaker => "speaker",
        HookSwitchMode::MicSpeaker => "micspeaker",
        HookSwitchMode::Unknown => "unknown",
    }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Press(u32),
    PressDown(u32),
    Hold(u32),
    Release(u32),
    RingModes(u32),
    HookSwitch(HookSwitchMode),
    Disconnect,
    Reconnect,
    Remove,
    Arrive,
    RemoveDevice(String),
    Fault(String, crate::Fault),
    Panic,
    Crash,
    Hang,
}

fn button_id(text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a button id"))
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Command, String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| "a command is UTF-8 text".to_owned())?;
    let mut words = text.split_whitespace();
    let verb = words.next().unwrap_or("");
    let rest: Vec<&str> = words.collect();
    let command = match (verb, rest.as_slice()) {
        ("press", [id]) => Command::Press(button_id(id)?),
        ("press-down", [id]) => Command::PressDown(button_id(id)?),
        ("hold", [id]) => Command::Hold(button_id(id)?),
        ("release", [id]) => Command::Release(button_id(id)?),
        ("ring-modes", [n]) => Command::RingModes(
            n.parse()
                .map_err(|_| format!("`{n}` is not a number of ring modes"))?,
        ),
        ("hookswitch", ["handset", mode]) => Command::HookSwitch(
            HookSwitchMode::ALL
                .iter()
                .copied()
                .find(|m| mode_name(*m) == *mode)
                .ok_or_else(|| format!("`{mode}` is not onhook, mic, speaker or micspeaker"))?,
        ),
        ("disconnect", []) => Command::Disconnect,
        ("reconnect", []) => Command::Reconnect,
        ("remove", []) => Command::Remove,
        ("arrive", []) => Command::Arrive,
        ("remove-device", [key]) => Command::RemoveDevice((*key).to_owned()),
        ("panic", []) => Command::Panic,
        ("crash", []) => Command::Crash,
        ("hang", []) => Command::Hang,
        ("fault", [op, fault @ ..]) if !fault.is_empty() => {
            Command::Fault((*op).to_owned(), fault.join(" ").parse()?)
        }
        _ => return Err(format!("unknown command `{text}`")),
    };
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_and_parser_agree() {
        assert_eq!(parse(&press(7)), Ok(Command::Press(7)));
        assert_eq!(
            parse(&hookswitch(HookSwitchMode::MicSpeaker)),
            Ok(Command::HookSwitch(HookSwitchMode::MicSpeaker))
        );
        assert_eq!(
            parse(&fault("set_data", "delay 5")),
            Ok(Command::Fault("set_data".into(), crate::Fault::Delay(5)))
        );
        assert_eq!(parse(b"arrive\0"), Ok(Command::Arrive));
        assert_eq!(parse(b"hold 3"), Ok(Command::Hold(3)));
        assert_eq!(parse(b"release 3"), Ok(Command::Release(3)));
        assert_eq!(parse(b"ring-modes 5"), Ok(Command::RingModes(5)));
        assert_eq!(
            parse(b"remove-device mock2"),
            Ok(Command::RemoveDevice("mock2".into()))
        );
        assert!(parse(b"press x").is_err());
        assert!(parse(b"ring-modes x").is_err());
        assert!(parse(b"hold").is_err());
        assert!(parse(b"remove-device").is_err());
        assert!(parse(b"dance").is_err());
        assert!(parse(&[0xFF, 0xFE]).is_err());
    }
}
