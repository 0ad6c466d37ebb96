//! The host's promises on the paths real drivers take: one-at-a-time queues,
//! devices away and back, calls that miss their deadline, buttons, caps and ring
//! changes, arrivals and removals racing TAPI. Each test is the regression test
//! of one defect of issue 13 (named in its comment), on the mock loaded as a real
//! plugin.

mod tapi_side;

use std::time::{Duration, Instant};

use tapi_side::*;
use tsp_core::{PhoneCaps, PhoneError, PhoneMessage, PhoneStates, TspiVersion};
use tsp_host::config::Deadlines;
use tsp_host::{Config, ConfigSource, HostSetup, Provider};

const V31: u32 = 0x0003_0001;
const ALL_STATES: u32 = 0x00FF_FFFF;
const ALL_MODES: u32 = 0xF;
const ALL_BUTTON_STATES: u32 = 0x3;

/// A started host on the mock with `settings`, `call_ms` and `misses`.
fn started(name: &str, settings: &str, call_ms: u64, misses: u32) -> Provider {
    let mut config = Config::demo();
    config.settings.insert(
        "mock".into(),
        settings.parse().expect("the settings are TOML"),
    );
    config.deadlines = Deadlines {
        call_ms,
        misses,
        ..Deadlines::default()
    };
    let provider = Provider::new(HostSetup {
        plugin_folder: Some(plugin_folder(name)),
        statics: Vec::new(),
        config: ConfigSource::Given(config),
    });
    provider
        .start_as_tapi(0xABC, Some(event_proc()), completion_proc())
        .expect("negotiate, enumerate, init");
    provider
}

/// Opens device `id` as `ht_phone`, with every message on.
fn open(provider: &Provider, id: u32, ht_phone: usize) -> u64 {
    let handle = provider
        .open(id, ht_phone, V31, event_proc())
        .expect("open");
    provider
        .set_status_messages(handle, ALL_STATES, ALL_MODES, ALL_BUTTON_STATES)
        .expect("all messages");
    handle
}

fn states_of(ht_phone: usize) -> Vec<(u32, usize)> {
    events_of(ht_phone, PhoneMessage::State)
        .into_iter()
        .map(|p| (p[0] as u32, p[1]))
        .collect()
}

fn saw_state(ht_phone: usize, bit: PhoneStates) -> bool {
    states_of(ht_phone).iter().any(|(b, _)| *b == bit.bits())
}

fn command(provider: &Provider, request_id: u32, handle: u64, text: &str) {
    assert_eq!(
        provider.dev_specific(request_id, handle, text.as_bytes()),
        request_id as i32,
        "`{text}` accepted"
    );
    assert!(
        eventually(|| !completions_of(request_id).is_empty()),
        "`{text}` completed"
    );
    assert_eq!(completions_of(request_id), vec![0], "`{text}` succeeded");
}

fn get_status(provider: &Provider, handle: u64) -> Result<(), PhoneError> {
    let mut buf = tsp_core::var::sized_buffer(4096);
    provider.get_status(handle, &mut buf).map(drop)
}

/// Defect 1: a one-at-a-time phone whose running request ended with a
/// disconnect (declared by the host after a missed deadline) still runs what is
/// queued: the DevSpecific sent afterwards reaches the driver and completes.
#[test]
fn a_one_at_a_time_phone_moves_on_after_a_disconnect() {
    let _serial = serial();
    let p = started(
        "test-faults-queue",
        "concurrent = false\n[faults]\nset_data = \"never\"\nget_status = \"delay 400\"",
        100,
        1,
    );
    let h = open(&p, 0, 0x1001);
    assert_eq!(p.set_data(101, h, 0, b"x"), 101);
    assert_eq!(get_status(&p, h), Err(PhoneError::OperationFailed));
    assert!(eventually(|| saw_state(0x1001, PhoneStates::DISCONNECTED)));
    assert!(eventually(|| !completions_of(101).is_empty()));
    assert_eq!(
        completions_of(101),
        vec![PhoneError::OperationFailed.to_long()]
    );
    assert_eq!(p.dev_specific(102, h, b"fault set_data ok"), 102);
    assert!(
        eventually(|| !completions_of(102).is_empty()),
        "the DevSpecific queued behind the failed request never completed"
    );
    assert_eq!(completions_of(102), vec![0]);
    p.close(h).expect("close");
    p.shutdown().expect("shutdown");
    assert_eq!(completions_of(101).len(), 1, "exactly once");
}

