//! Real serial I/O on a pseudo-terminal against the modem simulator: exclusive
//! open, commands with echo on and off, V0 and V1, unsolicited codes between
//! commands, vendor finals, timeouts, and the line going away.
#![cfg(unix)]

use std::path::Path;
use std::time::Duration;

use tsp_core::PhoneError;
use tsp_driver_serial::at::{Final, parse};
use tsp_driver_serial::port::{AtError, AtPort, GONE, PortSettings, open_exclusive};
use tsp_driver_serial::sim::Simulator;
use tsp_driver_serial::urc;

const PATIENCE: Duration = Duration::from_secs(3);

fn open(sim: &Simulator) -> (AtPort, urc::Receiver) {
    let (urc_tx, urc) = urc::channel(urc::CAPACITY);
    let port = AtPort::open(sim.path(), &PortSettings::default(), urc_tx).expect("opens");
    (port, urc)
}

#[test]
fn the_port_is_exclusive_and_errors_say_why() {
    let sim = Simulator::start().expect("pty");
    let (port, _urc) = open(&sim);
    let second = open_exclusive(sim.path(), &PortSettings::default()).expect_err("held");
    assert_eq!(second.code, PhoneError::Allocated, "{second}");
    assert!(second.message.contains(&sim.path().display().to_string()));
    drop(port);
    let again = open_exclusive(sim.path(), &PortSettings::default());
    assert!(again.is_ok(), "released on close");
    let missing = open_exclusive(Path::new("/dev/no-such-modem"), &PortSettings::default())
        .expect_err("absent");
    assert_eq!(missing.code, PhoneError::NoDriver, "{missing}");
}

#[test]
fn commands_with_echo_and_without_in_v1_and_v0() {
    let sim = Simulator::start().expect("pty");
    sim.answer(
        "+CIND=?",
        r#"+CIND: ("battchg",(0-5)),("signal",(0-5)),("call",(0,1))"#,
    );
    let (port, _urc) = open(&sim);
    let ok = port.command("AT", PATIENCE).expect("answers");
    assert_eq!(ok.final_code, Final::Ok, "with the factory echo on");
    assert_eq!(
        port.command("ATE0V1", PATIENCE)
            .expect("answers")
            .final_code,
        Final::Ok
    );
    assert_eq!(
        port.command("AT+CMEE=1", PATIENCE)
            .expect("answers")
            .final_code,
        Final::Ok
    );
    let cind = port.command("AT+CIND=?", PATIENCE).expect("answers");
    let payload = parse::payload(&cind.info[0], "+CIND").expect("+CIND:");
    let indicators = parse::indicators(payload).expect("parses");
    assert_eq!(
        indicators
            .iter()
            .map(|i| i.key.as_str())
            .collect::<Vec<_>>(),
        ["battchg", "signal", "call"]
    );
    assert_eq!(
        port.command("AT+NOPE", PATIENCE)
            .expect("answers")
            .final_code,
        Final::Error
    );
    assert_eq!(
        port.command("ATV0", PATIENCE).expect("answers").final_code,
        Final::Ok,
        "the OK of ATV0 is already numeric"
    );
    assert_eq!(
        port.command("AT", PATIENCE).expect("answers").final_code,
        Final::Ok,
        "`0` in V0"
    );
    assert_eq!(sim.received()[..3], ["AT", "ATE0V1", "AT+CMEE=1"]);
}

#[test]
fn set_values_are_read_back_and_vendor_finals_understood() {
    let sim = Simulator::start().expect("pty");
    sim.answer("+CLVL=?", "+CLVL: (0-5)")
        .unknown_final("COMMAND NOT SUPPORT");
    let (port, _urc) = open(&sim);
    port.command("ATE0", PATIENCE).expect("answers");
    assert!(
        port.command("AT+CLVL=3", PATIENCE)
            .expect("answers")
            .final_code
            .is_ok()
    );
    assert_eq!(
        port.command("AT+CLVL?", PATIENCE).expect("answers").info,
        ["+CLVL: 3"]
    );
    let unsupported = port.command("AT$TSSPCSW=?", PATIENCE).expect("answers");
    assert_eq!(
        unsupported.final_code,
        Final::Vendor("COMMAND NOT SUPPORT".into())
    );
}

