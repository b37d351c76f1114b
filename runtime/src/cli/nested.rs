//! Nested executions in the one-shot CLI (`wasmstep run --definitions DIR`): a Task's
//! `states:startExecution` runs the child state machine `NAME` from `DIR/NAME.asl.*` in the
//! same process, with the same handlers and clock, and `.sync`/`.sync:2` wait for it. Task
//! tokens and activities need someone to answer through the daemon's API, so they are refused
//! with a message that says so.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::Notify;

use wasmstep::asl::{self, ErrorName};
use wasmstep::engine::error::AslError;
use wasmstep::engine::oneshot::{self, RunOptions};
use wasmstep::engine::outside::{Answer, Child, Outside, TokenView, Waiting, millis};
use wasmstep::engine::task::TaskInvoker;
use wasmstep::path::context::ExecutionInfo;

#[derive(Default)]
struct State {
    /// Tokens waiting for a child, by token: the child's ARN and the answer once it ended.
    waits: HashMap<String, (String, Option<Answer>, Arc<Notify>)>,
    /// What the children that ended answer their parents with, by ARN.
    ended: HashMap<String, Answer>,
}

/// Runs children in this process.
pub struct Local {
    definitions: Option<PathBuf>,
    invoker: Option<Arc<dyn TaskInvoker>>,
    opts: RunOptions,
    state: Mutex<State>,
    me: Weak<Local>,
}

fn needs_daemon(what: &str) -> AslError {
    AslError::new(
        ErrorName::Runtime,
        format!(
            "a Task that waits for {what} needs the daemon (wasmstep serve), where SendTaskSuccess and GetActivityTask can answer it"
        ),
    )
}

impl Local {
    pub fn new(definitions: Option<PathBuf>, invoker: Option<Arc<dyn TaskInvoker>>, opts: RunOptions) -> Arc<Local> {
        Arc::new_cyclic(|me| Local {
            definitions,
            invoker,
            opts,
            state: Mutex::new(State::default()),
            me: me.clone(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A child ended: its waiting parents get their answer.
    fn ended(&self, arn: &str, answer: Answer) {
        let mut st = self.state();
        for (child, got, notify) in st.waits.values_mut() {
            if child == arn && got.is_none() {
                *got = Some(answer.clone());
                notify.notify_one();
            }
        }
        st.ended.insert(arn.to_string(), answer);
    }

    /// The definition file of the state machine an ARN names.
    fn definition(&self, machine_arn: &str) -> Result<PathBuf, AslError> {
        let name = machine_arn.split(':').nth(6).unwrap_or_default();
        let Some(dir) = &self.definitions else {
            return Err(AslError::new(
                ErrorName::Runtime,
                format!(
                    "'{machine_arn}' is started by a Task: give `wasmstep run` the directory of its definition with --definitions DIR, or run it in the daemon"
                ),
            ));
        };
        ["json", "yaml", "yml"]
            .iter()
            .map(|x| dir.join(format!("{name}.asl.{x}")))
            .find(|p| p.exists())
            .ok_or_else(|| {
                AslError::new(
                    ErrorName::Custom("StepFunctions.StateMachineDoesNotExistException".into()),
                    format!(
                        "State Machine Does Not Exist: '{machine_arn}' (no {name}.asl.json or .yaml in {})",
                        dir.display()
                    ),
                )
            })
    }
}

fn now_secs() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}

impl Outside for Local {
    fn open<'a>(&'a self, _: &'a str, token: &'a str, waiting: Waiting<'a>) -> BoxFuture<'a, Result<(), AslError>> {
        let r = match waiting {
            Waiting::Callback => Err(needs_daemon("a task token")),
            Waiting::Activity { .. } => Err(needs_daemon("an activity worker")),
            Waiting::Child { arn } => {
                let mut st = self.state();
                let done = st.ended.get(arn).cloned();
                st.waits
                    .entry(token.to_string())
                    .or_insert_with(|| (arn.to_string(), done, Arc::new(Notify::new())));
                Ok(())
            }
        };
        Box::pin(std::future::ready(r))
    }

    fn look<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenView, String>> {
        let view = self.state().waits.get(token).map(|(_, answer, _)| TokenView {
            answer: answer.clone(),
            ..TokenView::default()
        });
        Box::pin(std::future::ready(
            view.ok_or_else(|| format!("no wait for token {token}")),
        ))
    }

    fn changed<'a>(&'a self, token: &'a str) -> BoxFuture<'a, ()> {
        let notify = self.state().waits.get(token).map(|(_, _, n)| n.clone());
        Box::pin(async move {
            match notify {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        })
    }

    fn close<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenView, String>> {
        self.look(token)
    }

    fn forget(&self, token: &str) {
        self.state().waits.remove(token);
    }

    fn start_execution<'a>(
        &'a self,
        _parent: &'a ExecutionInfo,
        params: &'a Value,
        _name: &'a str,
        _sync: bool,
    ) -> BoxFuture<'a, Result<Value, AslError>> {
        Box::pin(async move {
            let machine_arn = params
                .get("StateMachineArn")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let file = self.definition(machine_arn)?;
            let machine = asl::load_file(&file, self.opts.machine_type).map_err(|e| {
                AslError::new(
                    ErrorName::Custom("StepFunctions.InvalidDefinitionException".into()),
                    format!("{}: {e:?}", file.display()),
                )
            })?;
            let input_text = match params.get("Input") {
                None | Some(Value::Null) => "{}".to_string(),
                Some(Value::String(t)) => t.clone(),
                Some(v) => v.to_string(),
            };
            let input: Value = serde_json::from_str(&input_text).map_err(|e| {
                AslError::new(
                    ErrorName::Custom("StepFunctions.InvalidExecutionInputException".into()),
                    format!("Invalid State Machine Execution Input: '{e}'"),
                )
            })?;
            let name = asl::machine_name(&file);
            let me = self.me.upgrade().ok_or_else(|| needs_daemon("a nested execution"))?;
            let exec = oneshot::executor(Arc::new(machine), self.invoker.clone(), &self.opts).with_outside(me.clone());
            let info = oneshot::execution_info(
                &name,
                Arc::new(input.clone()),
                &wasmstep::engine::clock::SystemClock,
                self.opts.machine_type,
            );
            let started = now_secs();
            let arn = info.id.clone();
            let response = json!({"ExecutionArn": arn, "StartDate": millis(started)});
            tokio::spawn(async move {
                let (child_name, machine_arn) = (info.name.clone(), info.state_machine_id.clone());
                let r = exec.execute(info, input).await;
                let output = r.output.as_ref().map(Value::to_string);
                let child = Child {
                    arn: &arn,
                    name: &child_name,
                    machine_arn: &machine_arn,
                    status: r.status.as_str(),
                    input: &input_text,
                    output: output.as_deref(),
                    error: r.error.as_deref(),
                    cause: r.cause.as_deref(),
                    started,
                    stopped: Some(now_secs()),
                };
                me.ended(&arn, child.answer());
            });
            Ok(response)
        })
    }
}
