//! Groups checked against an independent client: a `whatsapp-rust` 0.7
//! peer is a member of a group a simulated phone created, and the peer
//! and the phones read each other's group texts (sender keys distributed
//! pairwise, `skmsg` fanned out by the simulator), also after a member is
//! added (it gets the keys) and removed (it reads no more). Then the peer
//! manages a group of its own through the `w:g2` IQs.
//!
//! What whatsapp-rust relies on, from the simulator's side: the `<group>`
//! answer to its query (members to fan out to), usync device lists and
//! prekey bundles of every member device, the group copy `from` the group
//! with the sender as `participant` (its pairwise `pkmsg` before the
//! `skmsg`), `w:gp2` notifications of adds and removes, and the answers to
//! create, subject, description, add, promote, invite and leave.

mod harness;
mod interop;

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::{
    GroupCreateOptions, GroupDescription, GroupParticipantOptions, GroupSubject, Jid,
    PreviousDescription,
};

use interop::admin::AdminClient;
use interop::link::{
    link_fresh_peer, next_text_info, sim_with_peer, wait_for_phone_text, SHORT_HANG_GUARD,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_and_phones_read_each_others_group_texts() -> Result<()> {
    let (_sim, admin, walt, mut peer) = sim_with_peer().await?;
    let alice = admin.create_phone().await?;
    let bob = admin.create_phone().await?;
    let carol = admin.create_phone().await?;
    let group = admin
        .create_group(&alice, "Team", &[bob.as_str(), walt.as_str()])
        .await?;
    let group_jid: Jid = group.id.parse()?;

    // Alice's phone -> the group: whatsapp-rust takes her sender key from
    // the pairwise copy and decrypts the skmsg.
    admin
        .phone_send(&alice, &group.id, "hello from alice")
        .await?;
    let (text, info) = next_group_text(&mut peer.events).await?;
    assert_eq!(text, "hello from alice");
    assert_eq!(info.source.chat, group_jid);
    assert!(info.source.is_group);
    assert_eq!(info.source.sender.user.as_str(), alice.as_str());

    // whatsapp-rust -> the group: it reads the members from the server,
    // hands its sender key to every member device and sends one skmsg.
    send(&peer.client, &group_jid, "hello from walt").await?;
    for phone in [&alice, &bob] {
        let got = wait_for_phone_text(&admin, phone, "hello from walt").await?;
        assert_eq!(got.chat, group.id);
        assert!(got.from.starts_with(&format!("{walt}:")), "{got:?}");
    }

    // Bob's phone -> the group.
    admin.phone_send(&bob, &group.id, "hello from bob").await?;
    let (text, info) = next_group_text(&mut peer.events).await?;
    assert_eq!(text, "hello from bob");
    assert_eq!(info.source.sender.user.as_str(), bob.as_str());

    // Carol is added: whatsapp-rust hears of it and gives her its key.
    admin
        .change_group(&group.id, &alice, &[carol.as_str()], &[])
        .await?;
    wait_for_membership(&mut peer.events, "add").await?;
    send(&peer.client, &group_jid, "welcome carol").await?;
    wait_for_phone_text(&admin, &carol, "welcome carol").await?;
    admin
        .phone_send(&carol, &group.id, "thanks from carol")
        .await?;
    let (text, _) = next_group_text(&mut peer.events).await?;
    assert_eq!(text, "thanks from carol");

    // Bob is removed: whatsapp-rust starts a new sender key, Bob's phone
    // gets nothing more from anyone.
    admin
        .change_group(&group.id, &alice, &[], &[bob.as_str()])
        .await?;
    wait_for_membership(&mut peer.events, "remove").await?;
    send(&peer.client, &group_jid, "without bob").await?;
    wait_for_phone_text(&admin, &alice, "without bob").await?;
    wait_for_phone_text(&admin, &carol, "without bob").await?;
    admin.phone_send(&alice, &group.id, "bob is gone").await?;
    let (text, _) = next_group_text(&mut peer.events).await?;
    assert_eq!(text, "bob is gone");
    let bobs: Vec<String> = admin.phone_texts(&bob).await?;
    assert!(
        !bobs
            .iter()
            .any(|t| t == "without bob" || t == "bob is gone"),
        "a removed member decrypted later texts: {bobs:?}"
    );

    assert_eq!(peer.http.attempts(), Vec::<String>::new());
    peer.handle.shutdown().await;
    Ok(())
}

/// Our client against an independent one in the same group: a wasp
/// session creates it with whatsapp-rust's account and a phone as members;
/// whatsapp-rust takes our sender key from our pairwise copy and decrypts
/// our `skmsg` (also the second, which carries no copy), and the session
/// decrypts whatsapp-rust's group texts (its key distribution, then its
/// `skmsg`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasp_session_and_whatsapp_rust_read_each_others_group_texts() -> Result<()> {
    interop::init_tracing();
    let h = harness::Harness::new().await;
    let admin = AdminClient::new(&h.sim.http_url())?;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let walt = admin.create_phone().await?;
    let mut peer = link_fresh_peer(&h.sim, &admin, &walt, interop::peer::new_store()).await?;
    let bob = admin.create_phone().await?;

    let group = alice
        .client
        .create_group("Mixed", &[format!("+{walt}"), format!("+{bob}")])
        .await?;
    let gid = group.jid.to_string();
    let group_jid: Jid = gid.parse()?;

    for text in ["hello from wasp", "again from wasp"] {
        alice.client.send_text(&gid, text).await?;
        let (got, info) = next_group_text(&mut peer.events).await?;
        assert_eq!(got, text);
        assert_eq!(info.source.chat, group_jid);
        assert_eq!(info.source.sender.user.as_str(), alice_phone.as_str());
        wait_for_phone_text(&admin, &bob, text).await?;
    }

    send(&peer.client, &group_jid, "hello from walt").await?;
    let got = alice
        .next_matching(|e| match e {
            wasp::client::Event::Message(m) => Some(m.clone()),
            wasp::client::Event::Undecryptable { reason, .. } => {
                panic!("the session could not decrypt: {reason}")
            }
            _ => None,
        })
        .await;
    assert_eq!(got.text, "hello from walt");
    assert_eq!(got.chat.to_string(), gid);
    assert_eq!(got.sender.user, walt);
    wait_for_phone_text(&admin, &bob, "hello from walt").await?;

    assert_eq!(peer.http.attempts(), Vec::<String>::new());
    peer.handle.shutdown().await;
    Ok(())
}

