//! Task handlers as sandboxed WebAssembly: the engine, the plugins directory, and the
//! `TaskInvoker` the engine calls.

pub mod engine;
pub mod invoke;
pub mod manifest;
pub mod plugin;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde_json::Value;

use crate::engine::error::{AslError, ErrorName};
use crate::engine::task::{InvokeError, TaskCall, TaskInvoker};
pub use engine::WasmEngine;
pub use plugin::Plugin;

/// The handlers of a plugins directory, by name (the file stem).
pub struct WasmHost {
    engine: Arc<WasmEngine>,
    plugins: RwLock<HashMap<String, Arc<Plugin>>>,
}

/// A plugins directory that could not be loaded: every file that failed, and why.
#[derive(Debug)]
pub struct LoadErrors(pub Vec<String>);

impl std::fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl WasmHost {
    pub fn new(engine: Arc<WasmEngine>) -> Self {
        WasmHost {
            engine,
            plugins: RwLock::new(HashMap::new()),
        }
    }

    /// Loads every `*.wasm` in `dir` (with its `NAME.toml`). All failures are reported.
    pub fn load_dir(&self, dir: &Path) -> Result<usize, LoadErrors> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            LoadErrors(vec![format!(
                "cannot read the plugins directory {}: {e}",
                dir.display()
            )])
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        let mut errors = Vec::new();
        let mut loaded = 0;
        for f in files {
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

    /// Adds or replaces one handler.
    pub fn insert(&self, p: Plugin) {
        self.plugins
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p.name.to_string(), Arc::new(p));
    }

    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }
}

impl TaskInvoker for WasmHost {
    fn invoke<'a>(&'a self, call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(async move {
            let Some(plugin) = self.get(call.handler) else {
                return Err(InvokeError::NoSuchHandler);
            };
            let request = invoke::Request {
                input: call.payload.to_string(),
                context: call.context.to_string(),
                timeout: call.timeout,
                heartbeat: call.heartbeat,
            };
            let engine = self.engine.clone();
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
        })
    }
}
