//! Whether a file on disk may be trusted: only its owner, root (Administrators,
//! SYSTEM) or the account tsp-rs runs as may have written it.
//!
//! Plugin libraries, their manifests, the drivers folder and the configuration
//! file all decide what code runs in the host's process, so one another user
//! could have written is refused, with a message naming the file and the command
//! that fixes it. Everything is checked before a library is loaded: `dlopen`
//! (`LoadLibraryExW`) runs a library's initialisers, so refusing afterwards would
//! not stop its code.
//!
//! - **Unix:** the file (the folder) must not be writable by its group or by
//!   others (`mode & 0o022`), and must be owned by root or by the effective user
//!   of this process.
//! - **Windows:** no ACE of its DACL may allow writing (write data, append,
//!   delete, change permissions or owner, generic write or all) to anyone but
//!   BUILTIN\Administrators, LocalSystem, TrustedInstaller or the account this
//!   process runs as (the service's account, under TAPISRV), and its owner must be
//!   one of those. A NULL DACL (everyone may do anything) is refused.
//!
//! A symlink is judged by the file it resolves to, and the refusal says so.

use std::fmt;
use std::path::{Path, PathBuf};

mod sys;

/// What a checked path is, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A driver plugin's library.
    PluginLibrary,
    /// A driver plugin's manifest (`NAME.toml`).
    PluginManifest,
    /// The folder holding the plugins (`drivers/`).
    DriversFolder,
    /// The host's configuration file (`tsp-rs.toml`).
    Configuration,
    /// The program isolated drivers run in (`tsp-driver-host`).
    DriverHost,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PluginLibrary => "plugin library",
            Self::PluginManifest => "plugin manifest",
            Self::DriversFolder => "drivers folder",
            Self::Configuration => "configuration file",
            Self::DriverHost => "driver host program",
        })
    }
}

/// Why a path is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Its owner and permissions cannot be read (it is missing, or not ours to
    /// look at).
    Unreadable {
        /// The system's words.
        message: String,
    },
    /// Unix: writable by its group or by others.
    Writable {
        /// Its permission bits.
        mode: u32,
    },
    /// Unix: owned by someone other than root or this process's user.
    Owner {
        /// Its owner.
        uid: u32,
        /// The effective user of this process.
        euid: u32,
    },
    /// Windows: a NULL DACL, which lets everyone do anything.
    NullDacl,
    /// Windows: an account other than the trusted ones may write to it.
    WritableBy(Box<Account>),
    /// Windows: owned by an account other than the trusted ones.
    OwnedBy(Box<Account>),
}

/// A Windows account, as a refusal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its name (`BUILTIN\Users`), or its SID when the system knows no name.
    pub name: String,
    /// Its SID (`S-1-5-32-545`).
    pub sid: String,
}

/// A path another user could have written: what it is, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing {what} {}{}: {}", path.display(), symlink_note(self), self.reason())]
pub struct UntrustedError {
    /// What the path is.
    pub what: Kind,
    /// The path as given.
    pub path: PathBuf,
    /// When `path` is a symlink: the file it resolves to, which is what was
    /// checked.
    pub target: Option<PathBuf>,
    /// What is wrong.
    pub problem: Problem,
}

fn symlink_note(error: &UntrustedError) -> String {
    match &error.target {
        Some(target) => format!(
            " (a symlink to {}, which is what was checked)",
            target.display()
        ),
        None => String::new(),
    }
}

impl UntrustedError {
    /// The file that was checked: the symlink's target, or the path itself.
    pub fn checked(&self) -> &Path {
        self.target.as_deref().unwrap_or(&self.path)
    }

