//! The simulator's certificate authority: a root key clients are told to
//! trust, an intermediate, and a leaf certifying the server's Noise static
//! key (the same three-level chain WhatsApp's servers present).
//!
//! The root private key may live in a file so that a restarted simulator
//! is still trusted by clients configured with its root public key.
//!
//! Owns: the root key (and its file) and issuing chains. Must not touch:
//! the Noise handshake (`wire::socket`), connections.

use std::io;
use std::path::Path;

use rand::Rng as _;

use crate::crypto::KeyPair;
use crate::wire::cert::issue_chain;
use crate::wire::socket::ServerIdentity;

/// How far back a fresh chain's validity starts, to forgive clock skew.
const VALIDITY_BACKDATE_SECS: u64 = 24 * 3600;
/// How long a fresh chain stays valid.
const VALIDITY_SECS: u64 = 365 * 24 * 3600;

/// Holds the root key pair and issues server identities under it.
pub struct Authority {
    root: KeyPair,
}

impl Authority {
    /// A new random root.
    pub fn generate() -> Self {
        Authority {
            root: KeyPair::generate(),
        }
    }

    /// Reads the root private key (64 hex characters) from `path`, or
    /// creates the file with a new random key when it does not exist.
    pub fn load_or_create(path: &Path) -> io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim()).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: root key is not hex: {e}", path.display()),
                    )
                })?;
                let private = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: root key has {} bytes, expected 32",
                            path.display(),
                            bytes.len()
                        ),
                    )
                })?;
                Ok(Authority {
                    root: KeyPair::from_private(private),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let authority = Self::generate();
                write_private_file(path, hex::encode(authority.root.private).as_bytes())?;
                Ok(authority)
            }
            Err(e) => Err(e),
        }
    }

    /// The public key clients must trust.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.root.public
    }

    /// A fresh Noise static key with a chain (root -> new intermediate ->
    /// leaf for that key) valid around `now_unix`.
    pub fn issue_server_identity(&self, now_unix: u64) -> ServerIdentity {
        let intermediate = KeyPair::generate();
        let static_key = KeyPair::generate();
        let mut rng = rand::thread_rng();
        let intermediate_serial = rng.gen_range(1..u32::MAX);
        let leaf_serial = rng.gen_range(1..u32::MAX);
        let not_before = now_unix.saturating_sub(VALIDITY_BACKDATE_SECS);
        let not_after = now_unix.saturating_add(VALIDITY_SECS);
        let cert_chain = issue_chain(
            &self.root,
            &intermediate,
            intermediate_serial,
            &static_key.public,
            leaf_serial,
            not_before,
            not_after,
        );
        ServerIdentity {
            static_key,
            cert_chain,
        }
    }
}

/// Writes a secret file readable by its owner only, atomically.
fn write_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_key_file_keeps_the_root_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let first = Authority::load_or_create(&path).unwrap();
        let second = Authority::load_or_create(&path).unwrap();
        assert_eq!(first.root_public_key(), second.root_public_key());
        assert_ne!(
            first.root_public_key(),
            Authority::generate().root_public_key()
        );
    }

    #[test]
    fn corrupt_root_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        std::fs::write(&path, "not hex").unwrap();
        let err = Authority::load_or_create(&path).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        std::fs::write(&path, "abcd").unwrap();
        let err = Authority::load_or_create(&path).err().unwrap();
        assert!(err.to_string().contains("expected 32"), "{err}");
    }
}
