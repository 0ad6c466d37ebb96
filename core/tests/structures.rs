//! The writer keeps reference §4.1 for every structure and every version: exactly
//! the fixed part, room for some members, room for all, below the fixed part,
//! `dwTotalSize` untouched, offsets inside the used area, strings terminated.

use std::mem::offset_of;

use tsp_core::sys::{PHONEBUTTONINFO, PHONECAPS, PHONESTATUS, VARSTRING};
use tsp_core::*;

const FILL: u8 = 0xA5;
const VERSIONS: [TspiVersion; 5] = [
    TspiVersion::V2_0,
    TspiVersion::V2_1,
    TspiVersion::V2_2,
    TspiVersion::V3_0,
    TspiVersion::V3_1,
];

/// A buffer as TAPI hands it over: `dwTotalSize` set, everything else garbage.
fn tapi_buffer(total: usize) -> Vec<u8> {
    let mut buf = vec![FILL; total];
    if total >= 4 {
        buf[..4].copy_from_slice(&(total as u32).to_le_bytes());
    }
    buf
}

fn u32_at(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(buf[off..off + 4].try_into().expect("4 bytes"))
}

/// A variable member's size/offset pair and whether it holds a string.
#[derive(Clone, Copy)]
struct Member {
    size_at: usize,
    offset_at: usize,
    string: bool,
}

const fn member(size_at: usize, offset_at: usize, string: bool) -> Member {
    Member {
        size_at,
        offset_at,
        string,
    }
}

/// Checks what must hold after any successful write, and returns how many members
/// were placed.
fn check_rules(buf: &[u8], fixed: usize, written: Written, members: &[Member]) -> usize {
    let total = buf.len();
    assert_eq!(u32_at(buf, 0) as usize, total, "dwTotalSize untouched");
    assert_eq!(u32_at(buf, 4), written.needed, "dwNeededSize written");
    assert_eq!(u32_at(buf, 8), written.used, "dwUsedSize written");
    let used = written.used as usize;
    assert!(used >= fixed && used <= total);
    assert!(written.needed >= written.used);

    let mut placed: Vec<(usize, usize)> = Vec::new();
    for m in members.iter().filter(|m| m.offset_at + 4 <= fixed) {
        let (size, offset) = (
            u32_at(buf, m.size_at) as usize,
            u32_at(buf, m.offset_at) as usize,
        );
        if size == 0 {
            assert_eq!(offset, 0, "an absent member has size and offset 0");
            continue;
        }
        assert!(
            offset >= fixed,
            "member at {offset} overlaps the fixed part ({fixed})"
        );
        assert!(
            offset + size <= used,
            "member {offset}+{size} past dwUsedSize {used}"
        );
        if m.string {
            assert!(size >= 2 && size % 2 == 0, "UTF-16 string of {size} bytes");
            assert_eq!(
                &buf[offset + size - 2..offset + size],
                &[0, 0],
                "string terminated"
            );
        }
        placed.push((offset, size));
    }
    placed.sort();
    let mut end = fixed;
    for (offset, size) in &placed {
        assert_eq!(
            *offset, end,
            "members are contiguous right after the fixed part"
        );
        end = offset + size;
    }
    assert_eq!(
        end, used,
        "dwUsedSize is the fixed part plus the members copied"
    );
    assert!(
        buf[used..].iter().all(|&b| b == FILL),
        "the tail is left for TAPI"
    );
    placed.len()
}

