//! The files shipped beside tspd, each checked by the program that reads it: the
//! D-Bus policy by dbus-daemon (and, as root, by what it lets through), the
//! activation file by dbus-daemon starting tspd on demand, the systemd unit by
//! `systemd-analyze verify` where it exists.

mod common;

use std::process::Command;

use common::{Bus, Scratch, dist_file};
use tspd::BUS_NAME;

/// The default policy of Debian's system bus (system.conf): calls are denied
/// unless a service's policy allows them.
const SYSTEM_DEFAULTS: &str = r#"<policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>"#;

fn shipped(name: &str) -> String {
    std::fs::read_to_string(dist_file(name)).expect("the shipped file")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn the_policy_parses_and_a_broken_one_does_not() {
    let scratch = Scratch::new("policy-parse");
    let include = format!(
        "<include>{}</include>",
        dist_file("org.tsprs.Telephony1.conf").display()
    );
    Bus::try_with_config(&scratch, "system", SYSTEM_DEFAULTS, &include)
        .expect("dbus-daemon takes the shipped policy");
    let broken = scratch.file(
        "broken.conf",
        &shipped("org.tsprs.Telephony1.conf").replace("<allow own=", "<allow owner="),
    );
    let broken = format!("<include>{}</include>", broken.display());
    assert!(
        Bus::try_with_config(&scratch, "system", SYSTEM_DEFAULTS, &broken).is_err(),
        "dbus-daemon refuses a policy with an unknown attribute"
    );
}

/// As root: tspd may own the name on a system-type bus under the shipped
/// policy, root may use the phones, and an ordinary user may look but not use.
#[test]
fn the_policy_lets_root_serve_and_others_only_look() {
    let scratch = Scratch::new("policy-use");
    let include = format!(
        "<include>{}</include>",
        dist_file("org.tsprs.Telephony1.conf").display()
    );
    let bus = Bus::with_config(&scratch, "system", SYSTEM_DEFAULTS, &include);
    let config = scratch.file("tsp-rs.toml", "drivers = [\"mock\"]\n");
    let mut tspd = Command::new(env!("CARGO_BIN_EXE_tspd"))
        .args(["--bus", "system", "--config"])
        .arg(&config)
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .env("TMPDIR", &scratch.0)
        // Its own lock folder: parallel daemons must not meet over the mock\'s
        // reservations (cargo xtask test sets one folder for the whole run).
        .env(tsp_host::sdk::LOCK_DIR_VARIABLE, &scratch.0)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tspd starts");
    if !is_root() {
        let output = tspd.wait_with_output().expect("tspd exits");
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "only root may own the name");
        assert!(log.contains("policy"), "{log}");
        return;
    }
    bus.wait_owner(BUS_NAME, true);
    let phone0 = tspd::phone_path(0);
    let set = |runner: &[&str]| {
        let mut command = Command::new(runner[0]);
        command
            .args(&runner[1..])
            .arg("dbus-send")
            .arg(format!("--bus={}", bus.address))
            .args(["--print-reply", &format!("--dest={BUS_NAME}"), &phone0]);
        command
    };
    let as_root = set(&["env"])
        .args([
            "org.tsprs.Telephony1.Phone.SetData",
            "uint32:0",
            "array:byte:1",
        ])
        .output()
        .expect("dbus-send");
    assert!(
        as_root.status.success(),
        "{}",
        String::from_utf8_lossy(&as_root.stderr)
    );
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let look = set(&nobody)
        .arg("org.tsprs.Telephony1.Phone.Caps")
        .output()
        .expect("setpriv runs dbus-send");
    assert!(
        look.status.success(),
        "anyone may read caps: {}",
        String::from_utf8_lossy(&look.stderr)
    );
    let use_ = set(&nobody)
        .args([
            "org.tsprs.Telephony1.Phone.SetData",
            "uint32:0",
            "array:byte:1",
        ])
        .output()
        .expect("setpriv runs dbus-send");
    let refused = String::from_utf8_lossy(&use_.stderr);
    assert!(refused.contains("AccessDenied"), "{refused}");
    common::signal(tspd.id(), "TERM");
    let status = common::wait_exit(&mut tspd, std::time::Duration::from_secs(10));
    assert!(status.success());
}

/// `dbus-monitor` on `address` as uid/gid 65534 with `groups` (none: no
/// supplementary group), printing tspd's signals; its lines are collected.
struct Monitor {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Monitor {
    fn start(address: &str, groups: Option<&str>) -> Self {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534"]);
        match groups {
            Some(groups) => command.arg(format!("--groups={groups}")),
            None => command.arg("--clear-groups"),
        };
        let mut child = command
            .args(["dbus-monitor", "--address", address])
            .arg(format!("type='signal',sender='{BUS_NAME}'"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("setpriv runs dbus-monitor");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped");
        let sink = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().expect("lines").push(line);
            }
        });
        Self { child, lines }
    }

