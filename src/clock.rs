//! The one place that reads the wall clock. Only the I/O shell calls it (the proxy stamps
//! exchanges, the session ticks, the demo signs tokens, certificates get their validity): the
//! analysis core never does, it takes "now" from the exchange it is given.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Unix time in seconds.
pub fn now_s() -> u64 {
    now_ms() / 1000
}
