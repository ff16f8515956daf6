//! Small time formatting helpers (UTC civil time, human durations) so no date crate is needed.

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-11-26 10:14:02 UTC` for a Unix time in seconds.
pub fn utc_datetime(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} UTC", s / 3600, s % 3600 / 60, s % 60)
}

/// `2026-11-26T10:14:02.123Z` (ISO 8601, for HAR and JSON).
#[cfg_attr(not(test), expect(dead_code, reason = "the HAR export (issue 10) writes it"))]
pub fn iso8601_ms(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", s / 3600, s % 3600 / 60, s % 60, ms % 1000)
}

/// `10:14:02.123` (UTC) for console lines.
pub fn clock_ms(ms: u64) -> String {
    let s = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}.{:03}", s / 3600, s % 3600 / 60, s % 60, ms % 1000)
}

/// `59m58s`, `3h12m`, `2d4h`, `0s` for a non-negative number of seconds.
pub fn human_duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `expires in 59m58s` / `expired 3h12m ago` for a deadline vs now (seconds).
pub fn relative(deadline: i64, now: i64, future: &str, past: &str) -> String {
    if deadline > now {
        format!("{future} in {}", human_duration(deadline - now))
    } else {
        format!("{past} {} ago", human_duration(now - deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_datetime(1_795_600_042), "2026-11-25 09:47:22 UTC");
        assert_eq!(iso8601_ms(1_795_600_042_123), "2026-11-25T09:47:22.123Z");
        assert_eq!(clock_ms(1_795_600_042_123), "09:47:22.123");
        assert_eq!(human_duration(3598), "59m58s");
        assert_eq!(human_duration(11_520), "3h12m");
        assert_eq!(relative(100, 40, "expires", "expired"), "expires in 1m00s");
        assert_eq!(relative(40, 100, "expires", "expired"), "expired 1m00s ago");
    }
}
