//! Live connections as the shared state sees them: which connection
//! speaks for which device, and the orders a connection task obeys.
//!
//! Owns: [`Live`], [`Control`] and what orders carry ([`PendingLink`],
//! [`CodeHello`]), [`FaultKind`]. Must not touch: sockets (a connection
//! task owns its socket and reads its control channel), what an order
//! means (`sim::network::conn` acts on it).

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::sim::error::SimError;
use crate::sim::protocol::adv::IssuedIdentity;
use crate::sim::protocol::pair_code::PrimaryPending;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// A fault the admin API can inject into a device's live connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Close the socket without a word.
    Drop,
    /// `<stream:error><conflict type="replaced"/></stream:error>`, close.
    Conflict,
    /// Unlink the device, `<stream:error code="401"><conflict
    /// type="device_removed"/></stream:error>`, close. Permanent.
    Logout,
    /// Stop answering (socket stays open) until the client gives up.
    Silence,
}

/// Orders a connection task obeys; sent by admin operations and by other
/// connections.
pub(crate) enum Control {
    Fault(FaultKind),
    /// Another connection logged in as the same device.
    Replaced,
    /// The device was unlinked by another device (`remove-companion-device`).
    Unlinked,
    /// A phone scanned this connection's QR: send `<pair-success>`, await
    /// the companion's signature, report on `reply`.
    PairSuccess(Box<PendingLink>),
    /// A phone typed a code for this connection's linking-code request:
    /// send the `primary_hello`, await `companion_finish`.
    PairCodeHello(Box<CodeHello>),
}

/// Where the admin call that started a link learns its outcome: the new
/// device.
pub(crate) type LinkReply = oneshot::Sender<Result<DeviceAddress, SimError>>;

/// A link in flight: the `<pair-success>` to deliver and what to register
/// when the companion signs it.
pub(crate) struct PendingLink {
    /// The device being linked.
    pub device: DeviceAddress,
    pub iq_id: String,
    pub node: Node,
    pub issued: IssuedIdentity,
    pub reply: LinkReply,
}

/// A phone typed a code: the notification for the companion, and the
/// phone's half of the flow.
pub(crate) struct CodeHello {
    pub pending: PrimaryPending,
    pub notification: Node,
    pub reply: LinkReply,
}

/// The connection logged in as a device.
pub(crate) struct Live {
    pub conn_id: u64,
    pub control: mpsc::Sender<Control>,
    /// Where stanzas for the device go while it is online; set once the
    /// connection said `active` (and got its offline queue).
    pub deliver: Option<mpsc::UnboundedSender<Node>>,
}
