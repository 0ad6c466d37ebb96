//! `Message`: a PHONEEVENT with its parameters typed, as an application that
//! embeds the host receives it, and TAPI's names for what it carries
//! (`PHONE_BUTTON(id 5, KEYPAD, DOWN)`).

use std::fmt;

use bitflags::Flags;

use crate::{ButtonModes, ButtonStates, HookSwitchMode, PhoneMessage, PhoneStates};

/// A PHONEEVENT message with its parameters typed. [`Message::from_raw`] and
/// [`Message::to_raw`] convert from and to what TAPI's `PHONEEVENT` callback
/// receives; a message or parameters this type has no variant for arrive as
/// [`Message::Other`], unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// `PHONE_BUTTON`: a button changed state.
    Button {
        /// The button/lamp id.
        id: u32,
        /// The kind of button (one `PHONEBUTTONMODE_*`).
        mode: ButtonModes,
        /// Its new state (one `PHONEBUTTONSTATE_*`).
        state: ButtonStates,
    },
    /// `PHONE_STATE`: one status item changed.
    State {
        /// What changed (one `PHONESTATE_*`).
        state: PhoneStates,
        /// `dwParam2`: the new hookswitch mode for a hookswitch state, the
        /// lamp id for `LAMP`, else what the state defines (often 0).
        detail: u32,
    },
    /// `PHONE_CLOSE`: the provider closed the phone (its device was removed).
    Close,
    /// `PHONE_DEVSPECIFIC`: a driver's own notification, as it sent it.
    DevSpecific {
        /// `dwParam1` to `dwParam3`.
        params: [usize; 3],
    },
    /// `PHONE_CREATE`: a phone device arrived; `TSPI_providerCreatePhoneDevice`
    /// gives it an id.
    Create {
        /// The provider handle TAPI gave at `TSPI_providerEnumDevices`.
        provider: usize,
        /// The temporary id to pass to `TSPI_providerCreatePhoneDevice`.
        temp_id: usize,
    },
    /// `PHONE_REMOVE`: a phone device is gone for good.
    Remove {
        /// Its device id.
        device_id: u32,
    },
    /// Any other message, as TAPI would receive it.
    Other {
        /// The `PHONE_*` code.
        msg: u32,
        /// `dwParam1` to `dwParam3`.
        params: [usize; 3],
    },
}

impl Message {
    /// The typed form of a PHONEEVENT's `dwMsg` and parameters.
    pub fn from_raw(msg: u32, params: [usize; 3]) -> Self {
        let [p1, p2, p3] = params;
        let dword = |value: usize| u32::try_from(value).ok();
        let typed = match PhoneMessage::from_code(msg) {
            Some(PhoneMessage::Button) => {
                dword(p1)
                    .zip(dword(p2))
                    .zip(dword(p3))
                    .map(|((id, mode), state)| Self::Button {
                        id,
                        mode: ButtonModes::from_bits_retain(mode),
                        state: ButtonStates::from_bits_retain(state),
                    })
            }
            Some(PhoneMessage::State) => {
                dword(p1).zip(dword(p2)).map(|(state, detail)| Self::State {
                    state: PhoneStates::from_bits_retain(state),
                    detail,
                })
            }
            Some(PhoneMessage::Close) => Some(Self::Close),
            Some(PhoneMessage::DevSpecific) => Some(Self::DevSpecific { params }),
            Some(PhoneMessage::Create) => Some(Self::Create {
                provider: p1,
                temp_id: p2,
            }),
            Some(PhoneMessage::Remove) => dword(p1).map(|device_id| Self::Remove { device_id }),
            _ => None,
        };
        typed.unwrap_or(Self::Other { msg, params })
    }

    /// The `dwMsg` and parameters TAPI's `PHONEEVENT` receives for it.
    pub fn to_raw(&self) -> (u32, [usize; 3]) {
        let wide = |value: u32| value as usize;
        match *self {
            Self::Button { id, mode, state } => (
                PhoneMessage::Button.code(),
                [wide(id), wide(mode.bits()), wide(state.bits())],
            ),
            Self::State { state, detail } => (
                PhoneMessage::State.code(),
                [wide(state.bits()), wide(detail), 0],
            ),
            Self::Close => (PhoneMessage::Close.code(), [0; 3]),
            Self::DevSpecific { params } => (PhoneMessage::DevSpecific.code(), params),
            Self::Create { provider, temp_id } => {
                (PhoneMessage::Create.code(), [provider, temp_id, 0])
            }
            Self::Remove { device_id } => (PhoneMessage::Remove.code(), [wide(device_id), 0, 0]),
            Self::Other { msg, params } => (msg, params),
        }
    }
}

/// TAPI's names beside the numbers: `PHONE_BUTTON(id 5, KEYPAD, DOWN)`,
/// `PHONE_STATE(HANDSETHOOKSWITCH, MICSPEAKER)`; parameters that are handles
/// or ids keep their numbers.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (msg, [p1, p2, p3]) = self.to_raw();
        let Some(message) = PhoneMessage::from_code(msg) else {
            return write!(f, "PHONE_? {msg:#x}({p1:#x}, {p2:#x}, {p3:#x})");
        };
        let name = message.name();
        match *self {
            Self::Button { id, mode, state } => write!(
                f,
                "{name}(id {id}, {}, {})",
                flag_names(mode),
                flag_names(state)
            ),
            Self::State { state, detail } => match state_detail(state, detail) {
                Some(detail) => write!(f, "{name}({}, {detail})", flag_names(state)),
                None => write!(f, "{name}({})", flag_names(state)),
            },
            Self::Close => write!(f, "{name}()"),
            _ => write!(f, "{name}({p1:#x}, {p2:#x}, {p3:#x})"),
        }
    }
}

