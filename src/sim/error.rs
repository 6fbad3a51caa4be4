//! What can go wrong in the simulator's admin operations, with the stable
//! code and HTTP status each error has on the admin API.
//!
//! Owns: [`SimError`], its codes and statuses (part of the admin API's
//! contract). Must not touch: anything that fails (each module returns
//! these).

/// An admin operation failed. `code()` is the machine-readable `error`
/// field of the JSON error body, `http_status()` its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid QR string: {0}")]
    InvalidQr(String),
    #[error("no simulated phone {0}")]
    UnknownPhone(String),
    #[error("no linked device {0}")]
    UnknownDevice(String),
    #[error("no pending pairing has ref {0:?} (never issued, expired, or its connection closed)")]
    UnknownRef(String),
    #[error("phone {0} already exists")]
    PhoneExists(String),
    #[error("the QR's {0} key does not match what that connection registered")]
    QrMismatch(&'static str),
    #[error("a scan for this pairing is already in progress")]
    PairingInProgress,
    #[error("device {0} is not connected")]
    NotConnected(String),
    #[error("the companion rejected the pairing: {0}")]
    PairingRejected(String),
    #[error("the companion's connection closed before pairing completed")]
    ConnectionClosed,
    #[error("timed out waiting for the companion")]
    Timeout,
    #[error("no companion is waiting for a linking code for phone {0} (none requested, expired, or its connection closed)")]
    NoCodeRequest(String),
    #[error("the linking code does not match the companion's (its key bundle does not open)")]
    WrongCode,
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    #[error("{0} is not on WhatsApp (no such simulated phone)")]
    NotOnWhatsApp(String),
    #[error("the media hosts have no file at {0:?}")]
    UnknownMedia(String),
    #[error("no group {0}")]
    UnknownGroup(String),
    #[error("{0} is not a member of the group")]
    NotInGroup(String),
    #[error("{0} is not an admin of the group")]
    NotAdmin(String),
}

impl SimError {
    /// Stable machine-readable code (the `error` field on the admin API).
    pub fn code(&self) -> &'static str {
        match self {
            SimError::BadRequest(_) => "bad_request",
            SimError::InvalidQr(_) => "invalid_qr",
            SimError::UnknownPhone(_) => "unknown_phone",
            SimError::UnknownDevice(_) => "unknown_device",
            SimError::UnknownRef(_) => "unknown_ref",
            SimError::PhoneExists(_) => "phone_exists",
            SimError::QrMismatch(_) => "qr_mismatch",
            SimError::PairingInProgress => "pairing_in_progress",
            SimError::NotConnected(_) => "not_connected",
            SimError::PairingRejected(_) => "pairing_rejected",
            SimError::ConnectionClosed => "connection_closed",
            SimError::Timeout => "timeout",
            SimError::NoCodeRequest(_) => "no_code_request",
            SimError::WrongCode => "wrong_code",
            SimError::NotImplemented(_) => "not_implemented",
            SimError::NotOnWhatsApp(_) => "not_on_whatsapp",
            SimError::UnknownMedia(_) => "unknown_media",
            SimError::UnknownGroup(_) => "unknown_group",
            SimError::NotInGroup(_) => "not_in_group",
            SimError::NotAdmin(_) => "not_admin",
        }
    }

    /// The HTTP status the admin API answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            SimError::BadRequest(_)
            | SimError::InvalidQr(_)
            | SimError::QrMismatch(_)
            | SimError::WrongCode => 400,
            SimError::UnknownPhone(_)
            | SimError::UnknownDevice(_)
            | SimError::UnknownRef(_)
            | SimError::NotOnWhatsApp(_)
            | SimError::UnknownMedia(_)
            | SimError::UnknownGroup(_) => 404,
            SimError::NotInGroup(_) | SimError::NotAdmin(_) => 403,
            SimError::PhoneExists(_)
            | SimError::PairingInProgress
            | SimError::NotConnected(_)
            | SimError::PairingRejected(_)
            | SimError::NoCodeRequest(_)
            | SimError::ConnectionClosed => 409,
            SimError::NotImplemented(_) => 501,
            SimError::Timeout => 504,
        }
    }
}
