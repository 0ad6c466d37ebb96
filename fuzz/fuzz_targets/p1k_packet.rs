//! Yealink USB-P1K replies as the poll thread reads them, and packets written
//! to the firmware stand-in: checked, decoded, or refused; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tsp_driver_usbhid::fuzzing::p1k_replies(data);
    let _ = tsp_driver_usbhid::fuzzing::p1k_firmware(data);
});
