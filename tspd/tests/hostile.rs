//! Issue 14: tspd runs as root and its clients are untrusted. On a private bus:
//! sizes bounded by the data areas, getters that never wait for a driver, a
//! bounded pool of call threads and a per-client limit, signals only to the
//! phone's holder, malformed arguments, a flood, a client that never reads its
//! replies, 200 clients that open a phone and die. tspd stays up, memory stays
//! bounded, other clients are served, nothing stays reserved.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use common::{Bus, Daemon, Scratch, error_name, phone, wait_for};
use tspd::{BUS_NAME, LIMITS_EXCEEDED, PHONE_INTERFACE, phone_path};
use zbus::blocking::Connection;

const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// A number from tspd's `/proc/PID/status` (`VmRSS` in KiB, `Threads` …).
fn proc_status(daemon: &Daemon, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.child.id()))
        .expect("tspd is running");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
}

fn alive(daemon: &mut Daemon) -> bool {
    daemon.child.try_wait().expect("waits").is_none()
}

/// The Owner property, read without a proxy's cache.
fn owner(client: &Connection, device_id: u32) -> String {
    let reply = client
        .call_method(
            Some(BUS_NAME),
            phone_path(device_id).as_str(),
            Some(PROPERTIES),
            "Get",
            &(PHONE_INTERFACE, "Owner"),
        )
        .expect("Owner answers");
    let value: zbus::zvariant::OwnedValue = reply.body().deserialize().expect("a variant");
    String::try_from(value).expect("a string")
}

#[test]
fn get_data_is_bounded_by_the_area_and_set_data_past_it_is_refused() {
    let scratch = Scratch::new("hostile-sizes");
    let bus = Bus::session(&scratch);
    let mut tspd = Daemon::start(&bus, &scratch, "");
    let client = bus.client();
    let phone = phone(&client, 0);
    let data: Vec<u8> = phone
        .call("GetData", &(0u32, u32::MAX))
        .expect("GetData with a 4 GiB size answers");
    assert_eq!(data.len(), 256, "at most the area comes back");
    let err = phone
        .call::<_, _, ()>("SetData", &(0u32, vec![1u8; 1 << 20]))
        .expect_err("1 MiB into a 256-byte area");
    assert_eq!(
        error_name(&err),
        "org.tsprs.Telephony1.Error.OperationFailed"
    );
    let peak_kib = proc_status(&tspd, "VmHWM");
    assert!(
        peak_kib < 256 * 1024,
        "tspd's peak memory stays far below the sizes asked for: {peak_kib} KiB"
    );
    assert!(alive(&mut tspd));
}

#[test]
fn owner_answers_while_a_slow_open_runs() {
    let scratch = Scratch::new("hostile-getter");
    let bus = Bus::session(&scratch);
    let _tspd = Daemon::start(
        &bus,
        &scratch,
        "[settings.mock.faults]\nopen = \"delay 3000\"",
    );
    let (opened_tx, opened) = channel();
    let opener = bus.client();
    let holds = opener.clone();
    std::thread::spawn(move || {
        let result = phone(&holds, 0).call_method("Open", &());
        let _ = opened_tx.send(result.is_ok());
    });
    // Let the open reach the driver; if it has not yet, the check below still
    // holds, it only proves less.
    std::thread::sleep(Duration::from_millis(500));
    let reader = bus.client();
    assert_eq!(owner(&reader, 0), "", "not open yet");
    assert!(
        opened.try_recv().is_err(),
        "the Owner getter answered while the driver's open was still running"
    );
    assert_eq!(
        opened.recv_timeout(Duration::from_secs(10)),
        Ok(true),
        "the open ends"
    );
    let expected = opener.unique_name().map(|n| n.to_string());
    wait_for("the owner is the opener", || {
        Some(owner(&reader, 0)) == expected
    });
}

