//! Wall-clock time, injectable.
//!
//! Timers that only measure intervals use `tokio::time::Instant` (tests
//! pause it); this is for the other kind of time, the one written into
//! stanzas, records and events: seconds since the Unix epoch. Code that
//! needs it takes a [`SharedClock`], so tests and the simulator can set
//! the date instead of waiting for it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Tells the time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Seconds since the Unix epoch.
    fn unix_secs(&self) -> u64;

    /// Milliseconds since the Unix epoch.
    fn unix_millis(&self) -> u64 {
        self.unix_secs().saturating_mul(1000)
    }
}

/// A clock shared by everything one component runs.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock, shared.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn unix_secs(&self) -> u64 {
        self.unix_millis() / 1000
    }

    fn unix_millis(&self) -> u64 {
        // A clock set before 1970 reads as the epoch rather than failing.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that reads what it was set to (tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    secs: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `secs`, shared.
    pub fn at(secs: u64) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            secs: AtomicU64::new(secs),
        })
    }

    pub fn set(&self, secs: u64) {
        self.secs.store(secs, Ordering::Relaxed);
    }

    pub fn advance(&self, secs: u64) {
        self.secs.fetch_add(secs, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn unix_secs(&self) -> u64 {
        self.secs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_past_2020_and_manual_clock_obeys() {
        assert!(SystemClock.unix_secs() > 1_577_836_800);
        let clock = ManualClock::at(100);
        clock.advance(5);
        assert_eq!(clock.unix_secs(), 105);
        assert_eq!(clock.unix_millis(), 105_000);
        clock.set(7);
        let shared: SharedClock = clock;
        assert_eq!(shared.unix_secs(), 7);
    }
}
