//! One-shot executions, in memory or on a store: the executor with its clock choice, a new
//! execution's context facts, the result line. Shared by the CLI's `run` and `bench` commands
//! and by the tests.

use std::sync::Arc;

use serde_json::{Value, json};

use super::clock::{Clock, SystemClock, VirtualClock};
use super::task::{NoHandlers, TaskInvoker};
use super::{ACCOUNT, EngineConfig, ExecutionResult, Executor, REGION, Status};
use crate::asl::{MachineType, StateMachine};
use crate::path::context::ExecutionInfo;
use crate::path::context::iso;
use crate::store::buckets::Buckets;

/// Context facts for a new execution of `machine_name`.
pub fn execution_info(
    machine_name: &str,
    input: Arc<Value>,
    clock: &dyn Clock,
    machine_type: MachineType,
) -> ExecutionInfo {
    let name = uuid::Uuid::new_v4().to_string();
    let kind = match machine_type {
        MachineType::Standard => "execution",
        MachineType::Express => "express",
    };
    ExecutionInfo {
        id: format!("arn:aws:states:{REGION}:{ACCOUNT}:{kind}:{machine_name}:{name}"),
        name,
        input,
        start_time: iso(clock.now()),
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/wasmstep"),
        state_machine_id: format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine_name}"),
        state_machine_name: machine_name.to_string(),
        redrive_count: 0,
        redrive_time: None,
    }
}

/// Options of a one-shot run.
#[derive(Clone)]
pub struct RunOptions {
    pub skip_waits: bool,
    pub machine_type: MachineType,
    pub engine: EngineConfig,
    /// Where Distributed Maps read and write (`--buckets`).
    pub buckets: Option<Arc<dyn Buckets>>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("skip_waits", &self.skip_waits)
            .field("machine_type", &self.machine_type)
            .field("engine", &self.engine)
            .field("buckets", &self.buckets.is_some())
            .finish()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            skip_waits: false,
            machine_type: MachineType::Standard,
            engine: EngineConfig::default(),
            buckets: None,
        }
    }
}

/// An executor for `machine` with the given handlers and clock choice.
pub fn executor(machine: Arc<StateMachine>, invoker: Option<Arc<dyn TaskInvoker>>, opts: &RunOptions) -> Executor {
    let clock: Arc<dyn Clock> = if opts.skip_waits {
        Arc::new(VirtualClock::default())
    } else {
        Arc::new(SystemClock)
    };
    Executor::new(
        machine,
        invoker.unwrap_or_else(|| Arc::new(NoHandlers)),
        clock,
        opts.engine.clone(),
    )
    .with_buckets(opts.buckets.clone())
}

/// Runs one execution.
pub async fn run_once(exec: &Executor, machine_name: &str, input: Value, machine_type: MachineType) -> ExecutionResult {
    let info = execution_info(machine_name, Arc::new(input.clone()), &SystemClock, machine_type);
    exec.execute(info, input).await
}

/// Runs one durable execution, recorded in `store`.
pub async fn run_durable(
    exec: &Executor,
    machine_name: &str,
    input: Value,
    store: Arc<dyn crate::store::ExecutionStore>,
) -> Result<ExecutionResult, crate::store::StoreError> {
    let info = execution_info(
        machine_name,
        Arc::new(input.clone()),
        &SystemClock,
        MachineType::Standard,
    );
    exec.execute_durable(info, input, store, false).await
}

/// The CLI's result line: `{"status", "output"}` or `{"status", "error", "cause"}`.
pub fn result_json(r: &ExecutionResult, with_history: bool) -> Value {
    let mut v = json!({"status": r.status.as_str()});
    if r.status == Status::Succeeded {
        v["output"] = r.output.clone().unwrap_or(Value::Null);
    } else {
        v["error"] = r.error.clone().map(Value::String).unwrap_or(Value::Null);
        v["cause"] = r.cause.clone().map(Value::String).unwrap_or(Value::Null);
    }
    if with_history {
        v["history"] = Value::Array(r.history.iter().map(|e| e.to_json()).collect());
    }
    v
}
