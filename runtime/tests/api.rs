//! The HTTP API through `router()` without a socket: the Step Functions JSON protocol, state
//! machine and execution lifecycles, AWS's error shapes, and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use wasmstep::daemon::metrics::Metrics;
use wasmstep::daemon::service::Service;
use wasmstep::engine::task::{InvokeError, TaskCall, TaskInvoker};
use wasmstep::store::sqlite::SqliteStore;

/// `wasm:double` doubles `$.n`; every other handler is missing.
struct Handlers;

impl TaskInvoker for Handlers {
    fn invoke<'a>(&'a self, call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(async move {
            match call.handler {
                "double" => Ok(json!({"n": call.payload["n"].as_i64().unwrap_or(0) * 2})),
                _ => Err(InvokeError::NoSuchHandler),
            }
        })
    }
}

struct Api {
    router: axum::Router,
    _dir: TempDir,
}

/// A directory removed when the test ends.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn api() -> Api {
    let dir = std::env::temp_dir().join(format!("wasmstep-api-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(&dir.join("wasmstep.db")).unwrap());
    let svc = Service::open(store, Arc::new(Handlers), Arc::new(Metrics::new()))
        .await
        .unwrap();
    Api {
        router: wasmstep::daemon::api::router(svc),
        _dir: TempDir(dir),
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

impl Api {
    async fn raw(&self, target: Option<&str>, body: &str) -> (StatusCode, Value) {
        let mut req = Request::post("/").header("content-type", "application/x-amz-json-1.0");
        if let Some(t) = target {
            req = req.header("x-amz-target", t);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn call(&self, action: &str, body: Value) -> Value {
        let (status, v) = self
            .raw(Some(&format!("AWSStepFunctions.{action}")), &body.to_string())
            .await;
        assert_eq!(status, StatusCode::OK, "{action} failed: {v}");
        v
    }

    /// Calls an action that must fail; returns (`__type`, message).
    async fn fail(&self, action: &str, body: Value) -> (String, String) {
        let (status, v) = self
            .raw(Some(&format!("AWSStepFunctions.{action}")), &body.to_string())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{action} should fail: {v}");
        (
            v["__type"].as_str().unwrap().to_string(),
            v["message"].as_str().unwrap().to_string(),
        )
    }

    async fn create(&self, name: &str, definition: Value, kind: &str) -> String {
        let v = self
            .call(
                "CreateStateMachine",
                json!({"name": name, "definition": definition.to_string(), "roleArn": "arn:aws:iam::123456789012:role/r", "type": kind}),
            )
            .await;
        v["stateMachineArn"].as_str().unwrap().to_string()
    }

    /// Polls DescribeExecution until the execution is no longer RUNNING.
    async fn wait_done(&self, arn: &str) -> Value {
        for _ in 0..500 {
            let d = self.call("DescribeExecution", json!({"executionArn": arn})).await;
            if d["status"] != "RUNNING" {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{arn} did not finish");
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }
}

fn doubling() -> Value {
    json!({"StartAt": "Double", "States": {
        "Double": {"Type": "Task", "Resource": "wasm:double", "Next": "Done"},
        "Done": {"Type": "Pass", "Parameters": {"result.$": "$.n"}, "End": true}
    }})
}

fn waiting() -> Value {
    json!({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": true}}})
}

#[tokio::test]
async fn state_machine_lifecycle() {
    let api = api().await;
    let arn = api.create("orders", doubling(), "STANDARD").await;
    assert_eq!(arn, "arn:aws:states:us-east-1:123456789012:stateMachine:orders");

    let d = api.call("DescribeStateMachine", json!({"stateMachineArn": arn})).await;
    assert_eq!(d["name"], "orders");
    assert_eq!(d["status"], "ACTIVE");
    assert_eq!(d["type"], "STANDARD");
    assert_eq!(
        serde_json::from_str::<Value>(d["definition"].as_str().unwrap()).unwrap(),
        doubling()
    );
    assert!(d["creationDate"].is_f64());

    // Creating the same machine again is idempotent; a different definition is a conflict.
    let again = api.create("orders", doubling(), "STANDARD").await;
    assert_eq!(again, arn);
    let (kind, _) = api
        .fail(
            "CreateStateMachine",
            json!({"name": "orders", "definition": waiting().to_string(), "roleArn": "arn:aws:iam::123456789012:role/r"}),
        )
        .await;
    assert_eq!(kind, "StateMachineAlreadyExists");

    api.create("express-one", doubling(), "EXPRESS").await;
    let list = api.call("ListStateMachines", json!({"maxResults": 1})).await;
    assert_eq!(list["stateMachines"].as_array().unwrap().len(), 1);
    let token = list["nextToken"].as_str().unwrap();
    let rest = api.call("ListStateMachines", json!({"nextToken": token})).await;
    assert_eq!(rest["stateMachines"].as_array().unwrap().len(), 1);
    assert!(rest.get("nextToken").is_none());

    api.call(
        "UpdateStateMachine",
        json!({"stateMachineArn": arn, "definition": waiting().to_string()}),
    )
    .await;
    let d = api.call("DescribeStateMachine", json!({"stateMachineArn": arn})).await;
    assert_eq!(
        serde_json::from_str::<Value>(d["definition"].as_str().unwrap()).unwrap(),
        waiting()
    );

    api.call("DeleteStateMachine", json!({"stateMachineArn": arn})).await;
    let (kind, msg) = api.fail("DescribeStateMachine", json!({"stateMachineArn": arn})).await;
    assert_eq!(kind, "StateMachineDoesNotExist");
    assert!(msg.contains(&arn), "{msg}");
}

#[tokio::test]
async fn versions_are_published_listed_described_and_run() {
    let api = api().await;
    let arn = api.create("versioned", doubling(), "STANDARD").await;
    let v1 = api
        .call(
            "PublishStateMachineVersion",
            json!({"stateMachineArn": arn, "description": "first"}),
        )
        .await;
    let v1 = v1["stateMachineVersionArn"].as_str().unwrap().to_string();
    assert_eq!(v1, format!("{arn}:1"));
    // Publishing an unchanged definition returns the same version.
    let again = api
        .call("PublishStateMachineVersion", json!({"stateMachineArn": arn}))
        .await;
    assert_eq!(again["stateMachineVersionArn"], v1.as_str());

    let v2 = api
        .call(
            "UpdateStateMachine",
            json!({"stateMachineArn": arn, "definition": waiting().to_string(), "publish": true}),
        )
        .await;
    assert_eq!(v2["stateMachineVersionArn"], format!("{arn}:2"));
    let list = api
        .call("ListStateMachineVersions", json!({"stateMachineArn": arn}))
        .await;
    let arns: Vec<&str> = list["stateMachineVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["stateMachineVersionArn"].as_str().unwrap())
        .collect();
    assert_eq!(arns, vec![format!("{arn}:2"), format!("{arn}:1")]);

    // Version 1 still has the doubling definition, and runs it.
    let d = api.call("DescribeStateMachine", json!({"stateMachineArn": v1})).await;
    assert_eq!(
        serde_json::from_str::<Value>(d["definition"].as_str().unwrap()).unwrap(),
        doubling()
    );
    let s = api
        .call("StartExecution", json!({"stateMachineArn": v1, "input": "{\"n\": 4}"}))
        .await;
    let done = api.wait_done(s["executionArn"].as_str().unwrap()).await;
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(done["stateMachineArn"], arn.as_str());
    assert_eq!(done["stateMachineVersionArn"], v1.as_str());
    // Listing by version shows only that version's executions.
    let by_version = api.call("ListExecutions", json!({"stateMachineArn": v1})).await;
    assert_eq!(by_version["executions"].as_array().unwrap().len(), 1);
    let unversioned = api.call("StartExecution", json!({"stateMachineArn": arn})).await;
    let all = api.call("ListExecutions", json!({"stateMachineArn": arn})).await;
    assert_eq!(all["executions"].as_array().unwrap().len(), 2);
    let by_version = api.call("ListExecutions", json!({"stateMachineArn": v1})).await;
    assert_eq!(by_version["executions"].as_array().unwrap().len(), 1);
    api.call("StopExecution", json!({"executionArn": unversioned["executionArn"]}))
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(done["output"].as_str().unwrap()).unwrap(),
        json!({"result": 8})
    );

    api.call("DeleteStateMachineVersion", json!({"stateMachineVersionArn": v1}))
        .await;
    let (kind, _) = api.fail("DescribeStateMachine", json!({"stateMachineArn": v1})).await;
    assert_eq!(kind, "StateMachineDoesNotExist");
}

#[tokio::test]
async fn tags_are_added_replaced_listed_and_removed() {
    let api = api().await;
    let v = api
        .call(
            "CreateStateMachine",
            json!({"name": "tagged", "definition": doubling().to_string(), "roleArn": "arn:aws:iam::123456789012:role/r",
                   "tags": [{"key": "team", "value": "orders"}]}),
        )
        .await;
    let arn = v["stateMachineArn"].as_str().unwrap();
    api.call(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "team", "value": "billing"}, {"key": "env", "value": "dev"}]}),
    )
    .await;
    let t = api.call("ListTagsForResource", json!({"resourceArn": arn})).await;
    assert_eq!(
        t,
        json!({"tags": [{"key": "env", "value": "dev"}, {"key": "team", "value": "billing"}]})
    );
    api.call("UntagResource", json!({"resourceArn": arn, "tagKeys": ["env"]}))
        .await;
    let t = api.call("ListTagsForResource", json!({"resourceArn": arn})).await;
    assert_eq!(t, json!({"tags": [{"key": "team", "value": "billing"}]}));

    let many: Vec<Value> = (0..51).map(|i| json!({"key": format!("k{i}"), "value": ""})).collect();
    let (kind, _) = api.fail("TagResource", json!({"resourceArn": arn, "tags": many})).await;
    assert_eq!(kind, "TooManyTags");
    let (kind, _) = api
        .fail(
            "ListTagsForResource",
            json!({"resourceArn": "arn:aws:states:us-east-1:123456789012:stateMachine:nope"}),
        )
        .await;
    assert_eq!(kind, "ResourceNotFound");
}

#[tokio::test]
async fn invalid_definitions_name_the_problem() {
    let api = api().await;
    let bad = json!({"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": true}}});
    let (kind, msg) = api
        .fail(
            "CreateStateMachine",
            json!({"name": "bad", "definition": bad.to_string(), "roleArn": "arn:aws:iam::123456789012:role/r"}),
        )
        .await;
    assert_eq!(kind, "InvalidDefinition");
    assert!(msg.contains("Nowhere"), "{msg}");

    let (kind, _) = api
        .fail(
            "CreateStateMachine",
            json!({"name": "has space", "definition": doubling().to_string(), "roleArn": "arn:aws:iam::123456789012:role/r"}),
        )
        .await;
    assert_eq!(kind, "InvalidName");

    let v = api
        .call("ValidateStateMachineDefinition", json!({"definition": bad.to_string()}))
        .await;
    assert_eq!(v["result"], "FAIL");
    assert_eq!(v["diagnostics"][0]["severity"], "ERROR");
    let v = api
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": "{\"StartAt\": "}),
        )
        .await;
    assert_eq!(v["result"], "FAIL");
    let v = api
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": doubling().to_string()}),
        )
        .await;
    assert_eq!(v["result"], "OK");
}

