//! `wasmstep serve`: resolves flags and the config file into a `DaemonConfig` (flags win over
//! the file), sets up logging and the async runtime, and runs the daemon.

use wasmstep::daemon::config::{self, DaemonConfig};

use super::args::ServeArgs;
use super::{USAGE, async_runtime};

/// The daemon's configuration: defaults, then the `--config` file, then the flags.
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
    if args.buckets.is_some() {
        c.buckets = args.buckets.clone();
    }
    if args.no_watch {
        c.watch = false;
    }
    if let (Some(certificate), Some(private_key)) = (&args.tls_cert, &args.tls_key) {
        c.tls = Some(config::Tls {
            certificate: certificate.clone(),
            private_key: private_key.clone(),
        });
    }
    if let Some(r) = &args.retention {
        c.retention = config::parse_duration(r).map_err(|e| format!("--retention {r}: {e}"))?;
    }
    if let Some(s) = &args.store {
        c.store = Some(wasmstep::store::Location::parse(s));
    }
    if let Some(n) = &args.node_id {
        c.node_id = config::check_node_id(n).map_err(|e| format!("--node-id {n}: {e}"))?;
    }
    if let Some(l) = &args.lease {
        c.lease = config::parse_lease(l).map_err(|e| format!("--lease {l}: {e}"))?;
    }
    if let Some(d) = &args.drain_timeout {
        c.drain_timeout = config::parse_duration(d).map_err(|e| format!("--drain-timeout {d}: {e}"))?;
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
    match rt.block_on(wasmstep::daemon::serve::run(cfg)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            USAGE
        }
    }
}
