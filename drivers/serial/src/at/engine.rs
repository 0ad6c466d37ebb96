//! One command in flight per port: pairs information text and the final result
//! code with the command, and passes unsolicited codes through whenever they come.

use super::classify::{Final, Line, classify};
use super::framer::Framer;

/// A command's complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The command, as sent.
    pub command: String,
    /// Its information text, line by line.
    pub info: Vec<String>,
    /// How it ended.
    pub final_code: Final,
}

/// What the engine made of the bytes fed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// The command in flight finished.
    Response(Response),
    /// An unsolicited result code.
    Unsolicited(String),
}

/// The engine of one port.
#[derive(Debug, Default)]
pub struct Engine {
    framer: Framer,
    in_flight: Option<(String, Vec<String>)>,
}

impl Engine {
    /// Starts `command` (without `AT`'s terminator); returns the bytes to write.
    /// Refused while another command is in flight: one at a time per port.
    pub fn send(&mut self, command: &str) -> Result<Vec<u8>, String> {
        if let Some((busy, _)) = &self.in_flight {
            return Err(format!("`{busy}` is still in flight"));
        }
        self.in_flight = Some((command.to_owned(), Vec::new()));
        let mut bytes = command.as_bytes().to_vec();
        bytes.push(b'\r');
        Ok(bytes)
    }

    /// The command awaiting its final, if any.
    pub fn in_flight(&self) -> Option<&str> {
        self.in_flight.as_ref().map(|(command, _)| command.as_str())
    }

    /// Gives up on the command in flight (its timeout passed); returns it.
    pub fn abandon(&mut self) -> Option<String> {
        self.in_flight.take().map(|(command, _)| command)
    }

    /// Feeds bytes from the device.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<EngineEvent> {
        let lines = self.framer.feed(bytes);
        lines.iter().filter_map(|line| self.line(line)).collect()
    }

    fn line(&mut self, line: &str) -> Option<EngineEvent> {
        match classify(line, self.in_flight()) {
            Line::Echo => None,
            Line::Info(text) => {
                if let Some((_, info)) = &mut self.in_flight {
                    info.push(text);
                }
                None
            }
            // A final with nothing in flight (a late answer after a timeout) is dropped.
            Line::Final(final_code) => self.in_flight.take().map(|(command, info)| {
                EngineEvent::Response(Response {
                    command,
                    info,
                    final_code,
                })
            }),
            Line::Unsolicited(text) => Some(EngineEvent::Unsolicited(text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                }),
                EngineEvent::Unsolicited("RING".into()),
            ]
        );
        assert!(engine.send("AT").is_ok(), "idle again");
    }
}
