//! The PostgreSQL store (cluster mode's shared state) against a real
//! server: the same conformance checks as the files and SQLite, the
//! schema's migrations, the fence that refuses a former owner's writes,
//! a clear error when the server is unreachable, and `wasp serve
//! --postgres` bringing a linked session back on a node with an empty
//! data directory.
//!
//! Needs a PostgreSQL server: `WASP_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) names one where the
//! user may create databases. Each test works in a database of its own,
//! created for it and dropped after it, so tests run in parallel and
//! leave nothing behind.
#![cfg(unix)]

#[path = "interop/admin.rs"]
mod admin;
mod pg_support;
mod process;
#[allow(dead_code)] // the DER form is for other tests
mod tls;

use std::sync::Arc;
use std::time::Duration;

use pg_support::TestDb;
use wasp::store::{
    conformance, AuthStore, AuthStores, Head, Leases, NewDelivery, PgLeases, PgOutbox, PgRecords,
    PgStores, Postgres, PostgresConfig, SessionRecords, SessionRow, StoreError, WebhookOutbox,
};
use wasp::types::DeviceAddress;

/// The PostgreSQL store on `db`.
fn connect(db: &TestDb) -> Postgres {
    Postgres::connect(&PostgresConfig::new(&db.url)).expect("PostgreSQL store opens")
}

#[test]
fn postgres_auth_store_keeps_its_promises() {
    let db = TestDb::new();
    let stores = PgStores::new(connect(&db));
    let store = stores.open("s1").expect("open");
    conformance::auth_store(&*store);
}

#[test]
fn postgres_stores_keep_sessions_apart() {
    let db = TestDb::new();
    conformance::auth_stores(&PgStores::new(connect(&db)));
}

#[test]
fn postgres_records_keep_their_promises_and_survive_reconnecting() {
    let db = TestDb::new();
    conformance::session_records(&PgRecords::new(connect(&db)));
    let again = PgRecords::new(connect(&db));
    let ids: Vec<String> = again
        .all()
        .expect("all")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec!["bob"], "rows lost on reconnecting");
}

/// Nodes starting at once migrate one after another: every one opens, each
/// migration is recorded once. A database a newer wasp migrated is refused.
#[test]
fn postgres_webhook_outbox_keeps_its_promises() {
    let db = TestDb::new();
    conformance::webhook_outbox(&PgOutbox::new(connect(&db), "n1"));
}

/// Two nodes deliver from one outbox: an endpoint's head is sent by one
/// of them at a time; the other waits while the claim holds, takes the
/// row when the claim runs out (its node died mid-attempt), and never
/// takes a younger row while an older one is pending.
#[test]
fn nodes_sharing_the_outbox_never_send_one_endpoint_s_rows_at_once() {
    let db = TestDb::new();
    let (n1, n2) = (
        PgOutbox::new(connect(&db), "n1"),
        PgOutbox::new(connect(&db), "n2"),
    );
    let url = "http://hooks.example/in";
    let row = |event: &str| NewDelivery {
        url: url.into(),
        secret: None,
        event: event.into(),
        body: "{}".into(),
        owner: Some("s1".into()),
    };
    n1.insert(&[row("first"), row("second")]).expect("insert");
    let long = Duration::from_secs(60);
    let Head::Claimed(first) = n1.claim_head(url, 0, long).expect("claim") else {
        panic!("n1 takes the head");
    };
    assert_eq!(first.event, "first");
    match n2.claim_head(url, 0, long).expect("claim") {
        Head::Held(held) => assert!(
            held > Duration::from_secs(50),
            "held for the hold: {held:?}"
        ),
        other => panic!("n2 took a row n1 holds, or the one behind it: {other:?}"),
    }
    // n1 fails the attempt: the row is free again once due, for anyone.
    n1.failed(first.id, 1, 10, false, "answered 503")
        .expect("failed");
    let Head::Claimed(again) = n2
        .claim_head(url, 10, Duration::from_secs(1))
        .expect("claim")
    else {
        panic!("n2 takes the failed row once due");
    };
    assert_eq!((again.id, again.attempts), (first.id, 1));
    // n2 dies mid-attempt: after its one-second claim, n1 sends the row.
    std::thread::sleep(Duration::from_millis(1500));
    let Head::Claimed(taken) = n1.claim_head(url, 10, long).expect("claim") else {
        panic!("n1 takes the row once n2's claim ran out");
    };
    assert_eq!(taken.id, first.id);
    // n2's late outcome does not undo n1's claim.
    n2.failed(first.id, 2, 99, false, "late").expect("failed");
    assert!(matches!(
        n2.claim_head(url, 10, long).expect("claim"),
        Head::Held(_)
    ));
    n1.delivered(taken.id).expect("delivered");
    let Head::Claimed(second) = n2.claim_head(url, 10, long).expect("claim") else {
        panic!("the next row follows");
    };
    assert_eq!(second.event, "second");
}

