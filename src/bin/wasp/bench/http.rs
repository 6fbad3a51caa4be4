//! A small HTTP/1.1 JSON client for the harness on hyper's client
//! connections, kept alive and reused as API clients do, so a request
//! costs serve no TCP set-up.

use std::sync::Mutex;

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

type Sender = SendRequest<Full<Bytes>>;

pub struct Http {
    authority: String,
    /// Connections free for the next request.
    idle: Mutex<Vec<Sender>>,
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
            idle: Mutex::new(Vec::new()),
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
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(payload)))?;
        let mut sender = self.connection().await?;
        let response = sender
            .send_request(request)
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sender);
        Ok((status, body))
    }

    /// An idle connection still open, or a new one.
    async fn connection(&self) -> anyhow::Result<Sender> {
        loop {
            let reused = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(mut sender) = reused else { break };
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        let stream = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("HTTP with {}", self.authority))?;
        // Ends when the sender is dropped or the server closes.
        tokio::spawn(connection);
        Ok(sender)
    }
}
