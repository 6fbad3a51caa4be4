//! Every store backend passes the same checks (`wasp::store::conformance`):
//! here the single-node defaults, files for auth state and SQLite for the
//! host's records. A later backend (PostgreSQL in cluster mode) adds its
//! own calls of the same functions.

use wasp::store::{conformance, DataDir, FileAuthStore, FileStores, SessionRecords, SqliteRecords};

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
