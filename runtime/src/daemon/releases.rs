//! Which handler releases each execution started with, kept across restarts: every set of
//! handlers the daemon serves is numbered and recorded in the store (name -> module SHA-256 and
//! manifest), and every module it loads is archived under the data directory by its SHA-256.
//! An execution records the number of the set it started with, so after a restart it resumes
//! on the same releases even when the plugins directory has moved on. Sets and archived modules
//! nothing needs any more are removed after each reload and at start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::types::Value as Sql;
use serde::{Deserialize, Serialize};

use crate::store::ExecutionStore;
use crate::store::sqlite::SqliteStore;
use crate::wasm::engine::write_atomic;

/// One handler in a recorded set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub sha256: String,
    /// The manifest's text (`NAME.toml`), if it had one.
    pub manifest: Option<String>,
}

pub type Entries = BTreeMap<String, Entry>;

pub struct Releases {
    store: Arc<SqliteStore>,
    archive: PathBuf,
}

impl Releases {
    pub fn open(store: Arc<SqliteStore>, archive: PathBuf) -> Result<Releases, String> {
        std::fs::create_dir_all(&archive)
            .map_err(|e| format!("cannot create the module archive {}: {e}", archive.display()))?;
        Ok(Releases { store, archive })
    }

    /// The number the next recorded set gets (numbers are never reused).
    pub fn next_id(&self) -> Result<u64, String> {
        let max = self
            .store
            .read("SELECT COALESCE(MAX(id), 0) FROM handler_sets", &[], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| e.to_string())?;
        Ok(max.first().copied().unwrap_or(0) as u64 + 1)
    }

    fn module_path(&self, sha256: &str) -> PathBuf {
        self.archive.join(format!("{sha256}.wasm"))
    }

    /// Keeps a module's bytes under its SHA-256 (once).
    pub fn archive(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.module_path(sha256);
        if path.exists() {
            return Ok(());
        }
        write_atomic(&path, bytes)
    }

    pub fn module(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.module_path(sha256))
    }

    /// Records set `id`, durably, before any execution can start with it.
    pub async fn record(&self, id: u64, entries: &Entries) -> Result<(), String> {
        let json = serde_json::to_string(entries).map_err(|e| e.to_string())?;
        self.store.write(
            "INSERT OR REPLACE INTO handler_sets (id, handlers) VALUES (?1, ?2)",
            vec![Sql::Integer(id as i64), Sql::Text(json)],
        );
        self.store.flush().await.map_err(|e| e.to_string())
    }

    /// The recorded sets running executions started with.
    pub fn running_sets(&self) -> Result<Vec<(u64, Entries)>, String> {
        let rows = self
            .store
            .read(
                "SELECT id, handlers FROM handler_sets WHERE id IN (SELECT handler_set FROM executions WHERE status = 'RUNNING')",
                &[],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .map_err(|e| e.to_string())?;
        rows.into_iter()
            .map(|(id, json)| {
                serde_json::from_str(&json)
                    .map(|e| (id as u64, e))
                    .map_err(|e| format!("handler set {id}: {e}"))
            })
            .collect()
    }

    /// Removes the sets neither in `live` (the current one and those executions in this process
    /// hold) nor named by a RUNNING execution's row, and the archived modules no remaining set
    /// names. Returns (sets, modules) removed.
    pub async fn collect_garbage(&self, live: &[u64]) -> Result<(usize, usize), String> {
        let before = self
            .store
            .read("SELECT COUNT(*) FROM handler_sets", &[], |r| r.get::<_, i64>(0))
            .map_err(|e| e.to_string())?;
        let live = serde_json::to_string(live).map_err(|e| e.to_string())?;
        self.store.write(
            "DELETE FROM handler_sets WHERE id NOT IN (SELECT value FROM json_each(?1)) AND id NOT IN (SELECT handler_set FROM executions WHERE status = 'RUNNING' AND handler_set IS NOT NULL)",
            vec![Sql::Text(live)],
        );
        self.store.flush().await.map_err(|e| e.to_string())?;
        let kept = self
            .store
            .read("SELECT handlers FROM handler_sets", &[], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        let mut needed = BTreeSet::new();
        for json in &kept {
            let entries: Entries = serde_json::from_str(json).map_err(|e| e.to_string())?;
            needed.extend(entries.into_values().map(|e| e.sha256));
        }
        let mut removed = 0;
        let files = std::fs::read_dir(&self.archive).map_err(|e| format!("{}: {e}", self.archive.display()))?;
        for f in files.filter_map(|f| f.ok()).map(|f| f.path()) {
            let sha = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            if f.extension().is_some_and(|x| x == "wasm") && !needed.contains(sha) && std::fs::remove_file(&f).is_ok() {
                removed += 1;
            }
        }
        Ok((
            (before.first().copied().unwrap_or(0) as usize).saturating_sub(kept.len()),
            removed,
        ))
    }
}
