//! The interface to the host's own records: which sessions exist and what
//! the host keeps about them beyond their auth state.

use super::error::StoreError;

/// One stored session as the host remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

/// The host's session table. Calls are short and blocking; every write is
/// durable when it returns.
pub trait SessionRecords: Send + Sync {
    /// Inserts a new row; `false` when the id is taken.
    fn insert(&self, row: &SessionRow) -> Result<bool, StoreError>;

    fn get(&self, id: &str) -> Result<Option<SessionRow>, StoreError>;

    /// Every row, ordered by id.
    fn all(&self) -> Result<Vec<SessionRow>, StoreError>;

    /// Deletes a row; a missing one is not an error.
    fn remove(&self, id: &str) -> Result<(), StoreError>;
}
