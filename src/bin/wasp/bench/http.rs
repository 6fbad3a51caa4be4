//! A small HTTP/1.1 JSON client for the harness (one request per
//! connection), so the harness needs no HTTP client crate.

use anyhow::{anyhow, bail, Context as _};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Http {
    authority: String,
}

impl Http {
    pub fn new(base_url: &str) -> anyhow::Result<Http> {
        let authority = base_url
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| anyhow!("not an http:// URL: {base_url}"))?;
        Ok(Http {
            authority: authority.to_string(),
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.request("GET", path, None).await
    }

    /// A request that must answer 2xx.
    pub async fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, value) = self.request(method, path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path} answered {status}: {value}");
        }
        Ok(value)
    }

    /// A GET whose answer is not JSON (e.g. /metrics).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let (status, body) = self.request_raw("GET", path, None).await?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let (status, body) = self.request_raw(method, path, body).await?;
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, value))
    }

    async fn request_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
            self.authority,
            payload.len()
        );
        let mut stream = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no end of headers")?;
        let head = String::from_utf8_lossy(&response[..split]);
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("bad status line")?;
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = &response[split + 4..];
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        };
        Ok((status, body))
    }
}

fn dechunk(mut input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = input.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&input[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        let Some(chunk) = input.get(start..start + size) else {
            break;
        };
        out.extend_from_slice(chunk);
        input = input.get(start + size + 2..).unwrap_or_default();
    }
    out
}
