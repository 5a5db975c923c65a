//! Text forms of sizes, rates and durations, shared by every pane.

use crate::model::JobPhase;
use humansize::{BINARY, FormatSizeOptions, format_size};

fn opts() -> FormatSizeOptions {
    FormatSizeOptions::from(BINARY).decimal_places(1)
}

/// "300 MiB", "1.5 GiB".
pub fn size(bytes: u64) -> String {
    format_size(bytes, opts())
}

/// Widest [`rate`] text: "99.9 MiB/s".
pub const RATE_WIDTH: u16 = 10;

/// "12.3 MiB/s", "216 KiB/s", "1 MiB/s": binary units, at most three
/// significant figures, so a rate fits [`RATE_WIDTH`] columns (issue 14:
/// "1023.9 KiB/s" was cut in the jobs pane); "-" when nothing is moving.
pub fn rate(bytes_per_sec: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if !bytes_per_sec.is_finite() || bytes_per_sec <= 0.0 {
        return "-".into();
    }
    let (mut v, mut unit) = (bytes_per_sec, 0);
    // Below 999.5 the rounded figure keeps three digits.
    while v >= 999.5 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let text = if (v * 10.0).round() < 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    };
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}/s", UNITS[unit])
}

/// "45s", "1m05s", "2h03m".
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// "2025-06-15 14:02:07" from Unix milliseconds, local time or UTC.
pub fn datetime(ms: u64, utc: bool) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
    else {
        return "-".into();
    };
    let f = "%Y-%m-%d %H:%M:%S";
    if utc {
        t.format(f).to_string()
    } else {
        t.with_timezone(&chrono::Local).format(f).to_string()
    }
}

/// A percentage of a 0–1 fraction: "83%".
pub fn percent(fraction: f64) -> String {
    format!("{:.0}%", (fraction * 100.0).clamp(0.0, 100.0))
}

/// "done/total".
pub fn of(done: u64, total: u64) -> String {
    format!("{}/{}", size(done), size(total))
}

/// A text progress bar that reads without colour: "█████·····".
pub fn bar(ratio: f64, width: usize) -> String {
    let ratio = if ratio.is_finite() {
        ratio.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = ((ratio * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(full), "·".repeat(width - full))
}

/// Done over total, 0 when the total is unknown.
pub fn ratio(done: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        done as f64 / total as f64
    }
}

/// A job phase as operators read it.
pub fn phase_label(p: JobPhase) -> &'static str {
    match p {
        JobPhase::Queued => "queued",
        JobPhase::Validating => "validating",
        JobPhase::Preparing => "preparing",
        JobPhase::Copying => "copying",
        JobPhase::Verifying => "verifying",
        JobPhase::Defining => "defining",
        JobPhase::Done => "done",
        JobPhase::Failed => "failed",
        JobPhase::Cancelled => "cancelled",
    }
}

/// "14:03:07" (UTC) of a Unix time in milliseconds.
pub fn clock(unix_ms: u64) -> String {
    let s = (unix_ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary() {
        assert_eq!(size(2 << 30), "2 GiB");
        assert_eq!(size(300 << 20), "300 MiB");
        assert_eq!(size(1536 << 20), "1.5 GiB");
        assert_eq!(size(0), "0 B");
    }

    #[test]
    fn rates_and_durations() {
        const KIB: f64 = 1024.0;
        assert_eq!(rate(12.3 * KIB * KIB), "12.3 MiB/s");
        assert_eq!(rate(45.0 * KIB * KIB), "45 MiB/s");
        assert_eq!(rate(216.3 * KIB), "216 KiB/s");
        assert_eq!(rate(99.96 * KIB), "100 KiB/s");
        assert_eq!(rate(1023.9 * KIB), "1 MiB/s");
        assert_eq!(rate(999.4), "999 B/s");
        assert_eq!(rate(0.5), "0.5 B/s");
        for r in (0..400).map(|i| 1.09f64.powi(i)) {
            let t = rate(r);
            assert!(t.chars().count() <= usize::from(RATE_WIDTH), "{r}: {t}");
        }
        assert_eq!(rate(0.0), "-");
        assert_eq!(rate(f64::NAN), "-");
        assert_eq!(duration(65), "1m05s");
        assert_eq!(duration(9), "9s");
        assert_eq!(duration(7380), "2h03m");
    }

    #[test]
    fn bar_fills_in_proportion() {
        assert_eq!(bar(0.5, 10), "█████·····");
        assert_eq!(bar(2.0, 4), "████");
        assert_eq!(bar(f64::NAN, 3), "···");
        assert_eq!(ratio(1, 0), 0.0);
    }
}
