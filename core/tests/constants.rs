//! Every constant tsp-core uses agrees with `tests/data/tspi-constants.toml`, a second
//! source compiled by hand from the SDK, mingw-w64 and the Microsoft docs, independent
//! of the Win32 metadata behind `windows-sys`.

use std::collections::BTreeMap;
use std::mem::size_of;

use tsp_core::sys;
use tsp_core::*;

const REFERENCE: &str = include_str!("data/tspi-constants.toml");

type Values = BTreeMap<String, u32>;

fn reference() -> BTreeMap<String, Values> {
    let table: toml::Table = REFERENCE.parse().expect("the reference TOML parses");
    table
        .into_iter()
        .map(|(section, values)| {
            let values = values
                .as_table()
                .unwrap_or_else(|| panic!("[{section}] is a table"))
                .iter()
                .map(|(name, v)| {
                    let v = v
                        .as_integer()
                        .unwrap_or_else(|| panic!("{name} is an integer"));
                    (name.clone(), u32::try_from(v).expect("a 32-bit pattern"))
                })
                .collect();
            (section, values)
        })
        .collect()
}

fn section(name: &str) -> Values {
    reference()
        .remove(name)
        .unwrap_or_else(|| panic!("reference has [{name}]"))
}

fn named<T: Copy>(items: impl IntoIterator<Item = T>, f: impl Fn(T) -> (String, u32)) -> Values {
    items.into_iter().map(f).collect()
}

fn flags<F: bitflags::Flags<Bits = u32>>(prefix: &str) -> Values {
    F::FLAGS
        .iter()
        .filter(|f| f.is_named())
        .map(|f| (format!("{prefix}{}", f.name()), f.value().bits()))
        .collect()
}

#[test]
fn phone_errors_are_the_36_reference_codes() {
    let ours = named(PhoneError::ALL.iter().copied(), |e| {
        (e.name().to_owned(), e.code())
    });
    assert_eq!(ours.len(), 36);
    assert_eq!(ours, section("phoneerr"));
}

#[test]
fn line_errors_agree_with_the_reference() {
    let reference = section("lineerr");
    for error in LineError::ALL {
        assert_eq!(
            reference.get(error.name()),
            Some(&error.code()),
            "{}",
            error.name()
        );
    }
    assert_eq!(
        LineError::ALL.len(),
        11,
        "the eleven codes of reference §5.1 the host returns"
    );
}

#[test]
fn error_codes_lie_in_tapis_reserved_range() {
    let ranges = section("error_ranges");
    let (lo, hi) = (
        ranges["TAPI_ERROR_RESERVED_LO"],
        ranges["TAPI_ERROR_RESERVED_HI"],
    );
    let codes = PhoneError::ALL.iter().map(|e| e.code());
    for code in codes.chain(LineError::ALL.iter().map(|e| e.code())) {
        assert!((lo..=hi).contains(&code), "{code:#x}");
    }
}

#[test]
fn phone_messages_agree() {
    let ours = named(PhoneMessage::ALL.iter().copied(), |m| {
        (m.name().to_owned(), m.code())
    });
    assert_eq!(ours, section("phone_msg"));
}

#[test]
fn versions_agree() {
    let ours = named(TspiVersion::KNOWN, |v| {
        (format!("TAPI_VERSION_{}_{}", v.major(), v.minor()), v.raw())
    });
    assert_eq!(ours, section("tapi_version"));
}

#[test]
fn flag_sets_agree() {
    assert_eq!(flags::<PhoneStates>("PHONESTATE_"), section("phonestate"));
    assert_eq!(
        flags::<PhoneStatusFlags>("PHONESTATUSFLAGS_"),
        section("phonestatusflags")
    );
    assert_eq!(
        flags::<HookSwitchDevs>("PHONEHOOKSWITCHDEV_"),
        section("phonehookswitchdev")
    );
    assert_eq!(
        flags::<HookSwitchModes>("PHONEHOOKSWITCHMODE_"),
        section("phonehookswitchmode")
    );
    assert_eq!(
        flags::<ButtonModes>("PHONEBUTTONMODE_"),
        section("phonebuttonmode")
    );
    assert_eq!(
        flags::<ButtonStates>("PHONEBUTTONSTATE_"),
        section("phonebuttonstate")
    );
    assert_eq!(
        flags::<LampModes>("PHONELAMPMODE_"),
        section("phonelampmode")
    );
    assert_eq!(
        flags::<PhoneFeatures>("PHONEFEATURE_"),
        section("phonefeature")
    );
}

