//! The client WebSocket against a scripted server on an in-memory pipe:
//! the upgrade, frames both ways, fragments, ping/pong, close, and
//! hostile input from the server.

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

const LIMIT: usize = 1 << 16;

/// Reads the client's upgrade request; returns it as text.
async fn read_request(server: &mut DuplexStream) -> String {
    let mut request = Vec::new();
    while find(&request, b"\r\n\r\n").is_none() {
        let mut byte = [0u8; 1];
        server.read_exact(&mut byte).await.expect("request");
        request.push(byte[0]);
    }
    String::from_utf8(request).expect("text")
}

fn key_of(request: &str) -> String {
    request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("key")
        .to_string()
}

fn answer(key: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
}

/// An unmasked server frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    if payload.len() < 126 {
        out.push(payload.len() as u8);
    } else {
        out.push(126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Reads one masked client frame: (opcode, unmasked payload).
async fn read_client_frame(server: &mut DuplexStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    server.read_exact(&mut head).await.expect("frame head");
    assert_eq!(head[1] & 0x80, 0x80, "client frames are masked");
    let len = match head[1] & 0x7F {
        126 => usize::from(server.read_u16().await.expect("len")),
        127 => server.read_u64().await.expect("len") as usize,
        n => usize::from(n),
    };
    let mut mask = [0u8; 4];
    server.read_exact(&mut mask).await.expect("mask");
    let mut payload = vec![0u8; len];
    server.read_exact(&mut payload).await.expect("payload");
    payload
        .iter_mut()
        .zip(mask.iter().cycle())
        .for_each(|(b, m)| *b ^= m);
    (head[0] & 0x0F, payload)
}

/// A client upgraded over a pipe, and the server's end.
async fn connected() -> (WebSocket<DuplexStream>, DuplexStream) {
    let (client, mut server) = duplex(1 << 20);
    let server_side = async {
        let request = read_request(&mut server).await;
        assert!(
            request.starts_with("GET /ws/chat HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("Origin: https://web.whatsapp.com\r\n"));
        assert!(request.contains("Host: example.net\r\n"));
        let key = key_of(&request);
        server.write_all(answer(&key).as_bytes()).await.unwrap();
    };
    let (ws, ()) = tokio::join!(
        upgrade(
            client,
            "example.net",
            "/ws/chat",
            "https://web.whatsapp.com",
            LIMIT
        ),
        server_side
    );
    (ws.expect("upgraded"), server)
}

#[tokio::test]
async fn messages_go_both_ways_and_buffers_are_given_back() {
    let (mut ws, mut server) = connected().await;
    ws.send(b"hello server").await.unwrap();
    assert_eq!(
        read_client_frame(&mut server).await,
        (OP_BINARY, b"hello server".to_vec())
    );
    let big = vec![7u8; 3000];
    server
        .write_all(&frame(true, OP_BINARY, &big))
        .await
        .unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(big));
    // Idle again: no buffer held.
    assert_eq!(ws.input.capacity(), 0);
    assert_eq!(ws.output.capacity(), 0);
}

#[tokio::test]
async fn fragments_are_joined_and_a_ping_between_them_is_answered() {
    let (mut ws, mut server) = connected().await;
    let mut bytes = frame(false, OP_BINARY, b"ab");
    bytes.extend(frame(true, OP_PING, b"are you there"));
    bytes.extend(frame(false, OP_CONTINUATION, b""));
    bytes.extend(frame(true, OP_CONTINUATION, b"cd"));
    // Delivered a byte at a time: every split point of every frame.
    let feed = async {
        for b in bytes {
            server.write_all(&[b]).await.unwrap();
        }
        server
    };
    let (got, mut server) = tokio::join!(ws.recv(), feed);
    assert_eq!(got.unwrap(), Some(b"abcd".to_vec()));
    // The pong goes out while the client waits for more input.
    let pong = tokio::select! {
        pong = read_client_frame(&mut server) => pong,
        got = ws.recv() => panic!("nothing else was sent, got {got:?}"),
    };
    assert_eq!(pong, (OP_PONG, b"are you there".to_vec()));
}

#[tokio::test]
async fn a_close_from_the_server_ends_the_stream_and_is_answered() {
    let (mut ws, mut server) = connected().await;
    server
        .write_all(&frame(true, OP_CLOSE, &1001u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(ws.recv().await.unwrap(), None);
    assert_eq!(ws.recv().await.unwrap(), None);
    assert!(matches!(ws.send(b"late").await, Err(WireError::Closed)));
    ws.close().await;
    assert_eq!(
        read_client_frame(&mut server).await,
        (OP_CLOSE, 1001u16.to_be_bytes().to_vec())
    );
}

#[tokio::test]
async fn hostile_frames_are_errors_not_panics() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text", frame(true, OP_TEXT, b"hi")),
        ("masked", vec![0x82, 0x81, 1, 2, 3, 4, 5]),
        ("reserved bits", vec![0xC2, 0x00]),
        ("unknown opcode", frame(true, 0x3, b"")),
        ("continuation first", frame(true, OP_CONTINUATION, b"x")),
        ("oversized", {
            let mut f = vec![0x82, 127];
            f.extend_from_slice(&u64::MAX.to_be_bytes());
            f
        }),
        ("long control", {
            let mut f = vec![0x89, 126];
            f.extend_from_slice(&200u16.to_be_bytes());
            f.extend(vec![0u8; 200]);
            f
        }),
        ("fragmented control", frame(false, OP_PING, b"")),
        ("new message inside a fragmented one", {
            let mut f = frame(false, OP_BINARY, b"a");
            f.extend(frame(true, OP_BINARY, b"b"));
            f
        }),
    ];
    for (what, bytes) in cases {
        let (mut ws, mut server) = connected().await;
        server.write_all(&bytes).await.unwrap();
        let got = ws.recv().await;
        assert!(
            matches!(got, Err(WireError::WebSocket(_))),
            "{what}: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_cut_inside_a_frame_is_an_error() {
    let (mut ws, mut server) = connected().await;
    server.write_all(&[0x82, 10, 1, 2, 3]).await.unwrap();
    drop(server);
    assert!(matches!(ws.recv().await, Err(WireError::WebSocket(_))));
}

#[tokio::test]
async fn a_clean_end_of_stream_is_none() {
    let (mut ws, server) = connected().await;
    drop(server);
    assert_eq!(ws.recv().await.unwrap(), None);
}

#[tokio::test]
async fn the_upgrade_needs_101_and_the_right_accept_key() {
    for (what, response) in [
        ("refused", "HTTP/1.1 403 Forbidden\r\n\r\n".to_string()),
        (
            "wrong key",
            "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: nope\r\n\r\n".into(),
        ),
        (
            "no upgrade header",
            format!("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: {}\r\n\r\n", "x"),
        ),
        ("garbage", "\u{0}\u{1}\r\n\r\n".into()),
    ] {
        let (client, mut server) = duplex(1 << 16);
        let server_side = async {
            read_request(&mut server).await;
            server.write_all(response.as_bytes()).await.unwrap();
            server
        };
        let (ws, _server) = tokio::join!(upgrade(client, "h", "/", "o", LIMIT), server_side);
        assert!(matches!(ws, Err(WireError::WebSocket(_))), "{what}");
    }
    // An answer with no end of headers is cut off, not buffered forever.
    let (client, mut server) = duplex(1 << 16);
    let server_side = async {
        read_request(&mut server).await;
        let _ = server
            .write_all(&vec![b'a'; 3 * MAX_UPGRADE_RESPONSE])
            .await;
        server
    };
    let (ws, _server) = tokio::join!(upgrade(client, "h", "/", "o", LIMIT), server_side);
    assert!(matches!(ws, Err(WireError::WebSocket(_))));
}

#[tokio::test]
async fn frames_right_behind_the_upgrade_answer_are_kept() {
    let (client, mut server) = duplex(1 << 16);
    let server_side = async {
        let key = key_of(&read_request(&mut server).await);
        let mut bytes = answer(&key).into_bytes();
        bytes.extend(frame(true, OP_BINARY, b"early"));
        server.write_all(&bytes).await.unwrap();
        server
    };
    let (ws, _server) = tokio::join!(upgrade(client, "h", "/", "o", LIMIT), server_side);
    let mut ws = ws.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(b"early".to_vec()));
}
