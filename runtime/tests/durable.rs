//! Durable executions on SQLite: an execution stopped mid-way (its future dropped, as a crash
//! drops it) resumes from the store: finished states and handler results are not repeated,
//! the call in flight is made again, timers keep their deadlines, event ids continue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use wasmstep::asl::{MachineType, Source, build};
use wasmstep::engine::clock::{Clock, VirtualClock};
use wasmstep::engine::oneshot::execution_info;
use wasmstep::engine::task::{InvokeError, TaskCall, TaskInvoker};
use wasmstep::engine::{EngineConfig, Executor, Status};
use wasmstep::store::sqlite::SqliteStore;
use wasmstep::store::{ExecutionStore, JournalRecord};

/// Counts calls per handler; `stall` makes `second` never return (the "crash" point), and
/// `stall_item` the Map item with that value.
#[derive(Default)]
struct Handlers {
    calls: Mutex<HashMap<String, u32>>,
    stall: AtomicBool,
    stall_item: Mutex<Option<Value>>,
    stalled: tokio::sync::Notify,
}

impl Handlers {
    fn calls(&self, name: &str) -> u32 {
        self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl TaskInvoker for Handlers {
    fn invoke<'a>(&'a self, call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(async move {
            *self.calls.lock().unwrap().entry(call.handler.to_string()).or_default() += 1;
            let stall_item = call.handler == "item" && self.stall_item.lock().unwrap().as_ref() == Some(call.payload);
            if stall_item {
                // Let the other items finish first.
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.stalled.notify_one();
                std::future::pending::<()>().await;
            }
            if call.handler == "second" && self.stall.load(Ordering::SeqCst) {
                self.stalled.notify_one();
                std::future::pending::<()>().await;
            }
            Ok(json!({"by": call.handler, "input": call.payload, "redelivered": call.context["Task"]["Redelivered"]}))
        })
    }
}

fn machine() -> Arc<wasmstep::asl::StateMachine> {
    let def = json!({"StartAt": "First", "States": {
        "First": {"Type": "Task", "Resource": "wasm:first", "ResultPath": "$.first", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 3600, "Next": "Fan"},
        "Fan": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "Item", "States": {
            "Item": {"Type": "Task", "Resource": "wasm:item", "End": true}}}, "ResultPath": "$.fan", "Next": "Second"},
        "Second": {"Type": "Task", "Resource": "wasm:second", "ResultPath": "$.second", "End": true}
    }});
    Arc::new(build(&Source::from_value(def), MachineType::Standard).expect("valid"))
}

/// One execution on a store file, stopped mid-way and then resumed by a fresh engine and store
/// handle (as a restarted process would).
struct Scenario {
    path: std::path::PathBuf,
    rt: tokio::runtime::Runtime,
    input: Value,
    clock: Arc<VirtualClock>,
    info: wasmstep::path::context::ExecutionInfo,
    config: EngineConfig,
}

impl Scenario {
    fn new(name: &str) -> Scenario {
        let dir = std::env::temp_dir().join(format!("wasmstep-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let input = json!({"items": [1, 2, 3]});
        let clock = Arc::new(VirtualClock::default());
        let info = execution_info(name, Arc::new(input.clone()), &*clock, MachineType::Standard);
        Scenario {
            path: dir.join("store.db"),
            rt: tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            input,
            clock,
            info,
            config: EngineConfig {
                keep_history: false,
                ..EngineConfig::default()
            },
        }
    }

    /// Runs with `before` until it stalls, commits what was recorded, and drops the engine.
    fn stop(&self, before: &Arc<Handlers>) -> Arc<dyn ExecutionStore> {
        let store: Arc<dyn ExecutionStore> = Arc::new(SqliteStore::open(&self.path).expect("store"));
        let exec = Executor::new(machine(), before.clone(), self.clock.clone(), self.config.clone());
        self.rt.block_on(async {
            let run = exec.execute_durable(self.info.clone(), self.input.clone(), store.clone(), false);
            tokio::select! {
                _ = run => panic!("the execution should have stalled"),
                _ = before.stalled.notified() => {}
            }
            store.flush().await.expect("flush");
        });
        store
    }

    /// Reopens the store and resumes with fresh handlers; it must succeed.
    fn resume(
        &self,
    ) -> (
        Arc<Handlers>,
        Arc<dyn ExecutionStore>,
        wasmstep::engine::ExecutionResult,
    ) {
        let after = Arc::new(Handlers::default());
        let store: Arc<dyn ExecutionStore> = Arc::new(SqliteStore::open(&self.path).expect("reopen"));
        let exec = Executor::new(machine(), after.clone(), self.clock.clone(), self.config.clone());
        let result = self
            .rt
            .block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(20),
                    exec.execute_durable(self.info.clone(), self.input.clone(), store.clone(), true),
                )
                .await
            })
            .expect("resumes in time")
            .expect("store readable");
        assert_eq!(
            result.status,
            Status::Succeeded,
            "{:?} {:?}",
            result.error,
            result.cause
        );
        (after, store, result)
    }
}