#[test]
fn migrations_run_once_even_when_nodes_start_together() {
    let db = TestDb::new();
    let url = db.url.clone();
    let nodes: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Postgres::connect(&PostgresConfig::new(url)).map(drop))
        })
        .collect();
    for node in nodes {
        node.join().expect("thread").expect("a node opens");
    }
    assert_eq!(
        db.query_text("SELECT count(*) FROM wasp_schema_migrations WHERE version = 1")
            .as_deref(),
        Some("1")
    );
    let applied = db.query_text("SELECT count(*) FROM wasp_schema_migrations");
    let count = applied.as_deref().and_then(|n| n.parse::<u32>().ok());
    assert!(count >= Some(4), "not every migration: {applied:?}");
    connect(&db);
    assert_eq!(
        db.query_text("SELECT count(*) FROM wasp_schema_migrations"),
        applied,
        "a second start applied something again"
    );

    db.query_text("INSERT INTO wasp_schema_migrations (version, name) VALUES (999, 'future')");
    match Postgres::connect(&PostgresConfig::new(&db.url)) {
        Err(StoreError::SchemaTooNew { found: 999, .. }) => {}
        other => panic!("a newer schema was used: {other:?}"),
    }
}

/// Everything a former owner could try to write, each refused.
fn every_write(store: &dyn AuthStore) -> Vec<(&'static str, Result<(), StoreError>)> {
    let peer = DeviceAddress::pn("15550001111", 0).expect("digits");
    let lid = DeviceAddress::lid("777000111", 0).expect("digits");
    let group = "120363000000000001";
    vec![
        ("save_creds", store.save_creds(b"stale")),
        ("add_prekeys", store.add_prekeys(&[(9, [9; 32])])),
        ("remove_prekey", store.remove_prekey(1)),
        ("save_peers", store.save_peers(&[(&peer, b"stale")])),
        ("move_peer", store.move_peer(&peer, &lid).map(drop)),
        (
            "put_lid_mappings",
            store.put_lid_mappings(&[("999000333", "15550001111")]),
        ),
        (
            "save_sender_key",
            store.save_sender_key(group, &peer, b"stale"),
        ),
        ("remove_sender_key", store.remove_sender_key(group, &peer)),
        (
            "add_sender_key_devices",
            store.add_sender_key_devices(group, std::slice::from_ref(&lid)),
        ),
        (
            "reset_sender_key_devices",
            store.reset_sender_key_devices(group),
        ),
        ("put_media", store.put_media("3EB0AA", b"stale")),
        ("prune_media", store.prune_media(Duration::ZERO).map(drop)),
        ("wipe", store.wipe(b"stale tombstone")),
        ("prepare", store.prepare()),
    ]
}

/// What a store reads, for comparing before and after.
fn snapshot(store: &dyn AuthStore) -> Vec<Option<Vec<u8>>> {
    let peer = DeviceAddress::pn("15550001111", 0).expect("digits");
    let lid = DeviceAddress::lid("777000111", 0).expect("digits");
    let group = "120363000000000001";
    let ids = store.prekey_ids().expect("ids");
    let devices = store.sender_key_devices(group).expect("devices");
    vec![
        store.load_creds().expect("creds"),
        Some(format!("{ids:?}").into_bytes()),
        store.prekey(1).expect("prekey").map(|k| k.to_vec()),
        store.peer(&peer).expect("peer"),
        store.peer(&lid).expect("peer"),
        store
            .lid_of("15550001111")
            .expect("lid")
            .map(String::into_bytes),
        store.sender_key(group, &peer).expect("sender key"),
        Some(format!("{devices:?}").into_bytes()),
        store.media("3EB0AA").expect("media"),
    ]
}

