//! Capacity and memory: how many sessions this process may run, what it
//! uses now, and when the 80% alert is raised or cleared.

use serde::Serialize;

/// Memory one connected idle session costs, used until the process has
/// measured its own: ~42 KiB measured at 5,000 sessions (README), with
/// headroom for message traffic.
pub const DEFAULT_SESSION_COST: u64 = 64 * 1024;

/// Memory kept for the process itself (runtime, HTTP, caches) before any
/// session is admitted.
const BASE_RESERVE: u64 = 64 * 1024 * 1024;

/// The alert is raised at this share of capacity and cleared below
/// [`RECOVER_AT`]; the gap keeps it from flapping.
pub const ALERT_AT: f64 = 0.80;
pub const RECOVER_AT: f64 = 0.70;

/// Sessions that fit in `limit` bytes at `cost` each, keeping the base
/// reserve and 20% headroom.
pub fn derive_max_sessions(limit: u64, cost: u64) -> usize {
    let usable = limit.saturating_sub(BASE_RESERVE) / 10 * 8;
    (usable / cost.max(1)) as usize
}

/// The memory limit in force: the container's cgroup limit when one is
/// set (v2 `memory.max`; v1 `memory.limit_in_bytes` on older hosts). A
/// container runtime mounts the container's own cgroup at /sys/fs/cgroup,
/// so `docker run -m 512m` shows here as 536870912.
pub fn cgroup_memory_limit() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    read("/sys/fs/cgroup/memory.max")
        .and_then(|text| parse_cgroup_limit(&text))
        .or_else(|| {
            read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
                .and_then(|text| parse_cgroup_limit(&text))
        })
}

/// A cgroup memory limit file's text: bytes, or none for `max` (v2) and
/// for v1's "unlimited", the largest page-aligned signed 64-bit number.
pub fn parse_cgroup_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 62).then_some(bytes)
}

/// This process's resident set size in bytes (Linux `/proc/self/statm`).
pub fn process_rss() -> Option<u64> {
    rss_from_statm(&std::fs::read_to_string("/proc/self/statm").ok()?)
}

/// Resident bytes from the text of a `/proc/PID/statm` file (its second
/// field, in 4 KiB pages: the page size of every platform wasp targets).
pub fn rss_from_statm(statm: &str) -> Option<u64> {
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * 4096)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MemoryReport {
    /// Process RSS in bytes (null where the platform does not tell).
    pub rss_bytes: Option<u64>,
    /// The memory limit in force, if any.
    pub limit_bytes: Option<u64>,
    /// Bytes one session costs, as used for capacity.
    pub per_session_bytes: u64,
    /// What sessions cost here now: (RSS − RSS before any session) /
    /// sessions, once enough sessions run for the figure to mean something.
    pub measured_per_session_bytes: Option<u64>,
}

/// Sessions needed before the measured per-session cost is reported.
const MEASURE_FROM: usize = 10;

/// Sessions needed before the measured cost may change the budget.
const BUDGET_FROM: usize = 100;

/// What one session is budgeted at for the derived capacity: the default,
/// or the measured cost plus 25% once enough sessions run and they turn
/// out dearer than the default (message traffic, big sessions). The budget
/// never drops below the default, so a quiet moment cannot inflate the
/// capacity.
pub fn budget_cost(measured: Option<u64>, sessions: usize) -> u64 {
    match measured {
        Some(m) if sessions >= BUDGET_FROM => DEFAULT_SESSION_COST.max(m + m / 4),
        _ => DEFAULT_SESSION_COST,
    }
}

/// Per-session cost from RSS growth over the host's baseline.
pub fn measured_cost(rss: Option<u64>, baseline: Option<u64>, sessions: usize) -> Option<u64> {
    if sessions < MEASURE_FROM {
        return None;
    }
    Some(rss?.saturating_sub(baseline?) / sessions as u64)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CapacityReport {
    pub sessions: usize,
    pub max_sessions: usize,
    /// sessions / max_sessions, or RSS / limit when that is higher.
    pub utilization: f64,
    pub memory: MemoryReport,
    pub alert: bool,
    /// Media uploads and downloads in flight, and how many may be.
    pub media_transfers: usize,
    pub max_media_transfers: usize,
}

/// How full a process is: its sessions against its capacity, or its
/// memory against its limit when that is higher.
pub fn utilization(sessions: u64, max_sessions: u64, rss: Option<u64>, limit: Option<u64>) -> f64 {
    let by_sessions = sessions as f64 / max_sessions.max(1) as f64;
    let by_memory = match (rss, limit) {
        (Some(rss), Some(limit)) if limit > 0 => rss as f64 / limit as f64,
        _ => 0.0,
    };
    by_sessions.max(by_memory)
}

/// Raises the alert once past [`ALERT_AT`] and clears it once below
/// [`RECOVER_AT`]. Returns the change, if any.
pub fn next_alert(raised: bool, utilization: f64) -> Option<bool> {
    if !raised && utilization >= ALERT_AT {
        Some(true)
    } else if raised && utilization < RECOVER_AT {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_limits_read_as_bytes_and_unlimited_as_none() {
        assert_eq!(parse_cgroup_limit("536870912\n"), Some(512 << 20));
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(parse_cgroup_limit(""), None);
    }

    #[test]
    fn derived_capacity_keeps_reserve_and_headroom() {
        assert_eq!(derive_max_sessions(BASE_RESERVE, 1024), 0);
        let limit = 512 * 1024 * 1024;
        let max = derive_max_sessions(limit, DEFAULT_SESSION_COST);
        assert!(max > 4_000 && max < 6_000, "{max}");
    }

    #[test]
    fn measured_cost_needs_enough_sessions() {
        assert_eq!(measured_cost(Some(2_000), Some(1_000), 5), None);
        assert_eq!(measured_cost(Some(11_000), Some(1_000), 10), Some(1_000));
        assert_eq!(measured_cost(None, Some(1_000), 10), None);
    }

    #[test]
    fn the_budget_follows_a_dearer_measured_cost_only() {
        assert_eq!(budget_cost(None, 1_000), DEFAULT_SESSION_COST);
        assert_eq!(budget_cost(Some(30_000), 1_000), DEFAULT_SESSION_COST);
        assert_eq!(budget_cost(Some(200_000), 50), DEFAULT_SESSION_COST);
        assert_eq!(budget_cost(Some(200_000), 1_000), 250_000);
    }

    #[test]
    fn alert_has_hysteresis() {
        assert_eq!(next_alert(false, 0.79), None);
        assert_eq!(next_alert(false, 0.80), Some(true));
        assert_eq!(next_alert(true, 0.75), None, "cleared too early");
        assert_eq!(next_alert(true, 0.69), Some(false));
    }
}
