//! What TAPI passes by pointer, made into checked slices and values: sizes,
//! variable-size structures in and out, byte buffers, DWORD results, wide
//! strings. Each function's `# Safety` says what the caller vouches for.

use std::ffi::c_void;

use tsp_core::PhoneError;

/// A size TAPI passed, as a slice length. TAPI guarantees that `dwSize` (or
/// `dwTotalSize`) bytes are really there, so any `DWORD` is a length on a 64-bit
/// target; where `usize` is narrower, or the size is past what one allocation may
/// span (`isize::MAX`), it cannot describe a real buffer: `INVALPARAM`.
pub(super) fn length(size: u32) -> Result<usize, PhoneError> {
    usize::try_from(size)
        .ok()
        .filter(|&len| isize::try_from(len).is_ok())
        .ok_or(PhoneError::InvalParam)
}

/// Reads `dwTotalSize` (offset 0) of a structure TAPI passed.
///
/// # Safety
/// `ptr` is non-null and points to at least 4 readable bytes.
pub(super) unsafe fn total_size(ptr: *const u8) -> u32 {
    // SAFETY: the caller promises 4 readable bytes; the read is unaligned-safe.
    unsafe { std::ptr::read_unaligned(ptr.cast::<u32>()) }
}

/// A TAPI variable-size structure TAPI passes out (the provider fills it), as a
/// byte slice of exactly its `dwTotalSize`: nothing past it is ever written. A
/// `dwTotalSize` below the fixed part is the writer's `STRUCTURETOOSMALL`.
///
/// # Safety
/// `ptr` is null or points to `dwTotalSize` writable bytes (at least 4), as TAPI
/// guarantees for the structures it passes.
pub(super) unsafe fn var_struct<'a>(ptr: *mut u8) -> Result<&'a mut [u8], PhoneError> {
    if ptr.is_null() {
        return Err(PhoneError::InvalPointer);
    }
    // SAFETY: non-null; the caller promises at least 4 readable bytes.
    let total = length(unsafe { total_size(ptr) })?;
    // SAFETY: the caller promises `dwTotalSize` writable bytes at `ptr`, and
    // `length` keeps it within one allocation's span.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, total) })
}

/// A variable member of a structure TAPI passes in: the offsets of its
/// `dwXxxSize` and `dwXxxOffset` fields.
pub(super) struct Member {
    pub(super) size_at: usize,
    pub(super) offset_at: usize,
}

/// A TAPI variable-size structure passed in for reading only, as a byte slice of
/// exactly its `dwTotalSize`, with every variable member checked to lie inside it.
///
/// `dwTotalSize` below `fixed` is `STRUCTURETOOSMALL` (what TAPI's own
/// `phoneSetButtonInfo` answers for it; the TSPI page lists no code for a bad
/// structure, since TAPI checks it first, so the provider answers as TAPI does).
/// A member whose `dwXxxOffset + dwXxxSize` overflows a `DWORD` or ends past
/// `dwTotalSize` is `INVALPARAM`: nothing of it is read, nor is the request
/// accepted without it. The tolerant readings (reference §4.1 rule 4): a size of
/// 0 is "no member" whatever its offset, and a member anywhere inside
/// `dwTotalSize` is taken as it is, also one overlapping the fixed part (TAPI's
/// client refuses that before it reaches a provider; reading it is harmless).
///
/// # Safety
/// `ptr` is null or points to `dwTotalSize` readable bytes (at least 4).
pub(super) unsafe fn in_struct<'a>(
    ptr: *const u8,
    fixed: usize,
    members: &[Member],
) -> Result<&'a [u8], PhoneError> {
    if ptr.is_null() {
        return Err(PhoneError::InvalPointer);
    }
    // SAFETY: non-null; the caller promises at least 4 readable bytes.
    let total = length(unsafe { total_size(ptr) })?;
    if total < fixed {
        return Err(PhoneError::StructureTooSmall);
    }
    // SAFETY: the caller promises `dwTotalSize` readable bytes at `ptr`, and
    // `length` keeps it within one allocation's span.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, total) };
    let dword = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(PhoneError::StructureTooSmall)
    };
    for member in members {
        let size = dword(member.size_at)?;
        if size == 0 {
            continue;
        }
        let offset = dword(member.offset_at)?;
        let end = offset.checked_add(size).ok_or(PhoneError::InvalParam)?;
        if length(end)? > total {
            return Err(PhoneError::InvalParam);
        }
    }
    Ok(bytes)
}

/// `dwSize` bytes TAPI passes in at `ptr`: empty for a size of 0 (whatever the
/// pointer), `INVALPOINTER` for null with a size.
///
/// # Safety
/// `ptr` is null or points to `size` readable bytes that stay valid, unchanged,
/// for `'a`.
pub(super) unsafe fn in_bytes<'a>(ptr: *const c_void, size: u32) -> Result<&'a [u8], PhoneError> {
    if size == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(PhoneError::InvalPointer);
    }
    let len = length(size)?;
    // SAFETY: non-null; the caller promises `size` readable bytes, and `length`
    // keeps them within one allocation's span.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// `dwSize` writable bytes TAPI passes at `ptr`: empty for a size of 0,
/// `INVALPOINTER` for null with a size.
///
/// # Safety
/// `ptr` is null or points to `size` writable bytes, not otherwise used for `'a`.
pub(super) unsafe fn out_bytes<'a>(
    ptr: *mut c_void,
    size: u32,
) -> Result<&'a mut [u8], PhoneError> {
    if size == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(PhoneError::InvalPointer);
    }
    let len = length(size)?;
    // SAFETY: non-null; the caller promises `size` writable bytes, and `length`
    // keeps them within one allocation's span.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) })
}

/// Writes a DWORD result, or answers `INVALPOINTER` for a null pointer.
///
/// # Safety
/// `out` is null or a writable DWORD.
pub(super) unsafe fn write_dword(out: *mut u32, result: Result<u32, PhoneError>) -> i32 {
    if out.is_null() {
        return PhoneError::InvalPointer.to_long();
    }
    match result {
        Ok(value) => {
            // SAFETY: checked non-null; the caller promises a writable DWORD.
            unsafe { out.write_unaligned(value) };
            0
        }
        Err(error) => error.to_long(),
    }
}

/// The longest `LPCWSTR` device class read (a class name is a few words).
pub(super) const MAX_CLASS_UNITS: usize = 1024;

/// Reads a NUL-terminated UTF-16 string TAPI passed; `None` when null, too long
/// or not valid UTF-16.
///
/// # Safety
/// `ptr` is null or a NUL-terminated UTF-16 string.
pub(super) unsafe fn wide_string(ptr: *const u16) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    let mut units = Vec::new();
    for i in 0..MAX_CLASS_UNITS {
        // SAFETY: the string is NUL-terminated and we stop at the NUL.
        let unit = unsafe { ptr.add(i).read_unaligned() };
        if unit == 0 {
            return String::from_utf16(&units).ok();
        }
        units.push(unit);
    }
    None
}