fn rich_caps() -> PhoneCaps {
    let device = HookSwitchCaps {
        modes: HookSwitchModes::ONHOOK | HookSwitchModes::MICSPEAKER,
        settable: HookSwitchModes::ONHOOK | HookSwitchModes::MICSPEAKER,
        monitored: HookSwitchModes::ONHOOK | HookSwitchModes::MICSPEAKER,
        volume: true,
        gain: false,
    };
    PhoneCaps {
        name: "Desk Phone ünïcödé 📞".into(),
        provider_info: "tsp-rs test provider".into(),
        phone_info: "model X, firmware 1.2".into(),
        permanent_id: 0x1234_5678,
        permanent_guid: 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff,
        string_format: Some(StringFormat::Unicode),
        phone_states: PhoneStates::HANDSETHOOKSWITCH | PhoneStates::DISPLAY,
        handset: Some(device),
        speaker: None,
        headset: Some(HookSwitchCaps {
            gain: true,
            ..device
        }),
        display: Some(DisplayGeometry {
            rows: 2,
            columns: 20,
        }),
        ring_modes: 3,
        buttons: vec![
            ButtonLamp {
                mode: ButtonModes::KEYPAD,
                function: ButtonFunction::None,
                lamp_modes: LampModes::DUMMY,
            },
            ButtonLamp {
                mode: ButtonModes::FEATURE,
                function: ButtonFunction::Hold,
                lamp_modes: LampModes::OFF | LampModes::STEADY | LampModes::FLASH,
            },
        ],
        set_data: vec![256, 16, 4],
        get_data: vec![128],
        dev_specific: vec![1, 2, 3],
        device_classes: vec!["tapi/phone".into(), "wave/in".into()],
        features: PhoneFeatures::SETDATA | PhoneFeatures::GETDATA | PhoneFeatures::SETRING,
    }
}

macro_rules! caps_members {
    ($($size:ident $offset:ident $string:expr),* $(,)?) => {
        [$(member(offset_of!(PHONECAPS, $size), offset_of!(PHONECAPS, $offset), $string)),*]
    };
}

const CAPS_MEMBERS: [Member; 10] = caps_members![
    dwProviderInfoSize dwProviderInfoOffset true,
    dwPhoneInfoSize dwPhoneInfoOffset true,
    dwPhoneNameSize dwPhoneNameOffset true,
    dwButtonModesSize dwButtonModesOffset false,
    dwButtonFunctionsSize dwButtonFunctionsOffset false,
    dwLampModesSize dwLampModesOffset false,
    dwSetDataSize dwSetDataOffset false,
    dwGetDataSize dwGetDataOffset false,
    dwDevSpecificSize dwDevSpecificOffset false,
    dwDeviceClassesSize dwDeviceClassesOffset true,
];

fn caps_fixed_members_hold(buf: &[u8], caps: &PhoneCaps, version: TspiVersion) {
    let at = |off: usize| u32_at(buf, off);
    assert_eq!(
        at(offset_of!(PHONECAPS, dwPermanentPhoneID)),
        caps.permanent_id
    );
    assert_eq!(
        at(offset_of!(PHONECAPS, dwStringFormat)),
        StringFormat::Unicode.code()
    );
    assert_eq!(
        at(offset_of!(PHONECAPS, dwPhoneStates)),
        caps.phone_states.bits()
    );
    let devs = HookSwitchDevs::HANDSET | HookSwitchDevs::HEADSET;
    assert_eq!(at(offset_of!(PHONECAPS, dwHookSwitchDevs)), devs.bits());
    assert_eq!(at(offset_of!(PHONECAPS, dwSpeakerHookSwitchModes)), 0);
    assert_eq!(at(offset_of!(PHONECAPS, dwVolumeFlags)), devs.bits());
    assert_eq!(
        at(offset_of!(PHONECAPS, dwGainFlags)),
        HookSwitchDevs::HEADSET.bits()
    );
    assert_eq!(at(offset_of!(PHONECAPS, dwDisplayNumRows)), 2);
    assert_eq!(at(offset_of!(PHONECAPS, dwDisplayNumColumns)), 20);
    assert_eq!(at(offset_of!(PHONECAPS, dwNumRingModes)), 3);
    assert_eq!(at(offset_of!(PHONECAPS, dwNumButtonLamps)), 2);
    assert_eq!(at(offset_of!(PHONECAPS, dwNumSetData)), 3);
    assert_eq!(at(offset_of!(PHONECAPS, dwNumGetData)), 1);
    assert_eq!(
        at(offset_of!(PHONECAPS, dwPhoneFeatures)),
        caps.features.bits()
    );
    let modes = (HookSwitchModes::ONHOOK | HookSwitchModes::MICSPEAKER).bits();
    assert_eq!(
        at(offset_of!(PHONECAPS, dwMonitoredHeadsetHookSwitchModes)),
        modes
    );
    assert_eq!(
        at(offset_of!(PHONECAPS, dwSettableSpeakerHookSwitchModes)),
        0
    );
    let guid = offset_of!(PHONECAPS, PermanentPhoneGuid);
    if version >= TspiVersion::V2_2 {
        assert_eq!(at(guid), 0x0011_2233, "GUID data1 little-endian");
        assert_eq!(
            &buf[guid + 8..guid + 16],
            &[0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]
        );
    }
}

