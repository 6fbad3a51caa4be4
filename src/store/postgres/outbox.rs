//! The webhook outbox in PostgreSQL (`store::WebhookOutbox`): one table
//! every node of a cluster writes its events to and delivers from, so a
//! node that dies leaves its pending webhooks to the others.
//!
//! Each endpoint's head row is claimed by one node at a time, for a hold
//! on the database's clock; claims of one endpoint run one after another
//! (a transaction-scoped advisory lock on the URL), so two nodes never
//! both take a head, and none takes a row while an older one of its
//! endpoint is pending: order holds across nodes. A node that dies while
//! sending leaves its claim to run out; then another sends the row again
//! (webhooks are delivered at least once, as on a single node that
//! restarts mid-attempt).

use std::time::Duration;

use tokio_postgres::Row;

use super::connect::Postgres;
use crate::store::outbox::{Backlog, Delivery, Head, NewDelivery, WebhookOutbox};
use crate::store::StoreError;

/// First key of the advisory locks claims take (the bytes of "wasp"); the
/// second is the URL's hash.
const CLAIM_LOCK: i32 = 0x7761_7370;

/// The outbox as node `node` sees it (its claims carry its name).
#[derive(Clone, Debug)]
pub struct PgOutbox {
    pg: Postgres,
    node: String,
}

impl PgOutbox {
    pub fn new(pg: Postgres, node: &str) -> PgOutbox {
        PgOutbox {
            pg,
            node: node.to_string(),
        }
    }
}

/// The head row of `$1` with how long another node still holds it
/// (seconds, 0 when nobody does).
const HEAD: &str = "
    SELECT id, url, secret, event, body, attempts, owner, next_at,
           CASE WHEN claimed_by IS NOT NULL AND claimed_by <> $2 AND claimed_until > now()
                THEN extract(epoch FROM claimed_until - now())::float8 ELSE 0 END
    FROM wasp_webhook_outbox WHERE url = $1 AND NOT dead ORDER BY id LIMIT 1";

fn delivery(row: &Row) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: row.try_get(0)?,
        url: row.try_get(1)?,
        secret: row.try_get(2)?,
        event: row.try_get(3)?,
        body: row.try_get(4)?,
        attempts: row.try_get::<_, i32>(5)?.max(0) as u32,
        owner: row.try_get(6)?,
    })
}

fn secs(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl WebhookOutbox for PgOutbox {
    fn insert(&self, rows: &[NewDelivery]) -> Result<(), StoreError> {
        let rows = rows.to_vec();
        self.pg.run(move |db| async move {
            let mut client = db.get().await?;
            let tx = client.transaction().await?;
            let statement = tx
                .prepare_cached(
                    "INSERT INTO wasp_webhook_outbox (url, secret, event, body, owner)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .await?;
            for row in &rows {
                tx.execute(
                    &statement,
                    &[&row.url, &row.secret, &row.event, &row.body, &row.owner],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn pending(&self) -> Result<u64, StoreError> {
        let rows = self.pg.query(
            "SELECT count(*) FROM wasp_webhook_outbox WHERE NOT dead",
            Vec::new(),
        )?;
        let n: i64 = rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
        Ok(n.max(0) as u64)
    }

    fn backlog(&self, owner: &str) -> Result<Backlog, StoreError> {
        let rows = self.pg.query(
            "SELECT count(*),
                    (SELECT last_error FROM wasp_webhook_outbox
                     WHERE NOT dead AND owner = $1 ORDER BY id LIMIT 1)
             FROM wasp_webhook_outbox WHERE NOT dead AND owner = $1",
            vec![Box::new(owner.to_string())],
        )?;
        let Some(row) = rows.first() else {
            return Ok(Backlog::default());
        };
        Ok(Backlog {
            pending: row.try_get::<_, i64>(0)?.max(0) as u64,
            last_error: row.try_get(1)?,
        })
    }

    fn endpoints(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.pg.query(
            "SELECT DISTINCT ON (url) url, next_at FROM wasp_webhook_outbox
             WHERE NOT dead ORDER BY url, id",
            Vec::new(),
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)?.max(0) as u64)))
            .collect()
    }

    fn claim_head(&self, url: &str, now: u64, hold: Duration) -> Result<Head, StoreError> {
        let url = url.to_string();
        let node = self.node.clone();
        let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
        self.pg.run(move |db| async move {
            let mut client = db.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&CLAIM_LOCK, &url],
            )
            .await?;
            let head = tx.prepare_cached(HEAD).await?;
            let Some(row) = tx.query_opt(&head, &[&url, &node]).await? else {
                return Ok(Head::Empty);
            };
            let held_for: f64 = row.try_get(8)?;
            if held_for > 0.0 {
                return Ok(Head::Held(Duration::from_secs_f64(held_for)));
            }
            let next_at = row.try_get::<_, i64>(7)?.max(0) as u64;
            if next_at > now {
                return Ok(Head::Wait(Duration::from_secs(next_at - now)));
            }
            let delivery = delivery(&row)?;
            tx.execute(
                "UPDATE wasp_webhook_outbox
                 SET claimed_by = $2, claimed_until = now() + $3::bigint * interval '1 millisecond'
                 WHERE id = $1",
                &[&delivery.id, &node, &hold_ms],
            )
            .await?;
            tx.commit().await?;
            Ok(Head::Claimed(Box::new(delivery)))
        })
    }

    fn delivered(&self, id: i64) -> Result<(), StoreError> {
        self.pg.execute(
            "DELETE FROM wasp_webhook_outbox WHERE id = $1",
            vec![Box::new(id)],
        )?;
        Ok(())
    }

    fn failed(
        &self,
        id: i64,
        attempts: u32,
        next_at: u64,
        dead: bool,
        error: &str,
    ) -> Result<(), StoreError> {
        // Only while this node's claim stands: a node that took the row
        // over after the claim ran out records its own outcome.
        self.pg.execute(
            "UPDATE wasp_webhook_outbox
             SET attempts = $2, next_at = $3, dead = $4, last_error = $5,
                 claimed_by = NULL, claimed_until = NULL
             WHERE id = $1 AND (claimed_by = $6 OR claimed_by IS NULL)",
            vec![
                Box::new(id),
                Box::new(i32::try_from(attempts).unwrap_or(i32::MAX)),
                Box::new(secs(next_at)),
                Box::new(dead),
                Box::new(error.to_string()),
                Box::new(self.node.clone()),
            ],
        )?;
        Ok(())
    }

    fn drop_owner(&self, owner: &str) -> Result<usize, StoreError> {
        let n = self.pg.execute(
            "DELETE FROM wasp_webhook_outbox WHERE owner = $1",
            vec![Box::new(owner.to_string())],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
