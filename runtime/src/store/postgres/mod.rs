//! The shared store: a PostgreSQL database any number of daemons point at (`--store
//! postgres://USER@HOST:PORT/DB`). Writes go through one writer task per daemon (group commit,
//! fenced by leases, `writer.rs`); reads use a connection pool; a dedicated connection LISTENs
//! for hints from other nodes (`listen.rs`). The schema is versioned (`schema.rs`).
//!
//! Crates: tokio-postgres (SKIP LOCKED, LISTEN/NOTIFY, pipelining as plain SQL on tokio) and
//! deadpool-postgres for the pool; not sqlx, whose SQLite driver cannot be resolved next to
//! rusqlite 0.41 (`docs/crates.md`). TLS (`?sslmode=require`) through tokio-postgres-rustls:
//! `tls.rs`.

mod aliases;
mod catalog;
mod journal;
mod leases;
mod listen;
mod map_runs;
mod redrive;
mod schema;
mod tls;
mod tokens;
mod triggers;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{Notify, mpsc};
use tokio_postgres::types::ToSql;

use self::leases::Leases;
use self::writer::{Op, Param};
use super::StoreError;
use super::health::WriteHealth;

pub use self::schema::LATEST as SCHEMA_VERSION;

/// Connections each daemon keeps to the database for reads (the writer and the listener have
/// one each besides).
const POOL_SIZE: usize = 12;

pub struct PgStore {
    pool: Pool,
    writer: mpsc::UnboundedSender<Op>,
    health: Arc<WriteHealth>,
    leases: Arc<Leases>,
    hints: Arc<Notify>,
    /// The database as messages name it (no password).
    place: String,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("the database: {e}"))
}

/// An error with its causes: tokio-postgres says only "db error" and keeps the server's
/// message (and deadpool its cause) in the source.
pub(super) fn explain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        // Some errors already show their cause in their own message.
        let said = c.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = c.source();
    }
    text
}

/// `postgres://USER@HOST:PORT/DB`, without a password, for messages.
pub(crate) fn place(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

impl PgStore {
    /// Connects to the database at `url`, brings its schema up to date and starts the writer
    /// and the listener (on the current tokio runtime). `node` names this daemon in leases,
    /// which last `lease` unless renewed.
    pub async fn open(url: &str, node: &str, lease: Duration) -> Result<PgStore, StoreError> {
        let tls::Target { mut config, tls } = tls::target(url)?;
        config.application_name(format!("wasmstep {node}"));
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let place = place(&config);
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError(format!("cannot use the database {place}: {e}")))?;
        schema::migrate(&pool, &place).await.map_err(|e| {
            StoreError(e.0.replace("cannot prepare the database", "cannot reach or prepare the database"))
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let health = Arc::new(WriteHealth::default());
        let leases = Arc::new(Leases::new(node.to_string(), lease));
        tokio::spawn(writer::writer(pool.clone(), rx, health.clone(), leases.clone()));
        let hints = Arc::new(Notify::new());
        tokio::spawn(listen::listen(config, tls, hints.clone()));
        Ok(PgStore {
            pool,
            writer: tx,
            health,
            leases,
            hints,
            place,
        })
    }

    /// The database, as messages name it.
    pub fn place(&self) -> &str {
        &self.place
    }

    fn send(&self, op: Op) {
        // The writer only stops when the store is dropped; a send cannot fail before that.
        let _ = self.writer.send(op);
    }

    /// Queues a catalog write (applied in order with events; durable after `flush`).
    fn write(&self, sql: &'static str, params: Vec<Param>) {
        self.send(Op::Sql {
            sql,
            params,
            execution: None,
            starts: false,
        });
    }

    /// Runs a statement on a pooled connection, at once (reads; and lease changes, which must
    /// not wait behind a batch and whose answer decides what runs).
    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let client = self.pool.get().await.map_err(|e| err(explain(&e)))?;
        let st = client.prepare_cached(sql).await.map_err(|e| err(explain(&e)))?;
        client.query(&st, params).await.map_err(|e| err(explain(&e)))
    }
}
