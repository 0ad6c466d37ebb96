//! What the checks ask of a started driver: its enumeration and caps, and on
//! each device opens, requests, cancel and what it does not advertise. Each
//! answers `Ok` or why it failed.

use std::collections::HashSet;
use std::sync::Arc;

use tsp_core::{
    HookSwitchDevice, HookSwitchDevs, HookSwitchMode, LampModes, PhoneError, PhoneFeatures,
};

use super::kit::Kit;
use crate::DeviceInfo;
use crate::host::{LoadedDriver, OpenSession};

/// Requests sent by the concurrency check.
const CONCURRENT_REQUESTS: u64 = 400;
const CONCURRENT_THREADS: u64 = 4;

/// The devices, asked for twice: the same both times, no key or permanent id
/// shared.
pub(super) fn stable_devices(driver: &LoadedDriver) -> Result<Vec<DeviceInfo>, String> {
    let first = driver
        .devices()
        .map_err(|e| format!("devices() failed: {e}"))?;
    let second = driver
        .devices()
        .map_err(|e| format!("devices() failed the second time: {e}"))?;
    if first != second {
        return Err("two calls to devices() gave different answers".into());
    }
    let keys: HashSet<&str> = first.iter().map(|d| d.key.as_str()).collect();
    if keys.len() != first.len() {
        return Err("two devices share a key".into());
    }
    let ids: HashSet<u32> = first.iter().map(|d| d.caps.permanent_id).collect();
    if ids.len() != first.len() {
        return Err("two devices share a permanent id".into());
    }
    Ok(first)
}

/// What the checks work on: the started driver, the kit's host and the
/// devices the driver enumerated.
pub(super) struct Context<'a> {
    pub(super) driver: &'a LoadedDriver,
    pub(super) host: &'a Arc<Kit>,
    pub(super) devices: &'a [DeviceInfo],
}

