//! Stress with an invariant checker, through the C exports of the built TSP
//! library (loaded with `dlopen`, as TAPISRV does), on the mock plugin.
//!
//! Rounds, each a fresh `TSPI_providerEnumDevices` + `TSPI_providerInit` on a
//! configuration of its own (one-at-a-time and concurrent phones, inline and
//! worker completion, short deadlines; the mock in the host's process, then in
//! `tsp-driver-host`, where commands crash it now and then), then threads issue seeded random
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

mod tapi_c;
mod tapi_side;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tapi_c::*;

const PHONES: u32 = 4;
const REQUEST_MS: u64 = 300;
const CALL_MS: u64 = 100;

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

/// Whether round `round` runs the mock in a process of its own.
fn isolated(round: u64) -> bool {
    round % 8 >= 4
}

/// The configuration of round `round`: the paths real drivers take, in the
/// host's process and isolated (restarted at once, and without end).
fn config_of(round: u64) -> String {
    let concurrent = round % 2 == 1;
    let completion = if round % 4 < 2 { "inline" } else { "worker" };
    let isolation = if isolated(round) {
        "isolate = [\"mock\"]\n[isolation]\nrestarts = 1000000\nbackoff_ms = 5\n"
    } else {
        ""
    };
    format!(
        "drivers = [\"mock\"]\n{isolation}\
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
    "fault set_data stall 20",
    "fault set_data disconnect-after 2",
    "fault set_data panic",
    "fault set_data panic-thread",
    "fault get_status delay 300",
    "fault get_status ok",
    "fault get_status ok",
    "arrive",
    "remove",
];

/// Temporary ids of PHONE_CREATEs already bound by some thread.
static CLAIMED: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());
/// The next device id a thread gives an arrival.
static NEXT_DEVICE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1000);

/// A thread whose device was removed takes an arrival no one has bound yet:
/// `TSPI_providerCreatePhoneDevice` with a fresh device id, as TAPI does.
fn claim_arrival(tsp: &tsp::Tsp) -> Option<u32> {
    let creates: Vec<usize> = SEEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(|e| match e.what {
            Seen::Event { msg, params, .. } if msg == PHONE_CREATE => Some(params[1]),
            _ => None,
        })
        .collect();
    let mut claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
    let temp = creates.into_iter().find(|t| !claimed.contains(t))?;
    claimed.push(temp);
    let device = NEXT_DEVICE.fetch_add(1, Ordering::Relaxed);
    (tsp.create_phone_device(temp, device) == 0).then_some(device)
}

/// One thread's run on device `device`: `ops` random operations; with the
/// driver `isolated`, one command in forty crashes its process.
fn run_thread(tsp: &tsp::Tsp, mut device: u32, seed: u64, ops: usize, isolated: bool) {
    let mut rng = Rng(seed | 1);
    let mut open: Option<(usize, usize)> = None;
    for _ in 0..ops {
        let Some((handle, ht_phone)) = open else {
            let ht_phone = NEXT_HT.fetch_add(1, Ordering::Relaxed);
            match tsp.open(device, ht_phone) {
                Ok(handle) => {
                    did(Did::Opened { ht_phone });
                    open = Some((handle, ht_phone));
                }
                Err(code) if code == tsp_core::PhoneError::BadDeviceId.to_long() => {
                    // Removed: carry on with a device that arrived, if any.
                    if let Some(arrived) = claim_arrival(tsp) {
                        device = arrived;
                    }
                }
                Err(_) => {}
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
                let command = if isolated && rng.below(40) == 0 {
                    "crash"
                } else {
                    COMMANDS[rng.below(COMMANDS.len() as u64) as usize]
                };
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
    reset();
    CLAIMED.lock().unwrap_or_else(|e| e.into_inner()).clear();
    tsp_host::testkit::write_trusted(&folder.join("tsp-rs.toml"), &config_of(round));
    let phones = tsp.start();
    assert_eq!(phones, PHONES, "the round's configuration was read");
    let per_thread = ops / PHONES as usize;
    std::thread::scope(|scope| {
        for device in 0..PHONES {
            let thread_seed = seed ^ (round << 32) ^ u64::from(device).wrapping_mul(0x9E37_79B9);
            let isolated = isolated(round);
            scope.spawn(move || run_thread(tsp, device, thread_seed, per_thread, isolated));
        }
    });
    let crashes = DID
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|e| matches!(&e.what, Did::Request { what, returned, .. } if what == "crash" && *returned > 0))
        .count();
    let violations = shut_down_and_check(tsp, Duration::from_millis(REQUEST_MS));
    let place = if isolated(round) {
        format!("isolated, {crashes} crashes")
    } else {
        "in process".into()
    };
    println!("stress: round {round} ({place}): {}", tally());
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
    let (folder, tsp) = load_tsp("test-stress");
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
    // Eight rounds cover the four paths (one-at-a-time or concurrent, inline
    // or worker), in process and isolated; longer runs repeat them.
    let per_round = 500.min(ops).max(PHONES as usize);
    let rounds = (ops / per_round).max(8) as u64;
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
