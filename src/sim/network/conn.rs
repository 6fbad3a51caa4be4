//! One client connection: handshake, then either a pairing (registration
//! payload) or a logged-in session (login payload), until it ends.
//!
//! One task per connection, `select!` over the socket, a small control
//! channel (faults, replacement, pair-success) and the shutdown signal.

use std::sync::Arc;

use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout, Instant};
use tracing::{debug, info, warn};

use super::adv::verify_device_signature;
use super::code_link::CodeLink;
use super::stanza::{self, Session};
use super::state::{
    device_jid, Control, LoginRefusal, PendingLink, Registration, SignedPreKey, SimState,
};
use super::transport::ServerWebSocket;
use super::{FaultKind, SimError};
use crate::crypto::xeddsa_verify;
use crate::proto::client_payload::DevicePairingRegistrationData;
use crate::proto::ClientPayload;
use crate::wire::socket::{server_handshake, NoiseSocket, ServerIdentity};
use crate::wire::Node;

/// Queue depth of a connection's control channel: orders are rare.
const CONTROL_DEPTH: usize = 4;
/// Signal's key type byte for Curve25519 (`DJB_TYPE`).
const DJB_KEY_TYPE: u8 = 5;

type Socket = NoiseSocket<ServerWebSocket>;

/// What the client's `ClientPayload` asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Hello {
    Register(Registration),
    Login { username: u64, device: u32 },
}

/// Classifies the handshake payload; `Err` is why it is unacceptable.
pub(crate) fn classify_payload(noise_key: [u8; 32], payload: &[u8]) -> Result<Hello, String> {
    let payload =
        ClientPayload::decode(payload).map_err(|e| format!("undecodable ClientPayload: {e}"))?;
    if let Some(username) = payload.username {
        let device = payload.device.unwrap_or(0);
        if device == 0 {
            return Err("login for device 0 (the phone itself) is not a companion".into());
        }
        return Ok(Hello::Login { username, device });
    }
    let data = payload
        .device_pairing_data
        .ok_or("payload has neither username nor devicePairingData")?;
    Ok(Hello::Register(parse_registration(noise_key, &data)?))
}

fn parse_registration(
    noise_key: [u8; 32],
    data: &DevicePairingRegistrationData,
) -> Result<Registration, String> {
    fn field<'a>(v: &'a Option<Vec<u8>>, name: &str, len: usize) -> Result<&'a [u8], String> {
        match v.as_deref() {
            Some(b) if b.len() == len => Ok(b),
            Some(b) => Err(format!("{name} has {} bytes, expected {len}", b.len())),
            None => Err(format!("{name} missing")),
        }
    }
    let regid = field(&data.e_regid, "eRegid", 4)?;
    if field(&data.e_keytype, "eKeytype", 1)? != [DJB_KEY_TYPE] {
        return Err("eKeytype is not 5 (Curve25519)".into());
    }
    let identity_key: [u8; 32] = to_array(field(&data.e_ident, "eIdent", 32)?);
    let skey_id = field(&data.e_skey_id, "eSkeyId", 3)?;
    let skey_val: [u8; 32] = to_array(field(&data.e_skey_val, "eSkeyVal", 32)?);
    let skey_sig: [u8; 64] = to_array(field(&data.e_skey_sig, "eSkeySig", 64)?);
    // Signal signs the serialized public key: type byte, then the key.
    let signed = [&[DJB_KEY_TYPE][..], &skey_val].concat();
    if !xeddsa_verify(&identity_key, &signed, &skey_sig) {
        return Err("signed prekey signature does not verify with eIdent".into());
    }
    Ok(Registration {
        noise_key,
        identity_key,
        registration_id: u32::from_be_bytes(to_array(regid)),
        signed_prekey: SignedPreKey {
            id: u32::from_be_bytes([0, skey_id[0], skey_id[1], skey_id[2]]),
            public: skey_val,
            signature: skey_sig,
        },
    })
}

/// Infallible once the length has been checked.
fn to_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// Forgets the connection's entries in the shared state however it ends.
struct Registered {
    state: Arc<SimState>,
    conn_id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.state.forget_connection(self.conn_id);
    }
}