#[test]
fn scalar_enums_agree() {
    let code = |name: &str, code: u32| (name.to_owned(), code);
    assert_eq!(
        named(ButtonFunction::ALL.iter().copied(), |f| code(
            f.name(),
            f.code()
        )),
        section("phonebuttonfunction")
    );
    assert_eq!(
        named(StringFormat::ALL.iter().copied(), |f| code(
            f.name(),
            f.code()
        )),
        section("stringformat")
    );
    assert_eq!(
        named(HookSwitchDevice::ALL.iter().copied(), |d| code(
            d.name(),
            d.code()
        )),
        section("phonehookswitchdev")
    );
    assert_eq!(
        named(HookSwitchMode::ALL.iter().copied(), |m| code(
            m.name(),
            m.code()
        )),
        section("phonehookswitchmode")
    );
}

#[test]
fn fixed_sizes_agree() {
    let sizes = section("struct_size");
    let size = |name: &str| sizes[name] as usize;
    assert_eq!(
        PhoneCaps::fixed_size(TspiVersion::V1_4),
        size("PHONECAPS_V1X")
    );
    assert_eq!(
        PhoneCaps::fixed_size(TspiVersion::V2_0),
        size("PHONECAPS_V20")
    );
    assert_eq!(
        PhoneCaps::fixed_size(TspiVersion::V2_1),
        size("PHONECAPS_V20")
    );
    assert_eq!(
        PhoneCaps::fixed_size(TspiVersion::V2_2),
        size("PHONECAPS_V22")
    );
    assert_eq!(
        PhoneCaps::fixed_size(TspiVersion::V3_1),
        size("PHONECAPS_V22")
    );
    assert_eq!(
        PhoneStatus::fixed_size(TspiVersion::V1_3),
        size("PHONESTATUS_V1X")
    );
    assert_eq!(
        PhoneStatus::fixed_size(TspiVersion::V2_0),
        size("PHONESTATUS_V20")
    );
    assert_eq!(
        PhoneStatus::fixed_size(TspiVersion::V3_1),
        size("PHONESTATUS_V20")
    );
    assert_eq!(VarString::FIXED_SIZE, size("VARSTRING"));
    assert_eq!(
        ButtonInfo::fixed_size(TspiVersion::V1_3),
        size("PHONEBUTTONINFO_V13")
    );
    assert_eq!(
        ButtonInfo::fixed_size(TspiVersion::V2_0),
        size("PHONEBUTTONINFO_V14")
    );
    assert_eq!(size_of::<sys::PHONEEXTENSIONID>(), size("PHONEEXTENSIONID"));
}

/// Constants tsp-core does not type but the host will use straight from `windows-sys`.
macro_rules! sys_values {
    ($($name:ident),* $(,)?) => {
        [$((stringify!($name), sys::$name as u32)),*]
    };
}