/// Two nodes share a session's state; the second claims it. Every write of
/// the first is refused as fenced and changes nothing; its reads still
/// work; the new owner writes as usual.
#[test]
fn a_former_owner_writes_nothing_once_another_claims() {
    let db = TestDb::new();
    let first = PgStores::new(connect(&db));
    let old = first.open("s").expect("open");
    old.prepare().expect("prepare");
    let peer = DeviceAddress::pn("15550001111", 0).expect("digits");
    let group = "120363000000000001";
    old.save_creds(b"creds").expect("creds");
    old.add_prekeys(&[(1, [1; 32]), (2, [2; 32])])
        .expect("prekeys");
    old.save_peers(&[(&peer, b"ratchet")]).expect("peer");
    old.put_lid_mappings(&[("777000111", "15550001111")])
        .expect("lid");
    old.save_sender_key(group, &peer, b"skey").expect("skey");
    old.add_sender_key_devices(group, std::slice::from_ref(&peer))
        .expect("devices");
    old.put_media("3EB0AA", b"media").expect("media");

    let second = PgStores::new(connect(&db));
    second.claim("s").expect("claim");
    let new = second.open("s").expect("open");
    let before = snapshot(&*new);

    for (write, result) in every_write(&*old) {
        match result {
            Err(StoreError::Fenced {
                ref session,
                held,
                current,
            }) => {
                assert_eq!((session.as_str(), held + 1), ("s", current), "{write}");
            }
            other => panic!("{write} by a former owner was not fenced: {other:?}"),
        }
    }
    assert!(
        matches!(first.remove("s"), Err(StoreError::Fenced { .. })),
        "a former owner removed the session"
    );
    assert_eq!(snapshot(&*new), before, "a fenced write changed the state");
    assert_eq!(
        snapshot(&*old),
        before,
        "a former owner cannot read any more"
    );

    new.save_creds(b"new owner").expect("the owner writes");
    assert_eq!(
        old.load_creds().expect("load").as_deref(),
        Some(&b"new owner"[..])
    );
    // A store opened again by the former owner still holds its old epoch.
    assert!(matches!(
        first.open("s").expect("open").save_creds(b"x"),
        Err(StoreError::Fenced { .. })
    ));
}

/// A claim while the former owner writes as fast as it can: once the
/// claim has returned, no write of the former owner lands, so the new
/// owner's write is the last one.
#[test]
fn a_claim_racing_writes_leaves_the_new_owner_s_state() {
    let db = TestDb::new();
    let first = PgStores::new(connect(&db));
    let old: Arc<dyn AuthStore> = first.open("s").expect("open");
    let writer = {
        let old = old.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + process::GUARD;
            let mut written = 0u32;
            while std::time::Instant::now() < deadline {
                match old.save_creds(format!("old {written}").as_bytes()) {
                    Ok(()) => written += 1,
                    Err(StoreError::Fenced { .. }) => return written,
                    Err(e) => panic!("{e}"),
                }
            }
            panic!("the former owner was never fenced");
        })
    };
    while old.load_creds().expect("load").is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let second = PgStores::new(connect(&db));
    second.claim("s").expect("claim");
    let new = second.open("s").expect("open");
    new.save_creds(b"new").expect("the owner writes");
    let written = writer.join().expect("writer");
    assert!(written > 0);
    assert_eq!(
        new.load_creds().expect("load").as_deref(),
        Some(&b"new"[..])
    );
}