#[tokio::test]
async fn validation_reports_warnings_when_asked_and_creation_accepts_them() {
    let api = api().await;
    let warned = json!({"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "Next": "Order"},
        "Order": {"Type": "Task", "Resource": "arn:aws:lambda:REGION:ACCOUNT:function:double", "End": true}}});
    let v = api
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": warned.to_string()}),
        )
        .await;
    assert_eq!(v, json!({"result": "OK", "diagnostics": [], "truncated": false}));
    let v = api
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": warned.to_string(), "severity": "WARNING"}),
        )
        .await;
    assert_eq!(v["result"], "OK");
    let got: Vec<(&str, &str, &str)> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["severity"].as_str().unwrap(),
                d["code"].as_str().unwrap(),
                d["location"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("WARNING", "UNSUPPORTED_RESOURCE", "/States/Put/Resource"),
            ("WARNING", "PLACEHOLDER_ARN", "/States/Order/Resource")
        ]
    );
    // AWS would run both resources, so creating the state machine succeeds.
    api.create("warned", warned, "STANDARD").await;

    let bad = json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "Lambda", "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:lambda:function:initiate", "Next": "A"}}});
    let v = api
        .call(
            "ValidateStateMachineDefinition",
            json!({"definition": bad.to_string(), "maxResults": 2}),
        )
        .await;
    assert_eq!(v["result"], "FAIL");
    assert_eq!(v["truncated"], true, "{v}");
    assert_eq!(v["diagnostics"].as_array().unwrap().len(), 2);
    let (kind, msg) = api
        .fail(
            "CreateStateMachine",
            json!({"name": "bad", "definition": bad.to_string(), "roleArn": "arn:aws:iam::123456789012:role/r"}),
        )
        .await;
    assert_eq!(kind, "InvalidDefinition");
    assert!(
        msg.contains("INVALID_RESOURCE") && msg.contains("MISSING_END_STATE"),
        "{msg}"
    );
    let (kind, _) = api
        .fail(
            "ValidateStateMachineDefinition",
            json!({"definition": bad.to_string(), "severity": "INFO"}),
        )
        .await;
    assert_eq!(kind, "ValidationException");
}