#[test]
fn untyped_windows_sys_constants_agree() {
    let reference = reference();
    let all: Values = reference.values().flat_map(|v| v.clone()).collect();
    // The TSPI-only LINE_* messages from 500 up (tspi.h) are not in windows-sys, and a
    // phone host never sends them; TSPI_MESSAGE_BASE stands for that section.
    let ours = sys_values![
        INITIALIZE_NEGOTIATION,
        LINE_CLOSE,
        LINE_REPLY,
        LINE_CREATE,
        LINE_REMOVE,
        TSPI_MESSAGE_BASE,
        LINEERR_ALLOCATED,
        LINEERR_BADDEVICEID,
        LINEERR_INCOMPATIBLEAPIVERSION,
        LINEERR_INCOMPATIBLEEXTVERSION,
        LINEERR_INIFILECORRUPT,
        LINEERR_INUSE,
        LINEERR_INVALPARAM,
        LINEERR_INVALPOINTER,
        LINEERR_NODEVICE,
        LINEERR_NODRIVER,
        LINEERR_NOMEM,
        LINEERR_OPERATIONFAILED,
        LINEERR_OPERATIONUNAVAIL,
        LINEERR_RESOURCEUNAVAIL,
        LINEERR_STRUCTURETOOSMALL,
        LINEERR_NOMULTIPLEINSTANCE,
        TAPIERR_DEVICEINUSE,
        TAPIERR_REQUESTFAILED,
        TAPIERR_REQUESTCANCELLED,
        PHONEPRIVILEGE_MONITOR,
        PHONEPRIVILEGE_OWNER,
        LINETSPIOPTION_NONREENTRANT,
        TUISPIDLL_OBJECT_LINEID,
        TUISPIDLL_OBJECT_PHONEID,
        TUISPIDLL_OBJECT_PROVIDERID,
        TUISPIDLL_OBJECT_DIALOGINSTANCE,
        PRIVATEOBJECT_PHONE,
        TSPI_PROC_BASE,
        TSPI_PHONECLOSE,
        TSPI_PHONECONFIGDIALOG,
        TSPI_PHONEDEVSPECIFIC,
        TSPI_PHONEGETBUTTONINFO,
        TSPI_PHONEGETDATA,
        TSPI_PHONEGETDEVCAPS,
        TSPI_PHONEGETDISPLAY,
        TSPI_PHONEGETEXTENSIONID,
        TSPI_PHONEGETGAIN,
        TSPI_PHONEGETHOOKSWITCH,
        TSPI_PHONEGETICON,
        TSPI_PHONEGETID,
        TSPI_PHONEGETLAMP,
        TSPI_PHONEGETRING,
        TSPI_PHONEGETSTATUS,
        TSPI_PHONEGETVOLUME,
        TSPI_PHONENEGOTIATEEXTVERSION,
        TSPI_PHONENEGOTIATETSPIVERSION,
        TSPI_PHONEOPEN,
        TSPI_PHONESELECTEXTVERSION,
        TSPI_PHONESETBUTTONINFO,
        TSPI_PHONESETDATA,
        TSPI_PHONESETDISPLAY,
        TSPI_PHONESETGAIN,
        TSPI_PHONESETHOOKSWITCH,
        TSPI_PHONESETLAMP,
        TSPI_PHONESETRING,
        TSPI_PHONESETSTATUSMESSAGES,
        TSPI_PHONESETVOLUME,
        TSPI_PROVIDERCONFIG,
        TSPI_PROVIDERINIT,
        TSPI_PROVIDERINSTALL,
        TSPI_PROVIDERREMOVE,
        TSPI_PROVIDERSHUTDOWN,
        TSPI_PROVIDERENUMDEVICES,
        TSPI_PROVIDERCREATELINEDEVICE,
        TSPI_PROVIDERCREATEPHONEDEVICE
    ];
    for (name, value) in ours {
        assert_eq!(all.get(name), Some(&value), "{name}");
    }
}

#[test]
fn every_reference_section_is_checked() {
    let checked = [
        "tapi_version",
        "negotiation",
        "phone_msg",
        "line_msg",
        "tspi_msg",
        "phoneerr",
        "lineerr",
        "tapierr",
        "error_ranges",
        "phonestate",
        "phonestatusflags",
        "phonehookswitchdev",
        "phonehookswitchmode",
        "phonebuttonmode",
        "phonebuttonstate",
        "phonebuttonfunction",
        "phonelampmode",
        "phoneprivilege",
        "phonefeature",
        "stringformat",
        "tspi_misc",
        "struct_size",
        "tspi_ordinal_legacy",
    ];
    let unchecked: Vec<String> = reference()
        .into_keys()
        .filter(|s| !checked.contains(&s.as_str()) && s != "value_ranges")
        .collect();
    assert!(
        unchecked.is_empty(),
        "sections nobody checks: {unchecked:?}"
    );
}
