//! A hostile WhatsApp server: every way a peer can lie to our client
//! before, during and after the Noise handshake, and during pairing.
//!
//! Each scenario runs a small WebSocket server on loopback that misbehaves
//! in one way. The client must reject it with a clear error, never panic,
//! and either keep retrying with backoff (transport and handshake faults,
//! as WhatsApp clients do) or stop for good (a forged pairing). A last
//! scenario checks that all this leaves another session of the same
//! process untouched. (Random transport frames after a real handshake are
//! a property test in `hostile_frames.rs`.)

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::SinkExt;
use prost::Message as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use wasp::client::{ChannelSink, Client, ClientConfig, Event, Status};
use wasp::crypto::{hmac_sha256, KeyPair};
use wasp::proto::handshake_message::{ClientHello, ServerHello};
use wasp::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
    HandshakeMessage,
};
use wasp::store::{DataDir, FileStores};
use wasp::wire::cert::issue_chain;
use wasp::wire::frame::encode_frame;
use wasp::wire::socket::{server_handshake, ServerIdentity, Transport};
use wasp::wire::{Node, WireError};

/// A hang guard, not a timing assertion: every wait normally ends in well
/// under a second.
const GUARD: Duration = Duration::from_secs(20);

type Ws = WebSocketStream<TcpStream>;

// ---------------------------------------------------------------------------
// The server's keys: a test root and chains it signs (or does not).

struct Pki {
    root: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        Pki {
            root: KeyPair::generate(),
        }
    }

    /// A correct identity: root -> intermediate -> leaf = static key.
    fn identity(&self) -> ServerIdentity {
        let static_key = KeyPair::generate();
        let chain = chain(&self.root, &static_key.public, 0, far_future());
        ServerIdentity {
            static_key,
            cert_chain: chain,
        }
    }
}

fn chain(root: &KeyPair, leaf: &[u8; 32], not_before: u64, not_after: u64) -> Vec<u8> {
    issue_chain(
        root,
        &KeyPair::generate(),
        1,
        leaf,
        2,
        not_before,
        not_after,
    )
}

fn far_future() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    now + 365 * 24 * 3600
}

// ---------------------------------------------------------------------------
// The hostile server.

struct Hostile {
    addr: SocketAddr,
    /// WebSocket connections accepted so far.
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Hostile {
    /// Serves every accepted WebSocket with `behave` (given the connection
    /// index, from 0).
    async fn start<F, Fut>(behave: F) -> Hostile
    where
        F: Fn(Ws, usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let behave = Arc::new(behave);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let index = count.fetch_add(1, Ordering::SeqCst);
                let behave = behave.clone();
                tokio::spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                        behave(ws, index).await;
                    }
                });
            }
        });
        Hostile {
            addr,
            connections,
            task,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws/chat", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads until the client's first message (intro + ClientHello) arrived,
/// so what we send next is an answer to it.
async fn read_client_hello(ws: &mut Ws) -> bool {
    matches!(ws.recv().await, Ok(Some(_)))
}

/// Sends `data` as one binary message, then waits for the client to go.
async fn reply_raw(mut ws: Ws, data: Vec<u8>) {
    if read_client_hello(&mut ws).await {
        let _ = Transport::send(&mut ws, data).await;
        drain(ws).await;
    }
}

/// Keeps reading until the peer closes, so our side never closes first by
/// accident.
async fn drain<T: Transport>(mut t: T) {
    while let Ok(Some(_)) = t.recv().await {}
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(payload, &mut out).expect("small frame");
    out
}

/// A transport that lets the test rewrite each outgoing message (numbered
/// from 0; the ServerHello is message 0).
struct Tamper<T> {
    inner: T,
    sent: usize,
    edit: Box<dyn FnMut(usize, Vec<u8>) -> Vec<u8> + Send>,
}

impl<T: Transport> Tamper<T> {
    fn new(inner: T, edit: impl FnMut(usize, Vec<u8>) -> Vec<u8> + Send + 'static) -> Self {
        Tamper {
            inner,
            sent: 0,
            edit: Box::new(edit),
        }
    }
}

impl<T: Transport> Transport for Tamper<T> {
    async fn send(&mut self, data: Vec<u8>) -> Result<(), WireError> {
        let data = (self.edit)(self.sent, data);
        self.sent += 1;
        self.inner.send(data).await
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        self.inner.recv().await
    }

    async fn close(&mut self) {
        self.inner.close().await
    }
}

/// An edit that rewrites the ServerHello (message 0) with `change`.
fn edit_server_hello(
    change: impl Fn(&mut ServerHello) + Send + 'static,
) -> impl FnMut(usize, Vec<u8>) -> Vec<u8> + Send + 'static {
    move |index, data| {
        if index != 0 {
            return data;
        }
        let mut message = HandshakeMessage::decode(&data[3..]).expect("our own ServerHello");
        if let Some(hello) = message.server_hello.as_mut() {
            change(hello);
        }
        framed(&message.encode_to_vec())
    }
}

