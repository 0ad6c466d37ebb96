//! The 27.007 answer parsers and the driver's mapping of unsolicited codes, on
//! any text a device may send: nothing panics, levels stay in TAPI's range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsp_driver_serial::fuzzing::{parse, unsolicited_event};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = parse::payload(rest, "+CIND");
    let _ = parse::top_level(rest);
    let _ = parse::groups(rest);
    let _ = parse::indicators(rest);
    let _ = parse::ciev(rest);
    let _ = parse::ckev(rest);
    let _ = parse::Values::parse(rest);
    let _ = parse::decode_text(rest, first);
    let _ = parse::encode_text(rest, first);
    let _ = unsolicited_event(first, rest);
    if let [a, b, c, d, e, f, g, h, i, j, k, l, ..] = data {
        let level = u32::from_le_bytes([*a, *b, *c, *d]);
        let range = (
            u32::from_le_bytes([*e, *f, *g, *h]),
            u32::from_le_bytes([*i, *j, *k, *l]),
        );
        assert!(parse::to_tapi(level, range) <= 0xFFFF, "TAPI's levels are 0–0xFFFF");
        let _ = parse::from_tapi(level, range);
    }
});