fn record(id: &str) -> SessionRow {
    SessionRow {
        id: id.into(),
        created_at: 1,
        webhook_url: None,
        webhook_secret: None,
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Leases decide which node runs each session: a node adopts only free
/// sessions (never claimed, handed over, or of a node whose lease ran
/// out or ended), its adoption fences the old owner's stores, and nodes
/// adopting at once never take the same session.
#[test]
fn leases_give_each_session_one_node_and_fence_the_old_one() {
    let db = TestDb::new();
    let pg = connect(&db);
    let records = PgRecords::new(pg.clone());
    for id in ["s1", "s2", "s3", "s4"] {
        assert!(records.insert(&record(id)).expect("insert"));
    }
    let (stores1, leases1) = (
        PgStores::for_node(pg.clone(), "n1"),
        PgLeases::new(pg.clone(), "n1"),
    );
    let leases2 = PgLeases::new(pg.clone(), "n2");
    let long = Duration::from_secs(60);
    leases1.renew(long).expect("renew");
    leases2.renew(long).expect("renew");
    stores1.claim("s1").expect("claim");
    stores1.claim("s2").expect("claim");
    assert_eq!(leases1.held().unwrap(), ["s1", "s2"]);
    // Never claimed: free. Held by a live node: not.
    assert_eq!(sorted(leases2.adopt(10).unwrap()), ["s3", "s4"]);
    assert!(leases2.adopt(10).unwrap().is_empty());
    let held = leases1.held().unwrap();
    assert!(held.contains(&"s1".to_string()) && !held.contains(&"s3".to_string()));
    // Another node's session cannot be claimed, only adopted once free.
    assert!(matches!(stores1.claim("s3"), Err(StoreError::Taken { node, .. }) if node == "n2"));
    // A session just created is left to its creator, which claims it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    records
        .insert(&SessionRow {
            created_at: now,
            ..record("fresh")
        })
        .expect("insert");
    assert!(leases2.adopt(10).unwrap().is_empty());
    stores1.claim("fresh").expect("its creator claims it");

    // n1's lease runs out: n2 takes its sessions, and n1's stores are
    // fenced from then on.
    let old = stores1.open("s1").expect("open");
    leases1.renew(Duration::ZERO).expect("renew");
    std::thread::sleep(Duration::from_millis(20));
    let taken: Vec<String> = leases2
        .adopt(1)
        .unwrap()
        .into_iter()
        .chain(leases2.adopt(10).unwrap())
        .collect();
    assert_eq!(sorted(taken), ["fresh", "s1", "s2"]);
    assert!(!old.fenced());
    assert!(matches!(
        old.save_creds(b"late"),
        Err(StoreError::Fenced { .. })
    ));
    assert!(old.fenced(), "the refusal is remembered");
    assert!(leases1.held().unwrap().is_empty());

    // Handed over: free for the next node to adopt.
    leases1.renew(long).expect("renew");
    leases2.release("s1").expect("release");
    leases1
        .release("s2")
        .expect("another node's: nothing happens");
    assert_eq!(leases1.adopt(10).unwrap(), ["s1"]);
    // A node that ends its lease frees all it held.
    leases2.end().expect("end");
    assert_eq!(
        sorted(leases1.adopt(10).unwrap()),
        ["fresh", "s2", "s3", "s4"]
    );

    // Two nodes adopting at once take disjoint sets.
    let ids: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    for id in &ids {
        records.insert(&record(id)).expect("insert");
    }
    let racers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|node| {
            let leases = PgLeases::new(pg.clone(), node);
            std::thread::spawn(move || {
                leases.renew(long).expect("renew");
                let mut mine = Vec::new();
                loop {
                    let got = leases.adopt(3).expect("adopt");
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got);
                }
            })
        })
        .collect();
    let taken: Vec<Vec<String>> = racers
        .into_iter()
        .map(|r| r.join().expect("thread"))
        .collect();
    let mut all: Vec<String> = taken.concat();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected, "every session once, by one node");
}

#[test]
fn an_unreachable_server_is_named_in_the_error() {
    let config = PostgresConfig {
        call_timeout: Duration::from_secs(5),
        ..PostgresConfig::new("postgres://wasp:secret@127.0.0.1:1/wasp")
    };
    let error = Postgres::connect(&config).expect_err("nothing listens on port 1");
    let text = error.to_string();
    assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
    assert!(
        text.contains("PostgreSQL") && text.contains("127.0.0.1:1"),
        "{text}"
    );
    assert!(!text.contains("secret"), "the password leaked: {text}");
}