fn flip_last(bytes: &mut Option<Vec<u8>>) {
    if let Some(last) = bytes.as_mut().and_then(|b| b.last_mut()) {
        *last ^= 0x01;
    }
}

/// A server that runs the real handshake with `identity` over a transport
/// rewritten by `edit`, then waits for the client to leave.
async fn tampered_handshake(
    identity: Arc<ServerIdentity>,
    edit: impl Fn() -> Box<dyn FnMut(usize, Vec<u8>) -> Vec<u8> + Send> + Send + Sync + 'static,
) -> Hostile {
    let edit = Arc::new(edit);
    Hostile::start(move |ws, _| {
        let identity = identity.clone();
        let edit = edit.clone();
        async move {
            let transport = Tamper {
                inner: ws,
                sent: 0,
                edit: edit(),
            };
            // The client is expected to abort the handshake.
            if let Ok(accepted) = server_handshake(transport, &identity).await {
                drain_socket(accepted.socket).await;
            }
        }
    })
    .await
}

async fn drain_socket<T: Transport>(mut socket: wasp::wire::NoiseSocket<T>) {
    while socket.recv_frame().await.is_ok() {}
}

/// A server that completes a correct handshake, then sends what `after`
/// sends on the established socket.
async fn after_handshake<F, Fut>(identity: Arc<ServerIdentity>, after: F) -> Hostile
where
    F: Fn(wasp::wire::NoiseSocket<Tamper<Ws>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let after = Arc::new(after);
    Hostile::start(move |ws, _| {
        let identity = identity.clone();
        let after = after.clone();
        async move {
            let transport = Tamper::new(ws, |_, data| data);
            if let Ok(accepted) = server_handshake(transport, &identity).await {
                after(accepted.socket).await;
            }
        }
    })
    .await
}

// ---------------------------------------------------------------------------
// The client under attack.

struct Session {
    client: Client,
    events: UnboundedReceiver<(String, Event)>,
    data: DataDir,
    _tmp: tempfile::TempDir,
}

impl Session {
    fn spawn(id: &str, config: ClientConfig) -> Session {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        let (sink, events) = ChannelSink::new();
        let stores = Arc::new(FileStores::new(data.clone()));
        let client = Client::spawn(id.to_string(), Arc::new(config), stores, Arc::new(sink));
        Session {
            client,
            events,
            data,
            _tmp: tmp,
        }
    }

    fn against(hostile: &Hostile, pki: &Pki) -> Session {
        Session::spawn(
            "victim",
            ClientConfig::for_tests(hostile.url(), pki.root.public),
        )
    }

    /// Waits for an event matching `pred`; returns every event up to it.
    async fn until(&mut self, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut seen = Vec::new();
        let wait = async {
            while let Some((_, event)) = self.events.recv().await {
                let done = pred(&event);
                seen.push(event);
                if done {
                    return true;
                }
            }
            false
        };
        let arrived = tokio::time::timeout(GUARD, wait).await;
        assert!(
            matches!(arrived, Ok(true)),
            "event never arrived; saw {seen:?}"
        );
        seen
    }

    fn creds(&self) -> serde_json::Value {
        let bytes = self
            .data
            .session("victim")
            .expect("id")
            .read("creds.json")
            .expect("readable")
            .expect("creds.json exists");
        serde_json::from_slice(&bytes).expect("creds.json is JSON")
    }
}

/// The client must fail this connection attempt and the next one with an
/// error containing `expected`, keep retrying with backoff, and never get
/// as far as a QR code or a login.
async fn assert_rejected_and_retried(hostile: &Hostile, pki: &Pki, expected: &str) {
    let mut session = Session::against(hostile, pki);
    let seen = session
        .until(|e| matches!(e, Event::Reconnecting { attempt: 2, .. }))
        .await;
    let error = session.client.last_error().unwrap_or_default();
    assert!(
        error.contains(expected),
        "expected an error mentioning {expected:?}, got {error:?}"
    );
    assert!(
        seen.iter().all(|e| matches!(e, Event::Reconnecting { .. })),
        "nothing but retries: {seen:?}"
    );
    assert!(
        !session.client.status().is_terminal(),
        "still retrying: {:?}",
        session.client.status()
    );
    assert!(hostile.connections() >= 2, "the client came back");
    // The stored registration is untouched and unpaired.
    assert!(session.creds()["paired"].is_null());
    session.client.shutdown().await;
}

// ---------------------------------------------------------------------------
// 1. Garbage where the ServerHello should be.

