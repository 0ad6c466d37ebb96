//! The Yealink USB-P1K packet protocol (device-protocols §3), without I/O.
//!
//! The P1K family does not speak the Telephony page: the host sends fixed-size
//! packets as SET_REPORT(Output, id 0) and polls for key events. Generation 1
//! (P1K, P4K, B2K, B3G) packets are 16 bytes: `cmd, size, offset (BE16), data[11],
//! sum`; generation 2 (P1KH) packets are 8 bytes: `cmd, data[6], sum`. The sum makes
//! all bytes add up to 0 mod 256. The layouts follow the Linux `yealink.c` driver.

/// USB ids of the family (vendor 0x6993).
pub const VENDOR_ID: u16 = 0x6993;
/// Product ids: P1K and its relatives.
pub const PRODUCT_IDS: [u16; 2] = [0xB001, 0xB700];

/// Whether `vendor`:`product` is a member of the family.
pub fn is_p1k(vendor: u16, product: u16) -> bool {
    vendor == VENDOR_ID && PRODUCT_IDS.contains(&product)
}

/// Size of the LCD segment memory in bytes (0x04 writes offsets 0..23).
pub const LCD_BYTES: usize = 24;

/// Command bytes.
pub mod cmd {
    /// Write ringtone notes.
    pub const RING_NOTE: u8 = 0x02;
    /// Ringer on/off.
    pub const RINGER: u8 = 0x03;
    /// Write LCD segment memory.
    pub const LCD: u8 = 0x04;
    /// The LED.
    pub const LED: u8 = 0x05;
    /// Ring volume.
    pub const RING_VOLUME: u8 = 0x11;
    /// Poll the key-event counter.
    pub const KEY_POLL: u8 = 0x80;
    /// Read a scancode.
    pub const SCANCODE: u8 = 0x81;
    /// Ask the firmware version.
    pub const VERSION: u8 = 0x87;
    /// Initialise.
    pub const INIT: u8 = 0x8E;
    /// The device's answer to a packet it could not take.
    pub const BAD_PACKET: u8 = 0xFD;
}

/// The packet format, chosen from the interrupt IN endpoint's max packet size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// 16-byte packets with size and offset (P1K, P4K, B2K, B3G).
    G1,
    /// 8-byte packets (P1KH).
    G2,
}

impl Generation {
    /// The generation whose packets are `max_packet_size` bytes.
    pub fn from_max_packet_size(max_packet_size: u16) -> Option<Self> {
        match max_packet_size {
            16 => Some(Generation::G1),
            8 => Some(Generation::G2),
            _ => None,
        }
    }

    /// Bytes per packet.
    pub fn packet_len(self) -> usize {
        match self {
            Generation::G1 => 16,
            Generation::G2 => 8,
        }
    }

    /// Data bytes one packet carries.
    pub fn data_len(self) -> usize {
        match self {
            Generation::G1 => 11,
            Generation::G2 => 6,
        }
    }
}

/// Why a packet could not be built or a reply not read.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacketError {
    /// More data than one packet holds.
    #[error("{len} data bytes do not fit one packet (at most {max})")]
    TooLong {
        /// Bytes given.
        len: usize,
        /// Bytes a packet holds.
        max: usize,
    },
    /// Reply of the wrong size.
    #[error("a reply of {got} bytes; this generation's packets are {want}")]
    WrongSize {
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// The bytes do not add up to 0.
    #[error("the reply's checksum is wrong: the packet was damaged")]
    Checksum,
    /// The device refused the previous packet (cmd 0xFD).
    #[error("the device answered \"bad packet\" (0xFD); it may need more time between commands")]
    Refused,
    /// The data does not fit the memory it is written to.
    #[error("{len} bytes at offset {offset} run past the {size}-byte area")]
    OutOfRange {
        /// Start offset.
        offset: usize,
        /// Bytes given.
        len: usize,
        /// Area size.
        size: usize,
    },
    /// A ringtone without a volume byte or without the `00 00` end marker.
    #[error("a ringtone is one volume byte, 4-byte notes and a 00 00 end marker")]
    BadRingtone,
    /// An operation the generation-2 protocol does not document.
    #[error("the P1KH (generation 2) ringtone download is not supported yet")]
    NotOnGeneration2,
}

/// The byte that makes `bytes` plus it sum to 0 mod 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |sum, b| sum.wrapping_add(*b))
        .wrapping_neg()
}

/// One packet: `cmd` with `data`, at `offset` (generation 1 only).
///
/// # Errors
/// [`PacketError::TooLong`] when `data` does not fit.
pub fn packet(
    generation: Generation,
    cmd: u8,
    size: u8,
    offset: u16,
    data: &[u8],
) -> Result<Vec<u8>, PacketError> {
    let max = generation.data_len();
    if data.len() > max {
        return Err(PacketError::TooLong {
            len: data.len(),
            max,
        });
    }
    let mut bytes = vec![0; generation.packet_len()];
    bytes[0] = cmd;
    let start = match generation {
        Generation::G1 => {
            bytes[1] = size;
            bytes[2..4].copy_from_slice(&offset.to_be_bytes());
            4
        }
        Generation::G2 => 1,
    };
    bytes[start..start + data.len()].copy_from_slice(data);
    let last = bytes.len() - 1;
    bytes[last] = checksum(&bytes[..last]);
    Ok(bytes)
}

