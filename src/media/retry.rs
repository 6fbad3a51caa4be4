//! Asking the phone to upload an expired file again ("media retry", WA
//! Web's `WAWebCryptoMediaRetry`; whatsmeow `mediaretry.go`): the request
//! (a `ServerErrorReceipt` naming the message) and the phone's answer (a
//! `MediaRetryNotification` with the file's new path) travel sealed with
//! AES-256-GCM under a key drawn from the file's own media key, so only
//! holders of the message can ask or read; the message id is the
//! additional data.
//!
//! Owns: sealing and opening both. Must not touch: the stanzas that carry
//! them (`client::media`, the simulator's phone).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use prost::Message as _;

use super::keys::MediaKey;
use crate::crypto::hkdf_sha256;
use crate::proto::{
    media_retry_notification::ResultType, MediaRetryNotification, ServerErrorReceipt,
};

/// The HKDF info the sealing key is expanded under (wacore
/// `media_retry.rs`, whatsmeow `mediaretry.go`).
const RETRY_KEY_LABEL: &[u8] = b"WhatsApp Media Retry Notification";

/// AES-GCM nonce length.
pub const RETRY_IV_LEN: usize = 12;

/// A sealed request or answer: `<enc_p>` and `<enc_iv>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub iv: [u8; RETRY_IV_LEN],
}

/// What the phone answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Uploaded again: the file is at this direct path now.
    Uploaded {
        direct_path: String,
    },
    /// The phone no longer has the message or its file.
    NotFound,
    /// The phone could not open the request.
    DecryptionError,
    GeneralError,
}

/// Why a sealed request or answer was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RetryError {
    #[error("the media retry does not open with this file's key")]
    Unopened,
    #[error("the media retry is not readable: {0}")]
    Malformed(String),
    #[error("the media retry names message {got:?}, not {expected:?}")]
    OtherMessage { expected: String, got: String },
}

fn cipher(media_key: &MediaKey) -> Aes256Gcm {
    let key = hkdf_sha256::<32>(media_key, b"", RETRY_KEY_LABEL);
    // A 32-byte key is always the right length.
    Aes256Gcm::new(&key.into())
}

fn seal(media_key: &MediaKey, id: &str, plaintext: &[u8]) -> Sealed {
    let iv: [u8; RETRY_IV_LEN] = rand::random();
    let payload = Payload {
        msg: plaintext,
        aad: id.as_bytes(),
    };
    // Encrypting into memory cannot fail for inputs this small.
    let ciphertext = cipher(media_key)
        .encrypt(Nonce::from_slice(&iv), payload)
        .unwrap_or_default();
    Sealed { ciphertext, iv }
}