#[test]
fn a_flood_is_refused_with_limits_exceeded_and_others_are_served() {
    let scratch = Scratch::new("hostile-flood");
    let bus = Bus::session(&scratch);
    let mut tspd = Daemon::start(
        &bus,
        &scratch,
        "[settings.mock.faults]\nget_status = \"delay 1500\"",
    );
    let threads_before = proc_status(&tspd, "Threads");
    let flooder = bus.client();
    let (done_tx, done) = channel();
    for _ in 0..200 {
        let (flooder, done_tx) = (flooder.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let result = phone(&flooder, 0).call_method("Status", &());
            let _ = done_tx.send(result.err().map(|e| error_name(&e)));
        });
    }
    let mut peak_threads = 0;
    let mut results = Vec::new();
    let other = bus.client();
    let mut served = None;
    while results.len() < 200 {
        peak_threads = peak_threads.max(proc_status(&tspd, "Threads"));
        if served.is_none() && results.len() > 50 {
            let started = Instant::now();
            let read: Result<Vec<u8>, _> = phone(&other, 1).call("GetData", &(0u32, 4u32));
            served = Some((read.map(|d| d.len()), started.elapsed()));
        }
        if let Ok(result) = done.recv_timeout(Duration::from_millis(20)) {
            results.push(result);
        }
    }
    let refused = results
        .iter()
        .filter(|r| r.as_deref() == Some(LIMITS_EXCEEDED))
        .count();
    let ok = results.iter().filter(|r| r.is_none()).count();
    assert!(refused > 0, "a flood is refused: {results:?}");
    assert_eq!(ok + refused, 200, "nothing else: {results:?}");
    let (read, took) = served.expect("the other client called");
    assert_eq!(
        read.map_err(|e| e.to_string()),
        Ok(4),
        "another client is served during the flood"
    );
    eprintln!(
        "flood: {refused} of 200 refused, {ok} answered; another client served in {took:?}; \
         threads {threads_before} before, {peak_threads} at the peak"
    );
    // 32 call threads, 64 host executor threads, and tspd's own: a thread per
    // call would be 200 more.
    assert!(
        peak_threads < threads_before + 32 + 64 + 8,
        "threads stay bounded: {threads_before} before, {peak_threads} at the peak"
    );
    assert!(alive(&mut tspd));
}

#[test]
fn malformed_and_oversized_arguments_are_errors_and_tspd_stays_up() {
    let scratch = Scratch::new("hostile-args");
    let bus = Bus::session(&scratch);
    let mut tspd = Daemon::start(&bus, &scratch, "");
    let client = bus.client();
    let phone0 = phone(&client, 0);
    let refused = [
        phone0.call_method("SetData", &("not a number", 5u8)).err(),
        phone0.call_method("GetData", &()).err(),
        phone0.call_method("SetDisplay", &(0u32,)).err(),
        phone0
            .call_method("DevSpecific", &(vec![0xFFu8; 1 << 20],))
            .err(),
        phone0
            .call_method("SetButtonInfo", &(u32::MAX, u32::MAX, u32::MAX, "x"))
            .err(),
        phone0.call_method("GetLamp", &(u32::MAX,)).err(),
        phone0.call_method("NoSuchMethod", &()).err(),
    ];
    for (i, error) in refused.iter().enumerate() {
        assert!(error.is_some(), "call {i} is refused");
    }
    phone0
        .call_method("SetDisplay", &(0u32, 0u32, "x".repeat(1 << 20)))
        .expect("a text longer than the display is cut, as TSPI says");
    let shown: String = phone0.call("GetDisplay", &()).expect("reads the display");
    assert!(
        shown.len() <= 2 * 16,
        "no more than the display holds: {shown:?}"
    );
    assert!(alive(&mut tspd));
    let data: Vec<u8> = phone0.call("GetData", &(0u32, 2u32)).expect("still served");
    assert_eq!(data.len(), 2);
}

#[test]
fn a_client_that_never_reads_its_replies_does_not_stop_the_others() {
    let scratch = Scratch::new("hostile-noread");
    let bus = Bus::session(&scratch);
    let mut tspd = Daemon::start(&bus, &scratch, "");
    let rss_before = proc_status(&tspd, "VmRSS");
    let mut silent = raw_client(&bus.address);
    let call = zbus::message::Message::method_call(phone_path(0).as_str(), "GetData")
        .and_then(|m| m.destination(BUS_NAME))
        .and_then(|m| m.interface(PHONE_INTERFACE))
        .and_then(|m| m.build(&(0u32, 256u32)))
        .expect("a message");
    let bytes = call.data().to_vec();
    // The bus takes what it will and then stops reading from us: the writes
    // stall or fail; either way this client never reads a reply.
    silent
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("a timeout");
    for _ in 0..20_000 {
        if silent.write_all(&bytes).is_err() {
            break;
        }
    }
    let other = bus.client();
    let data: Vec<u8> = phone(&other, 1)
        .call("GetData", &(0u32, 3u32))
        .expect("another client is served");
    assert_eq!(data.len(), 3);
    assert!(alive(&mut tspd));
    let rss_after = proc_status(&tspd, "VmRSS");
    eprintln!("no-read client: tspd RSS {rss_before} KiB before, {rss_after} KiB after");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory stays bounded: {rss_before} KiB before, {rss_after} KiB after"
    );
    drop(silent);
}

/// A bus connection made by hand (EXTERNAL auth and Hello), so nothing reads
/// from it unless the test does.
fn raw_client(address: &str) -> UnixStream {
    let path = address
        .strip_prefix("unix:path=")
        .and_then(|p| p.split(',').next())
        .expect("a unix:path address");
    let mut stream = UnixStream::connect(path).expect("connects");
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    let hex: String = uid
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    stream
        .write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())
        .expect("auth");
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .expect("auth reply");
    assert!(line.starts_with("OK"), "{line}");
    stream.write_all(b"BEGIN\r\n").expect("begin");
    let hello = zbus::message::Message::method_call("/org/freedesktop/DBus", "Hello")
        .and_then(|m| m.destination("org.freedesktop.DBus"))
        .and_then(|m| m.interface("org.freedesktop.DBus"))
        .and_then(|m| m.build(&()))
        .expect("Hello");
    stream.write_all(hello.data()).expect("hello");
    stream
}

