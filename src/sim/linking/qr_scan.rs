//! Linking by QR: a pairing connection gets its rotating refs, and a
//! phone scans one of them.
//!
//! Owns: issuing refs (with their lifetimes) and checking a scan against
//! the pairing it names. Must not touch: sockets (the pairing connection
//! delivers the `<pair-success>` it is ordered to), what follows the
//! pair-success (`link`).

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::link::{end_scan, new_link, order_and_wait};
use crate::sim::error::SimError;
use crate::sim::protocol::hello::Registration;
use crate::sim::protocol::qr::parse_qr;
use crate::sim::protocol::stanzas::new_pairing_ref;
use crate::sim::state::{Control, Pending, SimState};
use crate::types::DeviceAddress;

/// Records a companion waiting to be scanned; returns its refs and the
/// instant the whole pairing expires.
pub(crate) fn register_pending(
    state: &SimState,
    conn_id: u64,
    control: mpsc::Sender<Control>,
    registration: Registration,
) -> (Vec<String>, Instant) {
    let t = state.timing;
    let start = Instant::now();
    let mut refs = Vec::with_capacity(t.qr_refs);
    let mut until = start + t.first_ref_ttl;
    let mut world = state.lock();
    for _ in 0..t.qr_refs {
        let r = loop {
            let candidate = new_pairing_ref();
            if !world.refs.contains_key(&candidate) {
                break candidate;
            }
        };
        world.refs.insert(r.clone(), conn_id);
        refs.push((r, until));
        until += t.next_ref_ttl;
    }
    let expires = refs.last().map_or(start, |(_, u)| *u);
    let names = refs.iter().map(|(r, _)| r.clone()).collect();
    world.pending.insert(
        conn_id,
        Pending {
            control,
            registration,
            refs,
            scanning: false,
        },
    );
    (names, expires)
}

/// The phone scans a companion's QR: the companion's connection gets
/// `<pair-success>`, and this returns the new device once the companion
/// has signed its identity and the device is registered.
pub(crate) async fn scan(
    state: &SimState,
    phone: &str,
    qr: &str,
) -> Result<DeviceAddress, SimError> {
    let scanned = parse_qr(qr)?;
    let (reply, answer) = oneshot::channel();
    let (conn_id, control, link) = {
        let mut guard = state.lock();
        let world = &mut *guard;
        let now = world.now();
        let account = world
            .phones
            .get_mut(phone)
            .ok_or_else(|| SimError::UnknownPhone(phone.to_owned()))?;
        let unknown_ref = || SimError::UnknownRef(scanned.pairing_ref.clone());
        let conn_id = *world
            .refs
            .get(&scanned.pairing_ref)
            .ok_or_else(unknown_ref)?;
        let pending = world.pending.get_mut(&conn_id).ok_or_else(unknown_ref)?;
        let live_until = pending
            .ref_expiry(&scanned.pairing_ref)
            .ok_or_else(unknown_ref)?;
        if Instant::now() >= live_until {
            return Err(unknown_ref());
        }
        if pending.registration.noise_key != scanned.noise_key {
            return Err(SimError::QrMismatch("noise"));
        }
        if pending.registration.identity_key != scanned.identity_key {
            return Err(SimError::QrMismatch("identity"));
        }
        if pending.scanning {
            return Err(SimError::PairingInProgress);
        }
        let device_id = account.allocate_device()?;
        let link = new_link(
            account,
            device_id,
            &scanned.identity_key,
            &scanned.adv_secret,
            now,
            reply,
        );
        pending.scanning = true;
        (conn_id, pending.control.clone(), link)
    };
    let guard = state.timing.pair_timeout.saturating_mul(2) + Duration::from_secs(1);
    let order = Control::PairSuccess(Box::new(link));
    let result = order_and_wait(control, order, answer, guard).await;
    if result.is_err() {
        end_scan(state, conn_id);
    }
    result
}

#[cfg(test)]
mod tests {
    use base64::prelude::{Engine as _, BASE64_STANDARD};

    use super::*;
    use crate::sim::accounts::create_phone;
    use crate::sim::config::SimConfig;
    use crate::sim::fixtures::registration;
    use crate::sim::network::login::forget_connection;

    #[tokio::test]
    async fn scan_checks_ref_keys_and_expiry() {
        // A short first ref, so its expiry can be waited out.
        let config = SimConfig {
            first_ref_ttl: Duration::from_millis(30),
            ..SimConfig::default()
        };
        let s = SimState::new(&config, [0; 32]);
        let phone = create_phone(&s, None).unwrap();
        let (tx, _rx) = mpsc::channel(4);
        let before = Instant::now();
        let (refs, expires) = register_pending(&s, 5, tx, registration([1; 32]));
        let after = Instant::now();
        assert_eq!(refs.len(), 6);
        let total = config.first_ref_ttl + config.next_ref_ttl * 5;
        assert!(expires >= before + total && expires <= after + total);
        let qr = |r: &str, noise: [u8; 32]| {
            format!(
                "{r},{},{},{}",
                BASE64_STANDARD.encode(noise),
                BASE64_STANDARD.encode([2u8; 32]),
                BASE64_STANDARD.encode([0u8; 32])
            )
        };
        let code = |result: Result<DeviceAddress, SimError>| result.unwrap_err().code();
        assert_eq!(
            code(scan(&s, &phone, &qr("2@nope", [1; 32])).await),
            "unknown_ref"
        );
        assert_eq!(
            code(scan(&s, &phone, &qr(&refs[0], [8; 32])).await),
            "qr_mismatch"
        );
        assert_eq!(
            code(scan(&s, "123123123", &qr(&refs[0], [1; 32])).await),
            "unknown_phone"
        );
        // Once the first ref's time is up only later refs scan.
        tokio::time::sleep_until(before + config.first_ref_ttl * 2).await;
        assert_eq!(
            code(scan(&s, &phone, &qr(&refs[0], [1; 32])).await),
            "unknown_ref"
        );
        forget_connection(&s, 5);
        assert_eq!(
            code(scan(&s, &phone, &qr(&refs[1], [1; 32])).await),
            "unknown_ref"
        );
    }
}