#[test]
fn caps_below_the_fixed_part_is_structure_too_small() {
    for version in VERSIONS {
        let fixed = PhoneCaps::fixed_size(version);
        for len in [0, 3, 12, fixed - 1] {
            let mut buf = tapi_buffer(len);
            let before = buf.clone();
            assert_eq!(
                rich_caps().write(&mut buf, version),
                Err(PhoneError::StructureTooSmall)
            );
            assert_eq!(buf, before, "nothing written");
        }
    }
}

#[test]
fn caps_in_exactly_the_fixed_part() {
    let caps = rich_caps();
    for version in VERSIONS {
        let fixed = PhoneCaps::fixed_size(version);
        let mut buf = tapi_buffer(fixed);
        let written = caps.write(&mut buf, version).expect("fits");
        assert_eq!(written.used as usize, fixed);
        assert!(written.needed as usize > fixed);
        assert_eq!(
            check_rules(&buf, fixed, written, &CAPS_MEMBERS),
            0,
            "no member fits"
        );
        caps_fixed_members_hold(&buf, &caps, version);
    }
}

#[test]
fn caps_with_room_for_all() {
    let caps = rich_caps();
    for version in VERSIONS {
        let fixed = PhoneCaps::fixed_size(version);
        let needed = {
            let mut probe = tapi_buffer(fixed);
            caps.write(&mut probe, version).expect("fits").needed as usize
        };
        let mut buf = tapi_buffer(needed + 40);
        let written = caps.write(&mut buf, version).expect("fits");
        assert!(written.is_complete());
        assert_eq!(
            written.needed as usize, needed,
            "dwNeededSize does not depend on room"
        );
        assert_eq!(check_rules(&buf, fixed, written, &CAPS_MEMBERS), 10);
        caps_fixed_members_hold(&buf, &caps, version);

        let back = PhoneCaps::read(&buf, version).expect("reads back");
        let mut expected = caps.clone();
        if version < TspiVersion::V2_2 {
            expected.permanent_guid = 0;
        }
        assert_eq!(back, expected);
    }
}

#[test]
fn caps_with_room_for_some_never_truncates() {
    let caps = rich_caps();
    for version in VERSIONS {
        let fixed = PhoneCaps::fixed_size(version);
        let mut probe = tapi_buffer(fixed);
        let needed = caps.write(&mut probe, version).expect("fits").needed as usize;
        let mut seen_partial = false;
        for total in fixed..=needed {
            let mut buf = tapi_buffer(total);
            let written = caps.write(&mut buf, version).expect("fits");
            assert_eq!(written.needed as usize, needed);
            let placed = check_rules(&buf, fixed, written, &CAPS_MEMBERS);
            seen_partial |= placed > 0 && placed < 10;
        }
        assert!(seen_partial, "some sizes hold some members but not all");
    }
}

#[test]
fn caps_empty_members_are_size_and_offset_zero() {
    let caps = PhoneCaps {
        name: "bare".into(),
        ..PhoneCaps::default()
    };
    let mut buf = tapi_buffer(400);
    let written = caps.write(&mut buf, TspiVersion::V3_1).expect("fits");
    assert!(written.is_complete());
    // Only the name is there: 5 UTF-16 units with the terminator.
    assert_eq!(
        written.used as usize,
        PhoneCaps::fixed_size(TspiVersion::V3_1) + 10
    );
    assert_eq!(check_rules(&buf, 196, written, &CAPS_MEMBERS), 1);
    assert_eq!(u32_at(&buf, offset_of!(PHONECAPS, dwHookSwitchDevs)), 0);
}

const STATUS_MEMBERS: [Member; 3] = [
    member(
        offset_of!(PHONESTATUS, dwDisplaySize),
        offset_of!(PHONESTATUS, dwDisplayOffset),
        true,
    ),
    member(
        offset_of!(PHONESTATUS, dwLampModesSize),
        offset_of!(PHONESTATUS, dwLampModesOffset),
        false,
    ),
    member(
        offset_of!(PHONESTATUS, dwDevSpecificSize),
        offset_of!(PHONESTATUS, dwDevSpecificOffset),
        false,
    ),
];

