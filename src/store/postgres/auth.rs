//! Every session's auth state in PostgreSQL: one row per thing the file
//! store keeps in a file (credentials, a one-time prekey, a peer device's
//! Signal session, a LID↔phone-number pair, a sender key, a device that
//! holds our sender key, a received file's record), keyed by session id.
//!
//! Each write is one transaction, fenced (see `fence`) and committed
//! before the call returns: a write of several rows keeps all or none.
//! Reads are single statements. Keys are checked as the file store checks
//! them (`store::names`), so both backends accept the same.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::connect::{refs, Param, Postgres};
use super::fence;
use crate::store::auth::{AuthStore, AuthStores};
use crate::store::names::{self, valid_session_id};
use crate::store::StoreError;
use crate::types::DeviceAddress;

/// Every session's auth state in one database. A session is claimed for
/// this value (a new epoch, see `fence`) by [`AuthStores::claim`], or by
/// its first [`AuthStores::open`]; stores opened after write with that
/// epoch until another claim, here or on any node, fences them.
#[derive(Debug)]
pub struct PgStores {
    pg: Postgres,
    /// The epoch this value holds for each session it claimed. Locked
    /// while a claim runs, so one value never claims a session twice at
    /// once (the first claim's stores would be fenced by the second).
    held: Mutex<HashMap<String, i64>>,
    /// The cluster node these stores belong to, recorded with each claim
    /// (`None` outside a cluster).
    node: Option<String>,
}

impl PgStores {
    pub fn new(pg: Postgres) -> PgStores {
        PgStores {
            pg,
            held: Mutex::new(HashMap::new()),
            node: None,
        }
    }

    /// Stores of cluster node `node`: each claim records it as the node
    /// running the session (see [`crate::store::Leases`]).
    pub fn for_node(pg: Postgres, node: &str) -> PgStores {
        PgStores {
            node: Some(node.to_string()),
            ..PgStores::new(pg)
        }
    }

    /// Claims session `id` (see [`AuthStores::claim`]); the new epoch.
    pub fn claim_epoch(&self, id: &str) -> Result<i64, StoreError> {
        checked_id(id)?;
        let mut held = self.lock();
        let epoch = self.claim_locked(id)?;
        held.insert(id.to_string(), epoch);
        Ok(epoch)
    }

