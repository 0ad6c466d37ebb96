//! Parsers for the answers of the phone-control commands, in the variants real
//! devices send: bracketed or bare groups, ranges and lists, quoted or bare keys,
//! mixed-case indicator names with spaces, an empty trailing `()`, Telit's extra
//! brackets around the whole `+CIND=?` list.

/// A set of values a parameter takes: `(0-5)`, `(0,1)`, `(0-1,3)`, `2`, `()`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Values(pub Vec<(u32, u32)>);

impl Values {
    /// Parses the inside of one group (`0-5`, `0,1`, `0-1,3`, empty).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_start_matches('(').trim_end_matches(')');
        if text.trim().is_empty() {
            return Some(Self::default());
        }
        text.split(',')
            .map(|part| {
                let part = part.trim();
                match part.split_once('-') {
                    Some((low, high)) => {
                        Some((low.trim().parse().ok()?, high.trim().parse().ok()?))
                    }
                    None => part.parse().ok().map(|v| (v, v)),
                }
            })
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: u32) -> bool {
        self.0
            .iter()
            .any(|&(low, high)| (low..=high).contains(&value))
    }

    /// The smallest and largest value.
    pub fn bounds(&self) -> Option<(u32, u32)> {
        let low = self.0.iter().map(|r| r.0).min()?;
        let high = self.0.iter().map(|r| r.1).max()?;
        Some((low, high))
    }
}

/// The text after `+NAME:` (case-insensitive), trimmed.
pub fn payload<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let trimmed = line.trim();
    let head = trimmed.get(..name.len() + 1)?;
    head.eq_ignore_ascii_case(&format!("{name}:"))
        .then(|| trimmed[name.len() + 1..].trim())
}

/// Splits at top-level commas (not inside brackets or quotes).
pub fn top_level(text: &str) -> Vec<&str> {
    let (mut depth, mut quoted, mut start, mut parts) = (0i32, false, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            // Saturating: a hostile line cannot overflow the count (not even
            // one of 2^31 brackets handed to the parser directly).
            '(' if !quoted => depth = depth.saturating_add(1),
            ')' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts
}

/// Groups of a test response (`+CMER: (0-3),(0),(0),(0-1),(0-1)` or with bare
/// numbers, `+CMER: 1,0,0,(0-1),0`).
pub fn groups(payload: &str) -> Option<Vec<Values>> {
    top_level(payload).into_iter().map(Values::parse).collect()
}

/// One indicator of `+CIND=?`: its name (normalised: lower case, no spaces) and
/// its values. The position in the list is its `+CIEV` index, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// The name as the device spelled it.
    pub name: String,
    /// Lower case without spaces, to compare (`"Voice Mail"` → `voicemail`).
    pub key: String,
    /// The values it takes.
    pub values: Values,
}

/// Parses a `+CIND=?` payload. An empty trailing `()` is dropped; Telit's extra
/// brackets around the whole list are removed.
pub fn indicators(payload: &str) -> Option<Vec<Indicator>> {
    let mut text = payload.trim();
    // Telit: `+CIND: (("battchg",(0-5)),("signal",(0-5)))`.
    if text.starts_with("((") && text.ends_with("))") {
        text = &text[1..text.len() - 1];
    }
    top_level(text)
        .into_iter()
        .filter(|item| !item.trim().is_empty() && item.trim() != "()")
        .map(|item| {
            let inner = item.trim().strip_prefix('(')?.strip_suffix(')')?;
            let parts = top_level(inner);
            let name = parts.first()?.trim().trim_matches('"').to_owned();
            let values = Values::parse(parts.get(1).copied().unwrap_or(""))?;
            let key = name.to_ascii_lowercase().replace(' ', "");
            Some(Indicator { name, key, values })
        })
        .collect()
}

/// `+CIEV: <index or name>,<value>` (Telit and Cinterion send names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndicatorRef {
    /// 1-based index into the `+CIND=?` list.
    Index(u32),
    /// A name.
    Name(String),
}

/// Parses a `+CIEV:` payload.
pub fn ciev(payload: &str) -> Option<(IndicatorRef, u32)> {
    let parts = top_level(payload);
    let [which, value] = parts.as_slice() else {
        return None;
    };
    let value = value.trim().parse().ok()?;
    let which = which.trim().trim_matches('"');
    let which = match which.parse() {
        Ok(index) => IndicatorRef::Index(index),
        Err(_) => IndicatorRef::Name(which.to_ascii_lowercase()),
    };
    Some((which, value))
}

