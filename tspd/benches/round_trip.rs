//! SetData round trips per second over D-Bus to tspd, from 1 and 8 clients
//! (each holding a phone of its own), against a trivial zbus service answering
//! the same call on the same private bus in the same run: what tspd adds to
//! D-Bus itself. `cargo bench -p tspd`; `TSP_RS_BENCH=short` is the short mode
//! `cargo xtask bench` uses, with `figure` lines for its table.

#[path = "../../xtask/src/figure.rs"]
mod figure;
use figure::figure;

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Bus, Daemon, Scratch};

const TRIVIAL_NAME: &str = "org.tsprs.BenchTrivial";
const TRIVIAL_PATH: &str = "/org/tsprs/BenchTrivial";

/// Answers SetData at once: D-Bus's own cost, nothing else.
struct Trivial;

#[zbus::interface(name = "org.tsprs.BenchTrivial")]
impl Trivial {
    fn set_data(&self, _data_id: u32, _data: Vec<u8>) {}
}

fn short() -> bool {
    std::env::var("TSP_RS_BENCH").is_ok_and(|mode| mode == "short")
}

/// Round trips per second from `clients` clients calling `call` for `time`.
fn rate(
    bus: &Bus,
    clients: u32,
    time: Duration,
    setup: impl Fn(&zbus::blocking::Connection, u32) -> zbus::blocking::Proxy<'static> + Sync,
) -> f64 {
    let calls: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                let setup = &setup;
                scope.spawn(move || {
                    let connection = bus.client();
                    let proxy = setup(&connection, client);
                    let data = vec![0u8; 16];
                    let until = Instant::now() + time;
                    let mut calls = 0u64;
                    while Instant::now() < until {
                        let () = proxy.call("SetData", &(0u32, &data)).expect("SetData");
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a client"))
            .sum()
    });
    calls as f64 / time.as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks; nothing to list.
    }
    let scratch = Scratch::new("bench-round-trip");
    let bus = Bus::session(&scratch);
    let _daemon = Daemon::start(&bus, &scratch, "phone_count = 8\nreservation = false");
    let server = bus.client();
    server
        .object_server()
        .at(TRIVIAL_PATH, Trivial)
        .expect("serves");
    server.request_name(TRIVIAL_NAME).expect("the trivial name");
    let time = Duration::from_secs(if short() { 3 } else { 15 });
    for clients in [1u32, 8] {
        let ours = rate(&bus, clients, time, |connection, client| {
            let phone = common::phone(connection, client);
            let () = phone.call("Open", &()).expect("Open");
            phone
        });
        let trivial = rate(&bus, clients, time, |connection, _| {
            zbus::blocking::Proxy::new(connection, TRIVIAL_NAME, TRIVIAL_PATH, TRIVIAL_NAME)
                .expect("a proxy")
        });
        figure(
            &format!("tspd SetData round trips, {clients} client(s)"),
            "calls/s",
            ours,
            Some(trivial),
            "target ratio >= 0.8 (baseline: trivial zbus)",
        );
    }
}