#[tokio::test]
async fn execution_runs_and_is_described_listed_and_has_history() {
    let api = api().await;
    let arn = api.create("double", doubling(), "STANDARD").await;
    let started = api
        .call(
            "StartExecution",
            json!({"stateMachineArn": arn, "name": "first", "input": "{\"n\": 21}"}),
        )
        .await;
    let exec = started["executionArn"].as_str().unwrap().to_string();
    assert_eq!(exec, "arn:aws:states:us-east-1:123456789012:execution:double:first");
    let d = api.wait_done(&exec).await;
    assert_eq!(d["status"], "SUCCEEDED");
    assert_eq!(
        serde_json::from_str::<Value>(d["output"].as_str().unwrap()).unwrap(),
        json!({"result": 42})
    );
    assert_eq!(d["input"], "{\"n\": 21}");
    assert!(d["stopDate"].as_f64().unwrap() >= d["startDate"].as_f64().unwrap());

    // A finished execution's name cannot be reused.
    let (kind, _) = api
        .fail(
            "StartExecution",
            json!({"stateMachineArn": arn, "name": "first", "input": "{\"n\": 21}"}),
        )
        .await;
    assert_eq!(kind, "ExecutionAlreadyExists");

    // A Task whose handler does not exist fails the execution, which the API reports.
    let missing = api
        .create(
            "missing",
            json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "wasm:nope", "End": true}}}),
            "STANDARD",
        )
        .await;
    let failed = api.call("StartExecution", json!({"stateMachineArn": missing})).await;
    let d = api.wait_done(failed["executionArn"].as_str().unwrap()).await;
    assert_eq!(d["status"], "FAILED");
    assert!(d["error"].is_string());

    let list = api
        .call(
            "ListExecutions",
            json!({"stateMachineArn": arn, "statusFilter": "SUCCEEDED"}),
        )
        .await;
    let execs = list["executions"].as_array().unwrap();
    assert_eq!(execs.len(), 1);
    assert_eq!(execs[0]["executionArn"], exec);
    assert!(execs[0].get("input").is_none());

    let h = api.call("GetExecutionHistory", json!({"executionArn": exec})).await;
    let types: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"ExecutionStarted"));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    assert!(types.contains(&"TaskStateEntered"));
    assert!(h["events"][0]["timestamp"].is_f64());
    assert_eq!(h["events"][0]["id"], 1);

    let rev = api
        .call(
            "GetExecutionHistory",
            json!({"executionArn": exec, "reverseOrder": true, "maxResults": 2, "includeExecutionData": false}),
        )
        .await;
    assert_eq!(rev["events"][0]["type"], "ExecutionSucceeded");
    assert_eq!(rev["events"].as_array().unwrap().len(), 2);
    assert!(rev["nextToken"].is_string());
    assert_eq!(
        rev["events"][0]["executionSucceededEventDetails"]["outputDetails"]["included"],
        false
    );

    let m = api
        .call("DescribeStateMachineForExecution", json!({"executionArn": exec}))
        .await;
    assert_eq!(m["stateMachineArn"], arn);
}

