//! What the device's unsolicited result codes mean: the phone events made of
//! `+CIEV` (through the indicators probing found), `+CKEV`, `RING` and `+CRING`,
//! and the listener loop that sends them. The bounded queue the codes wait in
//! is [`crate::urc`].

use tsp_core::{ButtonModes, HookSwitchDevice, HookSwitchMode};
use tsp_plugin_sdk::{PhoneEvent, PhoneEvents};

use crate::at::parse;
use crate::port::GONE;
use crate::urc;

/// Key characters of `+CKPD`/`+CKEV` to TAPI keypad ids.
fn key_id(key: &str) -> Option<u32> {
    match key {
        "*" => Some(10),
        "#" => Some(11),
        digit if digit.len() == 1 => digit.parse().ok(),
        _ => None,
    }
}

/// The event an indicator change means: `call` is the hookswitch (a call up is
/// off hook), `callsetup` an incoming call ringing (1) or not (0).
fn indicator_event(indicators: &[parse::Indicator], payload: &str) -> Option<PhoneEvent> {
    let (which, value) = parse::ciev(payload)?;
    let key = match which {
        parse::IndicatorRef::Index(index) => indicators
            .get((index as usize).checked_sub(1)?)?
            .key
            .clone(),
        parse::IndicatorRef::Name(name) => name,
    };
    match key.as_str() {
        "call" => Some(PhoneEvent::HookSwitch {
            device: HookSwitchDevice::Handset,
            mode: if value > 0 {
                HookSwitchMode::MicSpeaker
            } else {
                HookSwitchMode::OnHook
            },
        }),
        "callsetup" => Some(PhoneEvent::Ring {
            mode: u32::from(value == 1),
            volume: 0xFFFF,
        }),
        _ => None,
    }
}

/// The phone event unsolicited code `line` means, if any: `+CIEV` through the
/// indicators (see [`indicator_event`]), `+CKEV` keys, `RING` and `+CRING`.
pub(crate) fn unsolicited_event(line: &str, indicators: &[parse::Indicator]) -> Option<PhoneEvent> {
    if let Some(payload) = parse::payload(line, "+CIEV") {
        return indicator_event(indicators, payload);
    }
    if let Some((key, down)) = parse::payload(line, "+CKEV").and_then(parse::ckev) {
        let state = if down {
            tsp_core::ButtonStates::DOWN
        } else {
            tsp_core::ButtonStates::UP
        };
        return Some(PhoneEvent::Button {
            id: key_id(&key)?,
            mode: ButtonModes::KEYPAD,
            state,
        });
    }
    (line.trim() == "RING" || parse::payload(line, "+CRING").is_some()).then_some(
        PhoneEvent::Ring {
            mode: 1,
            volume: 0xFFFF,
        },
    )
}

/// Turns unsolicited codes into events until the port closes (false) or
/// vanishes (true).
pub(crate) fn listen(
    urc: urc::Receiver,
    events: &PhoneEvents,
    indicators: &[parse::Indicator],
) -> bool {
    while let Ok(line) = urc.recv() {
        if line == GONE {
            return true;
        }
        if let Some(event) = unsolicited_event(&line, indicators) {
            events.send(event);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicators_become_hookswitch_and_ring_events() {
        let indicators =
            parse::indicators(r#"("battchg",(0-5)),("call",(0,1)),("callsetup",(0-3))"#)
                .expect("parses");
        assert_eq!(
            indicator_event(&indicators, "2,1"),
            Some(PhoneEvent::HookSwitch {
                device: HookSwitchDevice::Handset,
                mode: HookSwitchMode::MicSpeaker
            })
        );
        assert_eq!(
            indicator_event(&indicators, "3,1"),
            Some(PhoneEvent::Ring {
                mode: 1,
                volume: 0xFFFF
            })
        );
        assert_eq!(
            indicator_event(&indicators, "call,0").map(|e| matches!(
                e,
                PhoneEvent::HookSwitch {
                    mode: HookSwitchMode::OnHook,
                    ..
                }
            )),
            Some(true),
            "by name (Telit)"
        );
        assert_eq!(
            indicator_event(&indicators, "1,3"),
            None,
            "battery: no phone event"
        );
        assert_eq!(indicator_event(&indicators, "9,1"), None, "past the list");
    }

    #[test]
    fn unsolicited_codes_become_key_ring_and_indicator_events() {
        let indicators = parse::indicators(r#"("call",(0,1))"#).expect("parses");
        let key = |id, state| {
            Some(PhoneEvent::Button {
                id,
                mode: ButtonModes::KEYPAD,
                state,
            })
        };
        assert_eq!(
            unsolicited_event("+CKEV: 5,1", &indicators),
            key(5, tsp_core::ButtonStates::DOWN)
        );
        assert_eq!(
            unsolicited_event("+CKEV: \"#\",0", &indicators),
            key(11, tsp_core::ButtonStates::UP)
        );
        let ring = Some(PhoneEvent::Ring {
            mode: 1,
            volume: 0xFFFF,
        });
        assert_eq!(unsolicited_event(" RING ", &indicators), ring);
        assert_eq!(unsolicited_event("+CRING: VOICE", &indicators), ring);
        assert!(matches!(
            unsolicited_event("+CIEV: 1,1", &indicators),
            Some(PhoneEvent::HookSwitch { .. })
        ));
        for nothing in [
            "+CKEV: :J,1",
            "+CKEV: 5",
            "+CIEV: 9,1",
            "+CREG: 1",
            "RINGING",
            "",
        ] {
            assert_eq!(unsolicited_event(nothing, &indicators), None, "{nothing}");
        }
    }
}