#[tokio::test]
async fn unframed_garbage_instead_of_a_server_hello() {
    let pki = Pki::new();
    let hostile =
        Hostile::start(|ws, _| reply_raw(ws, b"HTTP/1.1 418 I'm a teapot\r\n\r\n".to_vec())).await;
    // "HTT" read as a length is megabytes: over the handshake frame limit.
    assert_rejected_and_retried(&hostile, &pki, "exceeds the limit").await;
}

#[tokio::test]
async fn framed_garbage_instead_of_a_server_hello() {
    let pki = Pki::new();
    let hostile = Hostile::start(|ws, _| reply_raw(ws, framed(&[0xFF; 40]))).await;
    assert_rejected_and_retried(&hostile, &pki, "not a HandshakeMessage").await;
}

#[tokio::test]
async fn a_client_hello_instead_of_a_server_hello() {
    let pki = Pki::new();
    let hostile = Hostile::start(|ws, _| {
        let echo = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(vec![9; 32]),
                ..Default::default()
            }),
            ..Default::default()
        };
        reply_raw(ws, framed(&echo.encode_to_vec()))
    })
    .await;
    assert_rejected_and_retried(&hostile, &pki, "not a ServerHello").await;
}

#[tokio::test]
async fn length_prefix_larger_than_what_follows_then_close() {
    let pki = Pki::new();
    let hostile = Hostile::start(|mut ws, _| async move {
        if read_client_hello(&mut ws).await {
            let mut truncated = vec![0x00, 0x03, 0xE8]; // claims 1000 bytes
            truncated.extend_from_slice(&[0xAB; 10]);
            let _ = Transport::send(&mut ws, truncated).await;
            Transport::close(&mut ws).await;
        }
    })
    .await;
    assert_rejected_and_retried(&hostile, &pki, "connection closed").await;
}

#[tokio::test]
async fn sixteen_mebibyte_length_prefix() {
    let pki = Pki::new();
    let hostile = Hostile::start(|ws, _| reply_raw(ws, vec![0xFF, 0xFF, 0xFF, 0, 0, 0])).await;
    assert_rejected_and_retried(&hostile, &pki, "16777215 bytes exceeds the limit").await;
}

#[tokio::test]
async fn websocket_message_over_sixteen_mebibytes() {
    let pki = Pki::new();
    let hostile = Hostile::start(|ws, _| reply_raw(ws, vec![0u8; (16 << 20) + 64])).await;
    assert_rejected_and_retried(&hostile, &pki, "websocket error").await;
}

#[tokio::test]
async fn text_message_instead_of_binary() {
    let pki = Pki::new();
    let hostile = Hostile::start(|mut ws, _| async move {
        if read_client_hello(&mut ws).await {
            let _ = SinkExt::send(&mut ws, Message::Text("hello".into())).await;
            drain(ws).await;
        }
    })
    .await;
    assert_rejected_and_retried(&hostile, &pki, "text message").await;
}

// ---------------------------------------------------------------------------
// 2. A ServerHello that is broken.

