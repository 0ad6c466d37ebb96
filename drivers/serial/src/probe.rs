//! Probing at open: what the device really answers decides the phone's
//! capabilities (`ATE0 V1 +CMEE=1`, the character set, then the test commands).

use std::time::Duration;

use tsp_core::{
    ButtonFunction, ButtonLamp, ButtonModes, DisplayGeometry, HookSwitchCaps, HookSwitchModes,
    LampModes, PhoneCaps, PhoneFeatures, PhoneStates, StringFormat,
};

use crate::at::parse::{self, Indicator, Values};
use crate::at::{Final, Response};
use crate::port::{AtError, AtPort};

/// What a device answered to the test commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// The character set in use: `UCS2` where offered, else `IRA`.
    pub charset: String,
    /// `+CDIS=?`: the length of each display element.
    pub display: Vec<u32>,
    /// `+CKPD=?` answered OK: keypad emulation works.
    pub keypad: bool,
    /// `+CIND=?`: the indicators, in the device's own order and names.
    pub indicators: Vec<Indicator>,
    /// `+CMER=?`: the five groups (mode, keyp, disp, ind, bfr).
    pub cmer: Vec<Values>,
    /// `+CLVL=?`: the loudspeaker range.
    pub volume: Option<(u32, u32)>,
    /// `+CRSL=?`: the ringer range.
    pub ringer: Option<(u32, u32)>,
    /// `+CMUT=?` answered: microphone mute.
    pub mute: bool,
    /// `+CMEC=?`: whether the TE may drive keypad, display, indicators.
    pub cmec: Vec<Values>,
}

impl Probe {
    /// Whether the device reports key presses (`+CMER` keyp above 0).
    pub fn key_events(&self) -> bool {
        self.cmer
            .get(1)
            .is_some_and(|keyp| keyp.0.iter().any(|&(_, high)| high > 0))
    }

    /// `AT+CMEC=…` giving the TE keypad and display control (2: shared with the
    /// phone where offered, else 1), if the device lists any.
    pub fn cmec_command(&self) -> Option<String> {
        let pick = |group: Option<&Values>| match group {
            Some(v) if v.contains(2) => 2,
            Some(v) if v.contains(1) => 1,
            _ => 0,
        };
        let (keyp, disp) = (pick(self.cmec.first()), pick(self.cmec.get(1)));
        (keyp > 0 || disp > 0).then(|| format!("AT+CMEC={keyp},{disp},0"))
    }

    /// `AT+CMER=3,…` turning on key events (every key where offered) and indicator
    /// events, chosen from what `+CMER=?` lists.
    pub fn cmer_command(&self) -> Option<String> {
        let pick = |group: Option<&Values>, best: u32| match group {
            Some(v) if v.contains(best) => best,
            Some(v) if v.contains(1) => 1,
            _ => 0,
        };
        if !self.cmer.first().is_some_and(|mode| mode.contains(3)) {
            return None;
        }
        let (keyp, ind) = (pick(self.cmer.get(1), 2), pick(self.cmer.get(3), 1));
        (keyp > 0 || ind > 0).then(|| format!("AT+CMER=3,{keyp},0,{ind},0"))
    }

