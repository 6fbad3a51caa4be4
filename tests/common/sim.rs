//! Starts our simulated WhatsApp server in-process for a test.

use anyhow::Result;
use wasp::sim::{SimConfig, SimHandle};

/// A running simulator and the two URLs a test needs. Dropping it leaves
/// the simulator's task to end with the test's runtime.
pub struct RunningSim {
    /// The chat endpoint, `ws://127.0.0.1:PORT/ws/chat`.
    pub ws_url: String,
    /// Base URL of the admin API, `http://127.0.0.1:PORT`.
    pub http_url: String,
    pub handle: SimHandle,
}

/// Starts a simulator with the default configuration on a free loopback port.
pub async fn start() -> Result<RunningSim> {
    let handle = wasp::sim::start(SimConfig::default()).await?;
    Ok(RunningSim {
        ws_url: handle.ws_url(),
        http_url: handle.http_url(),
        handle,
    })
}
