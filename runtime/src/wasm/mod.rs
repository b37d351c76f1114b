//! Task handlers as sandboxed WebAssembly: the engine, the plugins directory, and the
//! `TaskInvoker` the engine calls.

pub mod engine;
pub mod invoke;
pub mod manifest;
pub mod plugin;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use futures::future::BoxFuture;
use serde_json::Value;

use crate::asl::ErrorName;
use crate::engine::error::AslError;
use crate::engine::task::{InvokeError, TaskCall, TaskInvoker};
pub use engine::WasmEngine;
pub use plugin::Plugin;

/// The handlers of a plugins directory, by name (the file stem).
pub type Handlers = HashMap<String, Arc<Plugin>>;

/// One state of the plugins directory, numbered: an execution records the number of the set it
/// started with, so after a restart it can be given the same releases again.
#[derive(Default)]
pub struct HandlerSet {
    pub id: u64,
    pub handlers: Handlers,
}

/// The handlers of a plugins directory. Hot reload installs a whole new set (copy on write:
/// reloads are rare, calls are not), so a caller holding a set keeps the modules it saw, and
/// they stay alive until the last such caller lets go.
pub struct WasmHost {
    engine: Arc<WasmEngine>,
    current: RwLock<Arc<HandlerSet>>,
    /// Earlier sets brought back for executions resumed after a restart (see `retain`).
    retained: Mutex<HashMap<u64, Arc<HandlerSet>>>,
    /// Sets that served before the current one; alive while an execution holds one.
    past: Mutex<Vec<(u64, Weak<HandlerSet>)>>,
    /// The folder the handlers come from (named when a handler is missing).
    folder: RwLock<Option<PathBuf>>,
}

/// A plugins directory that could not be loaded: every file that failed, and why.
#[derive(Debug)]
pub struct LoadErrors(pub Vec<String>);

impl std::fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

/// `*.wasm` files directly in `dir` (hidden ones, such as an editor's or a copier's temporary
/// files, are not handlers), sorted.
pub fn module_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| handler_name(p).is_some() && p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    Ok(files)
}

/// The handler a plugins-directory file belongs to: `NAME.wasm` and its manifest `NAME.toml`.
pub fn handler_name(path: &Path) -> Option<String> {
    let ext = path.extension()?;
    if ext != "wasm" && ext != "toml" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    (!stem.is_empty() && !stem.starts_with('.')).then(|| stem.to_string())
}

impl WasmHost {
    pub fn new(engine: Arc<WasmEngine>) -> Self {
        WasmHost {
            engine,
            current: RwLock::new(Arc::new(HandlerSet::default())),
            retained: Mutex::new(HashMap::new()),
            past: Mutex::new(Vec::new()),
            folder: RwLock::new(None),
        }
    }

    /// Names the folder the handlers come from.
    pub fn set_folder(&self, dir: &Path) {
        *self.folder.write().unwrap_or_else(|e| e.into_inner()) = Some(dir.to_path_buf());
    }

    pub fn engine(&self) -> &Arc<WasmEngine> {
        &self.engine
    }

    /// Loads every `*.wasm` in `dir` (with its `NAME.toml`). All failures are reported.
    pub fn load_dir(&self, dir: &Path) -> Result<usize, LoadErrors> {
        self.load_dir_only(dir, None)
    }

    /// Loads the `*.wasm` in `dir` whose handler is in `only` (every one without it).
    pub fn load_dir_only(
        &self,
        dir: &Path,
        only: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<usize, LoadErrors> {
        self.set_folder(dir);
        let files = module_files(dir).map_err(|e| {
            LoadErrors(vec![format!(
                "cannot read the plugins directory {}: {e}",
                dir.display()
            )])
        })?;
        let mut errors = Vec::new();
        let mut loaded = 0;
        let wanted = |f: &PathBuf| only.is_none_or(|names| handler_name(f).is_some_and(|n| names.contains(&n)));
        for f in files.into_iter().filter(wanted) {
            match Plugin::load(&self.engine, &f) {
                Ok(p) => {
                    self.insert(p);
                    loaded += 1;
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(loaded)
        } else {
            Err(LoadErrors(errors))
        }
    }

    /// Every handler as it is now; later swaps do not change what the snapshot holds.
    pub fn snapshot(&self) -> Arc<HandlerSet> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes `set` the one new calls and new executions use (atomically: a call sees the old
    /// set or the new one).
    pub fn install(&self, set: HandlerSet) {
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(set),
        );
        self.past
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((old.id, Arc::downgrade(&old)));
    }

    /// The numbers of the sets still in use: the current one, and every earlier one an
    /// execution (or a call) still holds.
    pub fn live_sets(&self) -> Vec<u64> {
        let mut past = self.past.lock().unwrap_or_else(|e| e.into_inner());
        past.retain(|(_, w)| w.strong_count() > 0);
        let retained = self.retained.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<u64> = past.iter().map(|(id, _)| *id).chain(retained.keys().copied()).collect();
        ids.push(self.snapshot().id);
        ids
    }

    /// Adds or replaces one handler, as a new set (the CLI's one-time load; the daemon's
    /// reloader builds whole sets and `install`s them).
    pub fn insert(&self, p: Plugin) {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let mut handlers = guard.handlers.clone();
        handlers.insert(p.name.to_string(), Arc::new(p));
        *guard = Arc::new(HandlerSet {
            id: guard.id + 1,
            handlers,
        });
    }

    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .handlers
            .get(name)
            .cloned()
    }

    /// Keeps an earlier set available to `repin` (for executions resumed after a restart).
    pub fn retain(&self, set: HandlerSet) {
        self.retained
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(set.id, Arc::new(set));
    }

    /// Lets go of the retained sets (the executions that needed them hold them now).
    pub fn release_retained(&self) {
        let sets: Vec<Arc<HandlerSet>> = self
            .retained
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        // Still tracked while resumed executions hold them.
        self.past
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(sets.iter().map(|s| (s.id, Arc::downgrade(s))));
    }

    /// A set by number, while it is current, retained or still held by someone.
    fn find_set(&self, id: u64) -> Option<Arc<HandlerSet>> {
        let current = self.snapshot();
        if current.id == id {
            return Some(current);
        }
        if let Some(s) = self.retained.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Some(s.clone());
        }
        self.past
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(i, _)| *i == id)
            .find_map(|(_, w)| w.upgrade())
    }

