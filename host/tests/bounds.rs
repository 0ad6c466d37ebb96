//! Issue 14: no request makes the host allocate more than the phone's caps say.
//! SetData longer than its area is refused before anything is copied or queued;
//! GetData reads at most the area, whatever size TAPI's buffer has; SetDisplay
//! keeps at most the display's room. On the mock loaded as a real plugin, in
//! both queue modes.

mod tapi_side;

use tapi_side::*;
use tsp_core::{PhoneError, TspiVersion};
use tsp_host::{Config, ConfigSource, HostSetup, Provider};

const V31: u32 = 0x0003_0001;
/// The mock's default data areas are 256 bytes.
const AREA: usize = 256;

fn started(name: &str, settings: &str) -> Provider {
    let mut config = Config::demo();
    config.settings.insert(
        "mock".into(),
        settings.parse().expect("the settings are TOML"),
    );
    let provider = Provider::new(HostSetup {
        plugin_folder: Some(plugin_folder(name)),
        statics: Vec::new(),
        config: ConfigSource::Given(config),
    });
    assert_eq!(
        provider.line_negotiate(0xFFFF_FFFF, 0x0002_0000, V31),
        Ok(TspiVersion::V3_1)
    );
    provider.enum_devices(0xABC, Some(event_proc()));
    provider.init(0, completion_proc()).expect("init");
    provider
}

const BOTH_MODES: [&str; 2] = ["concurrent = true", "concurrent = false"];

#[test]
fn set_data_longer_than_its_area_is_refused_before_it_is_queued() {
    let _serial = serial();
    for mode in BOTH_MODES {
        // A request in progress first, so a second one on a one-at-a-time
        // phone would be queued (and its data copied) if it were accepted.
        let settings = format!("{mode}\ncompletion = \"worker\"\ndelay_ms = 200");
        let p = started("test-bounds-set", &settings);
        let hd = p.open(0, 1, V31, event_proc()).expect("opens");
        assert_eq!(p.set_data(1, hd, 0, b"first"), 1, "{mode}");
        assert_eq!(
            p.set_data(2, hd, 0, &vec![7; AREA + 1]),
            PhoneError::OperationFailed.to_long(),
            "{mode}: refused at once, as the mock's contract says for oversize"
        );
        assert_eq!(
            p.set_data(3, hd, 0, &vec![7; AREA]),
            3,
            "{mode}: a full area is fine"
        );
        assert!(wait_until(|s| s.completions.len() >= 2), "{mode}");
        p.close(hd).expect("closes");
        assert!(
            completions_of(2).is_empty(),
            "{mode}: no completion after a negative return"
        );
        assert_eq!(completions_of(3), [0], "{mode}");
        p.shutdown().expect("shutdown");
        seen().completions.clear();
    }
}

#[test]
fn get_data_reads_at_most_the_area_and_leaves_the_rest_of_the_buffer() {
    let _serial = serial();
    for mode in BOTH_MODES {
        let p = started("test-bounds-get", mode);
        let hd = p.open(0, 1, V31, event_proc()).expect("opens");
        assert_eq!(p.set_data(1, hd, 2, &[0x11; AREA]), 1, "{mode}");
        assert!(wait_until(|s| s.completions.len() == 1), "{mode}");
        // TAPI's buffer is far larger than the area: only the area is read.
        let mut buf = vec![0xAA; 1 << 20];
        p.get_data(hd, 2, &mut buf).expect("reads");
        assert!(buf[..AREA].iter().all(|&b| b == 0x11), "{mode}: the area");
        assert!(
            buf[AREA..].iter().all(|&b| b == 0xAA),
            "{mode}: nothing past the area is written"
        );
        p.close(hd).expect("closes");
        p.shutdown().expect("shutdown");
        seen().completions.clear();
    }
}
