//! The provider, with the mock loaded as a real plugin, played by a TAPI stand-in:
//! start-up order, negotiation, caps, open and reservation, SetData/GetData with
//! exactly one completion, close with requests outstanding, stale handles,
//! overlapping init/shutdown pairs, reentrant calls from callbacks, serial drivers.

mod tapi_side;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tapi_side::*;
use tsp_core::var::sized_buffer;
use tsp_core::{PhoneCaps, PhoneError, PhoneMessage, PhoneStates, PhoneStatus, TspiVersion};
use tsp_driver_mock_cmd::*;
use tsp_host::{Config, ConfigSource, HostSetup, Provider};

mod tsp_driver_mock_cmd {
    pub fn fault(op: &str, fault: &str) -> Vec<u8> {
        format!("fault {op} {fault}").into_bytes()
    }
}

const V31: u32 = 0x0003_0001;
const BASE: u32 = 10;

fn provider(settings: &str) -> Provider {
    let mut config = Config::demo();
    if !settings.is_empty() {
        config
            .settings
            .insert("mock".into(), settings.parse().expect("settings"));
    }
    Provider::new(HostSetup {
        plugin_folder: Some(plugin_folder("test-host")),
        statics: Vec::new(),
        config: ConfigSource::Given(config),
    })
}

fn started(settings: &str) -> Provider {
    let provider = provider(settings);
    assert_eq!(
        provider.line_negotiate(0xFFFF_FFFF, 0x0002_0000, V31),
        Ok(TspiVersion::V3_1)
    );
    assert_eq!(provider.enum_devices(0xABC, None), 2);
    provider.init(BASE, completion_proc()).expect("init");
    provider
}

#[test]
fn negotiation_and_caps_follow_the_rules() {
    let _serial = serial();
    let p = started("");
    assert_eq!(
        p.phone_negotiate(BASE, 0x0001_0004, V31),
        Ok(TspiVersion::V3_1)
    );
    assert_eq!(
        p.phone_negotiate(BASE + 1, 0x0002_0000, 0x0002_0002),
        Ok(TspiVersion::V2_2)
    );
    assert_eq!(
        p.phone_negotiate(BASE, 0x0001_0003, 0x0001_0004),
        Err(PhoneError::IncompatibleApiVersion)
    );
    assert_eq!(
        p.phone_negotiate(BASE + 2, 0x0002_0000, V31),
        Err(PhoneError::BadDeviceId)
    );
    assert_eq!(
        p.phone_negotiate(BASE - 1, 0x0002_0000, V31),
        Err(PhoneError::BadDeviceId)
    );

    let mut small = sized_buffer(100);
    assert_eq!(
        p.get_dev_caps(BASE, V31, &mut small),
        Err(PhoneError::StructureTooSmall)
    );
    let mut fixed = sized_buffer(196);
    let first = p.get_dev_caps(BASE, V31, &mut fixed).expect("fits");
    assert!(first.needed > first.used);
    let mut all = sized_buffer(first.needed);
    assert!(
        p.get_dev_caps(BASE, V31, &mut all)
            .expect("fits")
            .is_complete()
    );
    let caps = PhoneCaps::read(&all, TspiVersion::V3_1).expect("reads");
    assert_eq!(caps.name, "Mock Phone 0");
    let mut v20 = sized_buffer(180);
    p.get_dev_caps(BASE + 1, 0x0002_0000, &mut v20)
        .expect("2.0 layout fits in 180 bytes");
    assert_eq!(
        p.get_dev_caps(BASE, 0x0001_0004, &mut all),
        Err(PhoneError::IncompatibleApiVersion)
    );
    p.shutdown().expect("shutdown");
}

