//! Harness for the interop tests: a tiny client for the simulator's JSON
//! admin API (the simulated phone's API) and the independent
//! `whatsapp-rust` peer wired to talk only to the simulator.

pub mod admin;
pub mod link;
pub mod peer;

/// Routes `tracing` (ours) and `log` (whatsapp-rust's) records to the test
/// output. `RUST_LOG` overrides the default filter. Safe to call from every
/// test: only the first call installs anything.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,wasp=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
