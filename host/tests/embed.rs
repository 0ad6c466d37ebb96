//! Issue 16: the host embedded in a Rust application through `Host`: typed
//! completions and events delivered to closures, typed returns, nothing
//! process-wide (two hosts in one process keep their callbacks apart). Both
//! queue modes, the mock completing from its worker as real drivers do.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use tsp_core::{ButtonModes, ButtonStates, LampModes, Message, PhoneError, PhoneStates};
use tsp_host::{Config, Host};

const PATIENCE: Duration = Duration::from_secs(10);

struct Embedded {
    host: Host,
    completed: Receiver<(u32, Result<(), PhoneError>)>,
    events: Receiver<(usize, Message)>,
    _locks: tempfile::TempDir,
}

/// A builder on the mock linked in, with `settings` and its lock files in `locks`.
fn on_the_mock(settings: &str, locks: &std::path::Path) -> tsp_host::HostBuilder {
    let mut config = Config {
        drivers: vec!["mock".into()],
        ..Config::default()
    };
    let settings = format!("{settings}\nlock_dir = {:?}\n", locks.display().to_string());
    config
        .settings
        .insert("mock".into(), settings.parse().expect("TOML"));
    Host::builder()
        .driver(tsp_driver_mock::tsp_driver_module())
        .config(config)
}

/// A host on the mock, completing from its worker, `concurrent` as given.
fn embedded(concurrent: bool) -> Embedded {
    let locks = tempfile::tempdir().expect("a folder");
    let settings = format!("completion = \"worker\"\nconcurrent = {concurrent}");
    let (completions, completed) = channel();
    let (events_in, events) = channel();
    let host = on_the_mock(&settings, locks.path())
        .on_completion(move |request, result| {
            let _ = completions.send((request, result));
        })
        .on_event(move |tag, message| {
            let _ = events_in.send((tag, message));
        })
        .start()
        .expect("the host starts");
    Embedded {
        host,
        completed,
        events,
        _locks: locks,
    }
}

fn both_modes(test: impl Fn(Embedded)) {
    for concurrent in [true, false] {
        test(embedded(concurrent));
    }
}

#[test]
fn completions_arrive_typed_with_the_request_id_given() {
    both_modes(|e| {
        let phone = e.host.open(0, 7).expect("opens");
        let request = e.host.next_request_id();
        assert_eq!(e.host.set_data(request, phone, 0, b"hi\0"), Ok(request));
        assert_eq!(e.completed.recv_timeout(PATIENCE), Ok((request, Ok(()))));
        assert_eq!(e.host.get_data(phone, 0, 3), Ok(b"hi\0".to_vec()));

        // A driver that fails before returning: the call's own typed error.
        e.host
            .dev_specific(
                e.host.next_request_id(),
                phone,
                b"fault set_data fail INVALDATAID",
            )
            .expect("accepted");
        let (_, commanded) = e.completed.recv_timeout(PATIENCE).expect("completes");
        assert_eq!(commanded, Ok(()), "the mock takes the command");
        let failing = e.host.next_request_id();
        assert_eq!(
            e.host.set_data(failing, phone, 0, b"x"),
            Err(PhoneError::InvalDataId)
        );
        // One still outstanding at close: its completion, typed.
        e.host
            .dev_specific(e.host.next_request_id(), phone, b"fault set_data never")
            .expect("accepted");
        let (_, commanded) = e.completed.recv_timeout(PATIENCE).expect("completes");
        assert_eq!(commanded, Ok(()), "the mock takes the command");
        let stuck = e.host.set_data(e.host.next_request_id(), phone, 0, b"x");
        let stuck = stuck.expect("accepted");
        e.host.close(phone).expect("closes");
        assert_eq!(
            e.completed.recv_timeout(PATIENCE),
            Ok((stuck, Err(PhoneError::OperationFailed))),
            "completed at close, with the error TAPI is told"
        );
        assert!(e.completed.try_recv().is_err(), "exactly once");
    });
}

#[test]
fn a_refused_request_is_an_error_and_never_completes() {
    both_modes(|e| {
        let phone = e.host.open(0, 7).expect("opens");
        let request = e.host.next_request_id();
        assert_eq!(
            e.host.set_data(request, phone, 99, b"x"),
            Err(PhoneError::InvalDataId)
        );
        e.host.close(phone).expect("closes");
        assert!(
            e.completed.try_recv().is_err(),
            "no completion for a refused request"
        );
    });
}

