//! The mock's settings: its table in `tsp-rs.toml`.
//!
//! ```toml
//! [settings.mock]
//! completion = "inline"     # or "worker": complete later, from the mock's thread
//! delay_ms = 0              # how long a worker completion waits
//! concurrent = true         # whether sessions take requests concurrently
//! reservation = true        # false: no file lock (a misbehaving driver, for tests)
//! lock_dir = "/run/x"       # where the lock files go (default: TSP_RS_LOCK_DIR, else
//!                           # the system temporary folder)
//! lie_about_data = false    # true: accept only half of each advertised data area
//! ignore_cancel = false     # true: cancel and close leave held requests outstanding
//! leak_thread = false       # true: start a thread that shutdown does not stop
//! arrive_after_ms = 300     # a phone arrives this long after start (none by default)
//! phone_count = 2           # that many default phones, when no [[phones]] are listed
//!
//! [[settings.mock.phones]]  # none given: the two default phones
//! name = "Desk phone"
//! data_areas = 4
//! data_area_size = 256
//! display = [2, 16]         # rows, columns; [0, 0] for none
//! keypad = true
//! lamps = 2                 # feature buttons with lamps, after the keypad
//! handset = true
//! ring_modes = 3
//!
//! [settings.mock.faults]    # per operation, see `Fault`
//! set_data = "never"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::fault::Fault;

/// When requests complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CompletionMode {
    /// Before the call returns, on the caller's thread.
    #[default]
    Inline,
    /// Later, from the mock's worker thread, after `delay_ms`.
    Worker,
}

/// One configured phone.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneConfig {
    /// The phone's name.
    pub name: Option<String>,
    /// Data areas, for SetData and GetData alike.
    pub data_areas: u32,
    /// Size of each data area in bytes.
    pub data_area_size: u32,
    /// Display rows and columns.
    pub display: [u32; 2],
    /// A 12-key keypad (ids 0–11).
    pub keypad: bool,
    /// Feature buttons with a lamp each (off, steady, flash), after the keypad.
    pub lamps: u32,
    /// A handset with hookswitch, volume and gain.
    pub handset: bool,
    /// Ring modes (0 for none).
    pub ring_modes: u32,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        Self {
            name: None,
            data_areas: crate::DEFAULT_DATA_AREAS as u32,
            data_area_size: crate::DEFAULT_DATA_AREA_SIZE,
            display: [2, 16],
            keypad: true,
            lamps: 2,
            handset: true,
            ring_modes: 3,
        }
    }
}

/// The mock's settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MockConfig {
    /// When requests complete.
    pub completion: CompletionMode,
    /// Delay of worker completions, in milliseconds.
    pub delay_ms: u64,
    /// Whether sessions take requests concurrently.
    pub concurrent: bool,
    /// Whether open takes the file lock (turning it off makes a broken driver).
    pub reservation: bool,
    /// Where the lock files go; `None`: `TSP_RS_LOCK_DIR`, else the system
    /// temporary folder ([`tsp_plugin_sdk::LockFile::folder`]).
    pub lock_dir: Option<std::path::PathBuf>,
    /// Advertise data areas twice as large as what is accepted (a broken driver).
    pub lie_about_data: bool,
    /// Ignore `cancel` and close: held requests stay outstanding (a broken driver).
    pub ignore_cancel: bool,
    /// Start a thread that `shutdown` does not stop (a broken driver).
    pub leak_thread: bool,
    /// A phone arrives this many milliseconds after the driver starts (a device
    /// plugged in while the host starts up).
    pub arrive_after_ms: Option<u64>,
    /// How many default phones when `phones` lists none (benchmarks of a
    /// host with 100,000 phones); `None`: two.
    pub phone_count: Option<u32>,
    /// The phones; empty means `phone_count` default phones.
    pub phones: Vec<PhoneConfig>,
    /// Faults per operation name (`set_data`, `get_data`, … or `all`).
    pub faults: BTreeMap<String, Fault>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            completion: CompletionMode::Inline,
            delay_ms: 0,
            concurrent: true,
            reservation: true,
            lock_dir: None,
            lie_about_data: false,
            ignore_cancel: false,
            leak_thread: false,
            arrive_after_ms: None,
            phone_count: None,
            phones: Vec::new(),
            faults: BTreeMap::new(),
        }
    }
}

impl MockConfig {
    /// Parses the settings; the error says where and what.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = tsp_plugin_sdk::settings::parse(text).map_err(|e| e.to_string())?;
        for op in config.faults.keys() {
            if op != "all" && !crate::session::OPERATIONS.contains(&op.as_str()) {
                return Err(format!(
                    "unknown operation `{op}` in [faults]; known: all, {}",
                    crate::session::OPERATIONS.join(", ")
                ));
            }
        }
        Ok(config)
    }

    /// The phones to serve.
    pub fn phones(&self) -> Vec<PhoneConfig> {
        if self.phones.is_empty() {
            let count = self.phone_count.unwrap_or(crate::DEFAULT_PHONE_COUNT);
            vec![PhoneConfig::default(); count as usize]
        } else {
            self.phones.clone()
        }
    }
}