/// Parses a `+CKEV: <key>,<press>` payload: the key (quoted or not, possibly two
/// characters like `:J`) and whether it went down.
pub fn ckev(payload: &str) -> Option<(String, bool)> {
    let (key, press) = payload.rsplit_once(',')?;
    let key = key.trim().trim_matches('"').to_owned();
    let down = match press.trim() {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    (!key.is_empty()).then_some((key, down))
}

/// Encodes text for the device's character set: `UCS2` is hex of UTF-16 code
/// units (four digits each), anything else goes as is (IRA keeps ASCII; other
/// characters become `?`).
pub fn encode_text(text: &str, charset: &str) -> String {
    if charset.eq_ignore_ascii_case("UCS2") {
        text.encode_utf16().map(|u| format!("{u:04X}")).collect()
    } else {
        text.chars()
            .map(|c| if c.is_ascii() && c != '"' { c } else { '?' })
            .collect()
    }
}

/// Decodes text the device sent in its character set; UCS2 that is not hex
/// comes back as it is.
pub fn decode_text(text: &str, charset: &str) -> String {
    if !charset.eq_ignore_ascii_case("UCS2") || !text.len().is_multiple_of(4) {
        return text.to_owned();
    }
    let units: Option<Vec<u16>> = (0..text.len())
        .step_by(4)
        .map(|i| {
            text.get(i..i + 4)
                .and_then(|h| u16::from_str_radix(h, 16).ok())
        })
        .collect();
    units.map_or_else(|| text.to_owned(), |u| String::from_utf16_lossy(&u))
}

/// Scales a device level in `min..=max` to TAPI's 0..=0xFFFF, and back.
pub fn to_tapi(level: u32, (min, max): (u32, u32)) -> u32 {
    if max <= min {
        return 0;
    }
    let level = level.clamp(min, max);
    ((u64::from(level - min) * 0xFFFF) / u64::from(max - min)) as u32
}

/// The device level nearest to TAPI's `value`.
pub fn from_tapi(value: u32, (min, max): (u32, u32)) -> u32 {
    if max <= min {
        return min;
    }
    let span = u64::from(max - min);
    min + ((u64::from(value.min(0xFFFF)) * span + 0x7FFF) / 0xFFFF) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_every_spelling() {
        assert_eq!(Values::parse("(0-5)"), Some(Values(vec![(0, 5)])));
        assert_eq!(
            Values::parse("0-5"),
            Some(Values(vec![(0, 5)])),
            "bare, as +CLVL answers on some devices"
        );
        assert_eq!(Values::parse("(0-1,3)"), Some(Values(vec![(0, 1), (3, 3)])));
        assert_eq!(Values::parse("()"), Some(Values::default()));
        assert_eq!(Values::parse("(a-b)"), None);
        assert!(Values::parse("(0,1)").is_some_and(|v| v.contains(1) && !v.contains(2)));
        assert_eq!(
            Values::parse("(100-150)").and_then(|v| v.bounds()),
            Some((100, 150))
        );
    }

    #[test]
    fn cmer_groups_bracketed_or_bare() {
        let pls8 = groups("(0-3),(0),(0),(0-1),(0-1)").expect("parses");
        assert_eq!(pls8.len(), 5);
        let em7345 = groups("1,0,0,(0-1),0").expect("bare numbers parse");
        assert!(em7345[0].contains(1) && em7345[3].contains(1));
        let mbm = groups("(0,3),(0,2),0,(0-1),0").expect("oFono gave up on this one");
        assert!(mbm[1].contains(2) && !mbm[1].contains(1));
    }

    #[test]
    fn indicators_real_variants() {
        let linktop = indicators(r#"("battchg",(0-5)),("signal",(0-5)),("batterywarning",(0-1)),("chargerconnected",(0-1)),("service",(0-1)),("sounder",(0-1)),("message",(0-1)),()"#)
            .expect("parses");
        assert_eq!(linktop.len(), 7, "the empty trailing () is dropped");
        let moto =
            indicators(r#"("Voice Mail",(0,1)),("service",(0,1)),("call",(0,1)),("Roam",(0-2))"#)
                .expect("parses");
        assert_eq!(moto[0].key, "voicemail");
        assert_eq!(moto[3].name, "Roam");
        let telit =
            indicators(r#"(("battchg",(0-5)),("signal",(0-5)))"#).expect("Telit's extra brackets");
        assert_eq!(telit.len(), 2);
    }

    #[test]
    fn text_in_the_device_character_set() {
        assert_eq!(encode_text("Hi☎", "UCS2"), "00480069260E");
        assert_eq!(decode_text("00480069260E", "UCS2"), "Hi☎");
        assert_eq!(encode_text("Hi☎\"", "IRA"), "Hi??");
        assert_eq!(decode_text("plain", "UCS2"), "plain", "not hex: left alone");
    }

    #[test]
    fn events_and_scaling() {
        assert_eq!(ciev("3,1"), Some((IndicatorRef::Index(3), 1)));
        assert_eq!(ciev("rssi,3"), Some((IndicatorRef::Name("rssi".into()), 3)));
        assert_eq!(ckev("1,1"), Some(("1".into(), true)));
        assert_eq!(ckev("\"#\",0"), Some(("#".into(), false)));
        assert_eq!(ckev(":J,1"), Some((":J".into(), true)));
        assert_eq!(payload("+CIND: 1,2", "+CIND"), Some("1,2"));
        assert_eq!(payload("+cind:1,2", "+CIND"), Some("1,2"));
        assert_eq!(to_tapi(5, (0, 5)), 0xFFFF);
        assert_eq!(to_tapi(100, (100, 150)), 0);
        assert_eq!(from_tapi(0xFFFF, (100, 150)), 150);
        assert_eq!(from_tapi(0x8000, (0, 5)), 3);
        assert_eq!(from_tapi(to_tapi(2, (0, 5)), (0, 5)), 2, "round trip");
    }
}
