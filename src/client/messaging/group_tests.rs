//! Group texts both ways against hand-driven members: our own Signal
//! sessions and sender keys stand in for their phones, the protocol is
//! driven with plain nodes and its blocking work runs on a file store.

use tokio::sync::oneshot;

use super::group_send::phash;
use super::send::send_text;
use super::sender_keys;
use crate::client::core::Action;
use crate::client::testing::*;
use crate::client::{ClientError, Event};
use crate::crypto::KeyPair;
use crate::proto::text;
use crate::signal::{
    self, LocalPreKeys, PreKey, PreKeyBundle, SenderKeyRecord, SessionRecord, SignedPreKey,
};
use crate::store::AuthStore;
use crate::types::{DeviceAddress, Jid, Server};
use crate::wire::Node;

const GROUP: &str = "120363000000000001@g.us";
const GROUP_ID: &str = "120363000000000001";

fn group() -> Jid {
    Jid::new(GROUP_ID, Server::Group)
}

/// A member device: its keys, its session with us, and the sender keys it
/// holds (ours, once we distributed it; its own, to send).
struct Member {
    device: DeviceAddress,
    identity: KeyPair,
    registration_id: u32,
    signed: SignedPreKey,
    one_time: Vec<PreKey>,
    session: SessionRecord,
    our_key: SenderKeyRecord,
    own_key: SenderKeyRecord,
}

impl Member {
    fn new(device: &str) -> Member {
        let identity = KeyPair::generate();
        Member {
            device: DeviceAddress::parse(device).unwrap(),
            signed: SignedPreKey::generate(&identity, 1),
            identity,
            registration_id: 4242,
            one_time: signal::generate_prekeys(1, 1),
            session: SessionRecord::new(),
            our_key: SenderKeyRecord::new(),
            own_key: SenderKeyRecord::new(),
        }
    }

    /// Its bundle as the server hands it out (`<user jid>` of an encrypt
    /// iq's `<list>`).
    fn bundle_node(&self) -> Node {
        let id3 = |id: u32| id.to_be_bytes()[1..].to_vec();
        Node::new("user")
            .attr("jid", self.device.to_string())
            .children(vec![
                Node::new("registration").bytes(self.registration_id.to_be_bytes().to_vec()),
                Node::new("identity").bytes(self.identity.public.to_vec()),
                Node::new("skey").children(vec![
                    Node::new("id").bytes(id3(self.signed.id)),
                    Node::new("value").bytes(self.signed.key_pair.public.to_vec()),
                    Node::new("signature").bytes(self.signed.signature.to_vec()),
                ]),
                Node::new("key").children(vec![
                    Node::new("id").bytes(id3(self.one_time[0].id)),
                    Node::new("value").bytes(self.one_time[0].key_pair.public.to_vec()),
                ]),
            ])
    }

    /// Decrypts its pairwise copy in `stanza` and keeps our sender key.
    fn take_distribution(&mut self, stanza: &Node) {
        let copy = stanza
            .child("participants")
            .unwrap()
            .child_nodes()
            .iter()
            .find(|to| to.get_attr("jid") == Some(&self.device.to_string()))
            .and_then(|to| to.child("enc"))
            .expect("a copy for this member");
        assert_eq!(copy.get_attr("type"), Some("pkmsg"));
        let prekeys = LocalPreKeys {
            signed: std::slice::from_ref(&self.signed),
            one_time: &self.one_time,
        };
        let plaintext = signal::decrypt_prekey_message(
            &mut self.session,
            &self.identity,
            self.registration_id,
            &prekeys,
            copy.content_bytes().unwrap(),
        )
        .unwrap()
        .plaintext;
        let distribution = sender_keys::distribution_in(text::unpad(&plaintext).unwrap()).unwrap();
        signal::process_distribution(&mut self.our_key, &distribution).unwrap();
    }

    /// The text of the stanza's `skmsg`, decrypted with our sender key.
    fn read(&mut self, stanza: &Node) -> String {
        let enc = stanza.child_nodes().last().unwrap();
        assert_eq!(enc.get_attr("type"), Some("skmsg"));
        let padded =
            signal::group_decrypt(&mut self.our_key, enc.content_bytes().unwrap()).unwrap();
        text::decode(text::unpad(&padded).unwrap()).unwrap().text
    }
}

/// `<group>` with us (superadmin) and `others` as members.
fn group_info(others: &[&str]) -> Node {
    let mut participants = vec![Node::new("participant")
        .attr("jid", "15551234567@s.whatsapp.net")
        .attr("type", "superadmin")];
    participants.extend(
        others
            .iter()
            .map(|user| Node::new("participant").attr("jid", format!("{user}@s.whatsapp.net"))),
    );
    Node::new("group")
        .attr("id", GROUP_ID)
        .attr("subject", "Team")
        .children(participants)
}

