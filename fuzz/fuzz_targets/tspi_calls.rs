//! Sequences of TSPI calls with arbitrary arguments against the host with the
//! mock (linked in, no reservation files): stale and made-up handles, ids and
//! sizes past the caps, buffers of any size, device events in between. Nothing
//! panics, no call or callback overlaps, and each accepted request completes.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tsp_host::testkit::{OVERLAPS, completion_proc, event_proc, seen};
use tsp_host::{Config, ConfigSource, HostSetup, Provider};

const V31: u32 = 0x0003_0001;

#[derive(Debug, Arbitrary)]
enum Call {
    Open { device: u8, version: u32 },
    Close { phone: u8 },
    CloseMadeUp { handle: u64 },
    SetData { phone: u8, data_id: u32, data: Vec<u8> },
    GetData { phone: u8, data_id: u32, size: u16 },
    SetDisplay { phone: u8, row: u32, column: u32, text: Vec<u8> },
    GetDisplay { phone: u8, size: u16 },
    SetLamp { phone: u8, id: u32, mode: u32 },
    GetLamp { phone: u8, id: u32 },
    SetRing { phone: u8, mode: u32, volume: u32 },
    SetHookSwitch { phone: u8, devices: u32, mode: u32 },
    SetVolume { phone: u8, device: u32, volume: u32 },
    SetButtonInfo { phone: u8, id: u32, info: Vec<u8> },
    GetButtonInfo { phone: u8, id: u32, size: u16 },
    GetStatus { phone: u8, size: u16 },
    GetDevCaps { device: u32, version: u32, size: u16 },
    StatusMessages { phone: u8, states: u32, modes: u32, button_states: u32 },
    Device { phone: u8, command: Command },
}

/// The mock's DevSpecific commands that act as a device would (no panics or
/// faults: libFuzzer counts even a contained panic as a crash).
#[derive(Debug, Arbitrary)]
enum Command {
    Press(u8),
    PressDown(u8),
    Hold(u8),
    Release(u8),
    RingModes(u8),
    Hookswitch(u8),
    Disconnect,
    Reconnect,
}

impl Command {
    fn bytes(&self) -> Vec<u8> {
        let modes = ["onhook", "mic", "speaker", "micspeaker"];
        match self {
            Command::Press(id) => format!("press {id}"),
            Command::PressDown(id) => format!("press-down {id}"),
            Command::Hold(id) => format!("hold {id}"),
            Command::Release(id) => format!("release {id}"),
            Command::RingModes(n) => format!("ring-modes {n}"),
            Command::Hookswitch(m) => format!("hookswitch handset {}", modes[usize::from(*m) % 4]),
            Command::Disconnect => "disconnect".into(),
            Command::Reconnect => "reconnect".into(),
        }
        .into_bytes()
    }
}

fn provider() -> &'static Provider {
    static PROVIDER: OnceLock<Provider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let mut config = Config::demo();
        let settings = "reservation = false\ncompletion = \"worker\"";
        config
            .settings
            .insert("mock".into(), settings.parse().expect("TOML"));
        let provider = Provider::new(HostSetup {
            plugin_folder: None,
            statics: vec![tsp_driver_mock::tsp_driver_module()],
            config: ConfigSource::Given(config),
        });
        provider
            .start_as_tapi(0, Some(event_proc()), completion_proc())
            .expect("the host starts");
        provider
    })
}

fuzz_target!(|calls: Vec<Call>| {
    let p = provider();
    let mut handles: Vec<u64> = Vec::new();
    let mut accepted = Vec::new();
    let mut next_id = 1u32;
    let handle = |handles: &Vec<u64>, phone: u8| {
        handles
            .get(usize::from(phone) % handles.len().max(1))
            .copied()
            .unwrap_or(u64::from(phone))
    };
    for call in calls.iter().take(64) {
        let id = next_id;
        next_id += 1;
        let async_result = match call {
            Call::Open { device, version } => {
                let version = if version & 1 == 0 { V31 } else { *version };
                if let Ok(h) = p.open(u32::from(*device % 4), 1, version, event_proc()) {
                    handles.push(h);
                }
                None
            }
            Call::Close { phone } => {
                if !handles.is_empty() {
                    let h = handles.remove(usize::from(*phone) % handles.len());
                    let _ = p.close(h);
                }
                None
            }
            Call::CloseMadeUp { handle } => {
                if !handles.contains(handle) {
                    let _ = p.close(*handle);
                }
                None
            }
            Call::SetData { phone, data_id, data } => {
                Some(p.set_data(id, handle(&handles, *phone), *data_id, data))
            }
            Call::GetData { phone, data_id, size } => {
                let mut buf = vec![0; usize::from(*size)];
                let _ = p.get_data(handle(&handles, *phone), *data_id, &mut buf);
                None
            }
            Call::SetDisplay { phone, row, column, text } => {
                Some(p.set_display(id, handle(&handles, *phone), *row, *column, text))
            }
            Call::GetDisplay { phone, size } => {
                let mut buf = vec![0; usize::from(*size)];
                let _ = p.get_display(handle(&handles, *phone), &mut buf);
                None
            }
            Call::SetLamp { phone, id: lamp, mode } => {
                Some(p.set_lamp(id, handle(&handles, *phone), *lamp, *mode))
            }
            Call::GetLamp { phone, id: lamp } => {
                let _ = p.get_lamp(handle(&handles, *phone), *lamp);
                None
            }
            Call::SetRing { phone, mode, volume } => {
                Some(p.set_ring(id, handle(&handles, *phone), *mode, *volume))
            }
            Call::SetHookSwitch { phone, devices, mode } => {
                Some(p.set_hookswitch(id, handle(&handles, *phone), *devices, *mode))
            }
            Call::SetVolume { phone, device, volume } => {
                Some(p.set_volume(id, handle(&handles, *phone), *device, *volume))
            }
            Call::SetButtonInfo { phone, id: button, info } => {
                Some(p.set_button_info(id, handle(&handles, *phone), *button, info))
            }
            Call::GetButtonInfo { phone, id: button, size } => {
                let mut buf = vec![0; usize::from(*size)];
                let _ = p.get_button_info(handle(&handles, *phone), *button, &mut buf);
                None
            }
            Call::GetStatus { phone, size } => {
                let mut buf = vec![0; usize::from(*size)];
                let _ = p.get_status(handle(&handles, *phone), &mut buf);
                None
            }
            Call::GetDevCaps { device, version, size } => {
                let mut buf = vec![0; usize::from(*size)];
                let _ = p.get_dev_caps(*device, *version, &mut buf);
                None
            }
            Call::StatusMessages { phone, states, modes, button_states } => {
                let _ = p.set_status_messages(handle(&handles, *phone), *states, *modes, *button_states);
                None
            }
            Call::Device { phone, command } => {
                Some(p.dev_specific(id, handle(&handles, *phone), &command.bytes()))
            }
        };
        if async_result == Some(id as i32) {
            accepted.push(id);
        }
    }
    for h in handles {
        let _ = p.close(h);
    }
    // Close returns after every completion of its phone: each accepted request
    // has completed exactly once by now.
    let mut seen = seen();
    for id in accepted {
        let count = seen.completions.iter().filter(|c| c.0 == id).count();
        assert_eq!(count, 1, "request {id} completed {count} times");
    }
    seen.completions.clear();
    seen.events.clear();
    assert_eq!(OVERLAPS.load(std::sync::atomic::Ordering::SeqCst), 0);
});
