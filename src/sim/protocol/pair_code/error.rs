//! Why the simulator refuses a step of the linking-code flow.
//!
//! Owns: [`SimPairCodeError`]. Must not touch: anything else of the flow.

/// Why the simulator refuses a step of the linking-code flow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimPairCodeError {
    /// The stanza is not what the protocol allows: answer 400 bad-request.
    #[error("bad linking-code request: {0}")]
    BadRequest(String),
    /// What the phone's user typed cannot be a linking code.
    #[error("a linking code is 8 characters from 1-9 and A-Z without I, O, U")]
    BadCode,
    /// `companion_finish` names another phone or ref than the pending flow.
    #[error("companion_finish does not belong to this flow: other {0}")]
    WrongFlow(&'static str),
    /// AES-GCM refused the bundle: the code typed on the phone is not the
    /// companion's, or the bundle was damaged.
    #[error("the key bundle does not open (wrong linking code?)")]
    BundleRejected,
    /// The bundle opened but names other identity keys than the stanza.
    #[error("the key bundle names another {0} identity key")]
    IdentityMismatch(&'static str),
    /// A key that yields an all-zero Diffie-Hellman result.
    #[error("the companion's ephemeral key is a low-order point")]
    WeakCompanionKey,
}

pub(super) fn bad(problem: impl Into<String>) -> SimPairCodeError {
    SimPairCodeError::BadRequest(problem.into())
}
