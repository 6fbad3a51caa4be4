//! Property: after a real Noise handshake, nothing a hostile server puts
//! on the transport makes the client's `NoiseSocket::recv_node` panic.
//! Every input either decodes to a node or ends in a `WireError`, and no
//! read hangs.

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use wasp::crypto::KeyPair;
use wasp::types::Clock as _;
use wasp::wire::cert::issue_chain;
use wasp::wire::socket::{
    client_handshake, memory_pair, server_handshake, ClientHandshake, MemoryTransport, NoiseSocket,
    ServerIdentity, Transport,
};
use wasp::wire::{binary, Node, WireError};

/// Not a timing assertion: every read here is answered at once.
const HANG_GUARD: Duration = Duration::from_secs(10);

/// One thing the hostile server sends.
#[derive(Clone, Debug)]
enum Hostile {
    /// Random bytes straight onto the transport (not even framed).
    Raw(Vec<u8>),
    /// A correctly framed message with a corrupted ciphertext.
    FlippedBit { at: usize, bit: u8 },
    /// Random plaintext, correctly encrypted (flags byte included).
    Plaintext(Vec<u8>),
    /// Random bytes behind the compressed flag, correctly deflated.
    Deflated(Vec<u8>),
    /// A valid node, correctly encrypted.
    Node(String, Vec<u8>),
}

fn send_strategy() -> impl Strategy<Value = Hostile> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..200);
    prop_oneof![
        bytes().prop_map(Hostile::Raw),
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Hostile::FlippedBit { at, bit }),
        bytes().prop_map(Hostile::Plaintext),
        bytes().prop_map(Hostile::Deflated),
        ("[a-z]{1,12}", bytes()).prop_map(|(tag, content)| Hostile::Node(tag, content)),
    ]
}

type Client = NoiseSocket<MemoryTransport>;
type Server = NoiseSocket<Tampering<MemoryTransport>>;

/// A client and a hostile server with a completed handshake between them.
async fn connected_pair() -> (Client, Server, TamperHandle) {
    let root = KeyPair::generate();
    let identity = good_identity(&root);
    let noise_key = KeyPair::generate();
    let (client_end, server_end) = memory_pair(64);
    let tamper = TamperHandle::default();
    let server_end = tamper.wrap(server_end);
    let hs = ClientHandshake {
        noise_key: &noise_key,
        root_key: &root.public,
        payload: b"payload".to_vec(),
        routing_info: None,
        now: wasp::types::SystemClock.unix_secs(),
    };
    let (client, server) = tokio::join!(
        client_handshake(client_end, hs),
        server_handshake(server_end, &identity)
    );
    let client = client.expect("client handshake");
    let server = server.expect("server handshake").socket;
    (client, server, tamper)
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(vec![binary::FLAG_COMPRESSED], Default::default());
    z.write_all(bytes).expect("deflate into memory");
    z.finish().expect("deflate into memory")
}

