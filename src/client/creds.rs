//! Everything a device must persist to log in again, and how it is
//! written to the session's [`AuthStore`].
//!
//! The credentials document is JSON with keys as standard base64 (private
//! keys only; the public halves are derived on load); the store replaces
//! it atomically. After a logout it is overwritten with a record that
//! holds no key at all, only why the device was logged out.

use serde::{Deserialize, Serialize};

use super::ClientError;
use crate::crypto::KeyPair;
use crate::signal::{self, serde_b64, PreKey, SignedPreKey};
use crate::store::AuthStore;
use crate::types::Jid;

/// The id of the single signed prekey a fresh device registers with
/// (whatsmeow and wacore both use 1).
const SIGNED_PREKEY_ID: u32 = 1;

/// What `creds.json` holds: live credentials, or the tombstone of a
/// device that was logged out.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StoredCreds {
    Active(Box<Creds>),
    LoggedOut {
        /// Why the device is no longer linked.
        logged_out: String,
        /// The JID it had, for the host's records.
        jid: Option<Jid>,
    },
}

/// A device's registration material plus, once linked, its identity.
#[derive(Clone, Serialize, Deserialize)]
pub struct Creds {
    #[serde(with = "serde_b64::key_pair")]
    pub noise_key: KeyPair,
    #[serde(with = "serde_b64::key_pair")]
    pub identity_key: KeyPair,
    pub registration_id: u32,
    pub signed_prekey: SignedPreKey,
    /// Shared with the phone through the QR code; keys the pair-success HMAC.
    #[serde(with = "serde_b64::bytes32")]
    pub adv_secret_key: [u8; 32],
    /// The id the next generated one-time prekey gets.
    pub next_prekey_id: u32,
    /// Prekeys with ids from here up to `next_prekey_id` were generated
    /// but their upload was not confirmed.
    pub first_unuploaded_prekey_id: u32,
    /// Set once a phone linked this device.
    pub paired: Option<PairedIdentity>,
    pub push_name: String,
    /// Edge routing info from the server, sent before the next handshake.
    #[serde(default, with = "serde_b64::opt_bytes")]
    pub routing_info: Option<Vec<u8>>,
    /// When the signed prekey was made (seconds since the epoch; 0 when
    /// unknown, which the next login replaces with its own time).
    #[serde(default)]
    pub signed_prekey_at: u64,
    /// The signed prekey before the last rotation, kept so that first
    /// messages encrypted to it before the rotation still open.
    #[serde(default)]
    pub previous_signed_prekey: Option<SignedPreKey>,
    /// The account's 1:1 chats moved to LID addressing: sends are then
    /// addressed by LID on the wire (learned at pairing or from the A/B
    /// props; never unset, like WA Web's latch).
    #[serde(default)]
    pub lid_migrated: bool,
}

/// Who this device is, as the phone and server told it at pairing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairedIdentity {
    /// AD form: `user:device@s.whatsapp.net`.
    pub jid: Jid,
    /// `user:device@lid`, when the server gave one.
    pub lid: Option<Jid>,
    /// Encoded `ADVSignedDeviceIdentity` (with the account signature key
    /// and our device signature).
    #[serde(with = "serde_b64::bytes")]
    pub account: Vec<u8>,
    pub platform: String,
    pub business_name: String,
}

impl Creds {
    /// Fresh registration material for a device that was never linked,
    /// made at `now` (seconds since the epoch).
    pub fn generate(push_name: &str, now: u64) -> Creds {
        let identity_key = KeyPair::generate();
        let signed_prekey = SignedPreKey::generate(&identity_key, SIGNED_PREKEY_ID);
        Creds {
            noise_key: KeyPair::generate(),
            identity_key,
            registration_id: signal::registration_id(),
            signed_prekey,
            adv_secret_key: rand::random(),
            next_prekey_id: 1,
            first_unuploaded_prekey_id: 1,
            paired: None,
            push_name: push_name.to_string(),
            routing_info: None,
            signed_prekey_at: now,
            previous_signed_prekey: None,
            lid_migrated: false,
        }
    }

    /// Replaces the signed prekey with a fresh one (the next id), keeping
    /// the current one as the previous.
    pub fn rotate_signed_prekey(&mut self, now: u64) {
        let id = self.signed_prekey.id % signal::MAX_PREKEY_ID + 1;
        let fresh = SignedPreKey::generate(&self.identity_key, id);
        self.previous_signed_prekey = Some(std::mem::replace(&mut self.signed_prekey, fresh));
        self.signed_prekey_at = now;
    }

