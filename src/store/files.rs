//! The file implementation of the auth store, the single-node default:
//! one directory per session under the data root.
//!
//! `DATA/<id>/creds.json` (atomic replace), `prekeys.json.{a,b}` (a JSON
//! array of `{"id", "private"}` in two slots, rewritten in place: every
//! first message received drops a key, and a rename per drop allocated an
//! inode and freed one; a whole `prekeys.json` an earlier version wrote is
//! read until the first write replaces it), one two-slot file per peer
//! device, `session-<user>[_lid].<device>.json.{a,b}` (rewritten in place,
//! `slots`), and one tiny file per LID↔phone-number mapping and direction,
//! `lid-of-<pn>` and `pn-of-<lid>` (a lookup reads one small file, never a
//! map of every contact), one two-slot file per (group, sender device)
//! sender key, `skey-<group>.<user>[_lid].<device>.json.{a,b}`, and per
//! group the devices holding our own sender key, `skdevs-<group>.json`,
//! and per received file the record to fetch it by, `media-<message id>`
//! (pruned by age, by the file's modification time). The names are part of the on-disk format:
//! existing data directories keep working.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::auth::{AuthStore, AuthStores};
use super::dir::{DataDir, SessionDir};
use super::error::StoreError;
use super::names;
use crate::types::DeviceAddress;

pub const CREDS_FILE: &str = "creds.json";
/// One-time prekeys generated so far (their private keys are needed to
/// answer the first message of a new Signal session).
pub const PREKEYS_FILE: &str = "prekeys.json";

/// Every session's auth state in a data directory.
#[derive(Clone, Debug)]
pub struct FileStores {
    data: DataDir,
}

impl FileStores {
    pub fn new(data: DataDir) -> FileStores {
        FileStores { data }
    }
}

impl AuthStores for FileStores {
    fn open(&self, id: &str) -> Result<Arc<dyn AuthStore>, StoreError> {
        Ok(Arc::new(FileAuthStore::new(self.data.session(id)?)))
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        self.data.list_sessions()
    }

    fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.data.remove_session(id)
    }
}

/// One session's auth state in its directory.
#[derive(Clone, Debug)]
pub struct FileAuthStore {
    dir: SessionDir,
}

/// A one-time prekey as `prekeys.json` holds it.
#[derive(Serialize, Deserialize)]
struct StoredPreKey {
    id: u32,
    /// Base64 of the 32-byte private key.
    private: String,
}

impl FileAuthStore {
    pub fn new(dir: SessionDir) -> FileAuthStore {
        FileAuthStore { dir }
    }

    /// The directory (tests and tools read the files directly).
    pub fn dir(&self) -> &SessionDir {
        &self.dir
    }

