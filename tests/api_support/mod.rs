//! Shared by the API hardening and fuzz tests: a real host and simulator
//! behind wasp's own HTTP server on loopback, and a raw HTTP/1.1 client
//! that shows status, headers and body exactly as the server sent them.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wasp::api::{router_with, serve, ApiKey, HttpStats, ServerConfig, Shutdown};
use wasp::client::ClientConfig;
use wasp::host::{Host, HostConfig};
use wasp::sim::{self, SimConfig, SimHandle};

/// A hang guard, not a timing assertion.
pub const GUARD: Duration = Duration::from_secs(60);
pub const KEY: &str = "test-key-0123456789";

pub struct Api {
    pub host: Arc<Host>,
    pub sim: SimHandle,
    pub addr: String,
    pub shutdown: Shutdown,
    server: tokio::task::JoinHandle<()>,
    _data: tempfile::TempDir,
}

/// One part of a multipart form: its name, file name, content type and
/// bytes.
#[allow(dead_code)] // not every test binary uploads
pub type FormPart<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

impl Api {
    pub async fn start(config: ServerConfig) -> Api {
        Api::start_with(config, |_| {}).await
    }

    /// [`Api::start`] with the host's configuration changed by `host`.
    pub async fn start_with(config: ServerConfig, host: impl FnOnce(&mut HostConfig)) -> Api {
        let sim = sim::start(SimConfig::default()).await.expect("sim starts");
        let data = tempfile::tempdir().expect("temp dir");
        let mut client = ClientConfig::for_tests(sim.ws_url(), sim.root_public_key());
        client.qr_first_ttl = Duration::from_secs(30);
        let mut host_config = HostConfig::new(data.path(), client);
        host(&mut host_config);
        let host = Host::open(host_config).expect("host opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stats = Arc::new(HttpStats::default());
        let shutdown = Shutdown::new();
        let app = router_with(host.clone(), ApiKey::new(KEY), stats.clone(), &shutdown);
        let server = tokio::spawn(serve(listener, app, config, stats, shutdown.clone()));
        let restoring = host.clone();
        tokio::spawn(async move { restoring.restore().await.expect("restore") });
        Api {
            host,
            sim,
            addr,
            shutdown,
            server,
            _data: data,
        }
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = tokio::time::timeout(GUARD, self.server).await;
        self.host.shutdown().await;
    }

    /// Creates session `id` through the API, has a new simulated phone
    /// scan its QR code and waits until it is connected; the phone.
    pub async fn linked(&self, id: &str) -> String {
        let body = format!(r#"{{"id":"{id}"}}"#);
        assert_eq!(
            self.call("POST", "/v1/sessions", Some(&body)).await.status,
            201
        );
        let qr = self
            .until(&format!("a QR code for {id}"), || async {
                let reply = self
                    .call("GET", &format!("/v1/sessions/{id}/qr"), None)
                    .await;
                (reply.status == 200).then(|| reply.json()["qr"].as_str().map(str::to_string))?
            })
            .await;
        let phone = self.sim.create_phone(None).await.expect("phone");
        self.sim.scan(&phone, &qr).await.expect("linked");
        self.until(&format!("{id} connected"), || async {
            let reply = self.call("GET", &format!("/v1/sessions/{id}"), None).await;
            (reply.json()["status"] == "connected").then_some(())
        })
        .await;
        phone
    }

    /// Polls `check` every 20 ms until it gives a value (a hang guard, not
    /// a timing assertion).
    pub async fn until<T, F: std::future::Future<Output = Option<T>>>(
        &self,
        what: &str,
        mut check: impl FnMut() -> F,
    ) -> T {
        let wait = async {
            loop {
                if let Some(found) = check().await {
                    return found;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(GUARD, wait)
            .await
            .unwrap_or_else(|_| panic!("never happened: {what}"))
    }

    /// One request on its own connection, with the API key.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let auth = format!("Bearer {KEY}");
        self.request(
            method,
            path,
            &[("Authorization", &auth)],
            body.map(str::as_bytes),
        )
        .await
    }

    /// One request on its own connection with exactly these headers
    /// (plus Host, Connection: close and Content-Length).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str("Content-Type: application/json\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut raw = head.into_bytes();
        raw.extend_from_slice(body.unwrap_or_default());
        self.raw(&raw).await
    }

    /// `POST path` with a `multipart/form-data` body of `parts`.
    #[allow(dead_code)] // not every test binary uploads
    pub async fn upload(&self, path: &str, parts: &[FormPart<'_>]) -> Reply {
        let boundary = "wasp-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, file_name, content_type, bytes) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
            if let Some(file_name) = file_name {
                disposition.push_str(&format!("; filename=\"{file_name}\""));
            }
            body.extend_from_slice(format!("{disposition}\r\n").as_bytes());
            if let Some(content_type) = content_type {
                body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {KEY}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let mut raw = head.into_bytes();
        raw.extend_from_slice(&body);
        self.raw(&raw).await
    }

    /// Sends `raw` bytes on a new connection and reads until it closes.
    pub async fn raw(&self, raw: &[u8]) -> Reply {
        let mut stream = TcpStream::connect(&self.addr).await.expect("connect");
        stream.write_all(raw).await.expect("write");
        let mut out = Vec::new();
        tokio::time::timeout(GUARD, stream.read_to_end(&mut out))
            .await
            .expect("the server closes the connection")
            .expect("read");
        Reply::parse(&out)
            .unwrap_or_else(|| panic!("not an HTTP response: {:?}", String::from_utf8_lossy(&out)))
    }

    /// The value of one line of /metrics.
    pub async fn metric(&self, line_start: &str) -> u64 {
        let reply = self.call("GET", "/metrics", None).await;
        let text = String::from_utf8_lossy(&reply.body).to_string();
        text.lines()
            .find_map(|l| l.strip_prefix(line_start))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line_start} in {text}"))
    }
}

/// One HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// Parses the first response in `bytes` (more may follow).
    pub fn parse(bytes: &[u8]) -> Option<Reply> {
        Reply::parse_one(bytes).map(|(reply, _)| reply)
    }

    /// Status and headers only (a stream's body never ends), and where
    /// the body starts.
    pub fn parse_head(bytes: &[u8]) -> Option<(Reply, usize)> {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&bytes[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        Some((reply, end + 4))
    }

    /// The first response and how many bytes it took.
    pub fn parse_one(bytes: &[u8]) -> Option<(Reply, usize)> {
        let (mut reply, body_at) = Reply::parse_head(bytes)?;
        let end = body_at - 4;
        let mut rest = &bytes[body_at..];
        let start = rest.len();
        if reply.header("transfer-encoding") == Some("chunked") {
            loop {
                let line = rest.windows(2).position(|w| w == b"\r\n")?;
                let size_text = std::str::from_utf8(&rest[..line]).ok()?;
                let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
                rest = &rest[line + 2..];
                if size == 0 {
                    rest = rest.get(2..).unwrap_or_default();
                    break;
                }
                reply.body.extend_from_slice(rest.get(..size)?);
                rest = rest.get(size + 2..)?;
            }
        } else {
            let length = reply
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(rest.len());
            reply.body = rest.get(..length)?.to_vec();
            rest = &rest[length..];
        }
        Some((reply, end + 4 + start - rest.len()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answer is not JSON ({e}): {:?} {:?}",
                self.status,
                self.headers,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a JSON API error with this status and code.
    pub fn assert_error(&self, status: u16, code: &str, what: &str) {
        let json = self.json();
        assert_eq!(self.status, status, "{what}: {json}");
        assert_eq!(json["error"], code, "{what}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: no message in {json}"
        );
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{what}: content-type {:?}",
            self.header("content-type")
        );
    }
}
