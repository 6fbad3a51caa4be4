//! A deliberately tiny HTTP/1.1 JSON client for the simulator's admin API
//! (`/sim/...`), written on a plain tokio `TcpStream` so the tests need no
//! HTTP client crate. One request per connection (`Connection: close`).

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Admin responses are small; anything bigger means something is wrong.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// One linked device as `GET /sim/phones/{phone}/devices` reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct LinkedDevice {
    pub jid: String,
    pub connected: bool,
}

#[derive(Deserialize)]
struct PhoneCreated {
    phone: String,
}

#[derive(Deserialize)]
struct ScanAccepted {
    device: String,
}

#[derive(Deserialize)]
struct DeviceList {
    devices: Vec<LinkedDevice>,
}

/// An account's LID as `GET`/`POST /sim/phones/{phone}/lid` report it.
#[allow(dead_code)] // not every test binary reads every field
#[derive(Debug, Clone, Deserialize)]
pub struct LidStatus {
    pub phone: String,
    pub lid: String,
    pub migrated: bool,
}

/// What `POST /sim/phones/{phone}/messages` answers.
#[allow(dead_code)] // not every test binary reads every field
#[derive(Debug, Clone, Deserialize)]
pub struct SentText {
    pub id: String,
    pub to: String,
}

/// A text a simulated phone received, as `GET /sim/phones/{phone}/messages`
/// lists it.
#[allow(dead_code)] // not every test binary reads every field
#[derive(Debug, Clone, Deserialize)]
pub struct PhoneText {
    pub id: String,
    pub from: String,
    pub chat: String,
    pub text: String,
    pub from_me: bool,
}

/// A group as `/sim/groups` reports it.
#[allow(dead_code)] // not every test binary reads every field
#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    pub id: String,
    pub subject: String,
    pub description: Option<String>,
    pub addressing_mode: String,
    pub participants: Vec<GroupMember>,
}

/// One member of a [`Group`].
#[allow(dead_code)] // not every test binary reads every field
#[derive(Debug, Clone, Deserialize)]
pub struct GroupMember {
    pub phone: String,
    pub lid: String,
    pub role: String,
}

#[derive(Deserialize)]
struct PhoneTexts {
    messages: Vec<PhoneText>,
}

/// Client for the admin API of one running simulator.
#[derive(Debug, Clone)]
pub struct AdminClient {
    /// `host:port` of the simulator's listener.
    authority: String,
}

impl AdminClient {
    /// `http_url` is the simulator's base URL, e.g. `http://127.0.0.1:4321`.
    pub fn new(http_url: &str) -> Result<Self> {
        let rest = http_url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("admin URL must be plain http://, got {http_url:?}"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            bail!("admin URL has no host: {http_url:?}");
        }
        Ok(Self {
            authority: authority.to_string(),
        })
    }

    /// `POST /sim/phones`: a new simulated account; returns its phone number.
    pub async fn create_phone(&self) -> Result<String> {
        let created: PhoneCreated = self
            .call("POST", "/sim/phones", Some(serde_json::json!({})))
            .await?;
        Ok(created.phone)
    }

    /// `POST /sim/phones/{phone}/scan`: the phone scans a QR string; returns
    /// the JID of the device it linked.
    pub async fn scan(&self, phone: &str, qr: &str) -> Result<String> {
        let path = format!("/sim/phones/{}/scan", encode_path_segment(phone));
        let accepted: ScanAccepted = self
            .call("POST", &path, Some(serde_json::json!({ "qr": qr })))
            .await?;
        Ok(accepted.device)
    }

    /// `GET /sim/phones/{phone}/devices`: the phone's linked devices.
    pub async fn devices(&self, phone: &str) -> Result<Vec<LinkedDevice>> {
        let path = format!("/sim/phones/{}/devices", encode_path_segment(phone));
        let list: DeviceList = self.call("GET", &path, None).await?;
        Ok(list.devices)
    }

    /// Sends one request and decodes a 2xx JSON answer into `T`; any other
    /// status becomes an error carrying the body the simulator sent.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let (status, body) = self.raw(method, path, body).await?;
        if !(200..300).contains(&status) {
            bail!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        serde_json::from_slice(&body).with_context(|| {
            format!(
                "{method} {path}: unexpected JSON {}",
                String::from_utf8_lossy(&body)
            )
        })
    }