fn rich_status() -> PhoneStatus {
    PhoneStatus {
        flags: PhoneStatusFlags::CONNECTED,
        ring_mode: 2,
        ring_volume: 0x8000,
        handset: Some(HookSwitchStatus {
            mode: HookSwitchMode::MicSpeaker,
            volume: 0xFFFF,
            gain: 7,
        }),
        speaker: None,
        headset: Some(HookSwitchStatus {
            mode: HookSwitchMode::OnHook,
            volume: 1,
            gain: 2,
        }),
        display: Some("Hello               World".into()),
        lamp_modes: vec![LampModes::OFF, LampModes::FLASH],
        dev_specific: vec![9; 5],
        features: PhoneFeatures::GETDATA,
    }
}

#[test]
fn status_at_every_size_keeps_the_rules_and_tapis_members() {
    let status = rich_status();
    let tapi_owned = [
        offset_of!(PHONESTATUS, dwNumOwners),
        offset_of!(PHONESTATUS, dwNumMonitors),
        offset_of!(PHONESTATUS, dwOwnerNameSize),
        offset_of!(PHONESTATUS, dwOwnerNameOffset),
    ];
    for version in VERSIONS {
        let fixed = PhoneStatus::fixed_size(version);
        assert_eq!(
            status.write(&mut tapi_buffer(fixed - 1), version),
            Err(PhoneError::StructureTooSmall)
        );
        let needed = status
            .write(&mut tapi_buffer(fixed), version)
            .expect("fits")
            .needed;
        for total in fixed..=needed as usize + 8 {
            let mut buf = tapi_buffer(total);
            let written = status.write(&mut buf, version).expect("fits");
            assert_eq!(written.needed, needed);
            check_rules(&buf, fixed, written, &STATUS_MEMBERS);
            for off in tapi_owned {
                assert_eq!(
                    u32_at(&buf, off),
                    u32::from_le_bytes([FILL; 4]),
                    "TAPI's member at {off}"
                );
            }
            assert_eq!(
                u32_at(&buf, offset_of!(PHONESTATUS, dwHandsetVolume)),
                0xFFFF
            );
            assert_eq!(
                u32_at(&buf, offset_of!(PHONESTATUS, dwSpeakerHookSwitchMode)),
                0
            );
            assert_eq!(
                u32_at(&buf, offset_of!(PHONESTATUS, dwPhoneFeatures)),
                PhoneFeatures::GETDATA.bits()
            );
        }
        let mut buf = tapi_buffer(needed as usize);
        status.write(&mut buf, version).expect("fits");
        assert_eq!(PhoneStatus::read(&buf, version), Some(status.clone()));
    }
}

#[test]
fn varstring_at_every_size() {
    let members = [member(
        offset_of!(VARSTRING, dwStringSize),
        offset_of!(VARSTRING, dwStringOffset),
        true,
    )];
    let value = VarString::text("line 1 ☎");
    assert_eq!(
        value.write(&mut tapi_buffer(23)),
        Err(PhoneError::StructureTooSmall)
    );
    let needed = 24 + value.data.len();
    for total in 24..=needed + 4 {
        let mut buf = tapi_buffer(total);
        let written = value.write(&mut buf).expect("fits");
        assert_eq!(written.needed as usize, needed);
        assert_eq!(
            u32_at(&buf, offset_of!(VARSTRING, dwStringFormat)),
            StringFormat::Unicode.code()
        );
        let placed = check_rules(&buf, 24, written, &members);
        assert_eq!(placed == 1, total >= needed);
    }
    let mut buf = tapi_buffer(needed);
    value.write(&mut buf).expect("fits");
    let back = VarString::read(&buf).expect("reads");
    assert_eq!(back.as_text().as_deref(), Some("line 1 ☎"));
}

#[test]
fn varstring_binary_is_not_a_string() {
    let value = VarString::binary(vec![0xFF, 0x01, 0x02]);
    let mut buf = tapi_buffer(64);
    let written = value.write(&mut buf).expect("fits");
    assert_eq!(written.used, 27);
    assert_eq!(
        u32_at(&buf, offset_of!(VARSTRING, dwStringFormat)),
        StringFormat::Binary.code()
    );
    assert_eq!(VarString::read(&buf), Some(value));
}

