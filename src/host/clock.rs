//! The host's one "current Unix time" helper (records, events, the
//! outbox's retry schedule all read it here, so a shared clock can later
//! replace this file alone).
//! Must not touch: anything but the system clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch (0 if the system clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}