fn usync_answer(request: &Node, users: &[(&str, &[u16])]) -> Node {
    let list = users
        .iter()
        .map(|(user, devices)| {
            let devices = devices
                .iter()
                .map(|d| Node::new("device").attr("id", d.to_string()))
                .collect();
            Node::new("user")
                .attr("jid", format!("{user}@s.whatsapp.net"))
                .children(vec![
                    Node::new("devices").children(vec![Node::new("device-list").children(devices)])
                ])
        })
        .collect();
    result_for(request).children(vec![
        Node::new("usync").children(vec![Node::new("list").children(list)])
    ])
}

fn tags(node: &Node) -> Vec<&str> {
    node.child_nodes().iter().map(|n| n.tag.as_str()).collect()
}

#[test]
fn a_group_text_hands_our_key_to_each_device_once_and_every_member_reads_it() {
    let (_tmp, store) = temp_store();
    let (mut p, now, _) = connected();
    let own = DeviceAddress::parse(JID).unwrap();
    let mut alice = Member::new("15550001111@s.whatsapp.net");
    let mut phone = Member::new("15551234567@s.whatsapp.net");

    let (reply, mut rx) = oneshot::channel();
    let out = p.on_command(
        send_text(GROUP.into(), "hello group".into(), None, reply),
        now,
    );
    let info = sent(&out)[0].clone();
    assert_eq!(info.get_attr("xmlns"), Some("w:g2"));
    assert_eq!(info.get_attr("to"), Some(GROUP));
    let out = p.on_node(
        &result_for(&info).children(vec![group_info(&["15550001111"])]),
        now,
    );
    let usync = sent(&out)[0].clone();
    assert_eq!(usync.get_attr("xmlns"), Some("usync"));
    let answer = usync_answer(&usync, &[("15551234567", &[0, 7]), ("15550001111", &[0])]);
    let out = deliver(&mut p, &store, &answer, now);
    // No session with either device yet: their bundles first.
    let fetch = sent(&out)[0].clone();
    assert_eq!(fetch.get_attr("xmlns"), Some("encrypt"));
    assert_eq!(fetch.child("key").unwrap().child_nodes().len(), 2);
    let bundles = result_for(&fetch).children(vec![
        Node::new("list").children(vec![alice.bundle_node(), phone.bundle_node()])
    ]);
    let out = deliver(&mut p, &store, &bundles, now);
    let stanza = sent(&out)[0].clone();

    // The references' shape: copies, our identity, then the skmsg.
    assert_eq!(stanza.tag, "message");
    assert_eq!(stanza.get_attr("to"), Some(GROUP));
    assert_eq!(stanza.get_attr("type"), Some("text"));
    assert_eq!(stanza.get_attr("addressing_mode"), Some("pn"));
    let devices = [alice.device.clone(), phone.device.clone()];
    assert_eq!(
        stanza.get_attr("phash"),
        Some(phash(&devices, &own).as_str())
    );
    assert_eq!(tags(&stanza), ["participants", "device-identity", "enc"]);
    assert_eq!(stanza.child("participants").unwrap().child_nodes().len(), 2);
    // Stored before the stanza left; recorded as distributed only once acked.
    assert!(store.sender_key(GROUP_ID, &own).unwrap().is_some());
    assert!(store.sender_key_devices(GROUP_ID).unwrap().is_empty());

    for member in [&mut alice, &mut phone] {
        member.take_distribution(&stanza);
        assert_eq!(member.read(&stanza), "hello group");
    }

    let id = stanza.get_attr("id").unwrap().to_string();
    let ack = Node::new("ack")
        .attr("class", "message")
        .attr("id", id.as_str())
        .attr("t", "1700000009");
    deliver(&mut p, &store, &ack, now);
    let sent_message = rx.try_recv().unwrap().unwrap();
    assert_eq!(sent_message.chat, group());
    assert_eq!(sent_message.timestamp, 1700000009);
    let mut holders = store.sender_key_devices(GROUP_ID).unwrap();
    holders.sort_by_cached_key(ToString::to_string);
    assert_eq!(holders, devices);

    // The next text: members and device lists cached, every device holds
    // our key, so no query first, one skmsg and no copies.
    let (reply, _rx) = oneshot::channel();
    let out = p.on_command(send_text(GROUP.into(), "second".into(), None, reply), now);
    let out = run_blocking_on(&mut p, &store, out);
    let second = sent(&out)[0].clone();
    assert_eq!(second.tag, "message");
    assert_eq!(tags(&second), ["enc"]);
    assert_eq!(alice.read(&second), "second");
    assert_eq!(phone.read(&second), "second");

    // Members changed: the next text asks for them again.
    let added = Node::new("notification")
        .attr("type", "w:gp2")
        .attr("from", GROUP)
        .attr("id", "n1")
        .attr("participant", "15551234567@s.whatsapp.net")
        .children(vec![Node::new("add")
            .children(vec![
                Node::new("participant").attr("jid", "15550003333@s.whatsapp.net")
            ])]);
    deliver(&mut p, &store, &added, now);
    let (reply, _rx) = oneshot::channel();
    let out = p.on_command(send_text(GROUP.into(), "third".into(), None, reply), now);
    let info = sent(&out)[0].clone();
    assert_eq!(info.get_attr("xmlns"), Some("w:g2"));
}

