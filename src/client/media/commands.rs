//! The media commands: [`Client::media_conn`], and the one step it hands
//! the session (the cached hosts, or the `media_conn` iq);
//! [`Client::received_media`] and [`Client::reupload_media`] (whose steps
//! are `messaging::media_records` and `reupload`).
//!
//! Owns: that step and the `Client` methods every transfer shares. Must
//! not touch: the transfers themselves (`upload`, `download`).

use tokio::sync::oneshot;

use super::conn::{MediaConn, MediaConnQuery};
use super::Media;
use crate::client::core::{Phase, Then};
use crate::client::messaging::lookup_media;
use crate::client::{Client, ClientError, IncomingMedia};

/// The media hosts: as cached while fresh, else asked of the server.
fn media_conn(reply: oneshot::Sender<Result<MediaConn, ClientError>>) -> Then {
    Then::to::<Media>(move |media, ctx, now| {
        if let Some(conn) = media.conn.as_ref().filter(|c| c.fresh(now)) {
            let _ = reply.send(Ok((**conn).clone()));
            return Vec::new();
        }
        if ctx.phase != Phase::Connected {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        let query = MediaConnQuery { asked: now };
        vec![
            ctx.send_iq(query, now, move |media: &mut Media, _, answer, _| {
                if let Ok(conn) = &answer {
                    media.conn = Some(Box::new(conn.clone()));
                }
                let _ = reply.send(answer);
                Vec::new()
            }),
        ]
    })
}

impl Client {
    /// Where media goes now, and the token to upload with.
    pub async fn media_conn(&self) -> Result<MediaConn, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(media_conn(reply)).await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// The `media` of received message `id` as its event gave it, while
    /// the session keeps it (`ClientConfig::media_retention`); `None` for
    /// a message with no file kept. Errors: `NotConnected` (the session
    /// reads its store only while it runs), `Stopped`, storage errors.
    pub async fn received_media(&self, id: &str) -> Result<Option<IncomingMedia>, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(lookup_media(id.to_owned(), reply)).await?;
        rx.await.map_err(|_| ClientError::NotConnected)?
    }

    /// Asks our phone to upload the file of received message `id` again
    /// and answers with its `media`, pointed at the new copy (the kept
    /// record is updated too). Errors: `UnknownMessage` when no record is
    /// kept, `MediaGone` when the phone no longer has the file or does not
    /// answer within [`REUPLOAD_TIMEOUT`](super::REUPLOAD_TIMEOUT),
    /// `NotConnected`.
    pub async fn reupload_media(&self, id: &str) -> Result<IncomingMedia, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(super::reupload::request(id.to_owned(), reply))
            .await?;
        rx.await.map_err(|_| ClientError::NotConnected)?
    }

    /// How media travels: over TLS trusting whom the chat connection
    /// trusts, always but to a simulator on loopback whose chat URL is
    /// `ws://` (plain HTTP then).
    pub(super) fn media_tls(&self) -> Option<&std::sync::Arc<rustls::ClientConfig>> {
        (!self.config.url.starts_with("ws://")).then_some(&self.config.tls)
    }
}
