//! Unit tests of pairwise sessions between two of our own peers.

use super::*;
use crate::crypto::KeyPair;
use crate::signal::{generate_prekeys, registration_id};

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
            one_time: generate_prekeys(1, 3),
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

    fn send(&mut self, text: &str) -> CiphertextMessage {
        encrypt(&mut self.session, &self.identity, text.as_bytes()).unwrap()
    }

    fn receive(&mut self, message: &CiphertextMessage) -> Result<Vec<u8>, SignalError> {
        match message {
            CiphertextMessage::PreKey(bytes) => {
                let prekeys = LocalPreKeys {
                    signed: &self.signed,
                    one_time: &self.one_time,
                };
                let out = decrypt_prekey_message(
                    &mut self.session,
                    &self.identity,
                    self.registration_id,
                    &prekeys,
                    bytes,
                )?;
                if let Some(id) = out.consumed_prekey_id {
                    self.one_time.retain(|k| k.id != id);
                }
                Ok(out.plaintext)
            }
            CiphertextMessage::Whisper(bytes) => {
                decrypt_message(&mut self.session, &self.identity, bytes)
            }
        }
    }
}

fn json(record: &SessionRecord) -> String {
    serde_json::to_string(record).unwrap()
}

/// Alice starts a session with Bob's bundle; Bob receives her first pkmsg.
fn pair() -> (Device, Device) {
    let mut alice = Device::new();
    let mut bob = Device::new();
    let check = initiate_session(
        &mut alice.session,
        &alice.identity,
        alice.registration_id,
        &bob.bundle(),
    )
    .unwrap();
    assert_eq!(check, IdentityCheck::New);
    let first = alice.send("hello bob");
    assert_eq!(first.enc_type(), "pkmsg");
    assert_eq!(bob.receive(&first).unwrap(), b"hello bob");
    (alice, bob)
}

#[test]
fn first_contact_then_conversation_both_ways() {
    let (mut alice, mut bob) = pair();
    assert_eq!(
        bob.one_time.len(),
        2,
        "the used one-time prekey is consumed"
    );
    // Until Bob answers, Alice keeps sending pkmsg.
    let second = alice.send("still there?");
    assert_eq!(second.enc_type(), "pkmsg");
    assert_eq!(bob.receive(&second).unwrap(), b"still there?");
    assert_eq!(bob.one_time.len(), 2, "a second pkmsg consumes nothing");

    for round in 0..5 {
        let reply = bob.send(&format!("bob {round}"));
        assert_eq!(reply.enc_type(), "msg");
        assert_eq!(
            alice.receive(&reply).unwrap(),
            format!("bob {round}").as_bytes()
        );
        let msg = alice.send(&format!("alice {round}"));
        assert_eq!(msg.enc_type(), "msg", "Bob's reply ends the pkmsg phase");
        assert_eq!(
            bob.receive(&msg).unwrap(),
            format!("alice {round}").as_bytes()
        );
    }
}

#[test]
fn session_without_one_time_prekey() {
    let mut alice = Device::new();
    let mut bob = Device::new();
    bob.one_time.clear();
    let bundle = bob.bundle();
    assert!(bundle.one_time_prekey.is_none());
    initiate_session(&mut alice.session, &alice.identity, 1, &bundle).unwrap();
    let m = alice.send("no otpk");
    assert_eq!(bob.receive(&m).unwrap(), b"no otpk");
    assert_eq!(alice.receive(&bob.send("ok")).unwrap(), b"ok");
}

#[test]
fn out_of_order_within_bounds_across_ratchet_steps() {
    let (mut alice, mut bob) = pair();
    let batch1: Vec<_> = (0..5).map(|i| bob.send(&format!("b1-{i}"))).collect();
    // Alice answers only after seeing one message, so a DH step follows.
    assert_eq!(alice.receive(&batch1[2]).unwrap(), b"b1-2");
    let a = alice.send("a");
    assert_eq!(bob.receive(&a).unwrap(), b"a");
    let batch2: Vec<_> = (0..3).map(|i| bob.send(&format!("b2-{i}"))).collect();
    // Newest chain first, then the older chain's skipped messages.
    for i in [2usize, 0, 1] {
        assert_eq!(
            alice.receive(&batch2[i]).unwrap(),
            format!("b2-{i}").as_bytes()
        );
    }
    for i in [4usize, 0, 3, 1] {
        assert_eq!(
            alice.receive(&batch1[i]).unwrap(),
            format!("b1-{i}").as_bytes()
        );
    }
}