#[test]
fn a_group_send_fails_cleanly() {
    let (_tmp, store) = temp_store();
    let (mut p, now, _) = connected();
    // Not a member (or no such group): the server's 404.
    let (reply, mut rx) = oneshot::channel();
    let out = p.on_command(send_text(GROUP.into(), "x".into(), None, reply), now);
    let info = sent(&out)[0].clone();
    let error = Node::new("iq")
        .attr("type", "error")
        .attr("id", info.get_attr("id").unwrap())
        .children(vec![Node::new("error").attr("code", "404")]);
    deliver(&mut p, &store, &error, now);
    assert!(matches!(
        rx.try_recv().unwrap(),
        Err(ClientError::GroupNotFound(_))
    ));
    // A malformed group JID never reaches the server.
    let (reply, mut rx) = oneshot::channel();
    let out = p.on_command(send_text("abc@g.us".into(), "x".into(), None, reply), now);
    assert!(out.is_empty());
    assert!(matches!(
        rx.try_recv().unwrap(),
        Err(ClientError::InvalidRecipient(_))
    ));
    // A LID group while our LID is unknown.
    let (reply, mut rx) = oneshot::channel();
    let out = p.on_command(send_text(GROUP.into(), "x".into(), None, reply), now);
    let info = sent(&out)[0].clone();
    let lid_group = group_info(&[]).attr("addressing_mode", "lid");
    p.on_node(&result_for(&info).children(vec![lid_group]), now);
    assert!(matches!(
        rx.try_recv().unwrap(),
        Err(ClientError::UnsupportedRecipient(_))
    ));
}

/// Logged in, with a signed prekey members can verify.
fn connected_signed() -> (crate::client::protocol::Protocol, tokio::time::Instant) {
    let mut creds = paired_creds();
    creds.signed_prekey = SignedPreKey::generate(&creds.identity_key, creds.signed_prekey.id);
    let mut p = online(creds);
    let now = tokio::time::Instant::now();
    p.on_node(&Node::new("success").attr("t", "1"), now);
    (p, now)
}

/// Our bundle, for a member that starts a session with us; the one-time
/// prekey is kept in `store`.
fn our_bundle(p: &crate::client::protocol::Protocol, store: &dyn AuthStore) -> PreKeyBundle {
    let one_time = signal::generate_prekeys(1, 1);
    crate::client::creds::append_prekeys(store, &one_time).unwrap();
    let creds = p.creds();
    PreKeyBundle {
        registration_id: creds.registration_id,
        identity_key: creds.identity_key.public,
        signed_prekey_id: creds.signed_prekey.id,
        signed_prekey: creds.signed_prekey.key_pair.public,
        signed_prekey_signature: creds.signed_prekey.signature,
        one_time_prekey: Some((1, one_time[0].key_pair.public)),
    }
}

/// A member's group message: its key's pairwise copy (when `pairwise`)
/// and the skmsg of `body`.
fn from_member(member: &mut Member, id: &str, body: &str, pairwise: bool) -> Node {
    let mut children = Vec::new();
    if pairwise {
        let distribution = signal::create_distribution(&mut member.own_key);
        let plaintext = sender_keys::distribution_plaintext(&group(), &distribution);
        let copy = signal::encrypt(&mut member.session, &member.identity, &plaintext).unwrap();
        children.push(
            Node::new("enc")
                .attr("v", "2")
                .attr("type", copy.enc_type())
                .bytes(copy.bytes().to_vec()),
        );
    }
    let padded = text::pad(&text::encode(body, None));
    let skmsg = signal::group_encrypt(&mut member.own_key, &padded).unwrap();
    children.push(
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .bytes(skmsg),
    );
    Node::new("message")
        .attr("from", GROUP)
        .attr("participant", member.device.to_string())
        .attr("participant_lid", "100000000000001@lid")
        .attr("addressing_mode", "pn")
        .attr("id", id)
        .attr("t", "1700000010")
        .attr("notify", "Alice")
        .attr("type", "text")
        .children(children)
}

