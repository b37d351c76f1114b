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

use serde::Serialize;

use crate::daemon::releases::{Entry, Releases};
use crate::daemon::service::Service;
use crate::wasm::{WasmHost, handler_name, module_files};

mod definitions;
mod plugins;
mod projects;
mod watch;

pub use definitions::{definition_files, is_definition_file};
pub use watch::Watch;

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
    /// Project file (`serverless.yml`, a template) -> the state machines it defines.
    projects: BTreeMap<PathBuf, Vec<String>>,
    /// `definitions` holds the files recorded in the store by an earlier run.
    seeded: bool,
    handlers: HashMap<String, HandlerVersion>,
    /// The number of the last handler set, where the store does not number them.
    last_set: u64,
}

impl Tracked {
    /// Another file that defines the state machine `name` and still exists (a file gone in the
    /// same batch is not a rival: it is removed after this one).
    fn defined_elsewhere(&self, name: &str, path: &Path) -> Option<PathBuf> {
        self.definitions
            .iter()
            .filter(|(_, n)| *n == name)
            .map(|(f, _)| f)
            .chain(
                self.projects
                    .iter()
                    .filter(|(_, ns)| ns.iter().any(|n| n == name))
                    .map(|(f, _)| f),
            )
            .find(|f| f.as_path() != path && f.exists())
            .cloned()
    }
}

pub struct Reloader {
    svc: Arc<Service>,
    host: Option<Arc<WasmHost>>,
    plugins_dir: Option<PathBuf>,
    definitions_dir: Option<PathBuf>,
    /// Handler sets and module releases recorded in the store for executions across restarts
    /// and nodes (the daemon; `None` where nothing outlives the process).
    releases: Option<Releases>,
    /// One reload at a time: the watcher, SIGHUP and `wasmstep reload` never interleave.
    tracked: tokio::sync::Mutex<Tracked>,
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

impl Reloader {
    /// Directories are made absolute, so they compare equal to the paths the watcher reports.
    /// With `keep_releases`, handler sets and module releases are recorded in the store for
    /// executions to resume on (the daemon).
    pub fn new(
        svc: Arc<Service>,
        host: Option<Arc<WasmHost>>,
        plugins_dir: Option<&Path>,
        definitions_dir: Option<&Path>,
        keep_releases: bool,
    ) -> Result<Arc<Reloader>, String> {
        let absolute = |d: &Path, what: &str| {
            std::fs::canonicalize(d).map_err(|e| format!("cannot read the {what} directory {}: {e}", d.display()))
        };
        let releases = (keep_releases && host.is_some()).then(|| Releases::new(svc.store.clone()));
        let plugins_dir = plugins_dir.map(|d| absolute(d, "plugins")).transpose()?;
        if let (Some(h), Some(d)) = (&host, &plugins_dir) {
            h.set_folder(d);
        }
        Ok(Arc::new(Reloader {
            plugins_dir,
            definitions_dir: definitions_dir.map(|d| absolute(d, "definitions")).transpose()?,
            releases,
            tracked: tokio::sync::Mutex::new(Tracked::default()),
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
                } else if path.is_dir()
                    || tracked
                        .definitions
                        .keys()
                        .chain(tracked.projects.keys())
                        .any(|f| f.starts_with(&path))
                {
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
        // Say what serves meanwhile: the version from before, or nothing (a new file).
        let serving = match kind {
            Kind::Plugin => handler_name(file).is_some_and(|n| self.host.as_ref().is_some_and(|h| h.get(&n).is_some())),
            Kind::Definition => {
                let arn = crate::daemon::arns::machine_arn(&crate::asl::machine_name(file));
                self.svc.machines().contains_key(&arn)
            }
        };
        if serving {
            tracing::error!(kind = kind.as_str(), file = %file.display(), %reason, "reload rejected; the previous version keeps serving");
        } else {
            tracing::error!(kind = kind.as_str(), file = %file.display(), %reason, "reload rejected; nothing from this file serves (there is no previous version)");
        }
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
}
