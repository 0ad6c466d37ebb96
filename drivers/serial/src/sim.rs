//! A modem simulator for tests: speaks V.250 / 27.007 on the other end of a
//! pseudo-terminal, so the driver does real serial I/O against it.
//!
//! Echo and V0/V1 are switched by the commands themselves (`ATE0`, `ATV1`); what
//! the extended commands answer is configured ([`Simulator::answer`]); set commands
//! are remembered and read back (`AT+CLVL=3`, then `AT+CLVL?` is `+CLVL: 3`);
//! unsolicited codes are sent on demand; [`Simulator::hang_up`] closes the line.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the simulated device answers and what it has been told.
#[derive(Debug)]
struct State {
    echo: bool,
    verbose: bool,
    /// Test and read answers and replies by upper-case command (`+CIND=?`).
    answers: HashMap<String, String>,
    /// Values of set commands (`+CLVL` → `3`).
    values: HashMap<String, String>,
    /// The final for a command it does not know.
    unknown: String,
    /// Every command line received, for assertions.
    received: Vec<String>,
    /// Commands that get no answer at all (a device that hangs).
    silent: Vec<String>,
}

/// A simulated modem on a pseudo-terminal.
#[derive(Debug)]
pub struct Simulator {
    path: PathBuf,
    state: Arc<Mutex<State>>,
    writer: Arc<Mutex<Option<File>>>,
    /// The port side, held open so the master never reads EIO between opens.
    port_side: Mutex<Option<OwnedFd>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_pty() -> std::io::Result<(OwnedFd, OwnedFd, PathBuf)> {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let path = PathBuf::from(name.to_string_lossy().into_owned());
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOCTTY.bits().cast_signed())
        .open(&path)?
        .into();
    raw_mode(&slave)?;
    Ok((master, slave, path))
}

/// Raw mode on the port side: no echo, no line editing, no CR/LF mapping.
fn raw_mode(fd: &OwnedFd) -> std::io::Result<()> {
    use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};
    let mut termios = tcgetattr(fd)?;
    termios.make_raw();
    tcsetattr(fd, OptionalActions::Now, &termios)?;
    Ok(())
}

