//! Text messaging for one session: addressing, the on-disk Signal store,
//! and the blocking steps of sending (encrypt one copy per device) and
//! receiving (decrypt, dedupe) a message.
//!
//! Owns: how Signal state and recently seen message ids are kept on disk
//! (one small file per peer device, written atomically with the ratchet
//! step it belongs to), and the message stanzas' shapes.
//! Must not touch: the socket or the session's state machine; the
//! protocol (`client::protocol`) decides when these steps run, and the
//! run loop runs them on the blocking pool.
//!
//! Nothing here stays in memory between messages: every step loads the
//! records it needs and writes them back, so thousands of idle sessions
//! hold no Signal state at all.

pub mod address;
pub mod device_lists;
pub mod receipts;
pub mod receive;
pub mod send;
pub mod store;

pub use address::{user_of_recipient, DeviceAddress};
pub use device_lists::DeviceLists;
pub use receive::{Incoming, OwnKeys, Received};
pub use send::{Encrypted, Outgoing, Plan, Prepared};
pub use store::SignalStore;
