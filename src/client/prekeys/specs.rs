//! The prekey iqs (shapes: wacore-0.7.0 `PreKeyUtils`, whatsmeow
//! `prekeys.go`).

use crate::client::core::{envelope, expect_result, IqSpec};
use crate::client::creds::Creds;
use crate::client::ClientError;
use crate::signal::{SignedPreKey, DJB_KEY_TYPE};
use crate::wire::Node;

/// Prekey ids travel as 3 big-endian bytes.
fn id_bytes(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// `<skey><id/><value/><signature/></skey>`: a signed prekey's public part.
fn skey(signed: &SignedPreKey) -> Node {
    Node::new("skey").children(vec![
        Node::new("id").bytes(id_bytes(signed.id)),
        Node::new("value").bytes(signed.key_pair.public.to_vec()),
        Node::new("signature").bytes(signed.signature.to_vec()),
    ])
}

/// `<iq xmlns="encrypt" type="get"><count/></iq>`: how many one-time
/// prekeys the server still holds (answer: `<count value="N"/>`).
pub struct PreKeyCount;

impl IqSpec for PreKeyCount {
    type Answer = u32;

    fn request(&self, id: &str) -> Node {
        envelope::iq(id, "encrypt", "get", vec![Node::new("count")])
    }

    /// A missing or unreadable count reads as 0: upload rather than run dry.
    fn parse(&self, answer: &Node) -> Result<u32, ClientError> {
        Ok(expect_result(answer)?
            .child("count")
            .and_then(|c| c.get_attr("value"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }
}

/// `<iq xmlns="encrypt" type="set">` uploading one-time prekeys with the
/// registration id, key type, identity key and signed prekey.
pub struct PreKeyUpload {
    registration_id: u32,
    identity: [u8; 32],
    signed: Node,
    keys: Vec<(u32, [u8; 32])>,
}

impl PreKeyUpload {
    /// Uploads `keys` (id, public key) for the device `creds` describe.
    pub fn new(creds: &Creds, keys: impl IntoIterator<Item = (u32, [u8; 32])>) -> Self {
        PreKeyUpload {
            registration_id: creds.registration_id,
            identity: creds.identity_key.public,
            signed: skey(&creds.signed_prekey),
            keys: keys.into_iter().collect(),
        }
    }
}

impl IqSpec for PreKeyUpload {
    type Answer = ();

    fn request(&self, id: &str) -> Node {
        let list = self
            .keys
            .iter()
            .map(|(id, public)| {
                Node::new("key").children(vec![
                    Node::new("id").bytes(id_bytes(*id)),
                    Node::new("value").bytes(public.to_vec()),
                ])
            })
            .collect();
        envelope::iq(
            id,
            "encrypt",
            "set",
            vec![
                Node::new("registration").bytes(self.registration_id.to_be_bytes().to_vec()),
                Node::new("type").bytes(vec![DJB_KEY_TYPE]),
                Node::new("identity").bytes(self.identity.to_vec()),
                Node::new("list").children(list),
                self.signed.clone(),
            ],
        )
    }

    fn parse(&self, answer: &Node) -> Result<(), ClientError> {
        expect_result(answer).map(|_| ())
    }
}

/// `<iq xmlns="encrypt" type="set"><rotate><skey>…</skey></rotate></iq>`:
/// replaces our signed prekey on the server.
pub struct RotateSignedPreKey {
    signed: Node,
}

impl RotateSignedPreKey {
    pub fn new(signed: &SignedPreKey) -> Self {
        RotateSignedPreKey {
            signed: skey(signed),
        }
    }
}

impl IqSpec for RotateSignedPreKey {
    type Answer = ();

    fn request(&self, id: &str) -> Node {
        envelope::iq(
            id,
            "encrypt",
            "set",
            vec![Node::new("rotate").children(vec![self.signed.clone()])],
        )
    }

    fn parse(&self, answer: &Node) -> Result<(), ClientError> {
        expect_result(answer).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::creds::tests_support::creds_without_signature;

    #[test]
    fn prekey_upload_has_the_expected_shape() {
        let mut creds = creds_without_signature();
        creds.registration_id = 300;
        creds.signed_prekey.signature = [4; 64];
        let keys = crate::signal::generate_prekeys(0x010203, 2);
        let spec = PreKeyUpload::new(&creds, keys.iter().map(|k| (k.id, k.key_pair.public)));
        let node = spec.request("i1");
        assert_eq!(node.get_attr("xmlns"), Some("encrypt"));
        assert_eq!(node.get_attr("type"), Some("set"));
        let tags: Vec<&str> = node.child_nodes().iter().map(|n| n.tag.as_str()).collect();
        assert_eq!(tags, ["registration", "type", "identity", "list", "skey"]);
        assert_eq!(
            node.child("registration").unwrap().content_bytes(),
            Some(&[0, 0, 1, 44][..])
        );
        let list = node.child("list").unwrap().child_nodes();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0].child("id").unwrap().content_bytes(),
            Some(&[1, 2, 3][..])
        );
        assert_eq!(
            list[1].child("id").unwrap().content_bytes(),
            Some(&[1, 2, 4][..])
        );
        let skey = node.child("skey").unwrap();
        assert_eq!(
            skey.child("id").unwrap().content_bytes(),
            Some(&[0, 0, 1][..])
        );
        assert_eq!(
            skey.child("signature").unwrap().content_bytes(),
            Some(&[4; 64][..])
        );
    }
}
