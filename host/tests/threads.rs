//! No thread survives the last TSPI_providerShutdown (TAPISRV unloads the TSP
//! after it). Its own test binary: it counts the process's threads.

mod tapi_side;

use tapi_side::*;
use tsp_host::{Config, ConfigSource, HostSetup, Provider};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

#[test]
fn the_last_shutdown_leaves_no_thread_running() {
    let _serial = serial();
    let mut config = Config::demo();
    config.settings.insert(
        "mock".into(),
        "completion = \"worker\"\ndelay_ms = 1"
            .parse()
            .expect("settings"),
    );
    let provider = Provider::new(HostSetup {
        plugin_folder: Some(plugin_folder("test-host-threads")),
        statics: Vec::new(),
        config: ConfigSource::Given(config),
    });
    let before = threads();
    assert!(before > 0, "this platform lists threads in /proc");
    assert_eq!(provider.enum_devices(0, None), 2);
    provider.init(0, completion_proc()).expect("init");
    let hd = provider
        .open(0, 1, 0x0003_0001, event_proc())
        .expect("opens");
    assert_eq!(provider.set_data(1, hd, 0, b"via the worker"), 1);
    assert!(wait_until(|s| s.completions.len() == 1));
    assert!(threads() > before, "the mock's worker thread ran");
    provider.shutdown().expect("shutdown");
    assert_eq!(
        threads_settled(before),
        before,
        "every thread the drivers started was joined"
    );
}

/// The thread count once it stops falling to `target`. A joined thread can
/// linger in /proc/self/task for a moment after its join returns (the kernel
/// wakes the joiner before it has reaped the task), so a count taken at once
/// may be one too many under load; a thread still running stays counted.
fn threads_settled(target: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    loop {
        let now = threads();
        if now <= target || std::time::Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