/// Sends `script` from the hostile server, closes it, then reads
/// everything the client gets. Returns the nodes received before the
/// whole stream and whether it ended in an error.
async fn play(script: Vec<Hostile>) -> (Vec<Node>, bool) {
    let sent = script.len();
    let (mut client, mut server, tamper) = connected_pair().await;
    for send in script {
        let sent = match send {
            Hostile::Raw(raw) => {
                tamper.replace_next(raw);
                server.send_frame(b"replaced").await
            }
            Hostile::FlippedBit { at, bit } => {
                tamper.rewrite_next(move |mut message| {
                    let at = at % message.len();
                    message[at] ^= 1 << bit;
                    message
                });
                server.send_frame(b"\x00\xf8\x01\x10").await
            }
            Hostile::Plaintext(plain) => server.send_frame(&plain).await,
            Hostile::Deflated(plain) => server.send_frame(&deflate(&plain)).await,
            Hostile::Node(tag, content) => server.send_node(&Node::new(tag).bytes(content)).await,
        };
        sent.expect("the memory pair holds the whole script");
    }
    server.close().await;

    // Every call returns (no hang), the stream ends in an error, and
    // reading on after errors is harmless: a decode error ends the session
    // in the run loop, not here, so later frames may still decode.
    let mut nodes = Vec::new();
    let mut last_failed = false;
    for _ in 0..sent + 2 {
        let received = tokio::time::timeout(HANG_GUARD, client.recv_node())
            .await
            .expect("recv_node returns");
        last_failed = received.is_err();
        nodes.extend(received.ok());
    }
    (nodes, last_failed)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn recv_node_survives_any_hostile_script(
        script in proptest::collection::vec(send_strategy(), 1..12)
    ) {
        let sent = script.len();
        let (nodes, ended_by_error) = runtime().block_on(play(script));
        prop_assert!(ended_by_error);
        prop_assert!(nodes.len() <= sent);
    }

    #[test]
    fn valid_nodes_all_arrive(
        nodes in proptest::collection::vec(("[a-z]{1,12}", proptest::collection::vec(any::<u8>(), 0..200)), 1..8)
    ) {
        // The control for the property above: the same path delivers
        // honest traffic intact, so "no panic" is not "nothing decoded".
        let script = nodes.iter().cloned().map(|(t, c)| Hostile::Node(t, c)).collect();
        let (got, _) = runtime().block_on(play(script));
        let want: Vec<Node> = nodes.into_iter().map(|(t, c)| Node::new(t).bytes(c)).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn a_flipped_ciphertext_bit_is_a_decryption_error() {
    runtime().block_on(async {
        let (mut client, mut server, tamper) = connected_pair().await;
        tamper.rewrite_next(|mut message| {
            if let Some(last) = message.last_mut() {
                *last ^= 1;
            }
            message
        });
        server
            .send_node(&Node::new("iq"))
            .await
            .expect("send to memory");
        let err = client.recv_node().await.expect_err("tampered frame");
        assert!(err.to_string().contains("decryption failed"), "{err}");
    });
}

/// Rewrites one outgoing transport message (a whole WebSocket message:
/// length prefix and ciphertext) into whatever the test wants to send.
type Rewrite = Box<dyn FnOnce(Vec<u8>) -> Vec<u8> + Send>;

/// A transport whose next sends the test can bend. The hostile server runs
/// the real handshake and real frame encryption through it and corrupts
/// exactly the message it means to, so every other byte is legitimate.
struct Tampering<T> {
    inner: T,
    rewrites: Arc<Mutex<VecDeque<Rewrite>>>,
}

/// The test's side of a [`Tampering`] transport.
#[derive(Clone, Default)]
struct TamperHandle {
    rewrites: Arc<Mutex<VecDeque<Rewrite>>>,
}

impl TamperHandle {
    /// Wraps `inner`; rewrites queued on this handle apply to its sends.
    fn wrap<T: Transport>(&self, inner: T) -> Tampering<T> {
        Tampering {
            inner,
            rewrites: self.rewrites.clone(),
        }
    }

    /// The next message sent goes through `rewrite` first.
    fn rewrite_next(&self, rewrite: impl FnOnce(Vec<u8>) -> Vec<u8> + Send + 'static) {
        self.rewrites
            .lock()
            .expect("tamper queue lock")
            .push_back(Box::new(rewrite));
    }

    /// The next message sent is replaced by `raw`, byte for byte.
    fn replace_next(&self, raw: Vec<u8>) {
        self.rewrite_next(move |_| raw);
    }
}

impl<T: Transport> Transport for Tampering<T> {
    async fn send(&mut self, data: Vec<u8>) -> Result<(), WireError> {
        let rewrite = self.rewrites.lock().expect("tamper queue lock").pop_front();
        let data = match rewrite {
            Some(rewrite) => rewrite(data),
            None => data,
        };
        self.inner.send(data).await
    }

    fn recv(&mut self) -> impl Future<Output = Result<Option<Vec<u8>>, WireError>> + Send {
        self.inner.recv()
    }

    fn close(&mut self) -> impl Future<Output = ()> + Send {
        self.inner.close()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A server identity: a fresh static key and a chain from `root` naming
/// `leaf_key`, valid in `[not_before, not_after]`.
fn identity_with_chain(
    root: &KeyPair,
    static_key: KeyPair,
    leaf_key: &[u8; 32],
    not_before: u64,
    not_after: u64,
) -> ServerIdentity {
    let intermediate = KeyPair::generate();
    let cert_chain = issue_chain(root, &intermediate, 7, leaf_key, 8, not_before, not_after);
    ServerIdentity {
        static_key,
        cert_chain,
    }
}

/// A server identity that verifies against `root` right now.
fn good_identity(root: &KeyPair) -> ServerIdentity {
    let static_key = KeyPair::generate();
    let leaf = static_key.public;
    let now = unix_now();
    identity_with_chain(root, static_key, &leaf, now - 3600, now + 3600)
}