/// Defect 1, the driver's own word: the same with the driver reporting the
/// disconnect while a request runs.
#[test]
fn a_one_at_a_time_phone_moves_on_after_the_driver_disconnects() {
    let _serial = serial();
    let p = started(
        "test-faults-queue-driver",
        "concurrent = false\ncompletion = \"worker\"\ndelay_ms = 300\n[faults]\nset_data = \"disconnect-after 1\"",
        5000,
        3,
    );
    let h = open(&p, 0, 0x1002);
    assert_eq!(p.set_data(111, h, 0, b"x"), 111);
    assert_eq!(p.dev_specific(112, h, b"reconnect"), 112);
    assert!(eventually(|| !completions_of(112).is_empty()));
    assert_eq!(completions_of(112), vec![0]);
    assert!(eventually(|| saw_state(0x1002, PhoneStates::CONNECTED)));
    p.close(h).expect("close");
    p.shutdown().expect("shutdown");
    assert_eq!(completions_of(111).len(), 1, "exactly once");
}

/// Defect 2: an absence the host declared ends when the driver answers in time
/// again (here by the host's own probe), with PHONE_STATE(CONNECTED), and the
/// phone takes requests again.
#[test]
fn a_declared_disconnect_ends_when_the_driver_answers() {
    let _serial = serial();
    let p = started(
        "test-faults-recover",
        "[faults]\nget_status = \"delay 400\"",
        100,
        1,
    );
    let h = open(&p, 0, 0x1003);
    assert_eq!(get_status(&p, h), Err(PhoneError::OperationFailed));
    assert!(eventually(|| saw_state(0x1003, PhoneStates::DISCONNECTED)));
    assert_eq!(
        p.set_data(121, h, 0, b"x"),
        PhoneError::InvalPhoneState.to_long()
    );
    command(&p, 122, h, "fault get_status ok");
    assert!(
        eventually(|| saw_state(0x1003, PhoneStates::CONNECTED)),
        "the device never came back"
    );
    assert_eq!(p.set_data(123, h, 0, b"x"), 123);
    assert!(eventually(|| completions_of(123) == vec![0]));
    p.close(h).expect("close");
    p.shutdown().expect("shutdown");
}

fn buttons_of(ht_phone: usize, id: usize) -> Vec<usize> {
    events_of(ht_phone, PhoneMessage::Button)
        .into_iter()
        .filter(|p| p[0] == id)
        .map(|p| p[2])
        .collect()
}

const DOWN: usize = 2;
const UP: usize = 1;

/// Defect 3: a device that reports its releases gets no made-up one: a press
/// held longer than the host's made-up delay is DOWN, UP, not DOWN, UP, UP.
#[test]
fn a_held_button_gets_exactly_one_up() {
    let _serial = serial();
    let p = started("test-faults-hold", "", 5000, 3);
    let h = open(&p, 0, 0x1004);
    command(&p, 131, h, "hold 5");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(buttons_of(0x1004, 5), vec![DOWN], "no release made up");
    command(&p, 132, h, "release 5");
    command(&p, 133, h, "release 5");
    assert_eq!(buttons_of(0x1004, 5), vec![DOWN, UP]);
    // A press-only device still gets its release made up, once.
    command(&p, 134, h, "press-down 6");
    assert!(eventually(|| buttons_of(0x1004, 6) == vec![DOWN, UP]));
    // A key down as the device goes away gets its UP then.
    command(&p, 135, h, "hold 7");
    command(&p, 136, h, "disconnect");
    assert_eq!(buttons_of(0x1004, 7), vec![DOWN, UP]);
    p.close(h).expect("close");
    p.shutdown().expect("shutdown");
}

/// Defect 4: PHONESTATE_CAPSCHANGE comes after the caps were read again, so
/// GetDevCaps and the argument checks use them.
#[test]
fn a_caps_change_is_read_before_it_is_told() {
    let _serial = serial();
    let p = started("test-faults-caps", "", 5000, 3);
    let h = open(&p, 0, 0x1005);
    assert_eq!(
        p.set_ring(141, h, 5, 0x1000),
        PhoneError::InvalRingMode.to_long(),
        "three ring modes at first"
    );
    command(&p, 142, h, "ring-modes 5");
    assert!(eventually(|| saw_state(0x1005, PhoneStates::CAPSCHANGE)));
    let mut buf = tsp_core::var::sized_buffer(8192);
    p.get_dev_caps(0, V31, &mut buf).expect("caps");
    let caps = PhoneCaps::read(&buf, TspiVersion::V3_1).expect("PHONECAPS");
    assert_eq!(caps.ring_modes, 5, "GetDevCaps has the new caps");
    assert_eq!(
        p.set_ring(143, h, 5, 0x1000),
        143,
        "checked against the new caps"
    );
    assert!(eventually(|| completions_of(143) == vec![0]));
    p.close(h).expect("close");
    p.shutdown().expect("shutdown");
}

