//! What every handler of a logged-in companion's stanzas is given, and
//! what it gives back.
//!
//! Owns: [`Session`] and [`Reply`]. Must not touch: any answer.

use tokio::sync::mpsc;

use crate::sim::state::SimState;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// The device a connection speaks for.
pub struct Session<'a> {
    pub state: &'a SimState,
    pub device: &'a DeviceAddress,
    pub conn_id: u64,
    /// Where the connection takes stanzas routed to this device.
    pub deliver: &'a mpsc::UnboundedSender<Node>,
}

/// What to do after a stanza from a logged-in companion.
#[derive(Debug, Default, PartialEq)]
pub struct Reply {
    /// Stanzas to send, in order.
    pub nodes: Vec<Node>,
    /// Close the connection after sending them.
    pub close: bool,
}

impl Reply {
    /// Send `nodes`, stay open.
    pub fn send(nodes: Vec<Node>) -> Self {
        Reply {
            nodes,
            close: false,
        }
    }
}
