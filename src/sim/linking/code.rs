//! Linking by code, the network's side: a companion's request for a code
//! is kept under the phone number, the phone's user types the code, and
//! an opened key bundle becomes the same link a QR scan makes.
//!
//! Owns: the linking-code requests and one entry at a time per request.
//! Must not touch: the crypto (`protocol::pair_code`), a connection's
//! own progress through the stanzas (`code_link`), sockets.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::link::{new_link, order_and_wait};
use crate::sim::error::SimError;
use crate::sim::protocol::pair_code::{self, CompanionHelloRequest, PairCodeLinked};
use crate::sim::protocol::stanzas::new_iq_id;
use crate::sim::state::{CodeHello, CodeRequest, Control, LinkReply, PendingLink, SimState};
use crate::types::DeviceAddress;

/// A companion asked for a linking code for `request.phone`; a newer
/// request for the same phone replaces an older one, and a connection
/// keeps one request at a time. Returns the pairing ref and the end of
/// the code's validity.
pub(crate) fn register_code_request(
    state: &SimState,
    conn_id: u64,
    control: mpsc::Sender<Control>,
    request: CompanionHelloRequest,
) -> Result<(Vec<u8>, Instant), SimError> {
    let mut world = state.lock();
    world.account(&request.phone)?;
    world.code_requests.retain(|_, r| r.conn_id != conn_id);
    let link_ref = pair_code::new_link_ref();
    let until = Instant::now() + state.timing.code_ttl;
    world.code_requests.insert(
        request.phone.clone(),
        CodeRequest {
            conn_id,
            control,
            request,
            link_ref: link_ref.clone(),
            until,
            entering: false,
        },
    );
    Ok((link_ref, until))
}

/// The phone's user types a linking code: the companion that asked for
/// a code for this phone gets the phone's `primary_hello`; once its
/// `companion_finish` opens with that code, the device is linked
/// exactly as by a QR scan, and this returns it.
///
/// Errors: `unknown_phone`; `bad_request` for what cannot be a code;
/// `no_code_request` when no companion waits for a code for this phone
/// (or its code expired); `pairing_in_progress` while another entry
/// runs; `wrong_code` when the companion's bundle does not open (the
/// companion is told nothing, as by a real phone, and the code may be
/// typed again); `timeout` when the companion does not answer.
pub(crate) async fn enter_pair_code(
    state: &SimState,
    phone: &str,
    code: &str,
) -> Result<DeviceAddress, SimError> {
    let (request, link_ref, identity, control, conn_id) = {
        let mut world = state.lock();
        let identity = world.account(phone)?.identity.clone();
        pair_code::check_code(code).map_err(|e| SimError::BadRequest(e.to_string()))?;
        let waiting = world
            .code_requests
            .get_mut(phone)
            .filter(|r| r.until > Instant::now())
            .ok_or_else(|| SimError::NoCodeRequest(phone.to_owned()))?;
        if waiting.entering {
            return Err(SimError::PairingInProgress);
        }
        waiting.entering = true;
        (
            waiting.request.clone(),
            waiting.link_ref.clone(),
            identity,
            waiting.control.clone(),
            waiting.conn_id,
        )
    };
    let code = code.to_owned();
    let result = async {
        // Two PBKDF2 runs: off the async workers.
        let (pending, notification) = tokio::task::spawn_blocking(move || {
            pair_code::primary_hello(&code, &request, &identity, &link_ref, &new_iq_id())
        })
        .await
        .map_err(|e| SimError::BadRequest(format!("key derivation failed: {e}")))?
        .map_err(|e| SimError::BadRequest(e.to_string()))?;
        let (reply, answer) = oneshot::channel();
        let hello = CodeHello {
            pending,
            notification,
            reply,
        };
        // The finish, then the pair-device-sign, each by its deadline.
        let guard = state.timing.pair_timeout.saturating_mul(3) + Duration::from_secs(1);
        order_and_wait(
            control,
            Control::PairCodeHello(Box::new(hello)),
            answer,
            guard,
        )
        .await
    }
    .await;
    if let Some(waiting) = state.lock().code_requests.get_mut(phone) {
        if waiting.conn_id == conn_id {
            waiting.entering = false;
        }
    }
    result
}

/// The phone opened the companion's key bundle: the same link as a QR
/// scan, with the ADV secret the code flow derived. On error the
/// reply is handed back so the caller can report it.
pub(crate) fn start_code_link(
    state: &SimState,
    conn_id: u64,
    linked: &PairCodeLinked,
    reply: LinkReply,
) -> Result<Box<PendingLink>, (SimError, LinkReply)> {
    let mut guard = state.lock();
    let world = &mut *guard;
    let now = world.now();
    let Some(pending) = world.pending.get_mut(&conn_id) else {
        return Err((SimError::ConnectionClosed, reply));
    };
    if pending.registration.noise_key != linked.companion_noise_pub {
        return Err((
            SimError::PairingRejected("noise key differs from the registration".into()),
            reply,
        ));
    }
    if pending.registration.identity_key != linked.companion_identity_pub {
        return Err((
            SimError::PairingRejected("identity key differs from the registration".into()),
            reply,
        ));
    }
    if pending.scanning {
        return Err((SimError::PairingInProgress, reply));
    }
    let Some(account) = world.phones.get_mut(&linked.phone) else {
        return Err((SimError::UnknownPhone(linked.phone.clone()), reply));
    };
    let device_id = match account.allocate_device() {
        Ok(id) => id,
        Err(e) => return Err((e, reply)),
    };
    pending.scanning = true;
    let link = new_link(
        account,
        device_id,
        &linked.companion_identity_pub,
        &linked.adv_secret,
        now,
        reply,
    );
    Ok(Box::new(link))
}
