//! Logging in and the registry of live connections: which connection
//! speaks for which device, and forgetting a connection when it ends.
//!
//! Owns: the rules of a login (a linked device, its own Noise key; a new
//! connection replaces the old one) and the `live` table's lifecycle.
//! Must not touch: sockets (the connection task reads the answer), what a
//! logged-in device says (`iq`, `routing`).

use tokio::sync::mpsc;

use crate::sim::linking::link::retire_pairing;
use crate::sim::state::{Control, Live, SimState};
use crate::types::{DeviceAddress, Jid};

/// Why a login is refused (`<failure reason=..>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginRefusal {
    /// Unknown or removed device, or a Noise key that is not the device's.
    Unauthorized,
}

/// What a successful login tells the connection.
#[derive(Debug, Clone)]
pub(crate) struct LoginGrant {
    /// The device logged in as.
    pub device: DeviceAddress,
    /// The same device by LID.
    pub lid: Jid,
}

/// Validates a login as device `device` of account `username` and makes
/// `conn_id` the device's live connection, telling any previous one it
/// was replaced.
pub(crate) fn login(
    state: &SimState,
    conn_id: u64,
    control: mpsc::Sender<Control>,
    username: u64,
    device: u32,
    noise_key: &[u8; 32],
) -> Result<LoginGrant, LoginRefusal> {
    let id = u16::try_from(device).map_err(|_| LoginRefusal::Unauthorized)?;
    let address = DeviceAddress::pn(username.to_string(), id).ok_or(LoginRefusal::Unauthorized)?;
    let mut world = state.lock();
    let account = world
        .phones
        .get(address.user())
        .ok_or(LoginRefusal::Unauthorized)?;
    let known = account.devices.get(&id).ok_or(LoginRefusal::Unauthorized)?;
    if known.noise_key != *noise_key {
        return Err(LoginRefusal::Unauthorized);
    }
    let lid = account.lid_jid(id);
    let live = Live {
        conn_id,
        control,
        deliver: None,
    };
    world.logins.logged_in(&address, conn_id);
    if let Some(old) = world.live.insert(address.clone(), live) {
        let _ = old.control.try_send(Control::Replaced);
    }
    Ok(LoginGrant {
        device: address,
        lid,
    })
}

/// Forgets everything tied to a connection that has ended: its pairing,
/// its linking-code request, the devices it was live for.
pub(crate) fn forget_connection(state: &SimState, conn_id: u64) {
    let mut world = state.lock();
    retire_pairing(&mut world, conn_id);
    world.logins.ended(conn_id);
    world.live.retain(|_, live| live.conn_id != conn_id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::accounts::{create_phone, devices};
    use crate::sim::fixtures::{link_directly, registration, state};

    #[tokio::test]
    async fn login_requires_a_linked_device_and_its_noise_key() {
        let s = state();
        let phone = create_phone(&s, Some("15550001111".into())).unwrap();
        let id = link_directly(&s, &phone, registration([1; 32])).unwrap();
        let user: u64 = phone.parse().unwrap();
        let tx = || mpsc::channel(4).0;
        let connected = || devices(&s, &phone).unwrap()[0].connected;
        assert!(login(&s, 1, tx(), user, u32::from(id), &[9; 32]).is_err());
        assert!(login(&s, 1, tx(), user, 42, &[1; 32]).is_err());
        assert!(login(&s, 1, tx(), user + 1, u32::from(id), &[1; 32]).is_err());
        assert!(!connected());
        let grant = login(&s, 1, tx(), user, u32::from(id), &[1; 32]).unwrap();
        assert!(grant.lid.to_string().ends_with(&format!(":{id}@lid")));
        assert!(connected());
        // A second connection takes over; the first one ending later must
        // not mark the device disconnected.
        login(&s, 2, tx(), user, u32::from(id), &[1; 32]).unwrap();
        forget_connection(&s, 1);
        assert!(connected());
        forget_connection(&s, 2);
        assert!(!connected());
    }

    #[tokio::test]
    async fn replaced_connection_is_told_so() {
        let s = state();
        let phone = create_phone(&s, None).unwrap();
        let id = link_directly(&s, &phone, registration([1; 32])).unwrap();
        let user: u64 = phone.parse().unwrap();
        let (tx_old, mut rx_old) = mpsc::channel(4);
        login(&s, 1, tx_old, user, u32::from(id), &[1; 32]).unwrap();
        let (tx_new, _rx_new) = mpsc::channel(4);
        login(&s, 2, tx_new, user, u32::from(id), &[1; 32]).unwrap();
        assert!(matches!(rx_old.try_recv(), Ok(Control::Replaced)));
    }
}
