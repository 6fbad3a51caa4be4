//! Two-slot files for state rewritten on every message (Signal sessions).
//!
//! `write_atomic` creates a temporary file and renames it over the old
//! one: crash-safe, but each write allocates an inode and frees another,
//! which the profile of `wasp bench` showed as ~30% of the engine's CPU.
//! A slotted file is two files, `NAME.a` and `NAME.b`, each holding a
//! header (magic, sequence number, length, checksum) and one version. A
//! write overwrites the slot holding the older version in place; a read
//! takes the valid slot with the higher sequence number. A write torn by a
//! crash fails its checksum, so the read falls back to the previous
//! version: the same old-or-new guarantee as `write_atomic`, without
//! creating files after the first two writes.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::StoreError;

const MAGIC: &[u8; 4] = b"WSL1";
/// magic, sequence (u64), length (u32), checksum (first 8 bytes of SHA-256
/// over sequence, length and body).
const HEADER: usize = 4 + 8 + 4 + 8;

/// The two slot paths of `name` in `dir`.
fn slot_paths(dir: &Path, name: &str) -> [std::path::PathBuf; 2] {
    [dir.join(format!("{name}.a")), dir.join(format!("{name}.b"))]
}

fn checksum(seq: u64, body: &[u8]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(seq.to_be_bytes());
    h.update((body.len() as u32).to_be_bytes());
    h.update(body);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize()[..8]);
    out
}

/// A slot's version: (sequence, body), or `None` when missing or invalid.
fn read_slot(path: &Path) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let mut bytes = Vec::new();
    match fs::File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)
                .map_err(|e| StoreError::io(path, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, e)),
    }
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return Ok(None);
    }
    let seq = u64::from_be_bytes(bytes[4..12].try_into().unwrap_or_default());
    let len = u32::from_be_bytes(bytes[12..16].try_into().unwrap_or_default()) as usize;
    let Some(body) = bytes.get(HEADER..HEADER + len) else {
        return Ok(None);
    };
    if bytes[16..24] != checksum(seq, body) {
        return Ok(None);
    }
    Ok(Some((seq, body.to_vec())))
}

/// The newest valid version of `name`, with its slot index and sequence.
pub fn newest(dir: &Path, name: &str) -> Result<Option<(usize, u64, Vec<u8>)>, StoreError> {
    let mut best: Option<(usize, u64, Vec<u8>)> = None;
    for (i, path) in slot_paths(dir, name).iter().enumerate() {
        if let Some((seq, body)) = read_slot(path)? {
            if best.as_ref().is_none_or(|(_, s, _)| seq > *s) {
                best = Some((i, seq, body));
            }
        }
    }
    Ok(best)
}

/// The newest version of slotted file `name`, `None` if it has none.
pub fn read(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(newest(dir, name)?.map(|(_, _, body)| body))
}

/// Writes a new version of `name` into the older slot, in place. It is
/// durable only after the caller's next flush.
#[cfg(test)]
pub fn write(dir: &Path, name: &str, body: &[u8]) -> Result<(), StoreError> {
    let newest = newest(dir, name)?.map(|(slot, seq, _)| (slot, seq));
    write_after(dir, name, body, newest).map(|_| ())
}

/// Writes a new version of `name` into the older slot, in place, given
/// the newest version's slot and sequence (`newest`, `None`: there is
/// none); returns the new version's. It is durable only after the
/// caller's next flush.
pub fn write_after(
    dir: &Path,
    name: &str,
    body: &[u8],
    newest: Option<(usize, u64)>,
) -> Result<(usize, u64), StoreError> {
    let (slot, seq) = match newest {
        Some((i, seq)) => (1 - i, seq + 1),
        None => (0, 1),
    };
    let path = &slot_paths(dir, name)[slot];
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&checksum(seq, body));
    out.extend_from_slice(body);
    let mut file = super::modes::private_file()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    // No truncation: the header's length says where the version ends,
    // and bytes an older, longer version left after it are never read.
    // (Truncating cost an `ftruncate` per write: a journaled inode change,
    // 3% of serve's CPU per text.)
    file.write_all(&out).map_err(|e| StoreError::io(path, e))?;
    if cfg!(not(target_os = "linux")) {
        file.sync_all().map_err(|e| StoreError::io(path, e))?;
    }
    Ok((slot, seq))
}

/// Deletes both slots.
pub fn remove(dir: &Path, name: &str) -> Result<(), StoreError> {
    for path in slot_paths(dir, name) {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(path, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shorter_version_reads_back_without_the_tail_before_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "s", b"a long first version").unwrap();
        write(dir, "s", b"a long second version").unwrap();
        write(dir, "s", b"3").unwrap();
        assert_eq!(read(dir, "s").unwrap().as_deref(), Some(&b"3"[..]));
        write(dir, "s", b"4").unwrap();
        assert_eq!(read(dir, "s").unwrap().as_deref(), Some(&b"4"[..]));
    }

    #[test]
    fn versions_alternate_and_a_torn_write_falls_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert_eq!(read(dir, "s").unwrap(), None);
        write(dir, "s", b"one").unwrap();
        write(dir, "s", b"two, longer").unwrap();
        write(dir, "s", b"3").unwrap();
        assert_eq!(read(dir, "s").unwrap().as_deref(), Some(&b"3"[..]));
        // Tear the newest slot (slot a holds versions 1 and 3): the one
        // byte of its body (what follows is the tail of version 1).
        let a = dir.join("s.a");
        let mut bytes = fs::read(&a).unwrap();
        bytes[HEADER] ^= 0xff;
        fs::write(&a, &bytes).unwrap();
        assert_eq!(
            read(dir, "s").unwrap().as_deref(),
            Some(&b"two, longer"[..])
        );
        // A truncated slot is invalid too.
        fs::write(&a, &bytes[..10]).unwrap();
        assert_eq!(
            read(dir, "s").unwrap().as_deref(),
            Some(&b"two, longer"[..])
        );
        // The next write replaces the invalid slot, not the good one.
        write(dir, "s", b"four").unwrap();
        assert_eq!(read(dir, "s").unwrap().as_deref(), Some(&b"four"[..]));
        remove(dir, "s").unwrap();
        assert_eq!(read(dir, "s").unwrap(), None);
    }
}
