//! Error codes as TSPI returns them, version negotiation (reference §5.3), and the
//! typed vocabulary's helpers.

use tsp_core::var::{from_utf16z, from_utf16z_list, utf16z, utf16z_list};
use tsp_core::*;

#[test]
fn phone_errors_are_negative_longs_and_convert_back() {
    for &error in PhoneError::ALL {
        let long = error.to_long();
        assert!(long < 0, "{} as LONG is negative", error.name());
        assert_eq!(i32::from(error), long);
        assert_eq!(PhoneError::try_from(long), Ok(error));
        assert_eq!(PhoneError::from_code(error.code()), Some(error));
    }
    assert_eq!(PhoneError::OperationFailed.to_long(), 0x9000001Cu32 as i32);
}

#[test]
fn values_outside_the_family_are_not_phone_errors() {
    let unassigned = 0x9000_001Eu32 as i32;
    assert_eq!(
        PhoneError::try_from(unassigned),
        Err(UnknownCode(unassigned))
    );
    assert_eq!(PhoneError::from_long(0), None);
    assert_eq!(PhoneError::from_long(0x7FFF_FFFF), None, "a request id");
    assert_eq!(PhoneError::from_long(LineError::NoMem.to_long()), None);
    assert_eq!(LineError::from_long(PhoneError::NoMem.to_long()), None);
    assert_eq!(
        PhoneError::from_long(0x9000_0026u32 as i32),
        None,
        "past the last code"
    );
}

#[test]
fn error_texts_are_words_naming_the_code() {
    for error in PhoneError::ALL {
        let text = error.to_string();
        assert!(text.contains(error.name()), "{text}");
        assert!(text.len() > error.name().len() + 10, "{text}");
    }
    for error in LineError::ALL {
        assert!(error.to_string().contains(error.name()));
    }
}

#[test]
fn results_become_longs() {
    assert_eq!(phone_result(Ok(())), 0);
    assert_eq!(
        phone_result(Err(PhoneError::InvalDataId)),
        PhoneError::InvalDataId.to_long()
    );
    assert_eq!(
        line_result(Err(LineError::NoDriver)),
        LineError::NoDriver.to_long()
    );
}

fn negotiate(low: TspiVersion, high: TspiVersion) -> Result<TspiVersion, IncompatibleVersion> {
    VersionRange::PROVIDER.negotiate(low.raw(), high.raw())
}

#[test]
fn negotiation_writes_the_highest_version_in_both_ranges() {
    use TspiVersion as V;
    assert_eq!(negotiate(V::V1_3, V::V3_1), Ok(V::V3_1));
    assert_eq!(negotiate(V::V1_4, V::V2_2), Ok(V::V2_2));
    assert_eq!(negotiate(V::V2_0, V::V2_0), Ok(V::V2_0));
    assert_eq!(
        negotiate(V::V3_0, V::new(4, 0)),
        Ok(V::V3_1),
        "a newer TAPI gets 3.1"
    );
    assert_eq!(
        negotiate(V::V2_1, V::new(2, 5)),
        Ok(V::V2_2),
        "only defined versions"
    );
}

#[test]
fn negotiation_without_overlap_is_incompatible() {
    use TspiVersion as V;
    let too_old = negotiate(V::V1_3, V::V1_4).expect_err("1.x only");
    assert_eq!(
        PhoneError::from(too_old),
        PhoneError::IncompatibleApiVersion
    );
    assert_eq!(LineError::from(too_old), LineError::IncompatibleApiVersion);
    assert!(
        negotiate(V::new(3, 2), V::new(9, 0)).is_err(),
        "newer than 3.1 only"
    );
    assert!(negotiate(V::V3_1, V::V2_0).is_err(), "an empty range");
    let text = too_old.to_string();
    assert!(
        text.contains("1.3..=1.4") && text.contains("2.0..=3.1"),
        "{text}"
    );
}

#[test]
fn versions_print_as_major_dot_minor() {
    assert_eq!(TspiVersion::V2_2.to_string(), "2.2");
    assert_eq!(TspiVersion::from_raw(0x0003_0001), TspiVersion::V3_1);
    assert_eq!(
        (TspiVersion::V3_1.major(), TspiVersion::V3_1.minor()),
        (3, 1)
    );
}

#[test]
fn lamp_modes_keep_vendor_bits_and_know_a_single_mode() {
    assert!(LampModes::FLASH.is_single());
    assert!(!(LampModes::FLASH | LampModes::OFF).is_single());
    assert!(!LampModes::empty().is_single());
    let vendor = LampModes::from_bits_retain(0x0001_0000);
    assert!(vendor.is_single());
    assert_eq!(
        LampModes::from_bits(0x0001_0000),
        Some(vendor),
        "vendor bits are valid"
    );
    assert_eq!(
        LampModes::from_bits(0x0100),
        None,
        "reserved low bits are not"
    );
}

#[test]
fn hookswitch_helpers() {
    assert!(HookSwitchMode::MicSpeaker.is_off_hook());
    assert!(!HookSwitchMode::OnHook.is_off_hook());
    assert!(!HookSwitchMode::Unknown.is_off_hook());
    assert_eq!(
        HookSwitchDevs::from(HookSwitchDevice::Headset),
        HookSwitchDevs::HEADSET
    );
    assert_eq!(
        PhoneStates::hookswitch_of(HookSwitchDevice::Speaker),
        PhoneStates::SPEAKERHOOKSWITCH
    );
}

#[test]
fn utf16_strings_are_terminated_and_checked() {
    assert_eq!(utf16z("ab"), [b'a', 0, b'b', 0, 0, 0]);
    assert_eq!(from_utf16z(&utf16z("héllo ☎")).as_deref(), Some("héllo ☎"));
    assert_eq!(from_utf16z(&[b'a', 0, b'b']), None, "odd size");
    assert_eq!(from_utf16z(&[0x00, 0xD8, 0, 0]), None, "unpaired surrogate");
    let list = utf16z_list(&["comm", "wave/in"]);
    assert!(
        list.ends_with(&[0, 0, 0, 0]),
        "last name's NUL and the list's NUL"
    );
    assert_eq!(
        from_utf16z_list(&list),
        Some(vec!["comm".into(), "wave/in".into()])
    );
    assert!(utf16z_list::<&str>(&[]).is_empty());
}

#[test]
fn messages_and_functions_convert() {
    assert_eq!(PhoneMessage::from_code(0x12), Some(PhoneMessage::State));
    assert_eq!(
        PhoneMessage::from_code(0x13),
        None,
        "LINE_CREATE is not a phone message"
    );
    assert_eq!(ButtonFunction::from_code(0x2F), Some(ButtonFunction::Send));
    assert_eq!(ButtonFunction::from_code(0x30), None);
    assert_eq!(ButtonFunction::ALL.len(), 48);
}
