//! The client side of a WebSocket (RFC 6455), written for thousands of
//! mostly idle connections in one process: while nothing arrives and
//! nothing is being sent, a connection holds no buffer at all.
//!
//! tokio-tungstenite (still the server side, in the simulator) keeps two
//! buffers per connection for its whole life: the 4 KiB its HTTP upgrade
//! read the answer into, and a write buffer as large as the largest message
//! ever sent. Here, bytes are read in a chunk on the stack inside `poll`
//! and kept only while a frame is incomplete; outgoing frames are written
//! from their own allocation, which is freed once written.
//!
//! Scope: what WhatsApp's chat socket needs. Binary messages (fragmented
//! or not), ping (answered with a pong), pong (ignored), close (answered,
//! then the connection ends); text messages, extensions and reserved bits
//! are errors. Nothing here panics on what the server sends.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::Uri;

use super::WireError;

/// Bytes taken from the socket per read, on the stack of one `poll`.
const READ_CHUNK: usize = 2048;

/// Most bytes of the server's HTTP upgrade answer we read.
const MAX_UPGRADE_RESPONSE: usize = 8 * 1024;

/// Opcodes (RFC 6455 §5.2).
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A TCP stream, or TLS over one (`wss://`). The TLS state is boxed: it is
/// large, and plain connections should not carry its size.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One client WebSocket connection.
pub struct WebSocket<S> {
    stream: S,
    /// Received bytes that do not make a whole frame yet (empty, with no
    /// allocation, between frames).
    input: Vec<u8>,
    /// The fragments of a message still in progress.
    message: Vec<u8>,
    /// Whether a fragmented message is in progress.
    fragmented: bool,
    /// Frames not yet (fully) written: a send cut short, or a pong.
    output: Vec<u8>,
    /// Largest message accepted.
    max_message: usize,
    closed: bool,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("buffered_in", &self.input.len())
            .field("buffered_out", &self.output.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Opens `ws://` or `wss://` `url` with the given `Origin` header; TLS
/// trusts `tls`'s roots.
pub async fn connect(
    url: &str,
    origin: &str,
    tls: Arc<rustls::ClientConfig>,
    max_message: usize,
) -> Result<WebSocket<Stream>, WireError> {
    let bad = |why: &str| WireError::WebSocket(format!("bad URL {url:?}: {why}"));
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(bad("the scheme must be ws or wss")),
    };
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    // Brackets for IPv6 literals are part of `host` in a `Uri`.
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| WireError::WebSocket(format!("connecting to {host}:{port}: {e}")))?;
    // Nagle off: stanzas are small and latency-sensitive.
    let _ = tcp.set_nodelay(true);
    let stream = if secure {
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|_| bad("the host is not a valid TLS server name"))?;
        let tls = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| WireError::WebSocket(format!("TLS with {host}: {e}")))?;
        Stream::Tls(Box::new(tls))
    } else {
        Stream::Plain(tcp)
    };
    let authority = uri.authority().map_or(host, |a| a.as_str());
    upgrade(stream, authority, path, origin, max_message).await
}

/// The HTTP/1.1 upgrade (RFC 6455 §4.1) over an open stream.
pub async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    authority: &str,
    path: &str,
    origin: &str,
    max_message: usize,
) -> Result<WebSocket<S>, WireError> {
    let mut ws = WebSocket {
        stream,
        input: Vec::new(),
        message: Vec::new(),
        fragmented: false,
        output: Vec::new(),
        max_message,
        closed: false,
    };
    let key = generate_key();
    ws.output = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
    )
    .into_bytes();
    poll_fn(|cx| ws.poll_write_output(cx))
        .await
        .map_err(io_error)?;
    let head_len = loop {
        if let Some(end) = find(&ws.input, b"\r\n\r\n") {
            break end + 4;
        }
        if ws.input.len() > MAX_UPGRADE_RESPONSE {
            return Err(WireError::WebSocket(
                "the upgrade answer has no end of headers".into(),
            ));
        }
        if poll_fn(|cx| ws.poll_read_more(cx))
            .await
            .map_err(io_error)?
            == 0
        {
            return Err(WireError::WebSocket(
                "the server closed during the upgrade".into(),
            ));
        }
    };
    check_upgrade_answer(&ws.input[..head_len], &key)?;
    // Frames the server sent right behind its answer stay for `recv`.
    ws.input.drain(..head_len);
    ws.shed_input();
    Ok(ws)
}

