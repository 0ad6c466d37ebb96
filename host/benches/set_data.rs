//! `TSPI_phoneSetData` through the C exports, from 1, 2 and 4 threads, with the
//! mock completing inline, against a minimal correct TSP written in C
//! (`baseline_tsp.c`, built here) in the same run. Prints requests per second
//! and the ratio. Then the same TSP with the mock isolated (`isolate =
//! ["mock"]`: in `tsp-driver-host`): SetData to completion, pipelined and one
//! at a time (completion latency), against the mock in the host's process. Run with `cargo bench -p tsp-host`; it builds the release TSP
//! library and mock plugin it loads. Figures: PERFORMANCE.md.

#[path = "../../xtask/src/figure.rs"]
mod figure;
use figure::figure;

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use libloading::{Library, Symbol};

type EnumDevices =
    unsafe extern "C" fn(u32, *mut u32, *mut u32, *mut c_void, *mut c_void, *mut c_void) -> i32;
type Init = unsafe extern "C" fn(
    u32,
    u32,
    u32,
    u32,
    usize,
    usize,
    unsafe extern "C" fn(u32, i32),
    *mut u32,
) -> i32;
type Shutdown = unsafe extern "C" fn(u32, u32) -> i32;
type Open = unsafe extern "C" fn(
    u32,
    *mut c_void,
    *mut *mut c_void,
    u32,
    unsafe extern "C" fn(*mut c_void, u32, usize, usize, usize),
) -> i32;
type Close = unsafe extern "C" fn(*mut c_void) -> i32;
type SetData = unsafe extern "C" fn(u32, *mut c_void, u32, *const c_void, u32) -> i32;

fn short() -> bool {
    std::env::var("TSP_RS_BENCH").is_ok_and(|mode| mode == "short")
}

static COMPLETED: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn on_completion(_: u32, _: i32) {
    COMPLETED.fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" fn on_event(_: *mut c_void, _: u32, _: usize, _: usize, _: usize) {}

/// One TSP, loaded, initialised, with phone 0 open.
struct Tsp {
    _library: Library,
    set_data: SetData,
    open: Open,
    close: Close,
    shutdown: Shutdown,
    phone: usize,
}

impl Tsp {
    fn load(path: &Path) -> Tsp {
        // SAFETY: both libraries export these functions with exactly these C
        // prototypes (tspi.h); they stay loaded for as long as the pointers are used.
        unsafe {
            let library = Library::new(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let enum_devices: Symbol<EnumDevices> =
                library.get(b"TSPI_providerEnumDevices").expect("export");
            let init: Symbol<Init> = library.get(b"TSPI_providerInit").expect("export");
            let open: Open = *library.get::<Open>(b"TSPI_phoneOpen").expect("export");
            let (mut lines, mut phones, mut options) = (0u32, 0u32, 0u32);
            let null = std::ptr::null_mut();
            assert_eq!(
                enum_devices(1, &mut lines, &mut phones, null, null, null),
                0
            );
            assert!(phones >= 1, "no phones in {}", path.display());
            assert_eq!(
                init(
                    0x0003_0001,
                    1,
                    0,
                    0,
                    0,
                    phones as usize,
                    on_completion,
                    &mut options
                ),
                0
            );
            let mut phone = null;
            assert_eq!(
                open(0, null, &mut phone, 0x0003_0001, on_event),
                0,
                "open phone 0"
            );
            let set_data = *library
                .get::<SetData>(b"TSPI_phoneSetData")
                .expect("export");
            let close = *library.get::<Close>(b"TSPI_phoneClose").expect("export");
            let shutdown = *library
                .get::<Shutdown>(b"TSPI_providerShutdown")
                .expect("export");
            Tsp {
                _library: library,
                set_data,
                open,
                close,
                shutdown,
                phone: phone as usize,
            }
        }
    }

    /// `count` SetData calls spread over `threads` threads; the time they took.
    fn run(&self, threads: u32, count: u64) -> Duration {
        let per_thread = count / u64::from(threads);
        let started = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (set_data, phone) = (self.set_data, self.phone);
                scope.spawn(move || {
                    let payload = [0u8; 16];
                    for i in 0..per_thread {
                        let id = 1 + ((u64::from(t) << 24) | (i & 0xFF_FFFF)) as u32 % 0x7FFF_FFFF;
                        // SAFETY: a valid handle from open, a 16-byte buffer.
                        let r = unsafe {
                            set_data(id, phone as *mut c_void, 0, payload.as_ptr().cast(), 16)
                        };
                        assert_eq!(r, id as i32, "SetData");
                    }
                });
            }
        });
        started.elapsed()
    }
}

