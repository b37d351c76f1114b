//! The `serve` command: resolves the configuration, opens the store, loads handlers and
//! definitions, resumes what was running, and serves the API until SIGINT/SIGTERM.

use std::path::Path;
use std::sync::Arc;

use wasmstep::asl::MachineType;
use wasmstep::config::DaemonConfig;
use wasmstep::metrics::Metrics;
use wasmstep::service::{Service, machine_arn};
use wasmstep::store::sqlite::SqliteStore;

use crate::cli::ServeArgs;
use crate::commands::{USAGE, load_plugins};

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
    Ok(c)
}

/// Every `*.asl.json` / `*.asl.yaml` / `*.asl.yml` below `dir`.
fn definition_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            definition_files(&p, out)?;
        } else if let Some(n) = p.file_name().and_then(|n| n.to_str())
            && [".asl.json", ".asl.yaml", ".asl.yml"].iter().any(|x| n.ends_with(x))
        {
            out.push(p);
        }
    }
    Ok(())
}

async fn load_definitions(svc: &Service, dir: &Path) -> Result<usize, String> {
    let mut files = Vec::new();
    definition_files(dir, &mut files)
        .map_err(|e| format!("cannot read the definitions directory {}: {e}", dir.display()))?;
    files.sort();
    for f in &files {
        let name = wasmstep::run::machine_name(f);
        let text = std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let arn = machine_arn(&name);
        let result = match svc.machine(&arn) {
            Ok(m) if m.definition == text => Ok(()),
            Ok(_) => svc.update_machine(&arn, Some(&text), None).await.map(|_| ()),
            Err(_) => svc
                .create_machine(
                    &name,
                    &text,
                    "arn:aws:iam::123456789012:role/wasmstep",
                    MachineType::Standard,
                )
                .await
                .map(|_| ()),
        };
        result.map_err(|e| format!("{}: {}", f.display(), e.message))?;
    }
    Ok(files.len())
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
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            USAGE
        }
    }
}

async fn run(cfg: DaemonConfig) -> Result<(), String> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", cfg.data_dir.display()))?;
    let store = Arc::new(SqliteStore::open(&cfg.database()).map_err(|e| e.to_string())?);
    let invoker = load_plugins(&cfg.plugins)?.unwrap_or_else(|| Arc::new(wasmstep::engine::task::NoHandlers));
    let svc = Service::open(store, invoker, Arc::new(Metrics::new()))?;
    let definitions = match &cfg.definitions {
        Some(d) => load_definitions(&svc, d).await?,
        None => 0,
    };
    let resumed = svc.resume_all()?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    tracing::info!(
        listen = %addr, store = %cfg.database().display(), definitions, resumed,
        "wasmstep serving the Step Functions API"
    );
    axum::serve(listener, wasmstep::api::router(svc.clone()))
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        })
        .await
        .map_err(|e| format!("the server stopped: {e}"))?;
    // Running executions are recorded up to their last step and resume at the next start; make
    // sure the last group commit is on disk before exiting.
    use wasmstep::store::ExecutionStore;
    svc.store.flush().await.map_err(|e| format!("the store: {e}"))?;
    tracing::info!("wasmstep stopped; running executions resume at the next start");
    Ok(())
}
