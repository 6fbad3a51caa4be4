//! Blobs and upload tokens, bounded: the oldest blob is dropped once the
//! total passes the cap, as a real server's retention would.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use rand::RngCore;

/// Upload tokens kept at most (the oldest forgotten first).
const MAX_TOKENS: usize = 10_000;

/// What `media_conn` hands out: the auth token's lifetime (seconds).
pub(crate) const AUTH_TTL_SECS: u64 = 3_600;

/// A stored upload.
#[derive(Clone)]
pub struct Upload {
    pub bytes: Bytes,
}

/// Expired files the phones still hold, at most (the oldest forgotten
/// first): what they can upload again when a companion asks.
const MAX_EXPIRED: usize = 256;

/// Blobs by file name, and the tokens that may upload.
pub(crate) struct MediaStore {
    blobs: HashMap<String, Upload>,
    /// Files the hosts dropped as expired, by their old name: the phones'
    /// own copies, in the order they expired.
    expired: VecDeque<(String, Upload)>,
    order: VecDeque<String>,
    total: usize,
    cap: usize,
    tokens: HashMap<String, u64>,
    token_order: VecDeque<String>,
}

impl MediaStore {
    /// An empty store holding at most `cap` bytes in all.
    pub fn new(cap: usize) -> MediaStore {
        MediaStore {
            blobs: HashMap::new(),
            expired: VecDeque::new(),
            order: VecDeque::new(),
            total: 0,
            cap,
            tokens: HashMap::new(),
            token_order: VecDeque::new(),
        }
    }

    /// A new upload token, valid until `now + AUTH_TTL_SECS`.
    pub fn issue_token(&mut self, now: u64) -> String {
        let token = random_name(24);
        if self.token_order.len() >= MAX_TOKENS {
            if let Some(old) = self.token_order.pop_front() {
                self.tokens.remove(&old);
            }
        }
        self.tokens.insert(token.clone(), now + AUTH_TTL_SECS);
        self.token_order.push_back(token.clone());
        token
    }

    /// Whether `token` may upload at `now`.
    pub fn token_valid(&self, token: &str, now: u64) -> bool {
        self.tokens.get(token).is_some_and(|&until| now < until)
    }

    /// Keeps `bytes` under a new file name, which it returns.
    pub fn put(&mut self, bytes: Bytes) -> String {
        let name = random_name(16);
        self.total += bytes.len();
        self.blobs.insert(name.clone(), Upload { bytes });
        self.order.push_back(name.clone());
        while self.total > self.cap && self.order.len() > 1 {
            if let Some(old) = self.order.pop_front() {
                self.forget(&old);
            }
        }
        name
    }

    pub fn get(&self, name: &str) -> Option<Upload> {
        self.blobs.get(name).cloned()
    }

    /// The server no longer has the file (expired); whether it had it.
    pub fn forget(&mut self, name: &str) -> bool {
        match self.blobs.remove(name) {
            Some(upload) => {
                self.total -= upload.bytes.len();
                self.order.retain(|n| n != name);
                true
            }
            None => false,
        }
    }

    /// The file expires: the hosts drop it, the phones keep their copy;
    /// whether the hosts had it.
    pub fn expire(&mut self, name: &str) -> bool {
        let Some(upload) = self.blobs.get(name).cloned() else {
            return false;
        };
        self.forget(name);
        if self.expired.len() >= MAX_EXPIRED {
            self.expired.pop_front();
        }
        self.expired.push_back((name.to_string(), upload));
        true
    }

    /// Every file expires; how many there were.
    pub fn expire_all(&mut self) -> usize {
        let names: Vec<String> = self.order.iter().cloned().collect();
        names.iter().filter(|name| self.expire(name)).count()
    }

    /// A phone uploads its copy of expired file `name` again (same bytes:
    /// the key decides them); its new name, if the copy is still held.
    pub fn upload_again(&mut self, name: &str) -> Option<String> {
        let at = self.expired.iter().position(|(n, _)| n == name)?;
        let (_, upload) = self.expired.remove(at)?;
        Some(self.put(upload.bytes))
    }

    /// Overwrites a stored file's byte at `offset` (a test damaging
    /// media in transit); whether there was such a byte.
    pub fn corrupt(&mut self, name: &str, offset: usize) -> bool {
        let Some(upload) = self.blobs.get_mut(name) else {
            return false;
        };
        let mut bytes = upload.bytes.to_vec();
        let Some(b) = bytes.get_mut(offset) else {
            return false;
        };
        *b ^= 0x5a;
        upload.bytes = Bytes::from(bytes);
        true
    }
}

fn random_name(len: usize) -> String {
    let mut raw = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_blobs_go_past_the_cap_and_tokens_expire() {
        let mut store = MediaStore::new(10);
        let a = store.put(Bytes::from_static(b"123456"));
        let b = store.put(Bytes::from_static(b"7890ab"));
        assert!(store.get(&a).is_none(), "over the cap: the oldest goes");
        assert!(store.get(&b).is_some());
        assert!(store.forget(&b));
        assert!(!store.forget(&b));
        let c = store.put(Bytes::from_static(b"cdef"));
        assert!(store.expire(&c));
        assert!(store.get(&c).is_none(), "expired: off the hosts");
        let again = store.upload_again(&c).expect("the phone's copy");
        assert_eq!(
            store.get(&again).map(|u| u.bytes),
            Some(Bytes::from_static(b"cdef"))
        );
        assert_eq!(store.upload_again(&c), None, "uploaded once");
        let token = store.issue_token(100);
        assert!(store.token_valid(&token, 100));
        assert!(!store.token_valid(&token, 100 + AUTH_TTL_SECS));
        assert!(!store.token_valid("nope", 100));
    }
}
