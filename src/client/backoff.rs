//! Reconnect delays: exponential backoff with full jitter.

use std::time::Duration;

use rand::Rng;

/// The delay before reconnect `attempt` (1-based): uniformly random in
/// `[0, min(max, base * 2^(attempt-1))]`, so thousands of sessions that
/// lost the same server do not come back in lockstep.
pub fn delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let cap = ceiling(attempt, base, max);
    let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
}

/// The upper bound of [`delay`] for `attempt`.
pub fn ceiling(attempt: u32, base: Duration, max: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    base.saturating_mul(1u32 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_max() {
        let (b, m) = (Duration::from_secs(1), Duration::from_secs(60));
        let caps: Vec<u64> = (1..=8).map(|a| ceiling(a, b, m).as_secs()).collect();
        assert_eq!(caps, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(ceiling(u32::MAX, b, m), m);
        assert_eq!(ceiling(0, b, m), b);
    }

    #[test]
    fn delays_stay_within_bounds_and_vary() {
        let (b, m) = (Duration::from_secs(1), Duration::from_secs(60));
        let samples: Vec<Duration> = (0..200).map(|_| delay(10, b, m)).collect();
        assert!(samples.iter().all(|d| *d <= m));
        assert!(samples.iter().any(|d| *d != samples[0]));
        assert!((0..200).all(|_| delay(1, b, m) <= b));
    }
}
