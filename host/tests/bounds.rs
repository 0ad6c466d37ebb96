//! Issue 14: no request makes the host allocate more than the phone's caps say.
//! SetData longer than its area is refused before anything is copied or queued;
//! GetData reads at most the area, whatever size TAPI's buffer has; SetDisplay
//! keeps at most the display's room. On the mock loaded as a real plugin, in
//! both queue modes.

mod tapi_side;

use tapi_side::*;
use tsp_core::{PhoneError, TspiVersion};
use tsp_host::{Config, ConfigSource, HostSetup, Provider};

const V31: u32 = 0x0003_0001;
/// The mock's default data areas are 256 bytes.
const AREA: usize = 256;

fn started(name: &str, settings: &str) -> Provider {
    let mut config = Config::demo();
    config.settings.insert(
        "mock".into(),
        settings.parse().expect("the settings are TOML"),
    );
    let provider = Provider::new(HostSetup {
        plugin_folder: Some(plugin_folder(name)),
        statics: Vec::new(),
        config: ConfigSource::Given(config),
    });
    assert_eq!(
        provider.line_negotiate(0xFFFF_FFFF, 0x0002_0000, V31),
        Ok(TspiVersion::V3_1)
    );
    provider.enum_devices(0xABC, Some(event_proc()));
    provider.init(0, completion_proc()).expect("init");
    provider
}

const BOTH_MODES: [&str; 2] = ["concurrent = true", "concurrent = false"];

#[test]
fn set_data_longer_than_its_area_is_refused_before_it_is_queued() {
    let _serial = serial();
    for mode in BOTH_MODES {
        // A request in progress first, so a second one on a one-at-a-time
        // phone would be queued (and its data copied) if it were accepted.
        let settings = format!("{mode}\ncompletion = \"worker\"\ndelay_ms = 200");
        let p = started("test-bounds-set", &settings);
        let hd = p.open(0, 1, V31, event_proc()).expect("opens");
        assert_eq!(p.set_data(1, hd, 0, b"first"), 1, "{mode}");
        assert_eq!(
            p.set_data(2, hd, 0, &vec![7; AREA + 1]),
            PhoneError::OperationFailed.to_long(),
            "{mode}: refused at once, as the mock's contract says for oversize"
        );
        assert_eq!(
            p.set_data(3, hd, 0, &vec![7; AREA]),
            3,
            "{mode}: a full area is fine"
        );
        assert!(wait_until(|s| s.completions.len() >= 2), "{mode}");
        p.close(hd).expect("closes");
        assert!(
            completions_of(2).is_empty(),
            "{mode}: no completion after a negative return"
        );
        assert_eq!(completions_of(3), [0], "{mode}");
        p.shutdown().expect("shutdown");
        seen().completions.clear();
    }
}

#[test]
fn get_data_reads_at_most_the_area_and_leaves_the_rest_of_the_buffer() {
    let _serial = serial();
    for mode in BOTH_MODES {
        let p = started("test-bounds-get", mode);
        let hd = p.open(0, 1, V31, event_proc()).expect("opens");
        assert_eq!(p.set_data(1, hd, 2, &[0x11; AREA]), 1, "{mode}");
        assert!(wait_until(|s| s.completions.len() == 1), "{mode}");
        // TAPI's buffer is far larger than the area: only the area is read.
        let mut buf = vec![0xAA; 1 << 20];
        p.get_data(hd, 2, &mut buf).expect("reads");
        assert!(buf[..AREA].iter().all(|&b| b == 0x11), "{mode}: the area");
        assert!(
            buf[AREA..].iter().all(|&b| b == 0xAA),
            "{mode}: nothing past the area is written"
        );
        p.close(hd).expect("closes");
        p.shutdown().expect("shutdown");
        seen().completions.clear();
    }
}

/// `press ID` for the mock.
fn press(id: u32) -> Vec<u8> {
    format!("press {id}").into_bytes()
}

