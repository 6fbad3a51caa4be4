//! One client connection: handshake, then either a pairing (registration
//! payload) or a logged-in session (login payload), until it ends.
//!
//! Owns: the connection task and its socket: one task per connection,
//! `select!` over the socket, a small control channel (faults,
//! replacement, pair-success, a typed linking code) and the shutdown
//! signal. Must not touch: what a stanza is answered with (`iq`,
//! `routing`), the rules of linking (`linking`): it carries their
//! stanzas and obeys their orders.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout, Instant};
use tracing::{debug, info, warn};

use super::login::{forget_connection, login, LoginRefusal};
use super::transport::ServerWebSocket;
use crate::sim::accounts::is_linked;
use crate::sim::error::SimError;
use crate::sim::iq::{handle_pairing_stanza, handle_session_stanza, Session};
use crate::sim::linking::code_link::{CodeLink, Pairing};
use crate::sim::linking::link::{complete_link, end_scan, judge_pair_answer};
use crate::sim::linking::qr_scan::register_pending;
use crate::sim::protocol::hello::{classify_payload, Hello, Registration};
use crate::sim::protocol::pair_code::companion_reg_stage;
use crate::sim::protocol::stanzas::{
    failure, new_iq_id, pair_device, stream_error_code, stream_error_device_removed,
    stream_error_replaced, success, RESTART_REQUIRED,
};
use crate::sim::state::{Control, FaultKind, PendingLink, SimState};
use crate::wire::socket::{server_handshake, NoiseSocket, ServerIdentity};
use crate::wire::{Node, WireError};

/// Queue depth of a connection's control channel: orders are rare.
const CONTROL_DEPTH: usize = 4;

type Socket = NoiseSocket<ServerWebSocket>;

/// A link whose `<pair-success>` went out, and when it stops waiting for
/// the companion's signature.
type Linking = Option<(Box<PendingLink>, Instant)>;

