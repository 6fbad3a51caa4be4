//! A small WebDriver client driving the system's headless Chromium
//! through `chromedriver`: WebDriver is JSON over HTTP, so hyper's client
//! (already a dependency) does it, with no browser-automation crate.
//!
//! Chromium and chromedriver are Debian's `chromium` and
//! `chromium-driver` packages (`.ci/run` installs them when missing); a
//! test that needs them fails with that advice rather than skipping.

#![allow(dead_code)] // each test binary uses a different part

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// A hang guard, not a timing assertion.
pub const GUARD: Duration = Duration::from_secs(60);

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    /// `host:port` of chromedriver.
    authority: String,
    session: String,
    _profile: tempfile::TempDir,
}

fn find_program(env: &str, candidates: &[&str]) -> Option<String> {
    if let Ok(path) = std::env::var(env) {
        return Some(path);
    }
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session
    /// with a window of `width`×`height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> Browser {
        let advice = "this test drives headless Chromium: install Debian's `chromium` and \
                      `chromium-driver` packages (.ci/run does), or point WASP_CHROMIUM and \
                      WASP_CHROMEDRIVER at the binaries";
        let chromium = find_program("WASP_CHROMIUM", &["/usr/bin/chromium"])
            .unwrap_or_else(|| panic!("no chromium found; {advice}"));
        let chromedriver = find_program("WASP_CHROMEDRIVER", &["/usr/bin/chromedriver"])
            .unwrap_or_else(|| panic!("no chromedriver found; {advice}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = Command::new(&chromedriver);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, so the browser it starts goes with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command
            .spawn()
            .unwrap_or_else(|e| panic!("{chromedriver} does not start ({e}); {advice}"));
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Browser {
            driver,
            authority: format!("127.0.0.1:{port}"),
            session: String::new(),
            _profile: profile,
        };
        let ready = async {
            loop {
                if let Ok(status) = browser.call("GET", "/status", None).await {
                    if status["ready"] == true {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(GUARD, ready)
            .await
            .expect("chromedriver answers /status");
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [
                            "--headless=new",
                            // Root in CI: Chromium's sandbox refuses to run as root.
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-extensions",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--no-first-run",
                            "--force-device-scale-factor=1",
                            "--lang=en-US",
                            format!("--window-size={width},{height}"),
                            format!("--user-data-dir={}", browser._profile.path().display()),
                        ],
                    },
                },
            },
        });
        let created = browser
            .call("POST", "/session", Some(capabilities))
            .await
            .unwrap_or_else(|e| panic!("chromedriver starts no Chromium session: {e}"));
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser
    }

    /// One WebDriver command; its `value`, or the error WebDriver gave.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("connecting to chromedriver: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::CONNECTION, "close")
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(GUARD, sender.send_request(request))
            .await
            .map_err(|_| format!("{method} {path}: no answer"))?
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let json: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{method} {path}: not JSON ({e})"))?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {}", json["value"]));
        }
        Ok(json["value"].clone())
    }

    async fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The element `css` selects, waiting for it to exist.
    pub async fn find(&self, css: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        let body = json!({ "using": "css selector", "value": css });
        let find = async {
            loop {
                if let Ok(found) = self.call("POST", &path, Some(body.clone())).await {
                    if let Some(id) = found[ELEMENT].as_str() {
                        return id.to_string();
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(GUARD, find)
            .await
            .unwrap_or_else(|_| panic!("no element {css}"))
    }

    /// Clicks `css` as a user would (WebDriver scrolls it into view and
    /// refuses what is hidden or covered).
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})))
            .await;
    }

    /// Empties the field `css` and types `text` into it, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.session_call("POST", &format!("/element/{id}/clear"), Some(json!({})))
            .await;
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The rendered text of `css` (empty when it is hidden).
    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        let value = self
            .session_call("GET", &format!("/element/{id}/text"), None)
            .await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Polls `script` until it returns something other than null, false
    /// or an empty string; that value.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let wait = async {
            loop {
                let value = self.js(script).await;
                let empty = value.is_null() || value == false || value == "";
                if !empty {
                    return value;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        match tokio::time::timeout(GUARD, wait).await {
            Ok(value) => value,
            Err(_) => {
                let page = self.js("return document.body.innerText").await;
                panic!(
                    "never happened: {what}\n--- the page shows:\n{}",
                    page.as_str().unwrap_or_default()
                )
            }
        }
    }

    /// The viewport as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        let value = self.session_call("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .expect("base64 PNG")
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.session_call(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Ends the browser session and chromedriver.
    pub async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = self.call("DELETE", &path, None).await;
        self.kill();
    }

    fn kill(&mut self) {
        // The whole group: chromedriver and the Chromium it started.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.driver.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}