#[test]
fn events_arrive_typed_with_the_tag_given_at_open() {
    both_modes(|e| {
        let phone = e.host.open(1, 0x51).expect("opens");
        e.host
            .set_status_messages(
                phone,
                PhoneStates::empty(),
                ButtonModes::KEYPAD,
                ButtonStates::DOWN,
            )
            .expect("accepted");
        let request = e.host.next_request_id();
        e.host
            .dev_specific(request, phone, b"press 5")
            .expect("accepted");
        let (tag, message) = e.events.recv_timeout(PATIENCE).expect("an event");
        assert_eq!(tag, 0x51);
        assert_eq!(
            message,
            Message::Button {
                id: 5,
                mode: ButtonModes::KEYPAD,
                state: ButtonStates::DOWN
            }
        );
        assert_eq!(message.to_string(), "PHONE_BUTTON(id 5, KEYPAD, DOWN)");
        e.host.close(phone).expect("closes");
    });
}

#[test]
fn lamps_and_caps_come_back_typed() {
    let e = embedded(true);
    let caps = e.host.caps(0).expect("caps");
    let lamp = caps
        .buttons
        .iter()
        .position(|b| b.lamp_modes.contains(LampModes::FLASH))
        .expect("the mock has lamps") as u32;
    let phone = e.host.open(0, 1).expect("opens");
    let request = e.host.next_request_id();
    e.host
        .set_lamp(request, phone, lamp, LampModes::FLASH)
        .expect("accepted");
    assert_eq!(e.completed.recv_timeout(PATIENCE), Ok((request, Ok(()))));
    assert_eq!(e.host.get_lamp(phone, lamp), Ok(LampModes::FLASH));
    let status = e.host.status(phone).expect("status");
    assert_eq!(
        status.lamp_modes.get(lamp as usize),
        Some(&LampModes::FLASH)
    );
}

#[test]
fn two_hosts_in_one_process_keep_their_callbacks_apart() {
    let (one, two) = (embedded(true), embedded(false));
    let phone = two.host.open(0, 2).expect("opens");
    let request = two.host.next_request_id();
    two.host
        .set_data(request, phone, 0, b"2\0")
        .expect("accepted");
    assert_eq!(two.completed.recv_timeout(PATIENCE), Ok((request, Ok(()))));
    assert!(
        one.completed.try_recv().is_err(),
        "nothing for the other host"
    );
}

#[test]
fn display_hookswitch_levels_and_button_info_round_trip_typed() {
    use tsp_core::{ButtonFunction, ButtonInfo, HookSwitchDevice, HookSwitchDevs, HookSwitchMode};
    let e = embedded(false);
    let phone = e.host.open(0, 1).expect("opens");
    let done = |request: Result<u32, PhoneError>| {
        let request = request.expect("accepted");
        assert_eq!(e.completed.recv_timeout(PATIENCE), Ok((request, Ok(()))));
    };
    done(
        e.host
            .set_display(e.host.next_request_id(), phone, 0, 0, "héllo"),
    );
    assert!(
        e.host
            .get_display(phone)
            .expect("text")
            .starts_with("héllo")
    );
    let handset = HookSwitchDevice::Handset;
    done(e.host.set_hookswitch(
        e.host.next_request_id(),
        phone,
        HookSwitchDevs::HANDSET,
        HookSwitchMode::MicSpeaker,
    ));
    assert_eq!(e.host.get_hookswitch(phone), Ok(HookSwitchDevs::HANDSET));
    done(
        e.host
            .set_volume(e.host.next_request_id(), phone, handset, 0x1234),
    );
    assert_eq!(e.host.get_volume(phone, handset), Ok(0x1234));
    done(
        e.host
            .set_gain(e.host.next_request_id(), phone, handset, 0x4321),
    );
    assert_eq!(e.host.get_gain(phone, handset), Ok(0x4321));
    let info = ButtonInfo {
        mode: ButtonModes::FEATURE,
        function: ButtonFunction::Mute,
        text: "Mute".into(),
        dev_specific: Vec::new(),
        state: ButtonStates::empty(),
    };
    done(
        e.host
            .set_button_info(e.host.next_request_id(), phone, 12, &info),
    );
    let back = e.host.get_button_info(phone, 12).expect("button info");
    // The mock relabels a button; its function stays what the device has.
    assert_eq!(back.text, "Mute");
}

