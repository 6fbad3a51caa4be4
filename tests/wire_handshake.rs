//! Client and server handshakes against each other over in-memory and
//! real WebSocket transports, including hostile and broken peers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use wasp::crypto::KeyPair;
use wasp::proto::{handshake_message::ServerHello, HandshakeMessage};
use wasp::types::Clock as _;
use wasp::wire::cert::{issue_chain, CertError};
use wasp::wire::frame::{encode_frame, FrameDecoder, FrameError};
use wasp::wire::socket::{
    client_handshake, connect_websocket, memory_pair, server_handshake, AcceptedClient,
    ClientHandshake, MemoryTransport, NoiseSocket, ServerIdentity, Transport,
};
use wasp::wire::WireError;

/// Hang guard only; nothing here should take more than milliseconds.
const GUARD: Duration = Duration::from_secs(20);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct Pki {
    root: KeyPair,
    server: ServerIdentity,
}

fn pki() -> Pki {
    let root = KeyPair::generate();
    let intermediate = KeyPair::generate();
    let static_key = KeyPair::generate();
    let cert_chain = issue_chain(
        &root,
        &intermediate,
        1,
        &static_key.public,
        2,
        now() - 3600,
        now() + 3600,
    );
    Pki {
        root,
        server: ServerIdentity {
            static_key,
            cert_chain,
        },
    }
}

async fn run_pair(
    pki: &Pki,
    root_key: [u8; 32],
    noise_key: &KeyPair,
    routing: Option<&[u8]>,
) -> (
    Result<NoiseSocket<MemoryTransport>, WireError>,
    Result<AcceptedClient<MemoryTransport>, WireError>,
) {
    let (client_end, server_end) = memory_pair(8);
    let hs = ClientHandshake {
        noise_key,
        root_key: &root_key,
        payload: b"client payload".to_vec(),
        routing_info: routing,
        now: wasp::types::SystemClock.unix_secs(),
    };
    let both = async {
        tokio::join!(
            client_handshake(client_end, hs),
            server_handshake(server_end, &pki.server)
        )
    };
    tokio::time::timeout(GUARD, both)
        .await
        .expect("handshake hung")
}

#[tokio::test]
async fn full_handshake_then_frames_both_ways() {
    let pki = pki();
    let noise_key = KeyPair::generate();
    let (client, server) = run_pair(&pki, pki.root.public, &noise_key, Some(b"edge")).await;
    let mut client = client.expect("client handshake");
    let accepted = server.expect("server handshake");
    assert_eq!(accepted.client_static, noise_key.public);
    assert_eq!(accepted.payload, b"client payload");
    assert_eq!(accepted.routing_info.as_deref(), Some(&b"edge"[..]));
    let mut server = accepted.socket;

    for i in 0..5u8 {
        client.send_frame(&[i; 10]).await.unwrap();
        server
            .send_frame(&vec![i; 1000 * usize::from(i)])
            .await
            .unwrap();
    }
    for i in 0..5u8 {
        assert_eq!(server.recv_frame().await.unwrap(), [i; 10]);
        assert_eq!(
            client.recv_frame().await.unwrap(),
            vec![i; 1000 * usize::from(i)]
        );
    }
    // An empty plaintext is a valid frame too.
    client.send_frame(&[]).await.unwrap();
    assert_eq!(server.recv_frame().await.unwrap(), Vec::<u8>::new());

    client.close().await;
    assert!(matches!(server.recv_frame().await, Err(WireError::Closed)));
}

#[tokio::test]
async fn recv_frame_is_cancel_safe() {
    let pki = pki();
    let noise_key = KeyPair::generate();
    let (client, server) = run_pair(&pki, pki.root.public, &noise_key, None).await;
    let mut client = client.unwrap();
    let mut server = server.unwrap().socket;
    // Cancel a pending receive many times; no frame may be lost or
    // decrypted out of order afterwards.
    for _ in 0..10 {
        let cancelled = tokio::time::timeout(Duration::from_millis(1), client.recv_frame()).await;
        assert!(cancelled.is_err());
    }
    server.send_frame(b"one").await.unwrap();
    server.send_frame(b"two").await.unwrap();
    assert_eq!(client.recv_frame().await.unwrap(), b"one");
    assert_eq!(client.recv_frame().await.unwrap(), b"two");
}

