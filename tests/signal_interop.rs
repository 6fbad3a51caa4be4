//! Signal interop with an independent implementation: wacore-libsignal
//! (whatsapp-rust's fork of Signal's libsignal), reached through the
//! `whatsapp-rust` dev-dependency. Sessions are set up in both directions
//! (our X3DH as initiator and as responder), then messages flow both ways,
//! across DH ratchet turns and delivered out of order. Passing means our
//! wire formats, X3DH, KDF labels, MAC and cipher are libsignal's.

use std::collections::HashMap;

use wasp::crypto::KeyPair;
use wasp::signal::{
    decrypt_message, decrypt_prekey_message, encrypt, initiate_session, CiphertextMessage,
    IdentityCheck, LocalPreKeys, PreKey, PreKeyBundle, SessionRecord, SignedPreKey,
};
use whatsapp_rust::async_trait;
use whatsapp_rust::wacore::crypto::calculate_curve_signature;
use whatsapp_rust::wacore::libsignal::protocol::{
    message_decrypt, message_encrypt, process_prekey_bundle, CiphertextMessage as TheirCiphertext,
    Direction, GenericSignedPreKey, IdentityChange, IdentityKey, IdentityKeyPair as TheirIdentity,
    IdentityKeyStore, KeyPair as TheirKeyPair, PreKeyBundle as TheirBundle, PreKeyId, PreKeyRecord,
    PreKeySignalMessage, PreKeyStore, PrivateKey, ProtocolAddress,
    SessionRecord as TheirSessionRecord, SessionStore, SignalMessage, SignalProtocolError,
    SignedPreKeyId, SignedPreKeyRecord, SignedPreKeyStore, Timestamp, UsePQRatchet,
};

type TheirResult<T> = Result<T, SignalProtocolError>;

/// libsignal's store API is async; these stores never wait.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds")
        .block_on(future)
}

// ---- minimal in-memory stores for libsignal --------------------------------

struct Identities {
    own: TheirIdentity,
    registration_id: u32,
    known: HashMap<ProtocolAddress, IdentityKey>,
}

#[async_trait]
impl IdentityKeyStore for Identities {
    async fn get_identity_key_pair(&self) -> TheirResult<TheirIdentity> {
        Ok(self.own.clone())
    }
    async fn get_local_registration_id(&self) -> TheirResult<u32> {
        Ok(self.registration_id)
    }
    async fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> TheirResult<IdentityChange> {
        let changed = self.known.get(address).is_some_and(|k| k != identity);
        self.known.insert(address.clone(), *identity);
        Ok(IdentityChange::from_changed(changed))
    }
    async fn is_trusted_identity(
        &self,
        _: &ProtocolAddress,
        _: &IdentityKey,
        _: Direction,
    ) -> TheirResult<bool> {
        Ok(true)
    }
    async fn get_identity(&self, address: &ProtocolAddress) -> TheirResult<Option<IdentityKey>> {
        Ok(self.known.get(address).cloned())
    }
}

#[derive(Default)]
struct PreKeys(HashMap<PreKeyId, PreKeyRecord>);

#[async_trait]
impl PreKeyStore for PreKeys {
    async fn get_pre_key(&self, id: PreKeyId) -> TheirResult<PreKeyRecord> {
        self.0
            .get(&id)
            .cloned()
            .ok_or(SignalProtocolError::InvalidPreKeyId)
    }
    async fn save_pre_key(&mut self, id: PreKeyId, record: &PreKeyRecord) -> TheirResult<()> {
        self.0.insert(id, record.clone());
        Ok(())
    }
    async fn remove_pre_key(&mut self, id: PreKeyId) -> TheirResult<()> {
        self.0.remove(&id);
        Ok(())
    }
}

#[derive(Default)]
struct SignedPreKeys(HashMap<SignedPreKeyId, SignedPreKeyRecord>);