#[test]
fn a_stopped_execution_resumes_without_repeating_work() {
    let sc = Scenario::new("durable");
    // First run: stops while `second` is in flight.
    let before = Arc::new(Handlers::default());
    before.stall.store(true, Ordering::SeqCst);
    let store = sc.stop(&before);
    assert_eq!(
        (before.calls("first"), before.calls("item"), before.calls("second")),
        (1, 3, 1)
    );
    let recorded = sc.rt.block_on(store.events(&sc.info.id)).expect("events");
    let deadline = sc
        .rt
        .block_on(store.journal(&sc.info.id))
        .expect("journal")
        .iter()
        .find_map(|r| match r {
            JournalRecord::Deadline { until, .. } => Some(*until),
            _ => None,
        });
    assert!(deadline.is_some(), "the Wait's deadline is recorded");
    drop(store);

    // Restart: a new store handle and engine on the same file.
    let (after, store, result) = sc.resume();
    assert_eq!(
        (after.calls("first"), after.calls("item"), after.calls("second")),
        (0, 0, 1),
        "only the call in flight is made again"
    );
    let out = result.output.expect("output");
    assert_eq!(out["first"]["by"], "first");
    assert_eq!(out["fan"].as_array().map(Vec::len), Some(3));
    assert_eq!(out["second"]["by"], "second");
    // The repeated call knows it is one; the others did not run again.
    assert_eq!(out["second"]["redelivered"], true);
    assert_eq!(out["first"]["redelivered"], Value::Null);
    let events = sc.rt.block_on(store.events(&sc.info.id)).expect("events");
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().expect("id")).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "ids continue without gaps or repeats"
    );
    assert!(events.len() > recorded.len());
    // Nothing is recorded twice: the state in flight at the stop is not entered again in the
    // history, and its handler call is scheduled once (the call itself is repeated).
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("ExecutionStarted"), 1);
    assert_eq!(count("TaskStateEntered"), 5, "First, Second and 3 Map items");
    assert_eq!(count("TaskScheduled"), 5);
    assert_eq!(count("TaskSucceeded"), 5);
    assert_eq!(count("MapIterationStarted"), 3);
    assert_eq!(count("WaitStateEntered"), 1);
    assert_eq!(events.last().expect("last")["type"], "ExecutionSucceeded");
    // The resumed Wait kept the recorded deadline (the virtual clock only moves forward).
    assert!(sc.clock.now() >= deadline.expect("deadline"));
}

#[test]
fn a_map_stopped_mid_way_resumes_only_the_unfinished_items() {
    let sc = Scenario::new("durable-map");
    let before = Arc::new(Handlers::default());
    *before.stall_item.lock().unwrap() = Some(json!(2));
    let store = sc.stop(&before);
    assert_eq!(before.calls("item"), 3);
    drop(store);
    let (after, store, result) = sc.resume();
    assert_eq!(
        (after.calls("first"), after.calls("item"), after.calls("second")),
        (0, 1, 1),
        "only item 2 and what follows"
    );
    assert_eq!(result.output.expect("output")["fan"].as_array().map(Vec::len), Some(3));
    let events = sc.rt.block_on(store.events(&sc.info.id)).expect("events");
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(
        (
            count("MapIterationStarted"),
            count("MapIterationSucceeded"),
            count("MapStateStarted")
        ),
        (3, 3, 1)
    );
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().expect("id")).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
}