#[tokio::test]
async fn wrong_root_key_is_rejected() {
    let pki = pki();
    let noise_key = KeyPair::generate();
    let other_root = KeyPair::generate().public;
    let (client, _server) = run_pair(&pki, other_root, &noise_key, None).await;
    assert!(matches!(
        client.err(),
        Some(WireError::Cert(CertError::IntermediateSignature))
    ));
}

#[tokio::test]
async fn leaf_key_other_than_server_static_is_rejected() {
    let mut pki = pki();
    // A valid chain, but for a different static key than the server uses.
    let intermediate = KeyPair::generate();
    pki.server.cert_chain = issue_chain(
        &pki.root,
        &intermediate,
        1,
        &KeyPair::generate().public,
        2,
        now() - 60,
        now() + 60,
    );
    let noise_key = KeyPair::generate();
    let (client, _server) = run_pair(&pki, pki.root.public, &noise_key, None).await;
    assert!(matches!(
        client.err(),
        Some(WireError::Cert(CertError::LeafKeyMismatch))
    ));
}

#[tokio::test]
async fn expired_chain_is_rejected() {
    let mut pki = pki();
    let intermediate = KeyPair::generate();
    pki.server.cert_chain = issue_chain(
        &pki.root,
        &intermediate,
        1,
        &pki.server.static_key.public,
        2,
        now() - 7200,
        now() - 3600,
    );
    let noise_key = KeyPair::generate();
    let (client, _server) = run_pair(&pki, pki.root.public, &noise_key, None).await;
    assert!(matches!(
        client.err(),
        Some(WireError::Cert(CertError::Expired { .. }))
    ));
}

/// Sits between client and server and rewrites the server's first frame.
async fn relay_with_tampered_server_hello(
    mut to_client: MemoryTransport,
    mut to_server: MemoryTransport,
    tamper: impl Fn(Vec<u8>) -> Vec<u8> + Send,
) {
    // Client intro + ClientHello: pass through.
    if let Ok(Some(first)) = to_client.recv().await {
        let _ = to_server.send(first).await;
    }
    // ServerHello: decode the frame, tamper, re-frame.
    if let Ok(Some(hello)) = to_server.recv().await {
        let mut dec = FrameDecoder::client(1 << 20);
        dec.push(&hello);
        if let Ok(Some(frame)) = dec.next_frame() {
            let mut out = Vec::new();
            encode_frame(&tamper(frame), &mut out).unwrap();
            let _ = to_client.send(out).await;
        }
    }
    // Keep both ends open until the client gives up.
    let _ = to_client.recv().await;
}

