//! The `run` and `validate` commands.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use wasmstep::asl::MachineType;
use wasmstep::asl::{self, LoadError};
use wasmstep::engine::oneshot::{self, RunOptions};
use wasmstep::engine::task::TaskInvoker;
use wasmstep::engine::{EngineConfig, Status};
use wasmstep::wasm::{WasmEngine, WasmHost};

use crate::cli::{FormatArg, InputArgs, JsonataArgs, PluginsArgs, RunArgs, TypeArg, ValidateArgs};

/// Exit code for a usage error or an invalid definition.
pub const USAGE: u8 = 2;

pub fn machine_type(t: TypeArg) -> MachineType {
    match t {
        TypeArg::Standard => MachineType::Standard,
        TypeArg::Express => MachineType::Express,
    }
}

/// Reads the execution input from `--input` or `--input-file`; `{}` when neither is given.
pub fn read_input(args: &InputArgs) -> Result<Value, String> {
    let (text, origin) = match (&args.input, &args.input_file) {
        (Some(t), _) => (t.clone(), "--input".to_string()),
        (None, Some(f)) => (
            std::fs::read_to_string(f).map_err(|e| format!("cannot read input file {}: {e}", f.display()))?,
            f.display().to_string(),
        ),
        (None, None) => return Ok(Value::Object(Default::default())),
    };
    serde_json::from_str(&text).map_err(|e| format!("the execution input ({origin}) is not valid JSON: {e}"))
}

/// Prints why a definition did not load, one diagnostic per line, prefixed by the file.
pub fn report_load_error(file: &Path, e: &LoadError) {
    match e {
        LoadError::Io(m) => eprintln!("error: {m}"),
        LoadError::Invalid(d) => {
            for diag in &d.diagnostics {
                eprintln!("{}:{diag}", file.display());
            }
            eprintln!(
                "error: {} is not a valid state machine ({} problem(s))",
                file.display(),
                d.diagnostics.len()
            );
        }
    }
}

/// A command's async runtime (a thread per core, or just this one); when there is none, the
/// error is printed and the exit code returned.
pub fn async_runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, u8> {
    let mut b = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        1
    })
}

/// Loads the handlers of `--plugins DIR`; `None` without the flag (every Task then fails as a
/// missing function). Every file that fails to load is reported.
pub fn load_plugins(plugins: &Option<std::path::PathBuf>) -> Result<Option<Arc<dyn TaskInvoker>>, String> {
    let Some(dir) = plugins else { return Ok(None) };
    let engine = WasmEngine::new(WasmEngine::default_cache_dir())
        .map_err(|e| format!("cannot start the WebAssembly engine: {e:#}"))?;
    let host = WasmHost::new(Arc::new(engine));
    host.load_dir(dir).map_err(|e| {
        format!(
            "--plugins {}: {} file(s) could not be loaded:\n{e}",
            dir.display(),
            e.0.len()
        )
    })?;
    Ok(Some(Arc::new(host)))
}

pub fn run(args: RunArgs) -> u8 {
    let invoker = match load_plugins(&args.plugins) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let input = match read_input(&args.input) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let mt = machine_type(args.machine_type);
    let machine = match asl::load_file(&args.file, mt) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            report_load_error(&args.file, &e);
            return USAGE;
        }
    };
    let opts = RunOptions {
        skip_waits: args.skip_waits,
        machine_type: mt,
        engine: EngineConfig {
            payload_limit: args.payload_limit,
            keep_history: args.history,
        },
    };
    let rt = match async_runtime(false) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let name = asl::machine_name(&args.file);
    let exec = oneshot::executor(machine, invoker, &opts);
    let result = rt.block_on(oneshot::run_once(&exec, &name, input, mt));
    print_line(&oneshot::result_json(&result, args.history));
    if result.status == Status::Succeeded { 0 } else { 1 }
}

/// Prints one line to stdout; a closed pipe is not worth a panic.
pub fn print_line(v: &impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
}