    /// What is wrong and the command that fixes it, without the leading
    /// "refusing KIND PATH" (for errors that name the file themselves).
    pub fn reason(&self) -> String {
        let file = self.checked().display();
        match &self.problem {
            Problem::Unreadable { message } => {
                format!("cannot read its owner and permissions: {message}")
            }
            Problem::Writable { mode } => format!(
                "it is writable by its group or by others (mode {mode:04o}); run `chmod go-w {file}`"
            ),
            Problem::Owner { uid, euid } => format!(
                "it is owned by uid {uid}, not by root or the user tsp-rs runs as (uid {euid}); run `chown root {file}`"
            ),
            Problem::NullDacl => format!(
                "it has no access control list (a NULL DACL), so everyone may write to it; run `icacls \"{file}\" /reset` to give it its folder's permissions"
            ),
            Problem::WritableBy(account) => format!(
                "{} ({}) may write to it, and only Administrators, SYSTEM, TrustedInstaller and the account tsp-rs runs as may; run `icacls \"{file}\" /inheritance:d /remove:g *{}`",
                account.name, account.sid, account.sid
            ),
            Problem::OwnedBy(account) => format!(
                "it is owned by {} ({}), not by Administrators, SYSTEM, TrustedInstaller or the account tsp-rs runs as; run `icacls \"{file}\" /setowner *S-1-5-32-544`",
                account.name, account.sid
            ),
        }
    }
}

/// Checks that no other user could have written `path` (a file, or a folder),
/// following a symlink to the file it resolves to. `what` names it in the error.
pub fn check_trusted(path: &Path, what: Kind) -> Result<(), UntrustedError> {
    let refuse = |target: Option<PathBuf>, problem| UntrustedError {
        what,
        path: path.to_owned(),
        target,
        problem,
    };
    let unreadable = |e: std::io::Error| Problem::Unreadable {
        message: e.to_string(),
    };
    let is_symlink = std::fs::symlink_metadata(path)
        .map_err(|e| refuse(None, unreadable(e)))?
        .file_type()
        .is_symlink();
    let target = if is_symlink {
        Some(std::fs::canonicalize(path).map_err(|e| refuse(None, unreadable(e)))?)
    } else {
        None
    };
    let checked = target.as_deref().unwrap_or(path);
    match problem_of(checked) {
        Ok(None) => Ok(()),
        Ok(Some(problem)) => Err(refuse(target, problem)),
        Err(e) => Err(refuse(target, unreadable(e))),
    }
}

/// Unix: the mode and the owner of the file `path` (resolved already).
#[cfg(unix)]
fn problem_of(path: &Path) -> std::io::Result<Option<Problem>> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)?;
    let (uid, euid) = (metadata.uid(), sys::effective_uid());
    if uid != 0 && uid != euid {
        return Ok(Some(Problem::Owner { uid, euid }));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Ok(Some(Problem::Writable { mode }));
    }
    Ok(None)
}

/// Windows: the owner and the DACL of `path`, judged by [`trusted_sid`].
#[cfg(windows)]
fn problem_of(path: &Path) -> std::io::Result<Option<Problem>> {
    let me = sys::own_sid();
    if me.is_none() {
        tracing::warn!(
            "the account this process runs as is unknown: only Administrators, SYSTEM and TrustedInstaller are trusted"
        );
    }
    let verdict = sys::security_of(path, &|sid| trusted_sid(sid, me.as_deref()))?;
    Ok(match verdict {
        sys::Verdict::Trusted => None,
        sys::Verdict::NullDacl => Some(Problem::NullDacl),
        sys::Verdict::WritableBy(who) => Some(Problem::WritableBy(Box::new(who))),
        sys::Verdict::OwnedBy(who) => Some(Problem::OwnedBy(Box::new(who))),
    })
}

/// Other platforms: nothing to judge by, so nothing is trusted.
#[cfg(not(any(unix, windows)))]
fn problem_of(_: &Path) -> std::io::Result<Option<Problem>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "file ownership cannot be checked on this platform",
    ))
}

