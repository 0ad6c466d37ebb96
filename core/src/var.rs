//! TAPI's variable-size structures (reference §4.1): a writer that follows the
//! provider-side rules, and a bounds-checked reader.
//!
//! A structure is a fixed part of `DWORD`s that begins `dwTotalSize, dwNeededSize,
//! dwUsedSize`, followed by a variable area that `dwXxxSize`/`dwXxxOffset` pairs point
//! into. Values are little-endian, as on every Windows target.

use crate::error::PhoneError;

const TOTAL_SIZE_AT: usize = 0;
const NEEDED_SIZE_AT: usize = 4;
const USED_SIZE_AT: usize = 8;

/// What a write put into a structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// `dwUsedSize`: fixed part plus the variable members actually copied.
    pub used: u32,
    /// `dwNeededSize`: fixed part plus every variable member, copied or not.
    pub needed: u32,
}

impl Written {
    /// Whether every variable member fitted (TAPI stops re-asking when this holds).
    pub const fn is_complete(&self) -> bool {
        self.used == self.needed
    }
}

/// Writes one variable-size structure into a buffer TAPI handed over.
///
/// The rules it keeps (reference §4.1): `dwTotalSize` is never written; a buffer
/// smaller than the fixed part is refused with `STRUCTURETOOSMALL`; fixed members
/// that do not exist in the negotiated version's fixed part are skipped; variable
/// members go right after the fixed part, one after the other, and a member that does
/// not fit whole is left out with size and offset 0; `dwUsedSize` and `dwNeededSize`
/// are written by [`VarWriter::finish`].
#[derive(Debug)]
pub struct VarWriter<'a> {
    buf: &'a mut [u8],
    fixed: usize,
    used: usize,
    needed: usize,
}

impl<'a> VarWriter<'a> {
    /// Starts writing a structure whose fixed part is `fixed` bytes into `buf`, the
    /// whole structure as TAPI sized it (`dwTotalSize` bytes).
    pub fn new(buf: &'a mut [u8], fixed: usize) -> Result<Self, PhoneError> {
        debug_assert!(
            fixed >= USED_SIZE_AT + 4,
            "a fixed part holds the three sizes"
        );
        if buf.len() < fixed {
            return Err(PhoneError::StructureTooSmall);
        }
        // dwTotalSize is a DWORD: a longer slice cannot come from TAPI, and what lies
        // past 4 GiB could never be addressed by an offset anyway.
        let len = buf.len().min(u32::MAX as usize);
        Ok(Self {
            buf: &mut buf[..len],
            fixed,
            used: fixed,
            needed: fixed,
        })
    }

    /// The size of the fixed part this writer was started with.
    pub fn fixed_size(&self) -> usize {
        self.fixed
    }

    /// Whether a fixed member at `offset` of `len` bytes exists in this version.
    fn in_fixed_part(&self, offset: usize, len: usize) -> bool {
        offset >= USED_SIZE_AT + 4 && offset + len <= self.fixed
    }

    /// Writes a fixed `DWORD` member; does nothing when the member lies past the
    /// fixed part of the negotiated version.
    pub fn put_u32(&mut self, offset: usize, value: u32) {
        self.put_bytes(offset, &value.to_le_bytes());
    }

    /// Writes fixed bytes (a `GUID`); does nothing past the fixed part.
    pub fn put_bytes(&mut self, offset: usize, bytes: &[u8]) {
        if self.in_fixed_part(offset, bytes.len()) {
            self.buf[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
    }

    /// Places a variable member and writes its size/offset pair (at `size_at` and
    /// `offset_at` in the fixed part). An empty member, or one that does not fit
    /// whole, gets size and offset 0; a member whose pair lies past this version's
    /// fixed part is not part of the structure at all and is not counted.
    pub fn put_member(&mut self, size_at: usize, offset_at: usize, bytes: &[u8]) {
        if !self.in_fixed_part(size_at, 4) || !self.in_fixed_part(offset_at, 4) {
            return;
        }
        self.needed = self.needed.saturating_add(bytes.len());
        let fits = self.used + bytes.len() <= self.buf.len();
        let (size, offset) = if bytes.is_empty() || !fits {
            (0, 0)
        } else {
            let at = self.used;
            self.buf[at..at + bytes.len()].copy_from_slice(bytes);
            self.used += bytes.len();
            (bytes.len(), at)
        };
        self.put_u32(size_at, size as u32);
        self.put_u32(offset_at, offset as u32);
    }

    /// Places a string member as UTF-16 with its terminator; an empty string is no
    /// member at all (size and offset 0), the way TAPI reads "no string".
    pub fn put_text(&mut self, size_at: usize, offset_at: usize, text: &str) {
        let bytes = if text.is_empty() {
            Vec::new()
        } else {
            utf16z(text)
        };
        self.put_member(size_at, offset_at, &bytes);
    }

    /// Writes `dwNeededSize` and `dwUsedSize` and says what was written.
    pub fn finish(self) -> Written {
        let needed = u32::try_from(self.needed).unwrap_or(u32::MAX);
        let used = self.used as u32;
        self.buf[NEEDED_SIZE_AT..NEEDED_SIZE_AT + 4].copy_from_slice(&needed.to_le_bytes());
        self.buf[USED_SIZE_AT..USED_SIZE_AT + 4].copy_from_slice(&used.to_le_bytes());
        Written { used, needed }
    }
}

/// Reads a variable-size structure, checking every offset against `dwTotalSize` and
/// the buffer. For tools and tests that look at what a provider wrote, and for
/// structures TAPI passes in.
#[derive(Debug, Clone, Copy)]
pub struct VarReader<'a> {
    buf: &'a [u8],
}

impl<'a> VarReader<'a> {
    /// Reads from `buf`, limited to the structure's `dwTotalSize` when that is smaller.
    pub fn new(buf: &'a [u8]) -> Self {
        let total = read_u32(buf, TOTAL_SIZE_AT).map_or(buf.len(), |t| t as usize);
        Self {
            buf: &buf[..total.min(buf.len())],
        }
    }

