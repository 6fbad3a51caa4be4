//! What the admin API reads of a phone and does to it besides messaging:
//! the texts and receipts it received, a reinstall of WhatsApp.
//!
//! Owns: those operations. Must not touch: sending (`send`), the
//! account's companions.

use crate::sim::error::SimError;
use crate::sim::state::{Account, PhoneMessage, PhoneReceipt, SimState};

/// `GET /sim/phones/{phone}/messages`: texts the phone received.
pub(crate) fn phone_messages(state: &SimState, phone: &str) -> Result<Vec<PhoneMessage>, SimError> {
    read(state, phone, |p| {
        p.signal
            .received
            .iter()
            .map(|r| r.message.clone())
            .collect()
    })
}

/// `GET /sim/phones/{phone}/receipts`: receipts for its sent texts.
pub(crate) fn phone_receipts(state: &SimState, phone: &str) -> Result<Vec<PhoneReceipt>, SimError> {
    read(state, phone, |p| {
        p.signal.receipts.iter().cloned().collect()
    })
}

fn read<T>(state: &SimState, phone: &str, f: impl FnOnce(&Account) -> T) -> Result<T, SimError> {
    state.lock().account(phone).map(f)
}

/// `POST /sim/phones/{phone}/reinstall`: WhatsApp reinstalled on the
/// phone. It gets a new Signal identity and loses every session and
/// prekey, so contacts see an identity change and their next message
/// to it fails once (answered by a retry receipt). Its account, number
/// and linked companions stay.
pub(crate) fn reinstall_phone(state: &SimState, phone: &str) -> Result<(), SimError> {
    let mut world = state.lock();
    let account = world.account_mut(phone)?;
    account.reinstall();
    Ok(())
}
