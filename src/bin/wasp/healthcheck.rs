//! `wasp healthcheck`: GETs `/healthz` of a running `wasp serve` and
//! exits 0 when it answers 200, 1 otherwise. The container image's
//! `HEALTHCHECK` runs it: its base has no shell and no curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use clap::Args;

use crate::args::parse_duration;
use crate::http_get;

#[derive(Args)]
pub struct HealthcheckArgs {
    /// URL to probe. Default: `/healthz` at the address `wasp serve`
    /// listens on (`--listen` / WASP_LISTEN; an unspecified address such
    /// as 0.0.0.0 is probed on loopback).
    #[arg(long, env = "WASP_HEALTHCHECK_URL")]
    url: Option<String>,
    /// The address `wasp serve` listens on.
    #[arg(long, env = "WASP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Time to wait for the answer (`3s`, `500ms`).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    timeout: Duration,
}

pub async fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let url = args.url.unwrap_or_else(|| probe_url(args.listen));
    let reply = http_get::get(&url, None, args.timeout).await?;
    if reply.status != 200 {
        anyhow::bail!("{url} answered {}", reply.status);
    }
    println!("ok");
    Ok(())
}

/// `/healthz` at `listen`, reached over loopback when `listen` is an
/// unspecified address (a server on 0.0.0.0 is reachable at 127.0.0.1).
fn probe_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listener_is_probed_on_loopback() {
        let probe = |s: &str| probe_url(s.parse().unwrap());
        assert_eq!(probe("0.0.0.0:8080"), "http://127.0.0.1:8080/healthz");
        assert_eq!(probe("[::]:9000"), "http://[::1]:9000/healthz");
        assert_eq!(probe("10.1.2.3:80"), "http://10.1.2.3:80/healthz");
    }
}