/// The names of the flags set, without TAPI's prefix and joined by `|`
/// (`KEYPAD`, `CONNECTED|DISPLAY`), then any bits no flag names, in hex (a
/// vendor's or a newer TAPI's bits are shown, not dropped); `0x0` for none.
pub fn flag_names<F: Flags<Bits = u32>>(flags: F) -> String {
    let bits = flags.bits();
    let mut named = 0;
    let mut names: Vec<String> = F::from_bits_retain(bits)
        .iter_names()
        .map(|(name, flag)| {
            named |= flag.bits();
            name.to_owned()
        })
        .collect();
    let rest = bits & !named;
    if rest != 0 || names.is_empty() {
        names.push(format!("{rest:#x}"));
    }
    names.join("|")
}

/// One PHONEHOOKSWITCHMODE_* value by its name without the prefix
/// (`MICSPEAKER`), else in hex.
pub fn hookswitch_mode_name(code: u32) -> String {
    HookSwitchMode::from_code(code).map_or_else(
        || format!("{code:#x}"),
        |mode| {
            mode.name()
                .trim_start_matches("PHONEHOOKSWITCHMODE_")
                .to_owned()
        },
    )
}

/// What PHONE_STATE's `dwParam2` says for `state`; `None` when the state gives
/// it no meaning and it is 0.
fn state_detail(state: PhoneStates, detail: u32) -> Option<String> {
    let hookswitches = PhoneStates::HANDSETHOOKSWITCH
        | PhoneStates::SPEAKERHOOKSWITCH
        | PhoneStates::HEADSETHOOKSWITCH;
    if hookswitches.contains(state) && !state.is_empty() {
        Some(hookswitch_mode_name(detail))
    } else if state == PhoneStates::LAMP {
        Some(format!("lamp {detail}"))
    } else if state == PhoneStates::RINGMODE {
        Some(format!("ring mode {detail}"))
    } else {
        (detail != 0).then(|| format!("{detail:#x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(message: PhoneMessage, params: [usize; 3]) -> String {
        Message::from_raw(message.code(), params).to_string()
    }

    #[test]
    fn a_key_press_reads_as_tapi_names_it() {
        let keypad = ButtonModes::KEYPAD.bits() as usize;
        let down = ButtonStates::DOWN.bits() as usize;
        assert_eq!(
            named(PhoneMessage::Button, [5, keypad, down]),
            "PHONE_BUTTON(id 5, KEYPAD, DOWN)"
        );
    }

    #[test]
    fn a_hookswitch_change_names_its_mode() {
        let state = PhoneStates::HANDSETHOOKSWITCH.bits() as usize;
        let mode = HookSwitchMode::MicSpeaker.code() as usize;
        assert_eq!(
            named(PhoneMessage::State, [state, mode, 0]),
            "PHONE_STATE(HANDSETHOOKSWITCH, MICSPEAKER)"
        );
    }

    #[test]
    fn other_states_say_what_param2_is_or_leave_it_out() {
        let lamp = PhoneStates::LAMP.bits() as usize;
        assert_eq!(
            named(PhoneMessage::State, [lamp, 3, 0]),
            "PHONE_STATE(LAMP, lamp 3)"
        );
        let gone = PhoneStates::DISCONNECTED.bits() as usize;
        assert_eq!(
            named(PhoneMessage::State, [gone, 0, 0]),
            "PHONE_STATE(DISCONNECTED)"
        );
    }

    #[test]
    fn numbers_stay_where_tapi_has_no_names() {
        assert_eq!(
            named(PhoneMessage::Reply, [7, 0, 0]),
            "PHONE_REPLY(0x7, 0x0, 0x0)"
        );
        assert_eq!(named(PhoneMessage::Close, [0, 0, 0]), "PHONE_CLOSE()");
        assert_eq!(
            Message::from_raw(0xFFFF, [1, 2, 3]).to_string(),
            "PHONE_? 0xffff(0x1, 0x2, 0x3)"
        );
    }

    #[test]
    fn unnamed_bits_are_shown_beside_the_names() {
        assert_eq!(flag_names(ButtonStates::empty()), "0x0");
        let bits = ButtonModes::from_bits_retain(ButtonModes::KEYPAD.bits() | 0x8000_0000);
        assert_eq!(flag_names(bits), "KEYPAD|0x80000000");
        assert_eq!(hookswitch_mode_name(0x40), "0x40");
    }

    #[test]
    fn raw_and_typed_convert_both_ways() {
        let raw = [
            (PhoneMessage::Button.code(), [5, 0x4, 0x2]),
            (PhoneMessage::State.code(), [0x10, 0x4, 0]),
            (PhoneMessage::Close.code(), [0, 0, 0]),
            (PhoneMessage::DevSpecific.code(), [1, 2, 3]),
            (PhoneMessage::Create.code(), [0xABC, 7, 0]),
            (PhoneMessage::Remove.code(), [3, 0, 0]),
            (PhoneMessage::Reply.code(), [9, 0, 0]),
        ];
        for (msg, params) in raw {
            assert_eq!(Message::from_raw(msg, params).to_raw(), (msg, params));
        }
        let wide = Message::from_raw(PhoneMessage::Button.code(), [usize::MAX, 0, 0]);
        assert!(matches!(wide, Message::Other { .. }), "no id that wide");
    }
}
