//! `NAME.toml` beside a handler: what the sandbox grants it. Anything not listed is denied;
//! an unknown key is an error, so a typo never silently grants or drops a permission.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Largest memory a manifest may grant (the pooling allocator's slot size).
pub const MAX_MEMORY_MB: u64 = 1024;
/// Memory a handler gets when its manifest says nothing.
pub const DEFAULT_MEMORY_MB: u64 = 256;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    /// Environment variables the guest sees.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Host directories preopened read-only: guest path -> host path (relative to the manifest).
    #[serde(default)]
    dirs: BTreeMap<String, PathBuf>,
    memory_mb: Option<u64>,
    /// Time limit for a call when the Task gives no TimeoutSeconds.
    timeout_seconds: Option<u64>,
}

/// What a handler is granted.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub env: Vec<(String, String)>,
    /// (host directory, guest path), read-only.
    pub dirs: Vec<(PathBuf, String)>,
    pub memory_bytes: usize,
    pub default_timeout: Option<Duration>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            env: Vec::new(),
            dirs: Vec::new(),
            memory_bytes: (DEFAULT_MEMORY_MB << 20) as usize,
            default_timeout: None,
        }
    }
}

impl Manifest {
    /// Parses manifest text; `base` resolves relative directories.
    pub fn parse(text: &str, base: &Path) -> Result<Manifest, String> {
        // One line ("line N: what"), not toml's multi-line excerpt: it goes into log lines.
        let raw: Raw = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => format!(
                "line {}: {}",
                text[..span.start.min(text.len())].matches('\n').count() + 1,
                e.message()
            ),
            None => e.message().to_string(),
        })?;
        let memory_mb = raw.memory_mb.unwrap_or(DEFAULT_MEMORY_MB);
        if memory_mb == 0 || memory_mb > MAX_MEMORY_MB {
            return Err(format!("memory_mb must be from 1 to {MAX_MEMORY_MB}, not {memory_mb}"));
        }
        if raw.timeout_seconds == Some(0) {
            return Err("timeout_seconds must be at least 1".into());
        }
        let mut dirs = Vec::new();
        for (guest, host) in raw.dirs {
            let host = if host.is_absolute() { host } else { base.join(host) };
            if !host.is_dir() {
                return Err(format!("dirs.\"{guest}\": {} is not a directory", host.display()));
            }
            dirs.push((host, guest));
        }
        Ok(Manifest {
            env: raw.env.into_iter().collect(),
            dirs,
            memory_bytes: (memory_mb << 20) as usize,
            default_timeout: raw.timeout_seconds.map(Duration::from_secs),
        })
    }

    /// Reads `path`; a missing file means the defaults (deny everything).
    pub fn load(path: &Path) -> Result<Manifest, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Manifest::parse(&text, path.parent().unwrap_or(Path::new("."))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_and_rejections() {
        let m = Manifest::parse(
            "env = { A = \"1\" }\nmemory_mb = 64\ntimeout_seconds = 3\n",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(m.env, vec![("A".to_string(), "1".to_string())]);
        assert_eq!(m.memory_bytes, 64 << 20);
        assert_eq!(m.default_timeout, Some(Duration::from_secs(3)));
        assert!(
            Manifest::parse("network = true\n", Path::new("."))
                .unwrap_err()
                .contains("network")
        );
        assert!(Manifest::parse("memory_mb = 999999\n", Path::new(".")).is_err());
        assert!(Manifest::parse("dirs = { \"/data\" = \"/no/such/dir\" }\n", Path::new(".")).is_err());
        assert_eq!(Manifest::load(Path::new("/no/such.toml")).unwrap(), Manifest::default());
    }
}
