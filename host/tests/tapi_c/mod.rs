//! TAPISRV's side through the C exports, for tests that load the built TSP
//! library with `dlopen` (the stress test, the fault matrix): the exports, the
//! two callbacks recording everything TAPI receives in one sequence with what
//! the test did, and the checker of the host's promises over that record.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use super::tapi_side::*;

/// How late a completion may be past its request's deadline (timer and lane).
pub const SLACK: Duration = Duration::from_millis(700);
pub const PHONE_BUTTON: u32 = tsp_core::PhoneMessage::Button.code();
pub const PHONE_CLOSE: u32 = tsp_core::PhoneMessage::Close.code();
pub const PHONE_CREATE: u32 = tsp_core::PhoneMessage::Create.code();
pub const PHONE_REMOVE: u32 = tsp_core::PhoneMessage::Remove.code();
pub const PHONE_STATE: u32 = tsp_core::PhoneMessage::State.code();
const DOWN: usize = 2;
const UP: usize = 1;

/// The C side: the library's exports and TAPI's two callbacks.
pub mod tsp {
    use super::*;
    use libloading::Library;

    type EnumDevices =
        unsafe extern "system" fn(u32, *mut u32, *mut u32, usize, *mut c_void, *mut c_void) -> i32;
    type Init = unsafe extern "system" fn(
        u32,
        u32,
        u32,
        u32,
        u32,
        u32,
        unsafe extern "system" fn(u32, i32),
        *mut u32,
    ) -> i32;
    type Shutdown = unsafe extern "system" fn(u32, u32) -> i32;
    type EventFn = unsafe extern "system" fn(*mut c_void, u32, usize, usize, usize);
    type Open = unsafe extern "system" fn(u32, *mut c_void, *mut usize, u32, EventFn) -> i32;
    type Close = unsafe extern "system" fn(usize) -> i32;
    type SetData = unsafe extern "system" fn(u32, usize, u32, *const u8, u32) -> i32;
    type GetData = unsafe extern "system" fn(usize, u32, *mut u8, u32) -> i32;
    type GetStatus = unsafe extern "system" fn(usize, *mut u8) -> i32;
    type DevSpecific = unsafe extern "system" fn(u32, usize, *const u8, u32) -> i32;
    type SetStatusMessages = unsafe extern "system" fn(usize, u32, u32, u32) -> i32;
    type CreatePhoneDevice = unsafe extern "system" fn(usize, u32) -> i32;

    /// The exports, resolved once.
    pub struct Tsp {
        _library: Library,
        enum_devices: EnumDevices,
        init: Init,
        shutdown: Shutdown,
        open: Open,
        close: Close,
        set_data: SetData,
        get_data: GetData,
        get_status: GetStatus,
        dev_specific: DevSpecific,
        set_status_messages: SetStatusMessages,
        create_phone_device: CreatePhoneDevice,
    }

