//! A phone's side as a Signal participant: its prekeys, its sessions with
//! every device it talks to, and what it has received and sent.
//!
//! Owns: [`PhoneSignal`] and the records the admin API lists
//! ([`PhoneMessage`], [`PhoneReceipt`]). Must not touch: encryption and
//! delivery (`sim::phone` does them with this data), other accounts.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;

use super::queues::push_bounded;
use crate::signal::{
    self, IdentityKeyPair, PreKey, PreKeyBundle, SenderKeyRecord, SessionRecord, SignedPreKey,
};
use crate::sim::protocol::addressing::Addressing;
use crate::types::{DeviceAddress, Jid};

/// Most one-time prekeys a phone keeps private halves of.
const MAX_PHONE_PREKEYS: usize = 500;
/// Most texts and receipts a phone keeps for the admin API.
pub(crate) const MAX_PHONE_LOG: usize = 10_000;
/// Most texts a phone remembers having sent (to answer retry receipts).
pub(crate) const MAX_SENT: usize = 1_000;

/// A text a phone received, as `GET /sim/phones/{phone}/messages` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PhoneMessage {
    pub id: String,
    /// The device that sent it.
    pub from: String,
    /// The conversation: the other party's user JID.
    pub chat: String,
    pub text: String,
    pub timestamp: u64,
    /// Sent by one of the phone's own companions (to `chat`).
    pub from_me: bool,
    /// The id of the message it replies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted_id: Option<String>,
    /// A media message's file, as the phone fetched and opened it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<PhoneMediaView>,
}

/// What a phone found of a received media message's file when it was
/// listed: fetched from the media hosts and checked (MAC and both hashes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PhoneMediaView {
    pub kind: String,
    pub mimetype: String,
    /// The size the message announced.
    pub file_length: u64,
    pub voice_note: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Hex SHA-256 of the decrypted file; `None` when it could not be
    /// fetched or opened (`error` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The decrypted file's length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the message says besides: an image's size, a voice note's
    /// duration and 64-bar waveform, a thumbnail (base64 JPEG).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waveform: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jpeg_thumbnail: Option<String>,
}

/// A receipt a phone received for a message it sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PhoneReceipt {
    /// `delivered`, `read`, or the type of a protocol receipt such as
    /// `hist_sync` (`retry` receipts are answered, not listed).
    pub kind: String,
    pub from: String,
    pub ids: Vec<String>,
    pub timestamp: u64,
}

/// A received text, the device it came from (by phone number), the
/// namespace it was addressed in and its group.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub sender: DeviceAddress,
    pub addressing: Addressing,
    /// The group it was sent to.
    pub group: Option<Jid>,
    pub message: PhoneMessage,
    /// A media message: what it says of its file.
    pub media: Option<Box<crate::media::MediaMessage>>,
}

/// A text the phone sent, kept so a retry receipt can be answered.
#[derive(Clone, Debug)]
pub(crate) struct SentText {
    pub id: String,
    /// The chat's account (device 0, by phone number).
    pub chat: DeviceAddress,
    /// The namespace it was sent in.
    pub addressing: Addressing,
    pub text: String,
}

/// A phone's Signal side.
pub(crate) struct PhoneSignal {
    pub signed_prekey: SignedPreKey,
    pub one_time: VecDeque<PreKey>,
    next_prekey_id: u32,
    pub sessions: HashMap<DeviceAddress, SessionRecord>,
    pub received: VecDeque<Received>,
    pub receipts: VecDeque<PhoneReceipt>,
    pub sent: VecDeque<SentText>,
    /// Messages that could not be decrypted (each answered by a retry
    /// receipt to its sender).
    pub undecryptable: u64,
    /// Sender keys other members distributed: (group id, sending device
    /// by phone number) -> their chain.
    pub group_keys: HashMap<(String, DeviceAddress), SenderKeyRecord>,
    /// The phone's own sender key per group.
    pub own_group_keys: HashMap<String, SenderKeyRecord>,
    /// Per group, the devices (by phone number) that hold the phone's
    /// current sender key.
    pub distributed: HashMap<String, HashSet<DeviceAddress>>,
}

impl PhoneSignal {
    /// Fresh keys, the signed prekey signed by the phone's `identity`.
    pub fn new(identity: &IdentityKeyPair) -> Self {
        PhoneSignal {
            signed_prekey: SignedPreKey::generate(identity, 1),
            one_time: VecDeque::new(),
            next_prekey_id: 1,
            sessions: HashMap::new(),
            received: VecDeque::new(),
            receipts: VecDeque::new(),
            sent: VecDeque::new(),
            undecryptable: 0,
            group_keys: HashMap::new(),
            own_group_keys: HashMap::new(),
            distributed: HashMap::new(),
        }
    }

    /// The phone's bundle with a freshly minted one-time prekey (phones
    /// mint one for every request).
    pub fn mint_bundle(&mut self, registration_id: u32, identity_key: [u8; 32]) -> PreKeyBundle {
        let key = signal::generate_prekeys(self.next_prekey_id, 1).remove(0);
        self.next_prekey_id = signal::next_prekey_id(key.id);
        let bundle = PreKeyBundle {
            registration_id,
            identity_key,
            signed_prekey_id: self.signed_prekey.id,
            signed_prekey: self.signed_prekey.key_pair.public,
            signed_prekey_signature: self.signed_prekey.signature,
            one_time_prekey: Some((key.id, key.key_pair.public)),
        };
        push_bounded(&mut self.one_time, key, MAX_PHONE_PREKEYS);
        bundle
    }
}