/// A LID-addressed group: members are named by LID with their phone
/// numbers beside, and whatsapp-rust distributes its key to LID devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lid_group_names_senders_by_lid() -> Result<()> {
    let (_sim, admin, walt, mut peer) = sim_with_peer().await?;
    let alice = admin.create_phone().await?;
    let alice_lid = admin.lid_status(&alice).await?.lid;
    let walt_lid = admin.lid_status(&walt).await?.lid;
    let group = admin
        .create_group_addressed(&alice, "Lid", &[walt.as_str()], "lid")
        .await?;
    assert_eq!(group.addressing_mode, "lid");
    let group_jid: Jid = group.id.parse()?;

    admin.phone_send(&alice, &group.id, "lid hello").await?;
    let (text, info) = next_group_text(&mut peer.events).await?;
    assert_eq!(text, "lid hello");
    assert_eq!(info.source.sender.to_string(), alice_lid);
    assert_eq!(
        info.source.sender_alt.as_ref().map(ToString::to_string),
        Some(format!("{alice}@s.whatsapp.net"))
    );

    send(&peer.client, &group_jid, "lid answer").await?;
    let got = wait_for_phone_text(&admin, &alice, "lid answer").await?;
    let walt_lid_user = walt_lid.trim_end_matches("@lid");
    assert!(
        got.from.starts_with(&format!("{walt_lid_user}:")),
        "{got:?}"
    );

    peer.handle.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_manages_a_group_through_the_simulator() -> Result<()> {
    let (sim, admin, walt, peer) = sim_with_peer().await?;
    let alice = admin.create_phone().await?;
    let bob = admin.create_phone().await?;
    let groups = peer.client.groups();
    let pn = |p: &str| -> Result<Jid> { Ok(format!("{p}@s.whatsapp.net").parse()?) };

    let options = GroupCreateOptions::new("Walt's")
        .with_participant(GroupParticipantOptions::new(pn(&alice)?));
    let created = guard(groups.create_group(options)).await??.metadata;
    assert_eq!(created.subject, "Walt's");
    assert_eq!(created.participants.len(), 2);
    let id = created.id.clone();
    let seen = admin.group(&id.to_string()).await?;
    assert_eq!(seen.participants[0].phone, walt);
    assert_eq!(seen.participants[0].role, "superadmin");

    guard(groups.set_subject(id.clone(), GroupSubject::new("Renamed")?)).await??;
    let about = GroupDescription::new("What we do")?;
    guard(groups.set_description(id.clone(), Some(about), PreviousDescription::Resolve)).await??;
    let added = guard(groups.add_participants(id.clone(), &[pn(&bob)?])).await??;
    assert!(added.iter().all(|r| r.is_ok()), "{added:?}");
    let promoted = guard(groups.promote_participants(id.clone(), &[pn(&bob)?])).await??;
    assert!(promoted.iter().all(|r| r.is_ok()), "{promoted:?}");

    let metadata = guard(groups.get_metadata(&id)).await??;
    assert_eq!(metadata.subject, "Renamed");
    assert_eq!(metadata.description.as_deref(), Some("What we do"));
    let bob_role = metadata
        .participants
        .iter()
        .find(|p| p.jid.user.as_str() == bob.as_str())
        .map(|p| p.is_admin());
    assert_eq!(bob_role, Some(true));

    let link = guard(groups.get_invite_link(id.clone(), false)).await??;
    let code = link.trim_start_matches("https://chat.whatsapp.com/");
    let seen = admin.group(&id.to_string()).await?;
    assert_eq!(seen.subject, "Renamed");
    assert_eq!(seen.participants.len(), 3);
    assert_eq!(sim.state().group(&id.to_string())?.invite_code, code);
    let listed = guard(groups.get_participating()).await??;
    assert!(listed.contains_key(&id));

    let removed = guard(groups.remove_participants(id.clone(), &[pn(&alice)?])).await??;
    assert!(removed.iter().all(|r| r.is_ok()), "{removed:?}");
    guard(groups.leave(id.clone())).await??;
    let seen = admin.group(&id.to_string()).await?;
    let left: Vec<&str> = seen.participants.iter().map(|p| p.phone.as_str()).collect();
    assert_eq!(left, [bob.as_str()]);
    assert_eq!(seen.participants[0].role, "admin");

    peer.handle.shutdown().await;
    Ok(())
}

