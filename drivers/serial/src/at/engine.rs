//! One command in flight per port: pairs information text and the final result
//! code with the command, and passes unsolicited codes through whenever they come.
//!
//! A device can answer a command with more than anyone asked for, so what is kept
//! per command is bounded: at most [`MAX_INFO_LINES`] information lines (no
//! answer the driver asks for has more than a handful), each at most
//! [`MAX_LINE`](super::MAX_LINE) bytes. Past the bound the surplus is dropped and
//! counted, with one `warn` per command, and the command stays in flight until
//! its final: ending it early would leave the rest of the answer and its final to
//! be taken for unsolicited codes and for the next command's answer. The
//! [`Response`] then says how much was dropped ([`Response::dropped`]), and the
//! port turns that into an error for the command
//! ([`AtError::TooMuch`](crate::port::AtError::TooMuch)); the next command gets its
//! own answer. A command whose final never comes ends at its timeout, and what it
//! kept goes with it.

use super::classify::{Final, Line, classify};
use super::framer::{Frame, Framer};

/// The most information lines kept for one command; more are dropped and counted
/// in [`Response::dropped`].
pub const MAX_INFO_LINES: usize = 256;

/// A command's complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The command, as sent.
    pub command: String,
    /// Its information text, line by line: at most [`MAX_INFO_LINES`].
    pub info: Vec<String>,
    /// How it ended.
    pub final_code: Final,
    /// Lines of its answer that were not kept: past [`MAX_INFO_LINES`], or longer
    /// than [`MAX_LINE`](super::MAX_LINE). Not 0 means `info` is incomplete.
    pub dropped: usize,
}

/// What the engine made of the bytes fed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// The command in flight finished.
    Response(Response),
    /// An unsolicited result code.
    Unsolicited(String),
}

/// The command awaiting its final and what it got so far.
#[derive(Debug)]
struct InFlight {
    command: String,
    info: Vec<String>,
    dropped: usize,
}

/// The engine of one port.
#[derive(Debug, Default)]
pub struct Engine {
    framer: Framer,
    in_flight: Option<InFlight>,
}

impl Engine {
    /// Starts `command` (without `AT`'s terminator); returns the bytes to write.
    /// Refused while another command is in flight: one at a time per port.
    pub fn send(&mut self, command: &str) -> Result<Vec<u8>, String> {
        if let Some(busy) = &self.in_flight {
            return Err(format!(
                "`{}` is still in flight; wait for its answer or its timeout",
                busy.command
            ));
        }
        self.in_flight = Some(InFlight {
            command: command.to_owned(),
            info: Vec::new(),
            dropped: 0,
        });
        let mut bytes = command.as_bytes().to_vec();
        bytes.push(b'\r');
        Ok(bytes)
    }

    /// The command awaiting its final, if any.
    pub fn in_flight(&self) -> Option<&str> {
        self.in_flight.as_ref().map(|f| f.command.as_str())
    }

    /// Gives up on the command in flight (its timeout passed); returns it.
    pub fn abandon(&mut self) -> Option<String> {
        self.in_flight.take().map(|f| f.command)
    }

    /// What is held now: the bytes of a line waiting for its terminator (at most
    /// [`MAX_LINE`](super::MAX_LINE)) and the information lines of the command in
    /// flight (at most [`MAX_INFO_LINES`]). For tests and fuzzers checking the
    /// bounds.
    pub fn held(&self) -> (usize, usize) {
        let lines = self.in_flight.as_ref().map_or(0, |f| f.info.len());
        (self.framer.pending().len(), lines)
    }

