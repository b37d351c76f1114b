//! The daemon's configuration: built-in defaults, then a TOML file (`--config`), then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::auth::AuthFile;
use crate::store::Location;

/// Where the daemon listens and keeps its files.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub plugins: Option<PathBuf>,
    pub definitions: Option<PathBuf>,
    /// The folder of buckets Distributed Maps read from and write to (bucket B: `buckets/B`).
    pub buckets: Option<PathBuf>,
    /// Watch the plugins and definitions directories and reload what changes (default on);
    /// off, only SIGHUP and `wasmstep reload` do (e.g. where file events do not arrive).
    pub watch: bool,
    /// How long finished executions and their history are kept (AWS: 90 days).
    pub retention: Duration,
    /// Access keys, their secrets and policies (`[auth]`), resolved at start-up.
    pub auth: AuthFile,
    /// Names the daemon answers to in `Host` beside its listen address.
    pub hosts: Vec<String>,
    /// The file this came from (secrets and policies are relative to it).
    pub file: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain and key (PEM), when set.
    pub tls: Option<Tls>,
    /// Where the records are: `None`, the SQLite file under `data_dir`.
    pub store: Option<Location>,
    /// This daemon's name among those sharing a store (default: host name and process id).
    pub node_id: String,
    /// How long a lease on an execution lasts unless renewed: how soon other daemons on a
    /// shared store take over the executions of one that died.
    pub lease: Duration,
    /// At a stop, how long handler calls in flight get to finish before the executions are
    /// handed over anyway (those calls are then made again where they resume).
    pub drain_timeout: Duration,
    /// Where execution status events go (`[[notify]]`).
    pub notify: Vec<super::triggers::notify::NotifyTarget>,
}

/// `[tls]`: a PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

/// The config file: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub plugins: Option<PathBuf>,
    pub definitions: Option<PathBuf>,
    pub buckets: Option<PathBuf>,
    pub watch: Option<bool>,
    pub retention: Option<String>,
    pub hosts: Option<Vec<String>>,
    pub auth: Option<AuthFile>,
    pub tls: Option<Tls>,
    pub store: Option<String>,
    pub node_id: Option<String>,
    pub lease: Option<String>,
    pub drain_timeout: Option<String>,
    #[serde(default)]
    pub notify: Vec<super::triggers::notify::NotifyFile>,
}

impl DaemonConfig {
    /// `127.0.0.1:8083`, data under `$XDG_DATA_HOME/wasmstep` (or `~/.local/share/wasmstep`).
    pub fn defaults() -> DaemonConfig {
        let data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("wasmstep");
        DaemonConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8083)),
            data_dir: data,
            plugins: None,
            definitions: None,
            buckets: None,
            watch: true,
            retention: Duration::from_secs(90 * 24 * 3600),
            auth: AuthFile::default(),
            hosts: Vec::new(),
            file: None,
            tls: None,
            store: None,
            node_id: default_node_id(),
            lease: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            notify: Vec::new(),
        }
    }

    /// Applies a config file; relative paths in it are relative to the file.
    pub fn apply_file(mut self, path: &Path) -> Result<DaemonConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let f: FileConfig = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        if let Some(l) = f.listen {
            self.listen = l
                .parse()
                .map_err(|e| format!("{}: listen = {l:?}: {e}", path.display()))?;
        }
        if let Some(d) = f.data_dir {
            self.data_dir = rel(d);
        }
        if let Some(p) = f.plugins {
            self.plugins = Some(rel(p));
        }
        if let Some(d) = f.definitions {
            self.definitions = Some(rel(d));
        }
        if let Some(b) = f.buckets {
            self.buckets = Some(rel(b));
        }
        if let Some(w) = f.watch {
            self.watch = w;
        }
        if let Some(h) = f.hosts {
            self.hosts = h;
        }
        if let Some(a) = f.auth {
            self.auth = a;
        }
        if let Some(t) = f.tls {
            self.tls = Some(Tls {
                certificate: rel(t.certificate),
                private_key: rel(t.private_key),
            });
        }
        self.file = Some(path.to_path_buf());
        if let Some(r) = f.retention {
            self.retention = parse_duration(&r).map_err(|e| format!("{}: retention = {r:?}: {e}", path.display()))?;
        }
        if let Some(s) = f.store {
            self.store = Some(match Location::parse(&s) {
                Location::Sqlite(p) => Location::Sqlite(rel(p)),
                pg => pg,
            });
        }
        if let Some(n) = f.node_id {
            self.node_id = check_node_id(&n).map_err(|e| format!("{}: node_id = {n:?}: {e}", path.display()))?;
        }
        if let Some(l) = f.lease {
            self.lease = parse_lease(&l).map_err(|e| format!("{}: lease = {l:?}: {e}", path.display()))?;
        }
        if let Some(d) = f.drain_timeout {
            self.drain_timeout =
                parse_duration(&d).map_err(|e| format!("{}: drain_timeout = {d:?}: {e}", path.display()))?;
        }
        for (i, n) in f.notify.into_iter().enumerate() {
            let target = n.validate(i + 1).map_err(|e| format!("{}: {e}", path.display()))?;
            if self.notify.iter().any(|t| t.key == target.key) {
                return Err(format!(
                    "{}: [[notify]] #{}: another target has the same name (give each a distinct `name`)",
                    path.display(),
                    i + 1
                ));
            }
            self.notify.push(target);
        }
        Ok(self)
    }

    /// Where the records are kept.
    pub fn store_location(&self) -> Location {
        self.store
            .clone()
            .unwrap_or_else(|| Location::Sqlite(self.data_dir.join("wasmstep.db")))
    }
}

/// The host name and the process id: unique among daemons running at once, and new at every
/// start (a restarted daemon's old leases simply expire, unless `--node-id` names it).
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "wasmstep".into());
    format!("{host}-{}", std::process::id())
}

/// A node id names the daemon in leases, logs and metric labels: short and printable.
pub fn check_node_id(id: &str) -> Result<String, String> {
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err("a node id is 1 to 128 printable ASCII characters, without spaces".into());
    }
    Ok(id.to_string())
}

/// A lease length: at least a second (it is renewed every third of it).
pub fn parse_lease(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_secs(1) {
        return Err("a lease lasts at least 1s".into());
    }
    Ok(d)
}

/// `90d`, `12h`, `30m`, `45s` (or a number of seconds): a length of time an operator writes.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| "expected a whole number followed by d, h, m or s (90d, 12h, 30m, 45s)".to_string())?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit '{other}': use d, h, m or s")),
    };
    n.checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| "too long".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("wasmstep-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("w.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:9000\"\ndata_dir = \"data\"\n").unwrap();
        let c = DaemonConfig::defaults().apply_file(&f).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.data_dir, dir.join("data"));
        assert!(c.watch, "watching is on unless the file or --no-watch says otherwise");
        std::fs::write(&f, "watch = false\n").unwrap();
        assert!(!DaemonConfig::defaults().apply_file(&f).unwrap().watch);
        std::fs::write(&f, "port = 1\n").unwrap();
        assert!(DaemonConfig::defaults().apply_file(&f).unwrap_err().contains("port"));
    }
}
