//! A serial device's bytes through the AT framer, the classifier and the engine,
//! with a command in flight or not, in chunks as a port delivers them: nothing
//! panics, and what the engine holds stays within its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsp_driver_serial::fuzzing::{Engine, MAX_INFO_LINES, MAX_LINE, classify, final_code};

fuzz_target!(|data: &[u8]| {
    let Some((&shape, bytes)) = data.split_first() else {
        return;
    };
    let mut engine = Engine::default();
    if shape & 1 == 1 {
        let _ = engine.send("AT+CIND?");
    }
    let chunk = usize::from(shape >> 1).max(1);
    for piece in bytes.chunks(chunk) {
        for _ in engine.feed(piece) {}
        let (line, info) = engine.held();
        assert!(line <= MAX_LINE + chunk, "the partial line is bounded");
        assert!(info <= MAX_INFO_LINES, "the information lines are bounded");
    }
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines() {
        let _ = classify(line, Some("AT+CIND?"));
        let _ = classify(line, None);
        let _ = final_code(line, true);
        let _ = final_code(line, false);
    }
});