impl Context<'_> {
    pub(super) fn each_device(
        &self,
        check: fn(&Self, &DeviceInfo) -> Result<(), String>,
    ) -> Result<(), String> {
        for device in self.devices {
            check(self, device).map_err(|why| format!("{}: {why}", device.key))?;
        }
        Ok(())
    }

    fn open(&self, device: &DeviceInfo) -> Result<OpenSession, String> {
        self.driver
            .open(&device.key, self.host.next_token())
            .map_err(|e| format!("open failed: {e}"))
    }

    /// Closes as the host does: cancel, wait for what is outstanding, close.
    fn close(&self, session: OpenSession, outstanding: &[u64]) -> Result<(), String> {
        session.cancel();
        let done = self.host.wait_all(outstanding);
        session.close();
        done
    }

    pub(super) fn caps_consistent(&self) -> Result<(), String> {
        for device in self.devices {
            let caps = &device.caps;
            let fail = |why: String| Err(format!("{}: {why}", device.key));
            match self.driver.caps(&device.key) {
                Ok(again) if again == *caps => {}
                Ok(_) => return fail("caps() differs from what devices() said".into()),
                Err(e) => return fail(format!("caps() failed: {e}")),
            }
            if caps.name.is_empty() {
                return fail("the phone has no name".into());
            }
            if caps.string_format.is_none() {
                return fail("dwStringFormat is not a STRINGFORMAT_ value".into());
            }
            for (feature, present, what) in feature_needs(caps) {
                if caps.features.contains(feature) && !present {
                    return fail(format!("{feature:?} is advertised without {what}"));
                }
            }
        }
        match self.driver.caps("no such device, surely") {
            Err(e) if e.code == PhoneError::BadDeviceId => Ok(()),
            Err(e) => Err(format!(
                "caps of an unknown key: {} instead of BADDEVICEID",
                e.code.name()
            )),
            Ok(_) => Err("caps of an unknown key succeeded".into()),
        }
    }

    pub(super) fn caps_honoured(&self, device: &DeviceInfo) -> Result<(), String> {
        let caps = &device.caps;
        if caps.set_data.is_empty() && caps.get_data.is_empty() {
            return Ok(());
        }
        let session = self.open(device)?;
        let mut tokens = Vec::new();
        let result = (|| {
            for (id, &size) in caps.set_data.iter().enumerate() {
                let pattern: Vec<u8> = (0..size).map(|i| (i as u8) ^ (id as u8) ^ 0x5A).collect();
                let token = self.host.next_token();
                tokens.push(token);
                session.set_data(token, id as u32, &pattern);
                match self.host.wait(token) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Err(format!(
                            "SetData of {size} bytes to area {id} failed: {}",
                            e.name()
                        ));
                    }
                    Err(why) => return Err(format!("SetData to area {id}: {why}")),
                }
                if id < caps.get_data.len() {
                    let mut back = vec![0u8; size.min(caps.get_data[id]) as usize];
                    session
                        .get_data(id as u32, &mut back)
                        .map_err(|e| format!("GetData of area {id} failed: {}", e.name()))?;
                    if back[..] != pattern[..back.len()] {
                        return Err(format!(
                            "GetData of area {id} does not read back what SetData wrote"
                        ));
                    }
                }
            }
            let past = caps.set_data.len() as u32;
            if past > 0 {
                let token = self.host.next_token();
                tokens.push(token);
                session.set_data(token, past, &[1]);
                match self.host.wait(token) {
                    Ok(Err(PhoneError::InvalDataId)) => {}
                    Ok(other) => {
                        return Err(format!(
                            "SetData to area {past} (past the last): {other:?}, not INVALDATAID"
                        ));
                    }
                    Err(why) => return Err(format!("SetData to area {past}: {why}")),
                }
            }
            let past = caps.get_data.len() as u32;
            if past > 0 {
                match session.get_data(past, &mut [0u8; 4]) {
                    Err(PhoneError::InvalDataId) => {}
                    other => {
                        return Err(format!(
                            "GetData of area {past} (past the last): {other:?}, not INVALDATAID"
                        ));
                    }
                }
            }
            Ok(())
        })();
        self.close(session, &tokens).and(result)
    }

    pub(super) fn open_close_cycles(&self, device: &DeviceInfo) -> Result<(), String> {
        for cycle in 1..=3 {
            let session = self
                .open(device)
                .map_err(|why| format!("cycle {cycle}: {why}"))?;
            self.close(session, &[])?;
        }
        Ok(())
    }

    pub(super) fn exclusive(&self, device: &DeviceInfo) -> Result<(), String> {
        let first = self.open(device)?;
        let second = self.driver.open(&device.key, self.host.next_token());
        let verdict = match &second {
            Err(e) if e.code == PhoneError::Allocated => Ok(()),
            Err(e) => Err(format!(
                "a second open failed with {} instead of ALLOCATED",
                e.code.name()
            )),
            Ok(_) => Err("a second open succeeded while the first held the device".into()),
        };
        if let Ok(second) = second {
            self.close(second, &[])?;
        }
        self.close(first, &[])?;
        verdict?;
        let again = self
            .open(device)
            .map_err(|why| format!("after close: {why}"))?;
        self.close(again, &[])
    }

    pub(super) fn exactly_once(&self, device: &DeviceInfo) -> Result<(), String> {
        let Some(&size) = device.caps.set_data.first() else {
            return Ok(());
        };
        let session = self.open(device)?;
        let concurrent = self.driver.concurrent_sessions();
        let data = vec![0xA5u8; size.min(16) as usize];
        let tokens: Vec<u64> = (0..CONCURRENT_REQUESTS)
            .map(|_| self.host.next_token())
            .collect();
        let send = |chunk: &[u64]| -> Result<(), String> {
            for &token in chunk {
                session.set_data(token, 0, &data);
                if !concurrent {
                    self.host
                        .wait(token)?
                        .map_err(|e| format!("SetData failed: {}", e.name()))?;
                }
            }
            Ok(())
        };
        let sent = if concurrent {
            let per_thread = (CONCURRENT_REQUESTS / CONCURRENT_THREADS) as usize;
            std::thread::scope(|scope| {
                let workers: Vec<_> = tokens
                    .chunks(per_thread)
                    .map(|chunk| scope.spawn(move || send(chunk)))
                    .collect();
                workers
                    .into_iter()
                    .try_for_each(|w| w.join().unwrap_or_else(|_| Err("a sender panicked".into())))
            })
        } else {
            send(&tokens)
        };
        let waited = self.host.wait_all(&tokens);
        let close = self.close(session, &tokens);
        sent.and(waited).and(close)?;
        self.host.exactly_once(&tokens)
    }

    pub(super) fn cancel_completes(&self, device: &DeviceInfo) -> Result<(), String> {
        if device.caps.set_data.is_empty() {
            return Ok(());
        }
        let session = self.open(device)?;
        let tokens: Vec<u64> = (0..8).map(|_| self.host.next_token()).collect();
        for &token in &tokens {
            session.set_data(token, 0, &[1, 2, 3]);
        }
        session.cancel();
        let waited = self
            .host
            .wait_all(&tokens)
            .map_err(|why| format!("after cancel: {why}"));
        session.close();
        waited?;
        self.host.exactly_once(&tokens)
    }

    pub(super) fn unadvertised(&self, device: &DeviceInfo) -> Result<(), String> {
        let features = device.caps.features;
        let session = self.open(device)?;
        let mut tokens = Vec::new();
        let mut failures = Vec::new();
        for (feature, name, call) in unadvertised_calls() {
            if features.contains(feature) {
                continue;
            }
            let token = self.host.next_token();
            let answer = match call(&session, token) {
                Answer::Now(result) => result,
                Answer::Later => {
                    tokens.push(token);
                    self.host
                        .wait(token)
                        .unwrap_or(Err(PhoneError::OperationFailed))
                }
            };
            if answer != Err(PhoneError::OperationUnavail) {
                failures.push(format!("{name} (not advertised) answered {answer:?}"));
            }
        }
        self.close(session, &tokens)?;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

/// What each advertised feature needs in the caps.
fn feature_needs(caps: &tsp_core::PhoneCaps) -> Vec<(PhoneFeatures, bool, &'static str)> {
    let handset = caps.handset.is_some();
    let speaker = caps.speaker.is_some();
    let headset = caps.headset.is_some();
    vec![
        (
            PhoneFeatures::SETDATA,
            !caps.set_data.is_empty(),
            "SetData areas",
        ),
        (
            PhoneFeatures::GETDATA,
            !caps.get_data.is_empty(),
            "GetData areas",
        ),
        (
            PhoneFeatures::SETDISPLAY,
            caps.display.is_some(),
            "a display",
        ),
        (
            PhoneFeatures::GETDISPLAY,
            caps.display.is_some(),
            "a display",
        ),
        (
            PhoneFeatures::GETBUTTONINFO,
            !caps.buttons.is_empty(),
            "buttons",
        ),
        (
            PhoneFeatures::SETBUTTONINFO,
            !caps.buttons.is_empty(),
            "buttons",
        ),
        (PhoneFeatures::SETRING, caps.ring_modes > 0, "ring modes"),
        (PhoneFeatures::GETHOOKSWITCHHANDSET, handset, "a handset"),
        (PhoneFeatures::SETHOOKSWITCHHANDSET, handset, "a handset"),
        (PhoneFeatures::GETHOOKSWITCHSPEAKER, speaker, "a speaker"),
        (PhoneFeatures::SETHOOKSWITCHSPEAKER, speaker, "a speaker"),
        (PhoneFeatures::GETHOOKSWITCHHEADSET, headset, "a headset"),
        (PhoneFeatures::SETHOOKSWITCHHEADSET, headset, "a headset"),
        (
            PhoneFeatures::SETVOLUMEHANDSET,
            caps.handset.is_some_and(|h| h.volume),
            "a handset with settable volume",
        ),
        (
            PhoneFeatures::SETGAINHANDSET,
            caps.handset.is_some_and(|h| h.gain),
            "a handset with settable gain",
        ),
    ]
}

enum Answer {
    Now(Result<(), PhoneError>),
    Later,
}

type Call = fn(&OpenSession, u64) -> Answer;

fn unadvertised_calls() -> Vec<(PhoneFeatures, &'static str, Call)> {
    fn now<T>(r: Result<T, PhoneError>) -> Answer {
        Answer::Now(r.map(|_| ()))
    }
    vec![
        (PhoneFeatures::SETDATA, "SetData", |s, t| {
            s.set_data(t, 0, &[0]);
            Answer::Later
        }),
        (PhoneFeatures::GETDATA, "GetData", |s, _| {
            now(s.get_data(0, &mut [0]))
        }),
        (PhoneFeatures::SETDISPLAY, "SetDisplay", |s, t| {
            s.set_display(t, 0, 0, "x");
            Answer::Later
        }),
        (PhoneFeatures::GETDISPLAY, "GetDisplay", |s, _| {
            now(s.get_display())
        }),
        (PhoneFeatures::SETRING, "SetRing", |s, t| {
            s.set_ring(t, 0, 0);
            Answer::Later
        }),
        (PhoneFeatures::GETRING, "GetRing", |s, _| now(s.get_ring())),
        (PhoneFeatures::SETLAMP, "SetLamp", |s, t| {
            s.set_lamp(t, 0, LampModes::OFF);
            Answer::Later
        }),
        (PhoneFeatures::GETLAMP, "GetLamp", |s, _| now(s.get_lamp(0))),
        (PhoneFeatures::GETBUTTONINFO, "GetButtonInfo", |s, _| {
            now(s.get_button_info(0))
        }),
        (
            PhoneFeatures::SETHOOKSWITCHHANDSET,
            "SetHookSwitch(handset)",
            |s, t| {
                s.set_hookswitch(t, HookSwitchDevs::HANDSET, HookSwitchMode::OnHook);
                Answer::Later
            },
        ),
        (
            PhoneFeatures::GETVOLUMEHANDSET,
            "GetVolume(handset)",
            |s, _| now(s.get_volume(HookSwitchDevice::Handset)),
        ),
        (
            PhoneFeatures::SETVOLUMEHANDSET,
            "SetVolume(handset)",
            |s, t| {
                s.set_volume(t, HookSwitchDevice::Handset, 0);
                Answer::Later
            },
        ),
        (PhoneFeatures::GETGAINHANDSET, "GetGain(handset)", |s, _| {
            now(s.get_gain(HookSwitchDevice::Handset))
        }),
        (PhoneFeatures::SETGAINHANDSET, "SetGain(handset)", |s, t| {
            s.set_gain(t, HookSwitchDevice::Handset, 0);
            Answer::Later
        }),
    ]
}