fn durable(actions: &[Action]) -> Vec<&Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::EmitDurable(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn a_members_text_is_read_with_the_key_it_handed_us_and_stored_before_it_is_reported() {
    let (_tmp, store) = temp_store();
    let (mut p, now) = connected_signed();
    let mut alice = Member::new("15550001111:2@s.whatsapp.net");
    let bundle = our_bundle(&p, &store);
    signal::initiate_session(&mut alice.session, &alice.identity, 4242, &bundle).unwrap();

    let first = from_member(&mut alice, "G1", "hi all", true);
    let out = p.on_node(&first, now);
    // The decrypting step stores the sender key and the id before the
    // event and the receipt can come out.
    let Some(Action::Blocking(work)) = out.into_iter().next() else {
        panic!("expected blocking work");
    };
    let then = work.run(&store);
    assert!(store.sender_key(GROUP_ID, &alice.device).unwrap().is_some());
    // The pairwise session is kept under the LID the server named.
    let alice_lid = DeviceAddress::lid("100000000000001", 2).unwrap();
    assert!(store.peer(&alice_lid).unwrap().is_some());
    assert!(store.peer(&alice.device).unwrap().is_none());
    assert_eq!(
        store.prekey_ids().unwrap(),
        Vec::<u32>::new(),
        "one-time prekey kept"
    );
    let out = p.on_command(then, now);
    match durable(&out)[..] {
        [Event::Message(m)] => {
            assert_eq!(m.text, "hi all");
            assert_eq!(m.chat, group());
            assert_eq!(m.sender.to_string(), "15550001111:2@s.whatsapp.net");
            assert_eq!(m.sender_pn, Some(Jid::pn("15550001111")));
            assert_eq!(m.sender_lid, Some(Jid::lid("100000000000001")));
            assert_eq!(m.push_name.as_deref(), Some("Alice"));
            assert!(!m.from_me);
        }
        ref other => panic!("{other:?}"),
    }
    let receipt = sent(&out)[0].clone();
    assert_eq!(receipt.tag, "receipt");
    assert_eq!(receipt.get_attr("to"), Some(GROUP));
    assert_eq!(
        receipt.get_attr("participant"),
        Some("15550001111:2@s.whatsapp.net")
    );
    assert_eq!(receipt.get_attr("type"), None);
    assert!(
        matches!(out.last(), Some(Action::Send(_))),
        "receipt before the event"
    );

    // Redelivered: confirmed again, not reported twice.
    let again = deliver(&mut p, &store, &first, now);
    assert!(durable(&again).is_empty());
    assert_eq!(sent(&again).len(), 1);

    // Later texts come as an skmsg alone.
    let second = from_member(&mut alice, "G2", "and again", false);
    let out = deliver(&mut p, &store, &second, now);
    assert!(matches!(durable(&out)[..], [Event::Message(m)] if m.text == "and again"));

    // A restart (nothing in memory): the last text delivered again is
    // reported from what was stored, since a crash may have cut its
    // report short; the one before it is only confirmed.
    let (mut restarted, now) = connected_signed();
    let out = deliver(&mut restarted, &store, &second, now);
    assert!(
        matches!(durable(&out)[..], [Event::Message(m)] if m.text == "and again" && m.id.as_str() == "G2")
    );
    assert_eq!(sent(&out).len(), 1, "confirmed too");
    let out = deliver(&mut restarted, &store, &first, now);
    assert!(durable(&out).is_empty());
    // Delivered again once more (its receipt lost): not reported twice.
    let out = deliver(&mut restarted, &store, &second, now);
    assert!(durable(&out).is_empty());
}

#[test]
fn a_text_without_its_senders_key_asks_for_a_retry() {
    let (_tmp, store) = temp_store();
    let (mut p, now, _) = connected();
    let mut bob = Member::new("15550002222@s.whatsapp.net");
    signal::create_distribution(&mut bob.own_key);
    let message = from_member(&mut bob, "G9", "you cannot read this", false);
    let out = deliver(&mut p, &store, &message, now);
    let retry = sent(&out)[0].clone();
    assert_eq!(retry.get_attr("type"), Some("retry"));
    assert_eq!(retry.get_attr("to"), Some(GROUP));
    assert_eq!(
        retry.get_attr("participant"),
        Some("15550002222@s.whatsapp.net")
    );
    assert_eq!(tags(&retry), ["retry", "registration"]);
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Emit(Event::Undecryptable { chat, .. }) if *chat == group()
    )));
    assert!(store.sender_key(GROUP_ID, &bob.device).unwrap().is_none());
}
