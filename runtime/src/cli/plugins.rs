//! `wasmstep plugins`: loads (and caches the compiled form of) every handler of a directory;
//! also the `--plugins DIR` loading that `run` and `bench` share.

use std::sync::Arc;

use wasmstep::engine::task::TaskInvoker;
use wasmstep::wasm::{WasmEngine, WasmHost};

use super::args::PluginsArgs;
use super::{USAGE, print_line};

/// Loads the handlers of `--plugins DIR`; `None` without the flag (every Task then fails as a
/// missing function). Every file that fails to load is reported.
pub fn load_plugins(plugins: &Option<std::path::PathBuf>) -> Result<Option<Arc<dyn TaskInvoker>>, String> {
    load_plugins_only(plugins, None)
}

/// The same, loading only the handlers in `only` (all without it).
pub fn load_plugins_only(
    plugins: &Option<std::path::PathBuf>,
    only: Option<&std::collections::BTreeSet<String>>,
) -> Result<Option<Arc<dyn TaskInvoker>>, String> {
    let Some(dir) = plugins else { return Ok(None) };
    let engine = WasmEngine::new(WasmEngine::default_cache_dir())
        .map_err(|e| format!("cannot start the WebAssembly engine: {e:#}"))?;
    let host = WasmHost::new(Arc::new(engine));
    host.load_dir_only(dir, only).map_err(|e| {
        format!(
            "--plugins {}: {} file(s) could not be loaded:\n{e}",
            dir.display(),
            e.0.len()
        )
    })?;
    Ok(Some(Arc::new(host)))
}

/// Prints one JSON line per handler: `{"handler", "form", "sha256", "millis"}` or
/// `{"file", "error"}`; exit 2 when any file failed to load.
pub fn plugins(args: PluginsArgs) -> u8 {
    let engine = match WasmEngine::new(WasmEngine::default_cache_dir()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the WebAssembly engine: {e:#}");
            return 1;
        }
    };
    let entries = match std::fs::read_dir(&args.dir) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.dir.display());
            return USAGE;
        }
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    let mut failed = false;
    for f in files {
        let t0 = std::time::Instant::now();
        match wasmstep::wasm::Plugin::load(&engine, &f) {
            Ok(p) => print_line(&serde_json::json!({
                "handler": p.name.as_ref(),
                "form": if p.is_component() { "component" } else { "wasi-command" },
                "sha256": p.digest,
                "millis": t0.elapsed().as_millis() as u64,
            })),
            Err(e) => {
                failed = true;
                print_line(&serde_json::json!({"file": f.display().to_string(), "error": e}));
            }
        }
    }
    if failed { USAGE } else { 0 }
}