impl Simulator {
    /// Starts a simulated modem: echo on, verbose results, `ERROR` for unknown
    /// commands, as a factory-fresh modem.
    pub fn start() -> std::io::Result<Self> {
        let (master, slave, path) = open_pty()?;
        let reader = File::from(master);
        let writer = reader.try_clone()?;
        let answers = HashMap::from([("+CMEE=?".to_owned(), "+CMEE: (0-2)".to_owned())]);
        let state = Arc::new(Mutex::new(State {
            echo: true,
            verbose: true,
            answers,
            values: HashMap::new(),
            unknown: "ERROR".to_owned(),
            received: Vec::new(),
            silent: Vec::new(),
        }));
        let writer = Arc::new(Mutex::new(Some(writer)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, writer, stop) =
                (Arc::clone(&state), Arc::clone(&writer), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("modem-simulator".into())
                .spawn(move || serve(reader, &state, &writer, &stop))?
        };
        Ok(Self {
            path,
            state,
            writer,
            port_side: Mutex::new(Some(slave)),
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// A simulated phone that answers every test command the driver probes: a
    /// two-row display, a keypad with key events, indicators, volume, ringer,
    /// mute, UCS2.
    pub fn phone() -> std::io::Result<Self> {
        let sim = Self::start()?;
        sim.answer("+CSCS=?", r#"+CSCS: ("IRA","GSM","UCS2")"#)
            .answer("+CDIS=?", "+CDIS: 16,16")
            .answer("+CKPD=?", "+CKPD: (0123456789*#),(0-255),(0-255)")
            .answer(
                "+CIND=?",
                r#"+CIND: ("battchg",(0-5)),("signal",(0-5)),("call",(0,1)),("callsetup",(0-3))"#,
            )
            .answer("+CMER=?", "+CMER: (0,3),(0,1,2),(0),(0,1,2),(0)")
            .answer("+CLVL=?", "+CLVL: (0-5)")
            .answer("+CRSL=?", "+CRSL: (0-3)")
            .answer("+CMUT=?", "+CMUT: (0,1)")
            .answer("+CMEC=?", "+CMEC: (0-2),(0-2),(0-2)")
            .answer("+CALM=?", "+CALM: (0,1)")
            .answer("+CPAS", "+CPAS: 0");
        Ok(sim)
    }

    /// The port to open (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What `command` (upper case, without `AT`, e.g. `+CIND=?`) answers with
    /// before its `OK`.
    pub fn answer(&self, command: &str, text: &str) -> &Self {
        lock(&self.state)
            .answers
            .insert(command.to_ascii_uppercase(), text.to_owned());
        self
    }

    /// The final a command the device does not know gets (`ERROR`, or a vendor's
    /// `COMMAND NOT SUPPORT`).
    pub fn unknown_final(&self, text: &str) -> &Self {
        lock(&self.state).unknown = text.to_owned();
        self
    }

    /// A command (without `AT`) that gets no answer at all.
    pub fn silent(&self, command: &str) -> &Self {
        lock(&self.state).silent.push(command.to_ascii_uppercase());
        self
    }

    /// Every command line received so far.
    pub fn received(&self) -> Vec<String> {
        lock(&self.state).received.clone()
    }

    /// Sends an unsolicited result code (`+CKEV: 5,1`, `RING`).
    pub fn unsolicited(&self, text: &str) {
        let verbose = lock(&self.state).verbose;
        write_line(&self.writer, text, verbose);
    }

    /// Hangs up: the device goes away (its side of the line closes).
    pub fn hang_up(&self) {
        self.stop.store(true, Ordering::Release);
        lock(&self.writer).take();
        lock(&self.port_side).take();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.hang_up();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

/// How long a write may wait for the port side to make room before the bytes are
/// given up (nobody reads the port).
const WRITE_PATIENCE: Duration = Duration::from_secs(5);

/// Writes all of `bytes`: the descriptor is non-blocking (it shares the reader's
/// file description), so a full pty buffer is waited out instead of cutting a
/// line short; after [`WRITE_PATIENCE`] without progress the rest is dropped.
fn write_fully(file: &mut File, mut bytes: &[u8]) {
    let mut waited_since = None;
    while !bytes.is_empty() {
        match file.write(bytes) {
            Ok(0) => return,
            Ok(n) => {
                bytes = &bytes[n..];
                waited_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let since = *waited_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > WRITE_PATIENCE {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn write_line(writer: &Mutex<Option<File>>, text: &str, verbose: bool) {
    let bytes = if verbose {
        format!("\r\n{text}\r\n")
    } else {
        format!("{text}\r\n")
    };
    if let Some(file) = lock(writer).as_mut() {
        write_fully(file, bytes.as_bytes());
    }
}

fn write_final(writer: &Mutex<Option<File>>, text: &str, verbose: bool) {
    if verbose {
        write_line(writer, text, true);
        return;
    }
    let code = match text {
        "OK" => "0",
        "ERROR" => "4",
        other => other,
    };
    if let Some(file) = lock(writer).as_mut() {
        write_fully(file, format!("{code}\r").as_bytes());
    }
}

fn serve(mut reader: File, state: &Mutex<State>, writer: &Mutex<Option<File>>, stop: &AtomicBool) {
    set_nonblocking(&reader);
    let mut line = Vec::new();
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::Acquire) {
        let n = match reader.read(&mut buf) {
            Ok(0) => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            // EIO: nobody holds the port side (the driver closed it); keep waiting.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        for &byte in &buf[..n] {
            if lock(state).echo
                && let Some(file) = lock(writer).as_mut()
            {
                write_fully(file, &[byte]);
            }
            match byte {
                b'\r' => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    line.clear();
                    if !text.trim().is_empty() {
                        command_line(&text, state, writer);
                    }
                }
                b'\n' => {}
                _ => line.push(byte),
            }
        }
    }
}

fn set_nonblocking(file: &File) {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let flags = fcntl_getfl(file).unwrap_or(OFlags::empty());
    if let Err(error) = fcntl_setfl(file, flags | OFlags::NONBLOCK) {
        tracing::warn!(%error, "the simulator's reader stays blocking");
    }
}

/// Answers one command line: basic commands (`E`, `V`, with digits) and
/// `;`-separated extended ones.
fn command_line(text: &str, state: &Mutex<State>, writer: &Mutex<Option<File>>) {
    lock(state).received.push(text.to_owned());
    let upper = text.trim().to_ascii_uppercase();
    let Some(body) = upper.strip_prefix("AT") else {
        let verbose = lock(state).verbose;
        return write_final(writer, "ERROR", verbose);
    };
    if lock(state)
        .silent
        .iter()
        .any(|s| body.starts_with(s.as_str()))
    {
        return;
    }
    let (basic, extended) = match body.find(['+', '^', '$']) {
        Some(at) => (&body[..at], &body[at..]),
        None => (body, ""),
    };
    let mut lines = Vec::new();
    let mut ok = basic_commands(basic, state);
    for command in extended.split(';').filter(|c| !c.is_empty()) {
        let command = if command.starts_with(['+', '^', '$']) {
            command.to_owned()
        } else {
            format!("+{command}")
        };
        match extended_command(&command, state) {
            Some(answer) => lines.extend(answer),
            None => ok = false,
        }
    }
    let (verbose, unknown) = {
        let state = lock(state);
        (state.verbose, state.unknown.clone())
    };
    if ok {
        for line in lines {
            write_line(writer, &line, verbose);
        }
        write_final(writer, "OK", verbose);
    } else {
        write_final(writer, &unknown, verbose);
    }
}

fn basic_commands(text: &str, state: &Mutex<State>) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let letter = bytes[i];
        i += 1;
        let digits: String = text[i..].chars().take_while(char::is_ascii_digit).collect();
        i += digits.len();
        let on = digits != "0";
        match letter {
            b'E' => lock(state).echo = on,
            b'V' => lock(state).verbose = on,
            b'Z' | b'Q' | b'X' | b'A' | b'H' | b'&' | b'C' => {}
            b' ' => {}
            _ => return false,
        }
    }
    true
}

/// The information lines of one extended command, or `None` when it is unknown.
fn extended_command(command: &str, state: &Mutex<State>) -> Option<Vec<String>> {
    let mut state = lock(state);
    if let Some(answer) = state.answers.get(command) {
        return Some(answer.lines().map(str::to_owned).collect());
    }
    if let Some(name) = command.strip_suffix('?') {
        let value = state.values.get(name)?;
        return Some(vec![format!("{name}: {value}")]);
    }
    if let Some((name, value)) = command.split_once('=') {
        // A set command is known when its test form is configured.
        state
            .answers
            .contains_key(&format!("{name}=?"))
            .then_some(())?;
        state.values.insert(name.to_owned(), value.to_owned());
        return Some(Vec::new());
    }
    None
}
