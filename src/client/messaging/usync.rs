//! Device lists by usync: which devices each user has, and the LID it is
//! known by, asked before a text goes out (whatsmeow `usync.go`, wacore
//! `usync.rs`; the `<lid/>` protocol next to `<devices/>` as Baileys'
//! `USyncLIDProtocol` asks it).

use std::collections::HashMap;

use super::device_lists::UserDevices;
use crate::client::core::{envelope, expect_result, IqSpec};
use crate::client::ClientError;
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

/// `<iq xmlns="usync" type="get"><usync context="message" mode="query"
/// ..><query><devices version="2"/><lid/></query><list><user jid/>..`.
pub struct DeviceQuery {
    pub users: Vec<Jid>,
}

impl IqSpec for DeviceQuery {
    /// Device ids (and the LID) per user JID. A user whose device list is
    /// empty (or missing) is not on WhatsApp.
    type Answer = HashMap<Jid, UserDevices>;

    fn request(&self, id: &str) -> Node {
        let list = self
            .users
            .iter()
            .map(|u| Node::new("user").attr("jid", u.to_string()))
            .collect();
        envelope::iq(
            id,
            "usync",
            "get",
            vec![Node::new("usync")
                .attr("sid", id)
                .attr("mode", "query")
                .attr("last", "true")
                .attr("index", "0")
                .attr("context", "message")
                .children(vec![
                    Node::new("query").children(vec![
                        Node::new("devices").attr("version", "2"),
                        Node::new("lid"),
                    ]),
                    Node::new("list").children(list),
                ])],
        )
    }

    fn parse(&self, answer: &Node) -> Result<Self::Answer, ClientError> {
        let users = expect_result(answer)?
            .child("usync")
            .and_then(|u| u.child("list"))
            .map(|l| l.child_nodes())
            .unwrap_or_default();
        Ok(users
            .iter()
            .filter(|u| u.tag == "user")
            .filter_map(|u| {
                let user = DeviceAddress::parse(u.get_attr("jid")?)?.user_jid();
                let ids = u
                    .child("devices")
                    .and_then(|d| d.child("device-list"))
                    .map(|l| l.child_nodes())
                    .unwrap_or_default()
                    .iter()
                    .filter(|d| d.tag == "device")
                    .filter_map(|d| d.get_attr("id")?.parse().ok())
                    .collect();
                // `<lid val="N@lid"/>` (wacore `project_lid_mapping`).
                let lid = u
                    .child("lid")
                    .and_then(|l| l.get_attr("val"))
                    .and_then(|v| Jid::parse(v).ok())
                    .filter(|l| l.is_lid() && !l.user.is_empty())
                    .map(|l| l.to_non_ad());
                Some((user, UserDevices { devices: ids, lid }))
            })
            .collect())
    }
}
