//! The host's own costs, in process, on a driver that does nothing (so what is
//! measured is the host): allocations per inline request, the latency from a
//! driver's `complete` on its own thread to the application's completion, and
//! scale (1 to 100,000 phones open at once: memory per open phone, start-up
//! and open-all time, SetData throughput across all of them).
//!
//! `cargo bench -p tsp-host --bench request_path`; `TSP_RS_BENCH=short` runs
//! the short mode `cargo xtask bench` uses. Each figure is also printed as a
//! `figure\t…` line that `cargo xtask bench` gathers into its table.

#[path = "../../xtask/src/figure.rs"]
mod shared;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Deserialize;
use tsp_core::{PhoneCaps, PhoneError, PhoneFeatures, StringFormat};
use tsp_host::sdk::{
    Completion, DeviceInfo, Driver, DriverContext, DriverError, PhoneEvents, Session, export_driver,
};
use tsp_host::{Config, Host, PhoneHandle};

/// Counts every allocation and the bytes live, for the whole process.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the counters
// are only read.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as GlobalAlloc::realloc requires, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The driver's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    phones: u32,
    /// Complete from the driver's own thread instead of before returning.
    threaded: bool,
    concurrent: bool,
}

/// When the driver's thread called `complete` last (ns since `EPOCH`).
static COMPLETED_AT: AtomicU64 = AtomicU64::new(0);
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A driver that does nothing but complete: `phones` phones with one 16-byte
/// area each.
struct BenchDriver {
    settings: Settings,
    completer: Mutex<Sender<Completion>>,
}

impl std::fmt::Debug for BenchDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchDriver").finish_non_exhaustive()
    }
}

fn complete_on_this_thread(completions: Receiver<Completion>) {
    for done in completions {
        COMPLETED_AT.store(now_ns(), Ordering::Release);
        done.complete(Ok(()));
    }
}

impl Driver for BenchDriver {
    const NAME: &'static str = "bench";

    fn start(context: DriverContext) -> Result<Self, DriverError> {
        let settings: Settings = tsp_host::sdk::settings::parse(&context.settings)
            .map_err(|e| DriverError::new(PhoneError::IniFileCorrupt, e.to_string()))?;
        let (completer, completions) = channel();
        std::thread::spawn(move || complete_on_this_thread(completions));
        Ok(Self {
            settings,
            completer: Mutex::new(completer),
        })
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, DriverError> {
        Ok((0..self.settings.phones)
            .map(|index| DeviceInfo {
                key: format!("b{index}"),
                caps: PhoneCaps {
                    name: format!("Bench Phone {index}"),
                    permanent_id: index + 1,
                    string_format: Some(StringFormat::Ascii),
                    set_data: vec![16],
                    get_data: vec![16],
                    features: PhoneFeatures::SETDATA | PhoneFeatures::GETDATA,
                    ..PhoneCaps::default()
                },
            })
            .collect())
    }

    fn open(&self, _key: &str, _events: PhoneEvents) -> Result<Box<dyn Session>, DriverError> {
        let completer = self.settings.threaded.then(|| {
            let sender = self.completer.lock().unwrap_or_else(|e| e.into_inner());
            sender.clone()
        });
        Ok(Box::new(BenchSession { completer }))
    }

    fn concurrent_sessions(&self) -> bool {
        self.settings.concurrent
    }
}

struct BenchSession {
    completer: Option<Sender<Completion>>,
}

impl Session for BenchSession {
    fn get_ring(&self) -> Result<(u32, u32), PhoneError> {
        Ok((0, 0))
    }

