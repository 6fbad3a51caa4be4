//! Frame codec: the connection header and 3-byte length-prefixed frames.
//!
//! A client's first bytes are an optional edge-routing preamble, then the
//! 4-byte header `WA` + magic 6 + dictionary version 3, then frames. Each
//! frame is a 24-bit big-endian length and that many bytes. Frames may be
//! split across WebSocket messages or several may share one.
//!
//! Why a hand-written incremental decoder: WebSocket message boundaries
//! mean nothing to this protocol, so bytes must be buffered until a whole
//! frame is present. That buffer lives as long as the connection, so for
//! thousands of idle sessions it must cost nothing when idle: it is freed
//! as soon as it drains, and a large frame's allocation is not kept around
//! afterwards. A peer cannot make us buffer more than one frame of
//! `max_frame_len` (plus whatever a single push carries): an oversized
//! length prefix is an error as soon as it is seen, before its payload
//! arrives.

/// `WA`, magic value 6, binary dictionary version 3 (WhatsApp Web; also in
/// whatsmeow `socket.WAConnHeader`).
pub const WA_HEADER: [u8; 4] = [b'W', b'A', 6, 3];

/// Largest payload a 3-byte length can describe.
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;

/// Magic of the edge-routing preamble: `ED`, 0, 1, followed by a 3-byte
/// big-endian length and the routing bytes (wacore-noise
/// `edge_routing::build_edge_routing_preintro`; WhatsApp Web).
pub const EDGE_ROUTING_MAGIC: [u8; 4] = [b'E', b'D', 0, 1];

/// The most routing bytes a client may put in its preamble (the 3-byte
/// length's range).
pub const MAX_ROUTING_INFO_LEN: usize = (1 << 24) - 1;

/// The most routing bytes the server-role decoder accepts. Real routing
/// info is a few dozen bytes; a bound keeps a hostile client from making
/// the server buffer megabytes before the handshake even starts.
pub const SERVER_MAX_ROUTING_INFO_LEN: usize = 4096;

/// Size of the length prefix of every frame.
const LEN_PREFIX: usize = 3;

/// A drained buffer bigger than this is freed rather than kept for reuse,
/// so one large frame does not pin its allocation for the connection's
/// lifetime. (A fully drained buffer is always freed: see `compact`.)
const KEEP_CAPACITY: usize = 16 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the limit of {1}")]
    TooLarge(usize, usize),
    #[error("bad connection header")]
    BadHeader,
    #[error("bad edge-routing preamble")]
    BadPreamble,
    #[error("edge-routing info of {0} bytes exceeds the limit of {1}")]
    RoutingInfoTooLarge(usize, usize),
}

/// Appends one length-prefixed frame holding `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    out.reserve(LEN_PREFIX + payload.len());
    push_frame_len(payload.len(), out)?;
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends the 3-byte length prefix of a `len`-byte frame to `out`, for
/// callers that write the payload in place afterwards.
pub fn push_frame_len(len: usize, out: &mut Vec<u8>) -> Result<(), FrameError> {
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len, MAX_FRAME_LEN));
    }
    out.extend_from_slice(&be24(len));
    Ok(())
}

/// The bytes a client sends before its first frame: an optional
/// edge-routing preamble followed by [`WA_HEADER`].
pub fn client_intro(routing_info: Option<&[u8]>) -> Result<Vec<u8>, FrameError> {
    let Some(routing) = routing_info else {
        return Ok(WA_HEADER.to_vec());
    };
    if routing.len() > MAX_ROUTING_INFO_LEN {
        return Err(FrameError::RoutingInfoTooLarge(
            routing.len(),
            MAX_ROUTING_INFO_LEN,
        ));
    }
    let mut intro = Vec::with_capacity(EDGE_ROUTING_MAGIC.len() + 3 + routing.len() + 4);
    intro.extend_from_slice(&EDGE_ROUTING_MAGIC);
    intro.extend_from_slice(&be24(routing.len()));
    intro.extend_from_slice(routing);
    intro.extend_from_slice(&WA_HEADER);
    Ok(intro)
}

/// The low 24 bits of `len`, big-endian (callers have checked the range).
fn be24(len: usize) -> [u8; 3] {
    let [_, a, b, c] = (len as u32).to_be_bytes();
    [a, b, c]
}

fn read_be24(bytes: &[u8]) -> Option<usize> {
    match bytes {
        [a, b, c, ..] => Some(usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c)),
        _ => None,
    }
}

/// Where the decoder is in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Server role, nothing of the intro consumed yet.
    Intro,
    /// Length-prefixed frames.
    Frames,
    /// A fatal error was seen; every later call repeats it.
    Failed(FrameError),
}