#[tokio::test]
async fn server_hello_with_corrupted_static_key() {
    let pki = Pki::new();
    let hostile = tampered_handshake(Arc::new(pki.identity()), || {
        Box::new(edit_server_hello(|h| flip_last(&mut h.r#static)))
    })
    .await;
    assert_rejected_and_retried(&hostile, &pki, "decryption failed").await;
}

#[tokio::test]
async fn server_hello_with_corrupted_certificate_payload() {
    let pki = Pki::new();
    let hostile = tampered_handshake(Arc::new(pki.identity()), || {
        Box::new(edit_server_hello(|h| flip_last(&mut h.payload)))
    })
    .await;
    assert_rejected_and_retried(&hostile, &pki, "decryption failed").await;
}

#[tokio::test]
async fn server_hello_missing_its_payload() {
    let pki = Pki::new();
    let hostile = tampered_handshake(Arc::new(pki.identity()), || {
        Box::new(edit_server_hello(|h| h.payload = None))
    })
    .await;
    assert_rejected_and_retried(&hostile, &pki, "lacks its ephemeral, static or payload").await;
}

#[tokio::test]
async fn server_hello_with_a_short_ephemeral_key() {
    let pki = Pki::new();
    let hostile = tampered_handshake(Arc::new(pki.identity()), || {
        Box::new(edit_server_hello(|h| {
            if let Some(e) = h.ephemeral.as_mut() {
                e.pop();
            }
        }))
    })
    .await;
    assert_rejected_and_retried(&hostile, &pki, "server ephemeral key is 31 bytes").await;
}

#[tokio::test]
async fn server_hello_with_a_small_order_ephemeral_key() {
    let pki = Pki::new();
    let hostile = tampered_handshake(Arc::new(pki.identity()), || {
        Box::new(edit_server_hello(|h| h.ephemeral = Some(vec![0; 32])))
    })
    .await;
    assert_rejected_and_retried(&hostile, &pki, "small-order").await;
}

// ---------------------------------------------------------------------------
// 3. A certificate chain that must not be trusted.

async fn serving_chain(chain_for: impl Fn(&[u8; 32]) -> Vec<u8>) -> Hostile {
    let static_key = KeyPair::generate();
    let cert_chain = chain_for(&static_key.public);
    tampered_handshake(
        Arc::new(ServerIdentity {
            static_key,
            cert_chain,
        }),
        || Box::new(|_, data| data),
    )
    .await
}

#[tokio::test]
async fn certificate_chain_signed_by_another_root() {
    let pki = Pki::new();
    let impostor = KeyPair::generate();
    let hostile = serving_chain(|leaf| chain(&impostor, leaf, 0, far_future())).await;
    assert_rejected_and_retried(&hostile, &pki, "not signed by the trusted root key").await;
}

#[tokio::test]
async fn certificate_leaf_is_not_the_server_static_key() {
    let pki = Pki::new();
    let other = KeyPair::generate();
    let hostile = serving_chain(|_| chain(&pki.root, &other.public, 0, far_future())).await;
    assert_rejected_and_retried(&hostile, &pki, "does not match the server's static key").await;
}

#[tokio::test]
async fn expired_certificate_chain() {
    let pki = Pki::new();
    let hostile = serving_chain(|leaf| chain(&pki.root, leaf, 0, 1_000_000)).await;
    assert_rejected_and_retried(&hostile, &pki, "expired").await;
}

#[tokio::test]
async fn garbage_certificate_chain() {
    let pki = Pki::new();
    let hostile = serving_chain(|_| vec![0xFF; 50]).await;
    assert_rejected_and_retried(&hostile, &pki, "not a CertChain").await;
}

// ---------------------------------------------------------------------------
// 4. Garbage after a correct handshake.

#[tokio::test]
async fn frame_that_fails_to_decrypt() {
    let pki = Pki::new();
    let hostile = Hostile::start({
        let identity = Arc::new(pki.identity());
        move |ws, _| {
            let identity = identity.clone();
            async move {
                // Message 1 is the first transport frame: flip its tag.
                let transport = Tamper::new(ws, |index, mut data| {
                    if index == 1 {
                        if let Some(last) = data.last_mut() {
                            *last ^= 0x80;
                        }
                    }
                    data
                });
                if let Ok(accepted) = server_handshake(transport, &identity).await {
                    let mut socket = accepted.socket;
                    let _ = socket.send_node(&Node::new("ib")).await;
                    drain_socket(socket).await;
                }
            }
        }
    })
    .await;
    assert_rejected_and_retried(&hostile, &pki, "decryption failed").await;
}

#[tokio::test]
async fn undecryptable_frame_while_showing_a_qr_is_a_reported_disconnect() {
    // Once the session is online (here: showing QR codes), losing the
    // connection to garbage is a Disconnected event with the reason,
    // then a reconnect; the QR state does not survive it.
    let pki = Pki::new();
    let hostile = Hostile::start({
        let identity = Arc::new(pki.identity());
        move |ws, _| {
            let identity = identity.clone();
            async move {
                // Message 1 is the pair-device (sent intact), message 2
                // the next frame, whose tag is flipped.
                let transport = Tamper::new(ws, |index, mut data| {
                    if index == 2 {
                        if let Some(last) = data.last_mut() {
                            *last ^= 0x80;
                        }
                    }
                    data
                });
                let Ok(accepted) = server_handshake(transport, &identity).await else {
                    return;
                };
                let mut socket = accepted.socket;
                let refs = Node::new("pair-device")
                    .children(vec![Node::new("ref").bytes(b"ref-1".to_vec())]);
                if socket.send_node(&pair_iq("pd-1", refs)).await.is_err() {
                    return;
                }
                // The client's iq result shows it took the pair-device.
                if socket.recv_node().await.is_err() {
                    return;
                }
                let _ = socket.send_node(&Node::new("ib")).await;
                drain_socket(socket).await;
            }
        }
    })
    .await;
    let mut session = Session::against(&hostile, &pki);
    let seen = session
        .until(|e| matches!(e, Event::Reconnecting { attempt: 2, .. }))
        .await;
    let reasons: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Disconnected { reason } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons.len(),
        2,
        "each lost connection is reported: {seen:?}"
    );
    assert!(
        reasons.iter().all(|r| r.contains("decryption failed")),
        "{reasons:?}"
    );
    assert!(
        seen.iter().any(|e| matches!(e, Event::Qr { .. })),
        "{seen:?}"
    );
    assert!(!session.client.status().is_terminal());
    assert!(session.creds()["paired"].is_null());
    session.client.shutdown().await;
    assert_eq!(session.client.status(), Status::Stopped);
}

async fn sending_plaintext(pki: &Pki, plaintext: &'static [u8]) -> Hostile {
    after_handshake(Arc::new(pki.identity()), move |mut socket| async move {
        let _ = socket.send_frame(plaintext).await;
        drain_socket(socket).await;
    })
    .await
}

#[tokio::test]
async fn frame_that_decrypts_to_something_that_is_not_a_node() {
    let pki = Pki::new();
    let hostile = sending_plaintext(&pki, b"\x00 this is not a binary node at all").await;
    assert_rejected_and_retried(&hostile, &pki, "binary node error").await;
}

#[tokio::test]
async fn empty_frame_after_the_handshake() {
    let pki = Pki::new();
    let hostile = sending_plaintext(&pki, b"").await;
    assert_rejected_and_retried(&hostile, &pki, "binary node error").await;
}

#[tokio::test]
async fn compressed_flag_with_garbage_deflate() {
    let pki = Pki::new();
    let hostile = sending_plaintext(&pki, b"\x02\xde\xad\xbe\xef not zlib at all").await;
    assert_rejected_and_retried(&hostile, &pki, "inflate failed").await;
}

#[tokio::test]
async fn compressed_frame_that_inflates_to_a_bomb() {
    use std::io::Write as _;
    let mut z = flate2::write::ZlibEncoder::new(vec![0x02], flate2::Compression::fast());
    z.write_all(&vec![0u8; 8 << 20]).expect("deflate");
    let bomb: &'static [u8] = z.finish().expect("deflate").leak();
    let pki = Pki::new();
    let hostile = sending_plaintext(&pki, bomb).await;
    assert_rejected_and_retried(&hostile, &pki, "inflated payload exceeds").await;
}

/// A node nested `depth` levels deep, encoded by hand (our encoder would
/// not build one): `[LIST_8 2, "a", [LIST_8 1, <node>]]`.
fn nested_node(depth: usize) -> Vec<u8> {
    let mut out = vec![0]; // flags: not compressed
    for _ in 0..depth {
        out.extend_from_slice(&[248, 2, 252, 1, b'a', 248, 1]);
    }
    out.extend_from_slice(&[248, 1, 252, 1, b'a']);
    out
}

#[tokio::test]
async fn node_nested_deep_enough_to_blow_the_stack() {
    // A stack overflow would abort the whole process, every session with
    // it: the decoder must refuse long before.
    let pki = Pki::new();
    let bomb: &'static [u8] = nested_node(200_000).leak();
    let hostile = sending_plaintext(&pki, bomb).await;
    assert_rejected_and_retried(&hostile, &pki, "nested deeper than").await;
}

#[tokio::test]
async fn server_that_keeps_asking_for_a_restart_gets_backoff() {
    // 515 means "reconnect now" once, after pairing. A server that answers
    // every connection with it must not spin the client in a loop with
    // no delay (one busy session would eat the CPU of all the others).
    let pki = Pki::new();
    let hostile = after_handshake(Arc::new(pki.identity()), |mut socket| async move {
        let restart = Node::new("stream:error").attr("code", "515");
        let _ = socket.send_node(&restart).await;
        drain_socket(socket).await;
    })
    .await;
    let mut session = Session::against(&hostile, &pki);
    let seen = session
        .until(|e| matches!(e, Event::Reconnecting { attempt: 2, .. }))
        .await;
    assert!(
        seen.iter().all(|e| matches!(e, Event::Reconnecting { .. })),
        "{seen:?}"
    );
    let error = session.client.last_error().unwrap_or_default();
    assert!(error.contains("restart"), "clear error: {error:?}");
    assert!(!session.client.status().is_terminal());
    session.client.shutdown().await;
}

#[tokio::test]
async fn server_that_never_answers_the_handshake() {
    let pki = Pki::new();
    let hostile = Hostile::start(|ws, _| drain(ws)).await;
    let mut config = ClientConfig::for_tests(hostile.url(), pki.root.public);
    config.connect_timeout = Duration::from_millis(200);
    let mut session = Session::spawn("victim", config);
    session
        .until(|e| matches!(e, Event::Reconnecting { attempt: 2, .. }))
        .await;
    let error = session.client.last_error().unwrap_or_default();
    assert!(error.contains("timed out"), "clear error: {error:?}");
    assert!(hostile.connections() >= 2);
    session.client.shutdown().await;
}

#[tokio::test]
async fn server_silent_after_the_handshake() {
    // A handshake that completes and then nothing: no pair-device, no
    // <success>. The session must not sit in "connecting" forever.
    let pki = Pki::new();
    let hostile = after_handshake(Arc::new(pki.identity()), drain_socket).await;
    let mut config = ClientConfig::for_tests(hostile.url(), pki.root.public);
    config.connect_timeout = Duration::from_millis(300);
    let mut session = Session::spawn("victim", config);
    let seen = session
        .until(|e| matches!(e, Event::Reconnecting { attempt: 2, .. }))
        .await;
    assert!(
        seen.iter().all(|e| matches!(e, Event::Reconnecting { .. })),
        "{seen:?}"
    );
    let error = session.client.last_error().unwrap_or_default();
    assert!(error.contains("silent"), "clear error: {error:?}");
    assert!(hostile.connections() >= 2);
    session.client.shutdown().await;
    assert_eq!(session.client.status(), Status::Stopped);
}

#[tokio::test]
async fn server_that_refuses_the_websocket_upgrade() {
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let refusing = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt as _;
            let _ = tcp
                .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let config = ClientConfig::for_tests(format!("ws://{addr}/ws/chat"), pki.root.public);
    let mut session = Session::spawn("victim", config);
    session
        .until(|e| matches!(e, Event::Reconnecting { attempt: 2, .. }))
        .await;
    let error = session.client.last_error().unwrap_or_default();
    assert!(error.contains("403"), "clear error: {error:?}");
    session.client.shutdown().await;
    refusing.abort();
}

// ---------------------------------------------------------------------------
// 5. A forged pair-success.

/// What the client's QR code tells a phone: its identity key and the ADV
/// secret that keys the pair-success HMAC.
struct Scanned {
    identity: [u8; 32],
    adv_secret: [u8; 32],
}

fn scan(qr: &str) -> Scanned {
    let fields: Vec<&str> = qr.split(',').collect();
    let key = |i: usize| -> [u8; 32] {
        STANDARD
            .decode(fields[i])
            .expect("base64")
            .try_into()
            .expect("32 bytes")
    };
    Scanned {
        identity: key(2),
        adv_secret: key(3),
    }
}

/// How a forger builds the `<device-identity>` container.
#[derive(Clone, Copy, Debug)]
enum Forgery {
    /// A correctly signed identity MACed under the wrong key.
    WrongHmac,
    /// A correct HMAC (the forger read the QR) over an identity whose
    /// account signature was made by another key.
    BadAccountSignature,
    /// Not a protobuf at all.
    Garbage,
    /// Correctly MACed and signed, but naming a device JID that is not
    /// one.
    BadDeviceJid,
    /// A correct HMAC over bytes that are not a signed device identity.
    GarbageDetails,
    /// Not a forgery: the control that the same server really links.
    Genuine,
}

fn forged_container(forgery: Forgery, scanned: &Scanned) -> Vec<u8> {
    let account = KeyPair::generate();
    let inner = AdvDeviceIdentity {
        raw_id: Some(7),
        timestamp: Some(1_700_000_000),
        key_index: Some(1),
        account_type: Some(AdvEncryptionType::E2ee as i32),
        device_type: Some(AdvEncryptionType::E2ee as i32),
    }
    .encode_to_vec();
    let message = [&[6u8, 0][..], &inner, &scanned.identity].concat();
    let signer = match forgery {
        Forgery::BadAccountSignature => KeyPair::generate(),
        _ => account.clone(),
    };
    let signed = AdvSignedDeviceIdentity {
        details: Some(inner),
        account_signature_key: Some(account.public.to_vec()),
        account_signature: Some(signer.sign(&message).to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let mac_key = match forgery {
        Forgery::WrongHmac => [0x42; 32],
        _ => scanned.adv_secret,
    };
    let container = AdvSignedDeviceIdentityHmac {
        hmac: Some(hmac_sha256(&mac_key, &[&signed]).to_vec()),
        details: Some(signed),
        account_type: Some(AdvEncryptionType::E2ee as i32),
    };
    match forgery {
        Forgery::Garbage => vec![0xFF; 33],
        Forgery::GarbageDetails => {
            let details = vec![0xFF; 33];
            AdvSignedDeviceIdentityHmac {
                hmac: Some(hmac_sha256(&scanned.adv_secret, &[&details]).to_vec()),
                details: Some(details),
                account_type: Some(AdvEncryptionType::E2ee as i32),
            }
            .encode_to_vec()
        }
        _ => container.encode_to_vec(),
    }
}

fn pair_iq(id: &str, child: Node) -> Node {
    Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "set")
        .attr("id", id)
        .children(vec![child])
}

/// The device JID a pairing server hands out.
const PAIRED_JID: &str = "15550001111:9@s.whatsapp.net";

/// A pairing server and the session it is pairing, up to the moment the
/// server has sent its pair-success.
struct PairingRig {
    hostile: Hostile,
    session: Session,
    /// The client's answer to the pair-success.
    answers: UnboundedReceiver<Node>,
}

/// Starts a server that sends pair-device, waits for the QR the client
/// shows (as a phone would scan it), then sends a pair-success built per
/// `forgery`; and a session against it.
async fn pairing_rig(forgery: Forgery) -> PairingRig {
    let pki = Pki::new();
    let identity = Arc::new(pki.identity());
    let (qr_tx, qr_rx) = mpsc::unbounded_channel::<String>();
    let (answer_tx, answer_rx) = mpsc::unbounded_channel::<Node>();
    let qr_rx = Arc::new(tokio::sync::Mutex::new(qr_rx));
    let hostile = Hostile::start(move |ws, _| {
        let identity = identity.clone();
        let qr_rx = qr_rx.clone();
        let answer_tx = answer_tx.clone();
        async move {
            let Ok(accepted) = server_handshake(ws, &identity).await else {
                return;
            };
            let mut socket = accepted.socket;
            let refs = Node::new("pair-device").children(vec![
                Node::new("ref").bytes(b"ref-1".to_vec()),
                Node::new("ref").bytes(b"ref-2".to_vec()),
            ]);
            if socket.send_node(&pair_iq("pd-1", refs)).await.is_err() {
                return;
            }
            let Some(qr) = qr_rx.lock().await.recv().await else {
                return;
            };
            let container = forged_container(forgery, &scan(&qr));
            let device_jid = match forgery {
                Forgery::BadDeviceJid => "../../creds.json",
                _ => PAIRED_JID,
            };
            let success = Node::new("pair-success").children(vec![
                Node::new("device-identity").bytes(container),
                Node::new("platform").attr("name", "android"),
                Node::new("device").attr("jid", device_jid),
            ]);
            if socket.send_node(&pair_iq("ps-1", success)).await.is_err() {
                return;
            }
            while let Ok(node) = socket.recv_node().await {
                if node.get_attr("id") == Some("ps-1") {
                    let _ = answer_tx.send(node);
                }
            }
        }
    })
    .await;

    let mut session = Session::against(&hostile, &pki);
    let seen = session.until(|e| matches!(e, Event::Qr { .. })).await;
    let Some(Event::Qr { code, .. }) = seen.last() else {
        unreachable!("until returns the matching event last")
    };
    qr_tx.send(code.clone()).expect("server waits for the QR");
    PairingRig {
        hostile,
        session,
        answers: answer_rx,
    }
}

async fn next_answer(answers: &mut UnboundedReceiver<Node>) -> Node {
    tokio::time::timeout(GUARD, answers.recv())
        .await
        .expect("the client answers the pair-success")
        .expect("answer captured")
}

/// Runs the pairing dance up to a forged pair-success; returns the
/// client's answer to it.
async fn forged_pairing(forgery: Forgery) -> (Session, Node, usize) {
    let PairingRig {
        hostile,
        mut session,
        mut answers,
    } = pairing_rig(forgery).await;
    let seen = session
        .until(|e| matches!(e, Event::Stopped { .. } | Event::LoggedOut { .. }))
        .await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::Paired { .. } | Event::Connected)),
        "a forged pairing links nothing: {seen:?}"
    );
    assert!(
        matches!(seen.last(), Some(Event::Stopped { reason }) if reason.contains("pairing failed")),
        "{seen:?}"
    );
    let answer = next_answer(&mut answers).await;
    (session, answer, hostile.connections())
}