    fn stored_prekeys(&self) -> Result<Vec<StoredPreKey>, StoreError> {
        // Not through the hot-file cache: read once per first message
        // received, a few KiB that would push out the peers' records.
        let bytes = match self.dir.read_slotted_uncached(PREKEYS_FILE)? {
            Some(bytes) => Some(bytes),
            None => self.dir.read(PREKEYS_FILE)?,
        };
        match bytes {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{PREKEYS_FILE}: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    fn write_prekeys(&self, keys: &[StoredPreKey]) -> Result<(), StoreError> {
        // Serializing plain data cannot fail.
        let json = serde_json::to_vec(keys).unwrap_or_default();
        self.dir.write_slotted(&[(PREKEYS_FILE, &json)])?;
        // The whole file an earlier version wrote goes once the slots
        // hold its successor on disk.
        self.dir.remove_after_flush(PREKEYS_FILE)
    }
}

/// The file holding what is kept with one peer device: only digits, dots
/// and underscores, so always a valid store file name.
pub fn peer_file(device: &DeviceAddress) -> String {
    let kind = if device.is_lid() { "_lid" } else { "" };
    format!("session-{}{kind}.{}.json", device.user(), device.device())
}

/// The two-slot file of one sender's key in one group:
/// `skey-<group>.<user>[_lid].<device>.json`.
fn sender_key_file(group: &str, sender: &DeviceAddress) -> Result<String, StoreError> {
    Ok(format!(
        "skey-{}.{}",
        names::group_id(group)?,
        peer_file(sender).trim_start_matches("session-")
    ))
}

/// The devices holding our sender key for a group: `skdevs-<group>.json`,
/// a JSON array of device JIDs.
fn sender_key_devices_file(group: &str) -> Result<String, StoreError> {
    Ok(format!("skdevs-{}.json", names::group_id(group)?))
}

/// `<kind>-<user>`, for a user of digits only (anything else could name
/// another file).
fn mapping_file(kind: &str, user: &str) -> Result<String, StoreError> {
    Ok(format!("{kind}-{}", names::mapping_user(kind, user)?))
}

/// `media-<id>`, for a message id a file name can hold.
fn media_file(id: &str) -> Result<String, StoreError> {
    Ok(format!("{MEDIA_PREFIX}{}", names::message_id(id)?))
}

const MEDIA_PREFIX: &str = "media-";

/// A mapping file's user, `None` when absent (or not digits: a damaged
/// file is no mapping, learned again later).
fn read_user(dir: &SessionDir, name: &str) -> Result<Option<String>, StoreError> {
    // From the cache when hot: every send and receive checks the
    // mappings it learned against these before writing them again.
    Ok(dir
        .read_hot(name)?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|user| !user.is_empty() && user.bytes().all(|b| b.is_ascii_digit())))
}

impl AuthStore for FileAuthStore {
    fn prepare(&self) -> Result<(), StoreError> {
        self.dir.create()
    }

    fn load_creds(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.dir.read(CREDS_FILE)
    }

    fn save_creds(&self, creds: &[u8]) -> Result<(), StoreError> {
        self.dir.write_atomic(CREDS_FILE, creds)
    }