    impl Tsp {
        pub fn load(path: &std::path::Path) -> Self {
            // SAFETY: the TSP library exports these functions with exactly these
            // prototypes (tspi.h); it stays loaded as long as `Tsp` lives.
            unsafe {
                let library =
                    Library::new(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                macro_rules! get {
                    ($name:literal) => {
                        *library.get($name).expect(stringify!($name))
                    };
                }
                Self {
                    enum_devices: get!(b"TSPI_providerEnumDevices"),
                    init: get!(b"TSPI_providerInit"),
                    shutdown: get!(b"TSPI_providerShutdown"),
                    open: get!(b"TSPI_phoneOpen"),
                    close: get!(b"TSPI_phoneClose"),
                    set_data: get!(b"TSPI_phoneSetData"),
                    get_data: get!(b"TSPI_phoneGetData"),
                    get_status: get!(b"TSPI_phoneGetStatus"),
                    dev_specific: get!(b"TSPI_phoneDevSpecific"),
                    set_status_messages: get!(b"TSPI_phoneSetStatusMessages"),
                    create_phone_device: get!(b"TSPI_providerCreatePhoneDevice"),
                    _library: library,
                }
            }
        }

        pub fn start(&self) -> u32 {
            let (mut lines, mut phones, mut options) = (0u32, 0u32, 0u32);
            // SAFETY: valid out-pointers; the create procedure is a function.
            unsafe {
                assert_eq!(
                    (self.enum_devices)(
                        1,
                        &mut lines,
                        &mut phones,
                        0xABC,
                        std::ptr::null_mut(),
                        on_event as *mut c_void
                    ),
                    0
                );
                assert_eq!(
                    (self.init)(0x0003_0001, 1, 0, 0, 0, phones, on_completion, &mut options),
                    0
                );
            }
            phones
        }

        /// `TSPI_providerEnumDevices` then `TSPI_providerInit`, as TAPISRV calls
        /// them: the phones enumerated and what init returned.
        pub fn try_start(&self) -> (u32, i32) {
            let (mut lines, mut phones, mut options) = (0u32, 0u32, 0u32);
            // SAFETY: valid out-pointers; the create procedure is a function.
            unsafe {
                (self.enum_devices)(
                    1,
                    &mut lines,
                    &mut phones,
                    0xABC,
                    std::ptr::null_mut(),
                    on_event as *mut c_void,
                );
                let init =
                    (self.init)(0x0003_0001, 1, 0, 0, 0, phones, on_completion, &mut options);
                (phones, init)
            }
        }

        pub fn create_phone_device(&self, temp_id: usize, device_id: u32) -> i32 {
            // SAFETY: no pointers.
            unsafe { (self.create_phone_device)(temp_id, device_id) }
        }

        pub fn shutdown(&self) -> i32 {
            // SAFETY: no pointers.
            unsafe { (self.shutdown)(0x0003_0001, 1) }
        }

        pub fn open(&self, device: u32, ht_phone: usize) -> Result<usize, i32> {
            let mut handle = 0usize;
            // SAFETY: a valid out-pointer; the event procedure is a function.
            let result = unsafe {
                (self.open)(
                    device,
                    ht_phone as *mut c_void,
                    &mut handle,
                    0x0003_0001,
                    on_event,
                )
            };
            if result != 0 {
                return Err(result);
            }
            // SAFETY: no pointers.
            unsafe { (self.set_status_messages)(handle, 0x00FF_FFFF, 0xF, 0x3) };
            Ok(handle)
        }

        pub fn close(&self, handle: usize) -> i32 {
            // SAFETY: no pointers; a stale handle is the provider's to refuse.
            unsafe { (self.close)(handle) }
        }

        pub fn set_data(&self, request_id: u32, handle: usize, data: &[u8]) -> i32 {
            // SAFETY: `data` is valid for its length.
            unsafe { (self.set_data)(request_id, handle, 0, data.as_ptr(), data.len() as u32) }
        }

        pub fn get_data(&self, handle: usize) -> i32 {
            let mut buf = [0u8; 16];
            // SAFETY: `buf` is valid for its length.
            unsafe { (self.get_data)(handle, 0, buf.as_mut_ptr(), buf.len() as u32) }
        }

        pub fn get_status(&self, handle: usize) -> i32 {
            let mut buf = tsp_core::var::sized_buffer(2048);
            // SAFETY: a buffer whose dwTotalSize says how large it is.
            unsafe { (self.get_status)(handle, buf.as_mut_ptr()) }
        }

        pub fn dev_specific(&self, request_id: u32, handle: usize, text: &str) -> i32 {
            // SAFETY: `text` is valid for its length.
            unsafe { (self.dev_specific)(request_id, handle, text.as_ptr(), text.len() as u32) }
        }
    }

    unsafe extern "system" fn on_completion(request_id: u32, result: i32) {
        super::record(Seen::Completion { request_id, result });
    }

    unsafe extern "system" fn on_event(
        ht_phone: *mut c_void,
        msg: u32,
        p1: usize,
        p2: usize,
        p3: usize,
    ) {
        super::record(Seen::Event {
            ht_phone: ht_phone as usize,
            msg,
            params: [p1, p2, p3],
        });
    }
}

/// What TAPI received.
#[derive(Debug, Clone, Copy)]
pub enum Seen {
    Completion {
        request_id: u32,
        /// Kept for the violation messages.
        #[allow(dead_code)]
        result: i32,
    },
    Event {
        ht_phone: usize,
        msg: u32,
        params: [usize; 3],
    },
}

/// What the threads did.
#[derive(Debug, Clone)]
pub enum Did {
    Request {
        request_id: u32,
        ht_phone: usize,
        returned: i32,
        what: String,
    },
    Opened {
        ht_phone: usize,
    },
    Closed {
        ht_phone: usize,
    },
    Shutdown,
}

/// One line of the log: when (a global sequence), and what.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub seq: u64,
    pub at: Instant,
    pub what: T,
}

static SEQ: AtomicU64 = AtomicU64::new(0);
static IN_CALLBACK: AtomicBool = AtomicBool::new(false);
pub static OVERLAPS: AtomicUsize = AtomicUsize::new(0);
pub static SEEN: Mutex<Vec<Entry<Seen>>> = Mutex::new(Vec::new());
pub static DID: Mutex<Vec<Entry<Did>>> = Mutex::new(Vec::new());
pub static NEXT_REQUEST: AtomicU32 = AtomicU32::new(1);
pub static NEXT_HT: AtomicUsize = AtomicUsize::new(0x10_0000);

