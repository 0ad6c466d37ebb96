//! The messages between the host's proxy and `tsp-driver-host`, and their
//! framing: a little-endian `u32` length, then the message in postcard.
//!
//! The two programs ship together, so the protocol has one version at a time:
//! the host says its version in [`ToChild::Hello`] and a driver host of another
//! version refuses to start, naming both (an installation mixing two releases).
//! Messages are plain data: what the ABI carries (PHONECAPS bytes, codes),
//! never a pointer.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The version both sides must speak.
pub(crate) const VERSION: u32 = 1;

/// The largest frame either side accepts. A SetData's data is the largest
/// thing that crosses; TAPI gives no bound, this one keeps a broken peer from
/// making the other allocate without limit.
pub(crate) const MAX_FRAME: usize = 16 << 20;

/// From the host to the driver host.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToChild {
    /// The first message: the protocol version, the driver's settings (TOML
    /// text) and the most verbose log level to forward (0 off … 5 trace).
    Hello {
        version: u32,
        settings: String,
        log_level: u8,
    },
    /// Answered with [`FromChild::Pong`] at once, by the thread that reads.
    Ping {
        seq: u64,
    },
    Devices {
        call: u64,
    },
    Caps {
        call: u64,
        key: String,
    },
    Open {
        call: u64,
        key: String,
        session: u64,
    },
    Close {
        call: u64,
        session: u64,
    },
    Cancel {
        session: u64,
    },
    /// An asynchronous request: its result comes as [`FromChild::Complete`].
    Async {
        session: u64,
        token: u64,
        op: AsyncOp,
    },
    /// A synchronous call: its result comes as [`FromChild::Reply`].
    Sync {
        call: u64,
        session: u64,
        op: SyncOp,
    },
    /// Stop the driver and exit, as at the end of the input (which is how
    /// the host says it: it closes the pipe).
    Shutdown,
}

/// The asynchronous session operations, with their arguments as the ABI has them.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum AsyncOp {
    SetData { data_id: u32, data: Vec<u8> },
    SetDisplay { row: u32, column: u32, text: String },
    SetHookswitch { devices: u32, mode: u32 },
    SetRing { mode: u32, volume: u32 },
    SetLamp { id: u32, mode: u32 },
    SetVolume { device: u32, volume: u32 },
    SetGain { device: u32, gain: u32 },
    SetButtonInfo { id: u32, info: Vec<u8> },
    DevSpecific { params: Vec<u8> },
}

/// The synchronous session operations.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum SyncOp {
    Data { data_id: u32, len: u32 },
    Display,
    Hookswitch,
    Ring,
    Lamp { id: u32 },
    Volume { device: u32 },
    Gain { device: u32 },
    ButtonInfo { id: u32 },
    Status,
}

/// A synchronous call's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Answer {
    Unit,
    Number(u32),
    Pair(u32, u32),
    Bytes(Vec<u8>),
    Text(String),
    /// Keys and PHONECAPS bytes.
    Devices(Vec<(String, Vec<u8>)>),
}

/// A driver's error: a `PHONEERR_*` code and words.
pub(crate) type Refusal = (u32, String);

/// From the driver host to the host.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromChild {
    /// The driver started.
    Ready {
        version: u32,
        name: String,
        concurrent: bool,
    },
    /// The driver did not start (or the versions differ); the process exits.
    Refused {
        code: u32,
        message: String,
    },
    /// `busy_ms`: how long the driver call under way has run (0: none is).
    Pong {
        seq: u64,
        busy_ms: u64,
    },
    Reply {
        call: u64,
        result: Result<Answer, Refusal>,
    },
    Complete {
        token: u64,
        result: u32,
    },
    PhoneEvent {
        session: u64,
        kind: u32,
        params: [u32; 3],
    },
    DriverEvent {
        kind: u32,
        key: String,
        caps: Vec<u8>,
    },
    Log {
        level: u8,
        target: String,
        message: String,
    },
}

/// Writes frames into `out`, reusing one buffer.
#[derive(Debug)]
pub(crate) struct FrameWriter<W> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        Self {
            out,
            buf: Vec::with_capacity(256),
        }
    }

    /// Writes one message and flushes it.
    pub(crate) fn send(&mut self, message: &impl Serialize) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        let buf = std::mem::take(&mut self.buf);
        let mut buf = postcard::to_extend(message, buf).map_err(invalid)?;
        let len = buf.len() - 4;
        if len > MAX_FRAME {
            self.buf = buf;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a message of {len} bytes is over the {MAX_FRAME}-byte limit"),
            ));
        }
        buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
        let written = self.out.write_all(&buf).and_then(|()| self.out.flush());
        self.buf = buf;
        written
    }
}

/// Reads one message; `None` at the end of the stream between messages.
pub(crate) fn receive<T: DeserializeOwned>(
    input: &mut impl Read,
    buf: &mut Vec<u8>,
) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is over the {MAX_FRAME}-byte limit"),
        ));
    }
    buf.resize(len, 0);
    input.read_exact(buf)?;
    postcard::from_bytes(buf).map(Some).map_err(invalid)
}

fn invalid(error: postcard::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_comes_back_as_it_went() {
        let mut writer = FrameWriter::new(Vec::new());
        let op = AsyncOp::SetData {
            data_id: 2,
            data: vec![1, 2, 3],
        };
        writer
            .send(&ToChild::Async {
                session: 7,
                token: u64::MAX,
                op,
            })
            .expect("written");
        writer
            .send(&ToChild::Cancel { session: 1 })
            .expect("written");
        let mut input = &writer.out[..];
        let mut buf = Vec::new();
        match receive::<ToChild>(&mut input, &mut buf) {
            Ok(Some(ToChild::Async {
                session: 7,
                token: u64::MAX,
                op: AsyncOp::SetData { data_id: 2, data },
            })) => assert_eq!(data, [1, 2, 3]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            receive::<ToChild>(&mut input, &mut buf),
            Ok(Some(ToChild::Cancel { session: 1 }))
        ));
        assert!(matches!(receive::<ToChild>(&mut input, &mut buf), Ok(None)));
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_before_it_is_read() {
        let mut input = &((MAX_FRAME as u32) + 1).to_le_bytes()[..];
        let error = receive::<ToChild>(&mut input, &mut Vec::new()).expect_err("refused");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_cut_frame_and_garbage_are_errors_not_messages() {
        let mut cut = &[5u8, 0, 0, 0, 1][..];
        assert!(receive::<ToChild>(&mut cut, &mut Vec::new()).is_err());
        let mut garbage = &[1u8, 0, 0, 0, 0xff][..];
        assert!(receive::<ToChild>(&mut garbage, &mut Vec::new()).is_err());
    }
}