/// Serves one accepted WebSocket until it closes.
pub(crate) async fn serve(
    ws: ServerWebSocket,
    state: Arc<SimState>,
    identity: Arc<ServerIdentity>,
) {
    let accepted = match timeout(
        state.timing.handshake_timeout,
        server_handshake(ws, &identity),
    )
    .await
    {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(e)) => {
            debug!("handshake failed: {e}");
            return;
        }
        Err(_) => {
            debug!("handshake timed out");
            return;
        }
    };
    drop(identity);
    let conn = Conn {
        id: state.next_conn_id(),
        shutdown: state.subscribe_shutdown(),
        socket: accepted.socket,
        state,
    };
    match classify_payload(accepted.client_static, &accepted.payload) {
        Ok(Hello::Register(registration)) => conn.pairing(registration).await,
        Ok(Hello::Login { username, device }) => {
            conn.session(username, device, accepted.client_static).await
        }
        Err(why) => {
            debug!("refusing connection: {why}");
            conn.refuse("400").await;
        }
    }
}

struct Conn {
    id: u64,
    socket: Socket,
    state: Arc<SimState>,
    shutdown: watch::Receiver<bool>,
}

impl Conn {
    async fn refuse(mut self, reason: &str) {
        let _ = self.socket.send_node(&stanza::failure(reason)).await;
        self.socket.close().await;
    }

    /// Sends `node`, then closes politely.
    async fn goodbye(mut self, node: &Node) {
        let _ = self.socket.send_node(node).await;
        self.socket.close().await;
    }

