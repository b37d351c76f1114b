//! Which handler releases each execution started with, kept across restarts and nodes: every
//! set of handlers a daemon serves is numbered (by the store, unique across nodes) and recorded
//! (name -> module SHA-256 and manifest), and every module it loads is archived in the store by
//! its SHA-256. An execution records the number of the set it started with, so it resumes on
//! the same releases after a restart, or on another node that never had them, even when the
//! plugins directory has moved on. Sets and modules nothing needs any more are removed after
//! each reload and at start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::Store;

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
}

fn parse(id: u64, json: &str) -> Result<(u64, Entries), String> {
    serde_json::from_str(json)
        .map(|e| (id, e))
        .map_err(|e| format!("handler set {id}: {e}"))
}

impl Releases {
    pub fn new(store: Arc<dyn Store>) -> Releases {
        Releases { store }
    }

    /// Brings the modules an earlier wasmstep archived as files (`DATA_DIR/modules/*.wasm`)
    /// into the store, then removes the directory.
    pub async fn import_files(&self, dir: &Path) -> Result<usize, String> {
        let Ok(files) = std::fs::read_dir(dir) else {
            return Ok(0);
        };
        let mut n = 0;
        for f in files.filter_map(|f| f.ok()).map(|f| f.path()) {
            let sha = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            if f.extension().is_some_and(|x| x == "wasm") {
                let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
                self.store.put_module(&sha, &bytes);
                n += 1;
            }
        }
        self.store.flush().await.map_err(|e| e.to_string())?;
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(n)
    }

    /// A number for the next set (never given before, by any node).
    pub async fn next_id(&self) -> Result<u64, String> {
        self.store.next_handler_set().await.map_err(|e| e.to_string())
    }

    /// Keeps a module's bytes under its SHA-256 (durable with the set that names it).
    pub fn archive(&self, sha256: &str, bytes: &[u8]) {
        self.store.put_module(sha256, bytes);
    }

    pub async fn module(&self, sha256: &str) -> Result<Vec<u8>, String> {
        self.store
            .module(sha256)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "it is not in the store".to_string())
    }

    /// Records set `id`, durably (with the modules it names), before any execution can start
    /// with it.
    pub async fn record(&self, id: u64, entries: &Entries) -> Result<(), String> {
        let json = serde_json::to_string(entries).map_err(|e| e.to_string())?;
        self.store.put_handler_set(id, &json);
        self.store.flush().await.map_err(|e| e.to_string())
    }

    /// The recorded sets among `ids`.
    pub async fn sets(&self, ids: &[u64]) -> Result<Vec<(u64, Entries)>, String> {
        let rows = self.store.handler_sets_of(ids).await.map_err(|e| e.to_string())?;
        rows.into_iter().map(|(id, json)| parse(id, &json)).collect()
    }

    /// Removes this node's sets neither in `live` (the current one and those executions here
    /// hold) nor named by a RUNNING execution's row, and the archived modules no remaining set
    /// (of any node) names. Returns (sets, modules) removed.
    pub async fn collect_garbage(&self, live: &[u64]) -> Result<(usize, usize), String> {
        let e = |e: crate::store::StoreError| e.to_string();
        let before = self.store.handler_sets().await.map_err(e)?.len();
        self.store.delete_handler_sets_except(live);
        self.store.flush().await.map_err(e)?;
        let kept = self.store.handler_sets().await.map_err(e)?;
        let mut needed = BTreeSet::new();
        for (id, json) in &kept {
            needed.extend(parse(*id, json)?.1.into_values().map(|e| e.sha256));
        }
        let modules_before = self.store.modules().await.map_err(e)?.len();
        let needed: Vec<String> = needed.into_iter().collect();
        self.store.delete_modules_except(&needed);
        self.store.flush().await.map_err(e)?;
        let modules_after = self.store.modules().await.map_err(e)?.len();
        Ok((
            before.saturating_sub(kept.len()),
            modules_before.saturating_sub(modules_after),
        ))
    }
}
