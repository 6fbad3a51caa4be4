//! One pool of connections to PostgreSQL and the runtime that drives it.
//!
//! The store interfaces are blocking, and their callers call them from
//! plain threads, from `spawn_blocking` and (for the host's short record
//! lookups, as with SQLite) from async workers. The pool is
//! tokio-postgres with deadpool on a one-worker Tokio runtime the pool
//! owns: a call hands its future to that runtime and waits for the answer
//! on a channel, which works the same in all three places. The blocking
//! `postgres` crate would not: it blocks on a runtime of its own, which
//! Tokio refuses (a panic) on a thread that runs async tasks. One worker
//! is enough: it only moves bytes between sockets; the server does the
//! work, and a call's time is its round trips and the commit's flush.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::tls::RustlsConnect;
use crate::store::StoreError;

const SERVICE: &str = "PostgreSQL";

/// How to reach PostgreSQL.
#[derive(Clone, Debug)]
pub struct PostgresConfig {
    /// `postgres://user[:password]@host[:port]/database[?options]` (or the
    /// `key=value` form).
    pub url: String,
    /// Connections kept open at most.
    pub max_connections: usize,
    /// Longest a call may take, waiting for a connection included; past
    /// it the call fails as unreachable (a write may or may not have been
    /// kept).
    pub call_timeout: Duration,
    /// Certificate authorities trusted besides the Mozilla roots when the
    /// URL asks for TLS (`sslmode=require`).
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl PostgresConfig {
    /// Adds every certificate of a PEM file's contents as a trusted CA;
    /// how many.
    pub fn trust_pem(&mut self, pem: &[u8]) -> Result<usize, String> {
        let certs = crate::types::pem::certificates(pem)?;
        let n = certs.len();
        self.extra_roots.extend(certs);
        Ok(n)
    }

    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            max_connections: 16,
            call_timeout: Duration::from_secs(30),
            extra_roots: Vec::new(),
        }
    }
}

/// A connected, migrated database. Cheap to clone; every clone shares
/// the pool.
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("at", &self.location())
            .finish()
    }
}

/// A statement's parameter, owned: calls run on the pool's runtime.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

struct Inner {
    db: Db,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    call_timeout: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which Tokio forbids inside another
        // runtime (where the host is dropped); nothing of ours is left
        // to wait for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a call gets: the pool, and where it leads for error messages.
#[derive(Clone)]
pub(super) struct Db {
    pool: Pool,
    at: Arc<str>,
}

impl Db {
    /// A connection from the pool. Any failure to get one (refused,
    /// timed out, the login or the database refused) names the server.
    pub(super) async fn get(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            let reason = match e {
                PoolError::Backend(e) => match e.as_db_error() {
                    Some(db) => db.message().to_string(),
                    None => with_causes(&e),
                },
                e => e.to_string(),
            };
            self.unavailable(reason)
        })
    }

    fn unavailable(&self, reason: String) -> StoreError {
        StoreError::Unavailable {
            service: SERVICE,
            at: self.at.to_string(),
            reason,
        }
    }
}

