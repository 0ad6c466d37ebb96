//! An open serial phone: the TSPI operations as AT commands, run one at a time
//! on the session's worker thread (the mapping is in the driver's docs).

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tsp_core::{HookSwitchDevice, HookSwitchDevs, HookSwitchMode, PhoneError};
use tsp_plugin_sdk::{Completion, PhoneEvents, RequestWorker, Session};

use crate::at::parse;
use crate::connection::{Connection, Health, watch};
use crate::driver::lock;
use crate::port::AtPort;
use crate::probe::{DataArea, KEYS_AREA_SIZE, Probe};
use crate::urc;

/// An open phone: its connection, what probing found, the worker that runs
/// the asynchronous commands one at a time, and the listener.
pub(crate) struct SerialSession {
    connection: Arc<Connection>,
    probe: Probe,
    timeout: Duration,
    worker: RequestWorker<Connection>,
    listener: Mutex<Option<JoinHandle<()>>>,
    rows: Arc<Mutex<Vec<String>>>,
    health: Arc<Health>,
}

impl SerialSession {
    /// Starts the worker and the listener (which reads `urc`) of a probed port.
    pub(crate) fn start(
        connection: Arc<Connection>,
        probe: Probe,
        events: PhoneEvents,
        urc: urc::Receiver,
    ) -> Self {
        let timeout = connection.timeout();
        let worker = RequestWorker::start("tsp-serial-jobs", Arc::clone(&connection));
        let health = Arc::new(Health::new(events.clone()));
        let listener = std::thread::Builder::new()
            .name("tsp-serial-events".into())
            .spawn({
                let (indicators, connection) = (probe.indicators.clone(), Arc::clone(&connection));
                move || watch(&connection, urc, &events, &indicators)
            });
        let rows = vec![String::new(); probe.display.len()];
        Self {
            connection,
            probe,
            timeout,
            worker,
            listener: Mutex::new(listener.ok()),
            rows: Arc::new(Mutex::new(rows)),
            health,
        }
    }

    /// Runs `work` on the session's worker; its result completes `done`.
    fn run(
        &self,
        done: Completion,
        work: impl FnOnce(&AtPort, &Health, Duration) -> Result<(), PhoneError> + Send + 'static,
    ) {
        let timeout = self.timeout;
        let health = Arc::clone(&self.health);
        self.worker.run(done, move |connection| {
            work(&connection.current(), &health, timeout)
        });
    }
}

fn send(
    at: &AtPort,
    health: &Health,
    command: &str,
    timeout: Duration,
) -> Result<crate::at::Response, PhoneError> {
    let response = health.record(at.command(command, timeout))?;
    if response.final_code.is_ok() {
        Ok(response)
    } else {
        Err(PhoneError::OperationFailed)
    }
}

fn quoted(text: &str) -> String {
    text.chars().filter(|c| *c != '"').collect()
}

impl Session for SerialSession {
    fn set_data(&self, data_id: u32, data: &[u8], done: Completion) {
        let Some(area) = self.probe.data_areas().get(data_id as usize).copied() else {
            return done.complete(Err(PhoneError::InvalDataId));
        };
        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
        let data = &data[..end];
        match area {
            DataArea::Keys => {
                if data.len() > KEYS_AREA_SIZE as usize {
                    return done.complete(Err(PhoneError::OperationFailed));
                }
                let keys: String = data
                    .iter()
                    .map(|&b| b as char)
                    .filter(|c| c.is_ascii_graphic() && *c != '"')
                    .collect();
                self.run(done, move |at, health, timeout| {
                    send(at, health, &format!("AT+CKPD=\"{keys}\""), timeout).map(|_| ())
                });
            }
            DataArea::DisplayText => {
                let columns = self.probe.display.iter().copied().max().unwrap_or(0) as usize;
                let text: Vec<char> = data
                    .iter()
                    .map(|&b| b as char)
                    .filter(|c| !c.is_control())
                    .collect();
                if text.len() > columns * self.probe.display.len() {
                    return done.complete(Err(PhoneError::OperationFailed));
                }
                let rows: Vec<String> = text
                    .chunks(columns.max(1))
                    .map(|r| r.iter().collect())
                    .collect();
                *lock(&self.rows) = rows
                    .iter()
                    .cloned()
                    .chain(std::iter::repeat(String::new()))
                    .take(self.probe.display.len())
                    .collect();
                let charset = self.probe.charset.clone();
                let count = self.probe.display.len();
                self.run(done, move |at, health, timeout| {
                    let elements: Vec<String> = rows
                        .iter()
                        .map(String::as_str)
                        .chain(std::iter::repeat(""))
                        .take(count)
                        .map(|r| format!("\"{}\"", parse::encode_text(r, &charset)))
                        .collect();
                    send(
                        at,
                        health,
                        &format!("AT+CDIS={}", elements.join(",")),
                        timeout,
                    )
                    .map(|_| ())
                });
            }
        }
    }