    /// The capabilities the answers give; they claim nothing the device did not
    /// answer.
    pub fn caps(&self, name: &str, permanent_id: u32) -> PhoneCaps {
        let mut features = PhoneFeatures::empty();
        let mut states = PhoneStates::CONNECTED | PhoneStates::DISCONNECTED;
        let mut set_data = Vec::new();
        let mut buttons = Vec::new();
        if self.keypad {
            set_data.push(KEYS_AREA_SIZE);
            let key = ButtonLamp {
                mode: ButtonModes::KEYPAD,
                function: ButtonFunction::None,
                lamp_modes: LampModes::DUMMY,
            };
            buttons = vec![key; 12];
        }
        let display = self.display_area();
        if let Some((_, size)) = display {
            features |= PhoneFeatures::SETDISPLAY | PhoneFeatures::GETDISPLAY;
            states |= PhoneStates::DISPLAY;
            set_data.push(size);
        }
        if !set_data.is_empty() {
            features |= PhoneFeatures::SETDATA;
        }
        let modes = HookSwitchModes::ONHOOK | HookSwitchModes::MICSPEAKER;
        let handset = HookSwitchCaps {
            modes,
            settable: modes,
            monitored: modes,
            volume: self.volume.is_some(),
            gain: self.mute,
        };
        features |= PhoneFeatures::SETHOOKSWITCHHANDSET | PhoneFeatures::GETHOOKSWITCHHANDSET;
        states |= PhoneStates::HANDSETHOOKSWITCH;
        if self.volume.is_some() {
            features |= PhoneFeatures::SETVOLUMEHANDSET | PhoneFeatures::GETVOLUMEHANDSET;
            states |= PhoneStates::HANDSETVOLUME;
        }
        if self.mute {
            features |= PhoneFeatures::SETGAINHANDSET | PhoneFeatures::GETGAINHANDSET;
        }
        let ring_modes = u32::from(self.ringer.is_some());
        if ring_modes > 0 {
            features |= PhoneFeatures::SETRING | PhoneFeatures::GETRING;
            states |= PhoneStates::RINGMODE | PhoneStates::RINGVOLUME;
        }
        PhoneCaps {
            name: name.to_owned(),
            provider_info: format!("tsp-rs serial AT driver {}", env!("CARGO_PKG_VERSION")),
            phone_info: format!("AT phone, character set {}", self.charset),
            permanent_id,
            string_format: Some(StringFormat::Unicode),
            phone_states: states,
            handset: Some(handset),
            display: display.map(|(geometry, _)| geometry),
            ring_modes,
            buttons,
            set_data,
            features,
            ..PhoneCaps::default()
        }
    }

    /// The display (a row per `+CDIS` element, as wide as the widest) and the
    /// size of its text area. `None` without a display, and for one whose
    /// rows × columns does not fit the `DWORD` a data area's size is: that is
    /// a device's nonsense, and no caps could describe it.
    fn display_area(&self) -> Option<(DisplayGeometry, u32)> {
        let rows = u32::try_from(self.display.len()).ok()?;
        let columns = self.display.iter().copied().max()?;
        let size = rows.checked_mul(columns)?;
        Some((DisplayGeometry { rows, columns }, size))
    }
}

/// The size of the keypad-emulation data area: a `+CKPD` key string.
pub const KEYS_AREA_SIZE: u32 = 64;

/// What a SetData area does. The areas are those the device has, in this order:
/// keypad emulation, then the display's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataArea {
    /// The bytes, up to a NUL, are keys for `+CKPD`.
    Keys,
    /// The bytes, up to a NUL, are the display's text, row after row.
    DisplayText,
}

impl Probe {
    /// The SetData areas, indexed by data id.
    pub fn data_areas(&self) -> Vec<DataArea> {
        let mut areas = Vec::new();
        if self.keypad {
            areas.push(DataArea::Keys);
        }
        if self.display_area().is_some() {
            areas.push(DataArea::DisplayText);
        }
        areas
    }
}

/// The answer to `command` when it is `OK`. An answer too big to keep whole
/// counts as no answer: the feature is not claimed, and the port stays usable.
fn ok(port: &AtPort, command: &str, timeout: Duration) -> Result<Option<Response>, AtError> {
    let response = match port.command(command, timeout) {
        Err(AtError::TooMuch { .. }) => return Ok(None),
        other => other?,
    };
    Ok(matches!(response.final_code, Final::Ok).then_some(response))
}

fn test_line<'a>(response: &'a Option<Response>, name: &str) -> Option<&'a str> {
    response
        .as_ref()?
        .info
        .iter()
        .find_map(|line| parse::payload(line, name))
}

