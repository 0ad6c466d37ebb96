//! The system calls behind [`super::check_trusted`]: the effective user on Unix
//! (`geteuid`); on Windows a file's owner and DACL (`GetNamedSecurityInfoW`) and
//! the account this process runs as. Which accounts are trusted is decided by the
//! caller; this module only reads. The SDK's only `unsafe` besides the loader's.

/// The effective user of this process.
#[cfg(unix)]
pub(super) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of
    // ours.
    unsafe { libc::geteuid() }
}

#[cfg(windows)]
pub(super) use windows::{Verdict, own_sid, security_of};

#[cfg(windows)]
mod windows {
    use std::os::windows::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::OnceLock;

    use windows_sys::Win32::Foundation::{
        CloseHandle, ERROR_SUCCESS, GENERIC_ALL, GENERIC_WRITE, HANDLE, LocalFree,
    };
    use windows_sys::Win32::Security::Authorization::{
        ConvertSidToStringSidW, GetNamedSecurityInfoW, SE_FILE_OBJECT,
    };
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, GetAce,
        GetTokenInformation, INHERIT_ONLY_ACE, LookupAccountSidW, OWNER_SECURITY_INFORMATION,
        PSECURITY_DESCRIPTOR, PSID, SID_NAME_USE, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        DELETE, FILE_APPEND_DATA, FILE_DELETE_CHILD, FILE_WRITE_DATA, WRITE_DAC, WRITE_OWNER,
    };
    use windows_sys::Win32::System::SystemServices::{
        ACCESS_ALLOWED_ACE_TYPE, ACCESS_ALLOWED_CALLBACK_ACE_TYPE,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    use crate::trust::Account;

    /// The rights that let an account change what the file (or, for a folder,
    /// what is in it) holds or who may: writing or appending data (adding files
    /// or folders, for a folder), deleting it or its children, changing its DACL
    /// or its owner, and the generic rights that include them.
    const WRITE_RIGHTS: u32 = FILE_WRITE_DATA
        | FILE_APPEND_DATA
        | FILE_DELETE_CHILD
        | DELETE
        | WRITE_DAC
        | WRITE_OWNER
        | GENERIC_WRITE
        | GENERIC_ALL;

    /// What the security descriptor says, judged by the caller's `trusted`.
    pub(crate) enum Verdict {
        Trusted,
        NullDacl,
        WritableBy(Account),
        OwnedBy(Account),
    }

    /// Frees what the system allocated for us with `LocalAlloc`.
    struct LocalMemory(*mut core::ffi::c_void);

    impl Drop for LocalMemory {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: the pointer came from a call that hands its result over
                // to be freed with LocalFree, and is freed only here, once.
                unsafe { LocalFree(self.0) };
            }
        }
    }

    /// A SID in its string form (`S-1-5-32-544`).
    ///
    /// # Safety
    /// `sid` points to a valid SID.
    unsafe fn sid_string(sid: PSID) -> std::io::Result<String> {
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: `sid` is valid (the caller's promise); on success `text` is a
        // NUL-terminated string for us to free with LocalFree.
        if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let _free = LocalMemory(text.cast());
        // SAFETY: `text` is NUL-terminated, so every unit up to the NUL is
        // readable.
        let units = unsafe {
            let len = (0..).take_while(|&i| *text.add(i) != 0).count();
            std::slice::from_raw_parts(text, len)
        };
        Ok(String::from_utf16_lossy(units))
    }

    /// The account `sid` (whose string form is `string`): `DOMAIN\name`, or the
    /// SID itself when the system knows no name.
    ///
    /// # Safety
    /// `sid` points to a valid SID.
    unsafe fn account(sid: PSID, string: String) -> Account {
        let (mut name, mut domain) = ([0u16; 256], [0u16; 256]);
        let (mut name_len, mut domain_len) = (name.len() as u32, domain.len() as u32);
        let mut kind: SID_NAME_USE = 0;
        // SAFETY: the buffers are as long as the lengths say; `sid` is valid (the
        // caller's promise).
        let found = unsafe {
            LookupAccountSidW(
                std::ptr::null(),
                sid,
                name.as_mut_ptr(),
                &mut name_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut kind,
            )
        } != 0;
        let text =
            |buf: &[u16], len: u32| String::from_utf16_lossy(&buf[..(len as usize).min(buf.len())]);
        let name = match (found, text(&name, name_len), text(&domain, domain_len)) {
            (false, _, _) => string.clone(),
            (true, name, domain) if domain.is_empty() => name,
            (true, name, domain) => format!("{domain}\\{name}"),
        };
        Account { name, sid: string }
    }

    /// The SID of the account this process runs as (the service's account under
    /// TAPISRV), read once.
    pub(crate) fn own_sid() -> Option<String> {
        static OWN: OnceLock<Option<String>> = OnceLock::new();
        OWN.get_or_init(|| match read_own_sid() {
            Ok(sid) => Some(sid),
            Err(error) => {
                tracing::warn!("cannot read the account this process runs as: {error}");
                None
            }
        })
        .clone()
    }

    fn read_own_sid() -> std::io::Result<String> {
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: the pseudo-handle of the current process needs no closing;
        // `token` receives a handle we close below.
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        struct Token(HANDLE);
        impl Drop for Token {
            fn drop(&mut self) {
                // SAFETY: an open token handle, closed only here.
                unsafe { CloseHandle(self.0) };
            }
        }
        let token = Token(token);
        // u64s, so the buffer is aligned for TOKEN_USER (which holds a pointer).
        let mut buffer = vec![0u64; 64];
        let mut needed = 0u32;
        loop {
            let size = (buffer.len() * 8) as u32;
            // SAFETY: `buffer` holds `size` writable bytes; `token` is open with
            // TOKEN_QUERY.
            let ok = unsafe {
                GetTokenInformation(
                    token.0,
                    TokenUser,
                    buffer.as_mut_ptr().cast(),
                    size,
                    &mut needed,
                )
            } != 0;
            if ok {
                break;
            }
            if needed <= size {
                return Err(std::io::Error::last_os_error());
            }
            buffer.resize((needed as usize).div_ceil(8), 0);
        }
        // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points
        // into the buffer, which lives until the end of this function.
        unsafe {
            let user = &*buffer.as_ptr().cast::<TOKEN_USER>();
            sid_string(user.User.Sid)
        }
    }

    /// Reads the owner and the DACL of `path` and judges them: the first untrusted
    /// owner or ACE that allows writing, else `Trusted`. ACEs that only pass on to
    /// children (inherit-only) do not apply to `path` itself and are skipped; deny
    /// ACEs are ignored (a writer allowed and then denied is still refused: the
    /// ACL is worth fixing either way).
    pub(crate) fn security_of(
        path: &Path,
        trusted: &dyn Fn(&str) -> bool,
    ) -> std::io::Result<Verdict> {
        let wide: Vec<u16> = path
            .as_os_str()
            .encode_wide()
            .chain(std::iter::once(0))
            .collect();
        let mut owner: PSID = std::ptr::null_mut();
        let mut dacl: *mut ACL = std::ptr::null_mut();
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `wide` is a NUL-terminated path; the out-pointers are valid;
        // `owner` and `dacl` point into `descriptor`, which we free with LocalFree
        // after the last use of either.
        let status = unsafe {
            GetNamedSecurityInfoW(
                wide.as_ptr(),
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                &mut owner,
                std::ptr::null_mut(),
                &mut dacl,
                std::ptr::null_mut(),
                &mut descriptor,
            )
        };
        if status != ERROR_SUCCESS {
            return Err(std::io::Error::from_raw_os_error(status as i32));
        }
        let _free = LocalMemory(descriptor);
        if !owner.is_null() {
            // SAFETY: a SID inside the live descriptor.
            let sid = unsafe { sid_string(owner) }?;
            if !trusted(&sid) {
                // SAFETY: as above.
                return Ok(Verdict::OwnedBy(unsafe { account(owner, sid) }));
            }
        }
        if dacl.is_null() {
            return Ok(Verdict::NullDacl);
        }
        // SAFETY: a DACL inside the live descriptor.
        let count = unsafe { (*dacl).AceCount };
        for index in 0..u32::from(count) {
            let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
            // SAFETY: `index` is below the ACL's count; `ace` receives a pointer
            // into the ACL.
            if unsafe { GetAce(dacl, index, &mut ace) } == 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: every ACE starts with an ACE_HEADER.
            let header = unsafe { ace.cast::<ACE_HEADER>().read_unaligned() };
            let kind = u32::from(header.AceType);
            if u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0
                || (kind != ACCESS_ALLOWED_ACE_TYPE && kind != ACCESS_ALLOWED_CALLBACK_ACE_TYPE)
            {
                continue;
            }
            let allowed = ace.cast::<ACCESS_ALLOWED_ACE>();
            // SAFETY: both allowed types begin with ACCESS_ALLOWED_ACE's layout
            // (header, mask, then the SID in place of SidStart).
            let (mask, sid) = unsafe {
                (
                    std::ptr::addr_of!((*allowed).Mask).read_unaligned(),
                    std::ptr::addr_of!((*allowed).SidStart).cast_mut().cast(),
                )
            };
            if mask & WRITE_RIGHTS == 0 {
                continue;
            }
            // SAFETY: the ACE's SID, inside the live descriptor.
            let string = unsafe { sid_string(sid) }?;
            if !trusted(&string) {
                // SAFETY: as above.
                return Ok(Verdict::WritableBy(unsafe { account(sid, string) }));
            }
        }
        Ok(Verdict::Trusted)
    }
}
