//! Watching the plugins and definitions directories (notify, debounced): each batch of changes
//! becomes one reload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::{DEBOUNCE, Reloader};

impl Reloader {
    /// Watches both directories until the returned guard is dropped; each debounced batch of
    /// changes is reloaded on the runtime this is called from.
    pub fn watch(self: &Arc<Self>) -> Result<Watch, String> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<DebounceEventResult>();
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |r: DebounceEventResult| {
            let _ = tx.send(r);
        })
        .map_err(|e| format!("cannot watch for file changes: {e}"))?;
        let watch = |debouncer: &mut Debouncer<_, _>, d: &Path, mode| {
            debouncer
                .watch(d, mode)
                .map_err(|e| format!("cannot watch {}: {e}", d.display()))
        };
        if let Some(d) = &self.definitions_dir {
            watch(&mut debouncer, d, RecursiveMode::Recursive)?;
        }
        if let Some(p) = &self.plugins_dir
            && !self.definitions_dir.as_ref().is_some_and(|d| p.starts_with(d))
        {
            watch(&mut debouncer, p, RecursiveMode::NonRecursive)?;
        }
        let me = self.clone();
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut paths: BTreeMap<PathBuf, Instant> = BTreeMap::new();
                let mut batch = Some(first);
                // Whatever else has queued meanwhile goes in the same reload.
                while let Some(r) = batch.take().or_else(|| rx.try_recv().ok()) {
                    match r {
                        Ok(events) => {
                            for e in events {
                                // Reads (ours included) are not changes.
                                if matches!(e.kind, EventKind::Access(_)) {
                                    continue;
                                }
                                for p in &e.paths {
                                    let t = paths.entry(p.clone()).or_insert(e.time);
                                    *t = (*t).min(e.time);
                                }
                            }
                        }
                        Err(errors) => {
                            for e in errors {
                                tracing::warn!(error = %e, "file watcher");
                            }
                        }
                    }
                }
                if !paths.is_empty() {
                    me.changed(paths).await;
                }
            }
        });
        Ok(Watch {
            _debouncer: debouncer,
            task,
        })
    }
}

/// A running watcher; dropping it stops watching.
pub struct Watch {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
