//! `tspctl demo`: a guided tour of the host on the mock driver's phones, tspctl
//! playing TAPI: the calls TAPI makes, in its order, and what comes back.

use tsp_core::{ButtonModes, ButtonStates, PhoneCaps, PhoneError, PhoneStates};
use tsp_host::PhoneHandle;

use crate::local::{self, Local};
use crate::tapi::Callback;
use crate::{VERSION, phones};

/// Prints a callback as TAPI receives it, its numbers named.
fn show(callback: Callback) {
    match callback {
        Callback::Completion { request_id, result } => {
            let code = tsp_core::phone_result(result);
            println!("  ASYNC_COMPLETION({request_id}, {code:#x})")
        }
        // Message's Display names the numbers: PHONE_BUTTON(id 5, KEYPAD, DOWN).
        Callback::Event(message) => println!("  PHONEEVENT {message}"),
    }
}

/// Reports a started request and waits for its completion.
fn request(local: &Local, what: &str, started: Result<u32, PhoneError>) -> Result<(), String> {
    let request_id = started.map_err(|error| format!("{what}: {error}"))?;
    println!("  {what} returned request id {request_id}");
    local
        .wait_completion(request_id, &mut show)
        .map_err(|e| e.to_string())?;
    println!("  ASYNC_COMPLETION({request_id}, 0): done");
    Ok(())
}

/// Runs the tour on `provider`'s phones.
pub(crate) fn run(local: &Local) -> Result<(), String> {
    let host = local.host();
    println!("tsp-rs demo: the host with the mock driver, TAPI played by tspctl\n");
    println!("1. TSPI_providerEnumDevices found these phones:");
    let listed: Vec<phones::Listed> = (0u32..)
        .zip(host.devices())
        .map(|(device_id, d)| phones::Listed {
            device_id,
            name: d.caps.name,
            permanent_id: d.caps.permanent_id,
            driver: d.driver,
        })
        .collect();
    phones::print_list(&listed, false);

    println!(
        "\n2. TSPI_phoneGetDevCaps(0) — asked twice, as TAPI does (fixed part, then dwNeededSize):"
    );
    let (caps, needed, used) = local::read_caps(host.provider(), 0).map_err(|e| e.to_string())?;
    println!(
        "PHONECAPS {VERSION}: {} bytes gave dwNeededSize {needed}; {needed} bytes gave dwUsedSize {used}",
        PhoneCaps::fixed_size(VERSION)
    );
    phones::print_caps(&caps, false);

    println!(
        "\n3. TSPI_phoneOpen(0): the driver reserves the phone (a second open gets ALLOCATED)"
    );
    let phone = host.open(0, 1).map_err(|e| e.to_string())?;
    match host.open(0, 2) {
        Err(error) => println!("  a second TSPI_phoneOpen(0): {}", error.name()),
        Ok(_) => return Err("a second open succeeded".into()),
    }

    let result = demo_open_phone(local, phone);
    println!(
        "\n7. TSPI_phoneClose: outstanding requests are completed first, then the reservation is released"
    );
    host.close(phone).map_err(|e| e.to_string())?;
    println!("  closed");
    result
}

fn demo_open_phone(local: &Local, phone: PhoneHandle) -> Result<(), String> {
    let host = local.host();
    println!("\n4. TSPI_phoneSetData(area 1, \"hello, phone\") — asynchronous:");
    let started = host.set_data(1, phone, 1, b"hello, phone\0");
    request(local, "TSPI_phoneSetData", started)?;

    println!("\n5. TSPI_phoneGetData(area 1):");
    let back = host.get_data(phone, 1, 13).map_err(|e| e.to_string())?;
    println!("  {:?}", String::from_utf8_lossy(&back[..12]));

    println!(
        "\n6. Events: TSPI_phoneSetStatusMessages turns on keypad buttons and the handset hookswitch,"
    );
    println!(
        "   then the mock is told (TSPI_phoneDevSpecific) to press key 5 and lift the handset:"
    );
    host.set_status_messages(
        phone,
        PhoneStates::HANDSETHOOKSWITCH,
        ButtonModes::KEYPAD,
        ButtonStates::UP | ButtonStates::DOWN,
    )
    .map_err(|e| e.to_string())?;
    let started = host.dev_specific(2, phone, b"press 5");
    request(local, "TSPI_phoneDevSpecific(\"press 5\")", started)?;
    let started = host.dev_specific(3, phone, b"hookswitch handset micspeaker");
    request(
        local,
        "TSPI_phoneDevSpecific(\"hookswitch handset micspeaker\")",
        started,
    )?;
    Ok(())
}