impl Tsp {
    /// `count` SetData calls from one thread, at most `window` outstanding,
    /// until the last completed; the time they took.
    fn run_to_completion(&self, count: u64, window: u64) -> Duration {
        let base = COMPLETED.load(Ordering::Acquire);
        let payload = [0u8; 16];
        let started = Instant::now();
        for i in 0..count {
            while i - (COMPLETED.load(Ordering::Acquire) - base) >= window {
                std::hint::spin_loop();
            }
            let id = 1 + (i % 0x7FFF_FFFE) as u32;
            // SAFETY: a valid handle from open, a 16-byte buffer.
            let r = unsafe {
                (self.set_data)(
                    id,
                    self.phone as *mut c_void,
                    0,
                    payload.as_ptr().cast(),
                    16,
                )
            };
            assert_eq!(r, id as i32, "SetData");
        }
        while COMPLETED.load(Ordering::Acquire) - base < count {
            std::hint::spin_loop();
        }
        started.elapsed()
    }

    /// `samples` SetData, each waited for until it completed: the median and
    /// 99th percentile from the call to its completion.
    fn completion_latency(&self, samples: usize) -> (Duration, Duration) {
        let mut times: Vec<Duration> = (0..samples).map(|_| self.run_to_completion(1, 1)).collect();
        times.sort();
        (times[samples / 2], times[samples * 99 / 100])
    }

    /// Opens and closes phone 1 `count` times; the time per cycle.
    fn open_close(&self, count: u32) -> Duration {
        let started = Instant::now();
        for _ in 0..count {
            let mut phone = std::ptr::null_mut();
            // SAFETY: a valid out-pointer and event procedure; the handle is
            // closed before the next open.
            unsafe {
                let opened =
                    (self.open)(1, std::ptr::null_mut(), &mut phone, 0x0003_0001, on_event);
                assert_eq!(opened, 0, "open phone 1");
                assert_eq!((self.close)(phone), 0, "close phone 1");
            }
        }
        started.elapsed() / count
    }
}