    fn prekey(&self, id: u32) -> Result<Option<[u8; 32]>, StoreError> {
        let Some(key) = self.stored_prekeys()?.into_iter().find(|k| k.id == id) else {
            return Ok(None);
        };
        let private = STANDARD
            .decode(&key.private)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{PREKEYS_FILE}: key {id} is not 32 bytes"))
            })?;
        Ok(Some(private))
    }

    fn prekey_ids(&self) -> Result<Vec<u32>, StoreError> {
        let mut ids: Vec<u32> = self.stored_prekeys()?.iter().map(|k| k.id).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn add_prekeys(&self, keys: &[(u32, [u8; 32])]) -> Result<(), StoreError> {
        let mut all = self.stored_prekeys()?;
        all.retain(|k| !keys.iter().any(|(id, _)| *id == k.id));
        all.extend(keys.iter().map(|(id, private)| StoredPreKey {
            id: *id,
            private: STANDARD.encode(private),
        }));
        self.write_prekeys(&all)
    }

    fn remove_prekey(&self, id: u32) -> Result<(), StoreError> {
        let mut all = self.stored_prekeys()?;
        let before = all.len();
        all.retain(|k| k.id != id);
        if all.len() != before {
            self.write_prekeys(&all)?;
        }
        Ok(())
    }

    fn peer(&self, device: &DeviceAddress) -> Result<Option<Vec<u8>>, StoreError> {
        self.dir.read_slotted(&peer_file(device))
    }

    fn save_peers(&self, peers: &[(&DeviceAddress, &[u8])]) -> Result<(), StoreError> {
        let names: Vec<String> = peers.iter().map(|(d, _)| peer_file(d)).collect();
        let files: Vec<(&str, &[u8])> = names
            .iter()
            .zip(peers)
            .map(|(name, (_, bytes))| (name.as_str(), *bytes))
            .collect();
        self.dir.write_slotted(&files)
    }

    fn move_peer(&self, from: &DeviceAddress, to: &DeviceAddress) -> Result<bool, StoreError> {
        let (from_file, to_file) = (peer_file(from), peer_file(to));
        if self.dir.read_slotted(&to_file)?.is_some() {
            return Ok(false);
        }
        let Some(state) = self.dir.read_slotted(&from_file)? else {
            return Ok(false);
        };
        // The new copy is durable before the old one goes: a crash in
        // between leaves both, and the next move finds `to` taken.
        self.dir.write_slotted(&[(&to_file, &state)])?;
        self.dir.remove_slotted(&from_file)?;
        Ok(true)
    }

    fn lid_of(&self, pn_user: &str) -> Result<Option<String>, StoreError> {
        read_user(&self.dir, &mapping_file("lid-of", pn_user)?)
    }

    fn pn_of(&self, lid_user: &str) -> Result<Option<String>, StoreError> {
        read_user(&self.dir, &mapping_file("pn-of", lid_user)?)
    }

    fn put_lid_mappings(&self, pairs: &[(&str, &str)]) -> Result<(), StoreError> {
        let mut writes: Vec<(String, String)> = Vec::new();
        for &(lid, pn) in pairs {
            let old = self.lid_of(pn)?;
            if old.as_deref() == Some(lid) && self.pn_of(lid)?.as_deref() == Some(pn) {
                continue;
            }
            if let Some(old) = old.filter(|old| old != lid) {
                self.dir.remove(&mapping_file("pn-of", &old)?)?;
            }
            writes.push((mapping_file("lid-of", pn)?, lid.to_string()));
            writes.push((mapping_file("pn-of", lid)?, pn.to_string()));
        }
        if writes.is_empty() {
            return Ok(());
        }
        let files: Vec<(&str, &[u8])> = writes
            .iter()
            .map(|(name, user)| (name.as_str(), user.as_bytes()))
            .collect();
        // A damaged mapping reads as none and is learned again: one
        // flush is enough (first contacts write these on both sides).
        self.dir.write_all_damage_tolerant(&files)
    }

    fn sender_key(
        &self,
        group: &str,
        sender: &DeviceAddress,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.dir.read_slotted(&sender_key_file(group, sender)?)
    }

    fn save_sender_key(
        &self,
        group: &str,
        sender: &DeviceAddress,
        state: &[u8],
    ) -> Result<(), StoreError> {
        self.dir
            .write_slotted(&[(&sender_key_file(group, sender)?, state)])
    }

    fn remove_sender_key(&self, group: &str, sender: &DeviceAddress) -> Result<(), StoreError> {
        self.dir.remove_slotted(&sender_key_file(group, sender)?)
    }

    fn sender_key_devices(&self, group: &str) -> Result<Vec<DeviceAddress>, StoreError> {
        let name = sender_key_devices_file(group)?;
        let Some(bytes) = self.dir.read(&name)? else {
            return Ok(Vec::new());
        };
        let jids: Vec<String> = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))?;
        Ok(names::devices(&jids))
    }

    fn add_sender_key_devices(
        &self,
        group: &str,
        devices: &[DeviceAddress],
    ) -> Result<(), StoreError> {
        let mut all = self.sender_key_devices(group)?;
        let before = all.len();
        for device in devices {
            if !all.contains(device) {
                all.push(device.clone());
            }
        }
        if all.len() == before {
            return Ok(());
        }
        let jids: Vec<String> = all.iter().map(ToString::to_string).collect();
        // Serializing plain strings cannot fail.
        let json = serde_json::to_vec(&jids).unwrap_or_default();
        self.dir
            .write_atomic(&sender_key_devices_file(group)?, &json)
    }

    fn reset_sender_key_devices(&self, group: &str) -> Result<(), StoreError> {
        self.dir.remove(&sender_key_devices_file(group)?)
    }

    fn wipe(&self, tombstone: &[u8]) -> Result<(), StoreError> {
        self.save_creds(tombstone)?;
        self.dir.remove_slotted(PREKEYS_FILE)?;
        self.dir.remove(PREKEYS_FILE)
    }

    fn put_media(&self, id: &str, record: &[u8]) -> Result<(), StoreError> {
        self.dir.write_atomic(&media_file(id)?, record)
    }

    fn media(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match media_file(id) {
            Ok(name) => self.dir.read(&name),
            // No record can exist under a name no file can have.
            Err(_) => Ok(None),
        }
    }

    fn prune_media(&self, age: std::time::Duration) -> Result<usize, StoreError> {
        self.dir.remove_older_than(MEDIA_PREFIX, age)
    }

    fn defers_flushes(&self) -> bool {
        true
    }
}
