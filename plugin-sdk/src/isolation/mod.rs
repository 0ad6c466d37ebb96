//! Drivers in a process of their own (feature `isolation`).
//!
//! A driver named in the host's `isolate = [...]` runs in `tsp-driver-host`,
//! a small program shipped beside the TSP library: it loads the plugin with
//! the same loader ([`Plugin::load`](crate::host::Plugin::load)) and serves
//! it over its standard input and output. In the host,
//! [`Plugin::isolated`](crate::host::Plugin::isolated)
//! stands for it: a [`LoadedDriver`](crate::host::LoadedDriver) like any
//! other, whose calls cross the pipe. Vendors write nothing for it.
//!
//! When the process dies (a crash, an abort), stops answering for a
//! heartbeat, or reports a driver call running past the hang limit, the
//! host's side completes each of its outstanding requests with
//! `OPERATIONFAILED` (exactly once), reports every device of the driver
//! DISCONNECTED, starts a new process after a backoff, lists the devices again
//! and matches them by key: open phones are opened again under the same
//! session and reported CONNECTED, devices gone are REMOVED. After
//! [`Isolation::restarts`] deaths within [`Isolation::window`] it stops trying
//! and the driver is reported failed in the log; its phones stay disconnected.
//!
//! Why standard input and output rather than a named socket: the pipe exists
//! only between the two processes (no name in the file system or the
//! namespace of pipes for another process to take first, nothing to clean up,
//! nothing shared between two runs), it is what the child inherits and
//! nothing else, and both systems have it. The driver host moves the protocol
//! off descriptors 0 and 1 before the plugin loads, so a driver that prints
//! cannot corrupt it. The protocol is postcard frames (`protocol.rs`), with a
//! version checked at the hello.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod child;
mod log;
mod protocol;
pub(crate) mod proxy;
mod sys;

/// The driver host program's name, without the platform's extension.
pub const PROGRAM: &str = "tsp-driver-host";

/// The driver host program's file name on this platform.
pub fn program_file_name() -> String {
    format!("{PROGRAM}{}", std::env::consts::EXE_SUFFIX)
}

/// How an isolated driver runs and is restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// The driver host program (`tsp-driver-host` beside the TSP library).
    pub program: PathBuf,
    /// The plugin's manifest (`drivers/NAME.toml`).
    pub manifest: PathBuf,
    /// How long the process may leave a ping unanswered (or a message
    /// unread) before it counts as stopped and is killed: the driver's call
    /// deadline. Pings are answered by the thread that reads, whatever the
    /// driver is doing.
    pub heartbeat: Duration,
    /// How long one driver call may run before the driver counts as hung and
    /// its process is killed. A call past its deadline but within this is
    /// only slow: the host's deadlines handle it as for a driver in its own
    /// process (misses, DISCONNECTED, probes).
    pub hang: Duration,
    /// How long the driver may take to start.
    pub start_timeout: Duration,
    /// The most restarts within [`Isolation::window`]; one more death and the
    /// driver is reported failed.
    pub restarts: u32,
    /// See [`Isolation::restarts`].
    pub window: Duration,
    /// The wait before the first restart, doubled for each further death
    /// within the window (at most 10 s).
    pub backoff: Duration,
    /// Unix: the user and group ids the driver host runs as (the host must
    /// be allowed to switch: root). `None`: the host's own. Ignored on Windows.
    pub run_as: Option<(u32, u32)>,
}

impl Isolation {
    /// Defaults: a 5 s heartbeat, 30 s hang limit, 30 s to start, 5 restarts
    /// a minute, 100 ms backoff.
    pub fn new(program: PathBuf, manifest: PathBuf) -> Self {
        Self {
            program,
            manifest,
            heartbeat: Duration::from_secs(5),
            hang: Duration::from_secs(30),
            start_timeout: Duration::from_secs(30),
            restarts: 5,
            window: Duration::from_secs(60),
            backoff: Duration::from_millis(100),
            run_as: None,
        }
    }
}

/// Why the driver host stopped before serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Its standard input and output could not be taken for the protocol.
    #[error("cannot take the host's pipes: {0}")]
    Pipes(#[source] std::io::Error),
    /// The first message was not the host's hello.
    #[error(
        "the host did not begin with its hello ({0}); tsp-driver-host is started by the host, not by hand"
    )]
    NoHello(String),
    /// The host speaks another protocol version.
    #[error(
        "the host speaks protocol {host} and this driver host {ours}: install tsp-driver-host from the same release as the TSP library"
    )]
    Version {
        /// The host's version.
        host: u32,
        /// This driver host's version.
        ours: u32,
    },
    /// The plugin did not load or the driver did not start (the host was told why).
    #[error("the driver did not start: {0}")]
    Start(String),
}

/// The driver host's work: serves the plugin whose manifest is `manifest`
/// to the host at the other end of standard input and output, until the host
/// says to stop or goes away. `tsp-driver-host`'s `main` is this call.
///
/// # Errors
/// Why it could not serve (see [`ServeError`]); the host was told when it
/// could be.
pub fn serve(manifest: &Path) -> Result<(), ServeError> {
    child::serve(manifest)
}

/// How long something under way (a driver call, a write to the child) has
/// run, readable from another thread without a lock: when it began, in
/// milliseconds since `clock`, plus one; 0 when nothing is under way.
#[derive(Debug)]
pub(crate) struct Busy {
    since: AtomicU64,
    clock: Instant,
}

impl Default for Busy {
    fn default() -> Self {
        Self {
            since: AtomicU64::new(0),
            clock: Instant::now(),
        }
    }
}

impl Busy {
    pub(crate) fn begin(&self) {
        let now = self.clock.elapsed().as_millis() as u64 + 1;
        self.since.store(now, Ordering::Release);
    }

    pub(crate) fn end(&self) {
        self.since.store(0, Ordering::Release);
    }

    /// How long what began has run, if something is under way.
    pub(crate) fn running_for(&self) -> Option<Duration> {
        match self.since.load(Ordering::Acquire) {
            0 => None,
            since => Some(
                self.clock
                    .elapsed()
                    .saturating_sub(Duration::from_millis(since - 1)),
            ),
        }
    }
}
