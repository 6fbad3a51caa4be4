//! The interface to one session's auth state, whatever keeps it.
//!
//! The store keeps bytes and keys; what the documents mean (the JSON of
//! credentials, a peer device's Signal session) is the client's business.
//! Every call is blocking and every write is durable when it returns, so
//! callers run them off the async workers and may rely on "written before
//! anything that depends on it leaves".

use std::fmt;
use std::sync::Arc;

use super::error::StoreError;
use crate::types::DeviceAddress;

/// One session's auth state: what it needs to log in again and to keep
/// its Signal sessions with every peer device.
pub trait AuthStore: Send + Sync + fmt::Debug {
    /// Makes the store ready (creates what is missing, drops what an
    /// interrupted write left behind). Called once before anything else.
    fn prepare(&self) -> Result<(), StoreError>;

    /// The credentials document; `None` before the first save.
    fn load_creds(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the credentials document: after a crash it reads as the
    /// old or the new one, never a mix.
    fn save_creds(&self, creds: &[u8]) -> Result<(), StoreError>;

    /// The private key of one-time prekey `id`, while it is kept.
    fn prekey(&self, id: u32) -> Result<Option<[u8; 32]>, StoreError>;

    /// Ids of every one-time prekey kept, ascending.
    fn prekey_ids(&self) -> Result<Vec<u32>, StoreError>;

    /// Keeps freshly generated one-time prekeys (id, private key).
    fn add_prekeys(&self, keys: &[(u32, [u8; 32])]) -> Result<(), StoreError>;

    /// Forgets a one-time prekey a first message used up; a missing one is
    /// not an error.
    fn remove_prekey(&self, id: u32) -> Result<(), StoreError>;

    /// What is kept with one peer device; `None` when nothing is.
    fn peer(&self, device: &DeviceAddress) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces what is kept with several peer devices; after a crash each
    /// reads as its old or its new version.
    fn save_peers(&self, peers: &[(&DeviceAddress, &[u8])]) -> Result<(), StoreError>;

    /// Moves what is kept with `from` to `to`, when `to` has nothing yet
    /// (a contact's sessions move from its phone number to its LID).
    /// After a crash the state is at one of the two, never lost. Returns
    /// whether anything moved.
    fn move_peer(&self, from: &DeviceAddress, to: &DeviceAddress) -> Result<bool, StoreError>;

    /// The LID user a phone-number user is known by (both are digits),
    /// once learned.
    fn lid_of(&self, pn_user: &str) -> Result<Option<String>, StoreError>;

    /// The phone-number user behind a LID user, once learned.
    fn pn_of(&self, lid_user: &str) -> Result<Option<String>, StoreError>;

    /// Keeps LID↔phone-number pairs `(lid user, pn user)`, digits only; a
    /// phone number given a new LID forgets the old one both ways.
    fn put_lid_mappings(&self, pairs: &[(&str, &str)]) -> Result<(), StoreError>;

    /// The sender-key state of `sender` in group `group` (the group JID's
    /// user part: digits and dashes); `None` when none is kept.
    fn sender_key(
        &self,
        group: &str,
        sender: &DeviceAddress,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the sender-key state of `sender` in `group`; after a crash
    /// it reads as its old or its new version.
    fn save_sender_key(
        &self,
        group: &str,
        sender: &DeviceAddress,
        state: &[u8],
    ) -> Result<(), StoreError>;

    /// Forgets the sender-key state of `sender` in `group` (our own, to
    /// start a new chain when members leave); a missing one is no error.
    fn remove_sender_key(&self, group: &str, sender: &DeviceAddress) -> Result<(), StoreError>;

    /// The devices that already hold our sender key for `group`, in the
    /// order they were added.
    fn sender_key_devices(&self, group: &str) -> Result<Vec<DeviceAddress>, StoreError>;

    /// Adds devices to those holding our sender key for `group` (ones
    /// already there are kept once).
    fn add_sender_key_devices(
        &self,
        group: &str,
        devices: &[DeviceAddress],
    ) -> Result<(), StoreError>;

    /// Forgets which devices hold our sender key for `group` (its members
    /// changed): the next message distributes it to every device again.
    fn reset_sender_key_devices(&self, group: &str) -> Result<(), StoreError>;

    /// Logs the device out: `tombstone` replaces the credentials and every
    /// one-time prekey is deleted, so nothing usable to log in remains.
    fn wipe(&self, tombstone: &[u8]) -> Result<(), StoreError>;

    /// Keeps what fetching the file of received message `id` takes (an
    /// opaque record: its media key, hashes and path), replacing an
    /// earlier record for that id.
    fn put_media(&self, id: &str, record: &[u8]) -> Result<(), StoreError>;

    /// The record kept for message `id`, `None` if there is none (never
    /// kept, or forgotten).
    fn media(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Forgets the media records kept longer than `age`; how many went.
    fn prune_media(&self, age: std::time::Duration) -> Result<usize, StoreError>;

    /// Whether a write through this store was refused with
    /// [`StoreError::Fenced`]: another owner runs the session now, and
    /// whoever holds this store must stop it. Never, for stores that
    /// belong to one node.
    fn fenced(&self) -> bool {
        false
    }

    /// Whether this store's writes honour [`super::deferring_flushes`]:
    /// inside it they return once their data is in the page cache, and
    /// the caller awaits the flushes it gets back. A store that talks to
    /// a server or waits for its own commits answers no, and light work
    /// on it keeps to the blocking pool.
    fn defers_flushes(&self) -> bool {
        false
    }
}

/// Where every session's auth state lives: one [`AuthStore`] per session
/// id (`[A-Za-z0-9_-]{1,64}`).
pub trait AuthStores: Send + Sync + fmt::Debug {
    /// The store of session `id` (nothing is created before
    /// [`AuthStore::prepare`]).
    fn open(&self, id: &str) -> Result<Arc<dyn AuthStore>, StoreError>;

    /// Makes this node the owner of session `id`'s state from now on:
    /// stores of it opened before, here or on any other node sharing the
    /// state, are fenced (their writes fail with
    /// [`StoreError::Fenced`] and change nothing). The host claims each
    /// session it starts. Files belong to one node: nothing to do.
    fn claim(&self, id: &str) -> Result<(), StoreError> {
        let _ = id;
        Ok(())
    }

    /// Ids of the sessions that have state, sorted.
    fn list(&self) -> Result<Vec<String>, StoreError>;

    /// Deletes everything of session `id`; a missing one is not an error.
    fn remove(&self, id: &str) -> Result<(), StoreError>;
}
