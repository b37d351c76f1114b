//! Engine semantics that need Task handlers: Retry, Catch, timeouts, cancellation and Map
//! concurrency, with in-process fake handlers behind the `TaskInvoker` trait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use wasmstep::asl::ErrorName;
use wasmstep::asl::{MachineType, Source, build};
use wasmstep::engine::clock::{Clock, VirtualClock};
use wasmstep::engine::error::AslError;
use wasmstep::engine::oneshot::execution_info;
use wasmstep::engine::task::{InvokeError, TaskCall, TaskInvoker};
use wasmstep::engine::{EngineConfig, ExecutionResult, Executor, Status};

/// Handlers by name; `calls` counts invocations per handler.
#[derive(Default)]
struct Fake {
    calls: Mutex<HashMap<String, u32>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Fake {
    fn calls(&self, name: &str) -> u32 {
        self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl TaskInvoker for Fake {
    fn invoke<'a>(&'a self, call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(async move {
            let n = {
                let mut c = self.calls.lock().unwrap();
                let e = c.entry(call.handler.to_string()).or_default();
                *e += 1;
                *e
            };
            let custom = |name: &str, cause: &str| {
                Err(InvokeError::Failed(AslError::new(
                    ErrorName::Custom(name.into()),
                    cause,
                )))
            };
            match call.handler {
                "echo" => Ok(call.payload.clone()),
                "flaky" => {
                    let fail_times = call.payload["fail_times"].as_u64().unwrap_or(2) as u32;
                    if n <= fail_times {
                        custom("Flaky", &format!("attempt {n}"))
                    } else {
                        Ok(json!({"attempt": n, "retry_count": call.context["State"]["RetryCount"]}))
                    }
                }
                "boom" => custom("Boom", "it broke"),
                "panics" => panic!("handler bug"),
                "timeout" => Err(InvokeError::Failed(AslError {
                    name: ErrorName::Timeout,
                    cause: None,
                })),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(json!("late"))
                }
                "tracked" => {
                    let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    self.max_in_flight.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    self.in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok(call.payload.clone())
                }
                _ => Err(InvokeError::NoSuchHandler),
            }
        })
    }
}

struct Outcome {
    result: ExecutionResult,
    virtual_seconds: f64,
    wall: Duration,
}

fn execute(def: Value, input: Value, fake: Arc<Fake>) -> Outcome {
    let machine = Arc::new(build(&Source::from_value(def), MachineType::Standard).expect("valid definition"));
    let clock = Arc::new(VirtualClock::default());
    let exec = Executor::new(machine, fake, clock.clone(), EngineConfig::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = clock.now();
    let t0 = Instant::now();
    let info = execution_info("Test", Arc::new(input.clone()), &*clock, MachineType::Standard);
    let result = rt.block_on(exec.execute(info, input));
    Outcome {
        result,
        virtual_seconds: (clock.now() - start).num_milliseconds() as f64 / 1000.0,
        wall: t0.elapsed(),
    }
}

fn task(resource: &str, extra: Value) -> Value {
    let mut t = json!({"Type": "Task", "Resource": resource, "End": true});
    t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let mut def = json!({"StartAt": "T", "States": {"T": t}});
    if extra.get("Catch").is_some() {
        def["States"]["Handled"] = json!({"Type": "Pass", "End": true});
    }
    def
}

fn types(r: &ExecutionResult) -> Vec<String> {
    r.history.iter().map(|e| e.type_name()).collect()
}

#[test]
fn retries_with_backoff_then_succeeds() {
    let fake = Arc::new(Fake::default());
    let def = task(
        "wasm:flaky",
        json!({"Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "BackoffRate": 2.0, "MaxAttempts": 3}]}),
    );
    let o = execute(def, json!({"fail_times": 2}), fake.clone());
    assert_eq!(o.result.status, Status::Succeeded, "{:?}", o.result.cause);
    assert_eq!(o.result.output, Some(json!({"attempt": 3, "retry_count": 2})));
    assert_eq!(fake.calls("flaky"), 3);
    // 2 s then 4 s of (virtual) delay.
    assert!((6.0..7.0).contains(&o.virtual_seconds), "{}", o.virtual_seconds);
    assert_eq!(types(&o.result).iter().filter(|t| *t == "TaskFailed").count(), 2);
}

#[test]
fn max_delay_caps_backoff_and_jitter_stays_below_it() {
    let fake = Arc::new(Fake::default());
    let def = task(
        "wasm:flaky",
        json!({"Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 10, "BackoffRate": 10.0, "MaxAttempts": 3, "MaxDelaySeconds": 15, "JitterStrategy": "FULL"}]}),
    );
    let o = execute(def, json!({"fail_times": 3}), fake);
    assert_eq!(o.result.status, Status::Succeeded);
    // Without the cap: 10 + 100 + 1000 s. With it: at most 10 + 15 + 15, and jitter only shortens.
    assert!(o.virtual_seconds <= 40.5, "{}", o.virtual_seconds);
}

#[test]
fn first_matching_retrier_decides_without_falling_through() {
    let fake = Arc::new(Fake::default());
    let def = task(
        "wasm:boom",
        json!({"Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1, "IntervalSeconds": 1}, {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}]}),
    );
    let o = execute(def, json!({}), fake.clone());
    assert_eq!(o.result.status, Status::Failed);
    assert_eq!(o.result.error.as_deref(), Some("Boom"));
    assert_eq!(o.result.cause.as_deref(), Some("it broke"));
    assert_eq!(fake.calls("boom"), 2);
}

#[test]
fn max_attempts_zero_never_retries() {
    let fake = Arc::new(Fake::default());
    let def = task(
        "wasm:boom",
        json!({"Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 0}]}),
    );
    let o = execute(def, json!({}), fake.clone());
    assert_eq!(o.result.status, Status::Failed);
    assert_eq!(fake.calls("boom"), 1);
}

#[test]
fn catch_places_error_output_with_result_path_and_assign() {
    let fake = Arc::new(Fake::default());
    let mut def = task(
        "wasm:boom",
        json!({"Catch": [{"ErrorEquals": ["Other"], "Next": "Handled"}, {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Assign": {"why.$": "$.Cause"}, "Next": "Handled"}]}),
    );
    def["States"]["Handled"] =
        json!({"Type": "Pass", "Parameters": {"err.$": "$.err", "orig.$": "$.orig", "why.$": "$why"}, "End": true});
    let o = execute(def, json!({"orig": 1}), fake);
    assert_eq!(o.result.status, Status::Succeeded, "{:?}", o.result.cause);
    assert_eq!(
        o.result.output,
        Some(json!({"err": {"Error": "Boom", "Cause": "it broke"}, "orig": 1, "why": "it broke"}))
    );
    let t = types(&o.result);
    assert_eq!(
        &t[1..7],
        [
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "TaskStateExited",
            "PassStateEntered"
        ]
    );
}

#[test]
fn task_failed_does_not_match_timeout() {
    let fake = Arc::new(Fake::default());
    let mut def = task(
        "wasm:timeout",
        json!({"Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"}, {"ErrorEquals": ["States.Timeout"], "Next": "Handled"}]}),
    );
    def["States"]["Wrong"] = json!({"Type": "Fail", "Error": "Wrong"});
    let o = execute(def, json!({}), fake);
    assert_eq!(o.result.status, Status::Succeeded);
    assert_eq!(o.result.output, Some(json!({"Error": "States.Timeout"})));
}

#[test]
fn task_timeout_seconds_ends_a_hanging_handler() {
    let fake = Arc::new(Fake::default());
    let def = task("wasm:slow", json!({"TimeoutSeconds": 1}));
    let o = execute(def, json!({}), fake);
    assert_eq!(o.result.status, Status::Failed);
    assert_eq!(o.result.error.as_deref(), Some("States.Timeout"));
    assert!(o.wall < Duration::from_secs(10), "{:?}", o.wall);
    assert!(types(&o.result).contains(&"TaskTimedOut".to_string()));
}

#[test]
fn a_failing_branch_cancels_its_siblings() {
    let fake = Arc::new(Fake::default());
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "S", "States": {"S": {"Type": "Task", "Resource": "wasm:slow", "End": true}}},
        {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Stop", "Cause": "now"}}}
    ]}}});
    let o = execute(def, json!({}), fake);
    assert_eq!(o.result.status, Status::Failed);
    assert_eq!(o.result.error.as_deref(), Some("Stop"));
    assert!(
        o.wall < Duration::from_secs(10),
        "the slow sibling was not cancelled: {:?}",
        o.wall
    );
    let t = types(&o.result);
    assert!(t.contains(&"TaskStateAborted".to_string()), "{t:?}");
    assert!(t.contains(&"ParallelStateFailed".to_string()), "{t:?}");
}

#[test]
fn map_concurrency_is_bounded_and_order_kept() {
    for (max, bound) in [(Some(2), 2), (Some(1), 1), (None, 40)] {
        let fake = Arc::new(Fake::default());
        let mut m = json!({"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "wasm:tracked", "End": true}}}});
        if let Some(n) = max {
            m["MaxConcurrency"] = json!(n);
        }
        let items: Vec<Value> = (0..12).map(|i| json!({"i": i})).collect();
        let o = execute(
            json!({"StartAt": "M", "States": {"M": m}}),
            Value::Array(items.clone()),
            fake.clone(),
        );
        assert_eq!(o.result.output, Some(Value::Array(items)));
        let seen = fake.max_in_flight.load(Ordering::SeqCst);
        assert!(seen <= bound, "max {max:?}: {seen} in flight");
        if max.is_none() {
            assert!(seen > 2, "unbounded map ran only {seen} at once");
        }
    }
}

#[test]
fn lambda_invoke_wraps_the_result_in_an_envelope() {
    let fake = Arc::new(Fake::default());
    let def = task(
        "arn:aws:states:::lambda:invoke",
        json!({"Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST", "Payload.$": "$"}, "ResultSelector": {"p.$": "$.Payload", "s.$": "$.StatusCode"}}),
    );
    let o = execute(def, json!({"k": "v"}), fake);
    assert_eq!(o.result.output, Some(json!({"p": {"k": "v"}, "s": 200})));
}

#[test]
fn catcher_assign_on_a_map_writes_the_outer_scope() {
    let fake = Arc::new(Fake::default());
    let def = json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "wasm:boom", "End": true}}},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"failed.$": "$.Error"}, "Next": "After"}], "End": true},
        "After": {"Type": "Pass", "Parameters": {"failed.$": "$failed"}, "End": true}}});
    let o = execute(def, json!([1]), fake);
    assert_eq!(o.result.output, Some(json!({"failed": "Boom"})));
}

#[test]
fn distributed_map_children_cannot_read_outer_variables() {
    let fake = Arc::new(Fake::default());
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"outer": 1}, "Next": "M"},
        "M": {"Type": "Map", "End": true, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
              "StartAt": "R", "States": {"R": {"Type": "Pass", "Parameters": {"v.$": "$outer"}, "End": true}}}}}});
    let o = execute(def, json!([1]), fake);
    assert_eq!(o.result.status, Status::Failed);
    assert_eq!(o.result.error.as_deref(), Some("States.Runtime"));
    assert!(types(&o.result).contains(&"MapRunStarted".to_string()));
}

#[test]
fn an_internal_panic_fails_only_that_execution() {
    let fake = Arc::new(Fake::default());
    let o = execute(task("wasm:panics", json!({})), json!({}), fake.clone());
    assert_eq!(o.result.status, Status::Failed);
    assert_eq!(o.result.error.as_deref(), Some("States.Runtime"));
    assert_eq!(
        o.result.cause.as_deref(),
        Some("Internal error in wasmstep: handler bug")
    );
    let o = execute(task("wasm:echo", json!({})), json!({"next": "fine"}), fake);
    assert_eq!(o.result.output, Some(json!({"next": "fine"})));
}