#[test]
fn replay_is_an_error_and_changes_nothing() {
    let (mut alice, mut bob) = pair();
    let m = bob.send("once");
    assert_eq!(alice.receive(&m).unwrap(), b"once");
    let before = json(&alice.session);
    assert_eq!(
        alice.receive(&m),
        Err(SignalError::DuplicateMessage { counter: 0 })
    );
    assert_eq!(json(&alice.session), before);
    // A skipped key is usable exactly once too.
    let skipped = bob.send("skipped");
    let later = bob.send("later");
    assert_eq!(alice.receive(&later).unwrap(), b"later");
    assert_eq!(alice.receive(&skipped).unwrap(), b"skipped");
    assert!(matches!(
        alice.receive(&skipped),
        Err(SignalError::DuplicateMessage { .. })
    ));
}

#[test]
fn replayed_prekey_message_is_a_duplicate() {
    let mut alice = Device::new();
    let mut bob = Device::new();
    initiate_session(&mut alice.session, &alice.identity, 1, &bob.bundle()).unwrap();
    let first = alice.send("first");
    assert_eq!(bob.receive(&first).unwrap(), b"first");
    assert!(matches!(
        bob.receive(&first),
        Err(SignalError::DuplicateMessage { counter: 0 })
    ));
}

#[test]
fn too_many_skipped_messages_is_an_error() {
    let (mut alice, mut bob) = pair();
    let messages: Vec<_> = (0..=MAX_SKIPPED_KEYS + 1)
        .map(|i| bob.send(&i.to_string()))
        .collect();
    let before = json(&alice.session);
    let last = messages.last().unwrap();
    assert!(matches!(
        alice.receive(last),
        Err(SignalError::TooFarInFuture { .. })
    ));
    assert_eq!(json(&alice.session), before);
    // Exactly at the bound is still fine, and every skipped key stays.
    let at_bound = &messages[MAX_SKIPPED_KEYS];
    assert_eq!(
        alice.receive(at_bound).unwrap(),
        MAX_SKIPPED_KEYS.to_string().as_bytes()
    );
    assert_eq!(alice.receive(&messages[0]).unwrap(), b"0");
}

#[test]
fn skipped_keys_stay_bounded_per_session() {
    let (mut alice, mut bob) = pair();
    for _ in 0..3 {
        let batch: Vec<_> = (0..1500).map(|i| bob.send(&i.to_string())).collect();
        assert_eq!(alice.receive(batch.last().unwrap()).unwrap(), b"1499");
        let a = alice.send("ratchet");
        bob.receive(&a).unwrap();
    }
    let state = alice.session.current.as_ref().unwrap();
    let stored: usize = state.receivers.iter().map(|c| c.skipped.len()).sum();
    assert_eq!(stored, MAX_SKIPPED_KEYS);
    assert!(state.receivers.len() <= MAX_RECEIVER_CHAINS);
}

#[test]
fn tampered_message_fails_and_leaves_state_unchanged() {
    let (mut alice, mut bob) = pair();
    let good = bob.send("intact");
    let before = json(&alice.session);
    let bytes = good.bytes().to_vec();
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert!(
            alice.receive(&CiphertextMessage::Whisper(bad)).is_err(),
            "byte {i}"
        );
        assert_eq!(json(&alice.session), before, "state moved after byte {i}");
    }
    // Truncations too.
    for len in 0..bytes.len() {
        let cut = CiphertextMessage::Whisper(bytes[..len].to_vec());
        assert!(alice.receive(&cut).is_err());
    }
    assert_eq!(json(&alice.session), before);
    // The genuine message still decrypts afterwards.
    assert_eq!(alice.receive(&good).unwrap(), b"intact");
}

#[test]
fn tampered_mac_is_bad_mac() {
    let (mut alice, mut bob) = pair();
    let mut bytes = bob.send("x").bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    assert_eq!(
        alice.receive(&CiphertextMessage::Whisper(bytes)),
        Err(SignalError::BadMac)
    );
}