    /// Whether set `id` can be had here (`repin` finds it).
    pub fn has_set(&self, id: u64) -> bool {
        self.find_set(id).is_some()
    }

    fn pinned(&self, set: Arc<HandlerSet>) -> Arc<dyn TaskInvoker> {
        Arc::new(Pinned {
            engine: self.engine.clone(),
            set,
            folder: self.folder.read().unwrap_or_else(|e| e.into_inner()).clone(),
        })
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.snapshot().handlers.keys().cloned().collect();
        v.sort();
        v
    }
}

/// The handlers one execution started with (see `TaskInvoker::pin`).
struct Pinned {
    engine: Arc<WasmEngine>,
    set: Arc<HandlerSet>,
    /// The folder the handlers came from (to explain a missing one).
    folder: Option<PathBuf>,
}

impl TaskInvoker for WasmHost {
    fn invoke<'a>(&'a self, call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(call_plugin(self.engine.clone(), self.get(call.handler), call))
    }

    fn pin(&self) -> Option<(u64, Arc<dyn TaskInvoker>)> {
        let set = self.snapshot();
        Some((set.id, self.pinned(set)))
    }

    fn repin(&self, id: u64) -> Option<Arc<dyn TaskInvoker>> {
        self.find_set(id).map(|set| self.pinned(set))
    }

    fn explain_missing(&self, name: &str) -> Option<String> {
        let folder = self.folder.read().unwrap_or_else(|e| e.into_inner()).clone();
        Some(explain(&self.snapshot(), folder.as_deref(), name))
    }
}

fn explain(set: &HandlerSet, folder: Option<&Path>, name: &str) -> String {
    // The folder's files, where there is one (not every file may have been loaded).
    let files: Vec<String> = folder
        .and_then(|d| module_files(d).ok())
        .map(|fs| fs.iter().filter_map(|f| handler_name(f)).collect())
        .unwrap_or_else(|| set.handlers.keys().cloned().collect());
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    crate::engine::task::explain_in_folder(name, folder, &names)
}

impl TaskInvoker for Pinned {
    fn invoke<'a>(&'a self, call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(call_plugin(
            self.engine.clone(),
            self.set.handlers.get(call.handler).cloned(),
            call,
        ))
    }

    fn explain_missing(&self, name: &str) -> Option<String> {
        Some(explain(&self.set, self.folder.as_deref(), name))
    }
}

async fn call_plugin(
    engine: Arc<WasmEngine>,
    plugin: Option<Arc<Plugin>>,
    call: TaskCall<'_>,
) -> Result<Value, InvokeError> {
    let Some(plugin) = plugin else {
        return Err(InvokeError::NoSuchHandler);
    };
    let request = invoke::Request {
        input: call.payload.to_string(),
        context: call.context.to_string(),
        timeout: call.timeout,
        heartbeat: call.heartbeat,
    };
    // Guest code is synchronous (and WASI's sync bindings block): on a multi-threaded
    // runtime the worker lends itself to it (cheapest); elsewhere it runs on the
    // blocking pool.
    let run = move || invoke::call(&engine, &plugin, request);
    let r = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => Ok(tokio::task::block_in_place(run)),
        _ => tokio::task::spawn_blocking(run).await,
    };
    match r {
        Ok(r) => r.map_err(InvokeError::Failed),
        Err(e) => Err(InvokeError::Failed(AslError::new(
            ErrorName::TaskFailed,
            format!("Handler '{}' stopped unexpectedly: {e}", call.handler),
        ))),
    }
}
