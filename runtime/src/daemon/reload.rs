//! Hot reload: the plugins and definitions directories are watched (notify, debounced); a
//! changed file goes through the same load path as start-up (read, validate, compile) off the
//! request path and is swapped in atomically. A file that does not load never replaces what is
//! serving: it is logged with the reason and counted, and the previous version keeps serving.
//!
//! Executions are never switched half-way: each one keeps the compiled definition it started
//! with (the service holds it) and the handlers it started with (`TaskInvoker::pin`), so an old
//! module stays alive as long as an execution that may call it runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use serde::Serialize;

use crate::asl::MachineType;
use crate::daemon::releases::{Entries, Entry, Releases};
use crate::daemon::service::{Service, machine_arn};
use crate::wasm::manifest::Manifest;
use crate::wasm::plugin::sha256_hex;
use crate::wasm::{HandlerSet, Handlers, Plugin, WasmHost, handler_name, module_files};

/// How long a file must be quiet before it is loaded: folds an editor's or a copier's burst of
/// events (truncate, writes, rename) into one load.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// The role state machines created from the definitions directory run as.
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/wasmstep";

/// Tag on a state machine created from a definition file, naming the file: the next start knows
/// which state machines to remove when their file went away while the daemon was stopped (and
/// ListTagsForResource shows where a state machine comes from).
pub const SOURCE_TAG: &str = "wasmstep:definition-file";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Plugin,
    Definition,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Plugin => "plugin",
            Kind::Definition => "definition",
        }
    }
}

/// A new version now serving.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub kind: Kind,
    pub name: String,
    pub file: PathBuf,
    /// The handler's SHA-256, or the state machine's version ARN.
    pub version: String,
    /// Reading, validating and compiling.
    pub load_ms: f64,
}

/// A file that did not load; what was serving before still is.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub kind: Kind,
    pub file: PathBuf,
    pub reason: String,
}

/// A handler or state machine whose file is gone: no new executions use it.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub kind: Kind,
    pub name: String,
    pub file: PathBuf,
}

/// What one reload did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub loaded: Vec<Loaded>,
    pub rejected: Vec<Rejected>,
    pub removed: Vec<Removed>,
    /// Files looked at whose content is what already serves.
    pub unchanged: usize,
}

impl Report {
    /// Whether something of `kind` was loaded or removed.
    pub fn changed(&self, kind: Kind) -> bool {
        self.loaded.iter().any(|l| l.kind == kind) || self.removed.iter().any(|r| r.kind == kind)
    }
}

/// The version serving for one handler.
#[derive(Clone)]
struct HandlerVersion {
    /// Loads of it in this process (the version gauge's value).
    loads: i64,
    entry: Entry,
}

/// What the reloader has put in place, so it can tell a change from a repeat and knows what a
/// deleted file took with it.
#[derive(Default)]
struct Tracked {
    /// Definition file -> the state machine it defines.
    definitions: BTreeMap<PathBuf, String>,
    /// `definitions` holds the files recorded in the store by an earlier run.
    seeded: bool,
    handlers: HashMap<String, HandlerVersion>,
    /// The number the next handler set gets.
    next_set: u64,
}

pub struct Reloader {
    svc: Arc<Service>,
    host: Option<Arc<WasmHost>>,
    plugins_dir: Option<PathBuf>,
    definitions_dir: Option<PathBuf>,
    /// Where handler sets and module releases are kept for executions across restarts (the
    /// daemon; `None` where nothing outlives the process).
    releases: Option<Releases>,
    /// One reload at a time: the watcher, SIGHUP and `wasmstep reload` never interleave.
    tracked: tokio::sync::Mutex<Tracked>,
}

/// `*.asl.json`, `*.asl.yaml`, `*.asl.yml` (not hidden: editors' swap and temporary files are).
pub fn is_definition_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| !n.starts_with('.') && [".asl.json", ".asl.yaml", ".asl.yml"].iter().any(|x| n.ends_with(x)))
}