    /// A companion waiting for a phone to scan one of its refs.
    async fn pairing(mut self, registration: Registration) {
        let (control_tx, mut control) = mpsc::channel(CONTROL_DEPTH);
        let _registered = Registered {
            state: self.state.clone(),
            conn_id: self.id,
        };
        let identity_key = registration.identity_key;
        let (refs, expires) =
            self.state
                .register_pending(self.id, control_tx.clone(), registration);
        if self
            .socket
            .send_node(&stanza::pair_device(&stanza::new_iq_id(), &refs))
            .await
            .is_err()
        {
            return;
        }
        let mut link: Option<(Box<PendingLink>, Instant)> = None;
        let mut code = CodeLink::default();
        loop {
            let link_deadline = link.as_ref().map_or(expires, |(_, d)| *d);
            // A linking code keeps the pairing open past the QR refs.
            let ends = code
                .alive_until()
                .map_or(expires, |until| until.max(expires));
            let code_deadline = code.entered_deadline().unwrap_or(ends);
            tokio::select! {
                _ = self.shutdown.changed() => break,
                // The rotation is over: retire the pairing (a scan in
                // flight finishes first, by its own deadline).
                _ = sleep_until(ends), if link.is_none() => {
                    debug!(conn = self.id, "pairing refs expired");
                    break;
                }
                _ = sleep_until(code_deadline), if code.entered_deadline().is_some() => {
                    code.on_timeout();
                }
                _ = sleep_until(link_deadline), if link.is_some() => {
                    if let Some((l, _)) = link.take() {
                        let _ = l.reply.send(Err(SimError::Timeout));
                    }
                    self.state.end_scan(self.id);
                }
                order = control.recv() => match order {
                    Some(Control::PairSuccess(l)) => {
                        if link.is_some() {
                            let _ = l.reply.send(Err(SimError::PairingInProgress));
                            continue;
                        }
                        if self.socket.send_node(&l.node).await.is_err() {
                            return;
                        }
                        link = Some((l, Instant::now() + self.state.timing.pair_timeout));
                    }
                    Some(Control::PairCodeHello(hello)) => {
                        let deadline = Instant::now() + self.state.timing.pair_timeout;
                        if let Some(notification) = code.on_entered(hello, deadline) {
                            if self.socket.send_node(&notification).await.is_err() {
                                return;
                            }
                        }
                    }
                    Some(Control::Fault(FaultKind::Drop)) | None => return,
                    Some(_) => {}
                },
                received = self.socket.recv_node() => {
                    let Ok(node) = received else { return };
                    let answers_link = link.as_ref().is_some_and(|(l, _)| {
                        node.tag == "iq" && node.get_attr("id") == Some(l.iq_id.as_str())
                    });
                    if answers_link {
                        let Some((l, _)) = link.take() else { continue };
                        match judge_pair_answer(&l, &identity_key, &node) {
                            Ok(()) => {
                                let outcome = self.state.complete_link(self.id, &l);
                                let linked = outcome.is_ok();
                                if let Ok(jid) = &outcome {
                                    info!(device = %jid, "companion linked");
                                }
                                let _ = l.reply.send(outcome);
                                if linked {
                                    // Tell the companion to reconnect and log in.
                                    self.goodbye(&stanza::stream_error_code(stanza::RESTART_REQUIRED)).await;
                                    return;
                                }
                            }
                            Err(why) => {
                                warn!(conn = self.id, "pairing refused: {why}");
                                let _ = l.reply.send(Err(why));
                                self.state.end_scan(self.id);
                            }
                        }
                    } else if super::pair_code::companion_reg_stage(&node).is_some() {
                        let step = code.on_iq(&self.state, self.id, &control_tx, &node);
                        for answer in &step.send {
                            if self.socket.send_node(answer).await.is_err() {
                                return;
                            }
                        }
                        if let Some(l) = step.link {
                            if link.is_some() {
                                let _ = l.reply.send(Err(SimError::PairingInProgress));
                                continue;
                            }
                            if self.socket.send_node(&l.node).await.is_err() {
                                return;
                            }
                            link = Some((l, Instant::now() + self.state.timing.pair_timeout));
                        }
                    } else if let Some(answer) = stanza::handle_pairing_stanza(&node) {
                        if self.socket.send_node(&answer).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        self.socket.close().await;
    }

    /// A companion logging in as a linked device.
    async fn session(mut self, username: u64, device: u32, noise_key: [u8; 32]) {
        let (control_tx, mut control) = mpsc::channel(CONTROL_DEPTH);
        let _registered = Registered {
            state: self.state.clone(),
            conn_id: self.id,
        };
        let grant = match self
            .state
            .login(self.id, control_tx, username, device, &noise_key)
        {
            Ok(grant) => grant,
            Err(LoginRefusal::Unauthorized) => {
                debug!(username, device, "login refused");
                self.refuse("401").await;
                return;
            }
        };
        let phone = username.to_string();
        // login() checked it fits.
        let device_id = u16::try_from(device).unwrap_or_default();
        debug!(device = %device_jid(&phone, device_id), "logged in");
        if self
            .socket
            .send_node(&stanza::success(&grant.lid))
            .await
            .is_err()
        {
            return;
        }
        let mut silenced = false;
        let (deliver, mut deliveries) = mpsc::unbounded_channel::<Node>();
        loop {
            tokio::select! {
                _ = self.shutdown.changed() => break,
                Some(node) = deliveries.recv(), if !silenced => {
                    if self.socket.send_node(&node).await.is_err() {
                        return;
                    }
                }
                order = control.recv() => match order {
                    // Dropping the socket closes it without a word.
                    Some(Control::Fault(FaultKind::Drop)) => return,
                    Some(Control::Fault(FaultKind::Silence)) => silenced = true,
                    Some(Control::Fault(FaultKind::Conflict)) | Some(Control::Replaced) => {
                        self.goodbye(&stanza::stream_error_replaced()).await;
                        return;
                    }
                    Some(Control::Fault(FaultKind::Logout)) | Some(Control::Unlinked) => {
                        self.goodbye(&stanza::stream_error_device_removed()).await;
                        return;
                    }
                    Some(Control::PairSuccess(l)) => {
                        let _ = l.reply.send(Err(SimError::ConnectionClosed));
                    }
                    Some(Control::PairCodeHello(h)) => {
                        let _ = h.reply.send(Err(SimError::ConnectionClosed));
                    }
                    // The state forgot this connection: nothing left to serve.
                    None => break,
                },
                received = self.socket.recv_node() => {
                    let Ok(node) = received else { return };
                    if silenced {
                        continue;
                    }
                    if !self.state.is_linked(&phone, device_id) {
                        self.goodbye(&stanza::stream_error_device_removed()).await;
                        return;
                    }
                    let session = Session {
                        state: &self.state,
                        phone: &phone,
                        device: device_id,
                        conn_id: self.id,
                        deliver: &deliver,
                    };
                    let reply = stanza::handle_session_stanza(&session, &node);
                    for answer in &reply.nodes {
                        if self.socket.send_node(answer).await.is_err() {
                            return;
                        }
                    }
                    if reply.close {
                        break;
                    }
                }
            }
        }
        self.socket.close().await;
    }
}

/// Judges the companion's answer to `<pair-success>`: a result carrying
/// `<pair-device-sign><device-identity key-index=..>` whose device
/// signature verifies, or an error IQ (the companion refused).
fn judge_pair_answer(
    link: &PendingLink,
    identity_key: &[u8; 32],
    node: &Node,
) -> Result<(), SimError> {
    match node.get_attr("type") {
        Some("result") => {
            let identity = node
                .child("pair-device-sign")
                .and_then(|s| s.child("device-identity"))
                .ok_or_else(|| {
                    SimError::PairingRejected(
                        "result lacks <pair-device-sign><device-identity>".into(),
                    )
                })?;
            let signed = identity.content_bytes().unwrap_or_default();
            verify_device_signature(
                &link.issued,
                identity_key,
                signed,
                identity.get_attr("key-index"),
            )
            .map_err(|e| SimError::PairingRejected(e.to_string()))
        }
        _ => {
            let error = node.child("error");
            let code = error.and_then(|e| e.get_attr("code")).unwrap_or("?");
            let text = error.and_then(|e| e.get_attr("text")).unwrap_or("");
            Err(SimError::PairingRejected(format!(
                "companion answered error {code} {text}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;

    fn registration_data(identity: &KeyPair, skey: &KeyPair) -> DevicePairingRegistrationData {
        let signed = [&[DJB_KEY_TYPE][..], &skey.public].concat();
        DevicePairingRegistrationData {
            e_regid: Some(1234u32.to_be_bytes().to_vec()),
            e_keytype: Some(vec![DJB_KEY_TYPE]),
            e_ident: Some(identity.public.to_vec()),
            e_skey_id: Some(vec![0, 0, 1]),
            e_skey_val: Some(skey.public.to_vec()),
            e_skey_sig: Some(identity.sign(&signed).to_vec()),
            build_hash: None,
            device_props: None,
        }
    }

    #[test]
    fn registration_payload_is_read_and_its_prekey_signature_checked() {
        let identity = KeyPair::generate();
        let skey = KeyPair::generate();
        let payload = ClientPayload {
            device_pairing_data: Some(registration_data(&identity, &skey)),
            ..Default::default()
        };
        let hello = classify_payload([7; 32], &payload.encode_to_vec()).unwrap();
        let Hello::Register(reg) = hello else {
            panic!("expected a registration, got {hello:?}")
        };
        assert_eq!(reg.noise_key, [7; 32]);
        assert_eq!(reg.identity_key, identity.public);
        assert_eq!(reg.registration_id, 1234);
        assert_eq!(reg.signed_prekey.id, 1);

        let mut forged = registration_data(&identity, &skey);
        forged.e_skey_sig = Some(KeyPair::generate().sign(&skey.public).to_vec());
        let payload = ClientPayload {
            device_pairing_data: Some(forged),
            ..Default::default()
        };
        let err = classify_payload([7; 32], &payload.encode_to_vec()).unwrap_err();
        assert!(err.contains("signature"), "{err}");
    }

    #[test]
    fn login_payloads_and_garbage_are_classified() {
        let login = ClientPayload {
            username: Some(15550001111),
            device: Some(3),
            ..Default::default()
        };
        assert_eq!(
            classify_payload([0; 32], &login.encode_to_vec()),
            Ok(Hello::Login {
                username: 15550001111,
                device: 3
            })
        );
        let phone_itself = ClientPayload {
            username: Some(15550001111),
            ..Default::default()
        };
        assert!(classify_payload([0; 32], &phone_itself.encode_to_vec()).is_err());
        assert!(classify_payload([0; 32], &ClientPayload::default().encode_to_vec()).is_err());
        assert!(classify_payload([0; 32], &[0xff, 0xff, 0xff]).is_err());
        let short = ClientPayload {
            device_pairing_data: Some(DevicePairingRegistrationData {
                e_regid: Some(vec![1]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = classify_payload([0; 32], &short.encode_to_vec()).unwrap_err();
        assert!(err.contains("eRegid"), "{err}");
    }
}
