//! Arguments and parsers several commands share.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

/// Where sessions connect and whom they trust: shared by every command
/// that runs sessions.
#[derive(Args)]
pub struct WhatsAppArgs {
    /// WhatsApp's chat endpoint (a simulator's `ws://ADDR/ws/chat` in tests).
    #[arg(long, env = "WASP_WHATSAPP_URL", default_value = wasp::client::DEFAULT_URL)]
    pub whatsapp_url: String,
    /// The certificate root the server's Noise certificate chain must lead
    /// to, as 64 hex digits. Defaults to WhatsApp's real root.
    #[arg(long, env = "WASP_WHATSAPP_ROOT_KEY", value_parser = parse_root_key)]
    pub whatsapp_root_key: Option<[u8; 32]>,
    /// A PEM file of certificate authorities trusted for `wss://` and the
    /// media hosts besides the Mozilla roots (a simulator over TLS:
    /// `wasp sim --tls-ca-file`).
    #[arg(long, env = "WASP_WHATSAPP_CA_FILE")]
    pub whatsapp_ca_file: Option<std::path::PathBuf>,
}

impl WhatsAppArgs {
    /// The client configuration these arguments describe, over `base`.
    pub fn client_config(
        &self,
        base: wasp::client::ClientConfig,
    ) -> anyhow::Result<wasp::client::ClientConfig> {
        let mut config = wasp::client::ClientConfig {
            url: self.whatsapp_url.clone(),
            ..base
        };
        if let Some(root) = self.whatsapp_root_key {
            config.root_key = root;
        }
        if let Some(path) = &self.whatsapp_ca_file {
            trust_ca_file(path, "WhatsApp", |pem| config.trust_pem(pem))?;
        }
        Ok(config)
    }
}

/// Reads the PEM file of certificate authorities at `path` and hands it
/// to `trust`; errors name the file and what it was for (`what`).
pub fn trust_ca_file(
    path: &std::path::Path,
    what: &str,
    trust: impl FnOnce(&[u8]) -> Result<usize, String>,
) -> anyhow::Result<()> {
    let pem = std::fs::read(path)
        .with_context(|| format!("reading {what} CA file {}", path.display()))?;
    trust(&pem).map_err(|e| anyhow::anyhow!("{what} CA file {}: {e}", path.display()))?;
    Ok(())
}

pub fn parse_root_key(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("a root key is 32 bytes, got {}", b.len()))
}

/// `10s`, `500ms`, `2m`, or plain seconds (`10`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: use e.g. 10s or 500ms"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit in {text:?}: use ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}
