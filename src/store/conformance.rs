//! The behaviour every store backend owes its callers, as checks any
//! backend's test suite runs (`tests/store_conformance.rs` runs them for
//! the files and SQLite; a PostgreSQL backend must pass the same).
//!
//! Each check panics with a message naming the broken promise, like a
//! test assertion.

// Checks fail like assertions do: a broken promise is a panic naming it.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use super::auth::{AuthStore, AuthStores};
use super::outbox::{Backlog, Delivery, Head, NewDelivery, WebhookOutbox};
use super::records::{SessionRecords, SessionRow};
use crate::types::DeviceAddress;

fn device(user: &str, id: u16) -> DeviceAddress {
    DeviceAddress::pn(user, id).expect("digits")
}

/// One session's auth state: credentials, one-time prekeys, peer states
/// and the wipe at logout. `store` must be fresh (never written).
pub fn auth_store(store: &dyn AuthStore) {
    store.prepare().expect("prepare");
    store.prepare().expect("prepare is repeatable");

    assert_eq!(
        store.load_creds().expect("load"),
        None,
        "fresh store has creds"
    );
    store.save_creds(b"first").expect("save creds");
    store.save_creds(b"second").expect("replace creds");
    assert_eq!(
        store.load_creds().expect("load").as_deref(),
        Some(&b"second"[..]),
        "creds not replaced"
    );

    assert_eq!(store.prekey(1).expect("prekey"), None);
    store
        .add_prekeys(&[(3, [3; 32]), (1, [1; 32]), (2, [2; 32])])
        .expect("add prekeys");
    store
        .add_prekeys(&[(4, [4; 32])])
        .expect("add more prekeys");
    assert_eq!(store.prekey_ids().expect("ids"), vec![1, 2, 3, 4]);
    assert_eq!(store.prekey(2).expect("prekey"), Some([2; 32]));
    store.remove_prekey(2).expect("remove");
    store.remove_prekey(2).expect("removing twice is no error");
    assert_eq!(
        store.prekey(2).expect("prekey"),
        None,
        "prekey survived removal"
    );
    assert_eq!(store.prekey_ids().expect("ids"), vec![1, 3, 4]);

    let (a, a2, lid) = (
        device("15550001111", 0),
        device("15550001111", 3),
        DeviceAddress::lid("987654321", 3).expect("digits"),
    );
    assert_eq!(store.peer(&a).expect("peer"), None);
    store
        .save_peers(&[(&a, b"a-1"), (&a2, b"a2-1"), (&lid, b"lid-1")])
        .expect("save peers");
    store.save_peers(&[(&a, b"a-2")]).expect("replace a peer");
    assert_eq!(store.peer(&a).expect("peer").as_deref(), Some(&b"a-2"[..]));
    assert_eq!(
        store.peer(&a2).expect("peer").as_deref(),
        Some(&b"a2-1"[..])
    );
    assert_eq!(
        store.peer(&lid).expect("peer").as_deref(),
        Some(&b"lid-1"[..]),
        "a LID device and a phone-number device of the same number are one"
    );
    // Many versions in a row: each read gives the last one.
    for round in 0..20u8 {
        store.save_peers(&[(&a2, &[round])]).expect("save");
        assert_eq!(store.peer(&a2).expect("peer"), Some(vec![round]));
    }

    // A contact's sessions move to its LID once.
    let lid_dev = DeviceAddress::lid("777000111", 0).expect("digits");
    assert!(
        store.move_peer(&a, &lid_dev).expect("move"),
        "nothing moved"
    );
    assert_eq!(
        store.peer(&a).expect("peer"),
        None,
        "state left at the old address"
    );
    assert_eq!(
        store.peer(&lid_dev).expect("peer").as_deref(),
        Some(&b"a-2"[..])
    );
    store.save_peers(&[(&a, b"newer")]).expect("save");
    assert!(
        !store.move_peer(&a, &lid_dev).expect("move"),
        "a move overwrote state already at the new address"
    );
    assert_eq!(
        store.peer(&lid_dev).expect("peer").as_deref(),
        Some(&b"a-2"[..])
    );
    assert!(!store
        .move_peer(&a2.with_device(9), &lid_dev.with_device(9))
        .expect("move"));

    // LID <-> phone-number mappings, both ways, replaced when they change.
    assert_eq!(store.lid_of("15550001111").expect("lid"), None);
    store
        .put_lid_mappings(&[("777000111", "15550001111"), ("888000222", "15550002222")])
        .expect("put");
    store
        .put_lid_mappings(&[("777000111", "15550001111")])
        .expect("put again");
    assert_eq!(
        store.lid_of("15550001111").expect("lid").as_deref(),
        Some("777000111")
    );
    assert_eq!(
        store.pn_of("888000222").expect("pn").as_deref(),
        Some("15550002222")
    );
    store
        .put_lid_mappings(&[("999000333", "15550001111")])
        .expect("change");
    assert_eq!(
        store.lid_of("15550001111").expect("lid").as_deref(),
        Some("999000333")
    );
    assert_eq!(
        store.pn_of("999000333").expect("pn").as_deref(),
        Some("15550001111")
    );
    assert_eq!(
        store.pn_of("777000111").expect("pn"),
        None,
        "the old LID kept its mapping"
    );
    assert!(
        store.lid_of("../x").is_err(),
        "a user that is not digits was accepted"
    );

    sender_keys(store);
    media_records(store);

    store.wipe(b"tombstone").expect("wipe");
    assert_eq!(
        store.load_creds().expect("load").as_deref(),
        Some(&b"tombstone"[..]),
        "wipe must leave the tombstone as creds"
    );
    assert_eq!(
        store.prekey_ids().expect("ids"),
        Vec::<u32>::new(),
        "prekeys survived a wipe"
    );
}