impl Postgres {
    /// Connects, checks that the server answers and migrates the schema
    /// (see `migrate`). An unreachable server fails here, naming where.
    pub fn connect(config: &PostgresConfig) -> Result<Postgres, StoreError> {
        let mut pg: tokio_postgres::Config =
            config.url.parse().map_err(|e| StoreError::BadUrl {
                service: SERVICE,
                reason: format!("{e}"),
            })?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(5));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("wasp");
        }
        // A write is durable when its call returns, whatever the server's
        // default: unless the URL chose a level itself, ask for `on`.
        let options = pg.get_options().unwrap_or_default().to_string();
        if !options.contains("synchronous_commit") {
            pg.options(format!("{options} -c synchronous_commit=on").trim());
        }
        let at: Arc<str> = location(&pg).into();
        let recycling = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // TLS when the URL requires it (libpq's sslmode=require), with
        // the certificate checked; plain TCP otherwise, as libpq's
        // default would settle for.
        let manager = if matches!(pg.get_ssl_mode(), SslMode::Require) {
            let tls =
                RustlsConnect::new(&config.extra_roots).map_err(|reason| StoreError::BadUrl {
                    service: SERVICE,
                    reason,
                })?;
            Manager::from_config(pg, tls, recycling())
        } else {
            pg.ssl_mode(SslMode::Disable);
            Manager::from_config(pg, NoTls, recycling())
        };
        let pool = Pool::builder(manager)
            .max_size(config.max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(config.call_timeout))
            .create_timeout(Some(config.call_timeout))
            .build()
            .map_err(|e| StoreError::BadUrl {
                service: SERVICE,
                reason: e.to_string(),
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wasp-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable {
                service: SERVICE,
                at: at.to_string(),
                reason: format!("cannot start its runtime: {e}"),
            })?;
        let postgres = Postgres {
            inner: Arc::new(Inner {
                db: Db { pool, at },
                runtime: Some(runtime),
                call_timeout: config.call_timeout,
            }),
        };
        let applied = postgres.run(|db| async move {
            let mut client = db.get().await?;
            super::migrate::run(&mut client).await
        })?;
        tracing::info!(at = %postgres.inner.db.at, applied, "PostgreSQL store ready");
        Ok(postgres)
    }

    /// Where the database is: `user@host:port/database`, no password.
    pub fn location(&self) -> &str {
        &self.inner.db.at
    }

    /// Runs `job` on the pool's runtime and waits for its answer, at most
    /// the call timeout.
    pub(super) fn run<T, Fut>(&self, job: impl FnOnce(Db) -> Fut) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let inner = &self.inner;
        let db = inner.db.clone();
        let work = job(db.clone());
        let limit = inner.call_timeout;
        let (done, answer) = std::sync::mpsc::sync_channel(1);
        let Some(runtime) = &inner.runtime else {
            return Err(db.unavailable("the store is closed".into()));
        };
        runtime.spawn(async move {
            let result = match tokio::time::timeout(limit, work).await {
                Ok(result) => result,
                Err(_) => Err(db.unavailable(format!("no answer within {limit:?}"))),
            };
            let _ = done.send(result);
        });
        let wait = || {
            answer
                .recv()
                .unwrap_or_else(|_| Err(inner.db.unavailable("the call was dropped".into())))
        };
        // Called on a worker of a multi-threaded runtime (a host's short
        // lookup from an async task), the wait hands the worker's other
        // tasks to another thread first: a slow database must not stall
        // the heartbeats and sessions that share the worker. Elsewhere
        // (plain and blocking threads, a single-threaded runtime) it
        // just waits.
        let on_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if on_worker {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        }
    }
}

impl Postgres {
    /// The rows of one statement, run on its own (no transaction).
    pub(super) fn query(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<Row>, StoreError> {
        self.run(move |db| async move {
            let client = db.get().await?;
            let statement = client.prepare_cached(sql).await?;
            Ok(client.query(&statement, &refs(&params)).await?)
        })
    }

    /// Runs one statement on its own (committed when it returns); the rows
    /// it touched.
    pub(super) fn execute(&self, sql: &'static str, params: Vec<Param>) -> Result<u64, StoreError> {
        self.run(move |db| async move {
            let client = db.get().await?;
            let statement = client.prepare_cached(sql).await?;
            Ok(client.execute(&statement, &refs(&params)).await?)
        })
    }
}

/// An error and what caused it, as one line ("error performing TLS
/// handshake: invalid peer certificate: UnknownIssuer").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// Parameters as tokio-postgres takes them.
pub(super) fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// `user@host:port[,host:port]/database`, from what the URL says.
fn location(pg: &tokio_postgres::Config) -> String {
    let ports = pg.get_ports();
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    format!(
        "{}@{}/{}",
        pg.get_user().unwrap_or("(default user)"),
        hosts.join(","),
        pg.get_dbname().unwrap_or("(default database)")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_names_no_password() {
        let pg: tokio_postgres::Config =
            "postgres://u:secret@db.example:6543/wasp".parse().unwrap();
        assert_eq!(location(&pg), "u@db.example:6543/wasp");
        let pg: tokio_postgres::Config = "host=a,b port=1 user=x dbname=y password=p"
            .parse()
            .unwrap();
        assert_eq!(location(&pg), "x@a:1,b:1/y");
    }
}