async fn client_against_tampering(tamper: impl Fn(Vec<u8>) -> Vec<u8> + Send) -> WireError {
    let pki = pki();
    let noise_key = KeyPair::generate();
    let (client_end, relay_client_side) = memory_pair(8);
    let (relay_server_side, server_end) = memory_pair(8);
    let hs = ClientHandshake {
        noise_key: &noise_key,
        root_key: &pki.root.public,
        payload: vec![1, 2, 3],
        routing_info: None,
        now: wasp::types::SystemClock.unix_secs(),
    };
    let run = async {
        let (client, _, _) = tokio::join!(
            client_handshake(client_end, hs),
            relay_with_tampered_server_hello(relay_client_side, relay_server_side, tamper),
            async {
                let _ = server_handshake(server_end, &pki.server).await;
            },
        );
        client
    };
    match tokio::time::timeout(GUARD, run).await.expect("hung") {
        Ok(_) => panic!("tampered handshake accepted"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn tampered_server_hello_is_rejected() {
    // Flip one bit in each field in turn; every one must fail.
    for field in 0..3 {
        let err = client_against_tampering(move |frame| {
            let mut msg = HandshakeMessage::decode(frame.as_slice()).unwrap();
            let hello = msg.server_hello.as_mut().unwrap();
            let target = match field {
                0 => hello.ephemeral.as_mut().unwrap(),
                1 => hello.r#static.as_mut().unwrap(),
                _ => hello.payload.as_mut().unwrap(),
            };
            target[5] ^= 0x01;
            msg.encode_to_vec()
        })
        .await;
        assert!(
            matches!(err, WireError::Noise(_)),
            "field {field}: unexpected {err:?}"
        );
    }
}

#[tokio::test]
async fn server_hello_with_missing_or_bad_parts_is_rejected() {
    let cases: Vec<Box<dyn Fn(ServerHello) -> HandshakeMessage + Send>> = vec![
        Box::new(|mut h| {
            h.payload = None;
            HandshakeMessage {
                server_hello: Some(h),
                ..Default::default()
            }
        }),
        Box::new(|mut h| {
            h.ephemeral = Some(vec![1; 31]);
            HandshakeMessage {
                server_hello: Some(h),
                ..Default::default()
            }
        }),
        // A ClientFinish where a ServerHello belongs.
        Box::new(|_| HandshakeMessage {
            client_finish: Some(Default::default()),
            ..Default::default()
        }),
    ];
    for edit in cases {
        let err = client_against_tampering(move |frame| {
            let msg = HandshakeMessage::decode(frame.as_slice()).unwrap();
            edit(msg.server_hello.unwrap()).encode_to_vec()
        })
        .await;
        assert!(matches!(err, WireError::Handshake(_)), "unexpected {err:?}");
    }
}

#[tokio::test]
async fn garbage_first_server_message_is_rejected() {
    for garbage in [
        vec![0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        vec![0, 0, 3, 0xFF, 0xFF, 0xFF],
    ] {
        let (client_end, mut server_end) = memory_pair(8);
        let noise_key = KeyPair::generate();
        let root = KeyPair::generate().public;
        let hs = ClientHandshake {
            noise_key: &noise_key,
            root_key: &root,
            payload: vec![],
            routing_info: None,
            now: wasp::types::SystemClock.unix_secs(),
        };
        let fake_server = async {
            let _hello = server_end.recv().await;
            server_end.send(garbage.clone()).await.unwrap();
            server_end
        };
        let (client, _server_end) = tokio::time::timeout(GUARD, async {
            tokio::join!(client_handshake(client_end, hs), fake_server)
        })
        .await
        .expect("hung");
        assert!(
            matches!(
                client.err(),
                Some(WireError::Frame(FrameError::TooLarge(..)) | WireError::Handshake(_))
            ),
            "garbage {garbage:?}"
        );
    }
}

#[tokio::test]
async fn server_rejects_client_without_intro() {
    let pki = pki();
    let (mut client_end, server_end) = memory_pair(8);
    let mut frame = Vec::new();
    encode_frame(b"no header first", &mut frame).unwrap();
    client_end.send(frame).await.unwrap();
    let result = tokio::time::timeout(GUARD, server_handshake(server_end, &pki.server))
        .await
        .expect("hung");
    assert!(matches!(
        result.err(),
        Some(WireError::Frame(FrameError::BadHeader))
    ));
}

#[tokio::test]
async fn peer_closing_mid_handshake_is_an_error_not_a_hang() {
    // Server closes right after the ClientHello.
    let (client_end, mut server_end) = memory_pair(8);
    let noise_key = KeyPair::generate();
    let root = KeyPair::generate().public;
    let hs = ClientHandshake {
        noise_key: &noise_key,
        root_key: &root,
        payload: vec![],
        routing_info: None,
        now: wasp::types::SystemClock.unix_secs(),
    };
    let closer = async {
        let _ = server_end.recv().await;
        server_end.close().await;
    };
    let (client, ()) = tokio::time::timeout(GUARD, async {
        tokio::join!(client_handshake(client_end, hs), closer)
    })
    .await
    .expect("hung");
    assert!(matches!(client.err(), Some(WireError::Closed)));

    // Client closes right after receiving the ServerHello.
    let pki = pki();
    let (mut client_end, server_end) = memory_pair(8);
    let mut hello = wasp::wire::frame::client_intro(None).unwrap();
    let msg = HandshakeMessage {
        client_hello: Some(wasp::proto::handshake_message::ClientHello {
            ephemeral: Some(KeyPair::generate().public.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    };
    encode_frame(&msg.encode_to_vec(), &mut hello).unwrap();
    let quitter = async {
        client_end.send(hello).await.unwrap();
        let _ = client_end.recv().await;
        client_end.close().await;
    };
    let (server, ()) = tokio::time::timeout(GUARD, async {
        tokio::join!(server_handshake(server_end, &pki.server), quitter)
    })
    .await
    .expect("hung");
    assert!(matches!(server.err(), Some(WireError::Closed)));
}

#[tokio::test]
async fn tampered_transport_frame_is_fatal() {
    let pki = pki();
    let noise_key = KeyPair::generate();
    let (client_end, relay_client_side) = memory_pair(8);
    let (relay_server_side, server_end) = memory_pair(8);
    let hs = ClientHandshake {
        noise_key: &noise_key,
        root_key: &pki.root.public,
        payload: vec![],
        routing_info: None,
        now: wasp::types::SystemClock.unix_secs(),
    };
    // Relay that passes the three handshake messages and then flips a bit
    // in the first transport message from the server.
    let relay = async move {
        let (mut c, mut s) = (relay_client_side, relay_server_side);
        let m = c.recv().await.unwrap().unwrap();
        s.send(m).await.unwrap();
        let m = s.recv().await.unwrap().unwrap();
        c.send(m).await.unwrap();
        let m = c.recv().await.unwrap().unwrap();
        s.send(m).await.unwrap();
        let mut m = s.recv().await.unwrap().unwrap();
        let last = m.len() - 1;
        m[last] ^= 0x80;
        c.send(m).await.unwrap();
        (c, s)
    };
    let run = async {
        let (client, server, ends) = tokio::join!(
            client_handshake(client_end, hs),
            async {
                let mut accepted = server_handshake(server_end, &pki.server).await.unwrap();
                accepted.socket.send_frame(b"secret").await.unwrap();
                accepted
            },
            relay
        );
        let mut client = client.unwrap();
        let err = client.recv_frame().await.err();
        drop((server, ends));
        err
    };
    let err = tokio::time::timeout(GUARD, run).await.expect("hung");
    assert!(matches!(err, Some(WireError::Noise(_))));
}

#[tokio::test]
#[allow(clippy::result_large_err)] // tungstenite's callback signature
async fn handshake_over_a_real_websocket_with_origin() {
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    let pki = pki();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = async {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut origin = None;
        let ws = tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
            origin = req
                .headers()
                .get("origin")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(resp)
        })
        .await
        .unwrap();
        let mut accepted = server_handshake(ws, &pki.server).await.unwrap();
        let got = accepted.socket.recv_frame().await.unwrap();
        accepted.socket.send_frame(&got).await.unwrap();
        // Wait for the client to hang up.
        let closed = accepted.socket.recv_frame().await;
        (origin, closed.err())
    };
    let noise_key = KeyPair::generate();
    let client = async {
        let ws = connect_websocket(&format!("ws://{addr}/ws/chat"))
            .await
            .unwrap();
        let hs = ClientHandshake {
            noise_key: &noise_key,
            root_key: &pki.root.public,
            payload: b"login".to_vec(),
            routing_info: None,
            now: wasp::types::SystemClock.unix_secs(),
        };
        let mut socket = client_handshake(ws, hs).await.unwrap();
        let big = vec![0x5A; 200_000];
        socket.send_frame(&big).await.unwrap();
        assert_eq!(socket.recv_frame().await.unwrap(), big);
        socket.close().await;
    };
    let ((origin, closed), ()) =
        tokio::time::timeout(GUARD, async { tokio::join!(server, client) })
            .await
            .expect("hung");
    assert_eq!(origin.as_deref(), Some("https://web.whatsapp.com"));
    assert!(matches!(closed, Some(WireError::Closed)));
}

#[tokio::test]
async fn connect_websocket_rejects_bad_urls() {
    assert!(matches!(
        connect_websocket("not a url").await,
        Err(WireError::WebSocket(_))
    ));
    assert!(matches!(
        connect_websocket("http://127.0.0.1:1/").await,
        Err(WireError::WebSocket(_))
    ));
}
