//! A 4 KiB SetData (the display text of a 64 × 64 display) through the serial
//! driver over a pseudo-terminal, against writing the same AT command raw to a
//! second simulated modem and reading its `OK`. The difference is the driver's
//! overhead. Also the AT engine's lines per second, parsed from a recorded
//! modem stream (`tests/transcripts/`). Run with `cargo bench -p
//! tsp-driver-serial`; `TSP_RS_BENCH=short` is the short mode `cargo xtask
//! bench` uses (no criterion, a few hundred rounds), with `figure` lines for
//! its table.

#[path = "../../../xtask/src/figure.rs"]
mod figure;
use figure::figure;

use std::io::Write;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tsp_core::PhoneError;
use tsp_driver_serial::sim::Simulator;
use tsp_plugin_sdk::host::{HostLink, Plugin};
use tsp_plugin_sdk::{DriverEvent, PhoneEvent};

struct Done(Mutex<Sender<Result<(), PhoneError>>>);

impl HostLink for Done {
    fn complete(&self, _: u64, result: Result<(), PhoneError>) {
        let _ = self.0.lock().expect("sender").send(result);
    }
    fn phone_event(&self, _: u64, _: PhoneEvent) {}
    fn driver_event(&self, _: &str, _: DriverEvent) {}
}

fn short() -> bool {
    std::env::var("TSP_RS_BENCH").is_ok_and(|mode| mode == "short")
}

/// Microseconds per call of `round`, over `count` calls.
fn time_per(count: u32, mut round: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..count {
        round();
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(count)
}

/// Lines per second the AT framer and classifier get through, on a recorded
/// SIM800 stream fed in 64-byte pieces as a port delivers it.
fn at_lines_per_second() -> f64 {
    let stream = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/transcripts/esp-idf-issue-3697_sim800-raw.txt"
    ))
    .expect("the recorded stream");
    let rounds = if short() { 200 } else { 2_000 };
    let mut lines = 0u64;
    let started = Instant::now();
    for _ in 0..rounds {
        let mut framer = tsp_driver_serial::at::Framer::default();
        for piece in stream.chunks(64) {
            for frame in framer.feed(piece) {
                if let tsp_driver_serial::at::Frame::Line(line) = frame {
                    std::hint::black_box(tsp_driver_serial::at::classify(&line, Some("AT")));
                    lines += 1;
                }
            }
        }
    }
    lines as f64 / started.elapsed().as_secs_f64()
}

fn big_display() -> Simulator {
    let sim = Simulator::phone().expect("pty");
    let lengths = vec!["64"; 64].join(",");
    sim.answer("+CDIS=?", &format!("+CDIS: {lengths}"))
        .answer("+CSCS=?", r#"+CSCS: ("IRA")"#);
    sim
}

fn text() -> Vec<u8> {
    (0..4096u32).map(|i| b'A' + (i % 26) as u8).collect()
}

/// The driver's path: a serial driver on its own simulated modem, phone open.
struct ThroughDriver {
    driver: tsp_plugin_sdk::host::LoadedDriver,
    phone: tsp_plugin_sdk::host::OpenSession,
    done: Receiver<Result<(), PhoneError>>,
    data: Vec<u8>,
    token: u64,
    _sim: Simulator,
}

impl ThroughDriver {
    fn start() -> Self {
        let sim = big_display();
        let (tx, done): (Sender<_>, Receiver<_>) = channel();
        let plugin = Plugin::from_static(tsp_driver_serial::tsp_driver_module());
        let settings = format!(
            "[[ports]]\npath = \"{}\"\nflow_control = \"none\"\n",
            sim.path().display()
        );
        let driver = plugin
            .start(&settings, Arc::new(Done(Mutex::new(tx))))
            .expect("starts");
        let phone = driver
            .open(&sim.path().to_string_lossy(), 1)
            .expect("opens");
        Self {
            driver,
            phone,
            done,
            data: text(),
            token: 0,
            _sim: sim,
        }
    }

    /// One 4 KiB SetData, to its completion.
    fn round(&mut self) {
        self.token += 1;
        self.phone.set_data(self.token, 1, &self.data);
        self.done.recv().expect("completes").expect("succeeds");
    }

    fn stop(self) {
        self.phone.close();
        self.driver.shutdown();
    }
}

/// The same command written raw to a second simulated modem, its `OK` read.
struct Raw {
    port: Box<dyn serialport::SerialPort>,
    display: Vec<u8>,
    _sim: Simulator,
}

impl Raw {
    fn start() -> Self {
        let sim = big_display();
        let settings = tsp_driver_serial::port::PortSettings {
            flow_control: serialport::FlowControl::None,
            ..Default::default()
        };
        let mut port =
            tsp_driver_serial::port::open_exclusive(sim.path(), &settings).expect("opens");
        // The same command the driver sends: the 64 rows of the 4 KiB text.
        let rows: Vec<String> = text()
            .chunks(64)
            .map(|r| format!("\"{}\"", String::from_utf8_lossy(r)))
            .collect();
        let display = format!("AT+CDIS={}\r", rows.join(",")).into_bytes();
        port.write_all(b"ATE0\r").expect("writes");
        read_ok(&mut *port);
        Self {
            port,
            display,
            _sim: sim,
        }
    }

    fn round(&mut self) {
        self.port.write_all(&self.display).expect("writes");
        read_ok(&mut *self.port);
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks; nothing to list.
    }
    if !short() {
        criterion_run();
    }
    short_run();
}

/// The long mode: both paths under criterion.
fn criterion_run() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    let mut group = criterion.benchmark_group("serial/set_data_4k");
    group.throughput(Throughput::Bytes(4096));
    let mut through = ThroughDriver::start();
    group.bench_function("through the driver", |b| {
        b.iter_custom(|n| {
            let started = Instant::now();
            for _ in 0..n {
                through.round();
            }
            started.elapsed()
        })
    });
    through.stop();
    let mut raw = Raw::start();
    group.bench_function("raw bytes on a second simulated modem", |b| {
        b.iter_custom(|n| {
            let started = Instant::now();
            for _ in 0..n {
                raw.round();
            }
            started.elapsed()
        })
    });
    group.finish();
    criterion.final_summary();
}

/// The figures: both paths timed by hand, and the AT parser.
fn short_run() {
    let rounds = 100;
    let mut through = ThroughDriver::start();
    let driver_time = time_per(rounds, || through.round());
    through.stop();
    let mut raw = Raw::start();
    let raw_time = time_per(rounds, || raw.round());
    figure(
        "serial 4 KiB SetData over a pty",
        "µs",
        driver_time,
        Some(raw_time),
        "baseline: raw AT+CDIS",
    );
    figure(
        "AT lines parsed (recorded SIM800 stream)",
        "lines/s",
        at_lines_per_second(),
        None,
        "",
    );
}

/// Reads until the final `OK`.
fn read_ok(port: &mut dyn serialport::SerialPort) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !seen.windows(4).any(|w| w == b"OK\r\n") {
        match port.read(&mut buf) {
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}
