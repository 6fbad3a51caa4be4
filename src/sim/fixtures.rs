//! Test fixtures shared by the simulator's unit tests: a fresh state,
//! registrations, linking without the QR dance, a stanza from a linked
//! companion.

use crate::crypto::KeyPair;
use crate::sim::config::SimConfig;
use crate::sim::iq::{handle_session_stanza, Reply, Session};
use crate::sim::protocol::hello::{Registration, SignedPreKey};
use crate::sim::state::{Device, SimState};
use crate::types::DeviceAddress;
use crate::wire::Node;

/// An empty simulator state.
pub fn state() -> SimState {
    SimState::new(&SimConfig::default(), [0; 32])
}

/// A registration with made-up keys and Noise key `noise`.
pub fn registration(noise: [u8; 32]) -> Registration {
    Registration {
        noise_key: noise,
        identity_key: [2; 32],
        registration_id: 7,
        signed_prekey: SignedPreKey {
            id: 1,
            public: [3; 32],
            signature: [4; 64],
        },
    }
}

/// Links a device directly; its id, or `None` for an unknown phone.
pub fn link_directly(state: &SimState, phone: &str, reg: Registration) -> Option<u16> {
    let mut world = state.lock();
    let now = world.now();
    let account = world.phones.get_mut(phone)?;
    let id = account.allocate_device().ok()?;
    account.link(id, Device::new(reg, u32::from(id)), now);
    Some(id)
}

/// A copy of companion `id` of `phone`.
pub fn device(state: &SimState, phone: &str, id: u16) -> Option<Device> {
    let address = DeviceAddress::pn(phone, id)?;
    state.lock().device(&address).cloned()
}

/// `PHONE:ID@s.whatsapp.net`.
pub fn device_jid(phone: &str, id: u16) -> String {
    DeviceAddress::pn(phone, id)
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// A state with phone 15550002222 and one companion with real keys (the
/// phone's key share is a Signal message to them, sent only when the
/// signed prekey verifies).
pub fn linked() -> (SimState, String, u16) {
    let state = state();
    let phone = crate::sim::accounts::create_phone(&state, Some("15550002222".into())).unwrap();
    let identity = KeyPair::generate();
    let signed = crate::signal::SignedPreKey::generate(&identity, 1);
    let reg = Registration {
        noise_key: [1; 32],
        identity_key: identity.public,
        registration_id: 9,
        signed_prekey: SignedPreKey {
            id: signed.id,
            public: signed.key_pair.public,
            signature: signed.signature,
        },
    };
    let id = link_directly(&state, &phone, reg).unwrap();
    (state, phone, id)
}

/// `<iq id="q1" to="s.whatsapp.net" xmlns type>` with `children`.
pub fn iq(xmlns: &str, kind: &str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("id", "q1")
        .attr("to", "s.whatsapp.net")
        .attr("xmlns", xmlns)
        .attr("type", kind)
        .children(children)
}

/// What the server answers `node` from companion `device` of `phone`.
pub fn ask(state: &SimState, phone: &str, device: u16, node: &Node) -> Reply {
    let (deliver, _deliveries) = tokio::sync::mpsc::unbounded_channel();
    let device = DeviceAddress::pn(phone, device).unwrap();
    let session = Session {
        state,
        device: &device,
        conn_id: 1,
        deliver: &deliver,
    };
    handle_session_stanza(&session, node)
}
