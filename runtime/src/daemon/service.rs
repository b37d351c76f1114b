//! The daemon's state: state machines, durable executions on the store, and resuming what was
//! running when the daemon stopped. The HTTP API (`api/`) is a thin layer over this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use rusqlite::types::Value as Sql;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::asl::{self, MachineType, Source, StateMachine, Syntax};
use crate::daemon::metrics::Metrics;
use crate::engine::clock::{Clock, SystemClock};
use crate::engine::history::{EventKind, History};
use crate::engine::task::TaskInvoker;
use crate::engine::{ACCOUNT, EngineConfig, ExecutionResult, Executor, REGION, Status};
use crate::path::context::ExecutionInfo;
use crate::path::context::iso;
use crate::store::ExecutionStore;
use crate::store::sqlite::SqliteStore;

/// An API error: AWS's error type name and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceError {
    pub kind: &'static str,
    pub message: String,
}

pub fn error(kind: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError {
        kind,
        message: message.into(),
    }
}

type Result<T> = std::result::Result<T, ServiceError>;

/// The store failed: ServiceUnavailable, with its message.
pub(crate) fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    error("ServiceUnavailable", e.to_string())
}

/// The columns `ExecutionRow::from_row` reads, in order.
const EXECUTION_COLUMNS: &str = "SELECT arn, machine_arn, name, status, definition, input, output, error, cause, started, stopped, version_arn, handler_set FROM executions";

fn parse_input(input: &str) -> Result<Value> {
    serde_json::from_str(input).map_err(|e| {
        error(
            "InvalidExecutionInput",
            format!("Invalid State Machine Execution Input: '{e}'"),
        )
    })
}

fn now_secs() -> f64 {
    Utc::now().timestamp_micros() as f64 / 1e6
}

/// Names of state machines and executions: 1 to 80 characters, none of AWS's forbidden ones.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c);
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(bad) {
        return Err(error("InvalidName", format!("Invalid Name: '{name}'")));
    }
    Ok(())
}

pub fn machine_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}")
}

/// `arn:aws:states:REGION:ACCOUNT:KIND:REST` -> REST, or InvalidArn.
fn arn_rest<'a>(arn: &'a str, kind: &str) -> Result<&'a str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "states", _, _, rest] => rest
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix(':'))
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                error(
                    "InvalidArn",
                    format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
                )
            }),
        _ => Err(error("InvalidArn", format!("Invalid Arn: '{arn}'"))),
    }
}

/// A state machine as the API knows it.
#[derive(Clone)]
pub struct Machine {
    pub arn: String,
    pub name: String,
    pub machine_type: MachineType,
    pub definition: String,
    pub role_arn: String,
    pub created: f64,
    pub compiled: Arc<StateMachine>,
}