/// BUILTIN\Administrators.
pub const ADMINISTRATORS_SID: &str = "S-1-5-32-544";
/// LocalSystem (NT AUTHORITY\SYSTEM).
pub const LOCAL_SYSTEM_SID: &str = "S-1-5-18";
/// NT SERVICE\TrustedInstaller, which owns Windows' own files.
pub const TRUSTED_INSTALLER_SID: &str =
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";
/// CREATOR OWNER: a placeholder for inheritance, which grants nothing itself.
const CREATOR_OWNER_SID: &str = "S-1-3-0";
/// OWNER RIGHTS: the owner, whose own trust is checked separately.
const OWNER_RIGHTS_SID: &str = "S-1-3-4";

/// Whether the account with SID `sid` (in string form) may write the files
/// tsp-rs trusts: Administrators, SYSTEM, TrustedInstaller, the account this
/// process runs as (`me`), and the two placeholders for the owner (whose own
/// trust is checked on its own).
#[cfg_attr(not(windows), allow(dead_code))]
fn trusted_sid(sid: &str, me: Option<&str>) -> bool {
    let trusted = [
        ADMINISTRATORS_SID,
        LOCAL_SYSTEM_SID,
        TRUSTED_INSTALLER_SID,
        CREATOR_OWNER_SID,
        OWNER_RIGHTS_SID,
    ];
    trusted.iter().any(|t| t.eq_ignore_ascii_case(sid))
        || me.is_some_and(|me| me.eq_ignore_ascii_case(sid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_system_s_accounts_and_our_own_are_trusted_on_windows() {
        let me = Some("S-1-5-20");
        for sid in [
            ADMINISTRATORS_SID,
            LOCAL_SYSTEM_SID,
            TRUSTED_INSTALLER_SID,
            "S-1-5-20",
        ] {
            assert!(trusted_sid(sid, me), "{sid}");
        }
        for sid in [
            "S-1-1-0",      // Everyone
            "S-1-5-11",     // Authenticated Users
            "S-1-5-32-545", // BUILTIN\Users
            "S-1-5-21-1-2-3-1001",
        ] {
            assert!(!trusted_sid(sid, me), "{sid}");
        }
        assert!(!trusted_sid("S-1-5-20", None), "no account of our own");
    }

    #[test]
    fn refusals_name_the_file_and_the_fix() {
        let error = UntrustedError {
            what: Kind::PluginLibrary,
            path: "/x/drivers/libtsp_driver_mock.so".into(),
            target: None,
            problem: Problem::Writable { mode: 0o664 },
        };
        assert_eq!(
            error.to_string(),
            "refusing plugin library /x/drivers/libtsp_driver_mock.so: it is writable by its group or by others (mode 0664); run `chmod go-w /x/drivers/libtsp_driver_mock.so`"
        );
        let error = UntrustedError {
            what: Kind::DriversFolder,
            path: "/x/drivers".into(),
            target: Some("/y/drivers".into()),
            problem: Problem::Owner { uid: 1001, euid: 0 },
        };
        assert_eq!(
            error.to_string(),
            "refusing drivers folder /x/drivers (a symlink to /y/drivers, which is what was checked): it is owned by uid 1001, not by root or the user tsp-rs runs as (uid 0); run `chown root /y/drivers`"
        );
        let error = UntrustedError {
            what: Kind::Configuration,
            path: r"C:\tsp\tsp-rs.toml".into(),
            target: None,
            problem: Problem::WritableBy(Box::new(Account {
                name: r"BUILTIN\Users".into(),
                sid: "S-1-5-32-545".into(),
            })),
        };
        assert!(
            error.to_string().ends_with(
                r#"run `icacls "C:\tsp\tsp-rs.toml" /inheritance:d /remove:g *S-1-5-32-545`"#
            ),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_missing_file_is_not_trusted() {
        let error = check_trusted(Path::new("/nonexistent/tsp-rs.toml"), Kind::Configuration)
            .expect_err("missing");
        assert!(
            matches!(error.problem, Problem::Unreadable { .. }),
            "{error}"
        );
    }
}
