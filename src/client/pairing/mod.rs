//! Linking this device to a phone: QR codes and linking codes, then the
//! phone's `<pair-success>`.
//!
//! Owns: the QR rotation on the server's refs (`qr`), the linking-code
//! flow (`code_flow`, with its crypto and stanzas in `code`), verifying
//! and answering `<pair-success>` (`pair_success`).
//! Must not touch: logging in (the server restarts the stream with 515
//! after pairing; `connection` takes over), prekeys, messages.

pub mod code;
mod code_flow;
pub mod pair_success;
mod qr;
mod state;
#[cfg(test)]
mod tests;

use tokio::time::Instant;

use super::core::{envelope, Action, Ctx, Feature};
use super::ClientError;
use crate::wire::Node;

pub use code::{CODE_VALIDITY, PAIR_SUCCESS_TIMEOUT};
pub use code_flow::{platform_display, request_code};
pub use qr::{client_type_char, qr_string};
pub use state::{CodeReply, Pairing};

use state::{CodeFlow, QrRotation};

impl Feature for Pairing {
    fn on_node(&mut self, ctx: &mut Ctx, node: &Node, now: Instant) -> Option<Vec<Action>> {
        match node.tag.as_str() {
            "iq" if node.get_attr("type") == Some("set") && envelope::from_server(node) => {
                if let Some(pair_device) = node.child("pair-device") {
                    return Some(self.on_pair_device(ctx, node, pair_device, now));
                }
                let pair_success = node.child("pair-success")?;
                Some(self.on_pair_success(ctx, node, pair_success))
            }
            "notification" if code::is_pair_code_notification(node) => {
                Some(self.on_code_notification(ctx, node))
            }
            _ => None,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let qr = self
            .qr
            .as_ref()
            .filter(|_| self.code.is_none())
            .map(QrRotation::deadline);
        let code = self.code.as_ref().and_then(CodeFlow::deadline);
        qr.into_iter().chain(code).min()
    }

    fn on_timer(&mut self, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        let written_off = self.on_code_timer(ctx, now);
        if !written_off.is_empty() {
            return written_off;
        }
        let mut out = Vec::new();
        if self.code.is_none() && self.qr.as_ref().is_some_and(|q| q.deadline() <= now) {
            let ttl = ctx.config.qr_next_ttl;
            self.show_next_qr(ctx, now, ttl, &mut out);
        }
        out
    }

    fn on_disconnected(&mut self, _ctx: &mut Ctx) {
        self.qr = None;
        if let Some(flow) = self.code.take() {
            flow.fail(ClientError::NotConnected);
        }
    }
}