#[async_trait]
impl SignedPreKeyStore for SignedPreKeys {
    async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> TheirResult<SignedPreKeyRecord> {
        self.0
            .get(&id)
            .cloned()
            .ok_or(SignalProtocolError::InvalidSignedPreKeyId)
    }
    async fn save_signed_pre_key(
        &mut self,
        id: SignedPreKeyId,
        record: &SignedPreKeyRecord,
    ) -> TheirResult<()> {
        self.0.insert(id, record.clone());
        Ok(())
    }
}

#[derive(Default)]
struct Sessions(HashMap<ProtocolAddress, TheirSessionRecord>);

#[async_trait]
impl SessionStore for Sessions {
    async fn load_session(
        &self,
        address: &ProtocolAddress,
    ) -> TheirResult<Option<TheirSessionRecord>> {
        Ok(self.0.get(address).cloned())
    }
    async fn has_session(&self, address: &ProtocolAddress) -> TheirResult<bool> {
        Ok(self.0.contains_key(address))
    }
    async fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: TheirSessionRecord,
    ) -> TheirResult<()> {
        self.0.insert(address.clone(), record);
        Ok(())
    }
}

// ---- the two parties ---------------------------------------------------------

const THEIR_SIGNED_PREKEY_ID: u32 = 7;
const THEIR_PREKEY_ID: u32 = 31;

/// A libsignal-held device.
struct Libsignal {
    identity: Identities,
    prekeys: PreKeys,
    signed_prekeys: SignedPreKeys,
    sessions: Sessions,
    /// How libsignal names us.
    wasp_address: ProtocolAddress,
    bundle: PreKeyBundle,
}

fn their_key_pair(ours: &KeyPair) -> TheirKeyPair {
    let private = PrivateKey::deserialize(&ours.private).expect("32-byte private key");
    TheirKeyPair::try_from(private).expect("libsignal derives the public key")
}

impl Libsignal {
    fn new(with_one_time_prekey: bool) -> Libsignal {
        let identity_key = KeyPair::generate();
        let their_identity = TheirIdentity::from(their_key_pair(&identity_key));
        let signed = their_key_pair(&KeyPair::generate());
        // libsignal's own XEdDSA signs its signed prekey.
        let signature: [u8; 64] =
            calculate_curve_signature(their_identity.private_key(), &signed.public_key.serialize())
                .expect("libsignal signs");
        let mut signed_prekeys = SignedPreKeys::default();
        signed_prekeys.0.insert(
            THEIR_SIGNED_PREKEY_ID.into(),
            SignedPreKeyRecord::new(
                THEIR_SIGNED_PREKEY_ID.into(),
                Timestamp::from_epoch_millis(0),
                &signed,
                &signature,
            ),
        );
        let mut prekeys = PreKeys::default();
        let one_time = with_one_time_prekey.then(|| {
            let pair = their_key_pair(&KeyPair::generate());
            prekeys.0.insert(
                THEIR_PREKEY_ID.into(),
                PreKeyRecord::new(THEIR_PREKEY_ID.into(), &pair),
            );
            (THEIR_PREKEY_ID, key32(pair.public_key.public_key_bytes()))
        });
        let registration_id = 4242;
        let bundle = PreKeyBundle {
            registration_id,
            identity_key: identity_key.public,
            signed_prekey_id: THEIR_SIGNED_PREKEY_ID,
            signed_prekey: key32(signed.public_key.public_key_bytes()),
            signed_prekey_signature: signature,
            one_time_prekey: one_time,
        };
        Libsignal {
            identity: Identities {
                own: their_identity,
                registration_id,
                known: HashMap::new(),
            },
            prekeys,
            signed_prekeys,
            sessions: Sessions::default(),
            wasp_address: ProtocolAddress::new("wasp", 1u32.into()),
            bundle,
        }
    }

    fn encrypt(&mut self, plaintext: &[u8]) -> TheirCiphertext {
        block_on(message_encrypt(
            plaintext,
            &self.wasp_address,
            &mut self.sessions,
            &mut self.identity,
        ))
        .expect("libsignal encrypts")
    }

