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
use sha2::Digest;

use crate::asl::MachineType;
use crate::service::{Service, machine_arn};
use crate::wasm::{Plugin, WasmHost, handler_name, module_files};

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

/// The version serving for one handler.
struct HandlerVersion {
    loads: i64,
    digest: String,
    manifest: Option<Vec<u8>>,
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
}

pub struct Reloader {
    svc: Arc<Service>,
    host: Option<Arc<WasmHost>>,
    plugins_dir: Option<PathBuf>,
    definitions_dir: Option<PathBuf>,
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

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

impl Reloader {
    /// Directories are made absolute, so they compare equal to the paths the watcher reports.
    pub fn new(
        svc: Arc<Service>,
        host: Option<Arc<WasmHost>>,
        plugins_dir: Option<&Path>,
        definitions_dir: Option<&Path>,
    ) -> Result<Arc<Reloader>, String> {
        let absolute = |d: &Path, what: &str| {
            std::fs::canonicalize(d).map_err(|e| format!("cannot read the {what} directory {}: {e}", d.display()))
        };
        Ok(Arc::new(Reloader {
            svc,
            host,
            plugins_dir: plugins_dir.map(|d| absolute(d, "plugins")).transpose()?,
            definitions_dir: definitions_dir.map(|d| absolute(d, "definitions")).transpose()?,
            tracked: tokio::sync::Mutex::new(Tracked::default()),
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
        for f in files {
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
        for (path, since) in definitions {
            self.definition(&mut tracked, &path, Some(since), &mut report).await;
        }
        if rescan_definitions && let Some(dir) = &self.definitions_dir {
            self.rescan_definitions(&mut tracked, dir, &mut report).await;
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
                if let Some(old) = tracked.handlers.remove(name) {
                    host.remove(name);
                    let _ = self
                        .svc
                        .metrics
                        .handler_version
                        .remove_label_values(&[name, &old.digest]);
                    self.removed(report, Kind::Plugin, name, &wasm);
                }
                return;
            }
            Err(e) => return self.reject(report, Kind::Plugin, &wasm, format!("cannot read it: {e}")),
        };
        let manifest = std::fs::read(wasm.with_extension("toml")).ok();
        let digest = sha256_hex(&bytes);
        if tracked
            .handlers
            .get(name)
            .is_some_and(|v| v.digest == digest && v.manifest == manifest)
        {
            report.unchanged += 1;
            return;
        }
        let t0 = Instant::now();
        let engine = host.engine().clone();
        let file = wasm.clone();
        // Compiling is CPU work that can take seconds for a big module: not on a runtime worker.
        let plugin = tokio::task::spawn_blocking(move || Plugin::load(&engine, &file))
            .await
            .unwrap_or_else(|e| Err(format!("{}: the loader stopped: {e}", wasm.display())));
        let load_ms = millis(t0.elapsed());
        let plugin = match plugin {
            Ok(p) => p,
            Err(reason) => {
                // The loader's messages start with the file; the log field has it already.
                let prefix = format!("{}: ", wasm.display());
                let reason = reason.strip_prefix(&prefix).map(str::to_string).unwrap_or(reason);
                return self.reject(report, Kind::Plugin, &wasm, reason);
            }
        };
        let version = plugin.digest.clone();
        host.insert(plugin);
        let loads = tracked.handlers.get(name).map_or(0, |v| v.loads) + 1;
        let gauge = &self.svc.metrics.handler_version;
        if let Some(old) = tracked.handlers.get(name) {
            let _ = gauge.remove_label_values(&[name, &old.digest]);
        }
        gauge.with_label_values(&[name, &version]).set(loads);
        tracked.handlers.insert(
            name.to_string(),
            HandlerVersion {
                loads,
                digest: version.clone(),
                manifest,
            },
        );
        self.loaded(
            report,
            Loaded {
                kind: Kind::Plugin,
                name: name.to_string(),
                file: wasm,
                version,
                load_ms,
            },
            since,
        );
    }

    /// Reconciles the state machine defined by `path` with the file as it is now: created or
    /// updated (publishing a version), or deleted when the file is gone.
    async fn definition(&self, tracked: &mut Tracked, path: &Path, since: Option<Instant>, report: &mut Report) {
        let name = crate::run::machine_name(path);
        let arn = machine_arn(&name);
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if tracked.definitions.remove(path).is_some() {
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
            .find(|(f, n)| **n == name && f.as_path() != path)
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
        if let Some((_, n)) = crate::versions::split_version(&version) {
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
