//! A handset's life from device bytes: a descriptor (length-prefixed), then
//! input reports through the handler, then lamps, ringer and data areas written.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tsp_driver_usbhid::fuzzing::handset(data);
});