    /// Feeds bytes from the device.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<EngineEvent> {
        let frames = self.framer.feed(bytes);
        frames
            .into_iter()
            .filter_map(|frame| match frame {
                Frame::Line(line) => self.line(&line),
                Frame::Overlong => {
                    // Perhaps an unsolicited code, perhaps the answer: the
                    // command's answer can no longer be trusted to be whole.
                    if let Some(flight) = &mut self.in_flight {
                        flight.dropped = flight.dropped.saturating_add(1);
                    }
                    None
                }
            })
            .collect()
    }

    fn line(&mut self, line: &str) -> Option<EngineEvent> {
        match classify(line, self.in_flight()) {
            Line::Echo => None,
            Line::Info(text) => {
                if let Some(flight) = &mut self.in_flight {
                    if flight.info.len() < MAX_INFO_LINES {
                        flight.info.push(text);
                    } else {
                        if flight.dropped == 0 {
                            tracing::warn!(
                                command = %flight.command,
                                limit = MAX_INFO_LINES,
                                "the device answers with more than {MAX_INFO_LINES} lines; \
                                 dropping the rest up to its final, and the command fails"
                            );
                        }
                        flight.dropped = flight.dropped.saturating_add(1);
                    }
                }
                None
            }
            // A final with nothing in flight (a late answer after a timeout) is dropped.
            Line::Final(final_code) => self.in_flight.take().map(|flight| {
                EngineEvent::Response(Response {
                    command: flight.command,
                    info: flight.info,
                    final_code,
                    dropped: flight.dropped,
                })
            }),
            Line::Unsolicited(text) => Some(EngineEvent::Unsolicited(text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_log::warnings;

    #[test]
    fn one_command_at_a_time_with_urcs_anywhere() {
        let mut engine = Engine::default();
        assert_eq!(engine.send("AT+CIND?").expect("idle"), b"AT+CIND?\r");
        assert!(engine.send("AT").is_err(), "one in flight");
        let events = engine.feed(b"AT+CIND?\r\r\n+CIEV: 2,1\r\n+CIND: 5,1\r\n\r\nOK\r\nRING\r\n");
        assert_eq!(
            events,
            [
                EngineEvent::Unsolicited("+CIEV: 2,1".into()),
                EngineEvent::Response(Response {
                    command: "AT+CIND?".into(),
                    info: vec!["+CIND: 5,1".into()],
                    final_code: Final::Ok,
                    dropped: 0,
                }),
                EngineEvent::Unsolicited("RING".into()),
            ]
        );
        assert!(engine.send("AT").is_ok(), "idle again");
    }

    #[test]
    fn a_command_answered_with_endless_information_keeps_a_bounded_part() {
        let mut engine = Engine::default();
        engine.send("AT+CPBR=1,100000").expect("idle");
        let mut events = Vec::new();
        for i in 0..100_000 {
            events.extend(engine.feed(format!("+CPBR: {i},\"123\",129,\"x\"\r\n").as_bytes()));
        }
        events.extend(engine.feed(b"OK\r\n"));
        let [EngineEvent::Response(response)] = events.as_slice() else {
            panic!("one response: {}", events.len());
        };
        assert_eq!(
            response.info.len(),
            MAX_INFO_LINES,
            "the first ones are kept"
        );
        assert_eq!(response.info[0], "+CPBR: 0,\"123\",129,\"x\"");
        assert_eq!(response.dropped, 100_000 - MAX_INFO_LINES);
        assert_eq!(response.final_code, Final::Ok);
        assert_eq!(engine.held(), (0, 0), "nothing held once it ended");
    }

    #[test]
    fn the_surplus_is_reported_once_per_command_and_the_engine_stays_in_step() {
        let mut engine = Engine::default();
        let (events, logged) = warnings(|| {
            engine.send("AT+CLCC").expect("idle");
            let mut events = Vec::new();
            for i in 0..1000 {
                events.extend(engine.feed(format!("+CLCC: {i},0,0\r\n").as_bytes()));
                assert!(engine.held().1 <= MAX_INFO_LINES);
            }
            events.extend(engine.feed(b"\r\nOK\r\n"));
            events
        });
        assert_eq!(logged, 1, "one line per command, not one per dropped line");
        assert!(matches!(
            events.as_slice(),
            [EngineEvent::Response(Response { dropped: 744, .. })]
        ));
        engine.send("AT").expect("idle again");
        assert_eq!(
            engine.feed(b"OK\r\n"),
            [EngineEvent::Response(Response {
                command: "AT".into(),
                info: Vec::new(),
                final_code: Final::Ok,
                dropped: 0,
            })],
            "the next command is paired with its own final"
        );
    }

    #[test]
    fn an_overlong_line_during_a_command_marks_its_answer_incomplete() {
        let mut engine = Engine::default();
        engine.send("AT+CIND=?").expect("idle");
        let mut bytes = b"+CIND: ".to_vec();
        bytes.extend(std::iter::repeat_n(b'(', 10 * 1024 * 1024));
        let mut events = Vec::new();
        for chunk in bytes.chunks(512) {
            events.extend(engine.feed(chunk));
            assert!(engine.held().0 <= crate::at::MAX_LINE);
        }
        events.extend(engine.feed(b"\r\nOK\r\n"));
        assert_eq!(
            events,
            [EngineEvent::Response(Response {
                command: "AT+CIND=?".into(),
                info: Vec::new(),
                final_code: Final::Ok,
                dropped: 1,
            })]
        );
    }
}
