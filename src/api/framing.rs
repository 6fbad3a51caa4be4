//! Request framing followed on the raw bytes of a connection, to refuse
//! requests that carry both `Content-Length` and `Transfer-Encoding`
//! (a request-smuggling pattern). hyper frames such a request by
//! `Transfer-Encoding` and drops the `Content-Length` header before a
//! handler sees it, so the only place to notice is the byte stream.
//!
//! Owns: [`FramingTracker`] (request heads and body lengths, the way
//! hyper reads them) and [`Sniffed`], the socket wrapper that feeds it.
//! Must not touch: the bytes themselves (read-only), anything past
//! framing (hyper parses the request).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest request head followed; hyper is configured with the same
/// buffer limit, so it refuses every head this tracker cannot follow.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// hyper's default limit on header count.
const MAX_HEADERS: usize = 100;

/// What the tracker found about one request head, in arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// At most one of Content-Length and Transfer-Encoding.
    Clear,
    /// Both: the body length depends on which one a reader believes.
    Ambiguous,
}

/// Verdicts of one connection, pushed by the reading side and taken by
/// the service in the same order hyper hands it requests.
#[derive(Clone, Default)]
pub struct Verdicts(Arc<Mutex<VecDeque<Framing>>>);

impl Verdicts {
    fn push(&self, verdict: Framing) {
        self.lock().push_back(verdict);
    }

    /// The verdict on the next request; `None` when the tracker lost
    /// track (hyper refuses such a connection's bytes itself).
    pub fn next(&self) -> Option<Framing> {
        self.lock().pop_front()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Framing>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Fixed(u64),
    /// Chunked body, hyper's chunk decoder states.
    ChunkStart,
    ChunkSize(u64),
    ChunkSizeLws(u64),
    ChunkExtension(u64),
    ChunkSizeLf(u64),
    ChunkData(u64),
    ChunkDataCr,
    ChunkDataLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
    /// Bytes this tracker cannot follow; hyper fails on them too.
    Lost,
}

/// Follows request heads and bodies on one connection's bytes.
pub struct FramingTracker {
    state: State,
    head: Vec<u8>,
    verdicts: Verdicts,
}

impl FramingTracker {
    pub fn new(verdicts: Verdicts) -> FramingTracker {
        FramingTracker {
            state: State::Head,
            head: Vec::new(),
            verdicts,
        }
    }

    /// Takes the next bytes read from the client.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            bytes = match self.state {
                State::Lost => return,
                State::Head => self.head_bytes(bytes),
                State::Fixed(left) => {
                    let take = left.min(bytes.len() as u64) as usize;
                    self.state = match left - take as u64 {
                        0 => State::Head,
                        rest => State::Fixed(rest),
                    };
                    &bytes[take..]
                }
                State::ChunkData(left) => {
                    let take = left.min(bytes.len() as u64) as usize;
                    self.state = match left - take as u64 {
                        0 => State::ChunkDataCr,
                        rest => State::ChunkData(rest),
                    };
                    &bytes[take..]
                }
                _ => {
                    self.state = chunk_step(self.state, bytes[0]);
                    &bytes[1..]
                }
            };
        }
    }

    /// Collects a head; once complete, records its verdict and moves on
    /// to its body. Returns the bytes after what it consumed.
    fn head_bytes<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        for (i, &b) in bytes.iter().enumerate() {
            // Like httparse, empty lines before a request line are skipped.
            if self.head.is_empty() && (b == b'\r' || b == b'\n') {
                continue;
            }
            self.head.push(b);
            if b == b'\n' && (self.head.ends_with(b"\n\r\n") || self.head.ends_with(b"\n\n")) {
                self.finish_head();
                return &bytes[i + 1..];
            }
            if self.head.len() > MAX_HEAD_BYTES {
                self.state = State::Lost;
                return &[];
            }
        }
        &[]
    }

    fn finish_head(&mut self) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(_)) = request.parse(&self.head) else {
            self.state = State::Lost;
            return;
        };
        let mut length = None;
        let mut chunked = false;
        for h in request.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            } else if h.name.eq_ignore_ascii_case("content-length") {
                let parsed = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok());
                match parsed {
                    Some(n) => length = Some(n),
                    None => {
                        self.state = State::Lost;
                        return;
                    }
                }
            }
        }
        self.head.clear();
        let verdict = if chunked && length.is_some() {
            Framing::Ambiguous
        } else {
            Framing::Clear
        };
        self.verdicts.push(verdict);
        self.state = match (chunked, length) {
            (true, _) => State::ChunkStart,
            (false, Some(n)) if n > 0 => State::Fixed(n),
            _ => State::Head,
        };
    }
}

