//! Timestamps as the platform stores them: RFC 3339 UTC with milliseconds,
//! e.g. `2026-11-22T15:04:05.123Z` (sorts as text, parses everywhere).

use crate::bindings::wasi::clocks::wall_clock;

/// Now, from `wasi:clocks/wall-clock`.
pub fn now_rfc3339() -> String {
    let now = wall_clock::now();
    format_unix(now.seconds as i64, now.nanoseconds / 1_000_000)
}

/// Format seconds since the Unix epoch (UTC) and milliseconds.
pub fn format_unix(seconds: i64, millis: u32) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
