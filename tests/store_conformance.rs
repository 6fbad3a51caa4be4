//! Every store backend passes the same checks (`wasp::store::conformance`):
//! here the single-node defaults, files for auth state and SQLite for the
//! host's records. A later backend (PostgreSQL in cluster mode) adds its
//! own calls of the same functions.

use wasp::store::{
    conformance, DataDir, FileAuthStore, FileStores, SessionRecords, SqliteOutbox, SqliteRecords,
};

#[test]
fn file_auth_store_keeps_its_promises() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = DataDir::open(tmp.path()).expect("data dir");
    let store = FileAuthStore::new(data.session("s1").expect("id"));
    conformance::auth_store(&store);
}

#[test]
fn file_stores_keep_sessions_apart() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let stores = FileStores::new(DataDir::open(tmp.path()).expect("data dir"));
    conformance::auth_stores(&stores);
}

#[test]
fn sqlite_records_keep_their_promises_and_survive_reopening() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("wasp.db");
    {
        let records = SqliteRecords::open(&path).expect("open");
        conformance::session_records(&records);
    }
    let reopened = SqliteRecords::open(&path).expect("reopen");
    let ids: Vec<String> = reopened
        .all()
        .expect("all")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec!["bob"], "rows lost on reopening");
}

#[test]
fn sqlite_webhook_outbox_keeps_its_promises() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let outbox = SqliteOutbox::open(&tmp.path().join("wasp.db")).expect("open");
    conformance::webhook_outbox(&outbox);
}

/// A node moving to PostgreSQL hands over what its data directory still
/// had to send: here into another SQLite outbox, through the interface.
#[test]
fn pending_rows_move_to_another_outbox_oldest_first() {
    use wasp::store::{Head, NewDelivery, WebhookOutbox};
    let tmp = tempfile::tempdir().expect("temp dir");
    let local = SqliteOutbox::open(&tmp.path().join("wasp.db")).expect("open");
    let shared = SqliteOutbox::open(&tmp.path().join("shared.db")).expect("open");
    let row = |event: &str| NewDelivery {
        url: "http://h/x".into(),
        secret: Some("k".into()),
        event: event.into(),
        body: "{}".into(),
        owner: Some("s1".into()),
    };
    local
        .insert(&[row("first"), row("second")])
        .expect("insert");
    assert_eq!(local.move_pending_into(&shared).expect("move"), 2);
    assert_eq!(local.pending().expect("pending"), 0);
    assert_eq!(local.move_pending_into(&shared).expect("again"), 0);
    let Head::Claimed(first) = shared
        .claim_head("http://h/x", 0, std::time::Duration::from_secs(1))
        .expect("claim")
    else {
        panic!("moved rows are pending there");
    };
    assert_eq!(
        (
            first.event.as_str(),
            first.secret.as_deref(),
            first.owner.as_deref()
        ),
        ("first", Some("k"), Some("s1"))
    );
    assert_eq!(shared.pending().expect("pending"), 2);
}