    fn claim_locked(&self, id: &str) -> Result<i64, StoreError> {
        let session = id.to_string();
        let node = self.node.clone();
        self.pg.run(move |db| async move {
            let client = db.get().await?;
            fence::claim(&client, &session, node.as_deref()).await
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // A map of numbers cannot be left half-updated by a panic.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn checked_id(id: &str) -> Result<(), StoreError> {
    if valid_session_id(id) {
        Ok(())
    } else {
        Err(StoreError::InvalidSessionId(id.to_string()))
    }
}

impl AuthStores for PgStores {
    fn open(&self, id: &str) -> Result<Arc<dyn AuthStore>, StoreError> {
        checked_id(id)?;
        let mut held = self.lock();
        let epoch = match held.get(id) {
            Some(epoch) => *epoch,
            None => {
                let epoch = self.claim_locked(id)?;
                held.insert(id.to_string(), epoch);
                epoch
            }
        };
        Ok(Arc::new(PgAuthStore {
            pg: self.pg.clone(),
            session: id.into(),
            epoch,
            fenced: Default::default(),
        }))
    }

    fn claim(&self, id: &str) -> Result<(), StoreError> {
        self.claim_epoch(id).map(drop)
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.pg.query(
            "SELECT session FROM wasp_creds ORDER BY session",
            Vec::new(),
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Deletes the session's state and raises its epoch, fencing every
    /// store of it; refused when this value holds an epoch that another
    /// claim has passed (it is not the owner any more).
    fn remove(&self, id: &str) -> Result<(), StoreError> {
        checked_id(id)?;
        let mut held = self.lock();
        let mine = held.get(id).copied();
        let session = id.to_string();
        self.pg.run(move |db| async move {
            let mut client = db.get().await?;
            let tx = client.transaction().await?;
            let owner = tx
                .prepare_cached("SELECT epoch FROM wasp_owners WHERE session = $1 FOR UPDATE")
                .await?;
            let current: Option<i64> = tx.query_opt(&owner, &[&session]).await?.map(|r| r.get(0));
            if let (Some(held), Some(current)) = (mine, current) {
                if held != current {
                    return Err(StoreError::Fenced {
                        session,
                        held,
                        current,
                    });
                }
            }
            for sql in REMOVE {
                let statement = tx.prepare_cached(sql).await?;
                tx.execute(&statement, &[&session]).await?;
            }
            tx.commit().await?;
            Ok(())
        })?;
        held.remove(id);
        Ok(())
    }
}

/// What removing a session runs, in one transaction with its owner row
/// locked.
const REMOVE: [&str; 8] = [
    "DELETE FROM wasp_creds WHERE session = $1",
    "DELETE FROM wasp_prekeys WHERE session = $1",
    "DELETE FROM wasp_peers WHERE session = $1",
    "DELETE FROM wasp_lid_map WHERE session = $1",
    "DELETE FROM wasp_sender_keys WHERE session = $1",
    "DELETE FROM wasp_sender_key_devices WHERE session = $1",
    "DELETE FROM wasp_media WHERE session = $1",
    // node '': deleted, so a session created again under this id is
    // left to its creator (see `leases`).
    "UPDATE wasp_owners SET epoch = epoch + 1, node = '' WHERE session = $1",
];

/// One session's auth state, written under the epoch it was opened with.
#[derive(Debug)]
pub struct PgAuthStore {
    pg: Postgres,
    session: Arc<str>,
    epoch: i64,
    /// A write was refused: a newer owner holds the session.
    fenced: std::sync::atomic::AtomicBool,
}

/// One statement of a write; the session id is its `$1`, `params` follow.
struct Step {
    sql: &'static str,
    params: Vec<Param>,
}

fn step(sql: &'static str, params: Vec<Param>) -> Step {
    Step { sql, params }
}

impl PgAuthStore {
    /// The epoch this store writes with.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Runs `steps` in order in one transaction, fenced; the rows each
    /// touched. Committed when it returns.
    fn write(&self, steps: Vec<Step>) -> Result<Vec<u64>, StoreError> {
        let (session, epoch) = (self.session.to_string(), self.epoch);
        let written = self.pg.run(move |db| async move {
            let mut client = db.get().await?;
            let tx = fence::begin(&mut client, &session, epoch).await?;
            let mut touched = Vec::with_capacity(steps.len());
            for step in steps {
                let statement = tx.prepare_cached(step.sql).await?;
                let mut params: Vec<Param> = vec![Box::new(session.clone())];
                params.extend(step.params);
                touched.push(tx.execute(&statement, &refs(&params)).await?);
            }
            tx.commit().await?;
            Ok(touched)
        });
        self.note_fenced(written)
    }

    /// Remembers a refusal (see [`AuthStore::fenced`]) and passes the
    /// result on.
    fn note_fenced<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Fenced { .. }) = &result {
            self.fenced
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    /// One fenced statement; the rows it touched.
    fn write_one(&self, sql: &'static str, params: Vec<Param>) -> Result<u64, StoreError> {
        Ok(self.write(vec![step(sql, params)])?.iter().sum())
    }

    /// The first column of the first row `sql` finds (`$1` is the
    /// session), if any.
    fn read<T>(&self, sql: &'static str, params: Vec<Param>) -> Result<Option<T>, StoreError>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        Ok(self.read_all(sql, params)?.into_iter().next())
    }

    /// The first column of every row `sql` finds (`$1` is the session).
    fn read_all<T>(&self, sql: &'static str, params: Vec<Param>) -> Result<Vec<T>, StoreError>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let mut all: Vec<Param> = vec![Box::new(self.session.to_string())];
        all.extend(params);
        let rows = self.pg.query(sql, all)?;
        Ok(rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?)
    }
}

/// How a device is keyed: its JID (`user[:device]@s.whatsapp.net` or
/// `@lid`), so a LID device and a phone-number device never meet.
fn address(device: &DeviceAddress) -> String {
    device.to_string()
}

const SAVE_CREDS: &str = "INSERT INTO wasp_creds (session, creds) VALUES ($1, $2)
     ON CONFLICT (session) DO UPDATE SET creds = excluded.creds";

impl AuthStore for PgAuthStore {
    /// Nothing to create; a store whose session was claimed since it was
    /// opened is refused here already, before anything runs on it.
    fn prepare(&self) -> Result<(), StoreError> {
        let (session, epoch) = (self.session.to_string(), self.epoch);
        let checked = self.pg.run(move |db| async move {
            let client = db.get().await?;
            fence::check(&client, &session, epoch).await
        });
        self.note_fenced(checked)
    }

    fn fenced(&self) -> bool {
        self.fenced.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn load_creds(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.read("SELECT creds FROM wasp_creds WHERE session = $1", vec![])
    }

    fn save_creds(&self, creds: &[u8]) -> Result<(), StoreError> {
        self.write_one(SAVE_CREDS, vec![Box::new(creds.to_vec())])
            .map(drop)
    }

    fn prekey(&self, id: u32) -> Result<Option<[u8; 32]>, StoreError> {
        let private: Option<Vec<u8>> = self.read(
            "SELECT private FROM wasp_prekeys WHERE session = $1 AND id = $2",
            vec![Box::new(i64::from(id))],
        )?;
        private
            .map(|bytes| {
                <[u8; 32]>::try_from(bytes)
                    .map_err(|_| StoreError::Corrupt(format!("prekey {id} is not 32 bytes")))
            })
            .transpose()
    }

    fn prekey_ids(&self) -> Result<Vec<u32>, StoreError> {
        let ids: Vec<i64> = self.read_all(
            "SELECT id FROM wasp_prekeys WHERE session = $1 ORDER BY id",
            vec![],
        )?;
        ids.into_iter()
            .map(|id| u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("prekey id {id}"))))
            .collect()
    }

    fn add_prekeys(&self, keys: &[(u32, [u8; 32])]) -> Result<(), StoreError> {
        // Once each (the last wins), in key order: rows are locked in the
        // same order by every writer.
        let keys: BTreeMap<u32, [u8; 32]> = keys.iter().copied().collect();
        if keys.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = keys.keys().map(|id| i64::from(*id)).collect();
        let privates: Vec<Vec<u8>> = keys.values().map(|k| k.to_vec()).collect();
        self.write_one(
            "INSERT INTO wasp_prekeys (session, id, private)
             SELECT $1, id, private FROM unnest($2::bigint[], $3::bytea[]) AS k(id, private)
             ON CONFLICT (session, id) DO UPDATE SET private = excluded.private",
            vec![Box::new(ids), Box::new(privates)],
        )
        .map(drop)
    }

    fn remove_prekey(&self, id: u32) -> Result<(), StoreError> {
        self.write_one(
            "DELETE FROM wasp_prekeys WHERE session = $1 AND id = $2",
            vec![Box::new(i64::from(id))],
        )
        .map(drop)
    }

    fn peer(&self, device: &DeviceAddress) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(
            "SELECT state FROM wasp_peers WHERE session = $1 AND address = $2",
            vec![Box::new(address(device))],
        )
    }

    fn save_peers(&self, peers: &[(&DeviceAddress, &[u8])]) -> Result<(), StoreError> {
        let peers: BTreeMap<String, &[u8]> = peers
            .iter()
            .map(|(device, state)| (address(device), *state))
            .collect();
        if peers.is_empty() {
            return Ok(());
        }
        let states: Vec<Vec<u8>> = peers.values().map(|s| s.to_vec()).collect();
        let addresses: Vec<String> = peers.into_keys().collect();
        self.write_one(
            "INSERT INTO wasp_peers (session, address, state)
             SELECT $1, address, state FROM unnest($2::text[], $3::bytea[]) AS p(address, state)
             ON CONFLICT (session, address) DO UPDATE SET state = excluded.state",
            vec![Box::new(addresses), Box::new(states)],
        )
        .map(drop)
    }

    fn move_peer(&self, from: &DeviceAddress, to: &DeviceAddress) -> Result<bool, StoreError> {
        // One statement: the copy is made only where `to` has nothing, and
        // the original goes only when the copy was made.
        let moved = self.write_one(
            "WITH copied AS (
                 INSERT INTO wasp_peers (session, address, state)
                 SELECT session, $3, state FROM wasp_peers WHERE session = $1 AND address = $2
                 ON CONFLICT (session, address) DO NOTHING
                 RETURNING 1)
             DELETE FROM wasp_peers
             WHERE session = $1 AND address = $2 AND EXISTS (SELECT 1 FROM copied)",
            vec![Box::new(address(from)), Box::new(address(to))],
        )?;
        Ok(moved > 0)
    }

    fn lid_of(&self, pn_user: &str) -> Result<Option<String>, StoreError> {
        let pn = names::mapping_user("lid-of", pn_user)?;
        self.read(
            "SELECT lid FROM wasp_lid_map WHERE session = $1 AND pn = $2",
            vec![Box::new(pn.to_string())],
        )
    }

    fn pn_of(&self, lid_user: &str) -> Result<Option<String>, StoreError> {
        let lid = names::mapping_user("pn-of", lid_user)?;
        self.read(
            "SELECT pn FROM wasp_lid_map WHERE session = $1 AND lid = $2",
            vec![Box::new(lid.to_string())],
        )
    }

    fn put_lid_mappings(&self, pairs: &[(&str, &str)]) -> Result<(), StoreError> {
        let mut steps = Vec::with_capacity(pairs.len() * 2);
        for &(lid, pn) in pairs {
            let (lid, pn) = (
                names::mapping_user("pn-of", lid)?.to_string(),
                names::mapping_user("lid-of", pn)?.to_string(),
            );
            // Either side paired with another goes; a pair kept already
            // stays untouched.
            steps.push(step(
                "DELETE FROM wasp_lid_map WHERE session = $1
                 AND (lid = $2 OR pn = $3) AND NOT (lid = $2 AND pn = $3)",
                vec![Box::new(lid.clone()), Box::new(pn.clone())],
            ));
            steps.push(step(
                "INSERT INTO wasp_lid_map (session, lid, pn) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                vec![Box::new(lid), Box::new(pn)],
            ));
        }
        if steps.is_empty() {
            return Ok(());
        }
        self.write(steps).map(drop)
    }

    fn sender_key(
        &self,
        group: &str,
        sender: &DeviceAddress,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let group = names::group_id(group)?;
        self.read(
            "SELECT state FROM wasp_sender_keys
             WHERE session = $1 AND group_id = $2 AND sender = $3",
            vec![Box::new(group.to_string()), Box::new(address(sender))],
        )
    }

    fn save_sender_key(
        &self,
        group: &str,
        sender: &DeviceAddress,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let group = names::group_id(group)?;
        self.write_one(
            "INSERT INTO wasp_sender_keys (session, group_id, sender, state) VALUES ($1, $2, $3, $4)
             ON CONFLICT (session, group_id, sender) DO UPDATE SET state = excluded.state",
            vec![
                Box::new(group.to_string()),
                Box::new(address(sender)),
                Box::new(state.to_vec()),
            ],
        )
        .map(drop)
    }

    fn remove_sender_key(&self, group: &str, sender: &DeviceAddress) -> Result<(), StoreError> {
        let group = names::group_id(group)?;
        self.write_one(
            "DELETE FROM wasp_sender_keys WHERE session = $1 AND group_id = $2 AND sender = $3",
            vec![Box::new(group.to_string()), Box::new(address(sender))],
        )
        .map(drop)
    }

    fn sender_key_devices(&self, group: &str) -> Result<Vec<DeviceAddress>, StoreError> {
        let group = names::group_id(group)?;
        let jids: Vec<String> = self.read_all(
            "SELECT device FROM wasp_sender_key_devices
             WHERE session = $1 AND group_id = $2 ORDER BY added",
            vec![Box::new(group.to_string())],
        )?;
        Ok(names::devices(&jids))
    }

    fn add_sender_key_devices(
        &self,
        group: &str,
        devices: &[DeviceAddress],
    ) -> Result<(), StoreError> {
        let group = names::group_id(group)?;
        if devices.is_empty() {
            return Ok(());
        }
        let jids: Vec<String> = devices.iter().map(address).collect();
        // Numbered in the order given; ones already kept keep their place.
        self.write_one(
            "INSERT INTO wasp_sender_key_devices (session, group_id, device)
             SELECT $1, $2, device FROM unnest($3::text[]) WITH ORDINALITY AS d(device, n)
             ORDER BY n
             ON CONFLICT DO NOTHING",
            vec![Box::new(group.to_string()), Box::new(jids)],
        )
        .map(drop)
    }

    fn reset_sender_key_devices(&self, group: &str) -> Result<(), StoreError> {
        let group = names::group_id(group)?;
        self.write_one(
            "DELETE FROM wasp_sender_key_devices WHERE session = $1 AND group_id = $2",
            vec![Box::new(group.to_string())],
        )
        .map(drop)
    }

    fn wipe(&self, tombstone: &[u8]) -> Result<(), StoreError> {
        self.write(vec![
            step(SAVE_CREDS, vec![Box::new(tombstone.to_vec())]),
            step("DELETE FROM wasp_prekeys WHERE session = $1", vec![]),
        ])
        .map(drop)
    }

    fn put_media(&self, id: &str, record: &[u8]) -> Result<(), StoreError> {
        let id = names::message_id(id)?;
        self.write_one(
            "INSERT INTO wasp_media (session, message_id, record) VALUES ($1, $2, $3)
             ON CONFLICT (session, message_id)
             DO UPDATE SET record = excluded.record, created_at = now()",
            vec![Box::new(id.to_string()), Box::new(record.to_vec())],
        )
        .map(drop)
    }

    fn media(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Ok(id) = names::message_id(id) else {
            // No record can be kept under an id no record may have.
            return Ok(None);
        };
        self.read(
            "SELECT record FROM wasp_media WHERE session = $1 AND message_id = $2",
            vec![Box::new(id.to_string())],
        )
    }

    fn prune_media(&self, age: std::time::Duration) -> Result<usize, StoreError> {
        // The database's clock, the one that stamped the records.
        let pruned = self.write_one(
            "DELETE FROM wasp_media WHERE session = $1
             AND created_at <= clock_timestamp() - make_interval(secs => $2)",
            vec![Box::new(age.as_secs_f64())],
        )?;
        Ok(pruned as usize)
    }
}