#[test]
fn two_hundred_clients_that_open_and_die_leave_nothing_reserved() {
    let scratch = Scratch::new("hostile-die");
    let bus = Bus::session(&scratch);
    let mut tspd = Daemon::start(&bus, &scratch, "");
    let rss_before = proc_status(&tspd, "VmRSS");
    for batch in 0..10 {
        let clients: Vec<Connection> = (0..20).map(|_| bus.client()).collect();
        let opens: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, client)| {
                let client = client.clone();
                std::thread::spawn(move || phone(&client, (i % 2) as u32).call_method("Open", &()))
            })
            .collect();
        for open in opens {
            let _ = open.join();
        }
        drop(clients);
        assert!(alive(&mut tspd), "batch {batch}");
    }
    let reader = bus.client();
    wait_for("both phones are free again", || {
        owner(&reader, 0).is_empty() && owner(&reader, 1).is_empty()
    });
    let last = bus.client();
    phone(&last, 0)
        .call_method("Open", &())
        .expect("phone 0 opens");
    phone(&last, 1)
        .call_method("Open", &())
        .expect("phone 1 opens");
    let rss_after = proc_status(&tspd, "VmRSS");
    eprintln!("200 clients: tspd RSS {rss_before} KiB before, {rss_after} KiB after");
    assert!(
        rss_after < rss_before + 32 * 1024,
        "memory stays bounded: {rss_before} KiB before, {rss_after} KiB after"
    );
}

#[test]
fn a_phones_events_go_to_its_holder_only() {
    let scratch = Scratch::new("hostile-privacy");
    let bus = Bus::session(&scratch);
    let _tspd = Daemon::start(&bus, &scratch, "");
    let listen = |client: &Connection| {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .path(phone_path(0))
            .expect("a path")
            .build();
        let messages = zbus::blocking::MessageIterator::for_match_rule(rule, client, Some(64))
            .expect("subscribes");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for message in messages.flatten() {
                let member = message.header().member().map(|m| m.to_string());
                let _ = tx.send(member.unwrap_or_default());
            }
        });
        rx
    };
    let holder = bus.client();
    let stranger = bus.client();
    let holder_hears = listen(&holder);
    let stranger_hears = listen(&stranger);
    let phone0 = phone(&holder, 0);
    phone0.call_method("Open", &()).expect("opens");
    phone0
        .call_method("DevSpecific", &(b"press 5".to_vec(),))
        .expect("the mock presses key 5");
    let mut holder_heard = Vec::new();
    while let Ok(member) = holder_hears.recv_timeout(Duration::from_secs(5)) {
        holder_heard.push(member);
        if holder_heard.iter().any(|m| m == "Button") {
            break;
        }
    }
    assert!(
        holder_heard.iter().any(|m| m == "Button"),
        "the holder hears its keys: {holder_heard:?}"
    );
    phone0.call_method("Close", &()).expect("closes");
    // The Owner changes (Open's and Close's) are broadcast; Close's comes after
    // the key: by the time the stranger has it, it would have had the key too.
    let mut heard = Vec::new();
    while let Ok(member) = stranger_hears.recv_timeout(Duration::from_secs(5)) {
        heard.push(member);
        if heard.iter().filter(|m| *m == "PropertiesChanged").count() == 2 {
            break;
        }
    }
    assert_eq!(
        heard.last().map(String::as_str),
        Some("PropertiesChanged"),
        "{heard:?}"
    );
    assert!(
        !heard.iter().any(|m| m == "Button"),
        "a stranger hears none of the keys: {heard:?}"
    );
}

#[test]
fn a_client_that_leaves_during_its_open_leaves_the_phone_free() {
    let scratch = Scratch::new("hostile-leave-opening");
    let bus = Bus::session(&scratch);
    let _tspd = Daemon::start(
        &bus,
        &scratch,
        "[settings.mock.faults]\nopen = \"delay 1500\"",
    );
    let mut leaving = std::process::Command::new("dbus-send")
        .arg(format!("--bus={}", bus.address))
        .args(["--print-reply", &format!("--dest={BUS_NAME}")])
        .arg(phone_path(0))
        .arg(format!("{PHONE_INTERFACE}.Open"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dbus-send runs");
    // Leave while the driver's open runs (if the open has not begun yet, the
    // call finds its client gone: the same promise).
    std::thread::sleep(Duration::from_millis(300));
    let _ = leaving.kill();
    let _ = leaving.wait();
    let next = bus.client();
    wait_for("the phone is free for the next client", || {
        phone(&next, 0).call_method("Open", &()).is_ok()
    });
    assert_eq!(
        owner(&next, 0),
        next.unique_name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    );
}