pub fn validate(args: ValidateArgs) -> u8 {
    let mt = machine_type(args.machine_type);
    let mut all = Vec::new();
    let mut failed = false;
    for file in &args.files {
        match asl::load_file(file, mt) {
            Ok(_) => {
                if args.format == FormatArg::Text {
                    println!("{}: OK", file.display());
                }
                all.push(serde_json::json!({"file": file.display().to_string(), "result": "OK", "diagnostics": []}));
            }
            Err(e) => {
                failed = true;
                let diagnostics: Vec<Value> = match &e {
                    LoadError::Io(m) => {
                        vec![serde_json::json!({"severity": "ERROR", "code": "IO_ERROR", "message": m, "location": ""})]
                    }
                    LoadError::Invalid(d) => d.diagnostics.iter().map(|x| x.to_json(None)).collect(),
                };
                if args.format == FormatArg::Text {
                    report_load_error(file, &e);
                }
                all.push(serde_json::json!({"file": file.display().to_string(), "result": "FAIL", "diagnostics": diagnostics}));
            }
        }
    }
    if args.format == FormatArg::Json {
        print_line(&serde_json::json!({"result": if failed { "FAIL" } else { "OK" }, "files": all}));
    }
    if failed { USAGE } else { 0 }
}

fn read_json_file(path: &Path, what: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{what} {} is not valid JSON: {e}", path.display()))
}

/// Prints `{"result": …}`, `{"undefined": true}`, `{"function": true}` or
/// `{"error": {"code", "message"}}` (exit 1).
pub fn jsonata(args: JsonataArgs) -> u8 {
    use wasmstep::jsonata::{Evaluated, Expr, Limits, to_jvalue};
    let data = match args
        .data_file
        .as_deref()
        .map(|p| read_json_file(p, "data file"))
        .transpose()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let bindings = match args
        .bindings_file
        .as_deref()
        .map(|p| read_json_file(p, "bindings file"))
        .transpose()
    {
        Ok(None) => serde_json::Map::new(),
        Ok(Some(Value::Object(m))) => m,
        Ok(Some(_)) => {
            eprintln!("error: the bindings file must hold a JSON object of names to values");
            return USAGE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let limits = Limits {
        timeout_ms: args.timeout_ms,
        ..Limits::default()
    };
    let outcome = Expr::parse(&args.expr)
        .and_then(|e| e.evaluate(data.as_ref(), &mut |n| bindings.get(n).map(to_jvalue), limits));
    let (line, code) = match outcome {
        Ok(Some(Evaluated::Json(v))) => (serde_json::json!({ "result": v }), 0),
        Ok(Some(Evaluated::Function)) => (serde_json::json!({ "function": true }), 0),
        Ok(None) => (serde_json::json!({ "undefined": true }), 0),
        Err(e) => {
            let mut err = serde_json::json!({"code": e.code, "message": e.message});
            if let Some(p) = e.position {
                err["position"] = p.into();
            }
            (serde_json::json!({ "error": err }), 1)
        }
    };
    print_line(&line);
    code
}

/// Prints one JSON line per handler: `{"handler", "form", "sha256", "millis"}` or
/// `{"file", "error"}`; exit 2 when any file failed to load.
pub fn plugins(args: PluginsArgs) -> u8 {
    let engine = match WasmEngine::new(WasmEngine::default_cache_dir()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the WebAssembly engine: {e:#}");
            return 1;
        }
    };
    let entries = match std::fs::read_dir(&args.dir) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.dir.display());
            return USAGE;
        }
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    let mut failed = false;
    for f in files {
        let t0 = std::time::Instant::now();
        match wasmstep::wasm::Plugin::load(&engine, &f) {
            Ok(p) => print_line(&serde_json::json!({
                "handler": p.name.as_ref(),
                "form": if p.is_component() { "component" } else { "wasi-command" },
                "sha256": p.digest,
                "millis": t0.elapsed().as_millis() as u64,
            })),
            Err(e) => {
                failed = true;
                print_line(&serde_json::json!({"file": f.display().to_string(), "error": e}));
            }
        }
    }
    if failed { USAGE } else { 0 }
}