    /// How many signals named `member` it printed.
    fn count(&self, member: &str) -> usize {
        let needle = format!("member={member}");
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.contains(&needle))
            .count()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// As root: under the shipped policy a user outside the group receives none of
/// a phone's signals, not even the broadcast ones (presence), while a member of
/// the group does; the Connected property's change reaches everyone.
#[test]
fn the_policy_keeps_a_phones_signals_from_users_outside_the_group() {
    if !is_root() {
        eprintln!("skipped: needs root to run monitors as other users");
        return;
    }
    let plugdev = Command::new("getent")
        .args(["group", "plugdev"])
        .output()
        .ok()
        .and_then(|o| {
            let line = String::from_utf8_lossy(&o.stdout).into_owned();
            line.split(':').nth(2).map(str::to_owned)
        })
        .filter(|gid| !gid.trim().is_empty());
    let scratch = Scratch::new("policy-signals");
    let include = format!(
        "<include>{}</include>",
        dist_file("org.tsprs.Telephony1.conf").display()
    );
    let bus = Bus::with_config(&scratch, "system", SYSTEM_DEFAULTS, &include);
    let config = scratch.file("tsp-rs.toml", "drivers = [\"mock\"]\n");
    let child = Command::new(env!("CARGO_BIN_EXE_tspd"))
        .args(["--bus", "system", "--config"])
        .arg(&config)
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .env("TMPDIR", &scratch.0)
        // Its own lock folder: parallel daemons must not meet over the mock\'s
        // reservations (cargo xtask test sets one folder for the whole run).
        .env(tsp_host::sdk::LOCK_DIR_VARIABLE, &scratch.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tspd starts");
    // Killed however the test ends: a tspd left behind holds its pipes open.
    let mut tspd = common::Daemon { child };
    bus.wait_owner(BUS_NAME, true);
    let stranger = Monitor::start(&bus.address, None);
    let member = plugdev
        .as_deref()
        .map(|gid| Monitor::start(&bus.address, Some(gid.trim())));
    // The monitors print NameAcquired once connected; give their match rules
    // a moment to be in place (a late rule makes the wait below fail, never pass).
    common::wait_for("the monitors are connected", || {
        !stranger.lines.lock().expect("lines").is_empty()
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let root = bus.client();
    let phone = common::phone(&root, 0);
    phone.call_method("Open", &()).expect("root opens phone 0");
    for command in ["disconnect", "reconnect"] {
        phone
            .call_method("DevSpecific", &(command.as_bytes().to_vec(),))
            .expect("the mock's device goes and comes back");
    }
    // Three PropertiesChanged reach everyone (Owner, Connected twice); the two
    // presence States are sent after their PropertiesChanged.
    common::wait_for("the stranger sees the property changes", || {
        stranger.count("PropertiesChanged") >= 3
    });
    if let Some(member) = &member {
        common::wait_for("a member of the group hears the phone", || {
            member.count("State") >= 2
        });
    }
    phone.call_method("Close", &()).expect("closes");
    common::wait_for("the stranger sees the owner change back", || {
        stranger.count("PropertiesChanged") >= 4
    });
    assert_eq!(
        stranger.count("State"),
        0,
        "a user outside the group hears nothing of the phone: {:?}",
        stranger.lines.lock().expect("lines")
    );
    common::signal(tspd.child.id(), "TERM");
    let status = common::wait_exit(&mut tspd.child, std::time::Duration::from_secs(10));
    assert!(status.success());
}

#[test]
fn the_activation_file_starts_tspd_on_demand() {
    let shipped = shipped("org.tsprs.Telephony1.service");
    assert!(shipped.contains(&format!("Name={BUS_NAME}\n")), "{shipped}");
    assert!(shipped.contains("SystemdService=tspd.service"), "{shipped}");
    let scratch = Scratch::new("activation");
    let services = scratch.0.join("services");
    std::fs::create_dir_all(&services).expect("a service folder");
    let config = scratch.file("tsp-rs.toml", "drivers = [\"mock\"]\n");
    // The shipped file, run on a session bus: this tspd, this configuration.
    let exec = format!(
        "Exec={} --bus session --config {}",
        env!("CARGO_BIN_EXE_tspd"),
        config.display()
    );
    let session: String = shipped
        .lines()
        .filter(|l| !l.starts_with("User="))
        .map(|l| {
            if l.starts_with("Exec=") {
                exec.clone()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(services.join("org.tsprs.Telephony1.service"), session).expect("writes");
    let bus = Bus::with_config(
        &scratch,
        "session",
        common::OPEN_POLICY,
        &format!("<servicedir>{}</servicedir>", services.display()),
    );
    assert!(!bus.has_owner(BUS_NAME));
    let list = bus.send(&[
        &format!("--dest={BUS_NAME}"),
        tspd::ROOT_PATH,
        "org.tsprs.Telephony1.Manager.ListPhones",
    ]);
    let out = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        out.contains("Mock Phone 0") && out.contains("Mock Phone 1"),
        "{out}"
    );
    let pid = bus.send(&[
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.GetConnectionUnixProcessID",
        &format!("string:{BUS_NAME}"),
    ]);
    let pid = String::from_utf8_lossy(&pid.stdout)
        .split_whitespace()
        .last()
        .and_then(|p| p.parse::<u32>().ok())
        .expect("the activated tspd's pid");
    common::signal(pid, "TERM");
    bus.wait_owner(BUS_NAME, false);
}

#[test]
fn the_systemd_unit_verifies_where_systemd_analyze_exists() {
    let unit = shipped("tspd.service");
    for line in [
        "Type=dbus",
        &format!("BusName={BUS_NAME}"),
        "ExecStart=/usr/bin/tspd --bus system",
    ] {
        assert!(unit.contains(line), "the unit lacks `{line}`");
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: the unit's syntax is not checked here");
        return;
    }
    let scratch = Scratch::new("unit");
    let here = unit.replace("/usr/bin/tspd", env!("CARGO_BIN_EXE_tspd"));
    let verify = |text: &str| {
        let file = scratch.file("tspd.service", text);
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&file)
            .output()
            .expect("systemd-analyze runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, said) = verify(&here);
    assert!(
        ok && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
    let (_, said) = verify(&here.replace("Type=dbus", "Type=dbuss"));
    assert!(said.contains("dbuss"), "a broken unit is noticed: {said}");
}