fn open(
    media_key: &MediaKey,
    id: &str,
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, RetryError> {
    if iv.len() != RETRY_IV_LEN {
        return Err(RetryError::Malformed(format!(
            "an IV of {} bytes",
            iv.len()
        )));
    }
    let payload = Payload {
        msg: ciphertext,
        aad: id.as_bytes(),
    };
    cipher(media_key)
        .decrypt(Nonce::from_slice(iv), payload)
        .map_err(|_| RetryError::Unopened)
}

fn same_message(expected: &str, got: Option<String>) -> Result<(), RetryError> {
    match got {
        Some(got) if got != expected => Err(RetryError::OtherMessage {
            expected: expected.to_string(),
            got,
        }),
        _ => Ok(()),
    }
}

/// The sealed request to upload message `id`'s file again.
pub fn seal_request(media_key: &MediaKey, id: &str) -> Sealed {
    let receipt = ServerErrorReceipt {
        stanza_id: Some(id.to_string()),
    };
    seal(media_key, id, &receipt.encode_to_vec())
}

/// Opens a request for message `id` (the phone's side).
pub fn open_request(
    media_key: &MediaKey,
    id: &str,
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<(), RetryError> {
    let plain = open(media_key, id, iv, ciphertext)?;
    let receipt = ServerErrorReceipt::decode(plain.as_slice())
        .map_err(|e| RetryError::Malformed(e.to_string()))?;
    same_message(id, receipt.stanza_id)
}

/// The phone's sealed answer for message `id`.
pub fn seal_answer(media_key: &MediaKey, id: &str, outcome: &RetryOutcome) -> Sealed {
    let (result, direct_path) = match outcome {
        RetryOutcome::Uploaded { direct_path } => (ResultType::Success, Some(direct_path.clone())),
        RetryOutcome::NotFound => (ResultType::NotFound, None),
        RetryOutcome::DecryptionError => (ResultType::DecryptionError, None),
        RetryOutcome::GeneralError => (ResultType::GeneralError, None),
    };
    let answer = MediaRetryNotification {
        stanza_id: Some(id.to_string()),
        direct_path,
        result: Some(result as i32),
    };
    seal(media_key, id, &answer.encode_to_vec())
}

/// Opens the phone's answer for message `id`.
pub fn open_answer(
    media_key: &MediaKey,
    id: &str,
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<RetryOutcome, RetryError> {
    let plain = open(media_key, id, iv, ciphertext)?;
    let answer = MediaRetryNotification::decode(plain.as_slice())
        .map_err(|e| RetryError::Malformed(e.to_string()))?;
    same_message(id, answer.stanza_id.clone())?;
    Ok(match answer.result() {
        ResultType::Success => match answer.direct_path {
            Some(direct_path) if !direct_path.is_empty() => RetryOutcome::Uploaded { direct_path },
            _ => return Err(RetryError::Malformed("success without a path".into())),
        },
        ResultType::NotFound => RetryOutcome::NotFound,
        ResultType::DecryptionError => RetryOutcome::DecryptionError,
        ResultType::GeneralError => RetryOutcome::GeneralError,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_open_only_with_their_key_and_message() {
        let key = [5u8; 32];
        let request = seal_request(&key, "3EB0AA");
        assert_eq!(
            open_request(&key, "3EB0AA", &request.iv, &request.ciphertext),
            Ok(())
        );
        assert_eq!(
            open_request(&[6; 32], "3EB0AA", &request.iv, &request.ciphertext),
            Err(RetryError::Unopened)
        );
        // The id is bound as additional data.
        assert_eq!(
            open_request(&key, "3EB0AB", &request.iv, &request.ciphertext),
            Err(RetryError::Unopened)
        );

        let uploaded = RetryOutcome::Uploaded {
            direct_path: "/v/t62/new.enc".into(),
        };
        for outcome in [
            uploaded,
            RetryOutcome::NotFound,
            RetryOutcome::DecryptionError,
            RetryOutcome::GeneralError,
        ] {
            let answer = seal_answer(&key, "3EB0AA", &outcome);
            assert_eq!(
                open_answer(&key, "3EB0AA", &answer.iv, &answer.ciphertext),
                Ok(outcome)
            );
        }
    }

    #[test]
    fn damaged_answers_are_errors() {
        let key = [5u8; 32];
        let answer = seal_answer(&key, "X", &RetryOutcome::NotFound);
        let mut cut = answer.ciphertext.clone();
        cut.pop();
        assert_eq!(
            open_answer(&key, "X", &answer.iv, &cut),
            Err(RetryError::Unopened)
        );
        assert!(matches!(
            open_answer(&key, "X", &answer.iv[..8], &answer.ciphertext),
            Err(RetryError::Malformed(_))
        ));
        // Sealed for one message, claiming another inside.
        let other = MediaRetryNotification {
            stanza_id: Some("Y".into()),
            direct_path: Some("/v/x".into()),
            result: Some(ResultType::Success as i32),
        };
        let sealed = seal(&key, "X", &other.encode_to_vec());
        assert!(matches!(
            open_answer(&key, "X", &sealed.iv, &sealed.ciphertext),
            Err(RetryError::OtherMessage { .. })
        ));
    }
}
