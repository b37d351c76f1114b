//! The `serve` command: resolves the configuration, opens the store, loads handlers and
//! definitions (then keeps them current: hot reload, SIGHUP), resumes what was running, and
//! serves the API until SIGINT/SIGTERM. Also `reload`, its client.

use std::sync::Arc;

use wasmstep::config::DaemonConfig;
use wasmstep::engine::task::{NoHandlers, TaskInvoker};
use wasmstep::metrics::Metrics;
use wasmstep::reload::Reloader;
use wasmstep::service::Service;
use wasmstep::store::sqlite::SqliteStore;
use wasmstep::wasm::{WasmEngine, WasmHost};

use crate::cli::{ReloadArgs, ServeArgs};
use crate::commands::{USAGE, async_runtime};

fn config(args: &ServeArgs) -> Result<DaemonConfig, String> {
    let mut c = DaemonConfig::defaults();
    if let Some(f) = &args.config {
        c = c.apply_file(f)?;
    }
    if let Some(l) = args.listen {
        c.listen = l;
    }
    if let Some(d) = &args.data_dir {
        c.data_dir = d.clone();
    }
    if args.plugins.is_some() {
        c.plugins = args.plugins.clone();
    }
    if args.definitions.is_some() {
        c.definitions = args.definitions.clone();
    }
    if args.no_watch {
        c.watch = false;
    }
    Ok(c)
}

pub fn serve(args: ServeArgs) -> u8 {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let rt = match async_runtime(true) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(run(cfg)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            USAGE
        }
    }
}

/// The daemon's handlers: a Wasm host when there is a plugins directory (filled by the first
/// scan, then kept current by hot reload).
fn wasm_host(cfg: &DaemonConfig) -> Result<Option<Arc<WasmHost>>, String> {
    if cfg.plugins.is_none() {
        return Ok(None);
    }
    let engine = WasmEngine::new(WasmEngine::default_cache_dir())
        .map_err(|e| format!("cannot start the WebAssembly engine: {e:#}"))?;
    Ok(Some(Arc::new(WasmHost::new(Arc::new(engine)))))
}

async fn run(cfg: DaemonConfig) -> Result<(), String> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", cfg.data_dir.display()))?;
    let store = Arc::new(SqliteStore::open(&cfg.database()).map_err(|e| e.to_string())?);
    let host = wasm_host(&cfg)?;
    let invoker: Arc<dyn TaskInvoker> = match &host {
        Some(h) => h.clone(),
        None => Arc::new(NoHandlers),
    };
    let svc = Service::open(store, invoker, Arc::new(Metrics::new()))?;
    // Missing directories are operator errors; a broken file in them is not: it is logged and
    // counted, and everything else serves (the reloader's rule, at start-up as later).
    let reloader = Reloader::new(
        svc.clone(),
        host.clone(),
        cfg.plugins.as_deref(),
        cfg.definitions.as_deref(),
        Some(cfg.data_dir.join("modules")),
    )?;
    // Watch before the first scan, so nothing changed in between is missed.
    let _watch = if cfg.watch { Some(reloader.watch()?) } else { None };
    let first = reloader.rescan().await;
    // Running executions resume on the handler releases they started with.
    let restored = reloader.restore().await;
    let resumed = svc.resume_all()?;
    reloader.forget_unused().await;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    tracing::info!(
        listen = %addr, store = %cfg.database().display(),
        handlers = host.as_ref().map_or(0, |h| h.names().len()),
        definitions = svc.list_machines().len(), rejected = first.rejected.len(), watch = cfg.watch, resumed, restored_handler_sets = restored,
        "wasmstep serving the Step Functions API"
    );
    let hup = tokio::spawn(rescan_on_sighup(reloader.clone()));
    let app = wasmstep::api::router(svc.clone()).merge(wasmstep::api::admin::router(reloader));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        })
        .await
        .map_err(|e| format!("the server stopped: {e}"))?;
    hup.abort();
    // Running executions are recorded up to their last step and resume at the next start; make
    // sure the last group commit is on disk before exiting.
    use wasmstep::store::ExecutionStore;
    svc.store.flush().await.map_err(|e| format!("the store: {e}"))?;
    tracing::info!("wasmstep stopped; running executions resume at the next start");
    Ok(())
}

/// SIGHUP: look at every file again (for changes a watcher cannot see, e.g. on a network
/// file system, or after the directory was replaced).
async fn rescan_on_sighup(reloader: Arc<Reloader>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let r = reloader.rescan().await;
        tracing::info!(
            loaded = r.loaded.len(),
            rejected = r.rejected.len(),
            removed = r.removed.len(),
            unchanged = r.unchanged,
            "SIGHUP: rescanned"
        );
    }
}

/// `wasmstep reload`: asks a running daemon to rescan (POST /-/reload) and prints its report.
/// Exit 0 when everything loaded, 1 when a file was rejected, 2 when the daemon cannot be asked.
pub fn reload(args: ReloadArgs) -> u8 {
    let url = format!("{}/-/reload", args.endpoint.trim_end_matches('/'));
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(600)))
        .build()
        .new_agent();
    let mut resp = match agent.post(&url).send_empty() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot reach the daemon at {url}: {e}");
            return USAGE;
        }
    };
    let status = resp.status();
    let body: serde_json::Value = match resp.body_mut().read_json() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {url} answered {status} without a JSON report: {e}");
            return USAGE;
        }
    };
    println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
    if status != 200 {
        eprintln!("error: {url} answered {status}");
        return USAGE;
    }
    match body["rejected"].as_array() {
        Some(r) if r.is_empty() => 0,
        _ => 1,
    }
}
