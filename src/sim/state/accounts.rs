//! The accounts of the simulated network: each phone (the primary device
//! of an account) and the companion devices linked to it.
//!
//! Owns: [`Account`] and [`Device`], the data the server keeps of them,
//! and the bookkeeping that belongs to one account alone (device ids, the
//! time its device list last changed). Must not touch: other accounts,
//! connections, anything that sends.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng as _;

use super::phone::PhoneSignal;
use super::queues::Queued;
use crate::crypto::KeyPair;
use crate::signal::PreKeyBundle;
use crate::sim::error::SimError;
use crate::sim::protocol::addressing::Addressing;
use crate::sim::protocol::adv::sign_key_index_list;
use crate::sim::protocol::hello::{Registration, SignedPreKey};
use crate::sim::protocol::key_share::AppStateKey;
use crate::types::{DeviceAddress, Jid};

/// A linked companion device.
#[derive(Clone, Debug)]
pub(crate) struct Device {
    pub noise_key: [u8; 32],
    pub identity_key: [u8; 32],
    pub registration_id: u32,
    pub signed_prekey: SignedPreKey,
    pub key_index: u32,
    /// One-time prekeys uploaded and not yet handed out: (id, public).
    pub prekeys: Vec<(u32, [u8; 32])>,
    /// The phone has not yet sent this companion the app-state key share
    /// it sends every newly linked device.
    pub key_share_pending: bool,
    /// Stanzas for this device the server holds until it acknowledges
    /// them (its offline queue), oldest first.
    pub queue: VecDeque<Queued>,
}

impl Device {
    /// A device just linked with what it registered.
    pub fn new(registration: Registration, key_index: u32) -> Self {
        Device {
            noise_key: registration.noise_key,
            identity_key: registration.identity_key,
            registration_id: registration.registration_id,
            signed_prekey: registration.signed_prekey,
            key_index,
            prekeys: Vec::new(),
            key_share_pending: true,
            queue: VecDeque::new(),
        }
    }

    /// The device's keys as a session starter sees them.
    pub fn bundle(&self, one_time_prekey: Option<(u32, [u8; 32])>) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            identity_key: self.identity_key,
            signed_prekey_id: self.signed_prekey.id,
            signed_prekey: self.signed_prekey.public,
            signed_prekey_signature: self.signed_prekey.signature,
            one_time_prekey,
        }
    }
}

/// A simulated phone: the primary device of an account, and its account.
pub(crate) struct Account {
    /// The phone itself: device 0, addressed by phone number.
    pub address: DeviceAddress,
    pub lid_user: String,
    /// The account's 1:1 chats moved to LID addressing: its devices
    /// address others by LID (the server refuses their phone-number
    /// sends, and their LID sends before the move).
    pub lid_migrated: bool,
    /// Account signing key (ADV): signs companion device identities.
    pub signing_key: KeyPair,
    /// The phone's own Signal identity (device 0): its public half is the
    /// `primary_identity_pub` of linking codes.
    pub identity: KeyPair,
    /// Signal registration id of the phone's own device.
    pub registration_id: u32,
    /// The account's app-state sync key, shared with every companion.
    pub app_state_key: AppStateKey,
    pub raw_id: u32,
    pub next_device: u16,
    pub devices: BTreeMap<u16, Device>,
    /// When the set of companions last changed: the `ts` of the phone's
    /// signed key index list.
    pub devices_changed_at: u64,
    /// The phone as a Signal participant (prekeys, sessions, what it
    /// received).
    pub signal: PhoneSignal,
}