/// Incremental decoder: push received bytes in, pull whole frames out.
///
/// A decoder built with [`FrameDecoder::server`] first expects the client
/// intro (optional preamble + header) and rejects anything else.
///
/// Contract: call [`FrameDecoder::next_frame`] until it returns `Ok(None)`
/// after every [`FrameDecoder::push`]; then the buffer never holds more
/// than one incomplete frame.
#[derive(Debug)]
pub struct FrameDecoder {
    /// Received bytes; `buf[start..]` is not consumed yet.
    buf: Vec<u8>,
    start: usize,
    max_frame_len: usize,
    stage: Stage,
    /// Routing bytes from the client's preamble (server role only).
    routing_info: Option<Vec<u8>>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::client(MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// Decoder for the client role: the stream is frames from the start.
    pub fn client(max_frame_len: usize) -> Self {
        Self::with_stage(max_frame_len, Stage::Frames)
    }

    /// Decoder for the server role: the stream starts with the client intro.
    pub fn server(max_frame_len: usize) -> Self {
        Self::with_stage(max_frame_len, Stage::Intro)
    }

    fn with_stage(max_frame_len: usize, stage: Stage) -> Self {
        FrameDecoder {
            // No allocation until bytes arrive.
            buf: Vec::new(),
            start: 0,
            max_frame_len: max_frame_len.min(MAX_FRAME_LEN),
            stage,
            routing_info: None,
        }
    }

    /// Buffers received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if matches!(self.stage, Stage::Failed(_)) || data.is_empty() {
            return;
        }
        if self.start == self.buf.len() {
            // Drained: start over at the front instead of growing the tail.
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Stage::Failed(err) = &self.stage {
            return Err(err.clone());
        }
        if self.stage == Stage::Intro {
            match self.parse_intro() {
                Ok(true) => self.stage = Stage::Frames,
                Ok(false) => return Ok(None),
                Err(err) => return Err(self.fail(err)),
            }
        }
        let pending = self.pending();
        let Some(len) = read_be24(pending) else {
            self.compact();
            return Ok(None);
        };
        if len > self.max_frame_len {
            return Err(self.fail(FrameError::TooLarge(len, self.max_frame_len)));
        }
        let Some(payload) = pending.get(LEN_PREFIX..LEN_PREFIX + len) else {
            self.compact();
            return Ok(None);
        };
        let frame = payload.to_vec();
        self.start += LEN_PREFIX + len;
        self.compact();
        Ok(Some(frame))
    }

    /// Changes the frame size limit (e.g. a tight one during the handshake,
    /// the protocol's maximum afterwards).
    pub fn set_max_frame_len(&mut self, max_frame_len: usize) {
        self.max_frame_len = max_frame_len.min(MAX_FRAME_LEN);
    }

    /// Routing bytes the client sent in its edge-routing preamble, if any
    /// (server role, once the intro has been parsed).
    pub fn routing_info(&self) -> Option<&[u8]> {
        self.routing_info.as_deref()
    }

    /// Bytes currently allocated by the buffer (for memory accounting and
    /// tests).
    pub fn buffered_capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn fail(&mut self, err: FrameError) -> FrameError {
        self.stage = Stage::Failed(err.clone());
        // Nothing more will be decoded: give the memory back now.
        self.buf = Vec::new();
        self.start = 0;
        err
    }

    /// Parses the client intro at the front of the buffer. Ok(true) once it
    /// is consumed, Ok(false) when more bytes are needed, and an error as
    /// soon as the bytes seen cannot be a valid intro.
    fn parse_intro(&mut self) -> Result<bool, FrameError> {
        let pending = self.pending();
        let mut offset = 0;
        if pending.first() == Some(&b'E') {
            let seen = pending.len().min(EDGE_ROUTING_MAGIC.len());
            if pending.get(..seen) != EDGE_ROUTING_MAGIC.get(..seen) {
                return Err(FrameError::BadPreamble);
            }
            let Some(routing_len) = pending.get(EDGE_ROUTING_MAGIC.len()..).and_then(read_be24)
            else {
                return Ok(false);
            };
            if routing_len > SERVER_MAX_ROUTING_INFO_LEN {
                return Err(FrameError::RoutingInfoTooLarge(
                    routing_len,
                    SERVER_MAX_ROUTING_INFO_LEN,
                ));
            }
            offset = EDGE_ROUTING_MAGIC.len() + 3 + routing_len;
        }
        let header = pending.get(offset.min(pending.len())..).unwrap_or_default();
        let seen = header.len().min(WA_HEADER.len());
        if header.get(..seen) != WA_HEADER.get(..seen) {
            return Err(FrameError::BadHeader);
        }
        if seen < WA_HEADER.len() {
            return Ok(false);
        }
        if offset > 0 {
            let routing = pending.get(EDGE_ROUTING_MAGIC.len() + 3..offset);
            self.routing_info = routing.map(<[u8]>::to_vec);
        }
        self.start += offset + WA_HEADER.len();
        Ok(true)
    }

