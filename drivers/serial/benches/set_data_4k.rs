//! A 4 KiB SetData (the display text of a 64 × 64 display) through the serial
//! driver over a pseudo-terminal, against writing the same AT command raw to the
//! same simulated modem and reading its `OK`. The difference is the driver's
//! overhead. Run with `cargo bench -p tsp-driver-serial`.

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