#[test]
fn get_data_allocates_no_more_than_the_area_and_shutdown_ends_the_callbacks() {
    let e = embedded(true);
    let phone = e.host.open(0, 1).expect("opens");
    let area = e.host.caps(0).expect("caps").get_data[0];
    let data = e.host.get_data(phone, 0, u32::MAX).expect("reads");
    assert_eq!(data.len(), area as usize, "the area, not 4 GiB");
    assert_eq!(e.host.get_data(phone, 9, 1), Err(PhoneError::InvalDataId));
    e.host
        .dev_specific(e.host.next_request_id(), phone, b"fault set_data never")
        .expect("accepted");
    let (_, commanded) = e.completed.recv_timeout(PATIENCE).expect("completes");
    assert_eq!(commanded, Ok(()));
    let stuck = e
        .host
        .set_data(e.host.next_request_id(), phone, 0, b"x")
        .expect("accepted");
    e.host.shutdown();
    e.host.shutdown();
    assert_eq!(
        e.completed.recv_timeout(PATIENCE),
        Ok((stuck, Err(PhoneError::OperationFailed))),
        "completed by the shutdown"
    );
    assert!(
        e.completed.try_recv().is_err(),
        "nothing after the shutdown"
    );
    assert_eq!(
        e.host.get_data(phone, 0, 1),
        Err(PhoneError::InvalPhoneHandle)
    );
}

#[test]
fn a_panicking_callback_is_contained_and_the_host_goes_on() {
    let locks = tempfile::tempdir().expect("a folder");
    let (completions, completed) = channel();
    let host = host_with(
        "completion = \"worker\"",
        locks.path(),
        move |request, result| {
            assert_ne!(request, 1, "a bug in the application's callback");
            let _ = completions.send((request, result));
        },
    );
    let phone = host.open(0, 1).expect("opens");
    host.set_data(1, phone, 0, b"x").expect("accepted");
    host.set_data(2, phone, 0, b"y").expect("accepted");
    assert_eq!(
        completed.recv_timeout(PATIENCE),
        Ok((2, Ok(()))),
        "delivered after the panic"
    );
    let (closed, done) = channel();
    std::thread::spawn(move || {
        let _ = closed.send(host.close(phone));
        host.shutdown();
    });
    assert_eq!(done.recv_timeout(PATIENCE), Ok(Ok(())), "close returns");
}

/// A host on the mock with `settings`, completions to `on_completion`.
fn host_with(
    settings: &str,
    locks: &std::path::Path,
    on_completion: impl Fn(u32, Result<(), PhoneError>) + Send + Sync + 'static,
) -> Host {
    on_the_mock(settings, locks)
        .on_completion(on_completion)
        .start()
        .expect("starts")
}

#[test]
fn a_callback_of_one_host_may_use_another_and_close_its_own_phone() {
    let locks = tempfile::tempdir().expect("a folder");
    // B completes inline: a request on it from inside A's callback is
    // delivered there and then, on B's lane, nested in A's delivery.
    let b = Arc::new(host_with(
        "completion = \"inline\"",
        locks.path(),
        |_, _| {},
    ));
    let b_phone = b.open(0, 2).expect("opens");
    let a_and_phone: Arc<std::sync::OnceLock<(Arc<Host>, tsp_host::PhoneHandle)>> = Arc::default();
    let (done, finished) = channel();
    let scenario = {
        let (a_and_phone, b) = (Arc::clone(&a_and_phone), Arc::clone(&b));
        move |request: u32, _| {
            let Some((a, a_phone)) = a_and_phone.get() else {
                return;
            };
            if request != 1 {
                return;
            }
            let _ = b.set_data(b.next_request_id(), b_phone, 0, b"b");
            // A's own phone closed from A's callback: A's lane must know this
            // thread is its deliverer still, after B's delivery.
            let _ = done.send(a.close(*a_phone));
        }
    };
    let a = Arc::new(host_with("completion = \"worker\"", locks.path(), scenario));
    let a_phone = a.open(1, 1).expect("opens");
    let _ = a_and_phone.set((Arc::clone(&a), a_phone));
    a.set_data(1, a_phone, 0, b"a").expect("accepted");
    assert_eq!(finished.recv_timeout(PATIENCE), Ok(Ok(())), "close returns");
}