/// Forgets the connection's entries in the shared state however it ends.
struct Registered {
    state: Arc<SimState>,
    conn_id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        forget_connection(&self.state, self.conn_id);
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
        let _ = self.socket.send_node(&failure(reason)).await;
        self.socket.close().await;
    }

    /// Sends `node`, then closes politely.
    async fn goodbye(mut self, node: &Node) {
        let _ = self.socket.send_node(node).await;
        self.socket.close().await;
    }

    fn register(&self) -> Registered {
        Registered {
            state: self.state.clone(),
            conn_id: self.id,
        }
    }

    /// Sends a link's `<pair-success>` unless one is already waiting for
    /// its signature (that link goes on; this one is refused). `Err` when
    /// the socket failed.
    async fn start_link(
        &mut self,
        linking: &mut Linking,
        link: Box<PendingLink>,
    ) -> Result<(), WireError> {
        if linking.is_some() {
            let _ = link.reply.send(Err(SimError::PairingInProgress));
            return Ok(());
        }
        self.socket.send_node(&link.node).await?;
        *linking = Some((link, Instant::now() + self.state.timing.pair_timeout));
        Ok(())
    }

    /// A companion waiting for a phone to scan one of its refs, or to
    /// type its linking code.
    async fn pairing(mut self, registration: Registration) {
        let (control_tx, mut control) = mpsc::channel(CONTROL_DEPTH);
        let _registered = self.register();
        let identity_key = registration.identity_key;
        let (refs, expires) =
            register_pending(&self.state, self.id, control_tx.clone(), registration);
        let offer = pair_device(&new_iq_id(), &refs);
        if self.socket.send_node(&offer).await.is_err() {
            return;
        }
        let mut linking: Linking = None;
        let mut code = CodeLink::default();
        loop {
            let link_deadline = linking.as_ref().map_or(expires, |(_, d)| *d);
            // A linking code keeps the pairing open past the QR refs.
            let ends = code
                .alive_until()
                .map_or(expires, |until| until.max(expires));
            let code_deadline = code.entered_deadline().unwrap_or(ends);
            tokio::select! {
                _ = self.shutdown.changed() => break,
                // The rotation is over: retire the pairing (a link in
                // flight finishes first, by its own deadline).
                _ = sleep_until(ends), if linking.is_none() => {
                    debug!(conn = self.id, "pairing refs expired");
                    break;
                }
                _ = sleep_until(code_deadline), if code.entered_deadline().is_some() => {
                    code.on_timeout();
                }
                _ = sleep_until(link_deadline), if linking.is_some() => {
                    if let Some((l, _)) = linking.take() {
                        let _ = l.reply.send(Err(SimError::Timeout));
                    }
                    end_scan(&self.state, self.id);
                }
                order = control.recv() => match order {
                    Some(Control::PairSuccess(l)) => {
                        if self.start_link(&mut linking, l).await.is_err() {
                            return;
                        }
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
                    let answers_link = linking.as_ref().is_some_and(|(l, _)| {
                        node.tag == "iq" && node.get_attr("id") == Some(l.iq_id.as_str())
                    });
                    if answers_link {
                        let Some((l, _)) = linking.take() else { continue };
                        if self.finish_link(*l, &identity_key, &node) {
                            // Tell the companion to reconnect and log in.
                            self.goodbye(&stream_error_code(RESTART_REQUIRED)).await;
                            return;
                        }
                    } else if companion_reg_stage(&node).is_some() {
                        let pairing = Pairing {
                            state: &self.state,
                            conn_id: self.id,
                            control: &control_tx,
                        };
                        let step = code.on_iq(&pairing, &node);
                        for answer in &step.send {
                            if self.socket.send_node(answer).await.is_err() {
                                return;
                            }
                        }
                        if let Some(l) = step.link {
                            if self.start_link(&mut linking, l).await.is_err() {
                                return;
                            }
                        }
                    } else if let Some(answer) = handle_pairing_stanza(&node) {
                        if self.socket.send_node(&answer).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        self.socket.close().await;
    }

    /// The companion answered a `<pair-success>`: registers the device
    /// when its signature holds and reports the outcome. True once linked.
    fn finish_link(&self, link: PendingLink, identity_key: &[u8; 32], answer: &Node) -> bool {
        match judge_pair_answer(&link, identity_key, answer) {
            Ok(()) => {
                let outcome = complete_link(&self.state, self.id, &link);
                if let Ok(device) = &outcome {
                    info!(%device, "companion linked");
                }
                let linked = outcome.is_ok();
                let _ = link.reply.send(outcome);
                linked
            }
            Err(why) => {
                warn!(conn = self.id, "pairing refused: {why}");
                let _ = link.reply.send(Err(why));
                end_scan(&self.state, self.id);
                false
            }
        }
    }

    /// A companion logging in as a linked device.
    async fn session(mut self, username: u64, device: u32, noise_key: [u8; 32]) {
        let (control_tx, mut control) = mpsc::channel(CONTROL_DEPTH);
        let _registered = self.register();
        let grant = match login(
            &self.state,
            self.id,
            control_tx,
            username,
            device,
            &noise_key,
        ) {
            Ok(grant) => grant,
            Err(LoginRefusal::Unauthorized) => {
                debug!(username, device, "login refused");
                self.refuse("401").await;
                return;
            }
        };
        let me = grant.device;
        debug!(device = %me, "logged in");
        let welcome = success(&grant.lid, self.state.now());
        if self.socket.send_node(&welcome).await.is_err() {
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
                        self.goodbye(&stream_error_replaced()).await;
                        return;
                    }
                    Some(Control::Fault(FaultKind::Logout)) | Some(Control::Unlinked) => {
                        self.goodbye(&stream_error_device_removed()).await;
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
                    if !is_linked(&self.state, &me) {
                        self.goodbye(&stream_error_device_removed()).await;
                        return;
                    }
                    let session = Session {
                        state: &self.state,
                        device: &me,
                        conn_id: self.id,
                        deliver: &deliver,
                    };
                    let reply = handle_session_stanza(&session, &node);
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