#[test]
fn serve_refuses_to_start_without_its_postgres() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args(["--postgres", "postgres://wasp:secret@127.0.0.1:1/wasp"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wasp runs");
    let deadline = std::time::Instant::now() + process::GUARD;
    let status = loop {
        if let Some(status) = serve.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = serve.kill();
            panic!("serve started without its PostgreSQL");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().expect("piped"), &mut stderr)
        .expect("stderr");
    assert!(
        stderr.contains("PostgreSQL at wasp@127.0.0.1:1/wasp is unreachable"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "the password leaked: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `wasp serve --postgres`: a session linked on one node comes back
/// connected, without a QR, on a node started afterwards with an empty
/// data directory and the same database, and a text sent to it arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_brings_a_session_back_from_postgres_on_an_empty_data_directory() {
    use admin::AdminClient;
    use process::{poll, sim_value, Proc};
    use serde_json::Value;

    let db = TestDb::new();
    let mut sim = Proc::spawn(&["sim", "--listen", "127.0.0.1:0"]);
    let ws_url = sim_value(&mut sim, "ws_url").await;
    let admin_url = sim_value(&mut sim, "admin_url").await;
    let root = sim_value(&mut sim, "root_public_key").await;
    let admin = AdminClient::new(&admin_url).expect("admin url");
    let serve = |data: &std::path::Path| {
        let data = data.to_str().expect("utf-8 path");
        Proc::spawn(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data,
            "--whatsapp-url",
            &ws_url,
            "--whatsapp-root-key",
            &root,
            "--postgres",
            &db.url,
        ])
    };
    let session = |api: &AdminClient| {
        let api = api.clone();
        async move {
            let (status, body) = api
                .request("GET", "/v1/sessions/alice", &[], None)
                .await
                .ok()?;
            let json: Value = serde_json::from_slice(&body).ok()?;
            (status == 200).then_some(json)
        }
    };

    let first_data = tempfile::tempdir().expect("temp dir");
    let mut first = serve(first_data.path());
    let api = AdminClient::new(&sim_value(&mut first, "api_url").await).expect("api url");
    let (status, _) = api
        .request("POST", "/v1/sessions", &[], Some(&br#"{"id":"alice"}"#[..]))
        .await
        .expect("create");
    assert_eq!(status, 201);
    let (phone, device) = process::link_by_api(&api, &admin, "alice", &[]).await;
    assert!(first.terminate().success(), "serve exits cleanly");
    assert!(
        !first_data.path().join("alice").exists(),
        "the session's state went to the data directory"
    );

    let second_data = tempfile::tempdir().expect("temp dir");
    let mut second = serve(second_data.path());
    let api_url = sim_value(&mut second, "api_url").await;
    let api = AdminClient::new(&api_url).expect("api url");
    let back = poll(|| async { session(&api).await.filter(|s| s["status"] == "connected") }).await;
    assert_eq!(back["jid"], device.as_str(), "{back}");
    let devices = admin.devices(&phone).await.expect("devices");
    assert_eq!(devices.len(), 1, "linked again: {devices:?}");
    assert!(devices[0].jid == device && devices[0].connected);

    let mut events = tokio::net::TcpStream::connect(api_url.trim_start_matches("http://"))
        .await
        .expect("connect");
    tokio::io::AsyncWriteExt::write_all(
        &mut events,
        b"GET /v1/sessions/alice/events HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .expect("request");
    let contact = admin.create_phone().await.expect("contact");
    admin
        .phone_send(&contact, &phone, "sent after the move")
        .await
        .expect("sent");
    let mut seen = Vec::new();
    tokio::time::timeout(process::GUARD, async {
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("sent after the move") {
            let n = tokio::io::AsyncReadExt::read(&mut events, &mut chunk)
                .await
                .expect("read");
            assert!(n > 0, "stream ended: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the text arrives");
    assert!(second.terminate().success());
    assert!(
        !second_data.path().join("alice").exists(),
        "the session's state went to the data directory"
    );
    assert!(sim.terminate().success());
}

/// A TLS front for PostgreSQL, as a managed database presents itself:
/// answers the client's SSLRequest with `S`, ends TLS with `server`, and
/// relays the rest to the real server at `target` in the clear. Its port.
fn tls_front(
    runtime: &tokio::runtime::Runtime,
    target: String,
    server: rustls::ServerConfig,
) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server));
    runtime.spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (acceptor, target) = (acceptor.clone(), target.clone());
            tokio::spawn(async move {
                // The SSLRequest: length 8, code 80877103.
                let mut request = [0u8; 8];
                client.read_exact(&mut request).await.ok()?;
                if request != [0, 0, 0, 8, 4, 210, 22, 47] {
                    return None;
                }
                client.write_all(b"S").await.ok()?;
                let mut tls = acceptor.accept(client).await.ok()?;
                let mut server = tokio::net::TcpStream::connect(&target).await.ok()?;
                tokio::io::copy_bidirectional(&mut tls, &mut server)
                    .await
                    .ok()
            });
        }
    });
    port
}

/// `sslmode=require` in the URL: TLS, with the server's certificate
/// checked against the Mozilla roots and the CAs given; a certificate no
/// trusted CA signed is refused, naming the problem.
#[test]
fn tls_is_used_and_checked_when_the_url_requires_it() {
    let db = TestDb::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let identity = tls::localhost_tls();
    let target = {
        let rest = &db.url[db
            .url
            .find('@')
            .map_or(db.url.find("://").unwrap() + 3, |at| at + 1)..];
        rest[..rest.find('/').unwrap_or(rest.len())].to_string()
    };
    let port = tls_front(&runtime, target.clone(), identity.server);
    let url = db.url.replacen(&target, &format!("localhost:{port}"), 1)
        + if db.url.contains('?') { "&" } else { "?" }
        + "sslmode=require&hostaddr=127.0.0.1";

    // Its certificate is its own: not trusted without its CA.
    let refused = Postgres::connect(&PostgresConfig::new(&url)).expect_err("untrusted");
    assert!(
        refused.to_string().contains("certificate") || refused.to_string().contains("Certificate"),
        "{refused}"
    );

    let mut config = PostgresConfig::new(&url);
    config.trust_pem(identity.cert_pem.as_bytes()).expect("PEM");
    let records = PgRecords::new(Postgres::connect(&config).expect("connects over TLS"));
    assert!(records.insert(&record("over-tls")).expect("insert"));
    assert_eq!(
        records
            .get("over-tls")
            .expect("get")
            .map(|r| r.id)
            .as_deref(),
        Some("over-tls")
    );
}