/// Lays out the TSP library with the mock plugin in `<build>/<name>/`, as the
/// dist does, and loads it. Its configuration is the `tsp-rs.toml` a test
/// writes beside it.
pub fn load_tsp(name: &str) -> (std::path::PathBuf, tsp::Tsp) {
    refuse_stale_libraries();
    let folder = build_dir().join(name);
    let mock =
        tsp_host::sdk::manifest::PluginSpec::read(&workspace().join("drivers/mock/plugin.toml"))
            .expect("plugin.toml");
    let library = tsp_host::dist::lay_out(&build_dir(), &folder, &[mock]).unwrap_or_else(|e| {
        panic!("{e} (cargo build --workspace builds it; cargo xtask test does)")
    });
    assert!(
        std::env::var_os("TSP_RS_CONFIG").is_none(),
        "unset TSP_RS_CONFIG: this test writes its own tsp-rs.toml"
    );
    let tsp = tsp::Tsp::load(&library);
    (folder, tsp)
}

/// `cargo test -p tsp-host` does not rebuild the TSP library or the mock
/// plugin these tests load: a run after a source change would test the code
/// from before it. Refuse that, naming the command that fixes it.
fn refuse_stale_libraries() {
    use tsp_host::sdk::manifest::{Platform, library_file_name};
    let modified = |path: &std::path::Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
    };
    let newest = |dirs: &[&str]| {
        dirs.iter()
            .flat_map(|dir| sources(&workspace().join(dir)))
            .map(|file| modified(&file))
            .max()
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
    };
    for (library, dirs) in [
        (
            tsp_host::dist::tsp_file_name(Platform::HOST),
            ["core/src", "plugin-sdk/src", "host/src"],
        ),
        (
            library_file_name("tsp_driver_mock"),
            ["core/src", "plugin-sdk/src", "drivers/mock/src"],
        ),
    ] {
        let built = modified(&build_dir().join(&library));
        assert!(
            built >= newest(&dirs),
            "{library} is older than its sources: run `cargo build --workspace` first (cargo xtask test does)"
        );
    }
}

