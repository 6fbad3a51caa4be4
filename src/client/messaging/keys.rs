//! The session's own keys and users, as the blocking send and receive
//! steps need them (a snapshot of the credentials: the steps run off the
//! session task).

use std::sync::Arc;

use crate::client::core::Ctx;
use crate::crypto::KeyPair;
use crate::signal::SignedPreKey;
use crate::types::{DeviceAddress, Jid};

#[derive(Clone)]
pub struct OwnKeys {
    pub identity: KeyPair,
    pub registration_id: u32,
    pub signed_prekey: SignedPreKey,
    /// The one before the last rotation, for first messages still
    /// encrypted to it.
    pub previous_signed_prekey: Option<SignedPreKey>,
    /// This device (phone-number addressed), and our LID user when known:
    /// how messages of our own other devices are told apart.
    pub device: DeviceAddress,
    pub lid_user: Option<String>,
}

/// Our signed device identity (`<device-identity>`), sent with a copy
/// that starts a session; empty before linking.
pub fn device_identity(ctx: &Ctx) -> Vec<u8> {
    ctx.creds
        .paired
        .as_ref()
        .map(|p| p.account.clone())
        .unwrap_or_default()
}

impl OwnKeys {
    /// Our keys once linked.
    pub fn of(ctx: &Ctx) -> Option<Arc<OwnKeys>> {
        let paired = ctx.creds.paired.as_ref()?;
        let device = DeviceAddress::from_jid(&paired.jid)?;
        let lid_user = paired.lid.as_ref().map(|l| l.user.clone());
        Some(Arc::new(OwnKeys {
            identity: ctx.creds.identity_key.clone(),
            registration_id: ctx.creds.registration_id,
            signed_prekey: ctx.creds.signed_prekey.clone(),
            previous_signed_prekey: ctx.creds.previous_signed_prekey.clone(),
            device,
            lid_user,
        }))
    }

    /// Our phone-number and LID users.
    pub fn own_users(&self) -> (Option<Jid>, Option<Jid>) {
        (
            Some(self.device.user_jid()),
            self.lid_user.clone().map(Jid::lid),
        )
    }

    /// Whether `address` is a device of our own account.
    pub fn is_own(&self, address: &DeviceAddress) -> bool {
        if address.is_lid() {
            self.lid_user.as_deref() == Some(address.user())
        } else {
            address.user() == self.device.user()
        }
    }
}