    /// Sends one request; returns the status code and the (de-chunked) body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, Vec<u8>)> {
        let payload = match &body {
            Some(json) => Some(serde_json::to_vec(json)?),
            None => None,
        };
        self.request(method, path, &[], payload.as_deref()).await
    }

    /// Sends one request with extra headers and a body sent as is (even
    /// when it is not JSON); returns the status code and the body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<(u16, Vec<u8>)> {
        let payload = body.unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.authority
        );
        if body.is_some() {
            request.push_str("Content-Type: application/json\r\n");
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n", payload.len()));

        let mut stream = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to the simulator at {}", self.authority))?;
        stream.write_all(request.as_bytes()).await?;
        stream.write_all(payload).await?;
        stream.flush().await?;

        let mut response = Vec::new();
        let mut limited = (&mut stream).take(MAX_RESPONSE_BYTES as u64 + 1);
        limited.read_to_end(&mut response).await?;
        if response.len() > MAX_RESPONSE_BYTES {
            bail!("{method} {path}: response larger than {MAX_RESPONSE_BYTES} bytes");
        }
        parse_response(&response).with_context(|| format!("{method} {path}"))
    }
}

/// The phones' side of LID and group tests (only some binaries use it).
#[allow(dead_code)]
impl AdminClient {
    /// `POST /sim/phones/{phone}/lid`: moves the account's chats to LID
    /// (or back).
    pub async fn set_lid_migrated(&self, phone: &str, migrated: bool) -> Result<LidStatus> {
        let path = format!("/sim/phones/{}/lid", encode_path_segment(phone));
        self.call(
            "POST",
            &path,
            Some(serde_json::json!({ "migrated": migrated })),
        )
        .await
    }

    /// `POST /sim/phones/{phone}/lid-mappings`: the phone pushes its
    /// contacts' LIDs to its companions; how many pairs it carried.
    #[allow(dead_code)] // not every test binary pushes mappings
    pub async fn share_lid_mappings(&self, phone: &str, contacts: &[&str]) -> Result<usize> {
        self.share_contacts(phone, "lid-mappings", contacts).await
    }

    /// `POST /sim/phones/{phone}/history-sync`: the phone uploads a
    /// history chunk with its contacts' LIDs and tells its companions;
    /// how many pairs it carried.
    #[allow(dead_code)] // not every test binary hands over history
    pub async fn share_history(&self, phone: &str, contacts: &[&str]) -> Result<usize> {
        self.share_contacts(phone, "history-sync", contacts).await
    }

    /// `POST /sim/phones/{phone}/{what}` naming `contacts`; the count of
    /// pairs the answer gives.
    #[allow(dead_code)] // not every test binary shares contacts
    async fn share_contacts(&self, phone: &str, what: &str, contacts: &[&str]) -> Result<usize> {
        let path = format!("/sim/phones/{}/{what}", encode_path_segment(phone));
        let answer: serde_json::Value = self
            .call(
                "POST",
                &path,
                Some(serde_json::json!({ "contacts": contacts })),
            )
            .await?;
        answer["mappings"]
            .as_u64()
            .map(|n| n as usize)
            .context("no mapping count in the answer")
    }

    /// `GET /sim/phones/{phone}/receipts`: the types of the receipts the
    /// phone got.
    #[allow(dead_code)] // not every test binary reads receipts
    pub async fn receipt_kinds(&self, phone: &str) -> Result<Vec<String>> {
        let path = format!("/sim/phones/{}/receipts", encode_path_segment(phone));
        let answer: serde_json::Value = self.call("GET", &path, None).await?;
        Ok(answer["receipts"]
            .as_array()
            .context("no receipts in the answer")?
            .iter()
            .filter_map(|r| r["kind"].as_str().map(str::to_owned))
            .collect())
    }

    /// `GET /sim/phones/{phone}/lid`.
    pub async fn lid_status(&self, phone: &str) -> Result<LidStatus> {
        let path = format!("/sim/phones/{}/lid", encode_path_segment(phone));
        self.call("GET", &path, None).await
    }

    /// `POST /sim/phones/{phone}/messages`: the phone sends a text to `to`
    /// (a phone number, a JID or a group).
    pub async fn phone_send(&self, phone: &str, to: &str, text: &str) -> Result<SentText> {
        let path = format!("/sim/phones/{}/messages", encode_path_segment(phone));
        let body = serde_json::json!({ "to": to, "text": text });
        self.call("POST", &path, Some(body)).await
    }

