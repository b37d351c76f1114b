//! The daemon's configuration: built-in defaults, then a TOML file (`--config`), then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the daemon listens and keeps its files.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub plugins: Option<PathBuf>,
    pub definitions: Option<PathBuf>,
    /// Watch the plugins and definitions directories and reload what changes (default on);
    /// off, only SIGHUP and `wasmstep reload` do (e.g. where file events do not arrive).
    pub watch: bool,
}

/// The config file: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub plugins: Option<PathBuf>,
    pub definitions: Option<PathBuf>,
    pub watch: Option<bool>,
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
            watch: true,
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
        if let Some(w) = f.watch {
            self.watch = w;
        }
        Ok(self)
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("wasmstep.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
