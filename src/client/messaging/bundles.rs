//! Prekey bundles: what it takes to start a Signal session with a device
//! we never spoke with (`<iq xmlns="encrypt" type="get"><key>`; whatsmeow
//! `prekeys.go`, wacore `prekeys.rs`). The server hands out one one-time
//! prekey per bundle.

use std::collections::HashMap;

use crate::client::core::{envelope, expect_result, IqSpec};
use crate::client::ClientError;
use crate::signal::PreKeyBundle;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// `<iq xmlns="encrypt" type="get"><key><user jid/>..</key></iq>`.
pub struct BundleFetch {
    pub devices: Vec<DeviceAddress>,
}

impl IqSpec for BundleFetch {
    /// The bundles of the answer's `<list><user jid>..`; users that answer
    /// with an `<error>` or malformed keys are left out.
    type Answer = HashMap<DeviceAddress, PreKeyBundle>;

    fn request(&self, id: &str) -> Node {
        let users = self
            .devices
            .iter()
            .map(|d| Node::new("user").attr("jid", d.to_string()))
            .collect();
        envelope::iq(id, "encrypt", "get", vec![Node::new("key").children(users)])
    }

    fn parse(&self, answer: &Node) -> Result<Self::Answer, ClientError> {
        let users = expect_result(answer)?
            .child("list")
            .map(|l| l.child_nodes())
            .unwrap_or_default();
        Ok(users
            .iter()
            .filter(|u| u.tag == "user")
            .filter_map(|u| {
                let address = DeviceAddress::parse(u.get_attr("jid")?)?;
                Some((address, parse_bundle(u)?))
            })
            .collect())
    }
}

fn parse_bundle(user: &Node) -> Option<PreKeyBundle> {
    fn bytes(n: Option<&Node>) -> Option<&[u8]> {
        n.and_then(Node::content_bytes)
    }
    fn fixed(n: Option<&Node>) -> Option<[u8; 32]> {
        bytes(n)?.try_into().ok()
    }
    fn id3(n: Option<&Node>) -> Option<u32> {
        let b = bytes(n)?;
        (b.len() == 3).then(|| u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
    let registration: [u8; 4] = bytes(user.child("registration"))?.try_into().ok()?;
    let skey = user.child("skey")?;
    let signature: [u8; 64] = bytes(skey.child("signature"))?.try_into().ok()?;
    let one_time_prekey = match user.child("key") {
        Some(key) => Some((id3(key.child("id"))?, fixed(key.child("value"))?)),
        None => None,
    };
    Some(PreKeyBundle {
        registration_id: u32::from_be_bytes(registration),
        identity_key: fixed(user.child("identity"))?,
        signed_prekey_id: id3(skey.child("id"))?,
        signed_prekey: fixed(skey.child("value"))?,
        signed_prekey_signature: signature,
        one_time_prekey,
    })
}
