//! Nested executions (`arn:aws:states:::states:startExecution`): a Task starts a child
//! execution, once whatever restarts come (its name is fixed before it is started); a parent
//! waiting with `.sync`/`.sync:2` is answered when the child ends, with the child as
//! DescribeExecution shows it; stopping a parent stops the children it waits for.

use serde_json::{Value, json};

use crate::asl::ErrorName;
use crate::daemon::executions::ExecutionRow;
use crate::daemon::service::Service;
use crate::engine::error::AslError;
use crate::engine::outside::{Child, millis};
use crate::engine::{ACCOUNT, REGION};
use crate::path::context::ExecutionInfo;
use crate::store::TokenChange;

/// An API error as the integration raises it (`StepFunctions.ExecutionAlreadyExistsException`).
fn integration_error(kind: &str, message: String) -> AslError {
    let name = if kind.ends_with("Exception") {
        format!("StepFunctions.{kind}")
    } else {
        format!("StepFunctions.{kind}Exception")
    };
    AslError::new(ErrorName::Custom(name), message)
}

fn child(row: &ExecutionRow) -> Child<'_> {
    Child {
        arn: &row.arn,
        name: &row.name,
        machine_arn: &row.machine_arn,
        status: &row.status,
        input: &row.input,
        output: row.output.as_deref(),
        error: row.error.as_deref(),
        cause: row.cause.as_deref(),
        started: row.started,
        stopped: row.stopped,
    }
}

impl Service {
    /// Starts the child `name` of `parent` with the Task's parameters (`StateMachineArn`,
    /// `Input` as JSON or JSON text); the one started before under that name, when the same
    /// input started it (a resumed parent). An Express child a `.sync` Task waits for runs to
    /// its end now (in memory, as StartSyncExecution runs it), its answer kept for the wait.
    pub(crate) async fn start_child(
        self: &std::sync::Arc<Self>,
        _parent: &ExecutionInfo,
        params: &Value,
        name: &str,
        sync: bool,
    ) -> Result<Value, AslError> {
        let Some(machine) = params.get("StateMachineArn").and_then(Value::as_str) else {
            return Err(AslError::new(ErrorName::Runtime, "StateMachineArn must be a string"));
        };
        let input = match params.get("Input") {
            None | Some(Value::Null) => "{}".to_string(),
            Some(Value::String(text)) => text.clone(),
            Some(v) => v.to_string(),
        };
        if sync
            && let Ok(m) = self.resolve(machine).await
            && m.machine_type == crate::asl::MachineType::Express
        {
            return self.run_express_child(machine, name, &input).await;
        }
        let row = match self.start_execution(machine, Some(name), &input).await {
            Ok(row) => row,
            Err(e) if e.kind == "ExecutionAlreadyExists" => {
                // `…:stateMachine:NAME[:VERSION]` -> `…:execution:NAME:{name}`
                let machine_name = machine.split(':').nth(6).unwrap_or_default();
                let arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine_name}:{name}");
                match self.store.execution(&arn).await {
                    Ok(Some(r)) if r.input == input => r,
                    _ => return Err(integration_error(e.kind, e.message)),
                }
            }
            Err(e) => return Err(integration_error(e.kind, e.message)),
        };
        Ok(json!({"ExecutionArn": row.arn, "StartDate": millis(row.started)}))
    }

    async fn run_express_child(&self, machine: &str, name: &str, input: &str) -> Result<Value, AslError> {
        let v = self
            .start_sync_execution(machine, Some(name), input)
            .await
            .map_err(|e| integration_error(e.kind, e.message))?;
        let text = |f: &str| v.get(f).and_then(Value::as_str).map(str::to_string);
        let secs = |f: &str| v.get(f).and_then(Value::as_f64);
        let row = ExecutionRow {
            arn: text("executionArn").unwrap_or_default(),
            machine_arn: text("stateMachineArn").unwrap_or_default(),
            name: name.to_string(),
            status: text("status").unwrap_or_default(),
            definition: String::new(),
            input: input.to_string(),
            output: text("output"),
            error: text("error"),
            cause: text("cause"),
            started: secs("startDate").unwrap_or_default(),
            stopped: secs("stopDate"),
            version_arn: None,
            handler_set: None,
            redrive_count: 0,
            redrive_date: None,
            redrive_token: None,
            alias_arn: None,
        };
        self.waits.express_done(&row.arn, child(&row).answer());
        Ok(json!({"ExecutionArn": row.arn, "StartDate": millis(row.started)}))
    }

    /// A child execution ended (or a parent began to wait for one that had): answers the
    /// parents waiting for it.
    pub(crate) async fn child_ended(&self, arn: &str) {
        // Most executions are nobody's child: one indexed read says so.
        match self.store.tokens_waiting_on(arn).await {
            Ok(waiting) if !waiting.is_empty() => {}
            _ => return,
        }
        let Ok(Some(row)) = self.store.execution(arn).await else {
            return;
        };
        if row.status == "RUNNING" {
            return;
        }
        self.answer_waiting(arn, child(&row).answer()).await;
    }

    /// Answers the parents waiting for the child `arn` to end.
    pub(crate) async fn answer_waiting(&self, arn: &str, answer: crate::engine::outside::Answer) {
        let Ok(waiting) = self.store.tokens_waiting_on(arn).await else {
            return;
        };
        for t in waiting {
            if let Ok(Ok(_)) = self
                .store
                .change_token(&t.token, TokenChange::Answer(answer.to_text()))
                .await
            {
                self.waits.token_changed(&t.token);
            }
        }
    }

    /// An execution ended: the tokens it still held take no answer any more; when it was
    /// stopped, so are the children it waited for (`.sync`).
    pub(crate) async fn tokens_end(&self, arn: &str, stopped: bool) {
        if let Ok(open) = self.store.open_tokens(arn).await {
            for t in open {
                let _ = self.store.change_token(&t.token, TokenChange::Close).await;
                self.waits.token_changed(&t.token);
                if stopped && let Some(child) = t.child {
                    let stop = Box::pin(self.stop_execution(&child, None, Some("The parent execution was stopped")));
                    if let Err(e) = stop.await {
                        tracing::warn!(execution = %child, "the child of a stopped execution could not be stopped: {}", e.message);
                    }
                }
            }
        }
        self.child_ended(arn).await;
    }
}