#[test]
fn tampered_prekey_message_consumes_nothing() {
    let mut alice = Device::new();
    let mut bob = Device::new();
    initiate_session(&mut alice.session, &alice.identity, 1, &bob.bundle()).unwrap();
    let first = alice.send("first");
    let mut bytes = first.bytes().to_vec();
    // Flip the last MAC byte of the inner SignalMessage.
    let inner = PreKeySignalMessage::parse(&bytes).unwrap().message;
    let inner = inner.serialized();
    let at = bytes.windows(inner.len()).position(|w| w == inner).unwrap();
    bytes[at + inner.len() - 1] ^= 0x01;
    assert_eq!(
        bob.receive(&CiphertextMessage::PreKey(bytes)),
        Err(SignalError::BadMac)
    );
    assert!(!bob.session.has_current_session());
    assert_eq!(bob.one_time.len(), 3);
    assert_eq!(bob.receive(&first).unwrap(), b"first");
}

#[test]
fn bad_signed_prekey_signature_is_refused() {
    let mut alice = Device::new();
    let bob = Device::new();
    let mut bundle = bob.bundle();
    bundle.signed_prekey_signature[5] ^= 0x10;
    assert_eq!(
        initiate_session(&mut alice.session, &alice.identity, 1, &bundle),
        Err(SignalError::BadSignedPreKeySignature)
    );
    // A signature by someone else's identity is refused too.
    let mut bundle = bob.bundle();
    bundle.identity_key = KeyPair::generate().public;
    assert!(initiate_session(&mut alice.session, &alice.identity, 1, &bundle).is_err());
    assert!(!alice.session.has_current_session());
}

#[test]
fn unknown_prekeys_are_errors() {
    let mut alice = Device::new();
    let mut bob = Device::new();
    initiate_session(&mut alice.session, &alice.identity, 1, &bob.bundle()).unwrap();
    let first = alice.send("first");
    let saved = std::mem::take(&mut bob.one_time);
    assert_eq!(bob.receive(&first), Err(SignalError::UnknownPreKey(1)));
    bob.one_time = saved;
    bob.signed[0].id = 9;
    assert_eq!(
        bob.receive(&first),
        Err(SignalError::UnknownSignedPreKey(1))
    );
}

#[test]
fn identity_change_is_reported() {
    let (mut alice, mut bob) = pair();
    assert_eq!(alice.session.remote_identity(), Some(bob.identity.public));
    // Bob reinstalls: new identity, new prekeys; Alice fetches his bundle.
    let old_bob_identity = bob.identity.public;
    bob = Device::new();
    let check = initiate_session(&mut alice.session, &alice.identity, 1, &bob.bundle()).unwrap();
    assert_eq!(check, IdentityCheck::Changed);
    assert_eq!(alice.session.archived_count(), 1);
    assert_eq!(
        check_identity(Some(&old_bob_identity), &bob.identity.public),
        IdentityCheck::Changed
    );
    assert_eq!(
        check_identity(Some(&bob.identity.public), &bob.identity.public),
        IdentityCheck::Unchanged
    );

    // The receiving side learns it from the pkmsg.
    let m = alice.send("new you");
    let mut old_session_alice = Device::new();
    old_session_alice.identity = alice.identity.clone();
    let prekeys = LocalPreKeys {
        signed: &bob.signed,
        one_time: &bob.one_time,
    };
    let mut record = SessionRecord::new();
    let out = decrypt_prekey_message(&mut record, &bob.identity, 5, &prekeys, m.bytes()).unwrap();
    assert_eq!(out.identity, IdentityCheck::New);
    assert_eq!(out.sender_identity, alice.identity.public);
    assert_eq!(out.consumed_prekey_id, Some(1));
}

#[test]
fn late_messages_of_an_archived_session_still_decrypt() {
    let (mut alice, mut bob) = pair();
    let late = bob.send("from the old session");
    // Alice starts over with a fresh bundle (e.g. after a retry receipt).
    initiate_session(&mut alice.session, &alice.identity, 1, &bob.bundle()).unwrap();
    assert_eq!(alice.session.archived_count(), 1);
    assert_eq!(alice.receive(&late).unwrap(), b"from the old session");
    // The old session became current again, the new one archived.
    assert_eq!(alice.session.archived_count(), 1);
    assert_eq!(alice.send("reply").enc_type(), "msg");
}

#[test]
fn simultaneous_initiation_both_sessions_work() {
    let mut alice = Device::new();
    let mut bob = Device::new();
    initiate_session(&mut alice.session, &alice.identity, 1, &bob.bundle()).unwrap();
    initiate_session(&mut bob.session, &bob.identity, 2, &alice.bundle()).unwrap();
    let from_alice = alice.send("a");
    let from_bob = bob.send("b");
    assert_eq!(bob.receive(&from_alice).unwrap(), b"a");
    assert_eq!(alice.receive(&from_bob).unwrap(), b"b");
    // Each side now holds the other's session as current and its own
    // archived; messages flow either way.
    let again = alice.send("again");
    assert_eq!(bob.receive(&again).unwrap(), b"again");
}