async fn assert_refused(forgery: Forgery, code: &str, error_mentions: &str) {
    let (session, answer, connections) = forged_pairing(forgery).await;
    assert_eq!(answer.tag, "iq");
    assert_eq!(answer.get_attr("type"), Some("error"), "{answer:?}");
    let error = answer.child("error").expect("an <error> child");
    assert_eq!(error.get_attr("code"), Some(code), "{answer:?}");

    assert_eq!(session.client.status(), Status::Failed);
    let last_error = session.client.last_error().unwrap_or_default();
    assert!(
        last_error.contains("pairing failed") && last_error.contains(error_mentions),
        "clear error: {last_error:?}"
    );
    assert_eq!(session.client.jid(), None);
    let creds = session.creds();
    assert_eq!(creds["state"], "active", "{creds}");
    assert!(creds["paired"].is_null(), "no identity stored: {creds}");
    assert!(
        !creds.to_string().contains("15550001111"),
        "the forged JID is stored nowhere: {creds}"
    );
    // A forged pairing is not retried: the session task has ended.
    assert_eq!(connections, 1);
}

#[tokio::test]
async fn forged_pair_success_with_a_wrong_hmac() {
    assert_refused(Forgery::WrongHmac, "401", "HMAC").await;
}

#[tokio::test]
async fn forged_pair_success_with_a_bad_account_signature() {
    assert_refused(Forgery::BadAccountSignature, "401", "account signature").await;
}

