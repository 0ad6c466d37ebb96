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
        threads(),
        before,
        "every thread the drivers started was joined"
    );
}
