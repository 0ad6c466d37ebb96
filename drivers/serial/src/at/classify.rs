//! What a received line is: an echo of the command, information text, a final
//! result code, or an unsolicited result code.

/// A final result code: the end of a command's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    /// `OK` (V0 `0`).
    Ok,
    /// `CONNECT` with its text (V0 `1`).
    Connect(String),
    /// `ERROR` (V0 `4`).
    Error,
    /// `+CME ERROR: <n>` (number) or with text (`+CMEE=2`).
    CmeError(Option<u32>, String),
    /// `+CMS ERROR: <n>`.
    CmsError(Option<u32>, String),
    /// `+EXT ERROR: <n>`.
    ExtError(String),
    /// `NO CARRIER` (V0 `3`).
    NoCarrier,
    /// `BUSY` (V0 `7`).
    Busy,
    /// `NO ANSWER` (V0 `8`).
    NoAnswer,
    /// `NO DIALTONE` (V0 `6`).
    NoDialtone,
    /// A vendor's final seen in the wild: `COMMAND NOT SUPPORT` (Huawei), `TOO MANY
    /// PARAMETERS`, `MODEM ERROR: <n>`.
    Vendor(String),
}

impl Final {
    /// Whether the command succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok | Self::Connect(_))
    }
}

/// A classified line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The device echoing the command (echo on).
    Echo,
    /// Information text belonging to the command in flight.
    Info(String),
    /// The end of the command in flight.
    Final(Final),
    /// An unsolicited result code (`RING`, `+CIEV: …`, `+CKEV: …`), any time.
    Unsolicited(String),
}

/// Prefixes of unsolicited result codes (27.007, HFP, and vendors').
const URC_PREFIXES: [&str; 16] = [
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CIEV:",
    "+CKEV:",
    "+CDEV:",
    "+CCWA:",
    "+CUSD:",
    "+CMTI:",
    "+CREG:",
    "+CGREG:",
    "^RSSI:",
    "^BOOT:",
    "VOICE CALL:",
    "+CLCC:",
    "MISSED_CALL:",
];

fn numeric_final(text: &str) -> Option<Final> {
    Some(match text {
        "0" => Final::Ok,
        "1" => Final::Connect(String::new()),
        "3" => Final::NoCarrier,
        "4" => Final::Error,
        "6" => Final::NoDialtone,
        "7" => Final::Busy,
        "8" => Final::NoAnswer,
        _ => return None,
    })
}

fn error_detail(rest: &str) -> (Option<u32>, String) {
    let rest = rest.trim();
    (rest.parse().ok(), rest.to_owned())
}

/// The final result code `text` is, if it is one. `numeric` says whether bare
/// digits count (V0, or a command in flight whose answer could be one).
pub fn final_code(text: &str, numeric: bool) -> Option<Final> {
    let trimmed = text.trim();
    let upper = trimmed.to_ascii_uppercase();
    if numeric && let Some(code) = numeric_final(trimmed) {
        return Some(code);
    }
    let prefixed = |prefix: &str| {
        upper
            .strip_prefix(prefix)
            .map(|_| trimmed[prefix.len()..].to_owned())
    };
    Some(match upper.as_str() {
        "OK" => Final::Ok,
        "ERROR" => Final::Error,
        "NO CARRIER" => Final::NoCarrier,
        "BUSY" => Final::Busy,
        "NO ANSWER" => Final::NoAnswer,
        "NO DIALTONE" | "NO DIAL TONE" => Final::NoDialtone,
        "COMMAND NOT SUPPORT" | "TOO MANY PARAMETERS" => Final::Vendor(trimmed.to_owned()),
        _ if upper.starts_with("CONNECT") => Final::Connect(trimmed[7..].trim().to_owned()),
        _ if upper.starts_with("MODEM ERROR:") => Final::Vendor(trimmed.to_owned()),
        _ => {
            if let Some(rest) = prefixed("+CME ERROR:") {
                let (code, text) = error_detail(&rest);
                Final::CmeError(code, text)
            } else if let Some(rest) = prefixed("+CMS ERROR:") {
                let (code, text) = error_detail(&rest);
                Final::CmsError(code, text)
            } else if let Some(rest) = prefixed("+EXT ERROR:") {
                Final::ExtError(rest.trim().to_owned())
            } else {
                return None;
            }
        }
    })
}