#[test]
fn a_callback_chain_from_one_host_through_another_and_back_closes_its_phone() {
    let locks = tempfile::tempdir().expect("a folder");
    type Slot = Arc<std::sync::OnceLock<(Arc<Host>, tsp_host::PhoneHandle)>>;
    let (a_slot, b_slot): (Slot, Slot) = (Arc::default(), Arc::default());
    let (done, finished) = channel();
    // B completes inline; its callback closes A's phone: on the thread that is
    // delivering for A further up its stack (A's callback made the B request).
    let b = {
        let a_slot = Arc::clone(&a_slot);
        Arc::new(host_with(
            "completion = \"inline\"",
            locks.path(),
            move |_, _| {
                if let Some((a, a_phone)) = a_slot.get() {
                    let _ = done.send(a.close(*a_phone));
                }
            },
        ))
    };
    let b_phone = b.open(0, 2).expect("opens");
    let _ = b_slot.set((Arc::clone(&b), b_phone));
    let a = {
        let b_slot = Arc::clone(&b_slot);
        Arc::new(host_with(
            "completion = \"worker\"",
            locks.path(),
            move |request, _| {
                if let (1, Some((b, b_phone))) = (request, b_slot.get()) {
                    let _ = b.set_data(b.next_request_id(), *b_phone, 0, b"b");
                }
            },
        ))
    };
    let a_phone = a.open(1, 1).expect("opens");
    let _ = a_slot.set((Arc::clone(&a), a_phone));
    a.set_data(1, a_phone, 0, b"a").expect("accepted");
    assert_eq!(
        finished.recv_timeout(PATIENCE),
        Ok(Ok(())),
        "A's close from B's callback inside A's returns"
    );
}

#[test]
fn a_callback_may_shut_its_host_down_during_the_shutdown() {
    let locks = tempfile::tempdir().expect("a folder");
    let slot: Arc<std::sync::OnceLock<Arc<Host>>> = Arc::default();
    let (done, finished) = channel();
    let host = {
        let slot = Arc::clone(&slot);
        Arc::new(host_with(
            "completion = \"worker\"\nfaults = { set_data = \"never\" }",
            locks.path(),
            move |_, result| {
                // The outstanding request completes during the shutdown, on its thread.
                if let Some(host) = slot.get() {
                    host.shutdown();
                    let _ = done.send(result);
                }
            },
        ))
    };
    let _ = slot.set(Arc::clone(&host));
    let phone = host.open(0, 1).expect("opens");
    host.set_data(host.next_request_id(), phone, 0, b"x")
        .expect("accepted");
    let shutting = std::thread::spawn(move || host.shutdown());
    assert_eq!(
        finished.recv_timeout(PATIENCE),
        Ok(Err(PhoneError::OperationFailed)),
        "the request completed by the shutdown, whose callback shut down again"
    );
    shutting.join().expect("the shutdown returns");
}

/// A close made from inside the completion callback of a request the driver
/// completed inline (a concurrent phone's direct request) does not wait for
/// that request: it is over once its completion is queued. It waited out
/// close's patience (5 s) while the request still counted as in its driver
/// call; the bound below is far under that and far over what close takes.
#[test]
fn a_close_from_the_completion_of_an_inline_request_does_not_wait_for_it() {
    let locks = tempfile::tempdir().expect("a folder");
    let slot: Arc<std::sync::OnceLock<(Arc<Host>, tsp_host::PhoneHandle)>> = Arc::default();
    let (done, finished) = channel();
    let host = {
        let slot = Arc::clone(&slot);
        Arc::new(host_with(
            "completion = \"inline\"\nconcurrent = true",
            locks.path(),
            move |_, _| {
                if let Some((host, phone)) = slot.get() {
                    let _ = done.send(host.close(*phone));
                }
            },
        ))
    };
    let phone = host.open(0, 1).expect("opens");
    let _ = slot.set((Arc::clone(&host), phone));
    std::thread::spawn({
        let host = Arc::clone(&host);
        move || host.set_data(host.next_request_id(), phone, 0, b"x")
    });
    assert_eq!(
        finished.recv_timeout(Duration::from_secs(2)),
        Ok(Ok(())),
        "close from the callback returned at once"
    );
}

