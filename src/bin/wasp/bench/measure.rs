//! Reading another process's memory and CPU from /proc (Linux).

use anyhow::Context as _;

/// Resident set size of `pid` in bytes.
pub fn rss(pid: u32) -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .with_context(|| format!("reading /proc/{pid}/statm"))?;
    wasp::host::rss_from_statm(&statm).context("unexpected statm")
}

/// utime + stime of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces, inside parens).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at 3.
    let utime: u64 = fields
        .get(11)
        .and_then(|f| f.parse().ok())
        .context("no utime")?;
    let stime: u64 = fields
        .get(12)
        .and_then(|f| f.parse().ok())
        .context("no stime")?;
    Ok(utime + stime)
}

/// USER_HZ: 100 on every Linux this runs on.
pub fn ticks_per_sec() -> f64 {
    100.0
}