#[test]
fn open_set_data_get_data_close() {
    let _serial = serial();
    let p = started("");
    let hd = p.open(BASE, 0x77, V31, event_proc()).expect("opens");
    assert_eq!(
        p.open(BASE, 0x78, V31, event_proc()),
        Err(PhoneError::Allocated),
        "already open here"
    );
    assert_eq!(
        p.open(BASE + 5, 0x78, V31, event_proc()),
        Err(PhoneError::BadDeviceId)
    );

    assert_eq!(
        p.set_data(41, hd, 1, b"hello\0"),
        41,
        "returns the request id"
    );
    assert_eq!(completions_of(41), [0], "completed exactly once, inline");
    let mut back = [0u8; 6];
    p.get_data(hd, 1, &mut back).expect("reads");
    assert_eq!(&back, b"hello\0");
    p.get_data(hd, 1, &mut [])
        .expect("a zero-size read copies nothing");

    assert_eq!(
        p.set_data(42, hd, 4, b"x"),
        PhoneError::InvalDataId.to_long()
    );
    assert_eq!(
        p.set_data(43, hd, 0, &[0; 257]),
        PhoneError::OperationFailed.to_long(),
        "oversize refused"
    );
    assert_eq!(p.get_data(hd, 9, &mut back), Err(PhoneError::InvalDataId));
    assert_eq!(
        p.set_data(0, hd, 0, b"x"),
        PhoneError::OperationFailed.to_long(),
        "request id 0"
    );
    assert_eq!(
        p.set_data(0x8000_0000, hd, 0, b"x"),
        PhoneError::OperationFailed.to_long()
    );
    assert!(
        completions_of(42).is_empty() && completions_of(43).is_empty(),
        "no completion after a negative return"
    );

    let mut status = sized_buffer(300);
    p.get_status(hd, &mut status).expect("status");
    let status = PhoneStatus::read(&status, TspiVersion::V3_1).expect("reads");
    assert!(status.flags.contains(tsp_core::PhoneStatusFlags::CONNECTED));

    p.close(hd).expect("closes");
    assert_eq!(
        p.set_data(44, hd, 0, b"x"),
        PhoneError::InvalPhoneHandle.to_long(),
        "stale handle"
    );
    assert_eq!(p.close(hd), Err(PhoneError::InvalPhoneHandle));
    let again = p.open(BASE, 0x77, V31, event_proc()).expect("reopens");
    assert_ne!(again, hd, "a new handle");
    assert_eq!(
        p.get_data(hd, 0, &mut back),
        Err(PhoneError::InvalPhoneHandle),
        "the old one stays dead"
    );
    assert_eq!(
        p.get_data(0x1234_5678_9abc, 0, &mut back),
        Err(PhoneError::InvalPhoneHandle),
        "made up"
    );
    p.close(again).expect("closes");
    p.shutdown().expect("shutdown");
}

#[test]
fn close_completes_everything_outstanding_before_it_returns() {
    let _serial = serial();
    let p = started("");
    let hd = p.open(BASE + 1, 1, V31, event_proc()).expect("opens");
    assert_eq!(p.dev_specific(1, hd, &fault("set_data", "never")), 1);
    for id in 10..20 {
        assert_eq!(p.set_data(id, hd, 0, b"held"), id as i32);
    }
    assert_eq!(
        p.set_data(10, hd, 0, b"dup"),
        PhoneError::OperationFailed.to_long(),
        "id outstanding"
    );
    assert!(completions_of(10).is_empty());
    p.close(hd).expect("closes");
    for id in 10..20 {
        assert_eq!(
            completions_of(id),
            [PhoneError::OperationFailed.to_long()],
            "request {id}"
        );
    }
    let count = seen().completions.len();
    std::thread::sleep(std::time::Duration::from_millis(30));
    assert_eq!(seen().completions.len(), count, "nothing after close");
    p.shutdown().expect("shutdown");
}

#[test]
fn events_follow_set_status_messages_and_calls_from_callbacks_work() {
    let _serial = serial();
    let p = started("");
    let hd = p.open(BASE, 0x55, V31, event_proc()).expect("opens");
    assert_eq!(p.dev_specific(1, hd, b"press 3"), 1);
    assert!(seen().events.is_empty(), "buttons are off by default");
    assert_eq!(
        p.set_status_messages(hd, 0, 0x08, 0),
        Err(PhoneError::InvalButtonState)
    );
    p.set_status_messages(hd, PhoneStates::HANDSETHOOKSWITCH.bits(), 0x08, 0x03)
        .expect("filter");

    let inner = p.clone();
    *ON_EVENT.lock().expect("job") = Some(Box::new(move || {
        // TAPI calling back into the provider from inside PHONEEVENT.
        assert_eq!(inner.set_data(77, hd, 2, b"from a callback"), 77);
    }));
    assert_eq!(p.dev_specific(2, hd, b"press 3"), 2);
    assert!(wait_until(|s| s.completions.iter().any(|c| c.0 == 77)));
    let events = seen().events.clone();
    let button = PhoneMessage::Button.code();
    assert_eq!(events[0], (0x55, button, [3, 0x08, 0x02]), "down");
    assert_eq!(events[1], (0x55, button, [3, 0x08, 0x01]), "up");
    assert_eq!(
        completions_of(77),
        [0],
        "the request made inside the callback completed once"
    );
    assert_eq!(completions_of(2), [0]);
    assert_eq!(
        OVERLAPS.load(Ordering::SeqCst),
        0,
        "its completion waited for the callback to return"
    );

    assert_eq!(p.dev_specific(3, hd, b"hookswitch handset micspeaker"), 3);
    let state = seen().events.last().copied().expect("an event");
    assert_eq!(
        state,
        (
            0x55,
            PhoneMessage::State.code(),
            [PhoneStates::HANDSETHOOKSWITCH.bits() as usize, 0x08, 0]
        )
    );
    p.close(hd).expect("closes");
    p.shutdown().expect("shutdown");
}