    /// `dwTotalSize`.
    pub fn total_size(&self) -> Option<u32> {
        self.u32_at(TOTAL_SIZE_AT)
    }

    /// `dwNeededSize`.
    pub fn needed_size(&self) -> Option<u32> {
        self.u32_at(NEEDED_SIZE_AT)
    }

    /// `dwUsedSize`.
    pub fn used_size(&self) -> Option<u32> {
        self.u32_at(USED_SIZE_AT)
    }

    /// The `DWORD` at `offset`, or `None` past the structure.
    pub fn u32_at(&self, offset: usize) -> Option<u32> {
        read_u32(self.buf, offset)
    }

    /// The variable member whose size/offset pair is at `size_at`/`offset_at`,
    /// strictly, for a structure TAPI passes in: `Ok(None)` when its size is 0
    /// (no member, whatever the offset), `Err(())` when the pair is missing or the
    /// member lies outside the structure (or its end overflows).
    #[allow(clippy::result_unit_err)]
    pub fn member_in(&self, size_at: usize, offset_at: usize) -> Result<Option<&'a [u8]>, ()> {
        let size = self.u32_at(size_at).ok_or(())? as usize;
        let offset = self.u32_at(offset_at).ok_or(())? as usize;
        if size == 0 {
            return Ok(None);
        }
        let end = offset.checked_add(size).ok_or(())?;
        self.buf.get(offset..end).map(Some).ok_or(())
    }

    /// The variable member whose size/offset pair is at `size_at`/`offset_at`:
    /// `None` when its size is 0 or it lies outside the structure.
    pub fn member(&self, size_at: usize, offset_at: usize) -> Option<&'a [u8]> {
        let size = self.u32_at(size_at)? as usize;
        let offset = self.u32_at(offset_at)? as usize;
        if size == 0 {
            return None;
        }
        self.buf.get(offset..offset.checked_add(size)?)
    }
}

/// A zeroed buffer of `total` bytes with `dwTotalSize` set, the way an application
/// hands one to TAPI (for tools and tests that play TAPI's part).
pub fn sized_buffer(total: u32) -> Vec<u8> {
    let mut buf = vec![0u8; total as usize];
    if let Some(head) = buf.get_mut(TOTAL_SIZE_AT..TOTAL_SIZE_AT + 4) {
        head.copy_from_slice(&total.to_le_bytes());
    }
    buf
}

fn read_u32(buf: &[u8], offset: usize) -> Option<u32> {
    let bytes = buf.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Encodes `text` as UTF-16LE with a terminating NUL, the way TSPI 2.x strings are
/// stored (the size counts the terminator).
pub fn utf16z(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// Encodes a list of strings as TAPI's NUL-separated list ending in an extra NUL
/// (PHONECAPS device classes). An empty list encodes to nothing.
pub fn utf16z_list<S: AsRef<str>>(items: &[S]) -> Vec<u8> {
    if items.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<u8> = items.iter().flat_map(|s| utf16z(s.as_ref())).collect();
    out.extend_from_slice(&[0, 0]);
    out
}

/// Decodes UTF-16LE up to the first NUL. `None` for an odd length or unpaired
/// surrogates.
pub fn from_utf16z(bytes: &[u8]) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0);
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// Decodes TAPI's NUL-separated string list.
pub fn from_utf16z_list(bytes: &[u8]) -> Option<Vec<String>> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    units
        .split(|&u| u == 0)
        .take_while(|s| !s.is_empty())
        .map(|s| String::from_utf16(s).ok())
        .collect()
}

/// Encodes `DWORD`s as TAPI stores arrays (button modes, data area sizes).
pub fn dwords(values: impl IntoIterator<Item = u32>) -> Vec<u8> {
    values.into_iter().flat_map(u32::to_le_bytes).collect()
}

/// Decodes a `DWORD` array; a trailing partial `DWORD` is ignored.
pub fn from_dwords(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
