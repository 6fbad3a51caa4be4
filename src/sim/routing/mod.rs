//! The server's routing of what companions send and confirm: messages to
//! every addressed device, receipts back to senders, offline queues and
//! their acks, device-list watchers and their notifications.
//!
//! Owns: the server's side of traffic between devices. Must not touch:
//! the phones' Signal side (`phone`: routing hands them copies and
//! receipts), sockets (stanzas go through each device's queue and live
//! channel).

pub(crate) mod group_messages;
pub(crate) mod messages;
pub(crate) mod offline;
pub(crate) mod receipts;
pub(crate) mod watchers;
