//! Counters of the HTTP server itself (connections refused, timeouts,
//! requests refused for ambiguous framing), shared by the accept loop,
//! which counts, and `/metrics`, which shows them.
//! Must not touch: session counters (those are the host's).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct HttpStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Refused at accept because the client's IP had too many open.
    pub refused_per_ip: AtomicU64,
    /// Refused at accept because the server had too many open.
    pub refused_total: AtomicU64,
    /// Connections closed because a request head (or the next one on a
    /// kept-alive connection) did not arrive in time.
    pub head_timeouts: AtomicU64,
    /// Requests whose body did not arrive in time.
    pub body_timeouts: AtomicU64,
    /// Requests refused for carrying both Content-Length and
    /// Transfer-Encoding.
    pub ambiguous_framing: AtomicU64,
}

impl HttpStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text for these counters.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# TYPE wasp_http_connections_open gauge\nwasp_http_connections_open {}",
            get(&self.open)
        );
        let _ = writeln!(out, "# TYPE wasp_http_connections_refused_total counter");
        for (reason, counter) in [
            ("per_ip", &self.refused_per_ip),
            ("total", &self.refused_total),
        ] {
            let _ = writeln!(
                out,
                "wasp_http_connections_refused_total{{reason=\"{reason}\"}} {}",
                get(counter)
            );
        }
        let _ = writeln!(out, "# TYPE wasp_http_timeouts_total counter");
        for (phase, counter) in [("head", &self.head_timeouts), ("body", &self.body_timeouts)] {
            let _ = writeln!(
                out,
                "wasp_http_timeouts_total{{phase=\"{phase}\"}} {}",
                get(counter)
            );
        }
        let _ = writeln!(
            out,
            "# TYPE wasp_http_requests_refused_total counter\nwasp_http_requests_refused_total{{reason=\"ambiguous_framing\"}} {}",
            get(&self.ambiguous_framing)
        );
    }
}