/// Defect 5: a ring change reports RINGMODE when the mode changed and
/// RINGVOLUME when the volume did.
#[test]
fn ring_events_say_what_changed() {
    let _serial = serial();
    let p = started("test-faults-ring", "", 5000, 3);
    let h = open(&p, 0, 0x1006);
    let ring_states = || {
        states_of(0x1006)
            .into_iter()
            .filter(|(b, _)| {
                *b == PhoneStates::RINGMODE.bits() || *b == PhoneStates::RINGVOLUME.bits()
            })
            .collect::<Vec<_>>()
    };
    // The mock starts at mode 0, volume 0x8000.
    assert_eq!(p.set_ring(151, h, 0, 0x1000), 151);
    assert!(eventually(|| !ring_states().is_empty()));
    assert_eq!(ring_states(), vec![(PhoneStates::RINGVOLUME.bits(), 0)]);
    assert_eq!(p.set_ring(152, h, 2, 0x1000), 152);
    assert!(eventually(|| ring_states().len() == 2));
    assert_eq!(ring_states()[1], (PhoneStates::RINGMODE.bits(), 2));
    p.close(h).expect("close");
    p.shutdown().expect("shutdown");
}

fn creates() -> Vec<usize> {
    events(PhoneMessage::Create)
        .into_iter()
        .map(|p| p[1])
        .collect()
}

/// Defect 6: a device that leaves before TAPI binds it is BADDEVICEID; a
/// refused id does not lose an arrival.
#[test]
fn a_device_gone_before_create_is_never_bound() {
    let _serial = serial();
    let p = started("test-faults-ghost", "", 5000, 3);
    let h = open(&p, 0, 0x1007);
    command(&p, 161, h, "arrive");
    assert!(eventually(|| creates().len() == 1));
    let first = creates()[0];
    command(&p, 162, h, "remove-device mock2");
    assert_eq!(
        p.create_phone_device(first, 7),
        Err(PhoneError::BadDeviceId),
        "the device left before it was created"
    );
    command(&p, 163, h, "arrive");
    assert!(eventually(|| creates().len() == 2));
    let second = creates()[1];
    assert_eq!(
        p.create_phone_device(second, 1),
        Err(PhoneError::BadDeviceId),
        "device id 1 is taken"
    );
    assert_eq!(
        p.create_phone_device(second, 8),
        Ok(()),
        "the refused id did not lose the arrival"
    );
    p.close(h).expect("close");
    p.shutdown().expect("shutdown");
}

/// Defect 6: a device that arrives between a shutdown and the next init is
/// announced at that init.
#[test]
fn an_arrival_before_init_is_announced_at_init() {
    let _serial = serial();
    let p = started("test-faults-arrive", "arrive_after_ms = 100", 5000, 3);
    assert!(
        eventually(|| creates().len() == 1),
        "the first start's arrival"
    );
    p.shutdown().expect("shutdown");
    p.enum_devices(0xABC, Some(event_proc()));
    std::thread::sleep(Duration::from_millis(400));
    p.init(0, completion_proc()).expect("init");
    assert!(
        eventually(|| creates().len() == 2),
        "the arrival while the lane was closed was dropped"
    );
    p.shutdown().expect("shutdown");
}

/// Defect 7: with no button modes, dwButtonStates is ignored (reference §5.6).
#[test]
fn button_states_are_ignored_without_button_modes() {
    let _serial = serial();
    let p = started("test-faults-filter", "", 5000, 3);
    let h = p.open(0, 0x1008, V31, event_proc()).expect("open");
    assert_eq!(p.set_status_messages(h, ALL_STATES, 0, 0xFFFF_0000), Ok(()));
    assert_eq!(
        p.set_status_messages(h, ALL_STATES, ALL_MODES, 0),
        Err(PhoneError::InvalButtonState)
    );
    p.close(h).expect("close");
    p.shutdown().expect("shutdown");
}

