//! A Noise-encrypted, framed connection carrying binary nodes, and the
//! two handshakes (client and server role) that establish one.
//!
//! Layering, bottom up: a [`Transport`] moves whole binary messages (a
//! WebSocket in production, an in-memory pair in tests and the simulator);
//! the frame codec cuts that byte stream into 3-byte length-prefixed
//! frames; each frame after the handshake is one AES-GCM message of the
//! Noise transport; its plaintext is one binary node.
//!
//! Handshake messages (protobuf `HandshakeMessage`, one per frame):
//! 1. client → server: intro (optional edge-routing preamble + `WA` 6 3),
//!    then a frame with `ClientHello { ephemeral }`.
//! 2. server → client: `ServerHello { ephemeral, static = enc(server
//!    static), payload = enc(CertChain) }`.
//! 3. client → server: `ClientFinish { static = enc(client noise key),
//!    payload = enc(ClientPayload) }`.
//!
//! then `split()`: the client sends with the first key, the server with the
//! second. Nothing here panics on peer input; every failure is a
//! [`WireError`] that ends this one connection.
//!
//! Memory: a socket holds its transport, an empty frame decoder (it frees
//! its buffer whenever drained) and two 36-byte cipher states.

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;
use tungstenite::Message;

use super::cert;
use super::frame::{
    client_intro, encode_frame, push_frame_len, FrameDecoder, MAX_FRAME_LEN, WA_HEADER,
};
use super::noise::{CipherState, HandshakeState, NOISE_XX_FALLBACK_NAME, TAG_LEN};
use super::{binary, websocket, Node, WireError};
use crate::crypto::KeyPair;
use crate::proto::handshake_message::{ClientFinish, ClientHello, ServerHello};
use crate::proto::HandshakeMessage;

/// How long either side waits for each handshake message before giving up
/// (whatsmeow `NoiseHandshakeResponseTimeout`; WhatsApp Web uses 20 s too).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Frame size limit while handshaking. Handshake messages are a few hundred
/// bytes; a tight limit keeps an unauthenticated peer from making us
/// buffer megabytes.
pub const HANDSHAKE_MAX_FRAME_LEN: usize = 64 * 1024;

/// Largest WebSocket message (and WebSocket frame) we accept: one protocol
/// frame of the maximum size plus its 3-byte prefix. WhatsApp may send any
/// frame its 24-bit length allows; a lower cap would turn one large but
/// legitimate stanza into an endless reconnect loop. The cap only bounds a
/// misbehaving peer: a connection buffers only a message in progress.
pub const MAX_WS_MESSAGE_LEN: usize = MAX_FRAME_LEN + 3;

/// The Origin WhatsApp Web sends (whatsmeow `socket.Origin`).
pub const WHATSAPP_ORIGIN: &str = "https://web.whatsapp.com";

/// A message-oriented byte transport under the frame codec (a WebSocket).
pub trait Transport: Send {
    /// Sends one binary WebSocket message.
    fn send(&mut self, data: Vec<u8>) -> impl Future<Output = Result<(), WireError>> + Send;
    /// The next binary message; `Ok(None)` once the peer has closed.
    /// Must be cancel-safe: dropping the future loses no data.
    fn recv(&mut self) -> impl Future<Output = Result<Option<Vec<u8>>, WireError>> + Send;
    /// Closes the transport politely (best effort).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// The client's WebSocket (ws:// or wss:// via rustls): our own client
/// side, which holds no buffer while idle (`wire::websocket`).
pub type ClientWebSocket = websocket::WebSocket<websocket::Stream>;

impl<S> Transport for websocket::WebSocket<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    async fn send(&mut self, data: Vec<u8>) -> Result<(), WireError> {
        websocket::WebSocket::send(self, &data).await
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        websocket::WebSocket::recv(self).await
    }

    async fn close(&mut self) {
        websocket::WebSocket::close(self).await;
    }
}

/// A tokio-tungstenite WebSocket is a transport too: the simulator's
/// accepted streams (server side).
impl<S> Transport for tokio_tungstenite::WebSocketStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    async fn send(&mut self, data: Vec<u8>) -> Result<(), WireError> {
        // Not cancel-safe (no send is): a cancelled send may leave half a
        // message behind, so the caller must drop the connection.
        SinkExt::send(self, Message::Binary(data.into()))
            .await
            .map_err(ws_error)
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        // Cancel-safe: `next()` yields only whole messages, and nothing is
        // held across loop iterations.
        loop {
            match self.next().await {
                None => return Ok(None),
                Some(Ok(Message::Binary(data))) => return Ok(Some(data.into())),
                // tungstenite answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(_))) => {
                    return Err(WireError::WebSocket(
                        "unexpected text message (the protocol is binary)".into(),
                    ))
                }
                Some(Err(
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                )) => return Ok(None),
                Some(Err(e)) => return Err(ws_error(e)),
            }
        }
    }

    async fn close(&mut self) {
        // Bounded: a dead peer must not keep a closing session around.
        let _ = tokio::time::timeout(Duration::from_secs(5), SinkExt::close(self)).await;
    }
}