#[tokio::test]
async fn signed_pair_success_naming_an_invalid_device_jid() {
    assert_refused(Forgery::BadDeviceJid, "500", "device jid").await;
}

#[tokio::test]
async fn forged_pair_success_with_a_garbage_protobuf() {
    assert_refused(Forgery::Garbage, "500", "device identity").await;
}

#[tokio::test]
async fn forged_pair_success_with_a_valid_hmac_over_garbage() {
    assert_refused(Forgery::GarbageDetails, "500", "signed device identity").await;
}

/// The control for the forgeries above: the same server with a genuine
/// pair-success links the device, so each forgery fails for its forgery
/// and not because the harness cannot pair at all.
#[tokio::test]
async fn genuine_pair_success_from_the_same_server_links() {
    let PairingRig {
        hostile: _hostile,
        mut session,
        mut answers,
    } = pairing_rig(Forgery::Genuine).await;
    let seen = session.until(|e| matches!(e, Event::Paired { .. })).await;
    assert_eq!(
        seen.last(),
        Some(&Event::Paired {
            jid: PAIRED_JID.parse().unwrap()
        })
    );
    let answer = next_answer(&mut answers).await;
    assert_eq!(answer.get_attr("type"), Some("result"), "{answer:?}");
    assert!(answer.child("pair-device-sign").is_some(), "{answer:?}");
    assert_eq!(session.creds()["paired"]["jid"], PAIRED_JID);
    session.client.shutdown().await;
    assert_eq!(session.client.status(), Status::Stopped);
}