    /// `GET /sim/phones/{phone}/messages`: the texts the phone decrypted.
    pub async fn phone_messages(&self, phone: &str) -> Result<Vec<PhoneText>> {
        let path = format!("/sim/phones/{}/messages", encode_path_segment(phone));
        let texts: PhoneTexts = self.call("GET", &path, None).await?;
        Ok(texts.messages)
    }

    /// Just the text of each message the phone decrypted, oldest first.
    #[allow(dead_code)] // not every test binary reads texts alone
    pub async fn phone_texts(&self, phone: &str) -> Result<Vec<String>> {
        let messages = self.phone_messages(phone).await?;
        Ok(messages.into_iter().map(|m| m.text).collect())
    }

    /// `POST /sim/groups`: phone `creator` creates a group.
    pub async fn create_group(
        &self,
        creator: &str,
        subject: &str,
        members: &[&str],
    ) -> Result<Group> {
        let body =
            serde_json::json!({ "creator": creator, "subject": subject, "participants": members });
        self.call("POST", "/sim/groups", Some(body)).await
    }

    /// `POST /sim/groups` with `addressing_mode` (`pn` or `lid`).
    pub async fn create_group_addressed(
        &self,
        creator: &str,
        subject: &str,
        members: &[&str],
        addressing_mode: &str,
    ) -> Result<Group> {
        let body = serde_json::json!({
            "creator": creator,
            "subject": subject,
            "participants": members,
            "addressing_mode": addressing_mode,
        });
        self.call("POST", "/sim/groups", Some(body)).await
    }

    /// `GET /sim/groups/{group}`.
    pub async fn group(&self, group: &str) -> Result<Group> {
        let path = format!("/sim/groups/{}", encode_path_segment(group));
        self.call("GET", &path, None).await
    }

    /// `POST /sim/groups/{group}/participants`: member `by` adds and removes.
    pub async fn change_group(
        &self,
        group: &str,
        by: &str,
        add: &[&str],
        remove: &[&str],
    ) -> Result<Group> {
        let path = format!("/sim/groups/{}/participants", encode_path_segment(group));
        let body = serde_json::json!({ "by": by, "add": add, "remove": remove });
        self.call("POST", &path, Some(body)).await
    }
}

/// Splits a complete HTTP/1.1 response into status and body.
fn parse_response(response: &[u8]) -> Result<(u16, Vec<u8>)> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("response has no header terminator"))?;
    let head = std::str::from_utf8(&response[..split]).context("response head is not UTF-8")?;
    let body = &response[split + 4..];

    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;

    let chunked = lines.any(|line| {
        let mut parts = line.splitn(2, ':');
        let name = parts.next().unwrap_or_default().trim();
        let value = parts.next().unwrap_or_default().trim();
        name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        decode_chunked(body)?
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

/// Decodes a `Transfer-Encoding: chunked` body (no trailers expected).
fn decode_chunked(mut input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = input
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk size line"))?;
        let size_text = std::str::from_utf8(&input[..line_end])?;
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        input = &input[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = input
            .get(..size)
            .ok_or_else(|| anyhow!("truncated chunk of {size} bytes"))?;
        out.extend_from_slice(chunk);
        input = input.get(size + 2..).unwrap_or_default();
    }
}

/// Percent-encodes everything outside RFC 3986's unreserved set.
fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_plain_response() -> Result<()> {
        let raw = b"HTTP/1.1 201 Created\r\ncontent-length: 17\r\n\r\n{\"phone\":\"1555\"}";
        let (status, body) = parse_response(raw)?;
        assert_eq!(status, 201);
        assert_eq!(body, b"{\"phone\":\"1555\"}");
        Ok(())
    }

    #[test]
    fn parses_a_chunked_response() -> Result<()> {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n4\r\n:11}\r\n0\r\n\r\n";
        let (status, body) = parse_response(raw)?;
        assert_eq!(status, 200);
        assert_eq!(body, b"{\"a\":11}");
        Ok(())
    }

    #[test]
    fn rejects_a_truncated_response() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Le").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab")
                .is_err()
        );
    }

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode_path_segment("15551234567"), "15551234567");
        assert_eq!(encode_path_segment("+1 555"), "%2B1%20555");
    }
}
