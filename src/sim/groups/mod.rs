//! Groups: the rules of creating and changing them, how they are shown on
//! the wire, and who is told of a change.
//!
//! Owns: `manage` (the rules and refusals), `admin` (what the admin
//! API does with groups), `view` (a group in its
//! namespace), `notify` (the `w:gp2` notifications). Must not touch:
//! group messages (`routing::group_messages`, `phone::group_send`), the
//! IQs' shapes (`iq::groups`).

pub(crate) mod admin;
pub(crate) mod manage;
pub(crate) mod notify;
pub(crate) mod view;
