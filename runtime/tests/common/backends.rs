//! The store backends a test runs on: a fresh SQLite file or a fresh PostgreSQL database
//! (`pg.rs`), and `both!`, which runs each test once on each.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmstep::store::{ExecutionRecord, Location, Node, Store};

/// Where one test's records live: a fresh SQLite file or a fresh PostgreSQL database.
pub struct Place {
    pub location: Location,
    /// The SQLite file's directory, removed at the end.
    dir: Option<PathBuf>,
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn place(backend: Backend, name: &str) -> Place {
    match backend {
        Backend::Sqlite => {
            let dir = super::tempdir(&format!("store-{name}"));
            Place {
                location: Location::Sqlite(dir.join("wasmstep.db")),
                dir: Some(dir),
            }
        }
        Backend::Postgres => Place {
            location: Location::Postgres(super::pg::database(name)),
            dir: None,
        },
    }
}

pub async fn open_as(p: &Place, node: &str, lease: Duration) -> Arc<dyn Store> {
    wasmstep::store::open(&p.location, &Node { id: node.into(), lease })
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", p.location))
}

pub async fn open(p: &Place) -> Arc<dyn Store> {
    open_as(p, "n1", Duration::from_secs(30)).await
}

/// Each test, once per backend.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::backends::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::backends::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A RUNNING execution's row of `machine`, started at `started`, with nothing else set.
#[allow(dead_code)]
pub fn execution_row(arn: &str, machine: &str, started: f64) -> ExecutionRecord {
    ExecutionRecord {
        arn: arn.into(),
        machine_arn: machine.into(),
        name: arn.rsplit(':').next().unwrap_or_default().into(),
        status: "RUNNING".into(),
        definition: "{}".into(),
        input: "{}".into(),
        output: None,
        error: None,
        cause: None,
        started,
        stopped: None,
        version_arn: None,
        alias_arn: None,
        handler_set: None,
        redrive_count: 0,
        redrive_date: None,
        redrive_token: None,
    }
}
