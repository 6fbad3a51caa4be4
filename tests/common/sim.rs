//! Starts our simulated WhatsApp server in-process for a test.

use anyhow::Result;

/// A running simulator and the two URLs a test needs.
pub struct RunningSim {
    /// The chat endpoint, `ws://127.0.0.1:PORT/ws/chat`.
    pub ws_url: String,
    /// Base URL of the admin API, `http://127.0.0.1:PORT`.
    pub http_url: String,
}

/// Starts a simulator with the default configuration on a free loopback port.
pub async fn start() -> Result<RunningSim> {
    // PLACEHOLDER until the simulator lands on main: the intended body is
    //   let handle = wasp::sim::start(wasp::sim::SimConfig::default()).await?;
    //   Ok(RunningSim { ws_url: handle.ws_url(), http_url: handle.http_url(), handle })
    anyhow::bail!("wasp::sim is not implemented on this branch yet")
}
