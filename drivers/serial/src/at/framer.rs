//! Bytes to lines: CR or LF ends a line (V1 frames lines as CR LF … CR LF, an echo
//! ends in a bare CR, a V0 final is a digit and CR); empty lines are skipped.
//!
//! What a device sends is untrusted, so the framer's memory is bounded:
//!
//! - A line longer than [`MAX_LINE`] bytes (4 KiB; the longest answer in the real
//!   transcripts is 260 bytes, and no 27.007 answer the driver asks for is near
//!   the limit) is discarded whole, not cut: its first 4 KiB would be a line the
//!   device never sent. The framer keeps nothing of it past the limit, skips the
//!   rest up to its line end, and yields [`Frame::Overlong`] in its place so that
//!   a command in flight can say its answer is incomplete. One `warn` is logged
//!   per run of overlong lines (a device streaming garbage with the odd CR logs
//!   once, again only after a good line came in between).
//! - NUL bytes are dropped: V.250 text has none, and no framed line can then
//!   look like the port's in-band marker ([`crate::port::GONE`]).

/// The longest line kept, in bytes. Longer lines are discarded (see the module
/// docs): a device that never ends a line costs at most this much.
pub const MAX_LINE: usize = 4096;

/// What the framer made of the bytes fed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its terminator. Bytes that are not UTF-8 become
    /// U+FFFD.
    Line(String),
    /// A line longer than [`MAX_LINE`] ended here and was discarded.
    Overlong,
}

/// Accumulates bytes and yields complete lines.
#[derive(Debug, Default)]
pub struct Framer {
    /// The line so far; never longer than [`MAX_LINE`].
    partial: Vec<u8>,
    /// Skipping an overlong line up to its terminator.
    discarding: bool,
    /// The last line ended overlong: the next overlong one is not logged again.
    in_overlong_run: bool,
}

impl Framer {
    /// Feeds bytes; returns the lines they completed, in order, and an
    /// [`Frame::Overlong`] for each overlong line they ended.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        for &byte in bytes {
            match byte {
                b'\r' | b'\n' if self.discarding => {
                    self.discarding = false;
                    frames.push(Frame::Overlong);
                }
                b'\r' | b'\n' if !self.partial.is_empty() => {
                    frames.push(Frame::Line(
                        String::from_utf8_lossy(&self.partial).into_owned(),
                    ));
                    self.partial.clear();
                    self.in_overlong_run = false;
                }
                b'\r' | b'\n' | 0 => {}
                _ if self.discarding => {}
                _ if self.partial.len() < MAX_LINE => self.partial.push(byte),
                _ => {
                    if !self.in_overlong_run {
                        tracing::warn!(
                            limit = MAX_LINE,
                            "the device sent a line longer than {MAX_LINE} bytes; discarding it \
                             (and any more in a row): check the port's baud rate and that it is \
                             the device's AT port"
                        );
                    }
                    self.in_overlong_run = true;
                    self.discarding = true;
                    self.partial.clear();
                }
            }
        }
        frames
    }

    /// What is waiting for its terminator (a prompt such as `> `, or a V0 final
    /// whose CR has not come yet). Never longer than [`MAX_LINE`]; empty while an
    /// overlong line is being skipped.
    pub fn pending(&self) -> &[u8] {
        &self.partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_log::warnings;

    fn line(text: &str) -> Frame {
        Frame::Line(text.to_owned())
    }

    #[test]
    fn frames_v1_v0_and_echo() {
        let mut framer = Framer::default();
        let lines = framer.feed(b"AT+CGMM\r\r\n MULTIBAND  900E  1800 \r\n\r\nOK\r\n");
        assert_eq!(
            lines,
            [line("AT+CGMM"), line(" MULTIBAND  900E  1800 "), line("OK")]
        );
        assert_eq!(framer.feed(b"+CFUN: 1\r\n0"), [line("+CFUN: 1")]);
        assert_eq!(framer.pending(), b"0");
        assert_eq!(framer.feed(b"\r"), [line("0")]);
    }

    #[test]
    fn a_line_that_never_ends_costs_bounded_memory_and_is_discarded_not_cut() {
        let mut framer = Framer::default();
        let garbage = vec![b'A'; 10 * 1024 * 1024];
        for chunk in garbage.chunks(512) {
            assert!(framer.feed(chunk).is_empty());
            assert!(
                framer.pending().len() <= MAX_LINE,
                "{}",
                framer.pending().len()
            );
        }
        assert_eq!(
            framer.feed(b"\r\nOK\r\n"),
            [Frame::Overlong, line("OK")],
            "the overlong line is dropped whole: its first 4 KiB are not a line"
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_kept() {
        let mut framer = Framer::default();
        let mut bytes = vec![b'7'; MAX_LINE];
        bytes.push(b'\r');
        assert_eq!(
            framer.feed(&bytes),
            [line(&"7".repeat(MAX_LINE))],
            "one byte more would be overlong"
        );
    }

    #[test]
    fn overlong_lines_are_reported_once_per_run() {
        let mut framer = Framer::default();
        let mut garbage = Vec::new();
        for _ in 0..100 {
            garbage.extend(std::iter::repeat_n(b'x', MAX_LINE + 1));
            garbage.push(b'\r');
        }
        let (frames, logged) = warnings(|| framer.feed(&garbage));
        assert_eq!(frames, vec![Frame::Overlong; 100]);
        assert_eq!(logged, 1, "one line for the run, not one per line");
        let (frames, logged) = warnings(|| {
            let mut frames = framer.feed(b"OK\r");
            frames.extend(framer.feed(&garbage[..MAX_LINE + 2]));
            frames
        });
        assert_eq!(frames, [line("OK"), Frame::Overlong]);
        assert_eq!(logged, 1, "a new run after a good line is reported again");
    }

    #[test]
    fn nul_bytes_are_dropped() {
        let mut framer = Framer::default();
        assert_eq!(
            framer.feed(b"\0port gone\r\n\0\r\n"),
            [line("port gone")],
            "no framed line can be the port's in-band marker"
        );
    }
}