#[test]
fn unsolicited_codes_arrive_between_commands() {
    let sim = Simulator::start().expect("pty");
    let (port, urc) = open(&sim);
    port.command("ATE0", PATIENCE).expect("answers");
    sim.unsolicited("+CKEV: 5,1");
    sim.unsolicited("RING");
    assert_eq!(urc.recv_timeout(PATIENCE).expect("a key"), "+CKEV: 5,1");
    assert_eq!(urc.recv_timeout(PATIENCE).expect("a ring"), "RING");
    assert_eq!(
        port.command("AT", PATIENCE).expect("answers").final_code,
        Final::Ok
    );
}

#[test]
fn a_silent_device_times_out_and_the_port_recovers() {
    let sim = Simulator::start().expect("pty");
    sim.silent("+CPAS");
    let (port, _urc) = open(&sim);
    port.command("ATE0", PATIENCE).expect("answers");
    let error = port
        .command("AT+CPAS", Duration::from_millis(200))
        .expect_err("no answer");
    assert_eq!(error, AtError::Timeout("AT+CPAS".into()));
    assert_eq!(PhoneError::from(error), PhoneError::OperationFailed);
    assert_eq!(
        port.command("AT", PATIENCE).expect("answers").final_code,
        Final::Ok,
        "the next command is not confused"
    );
}

#[test]
fn the_line_going_away_is_reported() {
    let sim = Simulator::start().expect("pty");
    let (port, urc) = open(&sim);
    port.command("ATE0", PATIENCE).expect("answers");
    sim.hang_up();
    let gone = urc.recv_timeout(PATIENCE).expect("the reader notices");
    assert_eq!(gone, GONE);
    let error = port
        .command("AT", Duration::from_millis(300))
        .expect_err("nobody there");
    assert!(
        matches!(error, AtError::Gone(_) | AtError::Timeout(_)),
        "{error:?}"
    );
}