    /// Drops consumed bytes and, when the buffer is drained, its memory.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        let remaining = self.buf.len().saturating_sub(self.start);
        if remaining == 0 {
            // Idle connections hold no buffer at all.
            self.buf = Vec::new();
            self.start = 0;
        } else if self.buf.capacity() > KEEP_CAPACITY && remaining <= KEEP_CAPACITY {
            // The head of the next frame is small but sits in a big
            // allocation (left by a large frame): move it to a fresh one.
            self.buf = self.pending().to_vec();
            self.start = 0;
        } else if self.start >= remaining {
            // Shift the tail forward once consumed bytes dominate, keeping
            // the amortized cost linear.
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode_frame(p, &mut out).unwrap();
        }
        out
    }

    fn drain(dec: &mut FrameDecoder) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut frames = Vec::new();
        while let Some(f) = dec.next_frame()? {
            frames.push(f);
        }
        Ok(frames)
    }

    #[test]
    fn encode_layout() {
        let mut out = vec![9];
        encode_frame(b"abc", &mut out).unwrap();
        assert_eq!(out, [9, 0, 0, 3, b'a', b'b', b'c']);
        let mut out = Vec::new();
        encode_frame(&vec![0u8; 0x010203], &mut out).unwrap();
        assert_eq!(out[..3], [1, 2, 3]);
    }

    #[test]
    fn encode_rejects_oversized() {
        let big = vec![0u8; MAX_FRAME_LEN + 1];
        let mut out = Vec::new();
        assert_eq!(
            encode_frame(&big, &mut out),
            Err(FrameError::TooLarge(MAX_FRAME_LEN + 1, MAX_FRAME_LEN))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn intro_layout() {
        assert_eq!(client_intro(None).unwrap(), WA_HEADER);
        assert_eq!(
            client_intro(Some(&[1, 2, 3])).unwrap(),
            [b'E', b'D', 0, 1, 0, 0, 3, 1, 2, 3, b'W', b'A', 6, 3]
        );
        assert_eq!(
            client_intro(Some(&[])).unwrap(),
            [b'E', b'D', 0, 1, 0, 0, 0, b'W', b'A', 6, 3]
        );
    }

    #[test]
    fn client_decodes_split_and_coalesced_frames() {
        let bytes = framed(&[b"one", b"", b"three"]);
        let mut dec = FrameDecoder::client(1024);
        dec.push(&bytes[..2]);
        assert_eq!(drain(&mut dec).unwrap(), Vec::<Vec<u8>>::new());
        dec.push(&bytes[2..9]);
        assert_eq!(drain(&mut dec).unwrap(), vec![b"one".to_vec(), vec![]]);
        dec.push(&bytes[9..]);
        assert_eq!(drain(&mut dec).unwrap(), vec![b"three".to_vec()]);
    }

    #[test]
    fn client_rejects_frame_over_limit_before_payload_arrives() {
        let mut dec = FrameDecoder::client(10);
        dec.push(&[0, 0, 11]);
        assert_eq!(dec.next_frame(), Err(FrameError::TooLarge(11, 10)));
        // The error sticks and nothing more is buffered.
        dec.push(&[0; 100]);
        assert_eq!(dec.buffered_capacity(), 0);
        assert_eq!(dec.next_frame(), Err(FrameError::TooLarge(11, 10)));
    }

    #[test]
    fn frame_at_exact_limit_is_fine() {
        let mut dec = FrameDecoder::client(10);
        dec.push(&framed(&[&[7u8; 10]]));
        assert_eq!(dec.next_frame().unwrap(), Some(vec![7u8; 10]));
    }

    #[test]
    fn memory_is_released_after_frames_drain() {
        let mut dec = FrameDecoder::client(MAX_FRAME_LEN);
        assert_eq!(dec.buffered_capacity(), 0);
        let big = vec![1u8; 1 << 20];
        let bytes = framed(&[&big, b"tail"]);
        // Big frame plus the head of the next one in the same push.
        dec.push(&bytes[..bytes.len() - 2]);
        assert_eq!(dec.next_frame().unwrap().map(|f| f.len()), Some(1 << 20));
        assert_eq!(dec.next_frame().unwrap(), None);
        assert!(dec.buffered_capacity() <= KEEP_CAPACITY);
        dec.push(&bytes[bytes.len() - 2..]);
        assert_eq!(dec.next_frame().unwrap(), Some(b"tail".to_vec()));
        assert_eq!(dec.buffered_capacity(), 0, "idle decoder holds no memory");
    }

    #[test]
    fn server_accepts_plain_header() {
        let mut bytes = client_intro(None).unwrap();
        bytes.extend(framed(&[b"hello"]));
        let mut dec = FrameDecoder::server(1024);
        for b in &bytes {
            dec.push(&[*b]);
            if let Some(f) = dec.next_frame().unwrap() {
                assert_eq!(f, b"hello");
                assert_eq!(dec.routing_info(), None);
                return;
            }
        }
        panic!("no frame decoded");
    }

    #[test]
    fn server_accepts_preamble_and_keeps_routing_info() {
        let mut bytes = client_intro(Some(b"edge-42")).unwrap();
        bytes.extend(framed(&[b"hi"]));
        let mut dec = FrameDecoder::server(1024);
        dec.push(&bytes);
        assert_eq!(dec.next_frame().unwrap(), Some(b"hi".to_vec()));
        assert_eq!(dec.routing_info(), Some(&b"edge-42"[..]));
    }

    #[test]
    fn server_rejects_bad_intros_early() {
        let cases: &[(&[u8], FrameError)] = &[
            (b"X", FrameError::BadHeader),
            (b"WB", FrameError::BadHeader),
            (&[b'W', b'A', 6, 2], FrameError::BadHeader),
            (b"EX", FrameError::BadPreamble),
            (&[b'E', b'D', 0, 2], FrameError::BadPreamble),
            // Valid preamble, then not the header.
            (
                &[b'E', b'D', 0, 1, 0, 0, 1, 9, b'W', b'B'],
                FrameError::BadHeader,
            ),
            // Frames without any intro.
            (&[0, 0, 1, 5], FrameError::BadHeader),
            (
                &[b'E', b'D', 0, 1, 0xFF, 0xFF, 0xFF],
                FrameError::RoutingInfoTooLarge(0xFF_FFFF, SERVER_MAX_ROUTING_INFO_LEN),
            ),
        ];
        for (bytes, err) in cases {
            let mut dec = FrameDecoder::server(1024);
            dec.push(bytes);
            assert_eq!(dec.next_frame().as_ref(), Err(err), "input {bytes:?}");
        }
    }

    #[test]
    fn server_waits_on_partial_intro() {
        let mut dec = FrameDecoder::server(1024);
        dec.push(b"WA");
        assert_eq!(dec.next_frame(), Ok(None));
        dec.push(&[6]);
        assert_eq!(dec.next_frame(), Ok(None));
        dec.push(&[3, 0, 0]);
        assert_eq!(dec.next_frame(), Ok(None));
        dec.push(&[0]);
        assert_eq!(dec.next_frame(), Ok(Some(vec![])));
    }

    fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain([bytes.len()]) {
            chunks.push(bytes[last..p].to_vec());
            last = p;
        }
        chunks
    }

    proptest! {
        #[test]
        fn frames_round_trip_across_any_chunking(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            server in any::<bool>(),
            routing in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let mut bytes = if server { client_intro(routing.as_deref()).unwrap() } else { Vec::new() };
            bytes.extend(framed(&refs));
            let mut dec = if server { FrameDecoder::server(300) } else { FrameDecoder::client(300) };
            let mut got = Vec::new();
            for chunk in chunked(&bytes, &cuts) {
                dec.push(&chunk);
                got.extend(drain(&mut dec).unwrap());
            }
            prop_assert_eq!(got, payloads);
            prop_assert_eq!(dec.buffered_capacity(), 0);
        }

        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..2000),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            server in any::<bool>(),
            max in 0usize..1000,
        ) {
            let mut dec = if server { FrameDecoder::server(max) } else { FrameDecoder::client(max) };
            let mut total = 0;
            for chunk in chunked(&bytes, &cuts) {
                dec.push(&chunk);
                while let Ok(Some(f)) = dec.next_frame() {
                    prop_assert!(f.len() <= max);
                    total += f.len() + 3;
                }
                // Never more buffered than one incomplete frame + one push.
                prop_assert!(dec.pending().len() <= max + 3 + chunk.len() + SERVER_MAX_ROUTING_INFO_LEN + 11);
            }
            prop_assert!(total <= bytes.len());
        }
    }
}