/// Hang guard around one whatsapp-rust call.
async fn guard<T>(call: impl std::future::Future<Output = T>) -> Result<T> {
    tokio::time::timeout(SHORT_HANG_GUARD, call)
        .await
        .context("whatsapp-rust call hung (hang guard)")
}

async fn send(client: &whatsapp_rust::client::Client, group: &Jid, text: &str) -> Result<()> {
    guard(client.send_text(group.clone(), text))
        .await?
        .map_err(|e| anyhow::anyhow!("whatsapp-rust could not send {text:?}: {e}"))?;
    Ok(())
}

/// The next group text the peer decrypts.
async fn next_group_text(
    events: &mut mpsc::UnboundedReceiver<Arc<Event>>,
) -> Result<(String, Arc<whatsapp_rust::types::message::MessageInfo>)> {
    let (text, info) = next_text_info(events).await?;
    if !info.source.is_group {
        bail!(
            "expected a group text, got {text:?} from {}",
            info.source.chat
        );
    }
    Ok((text, info))
}

/// Waits for whatsapp-rust's `GroupUpdate` of a member change (`add` or
/// `remove`).
async fn wait_for_membership(
    events: &mut mpsc::UnboundedReceiver<Arc<Event>>,
    action: &str,
) -> Result<()> {
    let wait = async {
        while let Some(event) = events.recv().await {
            if let Event::GroupUpdate(update) = &*event {
                if update.action.wire_tag() == action {
                    return Ok(());
                }
            }
        }
        bail!("whatsapp-rust's event stream ended")
    };
    tokio::time::timeout(SHORT_HANG_GUARD, wait)
        .await
        .context("no group update (hang guard)")?
}
