//! An application embedding the host: the mock driver linked in, a phone
//! opened, data written and read back, a key press received as a typed event.
//! `cargo run -p tsp-host --example embed`

use std::sync::mpsc;
use std::time::Duration;

use tsp_core::{ButtonModes, ButtonStates, Message, PhoneStates};
use tsp_host::Host;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (completions, completed) = mpsc::channel();
    let (events, happened) = mpsc::channel();
    let host = Host::builder()
        .driver(tsp_driver_mock::tsp_driver_module())
        .on_completion(move |request, result| {
            let _ = completions.send((request, result));
        })
        .on_event(move |_tag, message| {
            let _ = events.send(message);
        })
        .start()?;
    for (id, device) in host.devices().iter().enumerate() {
        println!("phone {id}: {} ({})", device.caps.name, device.driver);
    }

    let phone = host.open(0, 1)?;
    let request = host.set_data(host.next_request_id(), phone, 0, b"hello\0")?;
    let (done, result) = completed.recv_timeout(Duration::from_secs(5))?;
    println!("request {done} (sent as {request}): {result:?}");
    println!("read back: {:?}", host.get_data(phone, 0, 6)?);

    host.set_status_messages(
        phone,
        PhoneStates::empty(),
        ButtonModes::KEYPAD,
        ButtonStates::DOWN | ButtonStates::UP,
    )?;
    host.dev_specific(host.next_request_id(), phone, b"press 5")?;
    completed.recv_timeout(Duration::from_secs(5))?.1?;
    while let Ok(message) = happened.recv_timeout(Duration::from_millis(500)) {
        println!("event: {message}");
        if let Message::Button { id, .. } = message {
            println!("  key {id}");
        }
    }
    host.close(phone)?;
    Ok(())
}