/// One byte of a chunked body, as hyper's decoder reads it.
fn chunk_step(state: State, b: u8) -> State {
    let hex = |b: u8| (b as char).to_digit(16).map(u64::from);
    let grow = |size: u64, d: u64| size.checked_mul(16).and_then(|s| s.checked_add(d));
    match state {
        State::ChunkStart => match hex(b) {
            Some(d) => State::ChunkSize(d),
            None => State::Lost,
        },
        State::ChunkSize(size) => match (hex(b), b) {
            (Some(d), _) => grow(size, d).map_or(State::Lost, State::ChunkSize),
            (None, b'\t' | b' ') => State::ChunkSizeLws(size),
            (None, b';') => State::ChunkExtension(size),
            (None, b'\r') => State::ChunkSizeLf(size),
            _ => State::Lost,
        },
        State::ChunkSizeLws(size) => match b {
            b'\t' | b' ' => State::ChunkSizeLws(size),
            b';' => State::ChunkExtension(size),
            b'\r' => State::ChunkSizeLf(size),
            _ => State::Lost,
        },
        State::ChunkExtension(size) => match b {
            b'\r' => State::ChunkSizeLf(size),
            b'\n' => State::Lost,
            _ => State::ChunkExtension(size),
        },
        State::ChunkSizeLf(size) => match (b, size) {
            (b'\n', 0) => State::EndCr,
            (b'\n', n) => State::ChunkData(n),
            _ => State::Lost,
        },
        State::ChunkDataCr => match b {
            b'\r' => State::ChunkDataLf,
            _ => State::Lost,
        },
        State::ChunkDataLf => match b {
            b'\n' => State::ChunkStart,
            _ => State::Lost,
        },
        State::Trailer => match b {
            b'\r' => State::TrailerLf,
            _ => State::Trailer,
        },
        State::TrailerLf => match b {
            b'\n' => State::EndCr,
            _ => State::Lost,
        },
        State::EndCr => match b {
            b'\r' => State::EndLf,
            _ => State::Trailer,
        },
        State::EndLf => match b {
            b'\n' => State::Head,
            _ => State::Lost,
        },
        State::Head | State::Fixed(_) | State::ChunkData(_) | State::Lost => State::Lost,
    }
}

/// A socket whose incoming bytes also go through a [`FramingTracker`].
pub struct Sniffed<S> {
    inner: S,
    tracker: FramingTracker,
}

impl<S> Sniffed<S> {
    pub fn new(inner: S, verdicts: Verdicts) -> Sniffed<S> {
        Sniffed {
            inner,
            tracker: FramingTracker::new(verdicts),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.tracker.feed(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniffed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn verdicts_of(chunks: &[&[u8]]) -> Vec<Framing> {
        let verdicts = Verdicts::default();
        let mut tracker = FramingTracker::new(verdicts.clone());
        for chunk in chunks {
            tracker.feed(chunk);
        }
        std::iter::from_fn(|| verdicts.next()).collect()
    }

    #[test]
    fn both_length_headers_are_ambiguous_in_either_order() {
        let cl_first =
            b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let te_first =
            b"POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n";
        assert_eq!(verdicts_of(&[cl_first]), [Framing::Ambiguous]);
        assert_eq!(verdicts_of(&[te_first]), [Framing::Ambiguous]);
    }

    #[test]
    fn pipelined_requests_are_followed_across_bodies() {
        let stream = concat!(
            "\r\nPOST /a HTTP/1.1\r\nContent-Length: 27\r\n\r\n",
            "GET /fake HTTP/1.1\r\n\r\nxxxxx",
            "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "5;ext=1\r\nhello\r\n1A \r\nPOST / HTTP/1.1\r\nContent-L\r\n0\r\nX-Trailer: 1\r\n\r\n",
            "POST /c HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        let want = [Framing::Clear, Framing::Clear, Framing::Ambiguous];
        assert_eq!(verdicts_of(&[stream.as_bytes()]), want);
        // The same bytes one at a time.
        let bytes: Vec<&[u8]> = stream.as_bytes().chunks(1).collect();
        assert_eq!(verdicts_of(&bytes), want);
    }

    #[test]
    fn unparseable_bytes_stop_the_tracker() {
        assert_eq!(verdicts_of(&[b"\x00\x01 nonsense\r\n\r\n"]), []);
        let bad_chunk =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\n\r\n";
        assert_eq!(verdicts_of(&[bad_chunk]), [Framing::Clear]);
    }

    /// A request with a body framed one way or the other.
    fn request(body: &[u8], chunked: bool, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        if chunked {
            out.extend_from_slice(
                b"POST /v HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            for piece in body.chunks(chunk.max(1)) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            let head = format!("PUT /v HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len());
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(body);
        }
        out
    }

    proptest! {
        /// Bodies that look like heads, in any split, never confuse it.
        #[test]
        fn every_request_gets_one_clear_verdict(
            requests in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..300), any::<bool>(), 1usize..50),
                1..6,
            ),
            split in 1usize..64,
        ) {
            let mut stream = Vec::new();
            for (body, chunked, chunk) in &requests {
                stream.extend(request(body, *chunked, *chunk));
            }
            let pieces: Vec<&[u8]> = stream.chunks(split).collect();
            let got = verdicts_of(&pieces);
            prop_assert_eq!(got, vec![Framing::Clear; requests.len()]);
        }
    }
}
