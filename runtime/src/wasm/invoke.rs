//! One handler call: a fresh `Store` from the pre-instantiated handler, a deny-by-default WASI
//! context, time, heartbeat and memory limits, and every way it can go wrong mapped to an ASL
//! error whose cause says exactly what happened.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreContextMut, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::filesystem::FsPerms;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use super::engine::WasmEngine;
use super::plugin::{CallState, CommandState, ComponentState, Form, Limits, Plugin};
use crate::asl::ErrorName;
use crate::engine::error::AslError;

/// A call has this long when neither the Task nor the manifest sets a limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Most output a handler may write to stdout (beyond it the write fails in the guest).
const MAX_STDOUT: usize = 8 << 20;
/// Stderr kept for error causes and logs.
const MAX_STDERR: usize = 64 << 10;

/// What one call needs.
pub struct Request {
    pub input: String,
    pub context: String,
    pub timeout: Option<Duration>,
    pub heartbeat: Option<Duration>,
}

/// Why the epoch callback stopped the guest.
#[derive(Debug)]
enum Deadline {
    Timeout(Duration),
    Heartbeat(Duration),
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deadline::Timeout(d) => write!(f, "time limit of {} s reached", d.as_secs_f64()),
            Deadline::Heartbeat(d) => write!(f, "no heartbeat for {} s", d.as_secs_f64()),
        }
    }
}

impl std::error::Error for Deadline {}

/// Checked every epoch tick while the guest runs.
fn check_deadline(call: &CallState) -> wasmtime::Result<UpdateDeadline> {
    if let Some(t) = call.timeout
        && call.started.elapsed() >= t
    {
        return Err(wasmtime::Error::new(Deadline::Timeout(t)));
    }
    if let Some(h) = call.heartbeat
        && call.last_heartbeat.elapsed() >= h
    {
        return Err(wasmtime::Error::new(Deadline::Heartbeat(h)));
    }
    Ok(UpdateDeadline::Continue(1))
}

fn wasi_builder(
    plugin: &Plugin,
    stdout: &MemoryOutputPipe,
    stderr: &MemoryOutputPipe,
) -> Result<WasiCtxBuilder, AslError> {
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    for (k, v) in &plugin.manifest.env {
        b.env(k, v);
    }
    for (host, guest) in &plugin.manifest.dirs {
        b.preopened_dir(host, guest, FsPerms::ReadOnly).map_err(|e| {
            failed(
                &plugin.name,
                format!("could not open its granted directory {}: {e}", host.display()),
            )
        })?;
    }
    Ok(b)
}

fn failed(handler: &str, what: String) -> AslError {
    AslError::new(ErrorName::TaskFailed, format!("Handler '{handler}' {what}"))
}

fn call_state(plugin: &Plugin, req: &Request) -> CallState {
    let now = Instant::now();
    CallState {
        handler: plugin.name.clone(),
        started: now,
        timeout: Some(
            req.timeout
                .or(plugin.manifest.default_timeout)
                .unwrap_or(DEFAULT_TIMEOUT),
        ),
        heartbeat: req.heartbeat,
        last_heartbeat: now,
        limits: Limits {
            max_memory: plugin.manifest.memory_bytes,
            denied: false,
        },
    }
}

fn tail(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map(|(i, _)| i)
        .unwrap_or(0);
    text[start..].to_string()
}

/// Turns a wasmtime error from instantiating or calling into the ASL error it means.
fn trap_error(handler: &Arc<str>, e: &wasmtime::Error, out_of_memory: bool, stderr: &[u8]) -> AslError {
    if let Some(d) = e.downcast_ref::<Deadline>() {
        let (name, what) = match d {
            Deadline::Timeout(t) => (
                ErrorName::Timeout,
                format!("ran past its time limit of {} s", t.as_secs_f64()),
            ),
            Deadline::Heartbeat(h) => (
                ErrorName::HeartbeatTimeout,
                format!("sent no heartbeat for {} s", h.as_secs_f64()),
            ),
        };
        return AslError::new(name, format!("Handler '{handler}' {what}"));
    }
    let said = tail(stderr, 600);
    let said = if said.is_empty() {
        String::new()
    } else {
        format!("; it wrote to stderr: {said}")
    };
    if out_of_memory {
        return failed(handler, format!("ran out of memory (its limit was reached){said}"));
    }
    let what = match e.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => "overflowed its stack".to_string(),
        Some(Trap::UnreachableCodeReached) if !said.is_empty() => "panicked or aborted".to_string(),
        Some(t) => format!("trapped: {t}"),
        None if e.to_string().contains("concurrent") || e.to_string().contains("pooling") => {
            format!("could not start: too many handler calls at once ({e})")
        }
        None => format!("failed: {e:#}"),
    };
    failed(handler, format!("{what}{said}"))
}

