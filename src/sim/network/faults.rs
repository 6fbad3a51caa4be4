//! Fault injection: the admin API breaks a device's live connection on
//! purpose (drop, conflict, silence) or logs the device out for good.
//!
//! Owns: checking the target and ordering its connection. Must not
//! touch: sockets (the connection task carries the fault out), accounts
//! beyond the logout's unlink.

use crate::sim::accounts::unlink;
use crate::sim::error::SimError;
use crate::sim::state::{Control, FaultKind, SimState};
use crate::types::Jid;

/// Injects a fault into the connection of the linked companion `jid`
/// names. `Logout` also unlinks the device, connected or not.
pub(crate) fn fault(state: &SimState, jid: &Jid, kind: FaultKind) -> Result<(), SimError> {
    let device = {
        let world = state.lock();
        world
            .resolve(jid)
            .filter(|d| world.device(d).is_some())
            .ok_or_else(|| SimError::UnknownDevice(jid.to_string()))?
    };
    if kind == FaultKind::Logout {
        unlink(state, &device, |_| Some(Control::Fault(kind)));
        return Ok(());
    }
    let not_connected = || SimError::NotConnected(jid.to_string());
    let world = state.lock();
    let live = world.live.get(&device).ok_or_else(not_connected)?;
    live.control
        .try_send(Control::Fault(kind))
        .map_err(|_| not_connected())
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::sim::accounts::{create_phone, devices};
    use crate::sim::fixtures::{device_jid, link_directly, registration, state};
    use crate::sim::network::login::login;

    fn jid(text: &str) -> Jid {
        Jid::parse(text).unwrap()
    }

    #[tokio::test]
    async fn logout_fault_unlinks_for_good() {
        let s = state();
        let phone = create_phone(&s, None).unwrap();
        let id = link_directly(&s, &phone, registration([1; 32])).unwrap();
        let device = jid(&device_jid(&phone, id));
        let user: u64 = phone.parse().unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        login(&s, 1, tx, user, u32::from(id), &[1; 32]).unwrap();
        fault(&s, &device, FaultKind::Logout).unwrap();
        assert!(matches!(
            rx.try_recv(),
            Ok(Control::Fault(FaultKind::Logout))
        ));
        assert!(devices(&s, &phone).unwrap().is_empty());
        let (tx, _rx) = mpsc::channel(4);
        assert!(login(&s, 3, tx, user, u32::from(id), &[1; 32]).is_err());
        assert_eq!(
            fault(&s, &device, FaultKind::Drop).unwrap_err().code(),
            "unknown_device"
        );
    }

    #[test]
    fn faults_other_than_logout_need_a_connection() {
        let s = state();
        let phone = create_phone(&s, None).unwrap();
        let id = link_directly(&s, &phone, registration([1; 32])).unwrap();
        let err = fault(&s, &jid(&device_jid(&phone, id)), FaultKind::Silence).unwrap_err();
        assert_eq!(err.code(), "not_connected");
    }
}
