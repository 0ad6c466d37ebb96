//! A phone unplugged and plugged back at the same path: PHONE_STATE(DISCONNECTED),
//! then PHONE_STATE(CONNECTED) once the port opens again and answers `AT`, and
//! requests work again. The path is a symbolic link moved from one simulated
//! modem to another, as udev moves `/dev/serial/by-id/…` links.
#![cfg(unix)]

mod common;

use std::path::Path;

use common::{completion, completion_proc, event_proc, events, provider, staged, wait_for};

use tsp_core::{PhoneMessage, PhoneStates};
use tsp_driver_serial::sim::Simulator;

fn point(link: &Path, to: &Path) {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(to, link).expect("symlink");
}

#[test]
fn an_unplugged_phone_comes_back_at_the_same_path() {
    let (folder, _) = staged("test-serial-replug");
    let link = folder.join("ttyPHONE");
    let first = Simulator::phone().expect("pty");
    point(&link, first.path());
    let p = provider(
        folder,
        &format!("path = \"{}\"\ntimeout_ms = 300\n", link.display()),
    );
    assert_eq!(p.enum_devices(0, None), 1);
    p.init(0, completion_proc()).expect("init");
    let hd = p.open(0, 1, 0x0003_0001, event_proc()).expect("opens");
    let presence = (PhoneStates::CONNECTED | PhoneStates::DISCONNECTED).bits();
    p.set_status_messages(hd, presence, 0, 0).expect("filter");

    first.hang_up();
    let _ = std::fs::remove_file(&link);
    let disconnected = PhoneStates::DISCONNECTED.bits() as usize;
    wait_for("PHONE_STATE(DISCONNECTED)", || {
        events(PhoneMessage::State)
            .iter()
            .any(|p| p[0] == disconnected)
    });

    let second = Simulator::phone().expect("pty");
    point(&link, second.path());
    let connected = PhoneStates::CONNECTED.bits() as usize;
    wait_for("PHONE_STATE(CONNECTED)", || {
        events(PhoneMessage::State)
            .iter()
            .any(|p| p[0] == connected)
    });

    assert_eq!(p.set_volume(7, hd, 0x1, 0), 7);
    wait_for("SetVolume on the new line", || completion(7).is_some());
    assert_eq!(completion(7), Some(0));
    assert!(
        second.received().contains(&"AT+CLVL=0".to_owned()),
        "{:?}",
        second.received()
    );
    p.close(hd).expect("closes");
    p.shutdown().expect("shuts down");
    let _ = std::fs::remove_file(&link);
}
