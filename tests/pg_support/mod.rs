//! The PostgreSQL server the tests use (`WASP_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; `.ci/run` starts one),
//! and a database of a test's own, created for it and dropped after it.
#![allow(dead_code)] // not every test binary uses every helper

use std::sync::atomic::{AtomicUsize, Ordering};

pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn server_url() -> String {
    std::env::var("WASP_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_string())
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").expect("a postgres:// URL") + 3;
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    format!("{}/{name}{query}", &base[..path])
}

/// Runs `sql` (one or more statements, as text) on the database `url`
/// names, on a thread of its own (the caller may be inside a runtime);
/// the first column of the first row, if any.
pub fn run_sql(url: &str, sql: &str) -> Option<String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| {
                    panic!("PostgreSQL for tests at {url} (set WASP_TEST_POSTGRES): {e}")
                });
            tokio::spawn(connection);
            let messages = client.simple_query(&sql).await.expect(&sql);
            messages.into_iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(String::from),
                _ => None,
            })
        })
    })
    .join()
    .expect("statement ran")
}

/// Runs `sql` on the server's own database.
pub fn admin(sql: String) {
    run_sql(&server_url(), &sql);
}

/// A database of this test's own, dropped when it goes.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "wasp_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        admin(format!("CREATE DATABASE {name}"));
        let url = with_database(&server_url(), &name);
        TestDb { name, url }
    }

    /// One statement's first column of its first row, as text.
    pub fn query_text(&self, sql: &str) -> Option<String> {
        run_sql(&self.url, sql)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        admin(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
