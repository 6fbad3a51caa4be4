//! QR codes in the terminal: the renderer (`wasp link` draws with it
//! too) and `wasp qr`, which fetches the code a session of a running
//! `wasp serve` shows now and draws it.
//!
//! Two modules per character cell with the half blocks `▀ ▄ █`, light
//! modules drawn in the foreground colour: on the usual dark terminal
//! that gives dark modules on a light field with its quiet zone, which
//! is what a phone's camera reads.

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;
use serde_json::Value;

use crate::http_get;

/// Time one request to the API may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often `--follow` asks for a new code.
const POLL: Duration = Duration::from_secs(1);

/// `data` as a QR code drawn with Unicode half blocks, quiet zone
/// included; lines end with `\n`.
pub fn render(data: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::new(data.as_bytes())?;
    let mut text = code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    text.push('\n');
    Ok(text)
}

#[derive(Args)]
pub struct QrArgs {
    /// The session whose QR code to draw.
    session: String,
    /// Base URL of the running `wasp serve`.
    #[arg(long, env = "WASP_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The API key, when the server has one. Prefer WASP_API_KEY: a
    /// flag's value is visible to every local user in the process list.
    #[arg(long, env = "WASP_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Keep drawing each new code as it rotates, until the session is
    /// linked (or gone).
    #[arg(long)]
    follow: bool,
}

pub async fn run(args: QrArgs) -> anyhow::Result<()> {
    if !wasp::store::valid_session_id(&args.session) {
        bail!(
            "invalid session id {:?}: use 1-64 of [A-Za-z0-9_-]",
            args.session
        );
    }
    let base = args.url.trim_end_matches('/');
    let key = args.api_key.as_deref();
    let qr_url = format!("{base}/v1/sessions/{}/qr", args.session);
    let session_url = format!("{base}/v1/sessions/{}", args.session);
    let mut shown: Option<String> = None;
    loop {
        let reply = http_get::get(&qr_url, key, REQUEST_TIMEOUT).await?;
        let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        match (reply.status, body["error"].as_str()) {
            (200, _) => {
                let code = body["qr"].as_str().context("the answer has no \"qr\"")?;
                if shown.as_deref() != Some(code) {
                    print!("{}", render(code).context("drawing the QR code")?);
                    let expires = body["expires_at"].as_u64().unwrap_or(0);
                    let left = expires.saturating_sub(unix_now());
                    println!(
                        "Session {}: scan with WhatsApp (Linked devices) within {left} s\n{code}",
                        args.session
                    );
                    shown = Some(code.to_string());
                }
                if !args.follow {
                    return Ok(());
                }
            }
            (401, _) => bail!("the API key is missing or wrong: set WASP_API_KEY or --api-key"),
            (404, Some("no_qr")) => {
                let status = session_status(&session_url, key).await?;
                if !args.follow || !waits_for_qr(&status) {
                    if status == "connected" && shown.is_some() {
                        println!("Session {} is linked and connected.", args.session);
                        return Ok(());
                    }
                    bail!(
                        "session {} shows no QR code now (status: {status})",
                        args.session
                    );
                }
            }
            (status, _) => bail!(
                "{qr_url} answered {status}: {}",
                String::from_utf8_lossy(&reply.body)
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Statuses after which a QR code may still come.
fn waits_for_qr(status: &str) -> bool {
    matches!(status, "starting" | "qr" | "connecting" | "reconnecting")
}

async fn session_status(url: &str, key: Option<&str>) -> anyhow::Result<String> {
    let reply = http_get::get(url, key, REQUEST_TIMEOUT).await?;
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if reply.status != 200 {
        bail!(
            "{url} answered {}: {}",
            reply.status,
            body["message"].as_str().unwrap_or("")
        );
    }
    Ok(body["status"].as_str().unwrap_or("unknown").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading the drawing back gives the code's modules: each cell's
    /// top and bottom halves are two rows, a drawn half is a light
    /// module, and a 4-module light quiet zone surrounds the code.
    #[test]
    fn the_drawing_reads_back_as_the_qr_modules() {
        let data = "2@Xq9T3zJb1lq0,3oPq9mI7bD8=,Zt6Vx1l0=,Yw9k=,1";
        let text = render(data).unwrap();
        let code = QrCode::new(data.as_bytes()).unwrap();
        let width = code.width();
        let side = width + 8;
        let mut light = vec![vec![false; side]; side + 1];
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), side.div_ceil(2));
        for (row, line) in lines.iter().enumerate() {
            let cells: Vec<char> = line.chars().collect();
            assert_eq!(cells.len(), side, "line {row}");
            for (x, cell) in cells.into_iter().enumerate() {
                let (top, bottom) = match cell {
                    ' ' => (false, false),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    '█' => (true, true),
                    other => panic!("unexpected {other:?}"),
                };
                light[2 * row][x] = top;
                light[2 * row + 1][x] = bottom;
            }
        }
        let colors = code.to_colors();
        for (y, row) in light.iter().take(side).enumerate() {
            for (x, &drawn) in row.iter().enumerate() {
                let expected_light = match (x.checked_sub(4), y.checked_sub(4)) {
                    (Some(mx), Some(my)) if mx < width && my < width => {
                        colors[my * width + mx] == qrcode::Color::Light
                    }
                    _ => true,
                };
                assert_eq!(drawn, expected_light, "module ({x}, {y})");
            }
        }
    }
}
