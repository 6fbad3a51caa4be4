//! Noise interop: whatsapp-rust's own client handshake code (wacore-noise
//! 0.7) against our server role, over an in-memory transport. It checks
//! the handshake layout, the key order of `split`, the nonce format and
//! our XXfallback answer to a Noise IK resume.
//!
//! The `danger-skip-cert-chain-verify` feature makes wacore skip only the
//! chain's signatures (ours are checked against libsignal in
//! wire_xeddsa_interop.rs); it still checks issuer serials and the leaf
//! key against the decrypted server static.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasp::crypto::KeyPair;
use wasp::wire::cert::issue_chain;
use wasp::wire::frame::{FrameDecoder, WA_HEADER};
use wasp::wire::socket::{
    memory_pair, server_handshake, AcceptedClient, MemoryTransport, ServerIdentity, Transport,
};
use whatsapp_rust::wacore::framing::encode_frame;
use whatsapp_rust::wacore::libsignal::protocol::{KeyPair as WaKeyPair, PrivateKey, PublicKey};
use whatsapp_rust::wacore::noise::{
    build_handshake_header, IkHandshakeState, IkServerHelloOutcome, NoiseCipher,
    XxFallbackHandshakeState, XxHandshakeState,
};

const GUARD: Duration = Duration::from_secs(20);

fn identity() -> ServerIdentity {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let static_key = KeyPair::generate();
    let cert_chain = issue_chain(
        &KeyPair::generate(),
        &KeyPair::generate(),
        11,
        &static_key.public,
        12,
        now - 60,
        now + 3600,
    );
    ServerIdentity {
        static_key,
        cert_chain,
    }
}

fn wa_keypair(ours: &KeyPair) -> WaKeyPair {
    WaKeyPair::new(
        PublicKey::from_djb_public_key_bytes(&ours.public).unwrap(),
        PrivateKey::deserialize(&ours.private).unwrap(),
    )
}

/// Sends one handshake message the way whatsapp-rust frames it.
async fn send_framed(t: &mut MemoryTransport, header: Option<&[u8]>, payload: &[u8]) {
    t.send(encode_frame(payload, header).unwrap())
        .await
        .unwrap();
}

async fn recv_framed(t: &mut MemoryTransport, dec: &mut FrameDecoder) -> Vec<u8> {
    loop {
        if let Some(f) = dec.next_frame().unwrap() {
            return f;
        }
        let data = t.recv().await.unwrap().expect("server closed");
        dec.push(&data);
    }
}

/// Transport messages both ways with wacore's ciphers on the client side.
async fn exchange(
    accepted: &mut AcceptedClient<MemoryTransport>,
    client: &mut MemoryTransport,
    write: &NoiseCipher,
    read: &NoiseCipher,
) {
    let mut dec = FrameDecoder::client(1 << 20);
    for counter in 0..3u32 {
        let msg = format!("client frame {counter}");
        let ct = write.encrypt_with_counter(counter, msg.as_bytes()).unwrap();
        send_framed(client, None, &ct).await;
        assert_eq!(accepted.socket.recv_frame().await.unwrap(), msg.as_bytes());

        let reply = format!("server frame {counter}");
        accepted.socket.send_frame(reply.as_bytes()).await.unwrap();
        let mut buf = recv_framed(client, &mut dec).await;
        read.decrypt_in_place_with_counter(counter, &mut buf)
            .unwrap();
        assert_eq!(buf, reply.as_bytes());
    }
}

#[tokio::test]
async fn whatsapp_rust_xx_client_against_our_server() {
    let server_identity = identity();
    let noise_key = KeyPair::generate();
    let (mut client, server_end) = memory_pair(8);

    let client_side = async {
        let mut hs =
            XxHandshakeState::new(wa_keypair(&noise_key), b"payload".to_vec(), &WA_HEADER).unwrap();
        let (header, used) = build_handshake_header(Some(b"routing"));
        assert!(used);
        send_framed(
            &mut client,
            Some(&header),
            &hs.build_client_hello().unwrap(),
        )
        .await;
        let mut dec = FrameDecoder::client(1 << 20);
        let server_hello = recv_framed(&mut client, &mut dec).await;
        let finish = hs
            .read_server_hello_and_build_client_finish(&server_hello)
            .expect("wacore accepts our ServerHello and certificate chain");
        send_framed(&mut client, None, &finish).await;
        let outcome = hs.finish().unwrap();
        assert_eq!(
            outcome.server_cert_chain.leaf_key,
            server_identity.static_key.public
        );
        (client, outcome)
    };
    let (server, (mut client, outcome)) = tokio::time::timeout(GUARD, async {
        tokio::join!(server_handshake(server_end, &server_identity), client_side)
    })
    .await
    .expect("hung");
    let mut accepted = server.expect("our server accepts wacore's client");
    assert_eq!(accepted.client_static, noise_key.public);
    assert_eq!(accepted.payload, b"payload");
    assert_eq!(accepted.routing_info.as_deref(), Some(&b"routing"[..]));

    exchange(
        &mut accepted,
        &mut client,
        &outcome.write_cipher,
        &outcome.read_cipher,
    )
    .await;
}

#[tokio::test]
async fn whatsapp_rust_ik_resume_falls_back_to_xx() {
    let server_identity = identity();
    let noise_key = KeyPair::generate();
    // The client cached a static key the server no longer uses.
    let stale_static = KeyPair::generate().public;
    let (mut client, server_end) = memory_pair(8);

    let client_side = async {
        let mut ik = IkHandshakeState::new(
            wa_keypair(&noise_key),
            stale_static,
            b"resume payload".to_vec(),
            &WA_HEADER,
        )
        .unwrap();
        send_framed(
            &mut client,
            Some(&WA_HEADER),
            &ik.build_client_hello().unwrap(),
        )
        .await;
        let mut dec = FrameDecoder::client(1 << 20);
        let server_hello = recv_framed(&mut client, &mut dec).await;
        let IkServerHelloOutcome::Fallback(inputs) = ik.read_server_hello(&server_hello).unwrap()
        else {
            panic!("expected the server to decline IK");
        };
        let mut fallback = XxFallbackHandshakeState::from_ik_failure(*inputs, &WA_HEADER).unwrap();
        let finish = fallback.build_client_finish().expect("XXfallback finish");
        send_framed(&mut client, None, &finish).await;
        (client, fallback.finish().unwrap())
    };
    let (server, (mut client, outcome)) = tokio::time::timeout(GUARD, async {
        tokio::join!(server_handshake(server_end, &server_identity), client_side)
    })
    .await
    .expect("hung");
    let mut accepted = server.expect("our server completes XXfallback");
    assert_eq!(accepted.client_static, noise_key.public);
    assert_eq!(accepted.payload, b"resume payload");
    exchange(
        &mut accepted,
        &mut client,
        &outcome.write_cipher,
        &outcome.read_cipher,
    )
    .await;
}
