//! End to end: the host loads the serial driver as a plugin and drives a simulated
//! phone over a pseudo-terminal, TAPI played by this test: caps, open and the
//! reservation against a second process, key events as PHONE_BUTTON, volume
//! scaling, UCS2 display text, and the port vanishing mid-request.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{completion, completion_proc, event_proc, events, provider, staged, wait_for};

use tsp_core::var::sized_buffer;
use tsp_core::{PhoneCaps, PhoneError, PhoneMessage, PhoneStates, TspiVersion};
use tsp_driver_serial::sim::Simulator;

/// Run as a second process: tries to take the port named by the environment.
#[test]
#[ignore = "a helper the end-to-end test runs in a second process"]
fn second_process_opens_the_port() {
    let path = std::env::var("TSP_SERIAL_TEST_PORT").expect("the port");
    let result = tsp_driver_serial::port::open_exclusive(Path::new(&path), &Default::default());
    println!("second open: {:?}", result.err().map(|e| e.code));
}

#[test]
fn the_host_drives_a_serial_phone() {
    let (folder, _) = staged("test-serial-host");
    let sim = Simulator::phone().expect("pty");
    let port = format!(
        "path = \"{}\"\nname = \"Desk\"\ntimeout_ms = 300\n",
        sim.path().display()
    );
    let p = provider(folder, &port);

    assert_eq!(p.enum_devices(0, None), 1);
    p.init(0, completion_proc()).expect("init");
    let mut buf = sized_buffer(1024);
    p.get_dev_caps(0, 0x0003_0001, &mut buf).expect("caps");
    let caps = PhoneCaps::read(&buf, TspiVersion::V3_1).expect("reads");
    assert_eq!(caps.name, "Desk");
    assert_eq!(caps.display.map(|d| (d.rows, d.columns)), Some((2, 16)));

    let hd = p.open(0, 0x99, 0x0003_0001, event_proc()).expect("opens");
    let child = std::process::Command::new(std::env::current_exe().expect("own path"))
        .args([
            "--ignored",
            "--exact",
            "second_process_opens_the_port",
            "--nocapture",
        ])
        .env("TSP_SERIAL_TEST_PORT", sim.path())
        .output()
        .expect("the second process runs");
    assert!(
        String::from_utf8_lossy(&child.stdout).contains("second open: Some(Allocated)"),
        "{}",
        String::from_utf8_lossy(&child.stdout)
    );

    let keypad_up_down = 0x3;
    p.set_status_messages(hd, PhoneStates::DISCONNECTED.bits(), 0x08, keypad_up_down)
        .expect("filter");
    sim.unsolicited("+CKEV: 5,1");
    sim.unsolicited("+CKEV: \"5\",0");
    wait_for("the key events", || events(PhoneMessage::Button).len() == 2);
    assert_eq!(
        events(PhoneMessage::Button),
        [[5, 0x08, 0x2], [5, 0x08, 0x1]],
        "PHONE_BUTTON down, then up"
    );

    assert_eq!(p.set_volume(1, hd, 0x1, 0xFFFF), 1);
    wait_for("SetVolume", || completion(1).is_some());
    assert_eq!(completion(1), Some(0));
    assert!(
        sim.received().contains(&"AT+CLVL=5".to_owned()),
        "0xFFFF is the top of (0-5)"
    );

    let text: Vec<u8> = "Hi\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert_eq!(p.set_display(2, hd, 0, 0, &text), 2);
    wait_for("SetDisplay", || completion(2).is_some());
    assert!(
        sim.received()
            .contains(&"AT+CDIS=\"00480069\",\"\"".to_owned()),
        "UCS2 on the wire: {:?}",
        sim.received()
    );

    sim.silent("+CLVL");
    assert_eq!(p.set_volume(3, hd, 0x1, 0), 3);
    std::thread::sleep(Duration::from_millis(50));
    sim.hang_up();
    wait_for("the request to complete", || completion(3).is_some());
    assert_ne!(
        completion(3),
        Some(0),
        "the vanished port fails the request"
    );
    let disconnected = PhoneStates::DISCONNECTED.bits() as usize;
    wait_for("PHONE_STATE(DISCONNECTED)", || {
        events(PhoneMessage::State)
            .iter()
            .any(|p| p[0] == disconnected)
    });
    assert_eq!(
        p.set_volume(4, hd, 0x1, 0),
        PhoneError::InvalPhoneState.to_long(),
        "refused while away"
    );
    p.close(hd).expect("closes");
    p.shutdown().expect("shuts down");
}
