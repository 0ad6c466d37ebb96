//! A USB device's report descriptor, as the watcher and `tspctl usbhid inspect`
//! take it: parsed, inspected, laid out, or refused; never a panic, never an
//! allocation past the kernel's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tsp_driver_usbhid::fuzzing::descriptor(data);
});
