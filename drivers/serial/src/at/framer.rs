//! Bytes to lines: CR or LF ends a line (V1 frames lines as CR LF … CR LF, an echo
//! ends in a bare CR, a V0 final is a digit and CR); empty lines are skipped.

/// Accumulates bytes and yields complete lines.
#[derive(Debug, Default)]
pub struct Framer {
    partial: Vec<u8>,
}

/// The longest line kept; a device that never ends a line cannot grow memory.
const MAX_LINE: usize = 4096;

impl Framer {
    /// Feeds bytes; returns the lines they completed, without terminators.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in bytes {
            match byte {
                b'\r' | b'\n' if !self.partial.is_empty() => {
                    lines.push(String::from_utf8_lossy(&self.partial).into_owned());
                    self.partial.clear();
                }
                b'\r' | b'\n' => {}
                _ if self.partial.len() < MAX_LINE => self.partial.push(byte),
                _ => {}
            }
        }
        lines
    }

    /// What is waiting for its terminator (a prompt such as `> `, or a V0 final
    /// whose CR has not come yet).
    pub fn pending(&self) -> &[u8] {
        &self.partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_v1_v0_and_echo() {
        let mut framer = Framer::default();
        let lines = framer.feed(b"AT+CGMM\r\r\n MULTIBAND  900E  1800 \r\n\r\nOK\r\n");
        assert_eq!(lines, ["AT+CGMM", " MULTIBAND  900E  1800 ", "OK"]);
        assert_eq!(framer.feed(b"+CFUN: 1\r\n0"), ["+CFUN: 1"]);
        assert_eq!(framer.pending(), b"0");
        assert_eq!(framer.feed(b"\r"), ["0"]);
    }
}