#[tokio::test]
async fn start_with_the_same_name_and_input_while_running_is_idempotent_and_stop_aborts() {
    let api = api().await;
    let arn = api.create("waits", waiting(), "STANDARD").await;
    let req = json!({"stateMachineArn": arn, "name": "w", "input": "{}"});
    let a = api.call("StartExecution", req.clone()).await;
    let b = api.call("StartExecution", req).await;
    assert_eq!(a["executionArn"], b["executionArn"]);
    let (kind, _) = api
        .fail(
            "StartExecution",
            json!({"stateMachineArn": arn, "name": "w", "input": "{\"other\": 1}"}),
        )
        .await;
    assert_eq!(kind, "ExecutionAlreadyExists");

    let exec = a["executionArn"].as_str().unwrap();
    let running = api
        .call(
            "ListExecutions",
            json!({"stateMachineArn": arn, "statusFilter": "RUNNING"}),
        )
        .await;
    assert_eq!(running["executions"].as_array().unwrap().len(), 1);

    api.call(
        "StopExecution",
        json!({"executionArn": exec, "error": "Operator", "cause": "no longer needed"}),
    )
    .await;
    let d = api.call("DescribeExecution", json!({"executionArn": exec})).await;
    assert_eq!(d["status"], "ABORTED");
    assert_eq!(d["error"], "Operator");
    assert_eq!(d["cause"], "no longer needed");
    let h = api.call("GetExecutionHistory", json!({"executionArn": exec})).await;
    let last = h["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "ExecutionAborted");
}

#[tokio::test]
async fn sync_express_execution_returns_its_result() {
    let api = api().await;
    let arn = api.create("quick", doubling(), "EXPRESS").await;
    let r = api
        .call(
            "StartSyncExecution",
            json!({"stateMachineArn": arn, "input": "{\"n\": 5}"}),
        )
        .await;
    assert_eq!(r["status"], "SUCCEEDED");
    assert_eq!(
        serde_json::from_str::<Value>(r["output"].as_str().unwrap()).unwrap(),
        json!({"result": 10})
    );
    assert!(r["executionArn"].as_str().unwrap().contains(":express:quick:"));

    // StartExecution on an Express machine runs it in memory, in the background.
    let s = api
        .call("StartExecution", json!({"stateMachineArn": arn, "input": "{\"n\": 1}"}))
        .await;
    assert!(s["executionArn"].as_str().unwrap().contains(":express:quick:"));
    let mut succeeded = 0.0;
    for _ in 0..500 {
        let (_, text) = api.get("/metrics").await;
        succeeded = sample(&text, "wasmstep_executions_succeeded_total{state_machine=\"quick\"}");
        if succeeded == 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(succeeded, 2.0);

    let standard = api.create("slow", doubling(), "STANDARD").await;
    let (kind, _) = api
        .fail("StartSyncExecution", json!({"stateMachineArn": standard}))
        .await;
    assert_eq!(kind, "StateMachineTypeNotSupported");
}

#[tokio::test]
async fn bad_requests_get_aws_error_shapes_and_disturb_nothing() {
    let api = api().await;
    let waits = api.create("bystander", waiting(), "STANDARD").await;
    let bystander = api.call("StartExecution", json!({"stateMachineArn": waits})).await["executionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, v) = api.raw(None, "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["__type"], "UnknownOperationException");

    let (_, v) = api.raw(Some("AWSStepFunctions.Frobnicate"), "{}").await;
    assert_eq!(v["__type"], "UnknownOperationException");
    assert!(v["message"].as_str().unwrap().contains("Frobnicate"));

    let (_, v) = api.raw(Some("AWSStepFunctions.ListStateMachines"), "{not json").await;
    assert_eq!(v["__type"], "SerializationException");
    let (_, v) = api.raw(Some("AWSStepFunctions.ListStateMachines"), "[1]").await;
    assert_eq!(v["__type"], "SerializationException");

    let (kind, msg) = api.fail("StartExecution", json!({})).await;
    assert_eq!(kind, "ValidationException");
    assert!(msg.contains("stateMachineArn"), "{msg}");

    let (kind, msg) = api.fail("StartExecution", json!({"stateMachineArn": 7})).await;
    assert_eq!(kind, "SerializationException");
    assert!(msg.contains("stateMachineArn"), "{msg}");

    let (kind, _) = api
        .fail("DescribeExecution", json!({"executionArn": "not-an-arn"}))
        .await;
    assert_eq!(kind, "InvalidArn");
    let (kind, _) = api
        .fail(
            "DescribeExecution",
            json!({"executionArn": "arn:aws:states:us-east-1:123456789012:execution:x:y"}),
        )
        .await;
    assert_eq!(kind, "ExecutionDoesNotExist");

    let arn = api.create("m", doubling(), "STANDARD").await;
    let (kind, _) = api
        .fail("StartExecution", json!({"stateMachineArn": arn, "input": "{oops"}))
        .await;
    assert_eq!(kind, "InvalidExecutionInput");
    let (kind, _) = api
        .fail(
            "ListExecutions",
            json!({"stateMachineArn": arn, "statusFilter": "DONE"}),
        )
        .await;
    assert_eq!(kind, "ValidationException");
    let (kind, _) = api
        .fail("ListExecutions", json!({"stateMachineArn": arn, "nextToken": "zzz"}))
        .await;
    assert_eq!(kind, "InvalidToken");

    // Over the 256 KiB payload limit.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    let (kind, msg) = api
        .fail("StartExecution", json!({"stateMachineArn": arn, "input": big}))
        .await;
    assert_eq!(kind, "ValidationException");
    assert!(msg.contains("input"), "{msg}");
    // A body over the request limit is refused before it is parsed.
    let resp = api
        .router
        .clone()
        .oneshot(
            Request::post("/")
                .header("x-amz-target", "AWSStepFunctions.StartExecution")
                .body(Body::from(vec![b' '; 3 << 20]))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let d = api.call("DescribeExecution", json!({"executionArn": bystander})).await;
    assert_eq!(d["status"], "RUNNING", "a bad request disturbed a running execution");
}

/// The value of one sample line, `name{labels} value`, or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_exactly_as_executions_start_succeed_fail_time_out_and_abort() {
    let api = api().await;
    let ok = api.create("counted", doubling(), "STANDARD").await;
    let fails = api
        .create(
            "fails",
            json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope"}}}),
            "STANDARD",
        )
        .await;
    let slow = api
        .create(
            "slow",
            json!({"TimeoutSeconds": 1, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}),
            "STANDARD",
        )
        .await;
    let stopped = api.create("stopped", waiting(), "STANDARD").await;
    let start = |arn: String, input: String| {
        let api = &api;
        async move {
            api.call("StartExecution", json!({"stateMachineArn": arn, "input": input}))
                .await["executionArn"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    for i in 0..3 {
        let e = start(ok.clone(), format!("{{\"n\": {i}}}")).await;
        api.wait_done(&e).await;
    }
    let e = start(fails.clone(), "{}".into()).await;
    api.wait_done(&e).await;
    let timed_out = start(slow.clone(), "{}".into()).await;
    let aborted = start(stopped.clone(), "{}".into()).await;
    let (_, text) = api.get("/metrics").await;
    assert_eq!(sample(&text, "wasmstep_executions_running"), 2.0, "{text}");
    api.call("StopExecution", json!({"executionArn": aborted})).await;
    let d = api.wait_done(&timed_out).await;
    assert_eq!(d["status"], "TIMED_OUT");
    // The end is on record a moment before it is counted: wait until nothing runs.
    for _ in 0..500 {
        let (_, text) = api.get("/metrics").await;
        if sample(&text, "wasmstep_executions_running") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (status, text) = api.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let expect = [
        ("wasmstep_executions_started_total{state_machine=\"counted\"}", 3.0),
        ("wasmstep_executions_succeeded_total{state_machine=\"counted\"}", 3.0),
        ("wasmstep_executions_failed_total{state_machine=\"counted\"}", 0.0),
        ("wasmstep_executions_started_total{state_machine=\"fails\"}", 1.0),
        ("wasmstep_executions_failed_total{state_machine=\"fails\"}", 1.0),
        ("wasmstep_executions_succeeded_total{state_machine=\"fails\"}", 0.0),
        ("wasmstep_executions_timed_out_total{state_machine=\"slow\"}", 1.0),
        ("wasmstep_executions_aborted_total{state_machine=\"stopped\"}", 1.0),
        ("wasmstep_executions_aborted_total{state_machine=\"slow\"}", 0.0),
        ("wasmstep_executions_running", 0.0),
        ("wasmstep_execution_duration_seconds_count", 6.0),
        (
            "wasmstep_state_transitions_total{state_machine=\"counted\",state_type=\"Task\"}",
            3.0,
        ),
        (
            "wasmstep_state_transitions_total{state_machine=\"counted\",state_type=\"Pass\"}",
            3.0,
        ),
        (
            "wasmstep_state_transitions_total{state_machine=\"fails\",state_type=\"Fail\"}",
            1.0,
        ),
        (
            "wasmstep_task_invocations_total{handler=\"double\",outcome=\"succeeded\"}",
            3.0,
        ),
        ("wasmstep_task_duration_seconds_count{handler=\"double\"}", 3.0),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&text, series), value, "{series} in:\n{text}");
    }
    let (status, body) = api.get("/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
}

/// `promtool check metrics` (Debian's prometheus package; the test command installs it) accepts
/// the exposition.
#[tokio::test]
async fn metrics_pass_promtool() {
    let api = api().await;
    let arn = api.create("linted", doubling(), "STANDARD").await;
    let s = api
        .call("StartExecution", json!({"stateMachineArn": arn, "input": "{\"n\": 1}"}))
        .await;
    api.wait_done(s["executionArn"].as_str().unwrap()).await;
    let (_, text) = api.get("/metrics").await;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is not installed: run the test command (bash .ci/test), which installs it");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// StopExecution racing executions that are finishing on their own: each ends exactly one way,
/// and the counters agree with what DescribeExecution says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_racing_the_end_records_exactly_one_outcome() {
    let api = api().await;
    let arn = api.create("racy", doubling(), "STANDARD").await;
    let mut execs = Vec::new();
    for i in 0..40 {
        let s = api
            .call(
                "StartExecution",
                json!({"stateMachineArn": arn, "input": format!("{{\"n\": {i}}}")}),
            )
            .await;
        let e = s["executionArn"].as_str().unwrap().to_string();
        api.call("StopExecution", json!({"executionArn": e})).await;
        execs.push(e);
    }
    let (mut succeeded, mut aborted) = (0.0, 0.0);
    for e in &execs {
        match api.wait_done(e).await["status"].as_str().unwrap() {
            "SUCCEEDED" => succeeded += 1.0,
            "ABORTED" => aborted += 1.0,
            other => panic!("{e} ended {other}"),
        }
    }
    let (_, text) = api.get("/metrics").await;
    assert_eq!(
        sample(&text, "wasmstep_executions_started_total{state_machine=\"racy\"}"),
        40.0
    );
    assert_eq!(
        sample(&text, "wasmstep_executions_succeeded_total{state_machine=\"racy\"}"),
        succeeded
    );
    assert_eq!(
        sample(&text, "wasmstep_executions_aborted_total{state_machine=\"racy\"}"),
        aborted
    );
    assert_eq!(sample(&text, "wasmstep_executions_running"), 0.0);
}

#[tokio::test]
async fn every_operation_of_the_model_is_answered() {
    // The operations `api/model/trim.py` takes from botocore's model are the ones served: each
    // answers (with a result, or an error of the operation's own) rather than
    // UnknownOperationException.
    let model: Value = serde_json::from_str(include_str!("../src/daemon/api/model/model.json")).unwrap();
    let ops: Vec<&String> = model["operations"].as_object().unwrap().keys().collect();
    for required in [
        "RedriveExecution",
        "CreateStateMachineAlias",
        "DescribeStateMachineAlias",
        "UpdateStateMachineAlias",
        "DeleteStateMachineAlias",
        "ListStateMachineAliases",
        "DescribeMapRun",
        "ListMapRuns",
        "UpdateMapRun",
    ] {
        assert!(ops.iter().any(|o| *o == required), "{required} is not in the model");
    }
    let api = api().await;
    for op in ops {
        let (_, v) = api.raw(Some(&format!("AWSStepFunctions.{op}")), "{}").await;
        assert_ne!(v["__type"], "UnknownOperationException", "{op}: {v}");
    }
}

#[tokio::test]
async fn get_slash_says_what_is_served_here() {
    let api = api().await;
    let (status, body) = api.get("/").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["service"], "wasmstep");
    assert!(v["api"].as_str().unwrap().contains("AWSStepFunctions.<Action>"), "{v}");
    assert_eq!(v["metrics"], "/metrics");
}