fn sources(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                sources(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// The last shutdown, recorded, then the checker over everything recorded
/// (with a moment for anything the host would wrongly deliver after it).
pub fn shut_down_and_check(tsp: &tsp::Tsp, request_deadline: Duration) -> Vec<String> {
    assert_eq!(tsp.shutdown(), 0);
    did(Did::Shutdown);
    std::thread::sleep(Duration::from_millis(50));
    check(request_deadline)
}

/// Forgets what was recorded (a new round or cell).
pub fn reset() {
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).clear();
    DID.lock().unwrap_or_else(|e| e.into_inner()).clear();
    OVERLAPS.store(0, Ordering::SeqCst);
}

pub fn record(seen: Seen) {
    if IN_CALLBACK.swap(true, Ordering::SeqCst) {
        OVERLAPS.fetch_add(1, Ordering::SeqCst);
    }
    let entry = Entry {
        seq: SEQ.fetch_add(1, Ordering::SeqCst),
        at: Instant::now(),
        what: seen,
    };
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    IN_CALLBACK.store(false, Ordering::SeqCst);
}

/// Records what a thread did, with the sequence number at that moment: for a
/// call, taken after it returned.
pub fn did(what: Did) {
    let entry = Entry {
        seq: SEQ.fetch_add(1, Ordering::SeqCst),
        at: Instant::now(),
        what,
    };
    DID.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
}

/// What a round did, so a run that exercised nothing shows.
pub fn tally() -> String {
    let did = DID.lock().unwrap_or_else(|e| e.into_inner());
    let seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let (mut accepted, mut refused, mut opens) = (0, 0, 0);
    for entry in did.iter() {
        match &entry.what {
            Did::Request {
                request_id,
                returned,
                ..
            } if *returned == *request_id as i32 => accepted += 1,
            Did::Request { .. } => refused += 1,
            Did::Opened { .. } => opens += 1,
            _ => {}
        }
    }
    let events = seen
        .iter()
        .filter(|e| matches!(e.what, Seen::Event { .. }))
        .count();
    let failed = seen
        .iter()
        .filter(|e| matches!(e.what, Seen::Completion { result, .. } if result != 0))
        .count();
    format!(
        "{opens} opens, {accepted} requests accepted ({failed} completed with an error), {refused} refused, {events} events"
    )
}

/// The invariants, over one round's log.
pub fn check(request_deadline: Duration) -> Vec<String> {
    let seen = SEEN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let did = DID.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut violations = Vec::new();
    let overlaps = OVERLAPS.load(Ordering::SeqCst);
    if overlaps > 0 {
        violations.push(format!("{overlaps} callbacks overlapped another"));
    }
    let shutdown = did
        .iter()
        .find(|e| matches!(e.what, Did::Shutdown))
        .map_or(u64::MAX, |e| e.seq);
    for entry in seen.iter().filter(|e| e.seq > shutdown) {
        violations.push(format!("{:?} after the last shutdown returned", entry.what));
    }
    // Each open instance: from its open (events may come before open returns,
    // so from the start of the round) to its close's return.
    let mut closed_at: HashMap<usize, u64> = HashMap::new();
    let mut opened: HashMap<usize, u64> = HashMap::new();
    for entry in &did {
        match entry.what {
            Did::Opened { ht_phone } => {
                opened.insert(ht_phone, entry.seq);
            }
            Did::Closed { ht_phone } => {
                closed_at.insert(ht_phone, entry.seq);
            }
            _ => {}
        }
    }
    let mut completions: HashMap<u32, Vec<&Entry<Seen>>> = HashMap::new();
    for entry in &seen {
        match entry.what {
            Seen::Completion { request_id, .. } => {
                completions.entry(request_id).or_default().push(entry)
            }
            Seen::Event { ht_phone, msg, .. } => {
                if msg == PHONE_CREATE || msg == PHONE_REMOVE {
                    continue; // PHONE_CREATE and PHONE_REMOVE name no phone.
                }
                if !opened.contains_key(&ht_phone) {
                    violations.push(format!(
                        "{:?} for a phone that was never opened",
                        entry.what
                    ));
                }
                if closed_at.get(&ht_phone).is_some_and(|c| entry.seq > *c) {
                    violations.push(format!(
                        "{:?} after that phone's close returned",
                        entry.what
                    ));
                }
            }
        }
    }
    for entry in &did {
        let Did::Request {
            request_id,
            ht_phone,
            returned,
            ref what,
        } = entry.what
        else {
            continue;
        };
        let got = completions.get(&request_id).map_or(&[][..], Vec::as_slice);
        let accepted = returned == request_id as i32;
        match (accepted, got.len()) {
            (true, 1) => {
                let completion = got[0];
                let limit = request_deadline + SLACK;
                // Measured from the call's return: an inline completion came before.
                if completion.at.saturating_duration_since(entry.at) > limit {
                    violations.push(format!(
                        "request {request_id} ({what}) completed after its deadline"
                    ));
                }
                if closed_at
                    .get(&ht_phone)
                    .is_some_and(|c| completion.seq > *c)
                {
                    violations.push(format!(
                        "request {request_id} ({what}) completed after its phone's close returned"
                    ));
                }
            }
            (true, n) => violations.push(format!(
                "request {request_id} ({what}) was accepted and completed {n} times; its phone's story: {}",
                story(&did, &seen, ht_phone)
            )),
            (false, 0) => {}
            (false, n) => violations.push(format!(
                "request {request_id} ({what}) was refused ({returned:#x}) and completed {n} times"
            )),
        }
    }
    violations.extend(check_buttons(&seen));
    violations
}

/// What happened to the phone opened as `ht_phone`, in order, for a violation's
/// message.
fn story(did: &[Entry<Did>], seen: &[Entry<Seen>], ht_phone: usize) -> String {
    let mut lines: Vec<(u64, String)> = Vec::new();
    for entry in did {
        let mine = match &entry.what {
            Did::Request { ht_phone: h, .. }
            | Did::Opened { ht_phone: h }
            | Did::Closed { ht_phone: h } => *h == ht_phone,
            Did::Shutdown => true,
        };
        if mine {
            lines.push((entry.seq, format!("did {:?}", entry.what)));
        }
    }
    for entry in seen {
        if matches!(entry.what, Seen::Event { ht_phone: h, .. } if h == ht_phone) {
            lines.push((entry.seq, format!("saw {:?}", entry.what)));
        }
    }
    lines.sort();
    let start = lines.len().saturating_sub(16);
    lines[start..]
        .iter()
        .map(|(seq, line)| format!("\n  #{seq} {line}"))
        .collect()
}

/// Every DOWN gets exactly one UP, before the next DOWN of that button.
fn check_buttons(seen: &[Entry<Seen>]) -> Vec<String> {
    let mut down: HashMap<(usize, usize), bool> = HashMap::new();
    let mut violations = Vec::new();
    for entry in seen {
        let Seen::Event {
            ht_phone,
            msg: PHONE_BUTTON,
            params,
        } = entry.what
        else {
            continue;
        };
        let key = (ht_phone, params[0]);
        let is_down = down.entry(key).or_default();
        match params[2] {
            DOWN if *is_down => violations.push(format!("button {key:?}: DOWN twice")),
            DOWN => *is_down = true,
            UP if !*is_down => violations.push(format!("button {key:?}: UP without DOWN")),
            UP => *is_down = false,
            _ => {}
        }
    }
    // A DOWN left open at the end is on a phone that closed (every phone is
    // closed by the end of a round): nothing of it may follow.
    violations
}
