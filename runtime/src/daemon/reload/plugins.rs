//! Handlers: reconciling one with its module and manifest (compiled off the request path,
//! archived, installed as a new numbered set), and bringing back after a restart the sets that
//! running executions started with.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::{HandlerVersion, Kind, Loaded, Reloader, Report, Tracked, millis};
use crate::daemon::releases::{Entries, Entry};
use crate::wasm::manifest::Manifest;
use crate::wasm::plugin::sha256_hex;
use crate::wasm::{HandlerSet, Handlers, Plugin, WasmHost};

impl Reloader {
    /// Reconciles handler `name` with `dir/name.wasm` (and its manifest) as they are now.
    pub(super) async fn plugin(
        &self,
        tracked: &mut Tracked,
        host: &Arc<WasmHost>,
        dir: &Path,
        name: &str,
        since: Option<Instant>,
        report: &mut Report,
    ) {
        let wasm = dir.join(format!("{name}.wasm"));
        let bytes = match std::fs::read(&wasm) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if tracked.handlers.contains_key(name) {
                    let mut handlers = host.snapshot().handlers.clone();
                    handlers.remove(name);
                    let mut entries = tracked.handlers.clone();
                    let old = entries.remove(name);
                    if let Err(reason) = self.install(tracked, host, handlers, entries).await {
                        return self.reject(report, Kind::Plugin, &wasm, reason);
                    }
                    if let Some(old) = old {
                        let _ = self
                            .svc
                            .metrics
                            .handler_version
                            .remove_label_values(&[name, &old.entry.sha256]);
                    }
                    self.removed(report, Kind::Plugin, name, &wasm);
                }
                return;
            }
            Err(e) => return self.reject(report, Kind::Plugin, &wasm, format!("cannot read it: {e}")),
        };
        let toml = wasm.with_extension("toml");
        let manifest_text = match std::fs::read_to_string(&toml) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return self.reject(
                    report,
                    Kind::Plugin,
                    &wasm,
                    format!("cannot read {}: {e}", toml.display()),
                );
            }
        };
        let entry = Entry {
            sha256: sha256_hex(&bytes),
            manifest: manifest_text,
        };
        if tracked.handlers.get(name).is_some_and(|v| v.entry == entry) {
            report.unchanged += 1;
            return;
        }
        let t0 = Instant::now();
        let plugin = match self.compile(host, dir, name, bytes, &entry).await {
            Ok(p) => p,
            Err(reason) => return self.reject(report, Kind::Plugin, &wasm, reason),
        };
        let load_ms = millis(t0.elapsed());
        let mut handlers = host.snapshot().handlers.clone();
        handlers.insert(name.to_string(), Arc::new(plugin));
        let loads = tracked.handlers.get(name).map_or(0, |v| v.loads) + 1;
        let mut entries = tracked.handlers.clone();
        let old = entries.insert(
            name.to_string(),
            HandlerVersion {
                loads,
                entry: entry.clone(),
            },
        );
        if let Err(reason) = self.install(tracked, host, handlers, entries).await {
            return self.reject(report, Kind::Plugin, &wasm, reason);
        }
        let gauge = &self.svc.metrics.handler_version;
        if let Some(old) = old {
            let _ = gauge.remove_label_values(&[name, &old.entry.sha256]);
        }
        gauge.with_label_values(&[name, &entry.sha256]).set(loads);
        self.loaded(
            report,
            Loaded {
                kind: Kind::Plugin,
                name: name.to_string(),
                file: wasm,
                version: entry.sha256,
                load_ms,
            },
            since,
        );
    }

    /// Validates and compiles a module (the load path of start-up and of every reload), and
    /// archives it for executions that start with it.
    async fn compile(
        &self,
        host: &Arc<WasmHost>,
        dir: &Path,
        name: &str,
        bytes: Vec<u8>,
        entry: &Entry,
    ) -> Result<Plugin, String> {
        let manifest = match &entry.manifest {
            Some(text) => Manifest::parse(text, dir)
                .map_err(|e| format!("{}: {e}", dir.join(format!("{name}.toml")).display()))?,
            None => Manifest::default(),
        };
        let engine = host.engine().clone();
        let owned = name.to_string();
        // Compiling is CPU work that can take seconds for a big module: not on a runtime worker.
        let (plugin, bytes) =
            tokio::task::spawn_blocking(move || (Plugin::from_bytes(&engine, &owned, &bytes, manifest), bytes))
                .await
                .map_err(|e| format!("the loader stopped: {e}"))?;
        let plugin = plugin?;
        if let Some(r) = &self.releases {
            // Durable with the set that names it (`install`).
            r.archive(&entry.sha256, &bytes);
        }
        Ok(plugin)
    }

    /// Records the new set of handlers (durably, before any execution can start with it), then
    /// makes it the one serving.
    async fn install(
        &self,
        tracked: &mut Tracked,
        host: &Arc<WasmHost>,
        handlers: Handlers,
        entries: HashMap<String, HandlerVersion>,
    ) -> Result<(), String> {
        let id = match &self.releases {
            Some(r) => r
                .next_id()
                .await
                .map_err(|e| format!("cannot number the new handler set: {e}"))?,
            None => tracked.last_set + 1,
        };
        if let Some(r) = &self.releases {
            let recorded: Entries = entries.iter().map(|(n, v)| (n.clone(), v.entry.clone())).collect();
            r.record(id, &recorded)
                .await
                .map_err(|e| format!("cannot record the new handler set: {e}"))?;
        }
        host.install(HandlerSet { id, handlers });
        tracked.last_set = id;
        tracked.handlers = entries;
        Ok(())
    }

    /// Before resuming executions (after a restart, or claimed from another node): brings back
    /// the recorded handler sets among `ids` that this node does not serve (from the modules
    /// archived in the store where the plugins directory has moved on, or never had them), so
    /// they resume on the releases they started with. Returns how many sets were brought back.
    pub async fn restore(&self, ids: &[u64]) -> usize {
        let (Some(releases), Some(host), Some(dir)) = (&self.releases, &self.host, &self.plugins_dir) else {
            return 0;
        };
        let missing: Vec<u64> = ids.iter().copied().filter(|id| !host.has_set(*id)).collect();
        if missing.is_empty() {
            return 0;
        }
        let tracked = self.tracked.lock().await;
        let sets = match releases.sets(&missing).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the handler sets of running executions");
                return 0;
            }
        };
        let current = host.snapshot();
        let mut restored = 0;
        for (id, entries) in sets.into_iter().filter(|(id, _)| *id != current.id) {
            let mut handlers = Handlers::new();
            for (name, entry) in entries {
                let same = tracked.handlers.get(&name).is_some_and(|v| v.entry == entry);
                let plugin = match current.handlers.get(&name).filter(|_| same) {
                    Some(p) => Ok(p.clone()),
                    None => match releases.module(&entry.sha256).await {
                        Ok(bytes) => self.compile(host, dir, &name, bytes, &entry).await.map(Arc::new),
                        Err(e) => Err(format!("the archived module is gone: {e}")),
                    },
                };
                match plugin {
                    Ok(p) => {
                        handlers.insert(name, p);
                    }
                    Err(e) => {
                        // Best effort: the release serving now, rather than none at all.
                        tracing::warn!(handler = %name, sha256 = %entry.sha256, handler_set = id, error = %e, "cannot bring back a handler release; its executions call the one serving now");
                        if let Some(p) = current.handlers.get(&name) {
                            handlers.insert(name, p.clone());
                        }
                    }
                }
            }
            host.retain(HandlerSet { id, handlers });
            restored += 1;
        }
        restored
    }

    /// Once the executions are resumed (each holds its handlers): lets go of the sets brought
    /// back; with `collect`, also removes the recorded sets and archived modules nothing needs.
    pub async fn forget_unused(&self, collect: bool) {
        let _tracked = self.tracked.lock().await;
        if let Some(host) = &self.host {
            host.release_retained();
        }
        if collect {
            self.collect_garbage().await;
        }
    }

    /// Removes the recorded handler sets no execution holds or may resume with, and the
    /// archived modules only they named. Called with the reload lock held.
    pub(super) async fn collect_garbage(&self) {
        let (Some(releases), Some(host)) = (&self.releases, &self.host) else {
            return;
        };
        match releases.collect_garbage(&host.live_sets()).await {
            Ok((sets, modules)) => tracing::debug!(sets, modules, "removed unused handler sets and archived modules"),
            Err(e) => tracing::warn!(error = %e, "cannot remove unused handler sets"),
        }
    }
}