#[test]
fn a_flood_of_events_while_tapi_is_busy_loses_events_but_no_completion() {
    let _serial = serial();
    let p = std::sync::Arc::new(started("test-bounds-lane", "concurrent = true"));
    let hd = p.open(0, 7, V31, event_proc()).expect("opens");
    p.set_status_messages(hd, 0x00FF_FFFF, 0xF, 0x3)
        .expect("all messages");
    const FLOOD: u32 = 3000;
    // Inside TAPI's callback (the lane busy delivering), the device floods:
    // each press is two events and a completion, all queued behind the callback.
    let inside = std::sync::Arc::clone(&p);
    *ON_EVENT.lock().expect("lock") = Some(Box::new(move || {
        for id in 1..=FLOOD {
            assert_eq!(inside.dev_specific(id, hd, &press(1)), id as i32);
        }
    }));
    assert_eq!(p.dev_specific(FLOOD + 1, hd, &press(2)), (FLOOD + 1) as i32);
    assert!(wait_until(|s| s.completions.len() == FLOOD as usize + 1));
    let buttons = events_of(7, tsp_core::PhoneMessage::Button).len();
    assert!(
        buttons <= 4096 + 2,
        "events beyond the lane's bound are dropped: {buttons} delivered of {}",
        2 * FLOOD + 2
    );
    assert!(
        seen().completions.iter().all(|&(_, result)| result == 0),
        "every completion delivered, once"
    );
    assert_eq!(OVERLAPS.load(std::sync::atomic::Ordering::SeqCst), 0);
    p.close(hd).expect("closes");
    p.shutdown().expect("shutdown");
}

#[test]
fn arrivals_tapi_never_binds_are_bounded() {
    let _serial = serial();
    let p = started("test-bounds-arrivals", "concurrent = true");
    let hd = p.open(0, 9, V31, event_proc()).expect("opens");
    const ARRIVALS: u32 = 1024 + 6;
    for id in 1..=ARRIVALS {
        assert_eq!(p.dev_specific(id, hd, b"arrive"), id as i32);
    }
    assert!(wait_until(|s| s.completions.len() == ARRIVALS as usize));
    let temp_ids: Vec<usize> = events_of(0, tsp_core::PhoneMessage::Create)
        .into_iter()
        .map(|params| params[1])
        .collect();
    assert_eq!(temp_ids.len(), ARRIVALS as usize, "each is announced");
    let (first, last) = (temp_ids[0], temp_ids[temp_ids.len() - 1]);
    assert_eq!(
        p.create_phone_device(first, 100),
        Err(PhoneError::BadDeviceId),
        "the oldest beyond the bound is forgotten"
    );
    assert_eq!(
        p.create_phone_device(last, 101),
        Ok(()),
        "the newest is kept"
    );
    p.close(hd).expect("closes");
    p.shutdown().expect("shutdown");
}

#[test]
fn phone_ids_never_wrap_or_reach_initialize_negotiation() {
    let _serial = serial();
    let p = Provider::new(HostSetup {
        plugin_folder: Some(plugin_folder("test-bounds-ids")),
        statics: Vec::new(),
        config: ConfigSource::Given(Config::demo()),
    });
    p.enum_devices(0xABC, Some(event_proc()));
    // Two phones: the second id would be 0xFFFFFFFF, or wrap.
    for base in [u32::MAX, u32::MAX - 1] {
        assert_eq!(
            p.init(base, completion_proc()),
            Err(tsp_core::LineError::InvalParam),
            "base {base:#x}"
        );
    }
    p.init(u32::MAX - 2, completion_proc())
        .expect("ids up to 0xFFFFFFFE");
    assert_eq!(
        p.phone_negotiate(u32::MAX - 1, 0x0002_0000, V31),
        Ok(TspiVersion::V3_1)
    );
    let hd = p.open(u32::MAX - 2, 3, V31, event_proc()).expect("opens");
    assert_eq!(p.dev_specific(1, hd, b"arrive"), 1);
    assert!(wait_until(|s| s.completions.len() == 1));
    let temp_id = events_of(0, tsp_core::PhoneMessage::Create)
        .last()
        .map(|params| params[1])
        .expect("PHONE_CREATE");
    assert_eq!(
        p.create_phone_device(temp_id, u32::MAX),
        Err(PhoneError::BadDeviceId),
        "0xFFFFFFFF is never a device id"
    );
    assert_eq!(
        p.create_phone_device(temp_id, 7),
        Ok(()),
        "the device is kept"
    );
    p.close(hd).expect("closes");
    p.shutdown().expect("shutdown");
}
