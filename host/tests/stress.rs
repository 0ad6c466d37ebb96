//! Stress with an invariant checker, through the C exports of the built TSP
//! library (loaded with `dlopen`, as TAPISRV does), on the mock plugin.
//!
//! Rounds, each a fresh `TSPI_providerEnumDevices` + `TSPI_providerInit` on a
//! configuration of its own (one-at-a-time and concurrent phones, inline and
//! worker completion, short deadlines), then threads issue seeded random
//! sequences: open, close, SetData, GetData, GetStatus, DevSpecific presence
//! commands and faults, synchronous calls that miss their deadline; then the
//! last shutdown. A checker then reads everything TAPI received and asserts:
//! each accepted request completed exactly once and within its deadline plus
//! slack, a refused one never; no two callbacks overlapped; nothing arrived for
//! a phone after its close returned, nor at all after the shutdown; every event
//! went to a phone that was open; each button DOWN got exactly one UP (unless the
//! phone closed first).
//!
//! `STRESS_OPS` sets the number of operations (default: a short run for
//! `cargo xtask test`); `STRESS_SEED` replays one seed. On a violation the test
//! prints the seed and retries it with fewer operations to find a shorter
//! failing run.

mod tapi_side;

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tapi_side::*;
use tsp_host::sdk::manifest::PluginSpec;

const PHONES: u32 = 4;
const REQUEST_MS: u64 = 300;
const CALL_MS: u64 = 100;
/// How late a completion may be past its request's deadline (timer and lane).
const SLACK: Duration = Duration::from_millis(700);
const PHONE_BUTTON: u32 = 0x0000_000A;
const DOWN: usize = 2;
const UP: usize = 1;

