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

/// (year, month, day) → days since 1970-01-01 (H. Hinnant's algorithm, the inverse above).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u64;
    let mp = if m > 2 { m - 3 } else { m + 9 } as u64;
    let doy = (153 * mp + 2) / 5 + d as u64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i64 - 719_468
}

/// `2026-11-26T10:14:02.123Z` or `…+01:00` (HAR's `startedDateTime`) → Unix ms.
pub fn parse_iso8601_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, u32, u32) =
        (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    let tz_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, tz) = rest.split_at(tz_at);
    let mut t = time.split(':');
    let (h, mi): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: f64 = t.next().unwrap_or("0").parse().ok()?;
    let offset_min: i64 = match tz.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let hm = tz[1..].replace(':', "");
            let v: i64 =
                hm.get(..2)?.parse::<i64>().ok()? * 60 + hm.get(2..4).unwrap_or("0").parse::<i64>().ok()?;
            if sign == '+' { v } else { -v }
        }
        _ => 0,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || !(0.0..61.0).contains(&sec) {
        return None;
    }
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 - offset_min * 60;
    let ms = secs * 1000 + (sec * 1000.0).round() as i64;
    u64::try_from(ms).ok()
}

/// `2026-11-26 10:14:02 UTC` for a Unix time in seconds.
pub fn utc_datetime(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} UTC", s / 3600, s % 3600 / 60, s % 60)
}

/// `2026-11-26T10:14:02.123Z` (ISO 8601, for HAR and JSON).
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
        assert_eq!(parse_iso8601_ms("2026-11-25T09:47:22.123Z"), Some(1_795_600_042_123));
        assert_eq!(parse_iso8601_ms("2026-11-25T10:47:22.123+01:00"), Some(1_795_600_042_123));
        assert_eq!(parse_iso8601_ms("2026-11-25T09:47:22Z"), Some(1_795_600_042_000));
        assert_eq!(parse_iso8601_ms("yesterday"), None);
        assert_eq!(clock_ms(1_795_600_042_123), "09:47:22.123");
        assert_eq!(human_duration(3598), "59m58s");
        assert_eq!(human_duration(11_520), "3h12m");
        assert_eq!(relative(100, 40, "expires", "expired"), "expires in 1m00s");
        assert_eq!(relative(40, 100, "expires", "expired"), "expired 1m00s ago");
    }
}