impl Drop for Tsp {
    fn drop(&mut self) {
        // SAFETY: the handle and the library are still valid.
        unsafe {
            (self.close)(self.phone as *mut c_void);
            (self.shutdown)(0x0003_0001, 1);
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn build_baseline(out: &Path) -> PathBuf {
    let library = out.join("libbaseline_tsp.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(cc)
        .args(["-O2", "-shared", "-fPIC", "-pthread", "-o"])
        .arg(&library)
        .arg(workspace().join("host/benches/baseline_tsp.c"))
        .status()
        .expect("the C compiler runs");
    assert!(status.success(), "the baseline TSP does not build");
    library
}

/// [`lay_out_ours`] with a `tsp-rs.toml` that runs the mock in its own process.
fn lay_out_isolated(out: &Path) -> PathBuf {
    let library = lay_out_ours(out);
    let config = out.join("tsp-rs.toml");
    // Its own lock folder: the in-process TSP of this run holds phone 0's lock.
    let locks = out.join("locks");
    std::fs::create_dir_all(&locks).expect("a lock folder");
    let text = format!(
        "drivers = [\"mock\"]\nisolate = [\"mock\"]\n[settings.mock]\nlock_dir = '{}'\n",
        locks.display()
    );
    std::fs::write(&config, text).expect("written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("mode");
    }
    library
}

fn lay_out_ours(out: &Path) -> PathBuf {
    let release = workspace().join("target/release");
    // The release TSP library and mock plugin (cargo bench builds only this bench).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "tsp-host",
            "-p",
            "tsp-driver-mock",
        ])
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(built.success(), "the release build failed");
    let spec =
        tsp_host::sdk::manifest::PluginSpec::read(&workspace().join("drivers/mock/plugin.toml"))
            .expect("spec");
    tsp_host::dist::lay_out(&release, out, &[spec])
        .unwrap_or_else(|e| panic!("{e}: run `cargo build --workspace --release` first"))
}

fn main() {
    let out = workspace().join("target/bench-set-data");
    std::fs::create_dir_all(&out).expect("folder");
    let baseline = Tsp::load(&build_baseline(&out));
    let ours = Tsp::load(&lay_out_ours(&out.join("tsp-rs")));
    let isolated = Tsp::load(&lay_out_isolated(&out.join("tsp-rs-isolated")));

    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks; nothing to list.
    }
    let mut rates = Vec::new();
    let count = if short() { 200_000 } else { 400_000 };
    if !short() {
        let mut criterion = Criterion::default()
            .configure_from_args()
            .measurement_time(Duration::from_secs(3));
        for threads in [1u32, 2, 4] {
            let mut group = criterion.benchmark_group(format!("set_data/{threads}-threads"));
            group.throughput(Throughput::Elements(1));
            for (name, tsp) in [("c-baseline", &baseline), ("tsp-rs", &ours)] {
                group.bench_function(name, |b| {
                    b.iter_custom(|iterations| tsp.run(threads, iterations.max(u64::from(threads))))
                });
            }
            group.finish();
        }
        criterion.final_summary();
    }
    for threads in [1u32, 2, 4] {
        for (name, tsp) in [("c-baseline", &baseline), ("tsp-rs", &ours)] {
            // Warmed up first: the first run pays for page faults and the lane.
            tsp.run(threads, count / 10);
            let rate = count as f64 / tsp.run(threads, count).as_secs_f64();
            rates.push((threads, name, rate));
        }
    }
    let cycles = if short() { 2_000 } else { 20_000 };
    let (c_cycle, rs_cycle) = (baseline.open_close(cycles), ours.open_close(cycles));

    println!("\nrequests per second (400000 SetData, inline completion):");
    println!(
        "{:>8} {:>14} {:>14} {:>8}",
        "threads", "C baseline", "tsp-rs", "ratio"
    );
    let rate = |threads: u32, name: &str| {
        rates
            .iter()
            .find(|r| r.0 == threads && r.1 == name)
            .map_or(0.0, |r| r.2)
    };
    for threads in [1u32, 2, 4] {
        let (c, rs) = (rate(threads, "c-baseline"), rate(threads, "tsp-rs"));
        println!("{threads:>8} {c:>14.0} {rs:>14.0} {:>8.2}", rs / c);
    }
    println!();
    for threads in [1u32, 2, 4] {
        figure(
            &format!("inline SetData, C exports, {threads} thread(s)"),
            "req/s",
            rate(threads, "tsp-rs"),
            Some(rate(threads, "c-baseline")),
            "target ratio >= 0.5",
        );
    }
    let ns = |d: Duration| d.as_nanos() as f64;
    figure(
        "open + close, C exports",
        "ns",
        ns(rs_cycle),
        Some(ns(c_cycle)),
        "",
    );
    isolation_figures(&ours, &isolated);
    println!(
        "({} cores; 4 threads on fewer cores oversubscribe)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

/// The mock isolated against the mock in process: SetData to completion
/// (pipelined, 64 outstanding), completion latency, open + close.
fn isolation_figures(in_process: &Tsp, isolated: &Tsp) {
    let count = if short() { 20_000 } else { 100_000 };
    let samples = if short() { 2_000 } else { 10_000 };
    let mut rates = Vec::new();
    for tsp in [in_process, isolated] {
        tsp.run_to_completion(count / 10, 64);
        rates.push(count as f64 / tsp.run_to_completion(count, 64).as_secs_f64());
    }
    let (in_p50, in_p99) = in_process.completion_latency(samples);
    let (iso_p50, iso_p99) = isolated.completion_latency(samples);
    let cycles = if short() { 500 } else { 2_000 };
    let (in_cycle, iso_cycle) = (in_process.open_close(cycles), isolated.open_close(cycles));
    let ns = |d: Duration| d.as_nanos() as f64;
    println!("\nthe mock isolated (tsp-driver-host) against in process:");
    figure(
        "SetData to completion, isolated (64 outstanding)",
        "req/s",
        rates[1],
        Some(rates[0]),
        "reported as measured",
    );
    figure(
        "completion latency, isolated, median",
        "ns",
        ns(iso_p50),
        Some(ns(in_p50)),
        "reported as measured",
    );
    figure(
        "completion latency, isolated, p99",
        "ns",
        ns(iso_p99),
        Some(ns(in_p99)),
        "reported as measured",
    );
    figure(
        "open + close, isolated",
        "ns",
        ns(iso_cycle),
        Some(ns(in_cycle)),
        "reported as measured",
    );
}