#[test]
fn probing_decides_the_caps_from_what_the_device_answers() {
    use tsp_core::PhoneFeatures;
    use tsp_driver_serial::probe::probe;

    let sim = Simulator::start().expect("pty");
    sim.answer("+CSCS=?", r#"+CSCS: ("IRA","GSM","UCS2")"#)
        .answer("+CDIS=?", "+CDIS: 16,16")
        .answer("+CKPD=?", "")
        .answer(
            "+CIND=?",
            r#"+CIND: ("Voice Mail",(0,1)),("call",(0,1)),("callsetup",(0-3)),()"#,
        )
        .answer("+CMER=?", "+CMER: (0,3),(0,2),0,(0-1),0")
        .answer("+CLVL=?", "+CLVL: (100-150)");
    let (port, _urc) = open(&sim);
    let found = probe(&port, PATIENCE).expect("probes");
    assert_eq!(found.charset, "UCS2", "UCS2 where offered");
    assert_eq!(found.display, [16, 16]);
    assert!(found.keypad && found.key_events());
    assert_eq!(
        found
            .indicators
            .iter()
            .map(|i| i.key.as_str())
            .collect::<Vec<_>>(),
        ["voicemail", "call", "callsetup"]
    );
    assert_eq!(found.volume, Some((100, 150)));
    assert_eq!(
        found.ringer, None,
        "+CRSL=? not answered: no ring control claimed"
    );
    assert!(!found.mute);

    let caps = found.caps("Desk phone", 7);
    assert_eq!(caps.display.map(|d| (d.rows, d.columns)), Some((2, 16)));
    assert_eq!(caps.buttons.len(), 12);
    assert!(caps.features.contains(
        PhoneFeatures::SETDISPLAY | PhoneFeatures::SETVOLUMEHANDSET | PhoneFeatures::SETDATA
    ));
    assert!(
        !caps
            .features
            .intersects(PhoneFeatures::SETRING | PhoneFeatures::SETGAINHANDSET),
        "only what it answered"
    );
    assert_eq!(caps.ring_modes, 0);
    let sent = sim.received();
    assert_eq!(sent[..4], ["AT", "ATE0", "ATV1", "AT+CMEE=1"]);
    assert!(sent.contains(&"AT+CSCS=\"UCS2\"".to_owned()));
}

#[test]
fn a_display_too_big_to_address_is_dropped_at_probe() {
    use tsp_driver_serial::probe::{DataArea, probe};

    let sim = Simulator::start().expect("pty");
    sim.answer("+CDIS=?", "+CDIS: 4294967295,4294967295")
        .answer("+CKPD=?", "");
    let (port, _urc) = open(&sim);
    let found = probe(&port, PATIENCE).expect("probes");
    assert!(found.display.is_empty(), "{:?}", found.display);
    assert!(found.caps("Boastful phone", 1).display.is_none());
    assert_eq!(found.data_areas(), [DataArea::Keys]);
}

#[test]
fn a_plain_modem_claims_no_phone_features() {
    use tsp_driver_serial::probe::probe;

    let sim = Simulator::start().expect("pty");
    sim.unknown_final("COMMAND NOT SUPPORT");
    let (port, _urc) = open(&sim);
    let found = probe(&port, PATIENCE).expect("probes");
    assert_eq!(found.charset, "IRA", "no +CSCS=? answer: IRA");
    let caps = found.caps("Modem", 1);
    assert!(caps.display.is_none() && caps.buttons.is_empty() && caps.set_data.is_empty());
}

#[test]
fn a_device_flooding_unsolicited_codes_costs_a_bounded_queue_and_answers_still_come() {
    let sim = Simulator::start().expect("pty");
    let (port, urc) = open(&sim);
    port.command("ATE0", PATIENCE).expect("answers");
    for i in 0..10_000 {
        sim.unsolicited(&format!("+CIEV: 2,{i}"));
    }
    // Nobody reads `urc`; the reader must still hand on the answer.
    assert_eq!(
        port.command("AT", PATIENCE).expect("answers").final_code,
        Final::Ok,
        "a full unsolicited queue does not stop command answers"
    );
    assert!(urc.len() <= urc::CAPACITY, "{} codes held", urc.len());
    assert!(urc.dropped() > 0, "the surplus was dropped and counted");
    let mut queued = Vec::new();
    while let Ok(line) = urc.try_recv() {
        queued.push(line);
    }
    assert_eq!(queued.len(), urc::CAPACITY, "the queue was full");
    assert_eq!(
        queued.last().map(String::as_str),
        Some("+CIEV: 2,9999"),
        "the newest are kept"
    );
}

#[test]
fn a_device_answering_endlessly_fails_that_command_and_stays_usable() {
    let sim = Simulator::start().expect("pty");
    let flood: Vec<String> = (0..100_000).map(|i| format!("+XFLOOD: {i}")).collect();
    sim.answer("+XFLOOD", &flood.join("\n"));
    let (port, _urc) = open(&sim);
    port.command("ATE0", PATIENCE).expect("answers");
    let result = port.command("AT+XFLOOD", Duration::from_secs(30));
    assert_eq!(
        result.map(|r| r.info.len()),
        Err(AtError::TooMuch {
            command: "AT+XFLOOD".into(),
            dropped: 100_000 - tsp_driver_serial::at::MAX_INFO_LINES
        }),
        "the command says the device sent too much"
    );
    assert_eq!(
        PhoneError::from(AtError::TooMuch {
            command: "AT+XFLOOD".into(),
            dropped: 1
        }),
        PhoneError::OperationFailed
    );
    assert_eq!(
        port.command("AT", PATIENCE).expect("answers").final_code,
        Final::Ok,
        "the next command gets its own answer"
    );
}

#[test]
fn a_device_cannot_forge_the_line_going_away() {
    let sim = Simulator::start().expect("pty");
    let (port, urc) = open(&sim);
    port.command("ATE0", PATIENCE).expect("answers");
    sim.unsolicited(GONE);
    sim.unsolicited("RING");
    let first = urc.recv_timeout(PATIENCE).expect("something arrives");
    assert_ne!(
        first, GONE,
        "a NUL from the device is not the reader's marker"
    );
    assert_eq!(first, "port gone", "the NUL is dropped, the rest is a line");
    assert_eq!(urc.recv_timeout(PATIENCE).as_deref(), Ok("RING"));
}