    /// Decrypts our bytes as the kind our API said they are.
    fn decrypt(&mut self, ours: &CiphertextMessage) -> TheirResult<(Vec<u8>, Option<u32>)> {
        let message = match ours {
            CiphertextMessage::PreKey(b) => {
                TheirCiphertext::PreKeySignalMessage(PreKeySignalMessage::try_from(b.as_slice())?)
            }
            CiphertextMessage::Whisper(b) => {
                TheirCiphertext::SignalMessage(SignalMessage::try_from(b.as_slice())?)
            }
        };
        let mut rng = rand_libsignal::make_rng::<rand_libsignal::rngs::StdRng>();
        let result = block_on(message_decrypt(
            &message,
            &self.wasp_address,
            &mut self.sessions,
            &mut self.identity,
            &mut self.prekeys,
            &self.signed_prekeys,
            &mut rng,
            UsePQRatchet::No,
        ))?;
        Ok((result.plaintext, result.consumed_prekey_id.map(u32::from)))
    }
}

fn key32(bytes: &[u8]) -> [u8; 32] {
    bytes
        .try_into()
        .expect("a Curve25519 public key is 32 bytes")
}

/// Our side: registration material and one session record.
struct Wasp {
    identity: KeyPair,
    registration_id: u32,
    signed: Vec<SignedPreKey>,
    one_time: Vec<PreKey>,
    record: SessionRecord,
}

impl Wasp {
    fn new() -> Wasp {
        let identity = KeyPair::generate();
        let signed = vec![SignedPreKey::generate(&identity, 3)];
        Wasp {
            identity,
            registration_id: 1717,
            signed,
            one_time: wasp::signal::generate_prekeys(100, 3),
            record: SessionRecord::new(),
        }
    }

    fn encrypt(&mut self, plaintext: &[u8]) -> CiphertextMessage {
        encrypt(&mut self.record, &self.identity, plaintext).expect("we encrypt")
    }

    /// Decrypts libsignal's ciphertext with the matching function.
    fn decrypt(&mut self, theirs: &TheirCiphertext) -> Vec<u8> {
        match theirs {
            TheirCiphertext::PreKeySignalMessage(m) => {
                let prekeys = LocalPreKeys {
                    signed: &self.signed,
                    one_time: &self.one_time,
                };
                decrypt_prekey_message(
                    &mut self.record,
                    &self.identity,
                    self.registration_id,
                    &prekeys,
                    m.serialized(),
                )
                .expect("we decrypt libsignal's pkmsg")
                .plaintext
            }
            TheirCiphertext::SignalMessage(m) => {
                decrypt_message(&mut self.record, &self.identity, m.serialized())
                    .expect("we decrypt libsignal's msg")
            }
            _ => panic!("unexpected message kind from libsignal"),
        }
    }
}

fn text(label: &str, i: usize) -> Vec<u8> {
    format!("{label} #{i}: {}", "x".repeat(i * 7)).into_bytes()
}

/// Several rounds both ways after the session is up: each round a batch
/// from one side delivered out of order, so every round turns the DH
/// ratchet and exercises skipped message keys on both implementations.
fn converse(wasp: &mut Wasp, theirs: &mut Libsignal) {
    let order = [3usize, 0, 4, 1, 2];
    for round in 0..4 {
        let ours: Vec<_> = (0..5)
            .map(|i| wasp.encrypt(&text("wasp", round * 10 + i)))
            .collect();
        for &i in &order {
            assert!(matches!(ours[i], CiphertextMessage::Whisper(_)));
            let (plaintext, consumed) = theirs.decrypt(&ours[i]).expect("libsignal decrypts ours");
            assert_eq!(plaintext, text("wasp", round * 10 + i));
            assert_eq!(consumed, None);
        }
        let back: Vec<_> = (0..5)
            .map(|i| theirs.encrypt(&text("libsignal", round * 10 + i)))
            .collect();
        for &i in order.iter().rev() {
            assert!(matches!(back[i], TheirCiphertext::SignalMessage(_)));
            assert_eq!(wasp.decrypt(&back[i]), text("libsignal", round * 10 + i));
        }
    }
    // A replay is refused by both.
    let again = wasp.encrypt(b"once");
    assert_eq!(theirs.decrypt(&again).expect("first delivery").0, b"once");
    assert!(theirs.decrypt(&again).is_err());
    let reply = theirs.encrypt(b"once back");
    assert_eq!(wasp.decrypt(&reply), b"once back");
    let TheirCiphertext::SignalMessage(m) = &reply else {
        panic!("libsignal answers with a msg");
    };
    assert!(decrypt_message(&mut wasp.record, &wasp.identity, m.serialized()).is_err());
}

