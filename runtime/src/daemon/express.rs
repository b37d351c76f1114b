//! Express executions: in memory, never stored (as in AWS: not described afterwards, their
//! end shows in the metrics); StartExecution runs one in the background, StartSyncExecution
//! runs one to its end and answers with how it ended.

use std::sync::Arc;

use serde_json::{Value, json};

use super::arns::{check_name, machine_arn};
use super::catalog::Machine;
use super::error::{Result, error};
use super::executions::{ExecutionRow, parse_input};
use super::service::{Service, now_secs};
use crate::asl::MachineType;
use crate::engine::{ACCOUNT, REGION};

impl Service {
    /// Starts an Express execution in the background, in memory (as in AWS: not recorded, not
    /// described afterwards; its end shows in the metrics).
    pub(super) fn start_express(
        self: &Arc<Self>,
        m: Arc<Machine>,
        name: String,
        input: &str,
        input_value: Value,
    ) -> ExecutionRow {
        let row = express_row(&m, name, machine_arn(&m.name), input);
        self.metrics.executions_started.with_label_values(&[&m.name]).inc();
        self.metrics.executions_running.inc();
        let info = self.info(&row, &m.name, &input_value);
        let me = self.clone();
        let started = row.started;
        let (_, invoker) = self.pin(None);
        self.engine().spawn(async move {
            let exec = me.executor(m.compiled.clone(), invoker, MachineType::Express);
            let r = exec.execute(info, input_value).await;
            me.metrics.count_transitions(&m.name, &r.transitions_by_type);
            me.metrics.count_end(&m.name, r.status, now_secs() - started);
            me.metrics.executions_running.dec();
        });
        row
    }

    /// Runs an Express execution to its end, in memory, and returns how it ended.
    pub async fn start_sync_execution(&self, machine_arn: &str, name: Option<&str>, input: &str) -> Result<Value> {
        let (m, _) = self.resolve_start(machine_arn).await?;
        if m.machine_type != MachineType::Express {
            return Err(error(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            ));
        }
        let input_value = parse_input(input)?;
        let name = name
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        check_name(&name)?;
        let row = express_row(&m, name, m.arn.clone(), input);
        let started = row.started;
        self.metrics.executions_started.with_label_values(&[&m.name]).inc();
        let exec = self.executor(m.compiled.clone(), self.pin(None).1, MachineType::Express);
        let info = self.info(&row, &m.name, &input_value);
        // On the executions' runtime, like every execution; the request waits for its end.
        let r = self
            .engine()
            .spawn(async move { exec.execute(info, input_value).await })
            .await
            .map_err(|e| {
                error(
                    "ServiceUnavailable",
                    format!("the execution did not run to its end: {e}"),
                )
            })?;
        let stopped = now_secs();
        self.metrics.count_transitions(&m.name, &r.transitions_by_type);
        self.metrics.count_end(&m.name, r.status, stopped - started);
        let mut v = json!({
            "executionArn": row.arn, "stateMachineArn": m.arn, "name": row.name, "startDate": started, "stopDate": stopped,
            "status": r.status.as_str(), "input": input, "inputDetails": {"included": true},
            "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": (((stopped - started) * 1000.0).ceil() as u64).max(100)},
        });
        if let Some(o) = r.output {
            v["output"] = o.to_string().into();
            v["outputDetails"] = json!({"included": true});
        }
        if let Some(e) = r.error {
            v["error"] = e.into();
        }
        if let Some(c) = r.cause {
            v["cause"] = c.into();
        }
        Ok(v)
    }
}

/// An Express execution: its own ARN form, nothing stored.
fn express_row(m: &Machine, name: String, machine_arn: String, input: &str) -> ExecutionRow {
    ExecutionRow {
        arn: format!(
            "arn:aws:states:{REGION}:{ACCOUNT}:express:{}:{name}:{}",
            m.name,
            uuid::Uuid::new_v4()
        ),
        machine_arn,
        name,
        status: "RUNNING".into(),
        definition: String::new(),
        input: input.to_string(),
        output: None,
        error: None,
        cause: None,
        started: now_secs(),
        stopped: None,
        version_arn: None,
        handler_set: None,
        redrive_count: 0,
        redrive_date: None,
        redrive_token: None,
        alias_arn: None,
    }
}