/// Status 101 and the accept key that proves the server read our key.
fn check_upgrade_answer(head: &[u8], key: &str) -> Result<(), WireError> {
    let text = std::str::from_utf8(head)
        .map_err(|_| WireError::WebSocket("the upgrade answer is not text".into()))?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.split(' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(WireError::WebSocket(format!(
            "bad upgrade status line {status:?}"
        )));
    };
    if !version.starts_with("HTTP/1.") || code != "101" {
        return Err(WireError::WebSocket(format!(
            "the server refused the upgrade: {status}"
        )));
    }
    let header = |name: &str| {
        lines.clone().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err(WireError::WebSocket(
            "the answer does not upgrade to websocket".into(),
        ));
    }
    if header("sec-websocket-accept") != Some(derive_accept_key(key.as_bytes()).as_str()) {
        return Err(WireError::WebSocket("wrong Sec-WebSocket-Accept".into()));
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn io_error(e: io::Error) -> WireError {
    WireError::WebSocket(e.to_string())
}

/// One parsed frame header: (fin, opcode, payload start, payload length).
type Header = (bool, u8, usize, usize);

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Sends one binary message as one masked frame. If cancelled, what
    /// was not written yet is kept and goes out before anything else.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), WireError> {
        if self.closed {
            return Err(WireError::Closed);
        }
        self.queue_frame(OP_BINARY, data);
        poll_fn(|cx| self.poll_write_output(cx))
            .await
            .map_err(io_error)
    }

    /// The next binary message; `Ok(None)` once the server closed.
    /// Cancel-safe: all state lives in `self`, and bytes move into it in
    /// the same `poll` that reads them.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        loop {
            if self.closed {
                return Ok(None);
            }
            if let Some(header) = self.parse_header()? {
                if let Some(message) = self.take_frame(header)? {
                    return Ok(Some(message));
                }
                continue;
            }
            let read = poll_fn(|cx| {
                // A pong (or the rest of a send) goes out while we wait.
                if !self.output.is_empty() {
                    if let Poll::Ready(Err(e)) = self.poll_write_output(cx) {
                        return Poll::Ready(Err(e));
                    }
                }
                self.poll_read_more(cx)
            })
            .await
            .map_err(io_error)?;
            if read == 0 {
                if self.input.is_empty() && !self.fragmented {
                    self.closed = true;
                    return Ok(None);
                }
                return Err(WireError::WebSocket(
                    "the connection ended inside a frame".into(),
                ));
            }
        }
    }

    /// Sends a close frame and shuts the stream down (best effort,
    /// bounded: a dead peer must not keep a closing session around).
    pub async fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.queue_frame(OP_CLOSE, &1000u16.to_be_bytes());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            poll_fn(|cx| self.poll_write_output(cx)).await?;
            poll_fn(|cx| Pin::new(&mut self.stream).poll_shutdown(cx)).await
        })
        .await;
    }

    /// Appends a masked frame (RFC 6455 §5.2-5.3) to the output.
    fn queue_frame(&mut self, opcode: u8, payload: &[u8]) {
        let mask: [u8; 4] = rand::random();
        let len = payload.len();
        self.output.reserve(14 + len);
        self.output.push(0x80 | opcode);
        if len < 126 {
            self.output.push(0x80 | len as u8);
        } else if let Ok(short) = u16::try_from(len) {
            self.output.push(0x80 | 126);
            self.output.extend_from_slice(&short.to_be_bytes());
        } else {
            self.output.push(0x80 | 127);
            self.output.extend_from_slice(&(len as u64).to_be_bytes());
        }
        self.output.extend_from_slice(&mask);
        self.output.extend(
            payload
                .iter()
                .zip(mask.iter().cycle())
                .map(|(byte, m)| byte ^ m),
        );
    }

    /// Writes and flushes the output; frees it once written.
    fn poll_write_output(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.output.is_empty() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.output))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.output.drain(..n);
        }
        self.output = Vec::new();
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Reads one chunk into `input`; `Ready(Ok(0))` at end of stream.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut chunk = [0u8; READ_CHUNK];
        let mut buf = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
        self.input.extend_from_slice(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    }

    /// The header of the next frame, once `input` holds all of it.
    fn parse_header(&self) -> Result<Option<Header>, WireError> {
        let b = &self.input;
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        if b[0] & 0x70 != 0 {
            return Err(WireError::WebSocket("reserved bits set".into()));
        }
        let opcode = b[0] & 0x0F;
        if b[1] & 0x80 != 0 {
            return Err(WireError::WebSocket("masked frame from the server".into()));
        }
        let (start, len) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (4, usize::from(u16::from_be_bytes([b[2], b[3]]))),
            127 if b.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                let len = usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX);
                (10, len)
            }
            126 | 127 => return Ok(None),
            short => (2, usize::from(short)),
        };
        if len > self.max_message {
            return Err(WireError::WebSocket(format!(
                "frame of {len} bytes is over the {} byte limit",
                self.max_message
            )));
        }
        let control = opcode & 0x8 != 0;
        if control && (len > 125 || !fin) {
            return Err(WireError::WebSocket("malformed control frame".into()));
        }
        if b.len() < start + len {
            return Ok(None);
        }
        Ok(Some((fin, opcode, start, len)))
    }

    /// Consumes the complete frame at the front of `input`; a whole
    /// message comes back once its last fragment is in.
    fn take_frame(
        &mut self,
        (fin, opcode, start, len): Header,
    ) -> Result<Option<Vec<u8>>, WireError> {
        let payload = start..start + len;
        let out = match opcode {
            OP_BINARY | OP_CONTINUATION => {
                if (opcode == OP_BINARY) == self.fragmented {
                    return Err(WireError::WebSocket("unexpected fragment order".into()));
                }
                if self.message.len() + len > self.max_message {
                    return Err(WireError::WebSocket("message over the size limit".into()));
                }
                if fin && !self.fragmented {
                    Some(self.input[payload].to_vec())
                } else {
                    self.message.extend_from_slice(&self.input[payload]);
                    self.fragmented = !fin;
                    fin.then(|| std::mem::take(&mut self.message))
                }
            }
            OP_PING => {
                let data = self.input[payload].to_vec();
                self.queue_frame(OP_PONG, &data);
                None
            }
            OP_PONG => None,
            OP_CLOSE => {
                // Echo the status code, as the protocol asks.
                let code = self.input[payload].get(..2).map(<[u8]>::to_vec);
                self.queue_frame(OP_CLOSE, code.as_deref().unwrap_or_default());
                self.closed = true;
                None
            }
            OP_TEXT => {
                return Err(WireError::WebSocket(
                    "unexpected text message (the protocol is binary)".into(),
                ))
            }
            other => {
                return Err(WireError::WebSocket(format!("unknown opcode {other:#x}")));
            }
        };
        self.input.drain(..start + len);
        self.shed_input();
        Ok(out)
    }

    /// Gives the input buffer back once it is drained.
    fn shed_input(&mut self) {
        if self.input.is_empty() {
            self.input = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests;
