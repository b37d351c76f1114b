//! `wasmstep run`: one execution of a definition file, its result as one JSON line.

use std::sync::Arc;

use serde_json::Value;
use wasmstep::asl;
use wasmstep::engine::oneshot::{self, RunOptions};
use wasmstep::engine::{EngineConfig, Status};

use super::args::{InputArgs, RunArgs};
use super::plugins::load_plugins;
use super::{USAGE, async_runtime, machine_type, print_line, report_load_error, report_warnings};

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
        Ok(m) => {
            report_warnings(&args.file, &m);
            Arc::new(m)
        }
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
            history_limit: EngineConfig::history_limit_for(mt),
        },
    };
    let rt = match async_runtime(false) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let name = asl::machine_name(&args.file);
    // Nested executions run here, from --definitions; waits for tokens and activities are refused.
    let outside = super::nested::Local::new(args.definitions.clone(), invoker.clone(), opts.clone());
    let exec = oneshot::executor(machine, invoker, &opts).with_outside(outside);
    let result = rt.block_on(oneshot::run_once(&exec, &name, input, mt));
    print_line(&oneshot::result_json(&result, args.history));
    if result.status == Status::Succeeded { 0 } else { 1 }
}
