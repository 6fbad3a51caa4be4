//! Ownership of a session's state: one row per session in `wasp_owners`
//! with an epoch that only grows.
//!
//! A node claims a session by raising its epoch by one (`claim`) and
//! writes with the epoch it got. Every write runs in a transaction that
//! first reads the row `FOR SHARE` and goes on only when the epoch is
//! still its own (`begin`). A claim's `UPDATE` needs the row exclusively,
//! so it waits for the writes in flight to commit, and every write that
//! starts after it sees the new epoch and is refused with
//! [`StoreError::Fenced`] before anything is written: a node that lost a
//! session can never overwrite what the new owner wrote. Reads take no
//! lock and are never refused.
//!
//! Must not touch: who should own a session (the host decides when to
//! claim; in a cluster, the lease does).

use deadpool_postgres::{Object, Transaction};

use crate::store::StoreError;

/// Makes a new epoch the owner of `session` (1 for a session never
/// claimed) and returns it; every store holding an older one is fenced.
/// In a cluster, `node` is recorded as the node running it (see
/// `leases`), and the claim is refused with [`StoreError::Taken`] while
/// another node holds the session: only adoption moves a session between
/// nodes.
pub(super) async fn claim(
    client: &Object,
    session: &str,
    node: Option<&str>,
) -> Result<i64, StoreError> {
    let Some(node) = node else {
        let statement = client
            .prepare_cached(
                "INSERT INTO wasp_owners (session, epoch) VALUES ($1, 1)
                 ON CONFLICT (session) DO UPDATE SET epoch = wasp_owners.epoch + 1
                 RETURNING epoch",
            )
            .await?;
        return Ok(client.query_one(&statement, &[&session]).await?.get(0));
    };
    // Free for this node: never claimed, handed over (NULL), deleted
    // (''), or its own already.
    let statement = client
        .prepare_cached(
            "INSERT INTO wasp_owners (session, epoch, node) VALUES ($1, 1, $2)
             ON CONFLICT (session) DO UPDATE SET epoch = wasp_owners.epoch + 1, node = $2
             WHERE wasp_owners.node IS NULL OR wasp_owners.node IN ('', $2)
             RETURNING epoch",
        )
        .await?;
    if let Some(row) = client.query_opt(&statement, &[&session, &node]).await? {
        return Ok(row.get(0));
    }
    let holder = client
        .prepare_cached("SELECT node FROM wasp_owners WHERE session = $1")
        .await?;
    let holder: Option<String> = client
        .query_opt(&holder, &[&session])
        .await?
        .and_then(|row| row.get(0));
    Err(StoreError::Taken {
        session: session.to_string(),
        node: holder.unwrap_or_default(),
    })
}

/// Opens a transaction in which `epoch` owns `session`, and keeps it so
/// until the transaction ends (the row is held `FOR SHARE`); fails with
/// [`StoreError::Fenced`] when another epoch owns it now.
pub(super) async fn begin<'a>(
    client: &'a mut Object,
    session: &str,
    epoch: i64,
) -> Result<Transaction<'a>, StoreError> {
    let tx = client.transaction().await?;
    let statement = tx
        .prepare_cached("SELECT epoch FROM wasp_owners WHERE session = $1 FOR SHARE")
        .await?;
    let current: Option<i64> = tx
        .query_opt(&statement, &[&session])
        .await?
        .map(|row| row.get(0));
    // Refused: the transaction rolls back as it is dropped.
    owned(session, epoch, current)?;
    Ok(tx)
}

/// Checks, without writing or locking, that `epoch` still owns `session`.
pub(super) async fn check(client: &Object, session: &str, epoch: i64) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached("SELECT epoch FROM wasp_owners WHERE session = $1")
        .await?;
    let current: Option<i64> = client
        .query_opt(&statement, &[&session])
        .await?
        .map(|row| row.get(0));
    owned(session, epoch, current)
}

/// Whether `epoch` is the owner's, given the epoch the row holds (none:
/// never claimed, reported as 0).
fn owned(session: &str, epoch: i64, current: Option<i64>) -> Result<(), StoreError> {
    match current {
        Some(current) if current == epoch => Ok(()),
        other => Err(StoreError::Fenced {
            session: session.to_string(),
            held: epoch,
            current: other.unwrap_or(0),
        }),
    }
}