#[test]
fn button_info_at_every_size() {
    let members = [
        member(
            offset_of!(PHONEBUTTONINFO, dwButtonTextSize),
            offset_of!(PHONEBUTTONINFO, dwButtonTextOffset),
            true,
        ),
        member(
            offset_of!(PHONEBUTTONINFO, dwDevSpecificSize),
            offset_of!(PHONEBUTTONINFO, dwDevSpecificOffset),
            false,
        ),
    ];
    let info = ButtonInfo {
        mode: ButtonModes::FEATURE,
        function: ButtonFunction::Transfer,
        text: "Transfer".into(),
        dev_specific: vec![0xAA; 3],
        state: ButtonStates::UP,
    };
    for version in VERSIONS {
        let fixed = ButtonInfo::fixed_size(version);
        assert_eq!(fixed, 40);
        assert_eq!(
            info.write(&mut tapi_buffer(39), version),
            Err(PhoneError::StructureTooSmall)
        );
        let needed = info
            .write(&mut tapi_buffer(fixed), version)
            .expect("fits")
            .needed as usize;
        assert_eq!(needed, 40 + 18 + 3);
        for total in fixed..=needed {
            let mut buf = tapi_buffer(total);
            let written = info.write(&mut buf, version).expect("fits");
            check_rules(&buf, fixed, written, &members);
            assert_eq!(u32_at(&buf, offset_of!(PHONEBUTTONINFO, dwButtonState)), 1);
        }
        let mut buf = tapi_buffer(needed);
        info.write(&mut buf, version).expect("fits");
        assert_eq!(ButtonInfo::read(&buf), Some(info.clone()));
    }
}

#[test]
fn reader_refuses_members_outside_the_structure() {
    let mut buf = tapi_buffer(60);
    let at = offset_of!(PHONEBUTTONINFO, dwButtonTextSize);
    buf[at..at + 4].copy_from_slice(&30u32.to_le_bytes());
    buf[at + 4..at + 8].copy_from_slice(&40u32.to_le_bytes());
    let r = tsp_core::var::VarReader::new(&buf);
    assert_eq!(r.member(at, at + 4), None, "40 + 30 is past dwTotalSize 60");
    // dwTotalSize smaller than the buffer limits the reader too.
    buf[..4].copy_from_slice(&50u32.to_le_bytes());
    buf[at..at + 4].copy_from_slice(&12u32.to_le_bytes());
    assert_eq!(tsp_core::var::VarReader::new(&buf).member(at, at + 4), None);
}

#[test]
fn a_button_info_tapi_passes_in_with_a_member_outside_it_is_refused_not_trimmed() {
    let info = ButtonInfo {
        mode: ButtonModes::FEATURE,
        function: ButtonFunction::Transfer,
        text: "Hold".into(),
        dev_specific: Vec::new(),
        state: ButtonStates::UP,
    };
    let mut buf = tapi_buffer(120);
    info.write(&mut buf, TspiVersion::V3_1).expect("fits");
    assert!(ButtonInfo::read(&buf).is_some(), "the control reads");
    let at = offset_of!(PHONEBUTTONINFO, dwButtonTextSize);
    for (size, offset) in [(200u32, 40u32), (8, u32::MAX), (u32::MAX, 40)] {
        let mut hostile = buf.clone();
        hostile[at..at + 4].copy_from_slice(&size.to_le_bytes());
        hostile[at + 4..at + 8].copy_from_slice(&offset.to_le_bytes());
        assert_eq!(ButtonInfo::read(&hostile), None, "size {size} at {offset}");
    }
    let mut none = buf.clone();
    none[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    none[at + 4..at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        ButtonInfo::read(&none).map(|i| i.text),
        Some(String::new()),
        "size 0 is no member, whatever the offset"
    );
}

#[test]
fn caps_before_2_2_never_write_the_guid() {
    let caps = PhoneCaps {
        permanent_guid: u128::MAX,
        ..PhoneCaps::default()
    };
    let mut buf = tapi_buffer(196);
    let written = caps.write(&mut buf, TspiVersion::V2_1).expect("fits");
    assert_eq!(written.used, 180);
    assert!(
        buf[180..].iter().all(|&b| b == FILL),
        "bytes 180..196 are not PHONECAPS 2.1's"
    );
    caps.write(&mut buf, TspiVersion::V2_2).expect("fits");
    assert!(buf[180..].iter().all(|&b| b == 0xFF), "2.2 has the GUID");
}
