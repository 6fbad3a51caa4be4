//! One-time and signed prekeys: keeping enough one-time prekeys on the
//! server for contacts to start sessions with us, and rotating the signed
//! prekey.
//!
//! Owns: the prekey count asked at login, uploads (at login when the
//! server is low, and on its `<notification type="encrypt">`), signed
//! prekey rotation at login, and their iq specs.
//! Must not touch: sessions with peers (that is `messaging`), the socket.

mod specs;
#[cfg(test)]
mod tests;

use tokio::time::Instant;

use super::core::{envelope, Action, Ctx, Feature, Phase};
use super::ClientError;
use crate::signal::{generate_prekeys, next_prekey_id};
use crate::wire::Node;

pub use specs::{PreKeyCount, PreKeyUpload, RotateSignedPreKey};

/// Prekey state of one connection.
#[derive(Default)]
pub struct PreKeys {
    /// An upload is in flight: another would reuse nothing but waste a batch.
    uploading: bool,
}

impl Feature for PreKeys {
    /// `<notification type="encrypt"><count value=N/>`: the server is
    /// running low on our one-time prekeys (whatsmeow
    /// `handleEncryptNotification`). Acked either way.
    fn on_node(&mut self, ctx: &mut Ctx, node: &Node, now: Instant) -> Option<Vec<Action>> {
        if node.tag != "notification" || node.get_attr("type") != Some("encrypt") {
            return None;
        }
        let mut out = envelope::ack_actions(node);
        let low = node
            .child("count")
            .and_then(|c| c.get_attr("value"))
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|n| n < ctx.config.prekey_min_count);
        if low && ctx.phase == Phase::Connected {
            out.extend(self.upload(ctx, now));
        }
        Some(out)
    }

    /// At login: rotate an old signed prekey, then ask how many one-time
    /// prekeys the server holds.
    fn on_login(&mut self, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        let mut out = rotate_signed_prekey_if_old(ctx, now);
        out.push(ctx.send_iq(
            PreKeyCount,
            now,
            |keys: &mut PreKeys, ctx, answer, now| match answer {
                Ok(count) if count < ctx.config.prekey_min_count => keys.upload(ctx, now),
                Ok(_) => Vec::new(),
                Err(e) => {
                    warn_post_login("prekey count", &e);
                    Vec::new()
                }
            },
        ));
        out
    }

    fn on_disconnected(&mut self, _ctx: &mut Ctx) {
        self.uploading = false;
    }
}

impl PreKeys {
    /// Generates a batch, persists it and the advanced id before the
    /// upload goes out, so a crash can never reuse an uploaded id.
    fn upload(&mut self, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        if self.uploading {
            return Vec::new();
        }
        let keys = generate_prekeys(ctx.creds.next_prekey_id, ctx.config.prekey_batch);
        let Some(last) = keys.last() else {
            return Vec::new();
        };
        let next_id = next_prekey_id(last.id);
        ctx.creds.next_prekey_id = next_id;
        self.uploading = true;
        let spec = PreKeyUpload::new(&ctx.creds, keys.iter().map(|k| (k.id, k.key_pair.public)));
        let send = ctx.send_iq(spec, now, move |keys: &mut PreKeys, ctx, answer, _| {
            keys.uploading = false;
            match answer {
                Ok(()) => {
                    ctx.creds.first_unuploaded_prekey_id = next_id;
                    vec![Action::SaveCreds]
                }
                Err(e) => {
                    warn_post_login("prekey upload", &e);
                    Vec::new()
                }
            }
        });
        vec![Action::StorePreKeys(keys), Action::SaveCreds, send]
    }
}

/// At login: a signed prekey older than the rotation period is replaced.
/// The new one is saved before the server hears of it, and the old one
/// kept for first messages already encrypted to it.
fn rotate_signed_prekey_if_old(ctx: &mut Ctx, now: Instant) -> Vec<Action> {
    let wall = ctx.unix_now();
    if ctx.creds.signed_prekey_at == 0 {
        ctx.creds.signed_prekey_at = wall;
        return vec![Action::SaveCreds];
    }
    let age = wall.saturating_sub(ctx.creds.signed_prekey_at);
    if age < ctx.config.signed_prekey_rotation.as_secs() {
        return Vec::new();
    }
    ctx.creds.rotate_signed_prekey(wall);
    tracing::info!(
        id = ctx.creds.signed_prekey.id,
        "rotating the signed prekey"
    );
    let spec = RotateSignedPreKey::new(&ctx.creds.signed_prekey);
    let send = ctx.send_iq(spec, now, |_: &mut PreKeys, _, answer, _| {
        if let Err(e) = answer {
            // Kept anyway: bundles the server hands out still name the
            // previous key, which we keep.
            warn_post_login("signed prekey rotation", &e);
        }
        Vec::new()
    });
    vec![Action::SaveCreds, send]
}

fn warn_post_login(what: &str, error: &ClientError) {
    match error {
        ClientError::NotConnected => {}
        ClientError::Timeout => tracing::warn!(what, "post-login iq timed out"),
        other => tracing::warn!(what, error = %other, "server refused a post-login iq"),
    }
}