/// The records of received files, by message id, forgotten by age.
/// Called by [`auth_store`] on its prepared store.
fn media_records(store: &dyn AuthStore) {
    use std::time::Duration;
    assert_eq!(
        store.media("3EB0AA").expect("media"),
        None,
        "fresh store has media"
    );
    store.put_media("3EB0AA", b"first").expect("put");
    store.put_media("3EB0BB", b"other").expect("put");
    store.put_media("3EB0AA", b"second").expect("replace");
    assert_eq!(
        store.media("3EB0AA").expect("media").as_deref(),
        Some(&b"second"[..]),
        "media record not replaced"
    );
    assert_eq!(
        store
            .media("../creds")
            .expect("a name no record has is none"),
        None
    );
    assert_eq!(
        store.prune_media(Duration::from_secs(3600)).expect("prune"),
        0,
        "fresh records were pruned"
    );
    assert!(store.media("3EB0BB").expect("media").is_some());
    assert_eq!(
        store.prune_media(Duration::ZERO).expect("prune"),
        2,
        "old records were kept"
    );
    assert_eq!(
        store.media("3EB0AA").expect("media"),
        None,
        "pruned record still read"
    );
}

/// Sender keys per (group, sender device), and per group the devices that
/// hold our own. Called by [`auth_store`] on its prepared store.
fn sender_keys(store: &dyn AuthStore) {
    let (group, other) = ("120363000000000001", "15550001111-1600000000");
    let (a, a_lid) = (
        device("15550001111", 2),
        DeviceAddress::lid("15550001111", 2).expect("digits"),
    );
    assert_eq!(store.sender_key(group, &a).expect("sender key"), None);
    store.save_sender_key(group, &a, b"k-1").expect("save");
    store.save_sender_key(group, &a, b"k-2").expect("replace");
    store.save_sender_key(other, &a, b"other").expect("save");
    store.save_sender_key(group, &a_lid, b"lid").expect("save");
    assert_eq!(
        store.sender_key(group, &a).expect("sender key").as_deref(),
        Some(&b"k-2"[..]),
        "sender key not replaced"
    );
    assert_eq!(
        store.sender_key(other, &a).expect("sender key").as_deref(),
        Some(&b"other"[..]),
        "sender keys of two groups are one"
    );
    assert_eq!(
        store
            .sender_key(group, &a_lid)
            .expect("sender key")
            .as_deref(),
        Some(&b"lid"[..]),
        "a LID sender and a phone-number sender of the same digits are one"
    );
    assert_eq!(
        store.peer(&a).expect("peer"),
        None,
        "a sender key reads as a pairwise session"
    );
    store.remove_sender_key(group, &a).expect("remove");
    store
        .remove_sender_key(group, &a)
        .expect("removing twice is no error");
    assert_eq!(store.sender_key(group, &a).expect("sender key"), None);
    assert!(
        store.sender_key("../x", &a).is_err() && store.sender_key("1@g.us", &a).is_err(),
        "a group id that is not digits and dashes was accepted"
    );
    assert!(store.save_sender_key("", &a, b"x").is_err());

    assert!(store.sender_key_devices(group).expect("devices").is_empty());
    let b = device("15550002222", 0);
    store
        .add_sender_key_devices(group, &[a.clone(), b.clone()])
        .expect("add");
    store
        .add_sender_key_devices(group, &[b.clone(), a_lid.clone()])
        .expect("add again");
    assert_eq!(
        store.sender_key_devices(group).expect("devices"),
        vec![a.clone(), b.clone(), a_lid.clone()],
        "devices not kept once each, in order"
    );
    assert!(
        store.sender_key_devices(other).expect("devices").is_empty(),
        "devices leak across groups"
    );
    store.reset_sender_key_devices(group).expect("reset");
    store
        .reset_sender_key_devices(group)
        .expect("resetting twice is no error");
    assert!(
        store.sender_key_devices(group).expect("devices").is_empty(),
        "reset kept devices"
    );
    assert!(store.add_sender_key_devices("g/..", &[b]).is_err());
}

