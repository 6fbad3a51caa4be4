//! Hot paths of the signal layer: first contact (X3DH + `pkmsg`),
//! steady-state Double Ratchet messages (`msg`) and sender-key group
//! messages (`skmsg`), each on a 100-byte text.
//!
//! Run: `cargo bench --bench signal`. Figures are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use wasp::crypto::KeyPair;
use wasp::signal::{
    create_distribution, decrypt_message, decrypt_prekey_message, encrypt, generate_prekeys,
    group_decrypt, group_encrypt, initiate_session, process_distribution, registration_id,
    CiphertextMessage, IdentityKeyPair, LocalPreKeys, PreKey, PreKeyBundle, SenderKeyRecord,
    SessionRecord, SignedPreKey,
};

/// A 100-byte text message body.
const TEXT: &[u8; 100] = b"Hi! Are we still on for lunch tomorrow at noon? I'll bring the documents we talked about. See you...";

/// One device's registration material and its session with the other.
struct Device {
    identity: IdentityKeyPair,
    registration_id: u32,
    signed: Vec<SignedPreKey>,
    one_time: Vec<PreKey>,
    session: SessionRecord,
}

impl Device {
    fn new() -> Device {
        let identity = KeyPair::generate();
        let signed = vec![SignedPreKey::generate(&identity, 1)];
        Device {
            identity,
            registration_id: registration_id(),
            signed,
            one_time: generate_prekeys(1, 1),
            session: SessionRecord::new(),
        }
    }

    fn bundle(&self) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            identity_key: self.identity.public,
            signed_prekey_id: self.signed[0].id,
            signed_prekey: self.signed[0].key_pair.public,
            signed_prekey_signature: self.signed[0].signature,
            one_time_prekey: self.one_time.first().map(|k| (k.id, k.key_pair.public)),
        }
    }

    fn send(&mut self, plaintext: &[u8]) -> CiphertextMessage {
        encrypt(&mut self.session, &self.identity, plaintext).expect("session exists")
    }

    /// Decrypts either kind into `session`. The one-time prekey is kept,
    /// so the same device can answer many first contacts.
    fn receive_into(&self, session: &mut SessionRecord, message: &CiphertextMessage) -> Vec<u8> {
        match message {
            CiphertextMessage::PreKey(bytes) => {
                let prekeys = LocalPreKeys {
                    signed: &self.signed,
                    one_time: &self.one_time,
                };
                decrypt_prekey_message(
                    session,
                    &self.identity,
                    self.registration_id,
                    &prekeys,
                    bytes,
                )
                .expect("valid pkmsg")
                .plaintext
            }
            CiphertextMessage::Whisper(bytes) => {
                decrypt_message(session, &self.identity, bytes).expect("valid msg")
            }
        }
    }

    fn receive(&mut self, message: &CiphertextMessage) -> Vec<u8> {
        let mut session = std::mem::take(&mut self.session);
        let plaintext = self.receive_into(&mut session, message);
        self.session = session;
        plaintext
    }
}

/// Alice starts a session with Bob's bundle (one-time prekey included).
fn first_contact(alice: &mut Device, bob_bundle: &PreKeyBundle) -> CiphertextMessage {
    alice.session = SessionRecord::new();
    initiate_session(
        &mut alice.session,
        &alice.identity,
        alice.registration_id,
        bob_bundle,
    )
    .expect("valid bundle");
    alice.send(TEXT)
}

/// A pair past the `pkmsg` phase: both sides now send `msg`.
fn conversing_pair() -> (Device, Device) {
    let mut alice = Device::new();
    let mut bob = Device::new();
    let first = first_contact(&mut alice, &bob.bundle());
    assert_eq!(bob.receive(&first), TEXT);
    let reply = bob.send(TEXT);
    assert_eq!(alice.receive(&reply), TEXT);
    (alice, bob)
}

fn pairwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("signal");
    group.throughput(Throughput::Elements(1));

    // Sender side of first contact: X3DH with the bundle (verifying its
    // signature) and the first pkmsg.
    let mut alice = Device::new();
    let bob = Device::new();
    let bundle = bob.bundle();
    group.bench_function("pkmsg/initiate+encrypt", |b| {
        b.iter(|| first_contact(&mut alice, black_box(&bundle)))
    });

    // Receiver side: a fresh record each time, so X3DH runs every time.
    group.bench_function("pkmsg/decrypt", |b| {
        b.iter_batched(
            || first_contact(&mut alice, &bundle),
            |pkmsg| {
                let mut session = SessionRecord::new();
                bob.receive_into(&mut session, black_box(&pkmsg))
            },
            BatchSize::SmallInput,
        )
    });

    let (mut alice, _) = conversing_pair();
    group.bench_function("msg/encrypt_100B", |b| {
        b.iter(|| {
            let message = alice.send(black_box(TEXT));
            debug_assert!(matches!(message, CiphertextMessage::Whisper(_)));
            message
        })
    });

    // Messages sealed in setup, decrypted in order (no skipped keys).
    let (mut alice, mut bob) = conversing_pair();
    group.bench_function("msg/decrypt_100B", |b| {
        b.iter_batched(
            || alice.send(TEXT),
            |message| bob.receive(black_box(&message)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn groups(c: &mut Criterion) {
    let mut group = c.benchmark_group("sender_key");
    group.throughput(Throughput::Elements(1));

    let mut ours = SenderKeyRecord::new();
    create_distribution(&mut ours);
    group.bench_function("skmsg/encrypt_100B", |b| {
        b.iter(|| group_encrypt(&mut ours, black_box(TEXT)).expect("own chain exists"))
    });

    // A fresh sender and a member that received its distribution message.
    let mut sender = SenderKeyRecord::new();
    let distribution = create_distribution(&mut sender).serialize();
    let mut member = SenderKeyRecord::new();
    process_distribution(&mut member, &distribution).expect("valid SKDM");
    group.bench_function("skmsg/decrypt_100B", |b| {
        b.iter_batched(
            || group_encrypt(&mut sender, TEXT).expect("own chain exists"),
            |skmsg| group_decrypt(&mut member, black_box(&skmsg)).expect("valid skmsg"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A conversing pair's record stored and loaded, as each text does: the
/// JSON of earlier versions against the binary record
/// (`proto/stored.proto`).
fn stored_records(c: &mut Criterion) {
    use prost::Message as _;
    use wasp::proto::stored;

    let mut group = c.benchmark_group("session_record");
    group.throughput(Throughput::Elements(1));
    let (alice, _) = conversing_pair();
    let record = alice.session;
    let json = serde_json::to_vec(&record).expect("plain data");
    let binary = record.to_stored().encode_to_vec();
    group.bench_function("json/encode", |b| {
        b.iter(|| serde_json::to_vec(black_box(&record)).expect("plain data"))
    });
    group.bench_function("json/decode", |b| {
        b.iter(|| serde_json::from_slice::<SessionRecord>(black_box(&json)).expect("valid"))
    });
    group.bench_function("binary/encode", |b| {
        b.iter(|| black_box(&record).to_stored().encode_to_vec())
    });
    group.bench_function("binary/decode", |b| {
        b.iter(|| {
            let stored = stored::SessionRecord::decode(black_box(binary.as_slice()));
            SessionRecord::from_stored(stored.expect("valid")).expect("valid")
        })
    });
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
    targets = pairwise, groups, stored_records
}
criterion_main!(benches);