fn we_initiate(with_one_time_prekey: bool) {
    let mut theirs = Libsignal::new(with_one_time_prekey);
    let mut wasp = Wasp::new();
    let identity = initiate_session(
        &mut wasp.record,
        &wasp.identity,
        wasp.registration_id,
        &theirs.bundle,
    )
    .expect("libsignal's bundle verifies");
    assert_eq!(identity, IdentityCheck::New);

    // Two pkmsgs before any answer; the second arrives first.
    let first = wasp.encrypt(b"hello libsignal");
    let second = wasp.encrypt(b"still there?");
    assert_eq!(first.enc_type(), "pkmsg");
    assert_eq!(second.enc_type(), "pkmsg");
    let (plaintext, consumed) = theirs
        .decrypt(&second)
        .expect("libsignal decrypts our pkmsg");
    assert_eq!(plaintext, b"still there?");
    let expected_prekey = with_one_time_prekey.then_some(THEIR_PREKEY_ID);
    assert_eq!(consumed, expected_prekey);
    let (plaintext, _) = theirs.decrypt(&first).expect("the earlier pkmsg too");
    assert_eq!(plaintext, b"hello libsignal");

    let reply = theirs.encrypt(b"hi wasp");
    assert!(matches!(reply, TheirCiphertext::SignalMessage(_)));
    assert_eq!(wasp.decrypt(&reply), b"hi wasp");
    // libsignal answered, so we stop sending pkmsg.
    assert_eq!(wasp.encrypt(b"now a msg").enc_type(), "msg");
    let _ = theirs.encrypt(b"ignored: keeps counters honest");
    converse(&mut wasp, &mut theirs);
}

fn they_initiate(with_one_time_prekey: bool) {
    let mut theirs = Libsignal::new(false);
    let mut wasp = Wasp::new();
    let signed = &wasp.signed[0];
    let one_time = &wasp.one_time[1];
    let bundle = TheirBundle::new(
        wasp.registration_id,
        1u32.into(),
        with_one_time_prekey.then(|| {
            (
                one_time.id.into(),
                their_key_pair(&one_time.key_pair).public_key,
            )
        }),
        signed.id.into(),
        their_key_pair(&signed.key_pair).public_key,
        signed.signature.to_vec(),
        IdentityKey::new(their_key_pair(&wasp.identity).public_key),
    )
    .expect("valid bundle");
    let mut rng = rand_libsignal::make_rng::<rand_libsignal::rngs::StdRng>();
    block_on(process_prekey_bundle(
        &theirs.wasp_address,
        &mut theirs.sessions,
        &mut theirs.identity,
        &bundle,
        &mut rng,
        UsePQRatchet::No,
    ))
    .expect("libsignal accepts our bundle and our XEdDSA signature");

    let first = theirs.encrypt(b"hello wasp");
    let second = theirs.encrypt(b"second pkmsg");
    let TheirCiphertext::PreKeySignalMessage(second_m) = &second else {
        panic!("libsignal starts with a pkmsg");
    };
    let prekeys = LocalPreKeys {
        signed: &wasp.signed,
        one_time: &wasp.one_time,
    };
    let got = decrypt_prekey_message(
        &mut wasp.record,
        &wasp.identity,
        wasp.registration_id,
        &prekeys,
        second_m.serialized(),
    )
    .expect("we decrypt libsignal's pkmsg");
    assert_eq!(got.plaintext, b"second pkmsg");
    assert_eq!(
        got.consumed_prekey_id,
        with_one_time_prekey.then_some(one_time.id)
    );
    assert_eq!(got.identity, IdentityCheck::New);
    assert_eq!(got.sender_registration_id, 4242);
    // The earlier pkmsg of the same session uses no prekey again.
    assert_eq!(wasp.decrypt(&first), b"hello wasp");

    let reply = wasp.encrypt(b"hi libsignal");
    assert_eq!(reply.enc_type(), "msg");
    assert_eq!(
        theirs.decrypt(&reply).expect("libsignal decrypts").0,
        b"hi libsignal"
    );
    let next = theirs.encrypt(b"got it");
    assert!(matches!(next, TheirCiphertext::SignalMessage(_)));
    assert_eq!(wasp.decrypt(&next), b"got it");
    converse(&mut wasp, &mut theirs);
}

