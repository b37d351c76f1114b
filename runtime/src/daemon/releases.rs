//! Which handler releases each execution started with, kept across restarts: every set of
//! handlers the daemon serves is numbered and recorded in the store (name -> module SHA-256 and
//! manifest), and every module it loads is archived under the data directory by its SHA-256.
//! An execution records the number of the set it started with, so after a restart it resumes
//! on the same releases even when the plugins directory has moved on. Sets and archived modules
//! nothing needs any more are removed after each reload and at start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::Store;
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
    store: Arc<dyn Store>,
    archive: PathBuf,
}

impl Releases {
    pub fn open(store: Arc<dyn Store>, archive: PathBuf) -> Result<Releases, String> {
        std::fs::create_dir_all(&archive)
            .map_err(|e| format!("cannot create the module archive {}: {e}", archive.display()))?;
        Ok(Releases { store, archive })
    }

    /// The number the next recorded set gets (numbers are never reused).
    pub async fn next_id(&self) -> Result<u64, String> {
        let sets = self.store.handler_sets().await.map_err(|e| e.to_string())?;
        Ok(sets.keys().max().copied().unwrap_or(0) + 1)
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
        self.store.put_handler_set(id, &json);
        self.store.flush().await.map_err(|e| e.to_string())
    }

    /// The recorded sets running executions started with.
    pub async fn running_sets(&self) -> Result<Vec<(u64, Entries)>, String> {
        let rows = self.store.running_handler_sets().await.map_err(|e| e.to_string())?;
        rows.into_iter()
            .map(|(id, json)| {
                serde_json::from_str(&json)
                    .map(|e| (id, e))
                    .map_err(|e| format!("handler set {id}: {e}"))
            })
            .collect()
    }

    /// Removes the sets neither in `live` (the current one and those executions in this process
    /// hold) nor named by a RUNNING execution's row, and the archived modules no remaining set
    /// names. Returns (sets, modules) removed.
    pub async fn collect_garbage(&self, live: &[u64]) -> Result<(usize, usize), String> {
        let before = self.store.handler_sets().await.map_err(|e| e.to_string())?.len();
        self.store.delete_handler_sets_except(live);
        self.store.flush().await.map_err(|e| e.to_string())?;
        let kept = self.store.handler_sets().await.map_err(|e| e.to_string())?;
        let mut needed = BTreeSet::new();
        for json in kept.values() {
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
        Ok((before.saturating_sub(kept.len()), removed))
    }
}
