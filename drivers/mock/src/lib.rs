//! The mock driver: scriptable phones with fault injection, the driver every test
//! and the demo run on when no hardware is there.
//!
//! Today it holds the description of the mock's default phones, the contract that
//! tools outside the project rely on (design, "The mock's default phones"); the
//! driver itself comes with the plugin SDK (issue 3).
#![warn(missing_docs)]

use tsp_core::{PhoneCaps, PhoneFeatures, PhoneStates, StringFormat};

/// How many phones the mock serves when nothing configures it.
pub const DEFAULT_PHONE_COUNT: u32 = 2;
/// Data areas per default phone, for SetData and GetData alike.
pub const DEFAULT_DATA_AREAS: usize = 4;
/// Size in bytes of each default data area.
pub const DEFAULT_DATA_AREA_SIZE: u32 = 256;

/// The permanent phone id of default phone `index`: stable across runs and hosts.
pub const fn default_permanent_id(index: u32) -> u32 {
    // "MK" in the high half keeps mock ids apart from those of real drivers.
    0x4D4B_0000 | index
}

/// The capabilities of default phone `index` ("Mock Phone 0", "Mock Phone 1").
pub fn default_phone_caps(index: u32) -> PhoneCaps {
    PhoneCaps {
        name: format!("Mock Phone {index}"),
        provider_info: format!("tsp-rs mock driver {}", env!("CARGO_PKG_VERSION")),
        phone_info: "scriptable mock phone".to_owned(),
        permanent_id: default_permanent_id(index),
        permanent_guid: 0x7473_702d_7273_4d6f_636b_0000_0000_0000 | u128::from(index),
        string_format: Some(StringFormat::Unicode),
        phone_states: PhoneStates::CONNECTED | PhoneStates::DISCONNECTED,
        set_data: vec![DEFAULT_DATA_AREA_SIZE; DEFAULT_DATA_AREAS],
        get_data: vec![DEFAULT_DATA_AREA_SIZE; DEFAULT_DATA_AREAS],
        features: PhoneFeatures::SETDATA | PhoneFeatures::GETDATA,
        ..PhoneCaps::default()
    }
}

/// The capabilities of every default phone, in device order.
pub fn default_phones() -> Vec<PhoneCaps> {
    (0..DEFAULT_PHONE_COUNT).map(default_phone_caps).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_phones_match_the_design_contract() {
        let phones = default_phones();
        assert_eq!(phones.len(), 2);
        assert_eq!(phones[0].name, "Mock Phone 0");
        assert_eq!(phones[1].name, "Mock Phone 1");
        assert_ne!(phones[0].permanent_id, phones[1].permanent_id);
        for phone in &phones {
            assert_eq!(phone.set_data, [256; 4]);
            assert_eq!(phone.get_data, [256; 4]);
        }
    }

    #[test]
    fn permanent_ids_are_stable() {
        assert_eq!(
            default_phone_caps(1).permanent_id,
            default_phone_caps(1).permanent_id
        );
        assert_eq!(default_permanent_id(0), 0x4D4B_0000);
    }
}
