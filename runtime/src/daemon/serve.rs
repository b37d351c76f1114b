//! Serving: opens the store, loads handlers and definitions (then keeps them current: hot
//! reload, SIGHUP), resumes what was running, and serves the API until SIGINT/SIGTERM. Takes a
//! resolved `DaemonConfig`; the command line that makes one is `cli/serve.rs`.

use std::sync::Arc;

use super::api::gate::{Gate, Hosts};
use super::auth::Auth;
use super::cluster::Cluster;
use super::config::DaemonConfig;
use super::listen::ConnectionLimits;
use super::metrics::Metrics;
use super::reload::Reloader;
use super::service::Service;
use crate::engine::task::{NoHandlers, TaskInvoker};
use crate::store::Node;
use crate::wasm::{WasmEngine, WasmHost};

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

/// Runs the daemon until SIGINT/SIGTERM; an operator error (port taken, missing directory,
/// unusable store) is the message to print.
pub async fn run(cfg: DaemonConfig) -> Result<(), String> {
    let tls = cfg
        .tls
        .as_ref()
        .map(|t| super::listen::tls_acceptor(&t.certificate, &t.private_key))
        .transpose()?;
    // Who may call: an operator error here stops the daemon before it touches anything.
    let gate = Arc::new(Gate {
        auth: Auth::load(&cfg.auth, cfg.file.as_deref(), cfg.listen)?,
        hosts: Hosts::new(cfg.listen, &cfg.hosts),
    });
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", cfg.data_dir.display()))?;
    let location = cfg.store_location();
    let store = crate::store::open(
        &location,
        &Node {
            id: cfg.node_id.clone(),
            lease: cfg.lease,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let host = wasm_host(&cfg)?;
    let invoker: Arc<dyn TaskInvoker> = match &host {
        Some(h) => h.clone(),
        None => Arc::new(NoHandlers),
    };
    let svc = Service::open(store, invoker, Arc::new(Metrics::for_node(&cfg.node_id))).await?;
    // Executions get threads of their own (as many as the request side has): a state that
    // computes for long never holds up the API.
    let engine = EngineRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("wasmstep-engine")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the executions' runtime: {e}"))?,
    ));
    if let Some(rt) = &engine.0 {
        svc.run_executions_on(rt.handle().clone());
    }
    if let Some(dir) = &cfg.buckets {
        svc.use_buckets(Arc::new(crate::store::folders::FolderBuckets::new(dir)?));
    }
    // Missing directories are operator errors; a broken file in them is not: it is logged and
    // counted, and everything else serves (the reloader's rule, at start-up as later).
    let reloader = Reloader::new(
        svc.clone(),
        host.clone(),
        cfg.plugins.as_deref(),
        cfg.definitions.as_deref(),
        true,
    )?;
    // Handler releases an earlier wasmstep archived as files go into the store.
    if host.is_some() {
        let legacy = cfg.data_dir.join("modules");
        let moved = super::releases::Releases::new(svc.store.clone())
            .import_files(&legacy)
            .await?;
        if moved > 0 {
            tracing::info!(modules = moved, from = %legacy.display(), "moved archived handler releases into the store");
        }
    }
    // Watch before the first scan, so nothing changed in between is missed.
    let _watch = if cfg.watch { Some(reloader.watch()?) } else { None };
    let first = reloader.rescan().await;
    // Running executions resume on the handler releases they started with: those this node
    // ran before a restart, and (on a shared store) those no live node holds.
    let cluster = Cluster::new(svc.clone(), reloader.clone());
    let (resumed, restored) = cluster.claim(true).await?;
    reloader.forget_unused(true).await;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    tracing::info!(
        listen = %addr, store = %location, node = %cfg.node_id,
        handlers = host.as_ref().map_or(0, |h| h.names().len()),
        definitions = svc.list_machines().len(), rejected = first.rejected.len(), watch = cfg.watch, resumed, restored_handler_sets = restored,
        auth = if gate.auth.required { "required" } else { "off" },
        tls = tls.is_some(),
        "wasmstep serving the Step Functions API"
    );
    let hup = tokio::spawn(rescan_on_sighup(reloader.clone()));
    let leases = cluster.spawn(cfg.lease / 3);
    let sweeper = super::retention::Retention::new(svc.clone(), cfg.retention).spawn();
    let scheduler = tokio::spawn(svc.clone().run_schedules());
    // Map Runs' counts reach the store every second while they run.
    let map_runs = {
        let svc = svc.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                svc.map_runs.persist();
            }
        })
    };
    let notifiers: Vec<_> = cfg
        .notify
        .iter()
        .map(|t| tokio::spawn(svc.clone().deliver_events(t.clone())))
        .collect();
    let app = super::api::router_with(svc.clone(), gate.clone()).merge(super::api::admin::router(reloader, gate));
    let draining = svc.clone();
    super::listen::serve(listener, app, tls, ConnectionLimits::default(), async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        draining.drain();
    })
    .await
    .map_err(|e| format!("the server stopped: {e}"))?;
    hup.abort();
    sweeper.abort();
    scheduler.abort();
    map_runs.abort();
    for n in notifiers {
        n.abort();
    }
    leases.abort();
    // Handler calls in flight finish and are recorded; every execution stops at its next
    // barrier and is released for another node (or the next start) to resume, no call repeated.
    let handed_over = cluster.hand_over(cfg.drain_timeout).await;
    // Make sure the last group commit is on disk before exiting. A store that cannot write (a
    // full disk) would make that wait forever: what it holds was never acknowledged, and the
    // executions resume from what was.
    match tokio::time::timeout(FINAL_FLUSH, svc.store.flush()).await {
        Ok(r) => r.map_err(|e| format!("the store: {e}"))?,
        Err(_) => tracing::warn!(
            "the store still cannot write after {FINAL_FLUSH:?}; stopping without the last writes (executions resume from what is recorded)"
        ),
    }
    // Executions (each stopped at a barrier now) go with `engine`.
    drop(engine);
    tracing::info!(
        handed_over,
        "wasmstep stopped; its executions resume on another node or at the next start"
    );
    Ok(())
}

/// The executions' runtime, shut down without waiting when the daemon stops (a runtime may
/// not be dropped, only shut down, inside the async context `run` is in, on every path out).
struct EngineRuntime(Option<tokio::runtime::Runtime>);

impl Drop for EngineRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// How long stopping waits for the last writes to reach the store.
const FINAL_FLUSH: std::time::Duration = std::time::Duration::from_secs(10);

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
