//! `bandwidth_limit` values: bytes per second as an integer, or a string with
//! a binary unit ("50MiB/s", "1G", "512K").

use serde::Deserializer;
use serde::de::{self, Visitor};
use std::fmt;

/// Parses "50MiB/s", "50M", "1g", "4096" into bytes per second.
pub(crate) fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim_end();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    if num.is_empty() {
        return Err(format!(
            "{text:?} is not a rate; write e.g. \"50MiB/s\", \"1G\" or a number of bytes per second"
        ));
    }
    let value: u64 = num
        .parse()
        .map_err(|_| format!("{text:?}: number too large"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; use K, M, G or T (binary: 1K = 1024 bytes)"
            ));
        }
    };
    let bytes = value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?}: number too large"))?;
    check_nonzero(bytes)
}

fn check_nonzero(bytes: u64) -> Result<u64, String> {
    if bytes == 0 {
        Err("a bandwidth limit of 0 would stop every transfer; leave bandwidth_limit out for no limit".into())
    } else {
        Ok(bytes)
    }
}

pub(crate) fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(RateVisitor).map(Some)
}

struct RateVisitor;

impl Visitor<'_> for RateVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rate such as \"50MiB/s\" or a number of bytes per second")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        check_nonzero(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        let v = u64::try_from(v).map_err(|_| E::custom("a bandwidth limit cannot be negative"))?;
        self.visit_u64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_rate(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn units_are_binary() {
        assert_eq!(parse_rate("4096"), Ok(4096));
        assert_eq!(parse_rate("512K"), Ok(512 * 1024));
        assert_eq!(parse_rate("50MiB/s"), Ok(50 * 1024 * 1024));
        assert_eq!(parse_rate("1 G"), Ok(1 << 30));
        assert_eq!(parse_rate("2tb/s"), Ok(2 << 40));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("5 parsecs").is_err());
        assert!(
            parse_rate("0M")
                .unwrap_err()
                .contains("leave bandwidth_limit out")
        );
        assert!(parse_rate("99999999999999999999").is_err());
        assert!(parse_rate("16777216T").is_err());
    }
}