/// Probes the device on `port`.
pub fn probe(port: &AtPort, timeout: Duration) -> Result<Probe, AtError> {
    // The first AT may be swallowed by a sleeping device: try a few times.
    let mut awake = false;
    for _ in 0..3 {
        if matches!(port.command("AT", timeout), Ok(r) if r.final_code.is_ok()) {
            awake = true;
            break;
        }
    }
    if !awake {
        return Err(AtError::Timeout("AT".into()));
    }
    port.command("ATE0", timeout)?;
    port.command("ATV1", timeout)?;
    port.command("AT+CMEE=1", timeout)?;
    let charsets = ok(port, "AT+CSCS=?", timeout)?;
    let charset = if test_line(&charsets, "+CSCS")
        .is_some_and(|l| l.to_ascii_uppercase().contains("\"UCS2\""))
    {
        "UCS2"
    } else {
        "IRA"
    };
    ok(port, &format!("AT+CSCS=\"{charset}\""), timeout)?;
    let mut probe = Probe {
        charset: charset.to_owned(),
        ..Probe::default()
    };
    let cdis = ok(port, "AT+CDIS=?", timeout)?;
    probe.display = test_line(&cdis, "+CDIS")
        .map(|l| {
            parse::top_level(l)
                .iter()
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if !probe.display.is_empty() && probe.display_area().is_none() {
        // Dropped here, so the session never drives a display its caps do not have.
        tracing::warn!(
            rows = probe.display.len(),
            columns = probe.display.iter().max(),
            "+CDIS=? answers a display too big to address; treating it as no display"
        );
        probe.display.clear();
    }
    probe.keypad = ok(port, "AT+CKPD=?", timeout)?.is_some();
    let cind = ok(port, "AT+CIND=?", timeout)?;
    probe.indicators = test_line(&cind, "+CIND")
        .and_then(parse::indicators)
        .unwrap_or_default();
    let cmer = ok(port, "AT+CMER=?", timeout)?;
    probe.cmer = test_line(&cmer, "+CMER")
        .and_then(parse::groups)
        .unwrap_or_default();
    let range = |name: &str, response: &Option<Response>| {
        test_line(response, name)
            .and_then(Values::parse)
            .and_then(|v| v.bounds())
            .filter(|(low, high)| high > low)
    };
    let clvl = ok(port, "AT+CLVL=?", timeout)?;
    probe.volume = range("+CLVL", &clvl);
    let crsl = ok(port, "AT+CRSL=?", timeout)?;
    probe.ringer = range("+CRSL", &crsl);
    probe.mute = ok(port, "AT+CMUT=?", timeout)?.is_some();
    let cmec = ok(port, "AT+CMEC=?", timeout)?;
    probe.cmec = test_line(&cmec, "+CMEC")
        .and_then(parse::groups)
        .unwrap_or_default();
    Ok(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_with(cmer: &str, cmec: &str) -> Probe {
        Probe {
            cmer: parse::groups(cmer).expect("cmer"),
            cmec: parse::groups(cmec).expect("cmec"),
            ..Probe::default()
        }
    }

    #[test]
    fn event_reporting_is_chosen_from_what_the_device_lists() {
        let phone = probe_with("(0,3),(0,1,2),(0),(0,1,2),(0)", "(0-2),(0-2),(0-2)");
        assert_eq!(phone.cmer_command().as_deref(), Some("AT+CMER=3,2,0,1,0"));
        assert_eq!(phone.cmec_command().as_deref(), Some("AT+CMEC=2,2,0"));
        let sierra = probe_with("1,0,0,(0-1),0", "(0),(0),(0)");
        assert_eq!(
            sierra.cmer_command(),
            None,
            "no mode 3: nothing forwarded directly"
        );
        assert_eq!(sierra.cmec_command(), None, "no TE control offered");
        let mbm = probe_with("(0,3),(0,2),0,(0-1),0", "(0),(1),(0)");
        assert_eq!(mbm.cmer_command().as_deref(), Some("AT+CMER=3,2,0,1,0"));
        assert_eq!(mbm.cmec_command().as_deref(), Some("AT+CMEC=0,1,0"));
    }

    #[test]
    fn a_display_too_big_to_address_is_no_display() {
        let huge = Probe {
            display: vec![u32::MAX, u32::MAX],
            keypad: true,
            ..Probe::default()
        };
        let caps = huge.caps("Boastful phone", 1);
        assert_eq!(caps.display, None);
        assert!(!caps.features.contains(PhoneFeatures::SETDISPLAY));
        assert_eq!(caps.set_data, [KEYS_AREA_SIZE], "the keys area only");
        assert_eq!(
            huge.data_areas(),
            [DataArea::Keys],
            "ids agree with the caps"
        );

        let one_long_row = Probe {
            display: vec![u32::MAX],
            ..Probe::default()
        };
        assert_eq!(one_long_row.caps("Wide phone", 2).set_data, [u32::MAX]);
    }
}
