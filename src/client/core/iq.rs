//! Iqs: one spec type per request, and the table of those in flight.
//!
//! An [`IqSpec`] builds its request and reads its answer (the shape of
//! whatsapp-rust's `IqSpec`). [`Ctx::iq`] sends one and stores what to do
//! with the answer; the answer, a timeout or a lost connection all reach
//! that same continuation, as `Ok(answer)` or `Err(ClientError)`.

use std::time::Duration;

use tokio::time::Instant;

use super::context::{Action, Ctx, Then};
use crate::client::ClientError;
use crate::wire::Node;

/// One kind of iq: how to ask, and how to read what the server says.
pub trait IqSpec: Send + 'static {
    type Answer: Send + 'static;

    /// The request, with stanza id `id`.
    fn request(&self, id: &str) -> Node;

    /// Reads the server's answer (`type="result"` or `type="error"`; most
    /// specs start with [`expect_result`]).
    fn parse(&self, answer: &Node) -> Result<Self::Answer, ClientError>;
}

/// The answer itself when it is a result; the server's error otherwise.
pub fn expect_result(answer: &Node) -> Result<&Node, ClientError> {
    if answer.get_attr("type") == Some("result") {
        return Ok(answer);
    }
    let error = answer.child("error");
    let attr = |key| {
        error
            .and_then(|e| e.get_attr(key))
            .unwrap_or_default()
            .to_string()
    };
    Err(ClientError::Server {
        code: attr("code"),
        text: attr("text"),
    })
}

impl Ctx {
    /// Sends the iq `spec` describes; its answer (or `Timeout` after
    /// `timeout`, or `NotConnected` when the connection drops first) is
    /// handed to `then` on feature `F`.
    pub fn iq<S: IqSpec, F: std::any::Any + Send>(
        &mut self,
        spec: S,
        timeout: Duration,
        now: Instant,
        then: impl FnOnce(&mut F, &mut Ctx, Result<S::Answer, ClientError>, Instant) -> Vec<Action>
            + Send
            + 'static,
    ) -> Action {
        let id = self.iqs.next_id();
        let request = spec.request(&id);
        self.iqs.track(
            id,
            now + timeout,
            Box::new(move |answer| {
                let answer = answer.and_then(|node| spec.parse(node));
                Then::to::<F>(move |feature, ctx, now| then(feature, ctx, answer, now))
            }),
        );
        Action::Send(request)
    }

    /// [`Ctx::iq`] with the configured iq timeout.
    pub fn send_iq<S: IqSpec, F: std::any::Any + Send>(
        &mut self,
        spec: S,
        now: Instant,
        then: impl FnOnce(&mut F, &mut Ctx, Result<S::Answer, ClientError>, Instant) -> Vec<Action>
            + Send
            + 'static,
    ) -> Action {
        let timeout = self.config.iq_timeout;
        self.iq(spec, timeout, now, then)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_carry_the_servers_code() {
        let error = Node::new("iq")
            .attr("type", "error")
            .children(vec![Node::new("error")
                .attr("code", "404")
                .attr("text", "item-not-found")]);
        match expect_result(&error) {
            Err(ClientError::Server { code, text }) => {
                assert_eq!((code.as_str(), text.as_str()), ("404", "item-not-found"))
            }
            other => panic!("{other:?}"),
        }
        let ok = Node::new("iq").attr("type", "result");
        assert!(expect_result(&ok).is_ok());
    }
}