    /// The own JID once paired.
    pub fn jid(&self) -> Option<&Jid> {
        self.paired.as_ref().map(|p| &p.jid)
    }
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("Creds")
            .field("jid", &self.jid())
            .field("registration_id", &self.registration_id)
            .finish_non_exhaustive()
    }
}

impl StoredCreds {
    /// The record left behind by a logout: no key survives it.
    pub fn logged_out(reason: &str, jid: Option<&Jid>) -> StoredCreds {
        StoredCreds::LoggedOut {
            logged_out: reason.to_string(),
            jid: jid.cloned(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data to JSON cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<StoredCreds, ClientError> {
        serde_json::from_slice(bytes).map_err(|e| ClientError::Creds(e.to_string()))
    }
}

/// Loads the credentials; `None` when the session has none yet.
pub fn load(store: &dyn AuthStore) -> Result<Option<StoredCreds>, ClientError> {
    store
        .load_creds()?
        .map(|bytes| StoredCreds::from_json(&bytes))
        .transpose()
}

/// Atomically replaces the credentials.
pub fn save(store: &dyn AuthStore, creds: &StoredCreds) -> Result<(), ClientError> {
    store.save_creds(&creds.to_json())?;
    Ok(())
}

/// The one-time prekey `id`, while the store still holds it. Only that
/// key's public half is derived (deriving them all would cost one scalar
/// multiplication per stored key, for every first message received).
pub fn find_prekey(store: &dyn AuthStore, id: u32) -> Result<Option<PreKey>, ClientError> {
    Ok(store.prekey(id)?.map(|private| PreKey {
        id,
        key_pair: KeyPair::from_private(private),
    }))
}

/// Keeps freshly generated one-time prekeys.
pub fn append_prekeys(store: &dyn AuthStore, new: &[PreKey]) -> Result<(), ClientError> {
    let keys: Vec<(u32, [u8; 32])> = new.iter().map(|k| (k.id, k.key_pair.private)).collect();
    store.add_prekeys(&keys)?;
    Ok(())
}

/// Logs a device out in its store: the tombstone replaces the credentials
/// and the prekeys are deleted, so nothing usable remains.
pub fn wipe(store: &dyn AuthStore, reason: &str, jid: Option<&Jid>) -> Result<(), ClientError> {
    store.wipe(&StoredCreds::logged_out(reason, jid).to_json())?;
    Ok(())
}

/// Credentials built without XEdDSA, for tests of other modules.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub fn creds_without_signature() -> Creds {
        Creds {
            noise_key: KeyPair::generate(),
            identity_key: KeyPair::generate(),
            registration_id: 77,
            signed_prekey: SignedPreKey {
                id: 1,
                key_pair: KeyPair::generate(),
                signature: [3; 64],
            },
            adv_secret_key: rand::random(),
            next_prekey_id: 1,
            first_unuploaded_prekey_id: 1,
            paired: None,
            push_name: String::new(),
            routing_info: None,
            signed_prekey_at: 0,
            previous_signed_prekey: None,
            lid_migrated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::{FileAuthStore, SessionDir, CREDS_FILE, PREKEYS_FILE};

    fn session_dir() -> (tempfile::TempDir, FileAuthStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileAuthStore::new(SessionDir::at(tmp.path().join("s")));
        store.prepare().unwrap();
        (tmp, store)
    }

    fn sample_creds() -> Creds {
        // Built by hand: `Creds::generate` signs with XEdDSA (crypto helper).
        let identity_key = KeyPair::generate();
        Creds {
            noise_key: KeyPair::generate(),
            identity_key,
            registration_id: 1234,
            signed_prekey: SignedPreKey {
                id: 1,
                key_pair: KeyPair::generate(),
                signature: [7; 64],
            },
            adv_secret_key: [9; 32],
            next_prekey_id: 51,
            first_unuploaded_prekey_id: 51,
            paired: Some(PairedIdentity {
                jid: "15551234567:3@s.whatsapp.net".parse().unwrap(),
                lid: Some("99887766:3@lid".parse().unwrap()),
                account: vec![1, 2, 3],
                platform: "android".into(),
                business_name: String::new(),
            }),
            push_name: "wasp".into(),
            routing_info: Some(vec![8, 9]),
            signed_prekey_at: 0,
            previous_signed_prekey: None,
            lid_migrated: false,
        }
    }

    #[test]
    fn creds_round_trip_through_the_store() {
        let (_tmp, dir) = session_dir();
        assert!(load(&dir).unwrap().is_none());
        let creds = sample_creds();
        save(&dir, &StoredCreds::Active(Box::new(creds.clone()))).unwrap();
        let Some(StoredCreds::Active(back)) = load(&dir).unwrap() else {
            panic!("expected active creds");
        };
        assert_eq!(back.noise_key.private, creds.noise_key.private);
        assert_eq!(back.noise_key.public, creds.noise_key.public);
        assert_eq!(back.identity_key.public, creds.identity_key.public);
        assert_eq!(back.registration_id, 1234);
        assert_eq!(
            back.signed_prekey.key_pair.public,
            creds.signed_prekey.key_pair.public
        );
        assert_eq!(back.signed_prekey.signature, [7; 64]);
        assert_eq!(back.adv_secret_key, [9; 32]);
        assert_eq!(back.next_prekey_id, 51);
        assert_eq!(back.paired, creds.paired);
        assert_eq!(back.routing_info, Some(vec![8, 9]));
    }

    #[test]
    fn logged_out_record_contains_no_key_material() {
        let (_tmp, dir) = session_dir();
        let creds = sample_creds();
        save(&dir, &StoredCreds::Active(Box::new(creds.clone()))).unwrap();
        append_prekeys(&dir, &crate::signal::generate_prekeys(1, 3)).unwrap();
        wipe(&dir, "device_removed", creds.jid()).unwrap();

        let bytes = dir.dir().read(CREDS_FILE).unwrap().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        for secret in [
            creds.noise_key.private,
            creds.identity_key.private,
            creds.signed_prekey.key_pair.private,
            creds.adv_secret_key,
        ] {
            assert!(!text.contains(&b64.encode(secret)));
        }
        assert!(!text.contains("private"));
        assert!(dir.dir().read(PREKEYS_FILE).unwrap().is_none());
        assert!(dir.dir().read_slotted(PREKEYS_FILE).unwrap().is_none());
        match StoredCreds::from_json(&bytes).unwrap() {
            StoredCreds::LoggedOut { logged_out, jid } => {
                assert_eq!(logged_out, "device_removed");
                assert_eq!(
                    jid.map(|j| j.to_string()).as_deref(),
                    Some("15551234567:3@s.whatsapp.net")
                );
            }
            StoredCreds::Active(_) => panic!("still active"),
        }
    }

    #[test]
    fn corrupt_creds_are_a_clear_error() {
        let (_tmp, dir) = session_dir();
        dir.dir().write_atomic(CREDS_FILE, b"{not json").unwrap();
        assert!(matches!(load(&dir), Err(ClientError::Creds(_))));
        dir.dir()
            .write_atomic(CREDS_FILE, br#"{"state":"active","noise_key":"AA=="}"#)
            .unwrap();
        assert!(matches!(load(&dir), Err(ClientError::Creds(_))));
    }

    #[test]
    fn prekeys_accumulate() {
        let (_tmp, dir) = session_dir();
        append_prekeys(&dir, &crate::signal::generate_prekeys(1, 2)).unwrap();
        append_prekeys(&dir, &crate::signal::generate_prekeys(3, 2)).unwrap();
        let all: Vec<PreKey> =
            serde_json::from_slice(&dir.dir().read_slotted(PREKEYS_FILE).unwrap().unwrap())
                .unwrap();
        assert_eq!(
            all.iter().map(|k| k.id).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
    }

    #[test]
    fn prekeys_an_earlier_version_kept_whole_are_read_then_replaced() {
        let (_tmp, dir) = session_dir();
        let old = crate::signal::generate_prekeys(1, 2);
        dir.dir()
            .write_atomic(PREKEYS_FILE, &serde_json::to_vec(&old).unwrap())
            .unwrap();
        let key = old[1].key_pair.private;
        assert_eq!(
            find_prekey(&dir, 2).unwrap().map(|k| k.key_pair.private),
            Some(key)
        );
        // The first write moves them to the two slots and drops the file.
        append_prekeys(&dir, &crate::signal::generate_prekeys(3, 1)).unwrap();
        assert!(dir.dir().read(PREKEYS_FILE).unwrap().is_none());
        assert_eq!(dir.prekey_ids().unwrap(), vec![1, 2, 3]);
        assert_eq!(
            find_prekey(&dir, 2).unwrap().map(|k| k.key_pair.private),
            Some(key)
        );
        dir.remove_prekey(2).unwrap();
        assert_eq!(dir.prekey_ids().unwrap(), vec![1, 3]);
    }
}