/// Sessions are kept apart, listed and removed. `stores` must be empty.
pub fn auth_stores(stores: &dyn AuthStores) {
    assert!(
        stores.open("../escape").is_err(),
        "unsafe session id accepted"
    );
    assert!(stores.open("").is_err(), "empty session id accepted");
    let alice: Arc<dyn AuthStore> = stores.open("alice").expect("open");
    let bob: Arc<dyn AuthStore> = stores.open("bob").expect("open");
    for s in [&alice, &bob] {
        s.prepare().expect("prepare");
    }
    alice.save_creds(b"alice").expect("save");
    bob.save_creds(b"bob").expect("save");
    alice.add_prekeys(&[(1, [9; 32])]).expect("prekeys");
    assert_eq!(
        bob.prekey(1).expect("prekey"),
        None,
        "prekeys leak across sessions"
    );
    assert_eq!(stores.list().expect("list"), vec!["alice", "bob"]);

    stores.remove("alice").expect("remove");
    stores.remove("alice").expect("removing twice is no error");
    assert_eq!(stores.list().expect("list"), vec!["bob"]);
    let again = stores.open("alice").expect("open");
    again.prepare().expect("prepare");
    assert_eq!(
        again.load_creds().expect("load"),
        None,
        "removed session kept its creds"
    );
    assert_eq!(
        bob.load_creds().expect("load").as_deref(),
        Some(&b"bob"[..])
    );
}

/// The host's records: unique ids, lookup, order, removal. `records` must
/// be empty.
pub fn session_records(records: &dyn SessionRecords) {
    let row = |id: &str, created_at| SessionRow {
        id: id.into(),
        created_at,
        webhook_url: Some(format!("http://127.0.0.1:1/{id}")),
        webhook_secret: None,
    };
    assert!(records.insert(&row("bob", 2)).expect("insert"));
    assert!(records.insert(&row("alice", 7)).expect("insert"));
    assert!(
        !records.insert(&row("alice", 9)).expect("insert"),
        "duplicate id accepted"
    );
    assert_eq!(records.get("alice").expect("get"), Some(row("alice", 7)));
    assert_eq!(records.get("carol").expect("get"), None);
    let ids: Vec<String> = records
        .all()
        .expect("all")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec!["alice", "bob"], "rows not ordered by id");
    records.remove("alice").expect("remove");
    records.remove("alice").expect("removing twice is no error");
    assert_eq!(records.all().expect("all"), vec![row("bob", 2)]);
}

