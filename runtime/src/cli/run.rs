//! `wasmstep run`: one execution of a definition file, its result as one JSON line.

use std::sync::Arc;

use serde_json::Value;
use wasmstep::asl;
use wasmstep::engine::oneshot::{self, RunOptions};
use wasmstep::engine::{EngineConfig, Status};

use super::args::{InputArgs, RunArgs};
use super::machines::machines;
use super::plugins::load_plugins_only;
use super::{USAGE, async_runtime, machine_type, print_line, report_warnings};

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

/// The state machine to run: the file's, or the one `--state-machine` names in a project file
/// (which may hold several); its problems are printed when it is not valid.
fn pick(args: &RunArgs) -> Result<(String, asl::MachineType, Arc<asl::StateMachine>), u8> {
    let found = machines(&args.file, machine_type(args.machine_type)).map_err(|lines| {
        for l in lines {
            eprintln!("{l}");
        }
        USAGE
    })?;
    let names: Vec<&str> = found.iter().map(|m| m.name.as_str()).collect();
    let index = match &args.state_machine {
        Some(n) => found.iter().position(|m| m.name == *n).ok_or_else(|| {
            eprintln!(
                "error: {} defines no state machine {n} (it defines: {})",
                args.file.display(),
                names.join(", ")
            );
            USAGE
        })?,
        None if found.len() == 1 => 0,
        None => {
            eprintln!(
                "error: {} defines {} state machines ({}): name one with --state-machine",
                args.file.display(),
                found.len(),
                names.join(", ")
            );
            return Err(USAGE);
        }
    };
    let Some(chosen) = found.into_iter().nth(index) else {
        return Err(USAGE);
    };
    match chosen.result {
        Ok(m) => {
            report_warnings(&args.file, &m);
            Ok((chosen.name, chosen.machine_type, Arc::new(m)))
        }
        Err(d) => {
            for x in &d {
                eprintln!("{}:{x}", args.file.display());
            }
            eprintln!("error: {} is not a valid state machine", chosen.name);
            Err(USAGE)
        }
    }
}

pub fn run(args: RunArgs) -> u8 {
    // Warnings (a handler that does not exist: where it was looked for) go to stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .try_init();
    let input = match read_input(&args.input) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let (name, mt, machine) = match pick(&args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    // Only the handlers the definition names are loaded (compiling a large one takes seconds),
    // unless one is chosen at run time or nested executions may call others.
    let only = match &args.definitions {
        None => wasmstep::engine::task::handlers_named(&machine),
        Some(_) => None,
    };
    let invoker = match load_plugins_only(&args.plugins, only.as_ref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let buckets = match super::open_buckets(args.buckets.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let opts = RunOptions {
        buckets,
        skip_waits: args.skip_waits,
        machine_type: mt,
        engine: EngineConfig {
            payload_limit: args.payload_limit,
            keep_history: args.history,
            history_limit: EngineConfig::history_limit_for(mt),
        },
    };
    let rt = match async_runtime(false) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    // Nested executions run here, from --definitions; waits for tokens and activities are refused.
    let outside = super::nested::Local::new(args.definitions.clone(), invoker.clone(), opts.clone());
    let exec = oneshot::executor(machine, invoker, &opts).with_outside(outside);
    let result = rt.block_on(oneshot::run_once(&exec, &name, input, mt));
    print_line(&oneshot::result_json(&result, args.history));
    if result.status == Status::Succeeded { 0 } else { 1 }
}
