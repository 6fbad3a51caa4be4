//! Hot paths of the wire layer: frame codec, Noise transport cipher and
//! binary node codec. Each measures the call the connection makes per
//! stanza (see `src/wire/socket.rs`), with the buffers it allocates.
//!
//! Run: `cargo bench --bench wire`. Figures are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use wasp::wire::binary::{marshal, unmarshal, Node};
use wasp::wire::frame::{encode_frame, push_frame_len, FrameDecoder, MAX_FRAME_LEN, WA_HEADER};
use wasp::wire::noise::{CipherState, HandshakeState, TAG_LEN};

/// Transport payload sizes: a receipt or ack, a typical text message
/// stanza, a large history/app-state chunk.
const PAYLOAD_SIZES: [(usize, &str); 3] = [(64, "64B"), (1024, "1KiB"), (16 * 1024, "16KiB")];

fn frame_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    let payload = vec![0x5Au8; 1024];
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.bench_function("encode/1KiB", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(3 + payload.len());
            encode_frame(black_box(&payload), &mut out).expect("frame fits");
            out
        })
    });

    // 16 frames of 1 KiB arriving in one read (the server coalesces
    // offline messages after login).
    const COALESCED: usize = 16;
    let mut stream = Vec::new();
    for _ in 0..COALESCED {
        encode_frame(&payload, &mut stream).expect("frame fits");
    }
    group.throughput(Throughput::Bytes((COALESCED * payload.len()) as u64));
    group.bench_function("decode/16x1KiB_coalesced", |b| {
        let mut decoder = FrameDecoder::client(MAX_FRAME_LEN);
        b.iter(|| {
            decoder.push(black_box(&stream));
            let mut frames = 0;
            while let Some(frame) = decoder.next_frame().expect("valid stream") {
                black_box(frame);
                frames += 1;
            }
            assert_eq!(frames, COALESCED);
        })
    });

    // One 16 KiB frame arriving in 1,400-byte pieces (TCP-segment-sized).
    let big = vec![0xA5u8; 16 * 1024];
    let mut big_stream = Vec::new();
    encode_frame(&big, &mut big_stream).expect("frame fits");
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("decode/16KiB_split_1400B", |b| {
        let mut decoder = FrameDecoder::client(MAX_FRAME_LEN);
        b.iter(|| {
            let mut frames = 0;
            for piece in big_stream.chunks(1400) {
                decoder.push(black_box(piece));
                while let Some(frame) = decoder.next_frame().expect("valid stream") {
                    black_box(frame);
                    frames += 1;
                }
            }
            assert_eq!(frames, 1);
        })
    });
    group.finish();
}

/// A transport pair as after a handshake: the same key material on both
/// sides, split into the two directions.
fn transport_pair() -> (CipherState, CipherState) {
    let mut client = HandshakeState::new(&WA_HEADER);
    let mut server = HandshakeState::new(&WA_HEADER);
    client.mix_key(&[7u8; 32]);
    server.mix_key(&[7u8; 32]);
    let (client_send, _) = client.split();
    let (server_recv, _) = server.split();
    (client_send, server_recv)
}

fn noise_transport(c: &mut Criterion) {
    let mut group = c.benchmark_group("noise");
    for (size, label) in PAYLOAD_SIZES {
        let plaintext = vec![0x42u8; size];
        group.throughput(Throughput::Bytes(size as u64));

        // As `send_frame`: length prefix, then ciphertext ‖ tag appended
        // into one buffer.
        let (mut send, _) = transport_pair();
        group.bench_function(format!("encrypt/{label}"), |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(3 + size + TAG_LEN);
                push_frame_len(size + TAG_LEN, &mut out).expect("frame fits");
                send.encrypt_into(black_box(&plaintext), &mut out)
                    .expect("counter not exhausted");
                out
            })
        });

        // As `recv_frame`: decrypt the received frame in place. Messages
        // are sealed in setup, in nonce order, by the matching sender.
        let (mut sender, mut receiver) = transport_pair();
        group.bench_function(format!("decrypt/{label}"), |b| {
            b.iter_batched(
                || sender.encrypt(&plaintext).expect("counter not exhausted"),
                |mut frame| {
                    receiver
                        .decrypt_in_place(&mut frame)
                        .expect("authentic frame");
                    frame
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// `<message to=... id=... type="text"><enc v="2" type="msg">300 B</enc></message>`
fn message_stanza() -> Node {
    Node::new("message")
        .attr("to", "15551234567@s.whatsapp.net")
        .attr("id", "3EB0C431C26A1916A8B1F7")
        .attr("type", "text")
        .children(vec![Node::new("enc")
            .attr("v", "2")
            .attr("type", "msg")
            .bytes(vec![0x33u8; 300])])
}

/// `<iq id=... to="s.whatsapp.net" type="get" xmlns="w:p"><ping/></iq>`
fn iq_ping() -> Node {
    Node::new("iq")
        .attr("id", "40447.31337-12")
        .attr("to", "s.whatsapp.net")
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .children(vec![Node::new("ping")])
}

/// A usync-style query listing 50 users (device-list lookups for a group).
fn fifty_child_list() -> Node {
    let users = (0..50)
        .map(|i| Node::new("user").attr("jid", format!("1555{:07}@s.whatsapp.net", i * 7919)))
        .collect();
    Node::new("iq")
        .attr("id", "40447.31337-13")
        .attr("to", "s.whatsapp.net")
        .attr("type", "get")
        .attr("xmlns", "usync")
        .children(vec![Node::new("usync")
            .attr("sid", "40447.31337-14")
            .attr("mode", "query")
            .attr("last", "true")
            .attr("index", "0")
            .attr("context", "message")
            .children(vec![
                Node::new("query").children(vec![Node::new("devices").attr("version", "2")]),
                Node::new("list").children(users),
            ])])
}

fn binary_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("binary");
    let stanzas = [
        ("message_300B", message_stanza()),
        ("iq_ping", iq_ping()),
        ("list_50_children", fifty_child_list()),
    ];
    for (label, node) in &stanzas {
        let bytes = marshal(node).expect("encodable stanza");
        assert_eq!(&unmarshal(&bytes).expect("decodable"), node);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("marshal/{label}"), |b| {
            b.iter(|| marshal(black_box(node)).expect("encodable stanza"))
        });
        group.bench_function(format!("unmarshal/{label}"), |b| {
            b.iter(|| unmarshal(black_box(&bytes)).expect("decodable"))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // Short runs: the machine is shared, and these paths are stable.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = frame_codec, noise_transport, binary_codec
}
criterion_main!(benches);