/// Handles are per host: a close of host B's phone from inside host A's
/// driver call (an event A's driver sent during a DevSpecific, delivered on
/// that thread) is not "a close from inside this phone's own call" when A's
/// phone has the same handle value, so it still waits for B's request that
/// is in its driver call on another thread, which then completes as usual.
#[test]
fn a_close_inside_another_host_s_driver_call_still_waits_for_its_own_calls() {
    let locks = tempfile::tempdir().expect("a folder");
    let (b_done, b_completed) = channel();
    let b = Arc::new(host_with(
        "concurrent = true\nfaults = { set_data = \"stall 300\" }",
        locks.path(),
        move |request, result| {
            let _ = b_done.send((request, result));
        },
    ));
    let b_phone = b.open(0, 1).expect("B opens");
    let (closed, close_returned) = channel();
    let a = on_the_mock("concurrent = true\ncompletion = \"inline\"", locks.path())
        .on_event({
            let b = Arc::clone(&b);
            move |_, message| {
                if matches!(message, Message::Button { .. }) {
                    let _ = closed.send(b.close(b_phone));
                }
            }
        })
        .start()
        .expect("A starts");
    let a_phone = a.open(1, 1).expect("A opens");
    assert_eq!(a_phone, b_phone, "the same handle value in both hosts");
    a.set_status_messages(
        a_phone,
        PhoneStates::empty(),
        ButtonModes::KEYPAD,
        ButtonStates::DOWN | ButtonStates::UP,
    )
    .expect("buttons reported");
    let request = b.next_request_id();
    let stuck = std::thread::spawn({
        let b = Arc::clone(&b);
        move || b.set_data(request, b_phone, 0, b"b")
    });
    std::thread::sleep(Duration::from_millis(50));
    let _ = a.dev_specific(a.next_request_id(), a_phone, b"press 3");
    assert_eq!(close_returned.recv_timeout(PATIENCE), Ok(Ok(())));
    assert_eq!(stuck.join().expect("returns"), Ok(request), "accepted");
    assert_eq!(
        b_completed.recv_timeout(PATIENCE),
        Ok((request, Ok(()))),
        "completed, before B's close returned"
    );
}

/// The mock's `hang` (issue 19's test command): the driver stops answering
/// anything. In process the thread that sent it stays in the driver (taking
/// it back is what isolating a driver in its own process is for); the
/// phone's synchronous calls still fail at their deadline, and the last
/// shutdown lets the driver go, so the stuck call returns.
#[test]
fn a_hung_driver_costs_its_calls_their_deadline_and_lets_go_at_shutdown() {
    let locks = tempfile::tempdir().expect("a folder");
    let mut config = Config {
        drivers: vec!["mock".into()],
        ..Config::default()
    };
    // Short deadlines: close waits for the stuck call no longer than a request may take.
    config.deadlines.call_ms = 200;
    config.deadlines.request_ms = 300;
    let settings = format!("lock_dir = {:?}\n", locks.path().display().to_string());
    config
        .settings
        .insert("mock".into(), settings.parse().expect("TOML"));
    let host = Host::builder()
        .driver(tsp_driver_mock::tsp_driver_module())
        .config(config)
        .on_completion(|_, _| {})
        .start()
        .expect("starts");
    let host = Arc::new(host);
    let phone = host.open(0, 1).expect("opens");
    let stuck = std::thread::spawn({
        let host = Arc::clone(&host);
        move || host.dev_specific(host.next_request_id(), phone, b"hang")
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        host.status(phone).map(|_| ()),
        Err(PhoneError::OperationFailed),
        "a synchronous call fails at its deadline"
    );
    host.shutdown();
    assert!(
        stuck.join().expect("the stuck call returns").is_err(),
        "after the shutdown, with no completion to come"
    );
}

/// The mock's `crash` aborts the process the driver runs in: here, a child
/// running this test binary (in process it takes the host down; issue 19
/// isolates drivers so that it does not).
#[cfg(unix)]
#[test]
fn the_mock_s_crash_aborts_the_process_it_runs_in() {
    use std::os::unix::process::ExitStatusExt;
    let exe = std::env::current_exe().expect("the test binary");
    let status = std::process::Command::new(exe)
        .args(["--exact", "crash_in_a_child", "--ignored", "--nocapture"])
        .env("TSP_RS_CRASH_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the child runs");
    assert_eq!(status.signal(), Some(6), "SIGABRT: {status}");
}

#[test]
#[ignore = "run by the_mock_s_crash_aborts_the_process_it_runs_in, in a child"]
fn crash_in_a_child() {
    assert!(
        std::env::var_os("TSP_RS_CRASH_CHILD").is_some(),
        "a child only"
    );
    let locks = tempfile::tempdir().expect("a folder");
    let host = host_with("concurrent = true", locks.path(), |_, _| {});
    let phone = host.open(0, 1).expect("opens");
    let _ = host.dev_specific(host.next_request_id(), phone, b"crash");
    unreachable!("the process aborted");
}