/// A handler may raise any name, but not one of the errors no Retry or Catch can handle.
fn guest_error_name(name: &str) -> ErrorName {
    match ErrorName::from_raised(name) {
        n if n.is_terminal() => ErrorName::Custom(name.to_string()),
        n => n,
    }
}

/// Parses what a handler returned as its result.
fn parse_output(handler: &Arc<str>, text: &[u8]) -> Result<Value, AslError> {
    serde_json::from_slice(text).map_err(|e| {
        let excerpt: String = String::from_utf8_lossy(text).chars().take(200).collect();
        failed(handler, format!("returned output that is not JSON ({e}): {excerpt:?}"))
    })
}

/// Calls a handler synchronously (run it on a blocking thread).
pub fn call(engine: &WasmEngine, plugin: &Plugin, req: Request) -> Result<Value, AslError> {
    let stdout = MemoryOutputPipe::new(MAX_STDOUT);
    let stderr = MemoryOutputPipe::new(MAX_STDERR);
    let mut builder = wasi_builder(plugin, &stdout, &stderr)?;
    let call = call_state(plugin, &req);
    match &plugin.form {
        Form::Component(pre) => {
            let state = ComponentState {
                wasi: builder.build(),
                table: ResourceTable::new(),
                call,
            };
            let mut store = Store::new(&engine.engine, state);
            store.limiter(|s| &mut s.call.limits);
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(|ctx: StoreContextMut<'_, ComponentState>| check_deadline(&ctx.data().call));
            let result = pre
                .instantiate(&mut store)
                .and_then(|h| h.call_handle(&mut store, &req.input, &req.context));
            let oom = store.data().call.limits.denied;
            match result {
                Ok(Ok(text)) => parse_output(&plugin.name, text.as_bytes()),
                Ok(Err(te)) => Err(AslError::new(guest_error_name(&te.error), te.cause)),
                Err(e) => Err(trap_error(&plugin.name, &e, oom, &stderr.contents())),
            }
        }
        Form::Command(pre) => {
            builder.stdin(MemoryInputPipe::new(req.input.into_bytes()));
            builder.env("WASMSTEP_CONTEXT", &req.context);
            let state = CommandState {
                wasi: builder.build_p1(),
                call,
            };
            let mut store = Store::new(&engine.engine, state);
            store.limiter(|s| &mut s.call.limits);
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(|ctx: StoreContextMut<'_, CommandState>| check_deadline(&ctx.data().call));
            let result = pre.instantiate(&mut store).and_then(|i| {
                let start = i.get_typed_func::<(), ()>(&mut store, "_start")?;
                start.call(&mut store, ())
            });
            let oom = store.data().call.limits.denied;
            let code = match &result {
                Ok(()) => 0,
                Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    Some(exit) => exit.0,
                    None => return Err(trap_error(&plugin.name, e, oom, &stderr.contents())),
                },
            };
            let (out, err) = (stdout.contents(), stderr.contents());
            if code == 0 {
                return parse_output(&plugin.name, &out);
            }
            command_error(&plugin.name, code, &out, &err)
        }
    }
}

/// A command that exited non-zero: `{"error", "cause"}` on stdout or stderr names the error.
fn command_error(handler: &Arc<str>, code: i32, out: &[u8], err: &[u8]) -> Result<Value, AslError> {
    for text in [out, err] {
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(text)
            && let Some(Value::String(error)) = m.get("error")
        {
            let cause = match m.get("cause") {
                Some(Value::String(c)) => Some(c.clone()),
                Some(other) => Some(other.to_string()),
                None => None,
            };
            return Err(AslError {
                name: guest_error_name(error),
                cause,
            });
        }
    }
    let said = tail(err, 600);
    Err(failed(
        handler,
        format!(
            "exited with code {code}{}",
            if said.is_empty() {
                String::new()
            } else {
                format!("; it wrote to stderr: {said}")
            }
        ),
    ))
}
