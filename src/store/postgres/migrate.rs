//! The schema, created and brought up to date by the binary on start.
//!
//! Migrations are numbered and applied in order, each once, each in its
//! own transaction together with its row in `wasp_schema_migrations`, so
//! a crash leaves a migration applied and recorded, or neither. Each
//! transaction first takes a transaction-scoped advisory lock: nodes
//! starting at once migrate one after another, and the later ones find
//! the work done. A database migrated by a newer wasp is refused rather
//! than used with a schema this one does not know.
//!
//! Every table's name starts with `wasp_`, so the schema can share a
//! database with others. A migration, once released, is never edited:
//! changes are new migrations.

use deadpool_postgres::Object;

use crate::store::StoreError;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Key of the advisory lock migrations take (the bytes of "waspmigr").
const LOCK_KEY: i64 = 0x7761_7370_6d69_6772;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "session state, ownership epochs, host records",
        sql: "
        -- One row per session ever claimed, never deleted: its epoch only
        -- grows, so a token once fenced stays fenced.
        CREATE TABLE wasp_owners (
            session text PRIMARY KEY,
            epoch bigint NOT NULL
        );
        CREATE TABLE wasp_creds (
            session text PRIMARY KEY,
            creds bytea NOT NULL
        );
        CREATE TABLE wasp_prekeys (
            session text NOT NULL,
            id bigint NOT NULL,
            private bytea NOT NULL,
            PRIMARY KEY (session, id)
        );
        -- address: the device JID, user[:device]@s.whatsapp.net or @lid.
        CREATE TABLE wasp_peers (
            session text NOT NULL,
            address text NOT NULL,
            state bytea NOT NULL,
            PRIMARY KEY (session, address)
        );
        CREATE TABLE wasp_lid_map (
            session text NOT NULL,
            lid text NOT NULL,
            pn text NOT NULL,
            PRIMARY KEY (session, lid),
            UNIQUE (session, pn)
        );
        CREATE TABLE wasp_sender_keys (
            session text NOT NULL,
            group_id text NOT NULL,
            sender text NOT NULL,
            state bytea NOT NULL,
            PRIMARY KEY (session, group_id, sender)
        );
        -- added: the order devices were given our sender key in.
        CREATE TABLE wasp_sender_key_devices (
            session text NOT NULL,
            group_id text NOT NULL,
            device text NOT NULL,
            added bigint GENERATED ALWAYS AS IDENTITY,
            PRIMARY KEY (session, group_id, device)
        );
        CREATE TABLE wasp_media (
            session text NOT NULL,
            message_id text NOT NULL,
            record bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (session, message_id)
        );
        CREATE INDEX wasp_media_by_age ON wasp_media (session, created_at);
        -- The host's records (store::SessionRecords): created_at in
        -- seconds since the Unix epoch.
        CREATE TABLE wasp_session_records (
            id text PRIMARY KEY,
            created_at bigint NOT NULL,
            webhook_url text,
            webhook_secret text
        );
    ",
    },
    Migration {
        version: 2,
        name: "node leases, the node owning each session",
        sql: "
        -- Each node of a cluster renews its lease here (the database's
        -- clock); a node whose lease ran out is dead, and its sessions go
        -- to the others.
        CREATE TABLE wasp_nodes (
            node text PRIMARY KEY,
            lease_until timestamptz NOT NULL
        );
        -- The node running the session; NULL when none does (handed over
        -- by a drain, or never run in a cluster): any node may take it.
        ALTER TABLE wasp_owners ADD COLUMN node text;
        CREATE INDEX wasp_owners_by_node ON wasp_owners (node);
    ",
    },
    Migration {
        version: 3,
        name: "the webhook outbox every node delivers from",
        sql: "
        -- One row per event and destination until its endpoint answers
        -- 2xx. next_at: seconds since the Unix epoch; claimed_by and
        -- claimed_until: the node sending it now, and until when its
        -- claim holds (the database's clock).
        CREATE TABLE wasp_webhook_outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            url text NOT NULL,
            secret text,
            event text NOT NULL,
            body text NOT NULL,
            owner text,
            attempts integer NOT NULL DEFAULT 0,
            next_at bigint NOT NULL DEFAULT 0,
            dead boolean NOT NULL DEFAULT false,
            last_error text,
            claimed_by text,
            claimed_until timestamptz
        );
        CREATE INDEX wasp_webhook_outbox_endpoint ON wasp_webhook_outbox (url, id)
            WHERE NOT dead;
        CREATE INDEX wasp_webhook_outbox_owner ON wasp_webhook_outbox (owner);
    ",
    },
    Migration {
        version: 4,
        name: "sessions handed to a chosen node",
        sql: "
        -- A session handed over to even the load names the node meant to
        -- take it, and when: the others leave it to that node for a while.
        ALTER TABLE wasp_owners ADD COLUMN offered_to text;
        ALTER TABLE wasp_owners ADD COLUMN released_at timestamptz;
    ",
    },
];

/// Brings the schema up to date; how many migrations this call applied.
pub(super) async fn run(client: &mut Object) -> Result<usize, StoreError> {
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    let mut applied = 0;
    for migration in MIGRATIONS {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS wasp_schema_migrations (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
        let newest: Option<i64> = tx
            .query_one("SELECT max(version) FROM wasp_schema_migrations", &[])
            .await?
            .get(0);
        let newest = newest.unwrap_or(0);
        if newest > known {
            return Err(StoreError::SchemaTooNew {
                found: newest,
                known,
            });
        }
        if newest >= migration.version {
            continue; // the transaction rolls back: nothing to keep
        }
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO wasp_schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "PostgreSQL schema migrated"
        );
        applied += 1;
    }
    Ok(applied)
}
