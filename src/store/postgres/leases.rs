//! Node leases in PostgreSQL (`store::Leases`): `wasp_nodes` holds each
//! node's lease, renewed with the database's `now()` so that the nodes'
//! own clocks never matter, and `wasp_owners.node` names the node running
//! each session.
//!
//! Adoptions run one at a time (a transaction-scoped advisory lock), so
//! each sees what the one before took and nodes adopting at once take
//! disjoint sets; each row is taken only if its epoch is still the one
//! the adoption saw, so a claim racing it wins; and the epoch is raised
//! in the same statement, so the dead node's stores are fenced from the
//! moment a session changes hands. Claims in a cluster are refused while
//! another node holds the session (`fence::claim`).

use std::time::Duration;

use super::connect::Postgres;
use crate::store::leases::Leases;
use crate::store::StoreError;

/// The leases of cluster node `node`.
#[derive(Clone, Debug)]
pub struct PgLeases {
    pg: Postgres,
    node: String,
}

impl PgLeases {
    pub fn new(pg: Postgres, node: &str) -> PgLeases {
        PgLeases {
            pg,
            node: node.to_string(),
        }
    }
}

/// Key of the advisory lock adoptions take (the bytes of "waspadop"):
/// one adoption at a time in the whole cluster, each seeing what the one
/// before took.
const ADOPT_LOCK: i64 = 0x7761_7370_6164_6f70;

/// A session created this recently with no owner yet is left to its
/// creator, which claims it a moment after recording it.
const CREATOR_GRACE_SECS: i64 = 30;

/// A session offered to one node is left to it this long; then any node
/// may adopt it (the node it was offered to died or is full).
const OFFER_GRACE_SECS: i64 = 30;

/// Takes up to `$2` free sessions for node `$1`. Free: handed over
/// (`node` NULL; when offered to another node, only once the offer's
/// grace `$4` has passed), or of a node whose lease ran out or ended, or
/// — older than the creator's grace `$3` — never claimed or deleted and
/// created again (`node` ''). Sessions offered to `$1` come first. Each
/// row is taken only if its epoch is still the one seen (a claim
/// meanwhile wins), and its epoch is raised.
const ADOPT: &str = "
    WITH free AS (
        SELECT r.id, COALESCE(o.epoch, 0) AS seen
        FROM wasp_session_records r
        LEFT JOIN wasp_owners o ON o.session = r.id
        LEFT JOIN wasp_nodes n ON n.node = o.node
        WHERE (o.session IS NOT NULL AND o.node IS NULL
               AND (o.offered_to IS NULL OR o.offered_to = $1
                    OR o.released_at < now() - $4::bigint * interval '1 second'))
           OR (o.node <> '' AND (n.node IS NULL OR n.lease_until < now()))
           OR ((o.session IS NULL OR o.node = '')
               AND r.created_at < extract(epoch FROM now())::bigint - $3)
        ORDER BY o.offered_to IS NOT DISTINCT FROM $1 DESC
        LIMIT $2
    )
    INSERT INTO wasp_owners (session, epoch, node) SELECT id, seen + 1, $1 FROM free
    ON CONFLICT (session) DO UPDATE
        SET epoch = excluded.epoch, node = excluded.node, offered_to = NULL, released_at = NULL
    WHERE wasp_owners.epoch = excluded.epoch - 1
    RETURNING session";

impl Leases for PgLeases {
    fn node(&self) -> &str {
        &self.node
    }

    fn renew(&self, ttl: Duration) -> Result<(), StoreError> {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.pg.execute(
            "INSERT INTO wasp_nodes (node, lease_until)
             VALUES ($1, now() + $2::bigint * interval '1 millisecond')
             ON CONFLICT (node) DO UPDATE SET lease_until = excluded.lease_until",
            vec![Box::new(self.node.clone()), Box::new(ms)],
        )?;
        Ok(())
    }

    fn adopt(&self, max: usize) -> Result<Vec<String>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let node = self.node.clone();
        self.pg.run(move |db| async move {
            let mut client = db.get().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADOPT_LOCK])
                .await?;
            let statement = tx.prepare_cached(ADOPT).await?;
            let rows = tx
                .query(
                    &statement,
                    &[&node, &limit, &CREATOR_GRACE_SECS, &OFFER_GRACE_SECS],
                )
                .await?;
            tx.commit().await?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn held(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.pg.query(
            "SELECT session FROM wasp_owners WHERE node = $1 ORDER BY session",
            vec![Box::new(self.node.clone())],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn release(&self, id: &str) -> Result<(), StoreError> {
        self.pg.execute(
            "UPDATE wasp_owners SET node = NULL, offered_to = NULL, released_at = NULL
             WHERE session = $1 AND node = $2",
            vec![Box::new(id.to_string()), Box::new(self.node.clone())],
        )?;
        Ok(())
    }

    fn offer(&self, id: &str, to: &str) -> Result<(), StoreError> {
        self.pg.execute(
            "UPDATE wasp_owners SET node = NULL, offered_to = $3, released_at = now()
             WHERE session = $1 AND node = $2",
            vec![
                Box::new(id.to_string()),
                Box::new(self.node.clone()),
                Box::new(to.to_string()),
            ],
        )?;
        Ok(())
    }

    fn end(&self) -> Result<(), StoreError> {
        self.pg.execute(
            "DELETE FROM wasp_nodes WHERE node = $1",
            vec![Box::new(self.node.clone())],
        )?;
        Ok(())
    }
}