impl Machine {
    /// Changes whenever the definition or the role does (a hot reload, UpdateStateMachine): the
    /// content's SHA-256, shaped like AWS's revision ids.
    pub fn revision_id(&self) -> String {
        let h = crate::wasm::plugin::sha256_hex(format!("{}\n{}", self.role_arn, self.definition).as_bytes());
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

pub fn type_name(t: MachineType) -> &'static str {
    match t {
        MachineType::Standard => "STANDARD",
        MachineType::Express => "EXPRESS",
    }
}

/// Parses and validates a definition; InvalidDefinition lists every problem.
pub fn compile(definition: &str, t: MachineType) -> Result<StateMachine> {
    let syntax = Syntax::detect("", definition);
    asl::load(definition, syntax, t).map_err(|d| {
        let msgs: Vec<String> = d.diagnostics.iter().map(|x| x.to_string()).collect();
        error(
            "InvalidDefinition",
            format!("Invalid State Machine Definition: '{}'", msgs.join("; ")),
        )
    })
}

pub struct Service {
    pub store: Arc<SqliteStore>,
    pub invoker: Arc<dyn TaskInvoker>,
    pub metrics: Arc<Metrics>,
    machines: Mutex<HashMap<String, Arc<Machine>>>,
    /// Compiled versions, by version ARN (filled on first use; versions never change).
    versions: Mutex<HashMap<String, Arc<Machine>>>,
    running: Mutex<HashMap<String, JoinHandle<()>>>,
    clock: Arc<dyn Clock>,
}

impl Service {
    /// Opens the service on a store, loading the state machines it holds.
    pub fn open(
        store: Arc<SqliteStore>,
        invoker: Arc<dyn TaskInvoker>,
        metrics: Arc<Metrics>,
    ) -> std::result::Result<Arc<Service>, String> {
        let rows = store
            .read(
                "SELECT arn, name, type, definition, role_arn, created FROM state_machines",
                &[],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, f64>(5)?,
                    ))
                },
            )
            .map_err(|e| e.to_string())?;
        let mut machines = HashMap::new();
        for (arn, name, t, definition, role_arn, created) in rows {
            let machine_type = if t == "EXPRESS" {
                MachineType::Express
            } else {
                MachineType::Standard
            };
            let compiled = compile(&definition, machine_type)
                .map_err(|e| format!("stored state machine {name}: {}", e.message))?;
            machines.insert(
                arn.clone(),
                Machine {
                    arn,
                    name,
                    machine_type,
                    definition,
                    role_arn,
                    created,
                    compiled: Arc::new(compiled),
                }
                .into(),
            );
        }
        let invoker: Arc<dyn TaskInvoker> = Arc::new(crate::daemon::metrics::MeteredInvoker {
            inner: invoker,
            metrics: metrics.clone(),
        });
        Ok(Arc::new(Service {
            store,
            invoker,
            metrics,
            machines: Mutex::new(machines),
            versions: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            clock: Arc::new(SystemClock),
        }))
    }

    fn machines(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Machine>>> {
        self.machines.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn cached_version(&self, arn: &str) -> Option<Arc<Machine>> {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(arn)
            .cloned()
    }

    pub(crate) fn cache_version(&self, m: Arc<Machine>) {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(m.arn.clone(), m);
    }

    pub(crate) fn forget_version(&self, arn: &str) {
        self.versions.lock().unwrap_or_else(|e| e.into_inner()).remove(arn);
    }

    /// A state machine (shared, not copied: StartExecution looks one up per request).
    pub fn machine(&self, arn: &str) -> Result<Arc<Machine>> {
        arn_rest(arn, "stateMachine")?;
        self.machines().get(arn).cloned().ok_or_else(|| {
            error(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            )
        })
    }

    pub async fn create_machine(
        &self,
        name: &str,
        definition: &str,
        role_arn: &str,
        t: MachineType,
    ) -> Result<Arc<Machine>> {
        check_name(name)?;
        let compiled = compile(definition, t)?;
        let arn = machine_arn(name);
        if let Some(existing) = self.machines().get(&arn) {
            if existing.definition == definition && existing.machine_type == t {
                return Ok(existing.clone());
            }
            return Err(error(
                "StateMachineAlreadyExists",
                format!("State Machine Already Exists: '{arn}'"),
            ));
        }
        let m = Machine {
            arn: arn.clone(),
            name: name.to_string(),
            machine_type: t,
            definition: definition.to_string(),
            role_arn: role_arn.to_string(),
            created: now_secs(),
            compiled: Arc::new(compiled),
        };
        self.store.write(
            "INSERT OR REPLACE INTO state_machines (arn, name, type, definition, role_arn, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![Sql::Text(arn.clone()), Sql::Text(m.name.clone()), Sql::Text(type_name(t).into()), Sql::Text(m.definition.clone()), Sql::Text(m.role_arn.clone()), Sql::Real(m.created)],
        );
        self.store.flush().await.map_err(unavailable)?;
        let m = Arc::new(m);
        self.machines().insert(arn, m.clone());
        Ok(m)
    }

    pub async fn update_machine(&self, arn: &str, definition: Option<&str>, role_arn: Option<&str>) -> Result<f64> {
        let mut m = Machine::clone(&*self.machine(arn)?);
        if definition.is_none() && role_arn.is_none() {
            return Err(error(
                "MissingRequiredParameter",
                "Either the definition or the roleArn must be specified.",
            ));
        }
        if let Some(d) = definition {
            m.compiled = Arc::new(compile(d, m.machine_type)?);
            m.definition = d.to_string();
        }
        if let Some(r) = role_arn {
            m.role_arn = r.to_string();
        }
        let updated = now_secs();
        self.store.write(
            "UPDATE state_machines SET definition = ?2, role_arn = ?3, updated = ?4 WHERE arn = ?1",
            vec![
                Sql::Text(arn.to_string()),
                Sql::Text(m.definition.clone()),
                Sql::Text(m.role_arn.clone()),
                Sql::Real(updated),
            ],
        );
        self.store.flush().await.map_err(unavailable)?;
        self.machines().insert(arn.to_string(), Arc::new(m));
        Ok(updated)
    }

    pub async fn delete_machine(&self, arn: &str) -> Result<()> {
        self.machine(arn)?;
        self.store.write(
            "DELETE FROM state_machines WHERE arn = ?1",
            vec![Sql::Text(arn.to_string())],
        );
        self.store
            .write("DELETE FROM tags WHERE resource = ?1", vec![Sql::Text(arn.to_string())]);
        self.store.write(
            "DELETE FROM versions WHERE machine_arn = ?1",
            vec![Sql::Text(arn.to_string())],
        );
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| crate::daemon::catalog::versions::split_version(k).is_none_or(|(b, _)| b != arn));
        self.store.flush().await.map_err(unavailable)?;
        self.machines().remove(arn);
        Ok(())
    }

    pub fn list_machines(&self) -> Vec<Arc<Machine>> {
        let mut v: Vec<Arc<Machine>> = self.machines().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn execution_row(&self, arn: &str) -> Result<Option<ExecutionRow>> {
        let rows = self
            .store
            .read(
                &format!("{EXECUTION_COLUMNS} WHERE arn = ?1"),
                &[Sql::Text(arn.to_string())],
                ExecutionRow::from_row,
            )
            .map_err(unavailable)?;
        Ok(rows.into_iter().next())
    }

    pub fn describe_execution(&self, arn: &str) -> Result<ExecutionRow> {
        arn_rest(arn, "execution")?;
        self.execution_row(arn)?
            .ok_or_else(|| error("ExecutionDoesNotExist", format!("Execution Does Not Exist: '{arn}'")))
    }

    /// Executions of a state machine, or of one version when given a version ARN; newest first.
    pub fn list_executions(&self, machine_arn: &str, status: Option<&str>) -> Result<Vec<ExecutionRow>> {
        self.resolve(machine_arn)?;
        let by_version = crate::daemon::catalog::versions::split_version(machine_arn).is_some();
        let mut params = vec![Sql::Text(machine_arn.to_string())];
        if let Some(s) = status {
            params.push(Sql::Text(s.to_string()));
        }
        let filter = match (by_version, status.is_some()) {
            (false, false) => "machine_arn = ?1",
            (false, true) => "machine_arn = ?1 AND status = ?2",
            (true, false) => "version_arn = ?1",
            (true, true) => "version_arn = ?1 AND status = ?2",
        };
        let sql = format!("{EXECUTION_COLUMNS} WHERE {filter} ORDER BY started DESC");
        self.store
            .read(&sql, &params, ExecutionRow::from_row)
            .map_err(unavailable)
    }

    pub fn history(&self, arn: &str) -> Result<Vec<Value>> {
        self.describe_execution(arn)?;
        self.store.events(arn).map_err(unavailable)
    }

    /// Starts a durable (Standard) execution; same name and input while running returns the
    /// same execution.
    pub async fn start_execution(
        self: &Arc<Self>,
        machine_arn: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<ExecutionRow> {
        let m = self.resolve(machine_arn)?;
        let base_arn = self::machine_arn(&m.name);
        let input_value = parse_input(input)?;
        let name = match name {
            Some(n) => {
                check_name(n)?;
                n.to_string()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        if m.machine_type == MachineType::Express {
            return Ok(self.start_express(m, name, input, input_value));
        }
        let arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{}:{name}", m.name);
        if let Some(existing) = self.execution_row(&arn)? {
            if existing.status == "RUNNING" && existing.input == input {
                return Ok(existing);
            }
            return Err(error(
                "ExecutionAlreadyExists",
                format!("Execution Already Exists: '{arn}'"),
            ));
        }
        let started = now_secs();
        let (handler_set, invoker) = self.pin(None);
        let row = ExecutionRow {
            arn: arn.clone(),
            machine_arn: base_arn.clone(),
            name: name.clone(),
            status: "RUNNING".into(),
            definition: m.definition.clone(),
            input: input.to_string(),
            output: None,
            error: None,
            cause: None,
            started,
            stopped: None,
            version_arn: (m.arn != base_arn).then(|| m.arn.clone()),
            handler_set,
        };
        self.store.write(
            "INSERT INTO executions (arn, machine_arn, name, status, definition, input, started, version_arn, handler_set) VALUES (?1, ?2, ?3, 'RUNNING', ?4, ?5, ?6, ?7, ?8)",
            vec![Sql::Text(arn.clone()), Sql::Text(base_arn.clone()), Sql::Text(name.clone()), Sql::Text(m.definition.clone()), Sql::Text(input.to_string()), Sql::Real(started), opt(row.version_arn.clone()), handler_set.map(Sql::Integer).unwrap_or(Sql::Null)],
        );
        self.store.flush().await.map_err(unavailable)?;
        self.metrics.executions_started.with_label_values(&[&m.name]).inc();
        self.spawn(m.name.clone(), m.compiled.clone(), &row, input_value, false, invoker);
        Ok(row)
    }

    /// The handlers one execution keeps until it ends, and their number to record: a reload
    /// while it runs does not switch it to a new module half-way. Given the number recorded
    /// before a restart, the same handlers again when they can still be had.
    fn pin(&self, recorded: Option<i64>) -> (Option<i64>, Arc<dyn TaskInvoker>) {
        if let Some(set) = recorded {
            match self.invoker.repin(set as u64) {
                Some(invoker) => return (Some(set), invoker),
                None => tracing::warn!(
                    handler_set = set,
                    "the handlers this execution started with are gone; it resumes on those serving now"
                ),
            }
        }
        match self.invoker.pin() {
            Some((set, invoker)) => (Some(set as i64), invoker),
            None => (None, self.invoker.clone()),
        }
    }

    /// The engine for one execution: its handlers, the daemon's clock; history goes to the
    /// store, not memory.
    fn executor(&self, compiled: Arc<StateMachine>, invoker: Arc<dyn TaskInvoker>) -> Executor {
        Executor::new(
            compiled,
            invoker,
            self.clock.clone(),
            EngineConfig {
                keep_history: false,
                ..EngineConfig::default()
            },
        )
    }

    fn info(&self, row: &ExecutionRow, machine_name: &str, input: &Value) -> ExecutionInfo {
        let start = chrono::DateTime::from_timestamp_micros((row.started * 1e6) as i64).unwrap_or_else(Utc::now);
        ExecutionInfo {
            id: row.arn.clone(),
            name: row.name.clone(),
            input: Arc::new(input.clone()),
            start_time: iso(start),
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/wasmstep"),
            state_machine_id: row.machine_arn.clone(),
            state_machine_name: machine_name.to_string(),
            redrive_count: 0,
        }
    }

    /// Runs (or resumes) an execution in the background and records how it ended.
    fn spawn(
        self: &Arc<Self>,
        machine_name: String,
        compiled: Arc<StateMachine>,
        row: &ExecutionRow,
        input: Value,
        resume: bool,
        invoker: Arc<dyn TaskInvoker>,
    ) {
        let info = self.info(row, &machine_name, &input);
        let me = self.clone();
        let arn = row.arn.clone();
        let started = row.started;
        self.metrics.executions_running.inc();
        // Registered before the task can run: `finish` only records an end it finds here.
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let task = tokio::spawn(async move {
            let exec = me.executor(compiled, invoker);
            let store: Arc<dyn ExecutionStore> = me.store.clone();
            let result = exec.execute_durable(info, input, store, resume).await;
            me.finish(&arn, &machine_name, started, result).await;
        });
        running.insert(row.arn.clone(), task);
    }

    async fn finish(
        &self,
        arn: &str,
        machine_name: &str,
        started: f64,
        result: std::result::Result<ExecutionResult, crate::store::StoreError>,
    ) {
        // Whoever takes the execution out of `running` records how it ended: here, or
        // StopExecution if it got there first.
        if self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(arn)
            .is_none()
        {
            return;
        }
        self.metrics.executions_running.dec();
        let (status, output, err, cause) = match result {
            Ok(r) => {
                self.metrics.count_transitions(machine_name, &r.transitions_by_type);
                (r.status, r.output.map(|o| o.to_string()), r.error, r.cause)
            }
            Err(e) => (Status::Failed, None, Some("States.Runtime".into()), Some(e.to_string())),
        };
        let stopped = now_secs();
        self.metrics.count_end(machine_name, status, stopped - started);
        self.store.write(
            "UPDATE executions SET status = ?2, output = ?3, error = ?4, cause = ?5, stopped = ?6 WHERE arn = ?1",
            vec![
                Sql::Text(arn.to_string()),
                Sql::Text(status.as_str().into()),
                opt(output),
                opt(err),
                opt(cause),
                Sql::Real(stopped),
            ],
        );
        let _ = self.store.flush().await;
    }

    /// Stops a running execution: ExecutionAborted, status ABORTED.
    pub async fn stop_execution(&self, arn: &str, err: Option<&str>, cause: Option<&str>) -> Result<f64> {
        let row = self.describe_execution(arn)?;
        let handle = self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(arn);
        let stopped = now_secs();
        if row.status != "RUNNING" {
            return Ok(row.stopped.unwrap_or(stopped));
        }
        let Some(h) = handle else {
            // The execution is finishing on its own and records its end; report that.
            for _ in 0..1000 {
                let row = self.describe_execution(arn)?;
                if row.status != "RUNNING" {
                    return Ok(row.stopped.unwrap_or(stopped));
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            return Err(error(
                "ServiceUnavailable",
                format!("{arn} is still finishing; try again"),
            ));
        };
        h.abort();
        // Wait until the task is gone, so nothing it queued can follow ExecutionAborted, and
        // commit what it queued before reading the last event id.
        let _ = h.await;
        self.store.flush().await.map_err(unavailable)?;
        self.metrics.executions_running.dec();
        let machine_name = row.machine_arn.rsplit(':').next().unwrap_or_default().to_string();
        self.metrics
            .executions_aborted
            .with_label_values(&[&machine_name])
            .inc();
        self.metrics
            .execution_duration
            .observe((stopped - row.started).max(0.0));
        let keys = self.store.event_keys(arn).map_err(unavailable)?;
        let store: Arc<dyn ExecutionStore> = self.store.clone();
        let history = History::durable(false, store, arn, keys.clone());
        let last = keys.values().max().copied().unwrap_or(0);
        history.record(last, self.clock.now(), || EventKind::ExecutionAborted {
            error: err.map(str::to_string),
            cause: cause.map(str::to_string),
        });
        self.store.write(
            "UPDATE executions SET status = 'ABORTED', error = ?2, cause = ?3, stopped = ?4 WHERE arn = ?1",
            vec![
                Sql::Text(arn.to_string()),
                opt(err.map(str::to_string)),
                opt(cause.map(str::to_string)),
                Sql::Real(stopped),
            ],
        );
        self.store.flush().await.map_err(unavailable)?;
        Ok(stopped)
    }

    /// Starts an Express execution in the background, in memory (as in AWS: not recorded, not
    /// described afterwards; its end shows in the metrics).
    fn start_express(self: &Arc<Self>, m: Arc<Machine>, name: String, input: &str, input_value: Value) -> ExecutionRow {
        let row = express_row(&m, name, machine_arn(&m.name), input);
        self.metrics.executions_started.with_label_values(&[&m.name]).inc();
        self.metrics.executions_running.inc();
        let info = self.info(&row, &m.name, &input_value);
        let me = self.clone();
        let started = row.started;
        let (_, invoker) = self.pin(None);
        tokio::spawn(async move {
            let exec = me.executor(m.compiled.clone(), invoker);
            let r = exec.execute(info, input_value).await;
            me.metrics.count_transitions(&m.name, &r.transitions_by_type);
            me.metrics.count_end(&m.name, r.status, now_secs() - started);
            me.metrics.executions_running.dec();
        });
        row
    }

    /// Runs an Express execution to its end, in memory, and returns how it ended.
    pub async fn start_sync_execution(&self, machine_arn: &str, name: Option<&str>, input: &str) -> Result<Value> {
        let m = self.resolve(machine_arn)?;
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
        let exec = self.executor(m.compiled.clone(), self.pin(None).1);
        let r = exec.execute(self.info(&row, &m.name, &input_value), input_value).await;
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

    /// Resumes every execution the store says was running when the daemon stopped.
    pub fn resume_all(self: &Arc<Self>) -> std::result::Result<usize, String> {
        let rows = self
            .store
            .read(
                &format!("{EXECUTION_COLUMNS} WHERE status = 'RUNNING'"),
                &[],
                ExecutionRow::from_row,
            )
            .map_err(|e| e.to_string())?;
        let n = rows.len();
        for row in rows {
            let machine_name = row.machine_arn.rsplit(':').next().unwrap_or_default().to_string();
            // A stored definition this build no longer accepts fails that one execution, not the
            // daemon.
            let compiled = match compile(&row.definition, MachineType::Standard) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(execution = %row.arn, "cannot resume: {}", e.message);
                    self.store.write(
                        "UPDATE executions SET status = 'FAILED', error = 'States.Runtime', cause = ?2, stopped = ?3 WHERE arn = ?1",
                        vec![Sql::Text(row.arn.clone()), Sql::Text(format!("cannot resume: {}", e.message)), Sql::Real(now_secs())],
                    );
                    continue;
                }
            };
            let input: Value = serde_json::from_str(&row.input).unwrap_or(Value::Null);
            self.metrics
                .executions_resumed
                .with_label_values(&[&machine_name])
                .inc();
            let (_, invoker) = self.pin(row.handler_set);
            self.spawn(machine_name, Arc::new(compiled), &row, input, true, invoker);
        }
        Ok(n)
    }

    /// Whether the store answers.
    pub fn healthy(&self) -> bool {
        self.store.read("SELECT 1", &[], |r| r.get::<_, i64>(0)).is_ok()
    }

    pub fn validate(&self, definition: &str, t: MachineType) -> Value {
        let syntax = Syntax::detect("", definition);
        let src = match Source::parse(definition, syntax) {
            Ok(s) => s,
            Err(e) => {
                return json!({"result": "FAIL", "truncated": false, "diagnostics": [{
                    "severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": e.message, "location": format!("{}:{}", e.line, e.column)}]});
            }
        };
        match asl::build(&src, t) {
            Ok(_) => json!({"result": "OK", "diagnostics": [], "truncated": false}),
            Err(d) => json!({"result": "FAIL", "truncated": false, "diagnostics": d.diagnostics.iter().map(|x| {
                json!({"severity": "ERROR", "code": x.code.as_str(), "message": x.message, "location": x.pointer})
            }).collect::<Vec<_>>()}),
        }
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
    }
}

fn opt(v: Option<String>) -> Sql {
    v.map(Sql::Text).unwrap_or(Sql::Null)
}

/// One row of the executions table.
#[derive(Debug, Clone)]
pub struct ExecutionRow {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    pub status: String,
    pub definition: String,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub started: f64,
    pub stopped: Option<f64>,
    /// The version ARN it was started with, if any.
    pub version_arn: Option<String>,
    /// The handlers it started with (`TaskInvoker::pin`), to resume on the same releases.
    pub handler_set: Option<i64>,
}

impl ExecutionRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRow> {
        Ok(ExecutionRow {
            arn: r.get(0)?,
            machine_arn: r.get(1)?,
            name: r.get(2)?,
            status: r.get(3)?,
            definition: r.get(4)?,
            input: r.get(5)?,
            output: r.get(6)?,
            error: r.get(7)?,
            cause: r.get(8)?,
            started: r.get(9)?,
            stopped: r.get(10)?,
            version_arn: r.get(11)?,
            handler_set: r.get(12)?,
        })
    }
}