impl Account {
    /// A new account for `address` (device 0 of its number) with fresh
    /// keys and a random LID, created `now` (Unix seconds).
    pub fn new(address: DeviceAddress, now: u64) -> Self {
        let mut rng = rand::thread_rng();
        let raw_id = rng.gen_range(1..u32::MAX);
        let identity = KeyPair::generate();
        let signal = PhoneSignal::new(&identity);
        Account {
            address,
            lid_user: rng
                .gen_range(100_000_000_000_000u64..1_000_000_000_000_000)
                .to_string(),
            lid_migrated: false,
            signing_key: KeyPair::generate(),
            identity,
            registration_id: crate::signal::registration_id(),
            app_state_key: AppStateKey::generate(raw_id, now.saturating_mul(1000)),
            raw_id,
            next_device: 1,
            devices: BTreeMap::new(),
            devices_changed_at: now,
            signal,
        }
    }

    /// The phone number.
    pub fn number(&self) -> &str {
        self.address.user()
    }

    /// Device `id` of the account by phone number.
    pub fn device_address(&self, id: u16) -> DeviceAddress {
        self.address.with_device(id)
    }

    /// `LIDUSER:N@lid`: device `id` of the account by LID.
    pub fn lid_jid(&self, id: u16) -> Jid {
        Jid::lid(self.lid_user.clone()).with_device(id)
    }

    /// Device `id` of the account as a LID device address.
    pub fn lid_address(&self, id: u16) -> DeviceAddress {
        // A LID user is digits by construction (`Account::new`).
        DeviceAddress::lid(self.lid_user.clone(), id).unwrap_or_else(|| self.device_address(id))
    }

    /// Device `id` of the account in namespace `addressing`.
    pub fn address_in(&self, id: u16, addressing: Addressing) -> DeviceAddress {
        match addressing {
            Addressing::Pn => self.device_address(id),
            Addressing::Lid => self.lid_address(id),
        }
    }

    /// The namespace the account's devices address 1:1 chats in.
    pub fn addressing(&self) -> Addressing {
        if self.lid_migrated {
            Addressing::Lid
        } else {
            Addressing::Pn
        }
    }

    /// The `ts` and signed content of the account's `<key-index-list>`:
    /// its current companions' key indexes, signed by the account (`None`
    /// without companions: clients ignore a companion list without it).
    pub fn key_index_list(&self) -> Option<(u64, Vec<u8>)> {
        if self.devices.is_empty() {
            return None;
        }
        let valid: Vec<u32> = self.devices.values().map(|d| d.key_index).collect();
        let current = u32::from(self.next_device.saturating_sub(1));
        let ts = self.devices_changed_at;
        let signed = sign_key_index_list(&self.signing_key, self.raw_id, ts, current, valid);
        Some((ts, signed))
    }

    /// The next device id of the account.
    pub fn allocate_device(&mut self) -> Result<u16, SimError> {
        let device_id = self.next_device;
        self.next_device = device_id
            .checked_add(1)
            .ok_or_else(|| SimError::BadRequest("phone has no device ids left".into()))?;
        Ok(device_id)
    }

    /// Adds a companion `now`.
    pub fn link(&mut self, id: u16, device: Device, now: u64) {
        self.devices.insert(id, device);
        self.devices_changed_at = now;
    }

    /// Removes a companion `now`; true when it existed.
    pub fn remove_device(&mut self, id: u16, now: u64) -> bool {
        let removed = self.devices.remove(&id).is_some();
        if removed {
            self.devices_changed_at = now;
        }
        removed
    }

    /// WhatsApp reinstalled on the phone: a new Signal identity, no
    /// sessions or prekeys; what the user saw before stays visible.
    pub fn reinstall(&mut self) {
        self.identity = KeyPair::generate();
        self.registration_id = crate::signal::registration_id();
        let old = std::mem::replace(&mut self.signal, PhoneSignal::new(&self.identity));
        self.signal.received = old.received;
        self.signal.receipts = old.receipts;
    }

    /// The phone's bundle with a freshly minted one-time prekey.
    pub fn phone_bundle(&mut self) -> PreKeyBundle {
        self.signal
            .mint_bundle(self.registration_id, self.identity.public)
    }
}