    fn set_display(&self, row: u32, column: u32, text: &str, done: Completion) {
        if self.probe.display.is_empty() {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        let rows = Arc::clone(&self.rows);
        let text = quoted(text);
        let charset = self.probe.charset.clone();
        self.run(done, move |at, health, timeout| {
            let elements = {
                let mut rows = lock(&rows);
                let line = rows.get_mut(row as usize).ok_or(PhoneError::InvalParam)?;
                let mut chars: Vec<char> = line.chars().collect();
                chars.resize(chars.len().max(column as usize), ' ');
                for (i, c) in text.chars().enumerate() {
                    let at = column as usize + i;
                    if at < chars.len() {
                        chars[at] = c
                    } else {
                        chars.push(c)
                    }
                }
                *line = chars.into_iter().collect();
                rows.iter()
                    .map(|r| format!("\"{}\"", parse::encode_text(r, &charset)))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            send(at, health, &format!("AT+CDIS={elements}"), timeout).map(|_| ())
        });
    }

    fn get_display(&self) -> Result<String, PhoneError> {
        if self.probe.display.is_empty() {
            return Err(PhoneError::OperationUnavail);
        }
        let response = send(
            &self.connection.current(),
            &self.health,
            "AT+CDIS?",
            self.timeout,
        )?;
        let payload = response
            .info
            .iter()
            .find_map(|l| parse::payload(l, "+CDIS"))
            .unwrap_or("");
        Ok(parse::top_level(payload)
            .iter()
            .map(|e| parse::decode_text(e.trim().trim_matches('"'), &self.probe.charset))
            .collect::<Vec<_>>()
            .join(""))
    }

    fn set_hookswitch(&self, devices: HookSwitchDevs, mode: HookSwitchMode, done: Completion) {
        if devices != HookSwitchDevs::HANDSET {
            return done.complete(Err(PhoneError::InvalHookSwitchDev));
        }
        let command = if mode == HookSwitchMode::OnHook {
            "ATH"
        } else {
            "ATA"
        };
        self.run(done, move |at, health, timeout| {
            send(at, health, command, timeout).map(|_| ())
        });
    }

    fn get_hookswitch(&self) -> Result<HookSwitchDevs, PhoneError> {
        let response = send(
            &self.connection.current(),
            &self.health,
            "AT+CPAS",
            self.timeout,
        )?;
        let status = response
            .info
            .iter()
            .find_map(|l| parse::payload(l, "+CPAS"))
            .and_then(|s| s.parse::<u32>().ok());
        Ok(if status == Some(4) {
            HookSwitchDevs::HANDSET
        } else {
            HookSwitchDevs::empty()
        })
    }

    fn set_volume(&self, device: HookSwitchDevice, volume: u32, done: Completion) {
        let Some(range) = self
            .probe
            .volume
            .filter(|_| device == HookSwitchDevice::Handset)
        else {
            return done.complete(Err(PhoneError::OperationUnavail));
        };
        let level = parse::from_tapi(volume, range);
        self.run(done, move |at, health, timeout| {
            send(at, health, &format!("AT+CLVL={level}"), timeout).map(|_| ())
        });
    }

    fn get_volume(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        let range = self
            .probe
            .volume
            .filter(|_| device == HookSwitchDevice::Handset)
            .ok_or(PhoneError::OperationUnavail)?;
        let response = send(
            &self.connection.current(),
            &self.health,
            "AT+CLVL?",
            self.timeout,
        )?;
        let level = response
            .info
            .iter()
            .find_map(|l| parse::payload(l, "+CLVL"))
            .and_then(|s| s.parse().ok());
        level
            .map(|l| parse::to_tapi(l, range))
            .ok_or(PhoneError::OperationFailed)
    }

    fn set_gain(&self, device: HookSwitchDevice, gain: u32, done: Completion) {
        if !self.probe.mute || device != HookSwitchDevice::Handset {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        let mute = u32::from(gain == 0);
        self.run(done, move |at, health, timeout| {
            send(at, health, &format!("AT+CMUT={mute}"), timeout).map(|_| ())
        });
    }

    fn get_gain(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        if !self.probe.mute || device != HookSwitchDevice::Handset {
            return Err(PhoneError::OperationUnavail);
        }
        let response = send(
            &self.connection.current(),
            &self.health,
            "AT+CMUT?",
            self.timeout,
        )?;
        let muted = response
            .info
            .iter()
            .find_map(|l| parse::payload(l, "+CMUT"))
            == Some("1");
        Ok(if muted { 0 } else { 0xFFFF })
    }

    fn set_ring(&self, mode: u32, volume: u32, done: Completion) {
        let Some(range) = self.probe.ringer else {
            return done.complete(Err(PhoneError::OperationUnavail));
        };
        let level = parse::from_tapi(volume, range);
        self.run(done, move |at, health, timeout| {
            if mode == 0 {
                return send(at, health, "AT+CALM=1", timeout).map(|_| ());
            }
            send(at, health, "AT+CALM=0", timeout)?;
            send(at, health, &format!("AT+CRSL={level}"), timeout).map(|_| ())
        });
    }

    fn cancel(&self) {
        self.worker.cancel();
    }

    fn close(&self) {
        self.worker.cancel();
        // Closed first: a command waiting for the modem's answer ends now.
        self.connection.close();
        self.worker.stop();
        if let Some(listener) = lock(&self.listener).take() {
            let _ = listener.join();
        }
    }
}
