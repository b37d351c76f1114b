//! One handler: its module compiled (or read from the cache), linked against WASI and the
//! wasmstep host interface, and pre-instantiated once, so each call only instantiates.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker as ComponentLinker, ResourceTable};
use wasmtime::{InstancePre, Linker, Module, ResourceLimiter};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::engine::{WasmEngine, write_atomic};
use super::manifest::Manifest;

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "handler",
});

pub use wasmstep::handler::host::Level;

/// Per-call bookkeeping shared by both handler forms.
pub struct CallState {
    pub handler: Arc<str>,
    pub started: Instant,
    pub timeout: Option<Duration>,
    pub heartbeat: Option<Duration>,
    pub last_heartbeat: Instant,
    pub limits: Limits,
}

/// Memory limit that remembers whether it said no, so a trap that follows can be reported
/// as running out of memory.
pub struct Limits {
    pub max_memory: usize,
    pub denied: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Store data for a component call.
pub struct ComponentState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub call: CallState,
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmstep::handler::host::Host for ComponentState {
    fn heartbeat(&mut self) {
        self.call.last_heartbeat = Instant::now();
    }

    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        // Bounded, single-line: a chatty or hostile guest cannot flood or forge log lines.
        let message: String = message
            .chars()
            .take(4096)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        eprintln!("[{level}] handler {}: {message}", self.call.handler);
    }
}

/// Store data for a WASI preview1 command call.
pub struct CommandState {
    pub wasi: WasiP1Ctx,
    pub call: CallState,
}

/// Which form a handler is.
pub enum Form {
    Component(HandlerPre<ComponentState>),
    Command(InstancePre<CommandState>),
}

/// A loaded handler.
pub struct Plugin {
    pub name: Arc<str>,
    pub form: Form,
    pub manifest: Manifest,
    /// SHA-256 of the module bytes, to tell versions apart.
    pub digest: String,
}

/// Lower-case hex SHA-256: how module releases are named (versions, the archive, the cache).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Component binaries have layer 1 in the header; core modules have version 1, layer 0.
fn is_component(bytes: &[u8]) -> Option<bool> {
    match bytes.get(0..8)? {
        [0, b'a', b's', b'm', _, _, 1, 0] => Some(true),
        [0, b'a', b's', b'm', 1, 0, 0, 0] => Some(false),
        _ => None,
    }
}

impl Plugin {
    /// Loads `NAME.wasm` (and `NAME.toml` beside it). Errors say what is wrong with the file.
    pub fn load(engine: &WasmEngine, wasm: &Path) -> Result<Plugin, String> {
        let name = wasm
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let bytes = std::fs::read(wasm).map_err(|e| format!("cannot read {}: {e}", wasm.display()))?;
        let manifest = Manifest::load(&wasm.with_extension("toml"))
            .map_err(|e| format!("{}: {e}", wasm.with_extension("toml").display()))?;
        Plugin::from_bytes(engine, &name, &bytes, manifest).map_err(|e| format!("{}: {e}", wasm.display()))
    }

    /// A handler from a module's bytes (a file just read, or a release kept for executions
    /// that started with it).
    pub fn from_bytes(engine: &WasmEngine, name: &str, bytes: &[u8], manifest: Manifest) -> Result<Plugin, String> {
        let form = match is_component(bytes) {
            Some(true) => Form::Component(link_component(engine, bytes)?),
            Some(false) => Form::Command(link_command(engine, bytes)?),
            None => {
                return Err(format!(
                    "not a WebAssembly module or component (no valid header; {} bytes)",
                    bytes.len()
                ));
            }
        };
        Ok(Plugin {
            name: name.into(),
            form,
            manifest,
            digest: sha256_hex(bytes),
        })
    }

    pub fn is_component(&self) -> bool {
        matches!(self.form, Form::Component(_))
    }
}

fn compile_component(engine: &WasmEngine, bytes: &[u8]) -> Result<Component, String> {
    if let Some(path) = engine.cache_path(bytes, "component") {
        if path.exists() {
            // SAFETY: the file is one this process (or an earlier one) wrote with
            // `Component::serialize` into our own cache directory, under a name that includes
            // the source's SHA-256 and this engine's compatibility hash; wasmtime also checks
            // the artifact's version and configuration header and returns an error (not UB) on
            // a mismatch. A file we cannot read back is recompiled below.
            if let Ok(c) = unsafe { Component::deserialize_file(&engine.engine, &path) } {
                return Ok(c);
            }
        }
        let c = Component::new(&engine.engine, bytes).map_err(|e| format!("invalid component: {e:#}"))?;
        if let Ok(data) = c.serialize() {
            let _ = write_atomic(&path, &data);
        }
        return Ok(c);
    }
    Component::new(&engine.engine, bytes).map_err(|e| format!("invalid component: {e:#}"))
}

fn compile_module(engine: &WasmEngine, bytes: &[u8]) -> Result<Module, String> {
    if let Some(path) = engine.cache_path(bytes, "module") {
        if path.exists() {
            // SAFETY: as for components above: our own cache, keyed by content and engine
            // compatibility, and header-checked by wasmtime.
            if let Ok(m) = unsafe { Module::deserialize_file(&engine.engine, &path) } {
                return Ok(m);
            }
        }
        let m = Module::new(&engine.engine, bytes).map_err(|e| format!("invalid module: {e:#}"))?;
        if let Ok(data) = m.serialize() {
            let _ = write_atomic(&path, &data);
        }
        return Ok(m);
    }
    Module::new(&engine.engine, bytes).map_err(|e| format!("invalid module: {e:#}"))
}

fn link_component(engine: &WasmEngine, bytes: &[u8]) -> Result<HandlerPre<ComponentState>, String> {
    let component = compile_component(engine, bytes)?;
    let mut linker: ComponentLinker<ComponentState> = ComponentLinker::new(&engine.engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| format!("linking WASI: {e:#}"))?;
    Handler::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
        .map_err(|e| format!("linking the host interface: {e:#}"))?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(|e| format!("the component imports something wasmstep does not provide: {e:#}"))?;
    HandlerPre::new(pre).map_err(|e| {
        format!("the component does not implement the wasmstep:handler world (an export `handle: func(input: string, context: string) -> result<string, task-error>`): {e:#}")
    })
}

fn link_command(engine: &WasmEngine, bytes: &[u8]) -> Result<InstancePre<CommandState>, String> {
    let module = compile_module(engine, bytes)?;
    if module.get_export("_start").is_none() {
        return Err("the module is not a WASI command (it has no `_start` export); build it as a command, or as a component implementing wasmstep:handler".into());
    }
    let mut linker: Linker<CommandState> = Linker::new(&engine.engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| &mut s.wasi).map_err(|e| format!("linking WASI: {e:#}"))?;
    linker
        .instantiate_pre(&module)
        .map_err(|e| format!("the module imports something wasmstep does not provide: {e:#}"))
}
