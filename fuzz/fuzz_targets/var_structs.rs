//! TAPI's variable-size structures: the reader on any bytes (what TAPI passes
//! in, PHONEBUTTONINFO for SetButtonInfo), and the writer into a buffer of any
//! size (what TAPI passes out). Nothing panics; the writer never claims more used
//! than the buffer, and asks for at least what it used.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsp_core::var::VarReader;
use tsp_core::{ButtonInfo, PhoneCaps, PhoneStatus, TspiVersion, VarString};

const VERSIONS: [TspiVersion; 4] = [
    TspiVersion::V2_0,
    TspiVersion::V2_2,
    TspiVersion::V3_0,
    TspiVersion::V3_1,
];

fuzz_target!(|data: &[u8]| {
    let Some((&shape, bytes)) = data.split_first() else {
        return;
    };
    let version = VERSIONS[usize::from(shape & 3)];
    let room = usize::from(shape >> 2) * 16;
    let reader = VarReader::new(bytes);
    for at in (0..64).step_by(4) {
        let _ = reader.member(at, at + 4);
    }
    let _ = VarString::read(bytes);
    if let Some(info) = ButtonInfo::read(bytes) {
        check(room, |buf| info.write(buf, version));
    }
    if let Some(caps) = PhoneCaps::read(bytes, version) {
        check(room + PhoneCaps::fixed_size(version), |buf| caps.write(buf, version));
    }
    if let Some(status) = PhoneStatus::read(bytes, version) {
        check(room + PhoneStatus::fixed_size(version), |buf| {
            status.write(buf, version)
        });
    }
});

fn check(
    size: usize,
    write: impl Fn(&mut [u8]) -> Result<tsp_core::var::Written, tsp_core::PhoneError>,
) {
    let mut buf = tsp_core::var::sized_buffer(size as u32);
    if let Ok(written) = write(&mut buf) {
        assert!(written.used as usize <= buf.len(), "used fits the buffer");
        assert!(written.needed >= written.used, "needed covers used");
    }
}