/// A checked reply: its command byte and data bytes.
///
/// # Errors
/// [`PacketError::WrongSize`], [`PacketError::Checksum`], or
/// [`PacketError::Refused`] for the device's "bad packet".
pub fn reply(generation: Generation, bytes: &[u8]) -> Result<(u8, &[u8]), PacketError> {
    let want = generation.packet_len();
    if bytes.len() != want {
        return Err(PacketError::WrongSize {
            got: bytes.len(),
            want,
        });
    }
    if checksum(bytes) != 0 {
        return Err(PacketError::Checksum);
    }
    if bytes[0] == cmd::BAD_PACKET {
        return Err(PacketError::Refused);
    }
    let data = match generation {
        Generation::G1 => &bytes[4..15],
        Generation::G2 => &bytes[1..7],
    };
    Ok((bytes[0], data))
}

/// The packets that write `data` into the LCD segment memory at `offset`, in
/// chunks of at most 11 bytes, each with its own offset (generation 1).
///
/// # Errors
/// [`PacketError::OutOfRange`] past the 24 bytes of segment memory.
pub fn lcd_write(offset: usize, data: &[u8]) -> Result<Vec<Vec<u8>>, PacketError> {
    if offset
        .checked_add(data.len())
        .is_none_or(|end| end > LCD_BYTES)
    {
        return Err(PacketError::OutOfRange {
            offset,
            len: data.len(),
            size: LCD_BYTES,
        });
    }
    chunks(cmd::LCD, offset, data)
}

/// The packets that download a ringtone buffer (1 volume byte, 4-byte notes, the
/// `00 00` end marker, as `SetData` receives it): the volume with 0x11, then the
/// notes with 0x02 in chunks of at most 11 bytes, offset = byte index in the notes.
///
/// # Errors
/// [`PacketError::BadRingtone`] for a buffer without a volume byte or end marker;
/// [`PacketError::NotOnGeneration2`] on a P1KH.
pub fn ringtone(generation: Generation, buffer: &[u8]) -> Result<Vec<Vec<u8>>, PacketError> {
    if generation == Generation::G2 {
        return Err(PacketError::NotOnGeneration2);
    }
    let [volume, notes @ ..] = buffer else {
        return Err(PacketError::BadRingtone);
    };
    if notes.len() < 2 || !notes.ends_with(&[0, 0]) || (notes.len() - 2) % 4 != 0 {
        return Err(PacketError::BadRingtone);
    }
    let mut packets = vec![packet(Generation::G1, cmd::RING_VOLUME, 1, 0, &[*volume])?];
    packets.extend(chunks(cmd::RING_NOTE, 0, notes)?);
    Ok(packets)
}

fn chunks(cmd: u8, offset: usize, data: &[u8]) -> Result<Vec<Vec<u8>>, PacketError> {
    data.chunks(Generation::G1.data_len())
        .enumerate()
        .map(|(i, chunk)| {
            let out_of_range = || PacketError::OutOfRange {
                offset,
                len: data.len(),
                size: usize::from(u16::MAX),
            };
            let at = i
                .checked_mul(Generation::G1.data_len())
                .and_then(|start| offset.checked_add(start))
                .and_then(|at| u16::try_from(at).ok())
                .ok_or_else(out_of_range)?;
            // A chunk is at most 11 bytes.
            let size = u8::try_from(chunk.len()).map_err(|_| PacketError::TooLong {
                len: chunk.len(),
                max: Generation::G1.data_len(),
            })?;
            packet(Generation::G1, cmd, size, at, chunk)
        })
        .collect()
}

/// The model a generation-1 version reply names.
pub fn model_of_version(version: u16) -> Option<&'static str> {
    match version {
        0x0100..=0x01FF => Some("P1K"),
        0x0230..=0x02FF => Some("P4K"),
        0x0520..=0x053F | 0x0570..=0x058F => Some("B2K"),
        0x0540..=0x056F => Some("B3G"),
        _ => None,
    }
}

/// What a P1K key is, from its scancode (0xFF = no key).
pub fn p1k_key(scancode: u8) -> Option<&'static str> {
    Some(match scancode {
        0x00 => "1",
        0x01 => "2",
        0x02 => "3",
        0x03 => "pickup",
        0x04 => "out",
        0x10 => "4",
        0x11 => "5",
        0x12 => "6",
        0x13 => "hangup",
        0x14 => "C",
        0x20 => "7",
        0x21 => "8",
        0x22 => "9",
        0x23 => "in",
        0x24 => "down",
        0x30 => "*",
        0x31 => "0",
        0x32 => "#",
        0x33 => "up",
        _ => return None,
    })
}