fn delivery(url: &str, event: &str, owner: Option<&str>) -> NewDelivery {
    NewDelivery {
        url: url.to_string(),
        secret: Some("s".into()),
        event: event.to_string(),
        body: format!("{{\"event\":\"{event}\"}}"),
        owner: owner.map(str::to_string),
    }
}

/// The claimed head of `url`, or a panic naming `why`.
fn claimed(outbox: &dyn WebhookOutbox, url: &str, now: u64, why: &str) -> Delivery {
    match outbox
        .claim_head(url, now, Duration::from_secs(60))
        .expect("claim")
    {
        Head::Claimed(row) => *row,
        other => panic!("{why}: got {other:?}"),
    }
}

/// The webhook outbox: rows of one endpoint come out oldest first, one
/// at a time; a failed row keeps its place until it is due; delivered
/// rows go; a session's rows can be dropped. `outbox` must be empty.
pub fn webhook_outbox(outbox: &dyn WebhookOutbox) {
    let (a, b) = ("http://a.example/hook", "http://b.example/hook");
    assert_eq!(outbox.pending().expect("pending"), 0, "fresh outbox");
    assert_eq!(
        outbox
            .claim_head(a, 0, Duration::from_secs(60))
            .expect("claim"),
        Head::Empty
    );
    outbox
        .insert(&[
            delivery(a, "first", Some("s1")),
            delivery(b, "other", None),
            delivery(a, "second", Some("s2")),
        ])
        .expect("insert");
    assert_eq!(outbox.pending().expect("pending"), 3);
    let mut endpoints = outbox.endpoints().expect("endpoints");
    endpoints.sort();
    assert_eq!(endpoints, vec![(a.to_string(), 0), (b.to_string(), 0)]);

    let first = claimed(outbox, a, 100, "the oldest row of a is due");
    assert_eq!(first.event, "first", "rows of an endpoint in order");
    assert_eq!(first.secret.as_deref(), Some("s"));
    assert_eq!(first.owner.as_deref(), Some("s1"));
    assert_eq!(first.attempts, 0);

    // A failure keeps the row at the head, not due before next_at.
    outbox
        .failed(first.id, 1, 200, false, "answered 500")
        .expect("failed");
    assert_eq!(
        outbox
            .claim_head(a, 150, Duration::from_secs(60))
            .expect("claim"),
        Head::Wait(Duration::from_secs(50)),
        "a failed row waits until it is due, and the next waits behind it"
    );
    assert_eq!(
        outbox.backlog("s1").expect("backlog"),
        Backlog {
            pending: 1,
            last_error: Some("answered 500".into())
        }
    );
    let again = claimed(outbox, a, 200, "the failed row is due again");
    assert_eq!((again.id, again.attempts), (first.id, 1));
    outbox.delivered(again.id).expect("delivered");
    let second = claimed(outbox, a, 200, "the next row follows");
    assert_eq!(second.event, "second");

    // Given up: kept, but no longer pending nor at the head.
    outbox
        .failed(second.id, 5, 300, true, "gone")
        .expect("failed");
    assert_eq!(
        outbox
            .claim_head(a, 1000, Duration::from_secs(60))
            .expect("claim"),
        Head::Empty
    );
    assert_eq!(outbox.pending().expect("pending"), 1, "only b's row left");
    assert_eq!(outbox.backlog("s2").expect("backlog"), Backlog::default());
    assert_eq!(
        outbox.drop_owner("s2").expect("drop"),
        1,
        "given-up rows go"
    );
    assert_eq!(outbox.drop_owner("s2").expect("drop"), 0);
    let other = claimed(outbox, b, 0, "b's row is due");
    outbox.delivered(other.id).expect("delivered");
    assert_eq!(outbox.pending().expect("pending"), 0);
}