/// The `+XXX` name a command asks about (`AT+CIND=?` → `+CIND`), upper case.
fn command_name(command: &str) -> Option<String> {
    let body = command.trim().get(2..)?;
    let end = body.find(['=', '?', ';']).unwrap_or(body.len());
    let name = &body[..end];
    name.starts_with(['+', '^', '$', '*'])
        .then(|| name.to_ascii_uppercase())
}

/// Classifies one received line. `in_flight` is the command awaiting its final
/// (as sent, without the terminator), if any.
pub fn classify(line: &str, in_flight: Option<&str>) -> Line {
    let text = line.trim_end();
    if let Some(command) = in_flight
        && text.trim().eq_ignore_ascii_case(command.trim())
    {
        return Line::Echo;
    }
    if let Some(code) = final_code(text, in_flight.is_some()) {
        return Line::Final(code);
    }
    let upper = text.trim_start().to_ascii_uppercase();
    // A line prefixed like the command in flight answers it, even when that
    // prefix is also an unsolicited code (+CIND: to AT+CIND?, +CLCC: to AT+CLCC).
    let answers = in_flight
        .and_then(command_name)
        .is_some_and(|name| upper.starts_with(&format!("{name}:")) || upper.starts_with(&name));
    if answers {
        return Line::Info(text.to_owned());
    }
    if URC_PREFIXES.iter().any(|p| upper.starts_with(p)) {
        return Line::Unsolicited(text.to_owned());
    }
    match in_flight {
        Some(_) => Line::Info(text.to_owned()),
        None => Line::Unsolicited(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finals_standard_vendor_and_numeric() {
        assert_eq!(classify("OK", Some("AT")), Line::Final(Final::Ok));
        assert_eq!(classify("0", Some("AT")), Line::Final(Final::Ok), "V0");
        assert_eq!(classify("4", Some("AT")), Line::Final(Final::Error));
        assert_eq!(
            classify("+CME ERROR: 3", Some("AT+CKPD=\"1\"")),
            Line::Final(Final::CmeError(Some(3), "3".into()))
        );
        assert_eq!(
            classify("+CME ERROR: operation not allowed", None),
            Line::Final(Final::CmeError(None, "operation not allowed".into())),
            "accepted even when nothing is in flight: CMEE may persist"
        );
        assert_eq!(
            classify("COMMAND NOT SUPPORT", Some("AT$X=?")),
            Line::Final(Final::Vendor("COMMAND NOT SUPPORT".into()))
        );
        assert_eq!(
            classify("MODEM ERROR: 2", Some("AT")),
            Line::Final(Final::Vendor("MODEM ERROR: 2".into()))
        );
        assert_eq!(
            classify("CONNECT 9600", Some("ATD1")),
            Line::Final(Final::Connect("9600".into()))
        );
    }

    #[test]
    fn echo_info_and_unsolicited() {
        assert_eq!(classify("AT+CGMM", Some("AT+CGMM")), Line::Echo);
        assert_eq!(classify("at+cgmm", Some("AT+CGMM")), Line::Echo);
        assert_eq!(
            classify(" MULTIBAND  900E  1800 ", Some("AT+CGMM")).clone(),
            Line::Info(" MULTIBAND  900E  1800".into())
        );
        assert_eq!(
            classify("+CIEV: 3,1", Some("AT+CGMM")),
            Line::Unsolicited("+CIEV: 3,1".into()),
            "between echo and answer"
        );
        assert_eq!(
            classify("+CIND: 1,2", Some("AT+CIND?")),
            Line::Info("+CIND: 1,2".into())
        );
        assert_eq!(
            classify("+CLCC: 1,0,0", Some("AT+CLCC")),
            Line::Info("+CLCC: 1,0,0".into())
        );
        assert_eq!(
            classify("+CLCC: 3,0,6", None),
            Line::Unsolicited("+CLCC: 3,0,6".into())
        );
        assert_eq!(classify("RING", None), Line::Unsolicited("RING".into()));
        assert_eq!(
            classify("0", None),
            Line::Unsolicited("0".into()),
            "a bare digit is a final only when one is awaited"
        );
    }
}