#[test]
fn archive_is_bounded() {
    let mut alice = Device::new();
    let bob = Device::new();
    for _ in 0..MAX_ARCHIVED_SESSIONS + 5 {
        initiate_session(&mut alice.session, &alice.identity, 1, &bob.bundle()).unwrap();
    }
    assert_eq!(alice.session.archived_count(), MAX_ARCHIVED_SESSIONS);
}

#[test]
fn record_survives_serialization_mid_conversation() {
    let (mut alice, mut bob) = pair();
    let pending: Vec<_> = (0..3).map(|i| bob.send(&i.to_string())).collect();
    assert_eq!(alice.receive(&pending[2]).unwrap(), b"2");
    let stored = json(&alice.session);
    alice.session = serde_json::from_str(&stored).unwrap();
    assert_eq!(alice.receive(&pending[0]).unwrap(), b"0");
    let a = alice.send("after restore");
    assert_eq!(bob.receive(&a).unwrap(), b"after restore");
    // Compact: a fresh two-way session is well under a kilobyte.
    assert!(stored.len() < 1200, "record is {} bytes", stored.len());
}

#[test]
fn wrong_local_identity_is_refused() {
    let (mut alice, _bob) = pair();
    let stranger = KeyPair::generate();
    assert_eq!(
        encrypt(&mut alice.session, &stranger, b"x"),
        Err(SignalError::LocalIdentityMismatch)
    );
    assert_eq!(
        encrypt(&mut SessionRecord::new(), &alice.identity, b"x"),
        Err(SignalError::NoSession)
    );
}

/// The record through its binary form (`proto/stored.proto`).
fn through_binary(record: &SessionRecord) -> SessionRecord {
    use prost::Message as _;
    let bytes = record.to_stored().encode_to_vec();
    let stored = crate::proto::stored::SessionRecord::decode(bytes.as_slice()).unwrap();
    SessionRecord::from_stored(stored).unwrap()
}

#[test]
fn a_record_in_binary_reads_back_whole() {
    let (mut alice, mut bob) = pair();
    // Alice awaits a reply (a pending prekey); Bob skipped a message (a
    // skipped key); a copy of Bob's record with its session archived.
    let _skipped = alice.send("skipped");
    bob.receive(&alice.send("third")).unwrap();
    let mut archived = bob.session.clone();
    archived.archive_current();
    for record in [
        &alice.session,
        &bob.session,
        &archived,
        &SessionRecord::new(),
    ] {
        assert_eq!(json(&through_binary(record)), json(record));
    }
    let state = bob.session.current.as_ref().unwrap();
    assert!(
        !state.receivers[0].skipped.is_empty(),
        "skipped keys covered"
    );
    assert!(alice.session.awaiting_reply(), "a pending prekey covered");
    assert_eq!(archived.archived_count(), 1, "an archived session covered");
}

#[test]
fn the_binary_record_is_under_two_thirds_of_its_json() {
    use prost::Message as _;
    let (alice, _) = pair();
    let binary = alice.session.to_stored().encode_to_vec().len();
    let json = json(&alice.session).len();
    assert!(binary * 3 < json * 2, "binary {binary} B, json {json} B");
}

#[test]
fn a_stored_key_of_the_wrong_length_makes_the_record_unreadable() {
    let (alice, _) = pair();
    let mut stored = alice.session.to_stored();
    stored.current.as_mut().unwrap().root_key.pop();
    assert!(matches!(
        SessionRecord::from_stored(stored),
        Err(SignalError::Protobuf(_))
    ));

    let mut stored = alice.session.to_stored();
    stored.current.as_mut().unwrap().sender = None;
    assert_eq!(
        SessionRecord::from_stored(stored).err(),
        Some(SignalError::MissingField("sender"))
    );

    let mut stored = alice.session.to_stored();
    let sender = stored.current.as_mut().unwrap().sender.as_mut().unwrap();
    sender.ratchet.truncate(32);
    assert!(SessionRecord::from_stored(stored).is_err());

    let mut stored = alice.session.to_stored();
    stored
        .archived
        .push(crate::proto::stored::SessionState::default());
    assert!(
        SessionRecord::from_stored(stored).is_err(),
        "an empty archived state"
    );
}