/// Defect 8: a close racing a removal returns only after the removal delivered
/// the phone's completions and PHONE_CLOSE; nothing of the phone follows it.
#[test]
fn close_racing_a_removal_returns_after_everything() {
    let _serial = serial();
    let p = started(
        "test-faults-close-race",
        "ignore_cancel = true\n[faults]\nset_data = \"never\"",
        5000,
        3,
    );
    let h = open(&p, 0, 0x1009);
    assert_eq!(p.set_data(181, h, 0, b"x"), 181);
    let remover = {
        let p = p.clone();
        std::thread::spawn(move || p.dev_specific(182, h, b"remove"))
    };
    // The removal waits for the driver to complete what it cancelled (it
    // ignores cancel), so it is still under way when TAPI closes.
    std::thread::sleep(Duration::from_millis(300));
    p.close(h).expect("close");
    let seen_at_close = {
        let seen = seen();
        (
            seen.completions.iter().filter(|c| c.0 == 181).count(),
            seen.events.iter().filter(|e| e.0 == 0x1009).count(),
        )
    };
    assert_eq!(
        seen_at_close.0, 1,
        "the completion came before close returned"
    );
    remover.join().expect("the removal ends");
    std::thread::sleep(Duration::from_millis(200));
    let after = {
        let seen = seen();
        (
            seen.completions.iter().filter(|c| c.0 == 181).count(),
            seen.events.iter().filter(|e| e.0 == 0x1009).count(),
        )
    };
    assert_eq!(
        after, seen_at_close,
        "nothing of the phone after close returned"
    );
    p.shutdown().expect("shutdown");
}

/// Defect 9: a synchronous call that never returns costs only its own phone:
/// its later calls fail at once, other phones are served.
#[test]
fn a_hung_call_costs_only_its_own_phone() {
    let _serial = serial();
    let p = started("test-faults-hung", "", 100, 100);
    let a = open(&p, 0, 0x100A);
    let b = open(&p, 1, 0x100B);
    command(&p, 191, a, "fault get_status delay 3000");
    let started = Instant::now();
    for _ in 0..12 {
        assert_eq!(get_status(&p, a), Err(PhoneError::OperationFailed));
    }
    let spent = started.elapsed();
    assert_eq!(get_status(&p, b), Ok(()), "the other phone is served");
    assert!(
        spent < Duration::from_millis(100 * 12),
        "later calls of the stuck phone failed at once ({spent:?})"
    );
    p.close(b).expect("close b");
    p.close(a).expect("close a");
    p.shutdown().expect("shutdown");
}

/// Defect 10: the last shutdown from inside a callback still delivers the
/// completions of the requests its closes ended.
#[test]
fn a_shutdown_inside_a_callback_keeps_the_completions() {
    let _serial = serial();
    let p = started(
        "test-faults-inner-shutdown",
        "[faults]\nset_data = \"never\"",
        5000,
        3,
    );
    let h = open(&p, 0, 0x100C);
    assert_eq!(p.set_data(201, h, 0, b"x"), 201);
    {
        let p = p.clone();
        *ON_EVENT.lock().expect("hook") = Some(Box::new(move || {
            let _ = p.shutdown();
        }));
    }
    // The press's own request is ended by that shutdown too: either result,
    // but one completion.
    assert_eq!(p.dev_specific(202, h, b"press 1"), 202);
    assert!(eventually(|| completions_of(202).len() == 1));
    assert!(
        eventually(|| !completions_of(201).is_empty()),
        "the completion was dropped"
    );
    assert_eq!(
        completions_of(201),
        vec![PhoneError::OperationFailed.to_long()]
    );
    assert!(!p.is_initialised());
}

/// A device removed while TAPI is opening it: the open fails with NODEVICE
/// and leaves nothing open, rather than a phone on a device that is gone.
#[test]
fn an_open_racing_a_removal_leaves_nothing_open() {
    let _serial = serial();
    let p = started(
        "test-faults-open-race",
        "[faults]\nopen = \"delay 300\"",
        5000,
        3,
    );
    let other = open(&p, 1, 0x100D);
    let opener = {
        let p = p.clone();
        std::thread::spawn(move || p.open(0, 0x100E, V31, event_proc()))
    };
    std::thread::sleep(Duration::from_millis(100));
    command(&p, 211, other, "remove-device mock0");
    let opened = opener.join().expect("the open returns");
    assert_eq!(opened, Err(PhoneError::NoDevice));
    assert_eq!(
        p.open(0, 0x100F, V31, event_proc()),
        Err(PhoneError::BadDeviceId)
    );
    p.close(other).expect("close");
    p.shutdown().expect("shutdown");
}
