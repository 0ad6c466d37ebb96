//! `tspctl demo`: a guided tour of the host on the mock driver's phones, tspctl
//! playing TAPI: the calls TAPI makes, in its order, and what comes back.

use tsp_core::{ButtonModes, Message, PhoneCaps, PhoneError, PhoneStates};
use tsp_host::{PhoneHandle, Provider};

use crate::tapi::{self, Callback};
use crate::{VERSION, local, phones};

/// Prints a callback as TAPI receives it, its numbers named.
fn show(callback: Callback) {
    match callback {
        Callback::Completion { request_id, result } => {
            println!("  ASYNC_COMPLETION({request_id}, {result:#x})")
        }
        Callback::Event { msg, params } => {
            // Message's Display names the numbers: PHONE_BUTTON(id 5, KEYPAD, DOWN).
            println!("  PHONEEVENT {}", Message::from_raw(msg, params));
        }
    }
}

/// Starts a request and reports it.
fn request(what: &str, request_id: u32, returned: i32) -> Result<(), String> {
    if returned < 0 {
        let error = PhoneError::from_long(returned)
            .map_or_else(|| format!("{returned:#x}"), |e| e.to_string());
        return Err(format!("{what}: {error}"));
    }
    println!("  {what} returned request id {returned}");
    wait_completion(request_id)?;
    println!("  ASYNC_COMPLETION({request_id}, 0): done");
    Ok(())
}

fn open(provider: &Provider, dev: u32) -> Result<PhoneHandle, String> {
    provider
        .open(dev, 1, VERSION.raw(), tapi::event_proc())
        .map_err(|e| e.to_string())
}

/// Waits for the completion of `request_id`, printing the events that come first.
fn wait_completion(request_id: u32) -> Result<(), String> {
    local::wait_completion(request_id, &mut show).map_err(|e| e.to_string())
}

/// Runs the tour on `provider`'s phones.
pub(crate) fn run(provider: &Provider) -> Result<(), String> {
    println!("tsp-rs demo: the host with the mock driver, TAPI played by tspctl\n");
    println!("1. TSPI_providerEnumDevices found these phones:");
    let listed: Vec<phones::Listed> = (0u32..)
        .zip(provider.devices())
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
    let (caps, needed, used) = local::read_caps(provider, 0).map_err(|e| e.to_string())?;
    println!(
        "PHONECAPS {VERSION}: {} bytes gave dwNeededSize {needed}; {needed} bytes gave dwUsedSize {used}",
        PhoneCaps::fixed_size(VERSION)
    );
    phones::print_caps(&caps, false);

    println!(
        "\n3. TSPI_phoneOpen(0): the driver reserves the phone (a second open gets ALLOCATED)"
    );
    let phone = open(provider, 0)?;
    match provider.open(0, 2, VERSION.raw(), tapi::event_proc()) {
        Err(error) => println!("  a second TSPI_phoneOpen(0): {}", error.name()),
        Ok(_) => return Err("a second open succeeded".into()),
    }

    let result = demo_open_phone(provider, phone);
    println!(
        "\n7. TSPI_phoneClose: outstanding requests are completed first, then the reservation is released"
    );
    provider.close(phone).map_err(|e| e.to_string())?;
    println!("  closed");
    result
}

fn demo_open_phone(provider: &Provider, phone: PhoneHandle) -> Result<(), String> {
    println!("\n4. TSPI_phoneSetData(area 1, \"hello, phone\") — asynchronous:");
    request(
        "TSPI_phoneSetData",
        1,
        provider.set_data(1, phone, 1, b"hello, phone\0"),
    )?;

    println!("\n5. TSPI_phoneGetData(area 1):");
    let mut back = [0u8; 13];
    provider
        .get_data(phone, 1, &mut back)
        .map_err(|e| e.to_string())?;
    println!("  {:?}", String::from_utf8_lossy(&back[..12]));

    println!(
        "\n6. Events: TSPI_phoneSetStatusMessages turns on keypad buttons and the handset hookswitch,"
    );
    println!(
        "   then the mock is told (TSPI_phoneDevSpecific) to press key 5 and lift the handset:"
    );
    let states = PhoneStates::HANDSETHOOKSWITCH.bits();
    provider
        .set_status_messages(phone, states, ButtonModes::KEYPAD.bits(), 0x3)
        .map_err(|e| e.to_string())?;
    request(
        "TSPI_phoneDevSpecific(\"press 5\")",
        2,
        provider.dev_specific(2, phone, b"press 5"),
    )?;
    let lift = b"hookswitch handset micspeaker";
    request(
        "TSPI_phoneDevSpecific(\"hookswitch handset micspeaker\")",
        3,
        provider.dev_specific(3, phone, lift),
    )?;
    Ok(())
}