fn ws_error(e: tungstenite::Error) -> WireError {
    WireError::WebSocket(e.to_string())
}

/// Opens a WebSocket to `url` (ws:// or wss://), sending WhatsApp Web's
/// Origin; TLS trusts the Mozilla roots. One TLS configuration is shared
/// by every session instead of a root store copied per socket.
pub async fn connect_websocket(url: &str) -> Result<ClientWebSocket, WireError> {
    connect_websocket_with(url, shared_tls_config()).await
}

/// [`connect_websocket`] trusting whom `tls` trusts.
pub async fn connect_websocket_with(
    url: &str,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<ClientWebSocket, WireError> {
    websocket::connect(url, WHATSAPP_ORIGIN, tls, MAX_WS_MESSAGE_LEN).await
}

/// The process-wide rustls client configuration: the Mozilla roots
/// (`types::pem::client_config`), built once.
pub fn shared_tls_config() -> std::sync::Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::LazyLock<std::sync::Arc<rustls::ClientConfig>> =
        std::sync::LazyLock::new(|| {
            // Not input: the Mozilla roots are valid and the ring provider
            // supports rustls' default protocol versions.
            #[allow(clippy::expect_used)]
            crate::types::pem::client_config(&[])
                .expect("the Mozilla roots make a TLS configuration")
        });
    CONFIG.clone()
}

/// An in-memory [`Transport`]: one end of a pair made by [`memory_pair`].
/// Used by tests and by an in-process simulator.
pub struct MemoryTransport {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    rx: mpsc::Receiver<Vec<u8>>,
}

/// Two connected in-memory transports; each holds at most `capacity`
/// unread messages before `send` waits.
pub fn memory_pair(capacity: usize) -> (MemoryTransport, MemoryTransport) {
    let (a_tx, b_rx) = mpsc::channel(capacity.max(1));
    let (b_tx, a_rx) = mpsc::channel(capacity.max(1));
    (
        MemoryTransport {
            tx: Some(a_tx),
            rx: a_rx,
        },
        MemoryTransport {
            tx: Some(b_tx),
            rx: b_rx,
        },
    )
}

impl Transport for MemoryTransport {
    async fn send(&mut self, data: Vec<u8>) -> Result<(), WireError> {
        let tx = self.tx.as_ref().ok_or(WireError::Closed)?;
        tx.send(data).await.map_err(|_| WireError::Closed)
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        // mpsc::Receiver::recv is cancel-safe.
        Ok(self.rx.recv().await)
    }

    async fn close(&mut self) {
        // The peer sees end-of-stream once it drained what was sent.
        self.tx = None;
        self.rx.close();
    }
}

/// An established, encrypted connection (either role).
pub struct NoiseSocket<T: Transport> {
    transport: T,
    decoder: FrameDecoder,
    send: CipherState,
    recv: CipherState,
}

impl<T: Transport> NoiseSocket<T> {
    fn established(
        transport: T,
        mut decoder: FrameDecoder,
        send: CipherState,
        recv: CipherState,
    ) -> Self {
        decoder.set_max_frame_len(MAX_FRAME_LEN);
        NoiseSocket {
            transport,
            decoder,
            send,
            recv,
        }
    }

    /// Encrypts, frames and sends one plaintext. Not cancel-safe: a
    /// cancelled send leaves the connection unusable.
    pub async fn send_frame(&mut self, plaintext: &[u8]) -> Result<(), WireError> {
        let ciphertext_len = plaintext.len().saturating_add(TAG_LEN);
        let mut out = Vec::with_capacity(3 + ciphertext_len);
        // Length first: an oversized message fails before a nonce is used.
        push_frame_len(ciphertext_len, &mut out)?;
        self.send.encrypt_into(plaintext, &mut out)?;
        self.transport.send(out).await
    }

    /// Receives and decrypts the next frame. Cancel-safe: the only await is
    /// the transport's cancel-safe `recv`, and bytes are buffered only after
    /// it returns. A decryption failure is fatal for the connection.
    pub async fn recv_frame(&mut self) -> Result<Vec<u8>, WireError> {
        loop {
            if let Some(mut frame) = self.decoder.next_frame()? {
                self.recv.decrypt_in_place(&mut frame)?;
                return Ok(frame);
            }
            match self.transport.recv().await? {
                Some(data) => self.decoder.push(&data),
                None => return Err(WireError::Closed),
            }
        }
    }