/// The C side: the library's exports and TAPI's two callbacks.
mod tsp {
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
enum Seen {
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
enum Did {
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
struct Entry<T> {
    seq: u64,
    at: Instant,
    what: T,
}

static SEQ: AtomicU64 = AtomicU64::new(0);
static IN_CALLBACK: AtomicBool = AtomicBool::new(false);
static OVERLAPS: AtomicUsize = AtomicUsize::new(0);
static SEEN: Mutex<Vec<Entry<Seen>>> = Mutex::new(Vec::new());
static DID: Mutex<Vec<Entry<Did>>> = Mutex::new(Vec::new());
static NEXT_REQUEST: AtomicU32 = AtomicU32::new(1);
static NEXT_HT: AtomicUsize = AtomicUsize::new(0x10_0000);

fn record(seen: Seen) {
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
fn did(what: Did) {
    let entry = Entry {
        seq: SEQ.fetch_add(1, Ordering::SeqCst),
        at: Instant::now(),
        what,
    };
    DID.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
}

/// A small seeded generator (xorshift64*): the same seed, the same choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The configuration of round `round`: the paths real drivers take.
fn config_of(round: u64) -> String {
    let concurrent = round % 2 == 1;
    let completion = if round % 4 < 2 { "inline" } else { "worker" };
    format!(
        "drivers = [\"mock\"]\n\
         [deadlines]\nrequest_ms = {REQUEST_MS}\ncall_ms = {CALL_MS}\nmisses = 2\n\
         [settings.mock]\nconcurrent = {concurrent}\ncompletion = \"{completion}\"\ndelay_ms = 5\n\
         {phones}",
        phones = "[[settings.mock.phones]]\n".repeat(PHONES as usize)
    )
}

/// The DevSpecific commands a thread may send, faults and presence.
const COMMANDS: &[&str] = &[
    "disconnect",
    "reconnect",
    "reconnect",
    "press 3",
    "press-down 4",
    "hold 5",
    "release 5",
    "fault set_data ok",
    "fault set_data ok",
    "fault set_data never",
    "fault set_data delay 30",
    "fault set_data fail OPERATIONFAILED",
    "fault set_data worker",
    "fault set_data disconnect-after 2",
    "fault set_data panic",
    "fault set_data panic-thread",
    "fault get_status delay 300",
    "fault get_status ok",
    "fault get_status ok",
];

/// One thread's run on device `device`: `ops` random operations.
fn run_thread(tsp: &tsp::Tsp, device: u32, seed: u64, ops: usize) {
    let mut rng = Rng(seed | 1);
    let mut open: Option<(usize, usize)> = None;
    for _ in 0..ops {
        let Some((handle, ht_phone)) = open else {
            let ht_phone = NEXT_HT.fetch_add(1, Ordering::Relaxed);
            if let Ok(handle) = tsp.open(device, ht_phone) {
                did(Did::Opened { ht_phone });
                open = Some((handle, ht_phone));
            }
            continue;
        };
        match rng.below(100) {
            0..=4 => {
                tsp.close(handle);
                did(Did::Closed { ht_phone });
                open = None;
            }
            5..=44 => {
                let request_id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
                let returned = tsp.set_data(request_id, handle, b"stress");
                did(Did::Request {
                    request_id,
                    ht_phone,
                    returned,
                    what: "SetData".into(),
                });
            }
            45..=54 => {
                tsp.get_data(handle);
            }
            55..=64 => {
                tsp.get_status(handle);
            }
            _ => {
                let command = COMMANDS[rng.below(COMMANDS.len() as u64) as usize];
                let request_id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
                let returned = tsp.dev_specific(request_id, handle, command);
                did(Did::Request {
                    request_id,
                    ht_phone,
                    returned,
                    what: command.into(),
                });
            }
        }
    }
    if let Some((handle, ht_phone)) = open {
        // Half the phones are left open for the shutdown to close.
        if rng.below(2) == 0 {
            tsp.close(handle);
            did(Did::Closed { ht_phone });
        }
    }
}

/// One round: start, threads, shutdown. Returns the violations found.
fn round(
    tsp: &tsp::Tsp,
    folder: &std::path::Path,
    seed: u64,
    round: u64,
    ops: usize,
) -> Vec<String> {
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).clear();
    DID.lock().unwrap_or_else(|e| e.into_inner()).clear();
    OVERLAPS.store(0, Ordering::SeqCst);
    std::fs::write(folder.join("tsp-rs.toml"), config_of(round)).expect("write the configuration");
    let phones = tsp.start();
    assert_eq!(phones, PHONES, "the round's configuration was read");
    let per_thread = ops / PHONES as usize;
    std::thread::scope(|scope| {
        for device in 0..PHONES {
            let thread_seed = seed ^ (round << 32) ^ u64::from(device).wrapping_mul(0x9E37_79B9);
            scope.spawn(move || run_thread(tsp, device, thread_seed, per_thread));
        }
    });
    assert_eq!(tsp.shutdown(), 0);
    did(Did::Shutdown);
    // Anything the host still delivers now is a violation: give it time to.
    std::thread::sleep(Duration::from_millis(50));
    let violations = check();
    println!("stress: round {round}: {}", tally());
    violations
}

/// What a round did, so a run that exercised nothing shows.
fn tally() -> String {
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
fn check() -> Vec<String> {
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
                if msg == 0x0C || msg == 0x0D {
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
                let limit = Duration::from_millis(REQUEST_MS) + SLACK;
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
                "request {request_id} ({what}) was accepted and completed {n} times"
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

/// Runs `rounds` rounds of `ops` operations with `seed`; the violations.
fn run(
    tsp: &tsp::Tsp,
    folder: &std::path::Path,
    seed: u64,
    rounds: u64,
    ops: usize,
) -> Vec<String> {
    for r in 0..rounds {
        let violations = round(tsp, folder, seed, r, ops);
        if !violations.is_empty() {
            return violations
                .into_iter()
                .map(|v| format!("round {r} ({}): {v}", config_of(r).replace('\n', " ")))
                .collect();
        }
    }
    Vec::new()
}

#[test]
fn the_host_keeps_its_promises_under_random_faults() {
    let folder = build_dir().join("test-stress");
    let mock =
        PluginSpec::read(&workspace().join("drivers/mock/plugin.toml")).expect("plugin.toml");
    let library = tsp_host::dist::lay_out(&build_dir(), &folder, &[mock]).unwrap_or_else(|e| {
        panic!("{e} (cargo build --workspace builds it; cargo xtask test does)")
    });
    assert!(
        std::env::var_os("TSP_RS_CONFIG").is_none(),
        "unset TSP_RS_CONFIG: the stress test writes its own tsp-rs.toml"
    );
    let tsp = tsp::Tsp::load(&library);
    let ops: usize = std::env::var("STRESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000);
    let seed: u64 = std::env::var("STRESS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    // Four rounds cover the four paths (one-at-a-time or concurrent, inline or
    // worker); longer runs repeat them.
    let per_round = 500.min(ops).max(PHONES as usize);
    let rounds = (ops / per_round).max(4) as u64;
    let started = Instant::now();
    println!(
        "stress: seed {seed}, {rounds} rounds of {per_round} operations (STRESS_SEED={seed} replays)"
    );
    let violations = run(&tsp, &folder, seed, rounds, per_round);
    if violations.is_empty() {
        println!(
            "stress: {} operations, 0 violations, in {:.1} s",
            rounds as usize * per_round,
            started.elapsed().as_secs_f64()
        );
        return;
    }
    // Shrink: the same seed with fewer operations, while it still fails.
    let mut shortest = (per_round, violations.clone());
    let mut try_ops = per_round / 2;
    while try_ops >= PHONES as usize {
        let again = run(&tsp, &folder, seed, rounds, try_ops);
        if again.is_empty() {
            break;
        }
        shortest = (try_ops, again);
        try_ops /= 2;
    }
    panic!(
        "seed {seed}: {} violations (first: {:?}); shortest failing run found: {} operations per round: {:#?}\nreplay with STRESS_SEED={seed}",
        violations.len(),
        violations.first(),
        shortest.0,
        shortest.1.iter().take(20).collect::<Vec<_>>()
    );
}
