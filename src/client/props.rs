//! The account's A/B props, asked once per login: the one wasp acts on
//! says the account's 1:1 chats moved to LID addressing.
//!
//! Owns: the `abt` props iq and the latch it sets in the credentials.
//! Must not touch: how sends are addressed (that is `messaging`, which
//! reads the latch).

use tokio::time::Instant;

use super::core::{envelope, expect_result, Action, Ctx, Feature, IqSpec};
use super::ClientError;
use crate::wire::Node;

/// `lid_one_on_one_migration_enabled` (wacore `iq/abprops.rs`, config
/// code 9435): the account's 1:1 chats are on LID.
const LID_ONE_ON_ONE_MIGRATION: &str = "9435";

/// The feature has no state of its own.
#[derive(Default)]
pub struct Props;

/// `<iq xmlns="abt" type="get"><props protocol="1"/></iq>` (wacore
/// `iq/props.rs`); the answer lists `<prop config_code config_value/>`.
struct AbProps;

impl IqSpec for AbProps {
    /// Whether the account's 1:1 chats are on LID.
    type Answer = bool;

    fn request(&self, id: &str) -> Node {
        envelope::iq(
            id,
            "abt",
            "get",
            vec![Node::new("props").attr("protocol", "1")],
        )
    }

    fn parse(&self, answer: &Node) -> Result<bool, ClientError> {
        let props = expect_result(answer)?.child("props");
        Ok(props.is_some_and(|p| {
            p.child_nodes().iter().any(|prop| {
                prop.tag == "prop"
                    && prop.get_attr("config_code") == Some(LID_ONE_ON_ONE_MIGRATION)
                    && matches!(prop.get_attr("config_value"), Some("1" | "true"))
            })
        }))
    }
}

impl Feature for Props {
    fn on_login(&mut self, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        vec![ctx.send_iq(AbProps, now, |_: &mut Props, ctx, answer, _| {
            match answer {
                // One way: once migrated, the account stays on LID.
                Ok(true) if !ctx.creds.lid_migrated => {
                    tracing::info!("the account's chats moved to LID addressing");
                    ctx.creds.lid_migrated = true;
                    vec![Action::SaveCreds]
                }
                Ok(_) | Err(ClientError::NotConnected) => Vec::new(),
                Err(e) => {
                    tracing::debug!(error = %e, "A/B props not answered");
                    Vec::new()
                }
            }
        })]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_prop_is_read_from_the_answer() {
        let answer = |props: Vec<Node>| {
            Node::new("iq")
                .attr("type", "result")
                .children(vec![Node::new("props")
                    .attr("protocol", "1")
                    .children(props)])
        };
        let prop = |code: &str, value: &str| {
            Node::new("prop")
                .attr("config_code", code)
                .attr("config_value", value)
        };
        assert!(AbProps.parse(&answer(vec![prop("9435", "1")])).unwrap());
        assert!(!AbProps.parse(&answer(vec![prop("9435", "0")])).unwrap());
        assert!(!AbProps.parse(&answer(vec![prop("1", "1")])).unwrap());
        assert!(!AbProps.parse(&answer(vec![])).unwrap());
        let request = AbProps.request("i1");
        assert_eq!(request.get_attr("xmlns"), Some("abt"));
        assert_eq!(
            request.child("props").and_then(|p| p.get_attr("protocol")),
            Some("1")
        );
    }
}