    /// Encodes, encrypts, frames and sends one node.
    pub async fn send_node(&mut self, node: &Node) -> Result<(), WireError> {
        let plaintext = binary::marshal(node)?;
        self.send_frame(&plaintext).await
    }

    /// Receives the next node. Cancel-safe (use it inside `select!`).
    pub async fn recv_node(&mut self) -> Result<Node, WireError> {
        let plaintext = self.recv_frame().await?;
        Ok(binary::unmarshal(&plaintext)?)
    }

    /// Closes the connection (best effort). By reference, not by value:
    /// a socket moved into the closing future would double the size of
    /// every future that owns one.
    pub async fn close(&mut self) {
        self.transport.close().await;
    }
}

/// What the client brings to a handshake.
pub struct ClientHandshake<'a> {
    /// The device's long-term Noise static key.
    pub noise_key: &'a KeyPair,
    /// The certificate root the server's chain must lead to.
    pub root_key: &'a [u8; 32],
    /// An encoded `ClientPayload` (registration or login).
    pub payload: Vec<u8>,
    /// Optional edge-routing info sent before the header.
    pub routing_info: Option<&'a [u8]>,
    /// Seconds since the epoch: the server's certificates must be valid
    /// then.
    pub now: u64,
}

/// Client role: runs Noise XX over `transport` and verifies the server.
pub async fn client_handshake<T: Transport>(
    mut transport: T,
    hs: ClientHandshake<'_>,
) -> Result<NoiseSocket<T>, WireError> {
    let ephemeral = KeyPair::generate();
    let mut state = HandshakeState::new(&WA_HEADER);

    // -> e
    state.mix_hash(&ephemeral.public);
    let hello = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(ephemeral.public.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut first = client_intro(hs.routing_info)?;
    encode_frame(&hello.encode_to_vec(), &mut first)?;
    transport.send(first).await?;

    // <- e, ee, s, es (+ certificate chain as payload)
    let mut decoder = FrameDecoder::client(HANDSHAKE_MAX_FRAME_LEN);
    let reply = read_handshake_frame(&mut transport, &mut decoder).await?;
    let server_hello = HandshakeMessage::decode(reply.as_slice())
        .map_err(|_| malformed("server's reply is not a HandshakeMessage"))?
        .server_hello
        .ok_or_else(|| malformed("server's reply is not a ServerHello"))?;
    let ServerHello {
        ephemeral: Some(server_ephemeral),
        r#static: Some(server_static_ct),
        payload: Some(cert_ct),
    } = server_hello
    else {
        return Err(malformed(
            "ServerHello lacks its ephemeral, static or payload",
        ));
    };
    let server_ephemeral = key32(&server_ephemeral, "server ephemeral key")?;

    state.mix_hash(&server_ephemeral);
    state.mix_key(&agree(&ephemeral, &server_ephemeral)?);
    let server_static = state.decrypt_and_hash(&server_static_ct)?;
    let server_static = key32(&server_static, "server static key")?;
    state.mix_key(&agree(&ephemeral, &server_static)?);
    let cert_chain = state.decrypt_and_hash(&cert_ct)?;
    cert::verify_chain(&cert_chain, hs.root_key, &server_static, hs.now)?;

    // -> s, se (+ ClientPayload)
    let static_ct = state.encrypt_and_hash(&hs.noise_key.public)?;
    state.mix_key(&agree(hs.noise_key, &server_ephemeral)?);
    let payload_ct = state.encrypt_and_hash(&hs.payload)?;
    let finish = HandshakeMessage {
        client_finish: Some(ClientFinish {
            r#static: Some(static_ct),
            payload: Some(payload_ct),
        }),
        ..Default::default()
    };
    let mut out = Vec::new();
    encode_frame(&finish.encode_to_vec(), &mut out)?;
    transport.send(out).await?;

    let (send, recv) = state.split();
    tracing::debug!("noise handshake complete (client)");
    Ok(NoiseSocket::established(transport, decoder, send, recv))
}

/// The server's long-term identity.
pub struct ServerIdentity {
    pub static_key: KeyPair,
    /// Encoded `CertChain` whose leaf key is `static_key.public`.
    pub cert_chain: Vec<u8>,
}

/// A client that completed the server-side handshake.
pub struct AcceptedClient<T: Transport> {
    pub socket: NoiseSocket<T>,
    /// The client's Noise static public key (identifies a device).
    pub client_static: [u8; 32],
    /// The client's encoded `ClientPayload`.
    pub payload: Vec<u8>,
    /// Edge-routing bytes from the client's preamble, if it sent one.
    pub routing_info: Option<Vec<u8>>,
}

/// Server role: expects the client intro, runs Noise XX, returns the
/// client's static key and payload for the caller to judge.
///
/// A ClientHello that already carries `static`/`payload` is a Noise IK
/// resume attempt (clients such as whatsapp-rust and whatsmeow try it when
/// they cached our static key). We always decline it the way WhatsApp does
/// when its key changed: answer with an XX ServerHello under the
/// XXfallback protocol name, after which both sides continue exactly as XX.
pub async fn server_handshake<T: Transport>(
    mut transport: T,
    identity: &ServerIdentity,
) -> Result<AcceptedClient<T>, WireError> {
    // -> e
    let mut decoder = FrameDecoder::server(HANDSHAKE_MAX_FRAME_LEN);
    let first = read_handshake_frame(&mut transport, &mut decoder).await?;
    let client_hello = HandshakeMessage::decode(first.as_slice())
        .map_err(|_| malformed("client's first frame is not a HandshakeMessage"))?
        .client_hello
        .ok_or_else(|| malformed("client's first frame is not a ClientHello"))?;
    let client_ephemeral = client_hello
        .ephemeral
        .as_deref()
        .ok_or_else(|| malformed("ClientHello has no ephemeral key"))
        .and_then(|e| key32(e, "client ephemeral key"))?;
    let mut state = if client_hello.r#static.is_some() || client_hello.payload.is_some() {
        tracing::debug!("declining a Noise IK resume with XXfallback");
        HandshakeState::with_protocol_name(NOISE_XX_FALLBACK_NAME, &WA_HEADER)
    } else {
        HandshakeState::new(&WA_HEADER)
    };
    state.mix_hash(&client_ephemeral);

    // <- e, ee, s, es (+ certificate chain)
    let ephemeral = KeyPair::generate();
    state.mix_hash(&ephemeral.public);
    state.mix_key(&agree(&ephemeral, &client_ephemeral)?);
    let static_ct = state.encrypt_and_hash(&identity.static_key.public)?;
    state.mix_key(&agree(&identity.static_key, &client_ephemeral)?);
    let cert_ct = state.encrypt_and_hash(&identity.cert_chain)?;
    let hello = HandshakeMessage {
        server_hello: Some(ServerHello {
            ephemeral: Some(ephemeral.public.to_vec()),
            r#static: Some(static_ct),
            payload: Some(cert_ct),
        }),
        ..Default::default()
    };
    let mut out = Vec::new();
    encode_frame(&hello.encode_to_vec(), &mut out)?;
    transport.send(out).await?;

    // -> s, se (+ ClientPayload)
    let reply = read_handshake_frame(&mut transport, &mut decoder).await?;
    let finish = HandshakeMessage::decode(reply.as_slice())
        .map_err(|_| malformed("client's second frame is not a HandshakeMessage"))?
        .client_finish
        .ok_or_else(|| malformed("client's second frame is not a ClientFinish"))?;
    let ClientFinish {
        r#static: Some(client_static_ct),
        payload: Some(payload_ct),
    } = finish
    else {
        return Err(malformed("ClientFinish lacks its static or payload"));
    };
    let client_static = state.decrypt_and_hash(&client_static_ct)?;
    let client_static = key32(&client_static, "client static key")?;
    state.mix_key(&agree(&ephemeral, &client_static)?);
    let payload = state.decrypt_and_hash(&payload_ct)?;

    // The server receives with the initiator's key and sends with the
    // responder's.
    let (recv, send) = state.split();
    let routing_info = decoder.routing_info().map(<[u8]>::to_vec);
    tracing::debug!("noise handshake complete (server)");
    Ok(AcceptedClient {
        socket: NoiseSocket::established(transport, decoder, send, recv),
        client_static,
        payload,
        routing_info,
    })
}

/// The next handshake frame, waiting at most [`HANDSHAKE_TIMEOUT`].
async fn read_handshake_frame<T: Transport>(
    transport: &mut T,
    decoder: &mut FrameDecoder,
) -> Result<Vec<u8>, WireError> {
    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(frame);
        }
        match tokio::time::timeout_at(deadline, transport.recv()).await {
            Err(_) => return Err(WireError::Timeout),
            Ok(received) => match received? {
                Some(data) => decoder.push(&data),
                None => return Err(WireError::Closed),
            },
        }
    }
}

/// X25519 with a peer key, refusing small-order keys (an all-zero shared
/// secret means the peer's key carries no secret at all).
fn agree(ours: &KeyPair, theirs: &[u8; 32]) -> Result<[u8; 32], WireError> {
    let shared = ours.dh(theirs);
    if shared == [0u8; 32] {
        return Err(malformed("peer sent a small-order public key"));
    }
    Ok(shared)
}

fn key32(bytes: &[u8], what: &str) -> Result<[u8; 32], WireError> {
    bytes
        .try_into()
        .map_err(|_| malformed(&format!("{what} is {} bytes, expected 32", bytes.len())))
}

fn malformed(what: &str) -> WireError {
    WireError::Handshake(what.to_owned())
}