    fn set_data(&self, _: u32, _: &[u8], done: Completion) {
        match &self.completer {
            Some(completer) => {
                let _ = completer.send(done);
            }
            None => done.complete(Ok(())),
        }
    }
}

export_driver!(BenchDriver);

/// A started host on the bench driver and where its completions go.
struct Bench {
    host: Host,
    completed: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<u64>>>,
}

fn bench(settings: &str) -> Bench {
    let mut config = Config {
        drivers: vec!["bench".into()],
        ..Config::default()
    };
    let table = settings.parse().expect("bench settings are TOML");
    config.settings.insert("bench".into(), table);
    let completed = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let (count, record) = (Arc::clone(&completed), Arc::clone(&latencies));
    let host = Host::builder()
        .driver(tsp_driver_module())
        .config(config)
        .on_completion(move |_, _| {
            let from = COMPLETED_AT.load(Ordering::Acquire);
            if from != 0 {
                let mut record = record.lock().unwrap_or_else(|e| e.into_inner());
                record.push(now_ns().saturating_sub(from));
            }
            count.fetch_add(1, Ordering::Release);
        })
        .start()
        .expect("the bench host starts");
    Bench {
        host,
        completed,
        latencies,
    }
}

/// A figure with no baseline.
fn figure(name: &str, unit: &str, value: f64, target: &str) {
    shared::figure(name, unit, value, None, target);
}

fn short() -> bool {
    std::env::var("TSP_RS_BENCH").is_ok_and(|mode| mode == "short")
}

/// Allocations per inline SetData, after warming up (target 0).
fn allocations_per_inline_request(concurrent: bool) {
    let b = bench(&format!("phones = 1\nconcurrent = {concurrent}\n"));
    let phone = b.host.open(0, 1).expect("opens");
    let request = |n: u64| {
        for _ in 0..n {
            let id = b.host.next_request_id();
            b.host
                .set_data(id, phone, 0, b"0123456789abcdef")
                .expect("accepted");
        }
    };
    request(10_000);
    let count = 100_000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let started = Instant::now();
    request(count);
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let per = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / count as f64;
    let queue = if concurrent {
        "concurrent"
    } else {
        "one at a time"
    };
    figure(
        &format!("allocations per inline SetData ({queue})"),
        "allocs",
        per,
        "target 0",
    );
    // The counting allocator is on, and costs nothing when nothing allocates.
    figure(
        &format!("inline SetData through Host ({queue})"),
        "req/s",
        rate,
        "",
    );
}

/// From the driver's `complete` on its own thread to the completion callback.
fn worker_completion_latency() {
    let b = bench("phones = 1\nthreaded = true\nconcurrent = true\n");
    let phone = b.host.open(0, 1).expect("opens");
    let count = if short() { 20_000 } else { 200_000 };
    for n in 1..=count {
        b.host
            .set_data(b.host.next_request_id(), phone, 0, b"x")
            .expect("accepted");
        while b.completed.load(Ordering::Acquire) < n {
            // Yield, not spin: on two cores a spinning waiter takes the core the
            // driver's thread needs, and the tail would measure the scheduler.
            std::thread::yield_now();
        }
    }
    let mut latencies = std::mem::take(&mut *b.latencies.lock().unwrap_or_else(|e| e.into_inner()));
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let us = |ns: u64| ns as f64 / 1000.0;
    figure("worker completion latency p50", "µs", us(at(0.50)), "");
    figure(
        "worker completion latency p99",
        "µs",
        us(at(0.99)),
        "target < 20",
    );
    figure("worker completion latency p99.9", "µs", us(at(0.999)), "");
}

/// A host link that ignores everything (the boundary's cost is what counts).
struct Quiet;

impl tsp_host::sdk::host::HostLink for Quiet {
    fn complete(&self, _: u64, _: Result<(), PhoneError>) {}
    fn phone_event(&self, _: u64, _: tsp_host::sdk::PhoneEvent) {}
    fn driver_event(&self, _: &str, _: tsp_host::sdk::DriverEvent) {}
}

/// Nanoseconds per `call`, over `count` calls.
fn ns_per(count: u32, call: impl Fn() -> Result<(u32, u32), PhoneError>) -> f64 {
    let started = Instant::now();
    for _ in 0..count {
        let _ = std::hint::black_box(call());
    }
    started.elapsed().as_nanos() as f64 / f64::from(count)
}

/// A trivial session call (`get_ring`) through the plugin boundary (the SDK's
/// loader, the stable ABI, the adapter's panic guard) against the same
/// session called directly: what the boundary adds to every call.
fn plugin_call_overhead() {
    let plugin = tsp_host::sdk::host::Plugin::from_static(tsp_driver_module());
    let driver = plugin
        .start("phones = 1\n", Arc::new(Quiet))
        .expect("the bench driver starts");
    let through = driver.open("b0", 1).expect("opens");
    let direct: Box<dyn Session> = Box::new(BenchSession { completer: None });
    let count = if short() { 2_000_000 } else { 20_000_000 };
    // Warmed up, then each measured twice, the better kept (noise only adds).
    let _ = (
        ns_per(count / 10, || through.get_ring()),
        ns_per(count / 10, || {
            std::hint::black_box(direct.as_ref()).get_ring()
        }),
    );
    let boundary = ns_per(count, || through.get_ring()).min(ns_per(count, || through.get_ring()));
    // The session reached through `black_box`, as the host reaches a driver's
    // session it cannot see into: otherwise the compiler knows the type, inlines
    // the call and hoists it out of the loop (0.3 ns: no call at all).
    let unseen = || std::hint::black_box(direct.as_ref()).get_ring();
    let plain = ns_per(count, unseen).min(ns_per(count, unseen));
    figure(
        "a session call through the plugin boundary",
        "ns",
        boundary,
        "",
    );
    figure("the same call made directly", "ns", plain, "");
    figure(
        "what the boundary adds to a call",
        "ns",
        boundary - plain,
        "target < 5",
    );
    through.close();
    driver.shutdown();
}

/// RSS in bytes, from /proc (0 where there is none).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `phones` phones open at once: start-up, open-all, memory, and SetData
/// throughput two ways: spread over every open phone (each request's phone
/// cold in the caches once they no longer hold them all: the memory system's
/// figure as much as the host's) and to one phone while the rest stay open
/// (what the host's own tables cost as they grow). Returns both.
fn scale(phones: u32) -> (f64, f64) {
    let started = Instant::now();
    let b = bench(&format!("phones = {phones}\nconcurrent = true\n"));
    let start_time = started.elapsed();
    let (bytes_before, rss_before) = (LIVE_BYTES.load(Ordering::Relaxed), rss());
    let opened = Instant::now();
    let handles: Vec<PhoneHandle> = (0..phones)
        .map(|device| b.host.open(device, device as usize + 1).expect("opens"))
        .collect();
    let open_time = opened.elapsed();
    let per_phone = (LIVE_BYTES.load(Ordering::Relaxed) - bytes_before) as f64 / f64::from(phones);
    let rss_per_phone = rss().saturating_sub(rss_before) as f64 / f64::from(phones);
    let count = 400_000u64;
    let sent = Instant::now();
    for n in 0..count {
        let phone = handles[(n % u64::from(phones)) as usize];
        b.host
            .set_data(b.host.next_request_id(), phone, 0, b"x")
            .expect("accepted");
    }
    let rate = count as f64 / sent.elapsed().as_secs_f64();
    let one_phone = handles[handles.len() / 2];
    let sent = Instant::now();
    for _ in 0..count {
        b.host
            .set_data(b.host.next_request_id(), one_phone, 0, b"x")
            .expect("accepted");
    }
    let rate_one = count as f64 / sent.elapsed().as_secs_f64();
    figure(
        &format!("start (enumerate + init), {phones} phones"),
        "ms",
        start_time.as_secs_f64() * 1000.0,
        "",
    );
    figure(
        &format!("open all, {phones} phones"),
        "ms",
        open_time.as_secs_f64() * 1000.0,
        "",
    );
    figure(
        &format!("heap per open phone, {phones} phones"),
        "bytes",
        per_phone,
        "target < 1024 (with the driver's session)",
    );
    figure(
        &format!("RSS per open phone, {phones} phones"),
        "bytes",
        rss_per_phone,
        "",
    );
    figure(
        &format!("inline SetData spread over {phones} open phones"),
        "req/s",
        rate,
        "",
    );
    figure(
        &format!("inline SetData to one of {phones} open phones"),
        "req/s",
        rate_one,
        "",
    );
    drop(b);
    (rate, rate_one)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks; nothing to list.
    }
    if std::env::var("TSP_RS_BENCH").is_ok_and(|mode| mode == "boundary") {
        plugin_call_overhead();
        return;
    }
    if std::env::var("TSP_RS_BENCH").is_ok_and(|mode| mode == "profile") {
        // For `valgrind --tool=callgrind`: the inline request path alone.
        allocations_per_inline_request(true);
        return;
    }
    println!("{:<44} {:>14} {:<10} against", "figure", "value", "unit");
    allocations_per_inline_request(true);
    allocations_per_inline_request(false);
    worker_completion_latency();
    plugin_call_overhead();
    // Each ratio divides like by like: the same loop at 100,000 phones and at one.
    let (spread_one, to_one_one) = scale(1);
    scale(1_000);
    let (spread, to_one) = scale(100_000);
    figure(
        "SetData throughput to one phone, 100,000 open vs 1",
        "ratio",
        to_one / to_one_one,
        "target >= 0.90",
    );
    figure(
        "SetData throughput spread over 100,000 phones vs 1",
        "ratio",
        spread / spread_one,
        "target >= 0.90",
    );
}
