//! The file implementation of the auth store, the single-node default:
//! one directory per session under the data root.
//!
//! `DATA/<id>/creds.json` (atomic replace), `prekeys.json` (a JSON array of
//! `{"id", "private"}`, atomic replace) and one two-slot file per peer
//! device, `session-<user>[_lid].<device>.json.{a,b}` (rewritten in place,
//! `slots`). The names are part of the on-disk format: existing data
//! directories keep working.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::auth::{AuthStore, AuthStores};
use super::dir::{DataDir, SessionDir};
use super::error::StoreError;
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
        match self.dir.read(PREKEYS_FILE)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{PREKEYS_FILE}: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    fn write_prekeys(&self, keys: &[StoredPreKey]) -> Result<(), StoreError> {
        // Serializing plain data cannot fail.
        let json = serde_json::to_vec(keys).unwrap_or_default();
        self.dir.write_atomic(PREKEYS_FILE, &json)
    }
}

/// The file holding what is kept with one peer device: only digits, dots
/// and underscores, so always a valid store file name.
pub fn peer_file(device: &DeviceAddress) -> String {
    let kind = if device.is_lid() { "_lid" } else { "" };
    format!("session-{}{kind}.{}.json", device.user(), device.device())
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

    fn wipe(&self, tombstone: &[u8]) -> Result<(), StoreError> {
        self.save_creds(tombstone)?;
        self.dir.remove(PREKEYS_FILE)
    }
}
