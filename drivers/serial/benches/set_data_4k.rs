//! A 4 KiB SetData (the display text of a 64 × 64 display) through the serial
//! driver over a pseudo-terminal, against writing the same AT command raw to the
//! same simulated modem and reading its `OK`. The difference is the driver's
//! overhead. Also the AT engine's lines per second, parsed from a recorded
//! modem stream (`tests/transcripts/`). Run with `cargo bench -p
//! tsp-driver-serial`; `TSP_RS_BENCH=short` is the short mode `cargo xtask
//! bench` uses (no criterion, a few hundred rounds), with `figure` lines for
//! its table.

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

/// One figure for `cargo xtask bench`'s table (and a line for a reader).
fn figure(name: &str, unit: &str, value: f64, baseline: Option<f64>, target: &str) {
    let ratio = baseline.map(|b| b / value);
    let shown = ratio.map_or_else(String::new, |r| format!("ratio {r:.2}"));
    println!("{name:<44} {value:>14.1} {unit:<8} {shown} {target}");
    let baseline = baseline.map_or_else(String::new, |b| b.to_string());
    let ratio = ratio.map_or_else(String::new, |r| r.to_string());
    println!("figure\t{name}\t{unit}\t{value}\t{baseline}\t{ratio}\t{target}");
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

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks; nothing to list.
    }
    if short() {
        return short_run();
    }
    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    let mut group = criterion.benchmark_group("serial/set_data_4k");
    group.throughput(Throughput::Bytes(4096));

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
    let data = text();
    group.bench_function("through the driver", |b| {
        b.iter_custom(|n| {
            let started = Instant::now();
            for i in 0..n {
                phone.set_data(i, 1, &data);
                done.recv().expect("completes").expect("succeeds");
            }
            started.elapsed()
        })
    });
    phone.close();
    driver.shutdown();
    drop(sim);

    let sim = big_display();
    let settings = tsp_driver_serial::port::PortSettings {
        flow_control: serialport::FlowControl::None,
        ..Default::default()
    };
    let mut raw = tsp_driver_serial::port::open_exclusive(sim.path(), &settings).expect("opens");
    // The same command the driver sends: the 64 rows of the 4 KiB text.
    let rows: Vec<String> = text()
        .chunks(64)
        .map(|r| format!("\"{}\"", String::from_utf8_lossy(r)))
        .collect();
    let display = format!("AT+CDIS={}\r", rows.join(",")).into_bytes();
    raw.write_all(b"ATE0\r").expect("writes");
    read_ok(&mut *raw);
    group.bench_function("raw bytes on the same pty", |b| {
        b.iter_custom(|n| {
            let started = Instant::now();
            for _ in 0..n {
                raw.write_all(&display).expect("writes");
                read_ok(&mut *raw);
            }
            started.elapsed()
        })
    });
    group.finish();
    criterion.final_summary();
    short_run();
}

/// The short mode: the same two paths timed by hand, and the AT parser.
fn short_run() {
    let rounds = 100;
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
    let data = text();
    let mut token = 0;
    let through = time_per(rounds, || {
        token += 1;
        phone.set_data(token, 1, &data);
        done.recv().expect("completes").expect("succeeds");
    });
    phone.close();
    driver.shutdown();
    drop(sim);

    let sim = big_display();
    let settings = tsp_driver_serial::port::PortSettings {
        flow_control: serialport::FlowControl::None,
        ..Default::default()
    };
    let mut raw = tsp_driver_serial::port::open_exclusive(sim.path(), &settings).expect("opens");
    let rows: Vec<String> = text()
        .chunks(64)
        .map(|r| format!("\"{}\"", String::from_utf8_lossy(r)))
        .collect();
    let display = format!("AT+CDIS={}\r", rows.join(",")).into_bytes();
    raw.write_all(b"ATE0\r").expect("writes");
    read_ok(&mut *raw);
    let direct = time_per(rounds, || {
        raw.write_all(&display).expect("writes");
        read_ok(&mut *raw);
    });
    figure(
        "serial 4 KiB SetData over a pty",
        "µs",
        through,
        Some(direct),
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
