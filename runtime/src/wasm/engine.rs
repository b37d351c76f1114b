//! The one wasmtime `Engine`: pooling allocator, epoch interruption driven by a ticker thread,
//! and an on-disk cache of compiled modules so a restart does not recompile.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::manifest::MAX_MEMORY_MB;

/// How often the epoch advances; time limits are checked at this granularity.
pub const TICK: Duration = Duration::from_millis(10);

/// The engine and where compiled modules are cached.
pub struct WasmEngine {
    pub engine: Engine,
    cache_dir: Option<PathBuf>,
    /// Dropping the host stops the ticker.
    _ticker: Arc<Ticker>,
}

struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl WasmEngine {
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<WasmEngine> {
        let mut cfg = Config::new();
        cfg.wasm_component_model(true);
        cfg.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(128)
            .total_core_instances(1024)
            .total_memories(512)
            .total_tables(1024)
            .max_memory_size((MAX_MEMORY_MB << 20) as usize)
            .max_core_instances_per_component(64)
            .max_memories_per_component(32)
            .max_tables_per_component(32)
            .table_elements(100_000)
            // Keep the first 64 KiB of each freed memory mapped (zeroed, not unmapped): the next
            // call does not fault it in again. Much more costs more in zeroing than it saves
            // (measured: 1 MiB made a call ~10 µs slower).
            .linear_memory_keep_resident(64 << 10);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg)?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (e, s) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("wasmstep-epoch".into())
            .spawn(move || {
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    e.increment_epoch();
                }
            })?;
        if let Some(d) = &cache_dir {
            std::fs::create_dir_all(d)
                .map_err(|e| anyhow::anyhow!("cannot create the module cache {}: {e}", d.display()))?;
        }
        Ok(WasmEngine {
            engine,
            cache_dir,
            _ticker: Arc::new(Ticker { stop }),
        })
    }

    /// `$XDG_CACHE_HOME/wasmstep/modules` or `~/.cache/wasmstep/modules`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("wasmstep").join("modules"))
    }

    /// The cache file for `bytes`: keyed by their SHA-256 and the engine's compatibility hash,
    /// so a different wasmtime version or configuration never reads an old artifact.
    pub fn cache_path(&self, bytes: &[u8], kind: &str) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let digest = Sha256::digest(bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{hex}-{:016x}.{kind}.cwasm", h.finish())))
    }
}

/// Writes `data` to `path` atomically (write a temporary file, then rename).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}