// ---------------------------------------------------------------------------
// 6. Isolation: hostile servers do not disturb a healthy session.

#[tokio::test]
async fn a_hammered_session_does_not_disturb_a_healthy_one() {
    let sim = wasp::sim::start(wasp::sim::SimConfig::default())
        .await
        .expect("simulator starts");
    let mut config = ClientConfig::for_tests(sim.ws_url(), sim.root_public_key());
    config.qr_first_ttl = Duration::from_secs(30);
    let mut good = Session::spawn("good", config);
    let phone = sim.create_phone(None).await.expect("phone");
    let seen = good.until(|e| matches!(e, Event::Qr { .. })).await;
    let Some(Event::Qr { code, .. }) = seen.last() else {
        unreachable!("until returns the matching event last")
    };
    let device = sim.scan(&phone, code).await.expect("scan links");
    good.until(|e| *e == Event::Connected).await;
    let watcher = good.client.clone();
    let left_connected =
        tokio::spawn(async move { watcher.wait_for(|s| s != Status::Connected).await });

    // Three sessions under attack at once, each retrying as fast as its
    // backoff allows.
    let pki = Pki::new();
    let garbage = Hostile::start(|ws, _| reply_raw(ws, framed(&[0xFF; 40]))).await;
    let bomb = sending_plaintext(&pki, b"\x02\xde\xad\xbe\xef").await;
    let impostor = KeyPair::generate();
    let bad_cert = serving_chain(|leaf| chain(&impostor, leaf, 0, far_future())).await;
    let mut victims: Vec<Session> = [&garbage, &bomb, &bad_cert]
        .iter()
        .map(|hostile| {
            let mut config = ClientConfig::for_tests(hostile.url(), pki.root.public);
            config.reconnect_base = Duration::from_millis(5);
            config.reconnect_max = Duration::from_millis(20);
            Session::spawn("victim", config)
        })
        .collect();
    for victim in &mut victims {
        victim
            .until(|e| matches!(e, Event::Reconnecting { attempt: 8, .. }))
            .await;
        // The healthy session answers while the others are hammered.
        let ping = Node::new("iq")
            .attr("xmlns", "w:p")
            .attr("type", "get")
            .attr("to", "s.whatsapp.net")
            .children(vec![Node::new("ping")]);
        let pong = tokio::time::timeout(GUARD, good.client.send_iq(ping))
            .await
            .expect("answered in time")
            .expect("ping answered");
        assert_eq!(pong.get_attr("type"), Some("result"));
    }

    assert!(
        !left_connected.is_finished(),
        "the healthy session stayed up"
    );
    left_connected.abort();
    assert_eq!(good.client.status(), Status::Connected);
    assert!(good.client.last_error().is_none());
    if let Ok((_, event)) = good.events.try_recv() {
        panic!("the healthy session saw {event:?} while others were attacked");
    }
    let devices = sim.devices(&phone).expect("phone exists");
    assert!(devices.iter().any(|d| d.jid == device && d.connected));
    for victim in &victims {
        assert!(!victim.client.status().is_terminal());
        victim.client.shutdown().await;
    }
    good.client.shutdown().await;
}
