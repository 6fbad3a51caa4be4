//! Frame codec: the connection header and 3-byte length-prefixed frames.
//!
//! A client's first bytes are an optional edge-routing preamble, then the
//! 4-byte header `WA` + magic 6 + dictionary version 3, then frames. Each
//! frame is a 24-bit big-endian length and that many bytes. Frames may be
//! split across WebSocket messages or several may share one.

/// `WA`, magic value 6, binary dictionary version 3 (WhatsApp Web; also in
/// whatsmeow `socket.WAConnHeader`).
pub const WA_HEADER: [u8; 4] = [b'W', b'A', 6, 3];

/// Largest payload a 3-byte length can describe.
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the limit of {1}")]
    TooLarge(usize, usize),
    #[error("bad connection header")]
    BadHeader,
    #[error("bad edge-routing preamble")]
    BadPreamble,
}

/// Appends one length-prefixed frame holding `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let _ = (payload, out);
    todo!()
}

/// The bytes a client sends before its first frame: an optional
/// edge-routing preamble followed by [`WA_HEADER`].
pub fn client_intro(routing_info: Option<&[u8]>) -> Result<Vec<u8>, FrameError> {
    let _ = routing_info;
    todo!()
}

/// Incremental decoder: push received bytes in, pull whole frames out.
///
/// A decoder built with [`FrameDecoder::server`] first expects the client
/// intro (optional preamble + header) and rejects anything else.
#[derive(Debug, Default)]
pub struct FrameDecoder {}

impl FrameDecoder {
    /// Decoder for the client role: the stream is frames from the start.
    pub fn client(max_frame_len: usize) -> Self {
        let _ = max_frame_len;
        todo!()
    }

    /// Decoder for the server role: the stream starts with the client intro.
    pub fn server(max_frame_len: usize) -> Self {
        let _ = max_frame_len;
        todo!()
    }

    /// Buffers received bytes.
    pub fn push(&mut self, data: &[u8]) {
        let _ = data;
        todo!()
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        todo!()
    }
}
