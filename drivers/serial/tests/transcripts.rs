//! Every transcript in `tests/transcripts/` is replayed through the AT engine:
//! each received line is classified, and each exchange ends with the last final
//! result code the device sent for that command. Dropping a new transcript into
//! the folder adds a test case. Format (as the project's fixtures): `> ` sent,
//! `< ` received, `# ` comment, `# framing: exact` (C escapes) or `lines`; a
//! `.dump` file is raw bytes whose first line is the echoed command.

use std::path::{Path, PathBuf};

use tsp_driver_serial::at::{Engine, EngineEvent, Final, parse};

fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).expect("\\xNN"));
            }
            other => panic!("unknown escape \\{other:?}"),
        }
    }
    out
}

/// One command and what came back until the next one.
#[derive(Debug, Default)]
struct Exchange {
    command: String,
    received: Vec<u8>,
}

fn exchanges(path: &Path) -> Vec<Exchange> {
    if path.extension().is_some_and(|e| e == "dump") {
        let bytes = std::fs::read(path).expect("reads");
        let end = bytes
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(bytes.len());
        let command = String::from_utf8_lossy(&bytes[..end]).into_owned();
        return vec![Exchange {
            command,
            received: bytes,
        }];
    }
    let text = std::fs::read_to_string(path).expect("reads");
    let exact = text.lines().any(|l| l.starts_with("# framing: exact"));
    let mut all: Vec<Exchange> = Vec::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            // `# device: X -- response to AT+CIND=?`: the command the source omitted.
            if let Some((_, command)) = comment.split_once("-- response to ") {
                all.push(Exchange {
                    command: command.trim().to_owned(),
                    ..Exchange::default()
                });
            }
        } else if let Some(sent) = line.strip_prefix("> ") {
            let command = if exact {
                String::from_utf8_lossy(&unescape(sent))
                    .trim_end()
                    .to_owned()
            } else {
                sent.to_owned()
            };
            all.push(Exchange {
                command,
                ..Exchange::default()
            });
        } else if let Some(received) = line.strip_prefix('<') {
            let received = received.strip_prefix(' ').unwrap_or(received);
            let bytes = if exact {
                unescape(received)
            } else {
                format!("{received}\r\n").into_bytes()
            };
            match all.last_mut() {
                Some(exchange) => exchange.received.extend(bytes),
                None => all.push(Exchange {
                    received: bytes,
                    ..Exchange::default()
                }),
            }
        }
    }
    all
}

/// The last line of `received` that is a final result code, by a plain list kept
/// apart from the engine's classifier.
fn expected_final(received: &[u8]) -> Option<String> {
    let finals = [
        "OK",
        "ERROR",
        "NO CARRIER",
        "BUSY",
        "NO ANSWER",
        "NO DIALTONE",
        "COMMAND NOT SUPPORT",
        "TOO MANY PARAMETERS",
    ];
    let prefixes = ["CONNECT", "+CME ERROR:", "+CMS ERROR:", "MODEM ERROR:"];
    String::from_utf8_lossy(received)
        .split(['\r', '\n'])
        .map(str::trim)
        .rfind(|l| finals.contains(l) || prefixes.iter().any(|p| l.starts_with(p)))
        .map(str::to_owned)
}

fn final_text(code: &Final) -> String {
    match code {
        Final::Ok => "OK".into(),
        Final::Error => "ERROR".into(),
        Final::NoCarrier => "NO CARRIER".into(),
        Final::Busy => "BUSY".into(),
        Final::NoAnswer => "NO ANSWER".into(),
        Final::NoDialtone => "NO DIALTONE".into(),
        Final::Connect(rest) if rest.is_empty() => "CONNECT".into(),
        Final::Connect(rest) => format!("CONNECT {rest}"),
        Final::CmeError(_, text) => format!("+CME ERROR: {text}"),
        Final::CmsError(_, text) => format!("+CMS ERROR: {text}"),
        Final::ExtError(text) => format!("+EXT ERROR: {text}"),
        Final::Vendor(text) => text.clone(),
    }
}

fn replay(path: &Path) -> usize {
    let mut engine = Engine::default();
    let mut checked = 0;
    for exchange in exchanges(path) {
        if !exchange.command.is_empty() {
            engine.abandon();
            engine.send(&exchange.command).expect("idle");
        }
        let events = engine.feed(&exchange.received);
        let got = events.iter().find_map(|e| match e {
            EngineEvent::Response(r) if r.command == exchange.command => Some(r.clone()),
            _ => None,
        });
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        assert_eq!(
            got.as_ref().map(|r| final_text(&r.final_code)),
            expected_final(&exchange.received),
            "{name}: `{}`",
            exchange.command
        );
        if let Some(response) = &got {
            for info in &response.info {
                assert_parses(info, &name);
            }
        } else if let Some(info) = engine.in_flight().map(str::to_owned) {
            // No final recorded by the source: what arrived must still parse.
            let text = String::from_utf8_lossy(&exchange.received).into_owned();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                assert_parses(line, &format!("{name} ({info})"));
            }
        }
        checked += 1;
    }
    checked
}

/// Answers the parsers know must parse.
fn assert_parses(line: &str, name: &str) {
    if let Some(payload) = parse::payload(line, "+CIND").filter(|p| p.starts_with('(')) {
        assert!(
            parse::indicators(payload).is_some(),
            "{name}: +CIND=? answer does not parse: {line}"
        );
    }
    if let Some(payload) = parse::payload(line, "+CMER") {
        assert!(
            parse::groups(payload).is_some_and(|g| g.len() == 5),
            "{name}: +CMER=? answer does not parse: {line}"
        );
    }
}

#[test]
fn every_transcript_replays() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("the transcripts folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt" || e == "dump"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "the real transcripts are there");
    let mut total = 0;
    for file in &files {
        let exchanges = replay(file);
        assert!(exchanges > 0, "{} has no exchange", file.display());
        total += exchanges;
    }
    assert!(total >= 20, "{total} exchanges replayed");
}
