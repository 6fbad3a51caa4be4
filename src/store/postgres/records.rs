//! The host's records (`store::SessionRecords`) in PostgreSQL: the table
//! of sessions every node of a cluster sees.
//!
//! Not fenced: a row says that a session exists, not what its owner
//! wrote; an insert takes an id only when it is free, and a removal may
//! be repeated.

use tokio_postgres::Row;

use super::connect::Postgres;
use crate::store::records::{SessionRecords, SessionRow};
use crate::store::StoreError;

/// The host's session table.
#[derive(Clone, Debug)]
pub struct PgRecords {
    pg: Postgres,
}

impl PgRecords {
    pub fn new(pg: Postgres) -> PgRecords {
        PgRecords { pg }
    }
}

impl SessionRecords for PgRecords {
    fn insert(&self, row: &SessionRow) -> Result<bool, StoreError> {
        let inserted = self.pg.execute(
            "INSERT INTO wasp_session_records (id, created_at, webhook_url, webhook_secret)
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            vec![
                Box::new(row.id.clone()),
                Box::new(i64::try_from(row.created_at).unwrap_or(i64::MAX)),
                Box::new(row.webhook_url.clone()),
                Box::new(row.webhook_secret.clone()),
            ],
        )?;
        Ok(inserted == 1)
    }

    fn get(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        let rows = self.pg.query(
            "SELECT id, created_at, webhook_url, webhook_secret
             FROM wasp_session_records WHERE id = $1",
            vec![Box::new(id.to_string())],
        )?;
        rows.first().map(session_row).transpose()
    }

    fn all(&self) -> Result<Vec<SessionRow>, StoreError> {
        let rows = self.pg.query(
            "SELECT id, created_at, webhook_url, webhook_secret
             FROM wasp_session_records ORDER BY id",
            Vec::new(),
        )?;
        rows.iter().map(session_row).collect()
    }

    fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.pg.execute(
            "DELETE FROM wasp_session_records WHERE id = $1",
            vec![Box::new(id.to_string())],
        )?;
        Ok(())
    }
}

/// A row of `SELECT id, created_at, webhook_url, webhook_secret`.
fn session_row(row: &Row) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: row.try_get(0)?,
        created_at: row.try_get::<_, i64>(1)?.max(0) as u64,
        webhook_url: row.try_get(2)?,
        webhook_secret: row.try_get(3)?,
    })
}