#[test]
fn many_concurrent_requests_complete_exactly_once_without_overlap() {
    let _serial = serial();
    let p = Arc::new(started(""));
    let hd = p.open(BASE, 1, V31, event_proc()).expect("opens");
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let p = Arc::clone(&p);
            std::thread::spawn(move || {
                for i in 0..1500u32 {
                    let id = 1 + t * 100_000 + i;
                    assert_eq!(p.set_data(id, hd, t % 4, &i.to_le_bytes()), id as i32);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("sender");
    }
    let seen = seen();
    assert_eq!(seen.completions.len(), 8 * 1500);
    let mut ids: Vec<u32> = seen.completions.iter().map(|c| c.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8 * 1500, "each exactly once");
    assert!(seen.completions.iter().all(|c| c.1 == 0));
    drop(seen);
    assert_eq!(OVERLAPS.load(Ordering::SeqCst), 0);
    p.close(hd).expect("closes");
    p.shutdown().expect("shutdown");
}

#[test]
fn a_serial_driver_gets_one_request_at_a_time_in_order() {
    let _serial = serial();
    let p = started("completion = \"worker\"\ndelay_ms = 2\nconcurrent = false");
    let hd = p.open(BASE, 1, V31, event_proc()).expect("opens");
    for id in 1..=20 {
        assert_eq!(p.set_data(id, hd, 0, &[id as u8]), id as i32);
    }
    assert!(wait_until(|s| s.completions.len() == 20));
    let order: Vec<u32> = seen().completions.iter().map(|c| c.0).collect();
    assert_eq!(order, (1..=20).collect::<Vec<_>>(), "in order");
    let mut last = [0u8; 1];
    p.get_data(hd, 0, &mut last).expect("reads");
    assert_eq!(last, [20], "the last one ran last");
    p.close(hd).expect("closes");
    p.shutdown().expect("shutdown");
}

#[test]
fn init_shutdown_pairs_overlap_and_init_works_again() {
    let _serial = serial();
    let p = started("");
    p.init(BASE, completion_proc())
        .expect("a second init is counted");
    p.shutdown().expect("first shutdown");
    assert!(p.is_initialised(), "one pair still open");
    let hd = p.open(BASE, 1, V31, event_proc()).expect("still serving");
    assert_eq!(p.dev_specific(1, hd, &fault("set_data", "never")), 1);
    assert_eq!(p.set_data(5, hd, 0, b"held"), 5);
    p.shutdown().expect("last shutdown");
    assert!(!p.is_initialised());
    assert_eq!(
        completions_of(5),
        [PhoneError::OperationFailed.to_long()],
        "completed by the last shutdown"
    );
    assert_eq!(
        p.get_data(hd, 0, &mut [0; 1]),
        Err(PhoneError::InvalPhoneHandle)
    );

    assert_eq!(p.enum_devices(1, None), 2, "enumerates again");
    p.init(BASE, completion_proc())
        .expect("init after the last shutdown");
    let hd = p.open(BASE, 1, V31, event_proc()).expect("opens again");
    assert_eq!(p.set_data(6, hd, 0, b"again"), 6);
    assert_eq!(completions_of(6), [0]);
    p.close(hd).expect("closes");
    p.shutdown().expect("shutdown");
}

/// A host on the configuration file `name` holding `text`: the phones
/// enumerated and what init gives.
fn started_from_file(name: &str, text: &str) -> (u32, Result<(), tsp_core::LineError>) {
    let file = build_dir().join(name);
    write_trusted(&file, text);
    let p = Provider::new(HostSetup {
        plugin_folder: Some(plugin_folder("test-host")),
        statics: Vec::new(),
        config: ConfigSource::File(file),
    });
    (p.enum_devices(1, None), p.init(0, completion_proc()))
}

#[test]
fn a_broken_configuration_gives_no_phones_and_init_fails() {
    let _serial = serial();
    assert_eq!(
        started_from_file("test-host-broken.toml", "drivers = [\"mock\"\n"),
        (0, Err(tsp_core::LineError::IniFileCorrupt))
    );
}

/// Issue 15: a driver whose settings do not parse (`completion = "wrker"`) is
/// the configuration's error, with file and reason in the log, not a driver
/// with no phones.
#[test]
fn a_driver_s_settings_that_do_not_parse_are_a_configuration_error() {
    let _serial = serial();
    let misspelt = "drivers = [\"mock\"]\n[settings.mock]\ncompletion = \"wrker\"\n";
    assert_eq!(
        started_from_file("test-host-misspelt.toml", misspelt),
        (0, Err(tsp_core::LineError::IniFileCorrupt))
    );
}