#[test]
fn we_initiate_with_one_time_prekey() {
    we_initiate(true);
}

#[test]
fn we_initiate_without_one_time_prekey() {
    we_initiate(false);
}

#[test]
fn libsignal_initiates_with_one_time_prekey() {
    they_initiate(true);
}

#[test]
fn libsignal_initiates_without_one_time_prekey() {
    they_initiate(false);
}

#[test]
fn our_record_survives_serialization_mid_conversation() {
    let mut theirs = Libsignal::new(true);
    let mut wasp = Wasp::new();
    initiate_session(
        &mut wasp.record,
        &wasp.identity,
        wasp.registration_id,
        &theirs.bundle,
    )
    .expect("bundle verifies");
    let early = wasp.encrypt(b"a");
    theirs.decrypt(&early).expect("pkmsg decrypts");
    let skipped = theirs.encrypt(b"late");
    let now = theirs.encrypt(b"now");
    assert_eq!(wasp.decrypt(&now), b"now");
    // Persist and reload (as the client does) with a skipped key pending.
    let json = serde_json::to_string(&wasp.record).expect("record serializes");
    wasp.record = serde_json::from_str(&json).expect("record deserializes");
    assert_eq!(wasp.decrypt(&skipped), b"late");
    converse(&mut wasp, &mut theirs);
}

#[test]
fn long_gaps_and_tampered_bytes_both_ways() {
    let mut theirs = Libsignal::new(true);
    let mut wasp = Wasp::new();
    initiate_session(
        &mut wasp.record,
        &wasp.identity,
        wasp.registration_id,
        &theirs.bundle,
    )
    .expect("bundle verifies");
    theirs
        .decrypt(&wasp.encrypt(b"open"))
        .expect("pkmsg decrypts");

    // libsignal sends 300 messages; we get the last first, then the rest
    // newest to oldest (299 stored skipped keys on our side).
    let batch: Vec<_> = (0..300).map(|i| theirs.encrypt(&text("gap", i))).collect();
    for i in (0..300).rev() {
        assert_eq!(wasp.decrypt(&batch[i]), text("gap", i));
    }

    // The same the other way round.
    let batch: Vec<_> = (0..300).map(|i| wasp.encrypt(&text("pag", i))).collect();
    for i in (0..300).rev() {
        let (plaintext, _) = theirs.decrypt(&batch[i]).expect("libsignal decrypts");
        assert_eq!(plaintext, text("pag", i));
    }

    // A flipped ciphertext byte fails libsignal's MAC check on our message...
    let CiphertextMessage::Whisper(mut bytes) = wasp.encrypt(b"tamper me") else {
        panic!("a msg after the answer");
    };
    let good = CiphertextMessage::Whisper(bytes.clone());
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    assert!(theirs.decrypt(&CiphertextMessage::Whisper(bytes)).is_err());
    assert_eq!(
        theirs.decrypt(&good).expect("the intact one").0,
        b"tamper me"
    );

    // ...and ours on theirs, leaving our record as it was.
    let reply = theirs.encrypt(b"tamper me too");
    let mut bytes = reply.serialize().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    let before = serde_json::to_string(&wasp.record).expect("serializes");
    assert!(decrypt_message(&mut wasp.record, &wasp.identity, &bytes).is_err());
    assert_eq!(
        serde_json::to_string(&wasp.record).expect("serializes"),
        before
    );
    assert_eq!(wasp.decrypt(&reply), b"tamper me too");
    converse(&mut wasp, &mut theirs);
}
