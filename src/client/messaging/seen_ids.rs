//! The ids of the last messages received on one record (a peer device's
//! session, a group sender's key), used to drop a message the server
//! delivers twice.
//!
//! A record holds up to [`SEEN_PER_PEER`] ids and is loaded with every
//! message, so they live packed in one buffer, oldest first, each a
//! varint length then the id's bytes: as separate strings they were
//! hundreds of allocations per load. Binary records store that buffer as
//! it is (`proto/stored.proto`); JSON records hold an array of strings.

use prost::encoding::{decode_varint, encode_varint};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How many received message ids are remembered per record: enough for
/// any redelivery burst after a reconnect, small on disk.
pub const SEEN_PER_PEER: usize = 256;

/// The ids of the last [`SEEN_PER_PEER`] messages received on one record.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SeenIds {
    packed: Vec<u8>,
    count: usize,
}

impl SeenIds {
    /// Whether message `id` is among them.
    pub fn has(&self, id: &str) -> bool {
        self.ids().any(|seen| seen == id.as_bytes())
    }

    /// Remembers message `id`, forgetting the oldest beyond
    /// [`SEEN_PER_PEER`].
    pub fn remember(&mut self, id: &str) {
        encode_varint(id.len() as u64, &mut self.packed);
        self.packed.extend_from_slice(id.as_bytes());
        self.count += 1;
        self.forget_beyond_limit();
    }

    /// The packed form, as binary records store it.
    pub fn packed(&self) -> &[u8] {
        &self.packed
    }

    /// The ids from their packed form; an error names the damage. More
    /// than [`SEEN_PER_PEER`] keeps the newest.
    pub fn from_packed(packed: Vec<u8>) -> Result<SeenIds, String> {
        let mut rest = packed.as_slice();
        let mut count = 0;
        while !rest.is_empty() {
            let at = packed.len() - rest.len();
            let id =
                next_id(&mut rest).ok_or_else(|| format!("seen message ids cut at byte {at}"))?;
            if std::str::from_utf8(id).is_err() {
                return Err(format!("seen message id at byte {at} is not text"));
            }
            count += 1;
        }
        let mut seen = SeenIds { packed, count };
        seen.forget_beyond_limit();
        Ok(seen)
    }

    /// Drops the oldest ids while there are more than [`SEEN_PER_PEER`].
    fn forget_beyond_limit(&mut self) {
        while self.count > SEEN_PER_PEER {
            let mut rest = self.packed.as_slice();
            let oldest = match next_id(&mut rest) {
                Some(_) => self.packed.len() - rest.len(),
                None => self.packed.len(),
            };
            self.packed.drain(..oldest);
            self.count -= 1;
        }
    }

    /// The ids, oldest first, as bytes, up to the first damaged entry.
    fn ids(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.packed.as_slice();
        std::iter::from_fn(move || next_id(&mut rest))
    }
}

/// The id at the front of `rest` (a varint length, then the id), and
/// `rest` moved past it; `None` when that entry is cut or damaged.
fn next_id<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut after_len: &'a [u8] = rest;
    let id_len = usize::try_from(decode_varint(&mut after_len).ok()?).ok()?;
    let (id, after) = after_len.split_at_checked(id_len)?;
    *rest = after;
    Some(id)
}

impl Serialize for SeenIds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Every id went in as a `&str` or was checked to be text.
        s.collect_seq(self.ids().map(String::from_utf8_lossy))
    }
}

impl<'de> Deserialize<'de> for SeenIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SeenIds, D::Error> {
        let mut seen = SeenIds::default();
        for id in Vec::<String>::deserialize(d)? {
            seen.remember(&id);
        }
        Ok(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_newest_and_forgets_the_oldest() {
        let mut seen = SeenIds::default();
        for i in 0..SEEN_PER_PEER + 3 {
            seen.remember(&format!("ID{i}"));
        }
        assert!(!seen.has("ID0") && !seen.has("ID2"));
        assert!(seen.has("ID3") && seen.has(&format!("ID{}", SEEN_PER_PEER + 2)));
        assert!(!seen.has("ID"), "a prefix of an id is not the id");
        assert_eq!(seen.ids().count(), SEEN_PER_PEER);
    }

    #[test]
    fn long_and_empty_ids_round_trip_packed_and_as_json() {
        let mut seen = SeenIds::default();
        let long = "x".repeat(300); // a two-byte varint
        for id in ["", "3EB0ABC", long.as_str(), "é"] {
            seen.remember(id);
        }
        let packed = SeenIds::from_packed(seen.packed().to_vec()).unwrap();
        assert!(packed == seen);
        let json = serde_json::to_string(&seen).unwrap();
        assert_eq!(json, format!(r#"["","3EB0ABC","{long}","é"]"#));
        assert!(serde_json::from_str::<SeenIds>(&json).unwrap() == seen);
        assert!(packed.has(&long) && packed.has("") && packed.has("é"));
    }

    #[test]
    fn damaged_packed_ids_are_errors() {
        let mut seen = SeenIds::default();
        seen.remember("3EB0ABC");
        let packed = seen.packed().to_vec();
        for cut in 1..packed.len() {
            assert!(SeenIds::from_packed(packed[..cut].to_vec()).is_err());
        }
        assert!(
            SeenIds::from_packed(vec![2, 0xff, 0xfe]).is_err(),
            "not text"
        );
        assert!(
            SeenIds::from_packed(vec![0xff; 11]).is_err(),
            "an endless varint"
        );
    }

    #[test]
    fn more_ids_than_kept_load_as_the_newest() {
        let mut packed = Vec::new();
        for i in 0..SEEN_PER_PEER + 1 {
            let id = format!("ID{i}");
            encode_varint(id.len() as u64, &mut packed);
            packed.extend_from_slice(id.as_bytes());
        }
        let seen = SeenIds::from_packed(packed).unwrap();
        assert!(!seen.has("ID0") && seen.has("ID1"));
    }
}