/// Every definition file below `dir`, sorted.
pub fn definition_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if is_definition_file(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

impl Reloader {
    /// Directories are made absolute, so they compare equal to the paths the watcher reports.
    /// `archive`: the directory where module releases are kept for running executions (the
    /// daemon's data directory has one).
    pub fn new(
        svc: Arc<Service>,
        host: Option<Arc<WasmHost>>,
        plugins_dir: Option<&Path>,
        definitions_dir: Option<&Path>,
        archive: Option<PathBuf>,
    ) -> Result<Arc<Reloader>, String> {
        let absolute = |d: &Path, what: &str| {
            std::fs::canonicalize(d).map_err(|e| format!("cannot read the {what} directory {}: {e}", d.display()))
        };
        let releases = match archive {
            Some(dir) if host.is_some() => Some(Releases::open(svc.store.clone(), dir)?),
            _ => None,
        };
        let next_set = match &releases {
            Some(r) => r.next_id()?,
            None => 1,
        };
        Ok(Arc::new(Reloader {
            plugins_dir: plugins_dir.map(|d| absolute(d, "plugins")).transpose()?,
            definitions_dir: definitions_dir.map(|d| absolute(d, "definitions")).transpose()?,
            releases,
            tracked: tokio::sync::Mutex::new(Tracked {
                next_set,
                ..Tracked::default()
            }),
            svc,
            host,
        }))
    }

    /// Looks at every file again (start-up, SIGHUP, `wasmstep reload`): loads what changed,
    /// removes what is gone.
    pub async fn rescan(&self) -> Report {
        let mut tracked = self.tracked.lock().await;
        let mut report = Report::default();
        if let (Some(dir), Some(host)) = (&self.plugins_dir, &self.host) {
            let mut names: BTreeSet<String> = tracked.handlers.keys().cloned().collect();
            match module_files(dir) {
                Ok(files) => names.extend(files.iter().filter_map(|f| handler_name(f))),
                Err(e) => self.reject(
                    &mut report,
                    Kind::Plugin,
                    dir,
                    format!("cannot read the directory: {e}"),
                ),
            }
            for name in names {
                self.plugin(&mut tracked, host, dir, &name, None, &mut report).await;
            }
        }
        if let Some(dir) = &self.definitions_dir {
            self.rescan_definitions(&mut tracked, dir, &mut report).await;
        }
        if report.changed(Kind::Plugin) {
            self.collect_garbage().await;
        }
        report
    }

    async fn rescan_definitions(&self, tracked: &mut Tracked, dir: &Path, report: &mut Report) {
        if !tracked.seeded {
            tracked.seeded = true;
            for m in self.svc.list_machines() {
                let source = self.svc.list_tags(&m.arn).ok().and_then(|tags| {
                    tags.into_iter()
                        .find_map(|(k, v)| (k == SOURCE_TAG).then(|| PathBuf::from(v)))
                });
                if let Some(file) = source.filter(|f| f.starts_with(dir)) {
                    tracked.definitions.insert(file, m.name.clone());
                }
            }
        }
        let mut files: BTreeSet<PathBuf> = tracked.definitions.keys().cloned().collect();
        match definition_files(dir) {
            Ok(found) => files.extend(found),
            Err(e) => self.reject(report, Kind::Definition, dir, format!("cannot read the directory: {e}")),
        }
        let (present, gone): (Vec<_>, Vec<_>) = files.into_iter().partition(|p| p.exists());
        for f in present.into_iter().chain(gone) {
            self.definition(tracked, &f, None, report).await;
        }
    }

    /// Files the watcher saw change, each with the time of its first event.
    pub async fn changed(&self, paths: BTreeMap<PathBuf, Instant>) -> Report {
        let mut tracked = self.tracked.lock().await;
        let mut report = Report::default();
        let mut handlers: BTreeMap<String, Instant> = BTreeMap::new();
        let mut definitions: BTreeMap<PathBuf, Instant> = BTreeMap::new();
        let mut rescan_definitions = false;
        for (path, since) in paths {
            if let (Some(dir), Some(name)) = (&self.plugins_dir, handler_name(&path))
                && path.parent() == Some(dir.as_path())
            {
                let t = handlers.entry(name).or_insert(since);
                *t = (*t).min(since);
            }
            if let Some(dir) = &self.definitions_dir
                && path.starts_with(dir)
            {
                if is_definition_file(&path) {
                    definitions.insert(path, since);
                } else if path.is_dir() || tracked.definitions.keys().any(|f| f.starts_with(&path)) {
                    // A folder moved in, out or away: look at everything under it.
                    rescan_definitions = true;
                }
            }
        }
        if let (Some(dir), Some(host)) = (&self.plugins_dir, &self.host) {
            for (name, since) in handlers {
                self.plugin(&mut tracked, host, dir, &name, Some(since), &mut report)
                    .await;
            }
        }
        // Files that exist first, then those gone: a rename (a.asl.json -> a.asl.yaml) moves the
        // state machine to the new file instead of deleting it.
        let (present, gone): (Vec<_>, Vec<_>) = definitions.into_iter().partition(|(p, _)| p.exists());
        for (path, since) in present.into_iter().chain(gone) {
            self.definition(&mut tracked, &path, Some(since), &mut report).await;
        }
        if rescan_definitions && let Some(dir) = &self.definitions_dir {
            self.rescan_definitions(&mut tracked, dir, &mut report).await;
        }
        if report.changed(Kind::Plugin) {
            self.collect_garbage().await;
        }
        report
    }

    fn reject(&self, report: &mut Report, kind: Kind, file: &Path, reason: String) {
        // One log line per rejection, whatever the message looks like.
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        tracing::error!(kind = kind.as_str(), file = %file.display(), %reason, "reload rejected; the previous version keeps serving");
        self.svc
            .metrics
            .reloads
            .with_label_values(&[kind.as_str(), "rejected"])
            .inc();
        report.rejected.push(Rejected {
            kind,
            file: file.to_path_buf(),
            reason,
        });
    }

    fn loaded(&self, report: &mut Report, change: Loaded, since: Option<Instant>) {
        let kind = change.kind.as_str();
        let latency = since.map(|t| t.elapsed());
        tracing::info!(
            kind, name = %change.name, file = %change.file.display(), version = %change.version,
            load_ms = change.load_ms, latency_ms = latency.map(millis), "loaded"
        );
        let m = &self.svc.metrics;
        m.reloads.with_label_values(&[kind, "loaded"]).inc();
        m.reload_load.with_label_values(&[kind]).observe(change.load_ms / 1e3);
        if let Some(l) = latency {
            m.reload_latency.with_label_values(&[kind]).observe(l.as_secs_f64());
        }
        report.loaded.push(change);
    }

    fn removed(&self, report: &mut Report, kind: Kind, name: &str, file: &Path) {
        tracing::info!(kind = kind.as_str(), %name, file = %file.display(), "file removed: no new executions use it; running ones finish");
        self.svc
            .metrics
            .reloads
            .with_label_values(&[kind.as_str(), "removed"])
            .inc();
        report.removed.push(Removed {
            kind,
            name: name.to_string(),
            file: file.to_path_buf(),
        });
    }

    /// Reconciles handler `name` with `dir/name.wasm` (and its manifest) as they are now.
    async fn plugin(
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
            r.archive(&entry.sha256, &bytes)
                .map_err(|e| format!("cannot archive the module for the executions that will use it: {e}"))?;
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
        let id = tracked.next_set;
        if let Some(r) = &self.releases {
            let recorded: Entries = entries.iter().map(|(n, v)| (n.clone(), v.entry.clone())).collect();
            r.record(id, &recorded)
                .await
                .map_err(|e| format!("cannot record the new handler set: {e}"))?;
        }
        host.install(HandlerSet { id, handlers });
        tracked.next_set += 1;
        tracked.handlers = entries;
        Ok(())
    }

    /// After a restart, before resuming: brings back the handler sets running executions
    /// started with (from the archive where the plugins directory has moved on), so they
    /// resume on the same releases. Returns how many sets were brought back.
    pub async fn restore(&self) -> usize {
        let (Some(releases), Some(host), Some(dir)) = (&self.releases, &self.host, &self.plugins_dir) else {
            return 0;
        };
        let tracked = self.tracked.lock().await;
        let sets = match releases.running_sets() {
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
                    None => match releases.module(&entry.sha256) {
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

    /// Once the running executions are resumed (each holds its handlers): lets go of the sets
    /// brought back, and removes the recorded sets and archived modules nothing needs now.
    pub async fn forget_unused(&self) {
        let _tracked = self.tracked.lock().await;
        if let Some(host) = &self.host {
            host.release_retained();
        }
        self.collect_garbage().await;
    }

    /// Removes the recorded handler sets no execution holds or may resume with, and the
    /// archived modules only they named. Called with the reload lock held.
    async fn collect_garbage(&self) {
        let (Some(releases), Some(host)) = (&self.releases, &self.host) else {
            return;
        };
        match releases.collect_garbage(&host.live_sets()).await {
            Ok((sets, modules)) => tracing::debug!(sets, modules, "removed unused handler sets and archived modules"),
            Err(e) => tracing::warn!(error = %e, "cannot remove unused handler sets"),
        }
    }

    /// Reconciles the state machine defined by `path` with the file as it is now: created or
    /// updated (publishing a version), or deleted when the file is gone.
    async fn definition(&self, tracked: &mut Tracked, path: &Path, since: Option<Instant>, report: &mut Report) {
        let name = crate::asl::machine_name(path);
        let arn = machine_arn(&name);
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Unless another file defines the same state machine now (renamed from .yaml to
                // .json, say).
                if tracked.definitions.remove(path).is_some() && !tracked.definitions.values().any(|n| *n == name) {
                    match self.svc.delete_machine(&arn).await {
                        Ok(()) => {
                            let _ = self.svc.metrics.state_machine_version.remove_label_values(&[&name]);
                            self.removed(report, Kind::Definition, &name, path);
                        }
                        Err(e) if e.kind == "StateMachineDoesNotExist" => {}
                        Err(e) => self.reject(report, Kind::Definition, path, e.message),
                    }
                }
                return;
            }
            Err(e) => return self.reject(report, Kind::Definition, path, format!("cannot read it: {e}")),
        };
        if let Some((other, _)) = tracked
            .definitions
            .iter()
            // (A file gone in the same batch is not a rival: it is removed after this one.)
            .find(|(f, n)| **n == name && f.as_path() != path && f.exists())
        {
            let reason = format!("state machine {name} is already defined by {}", other.display());
            return self.reject(report, Kind::Definition, path, reason);
        }
        let t0 = Instant::now();
        let existing = self.svc.machine(&arn).ok();
        if tracked.definitions.contains_key(path) && existing.as_ref().is_some_and(|m| m.definition == text) {
            report.unchanged += 1;
            return;
        }
        let saved = match &existing {
            Some(m) if m.definition == text => Ok(()),
            Some(_) => self.svc.update_machine(&arn, Some(&text), None).await.map(|_| ()),
            None => self
                .svc
                .create_machine(&name, &text, ROLE_ARN, MachineType::Standard)
                .await
                .map(|_| ()),
        };
        if let Err(e) = saved {
            return self.reject(report, Kind::Definition, path, e.message);
        }
        let load_ms = millis(t0.elapsed());
        let source = path.to_string_lossy();
        if source.chars().count() <= 256
            && let Err(e) = self
                .svc
                .tag_resource(&arn, &[(SOURCE_TAG.to_string(), source.to_string())])
                .await
        {
            tracing::warn!(file = %path.display(), error = %e.message, "cannot record where the state machine comes from");
        }
        tracked.definitions.insert(path.to_path_buf(), name.clone());
        // Every definition that serves is a version: DescribeStateMachine shows the new text,
        // ListStateMachineVersions the history, and an unchanged text publishes nothing new.
        let version = match self
            .svc
            .publish_version(&arn, Some("loaded from the definitions directory"))
            .await
        {
            Ok((v, _)) => v,
            Err(e) => return self.reject(report, Kind::Definition, path, e.message),
        };
        if let Some((_, n)) = crate::daemon::catalog::versions::split_version(&version) {
            self.svc
                .metrics
                .state_machine_version
                .with_label_values(&[&name])
                .set(n as i64);
        }
        if existing.is_some_and(|m| m.definition == text) {
            // Already serving (loaded before this process started): nothing changed.
            report.unchanged += 1;
            return;
        }
        self.loaded(
            report,
            Loaded {
                kind: Kind::Definition,
                name,
                file: path.to_path_buf(),
                version,
                load_ms,
            },
            since,
        );
    }

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
