//! Wall-clock time in the units the database stores.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds.
pub fn now() -> i64 {
    now_ms() / 1000
}

/// Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
