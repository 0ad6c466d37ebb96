//! A private D-Bus for each test: Debian's dbus-daemon with a configuration of
//! the test's, tspd on it, and the clients (dbus-send, a zbus connection).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A bus configuration where anyone may own and call anything (a session bus).
pub const OPEN_POLICY: &str = r#"<policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>"#;

/// A folder of the test's, removed at the end.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tspd-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Self(dir)
    }

    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("writes");
        // Whatever the umask: tspd refuses a configuration others could write.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("a mode");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A private dbus-daemon.
pub struct Bus {
    pub address: String,
    daemon: Child,
}

impl Bus {
    /// A session-type bus where everything is allowed.
    pub fn session(scratch: &Scratch) -> Self {
        Self::with_config(scratch, "session", OPEN_POLICY, "")
    }

    /// A bus of `kind` (`session` or `system`) with `policy` and `extra` elements.
    pub fn with_config(scratch: &Scratch, kind: &str, policy: &str, extra: &str) -> Self {
        Self::try_with_config(scratch, kind, policy, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the daemon, or says why it did not start.
    pub fn try_with_config(
        scratch: &Scratch,
        kind: &str,
        policy: &str,
        extra: &str,
    ) -> Result<Self, String> {
        let socket = scratch.0.join(format!("bus-{kind}"));
        let config = scratch.file(
            &format!("bus-{kind}.conf"),
            &format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{kind}</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  {policy}
  {extra}
</busconfig>
"#,
                socket.display()
            ),
        );
        let address = format!("unix:path={}", socket.display());
        // Activated services inherit it, so they find the bus they serve.
        let mut daemon = Command::new("dbus-daemon")
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .arg(format!("--config-file={}", config.display()))
            .args(["--print-address=1", "--nofork"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("dbus-daemon: {e} (cargo xtask test installs dbus-daemon)"))?;
        let mut line = String::new();
        let stdout = daemon.stdout.take().expect("piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            let mut why = String::new();
            if let Some(mut stderr) = daemon.stderr.take() {
                let _ = stderr.read_to_string(&mut why);
            }
            let _ = daemon.wait();
            return Err(format!("dbus-daemon did not start: {why}"));
        }
        Ok(Self {
            address: line.trim().to_owned(),
            daemon,
        })
    }

    /// A zbus client connection.
    pub fn client(&self) -> zbus::blocking::Connection {
        zbus::blocking::connection::Builder::address(self.address.as_str())
            .and_then(|b| b.build())
            .expect("connects to the private bus")
    }

    /// `dbus-send --print-reply` with `args`.
    pub fn send(&self, args: &[&str]) -> Output {
        Command::new("dbus-send")
            .arg(format!("--bus={}", self.address))
            .args(["--print-reply", "--reply-timeout=10000"])
            .args(args)
            .output()
            .expect("dbus-send runs")
    }

    /// Whether someone owns `name`.
    pub fn has_owner(&self, name: &str) -> bool {
        let out = self.send(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            &format!("string:{name}"),
        ]);
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    /// Waits up to 10 s for `name` to have an owner (or not).
    pub fn wait_owner(&self, name: &str, owned: bool) {
        wait_for(&format!("{name} owned: {owned}"), || {
            self.has_owner(name) == owned
        });
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// The tspd binary: this package's, or the one built beside the test.
pub fn tspd_exe() -> PathBuf {
    if let Some(exe) = option_env!("CARGO_BIN_EXE_tspd") {
        return exe.into();
    }
    let exe = std::env::current_exe().expect("own path");
    let build = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    build.join("tspd")
}

/// tspd on a private bus.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    /// Starts tspd on `bus` with the mock; `mock` is the mock's settings table
    /// (empty: the default phones, completing at once). Each daemon has its own
    /// temporary folder, so the mock's lock files do not meet other tests'.
    pub fn start(bus: &Bus, scratch: &Scratch, mock: &str) -> Self {
        let config = scratch.file(
            "tsp-rs.toml",
            &format!("drivers = [\"mock\"]\n[settings.mock]\n{mock}\n"),
        );
        let tmp = scratch.0.join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        let child = Command::new(tspd_exe())
            .args(["--bus", "session", "--config"])
            .arg(&config)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("TMPDIR", &tmp)
            // Its own lock folder: parallel daemons must not meet over the mock\'s
            // reservations (cargo xtask test sets one folder for the whole run).
            .env(tsp_host::sdk::LOCK_DIR_VARIABLE, &tmp)
            // Warnings and errors only: nobody reads the pipe until the end, and
            // a chatty log could fill it and stall tspd.
            .env("TSP_RS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tspd starts");
        bus.wait_owner(tspd::BUS_NAME, true);
        Self { child }
    }

    /// Sends SIGTERM and returns the exit status and what tspd wrote.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        signal(self.child.id(), "TERM");
        let status = wait_exit(&mut self.child, Duration::from_secs(10));
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        (status, log)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kill -SIG pid`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

/// Waits for a child to exit (killing it after `patience`).
pub fn wait_exit(child: &mut Child, patience: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(status) = child.try_wait().expect("waits") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {patience:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits up to 10 s for `done`.
pub fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A proxy for phone `device_id` on `connection`.
pub fn phone(
    connection: &zbus::blocking::Connection,
    device_id: u32,
) -> zbus::blocking::Proxy<'static> {
    zbus::blocking::Proxy::new(
        connection,
        tspd::BUS_NAME,
        tspd::phone_path(device_id),
        tspd::PHONE_INTERFACE,
    )
    .expect("a proxy")
}

/// The D-Bus error name of a failed call.
pub fn error_name(error: &zbus::Error) -> String {
    match error {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        other => format!("not a method error: {other}"),
    }
}

/// The repository's copy of a shipped file.
pub fn dist_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dist")
        .join(name)
}
