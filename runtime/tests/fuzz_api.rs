//! Property-based fuzzing of the API's request decoder through `router()`: arbitrary targets,
//! bodies (valid JSON of every shape, damaged JSON, raw bytes) and field values give an
//! AWS-shaped answer (`{"__type", "message"}` or a result), never a panic or a 500.
//!
//! CI runs a bounded number of cases (`PROPTEST_CASES`, default 256); a long run:
//! `PROPTEST_CASES=50000 cargo test --release -p wasmstep --test fuzz_api`.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;
use wasmstep::daemon::metrics::Metrics;
use wasmstep::daemon::service::Service;
use wasmstep::engine::task::NoHandlers;
use wasmstep::store::sqlite::SqliteStore;

const ACTIONS: &[&str] = &[
    "CreateStateMachine",
    "DescribeStateMachine",
    "UpdateStateMachine",
    "DeleteStateMachine",
    "ListStateMachines",
    "ValidateStateMachineDefinition",
    "PublishStateMachineVersion",
    "ListStateMachineVersions",
    "DeleteStateMachineVersion",
    "StartExecution",
    "StartSyncExecution",
    "StopExecution",
    "DescribeExecution",
    "DescribeStateMachineForExecution",
    "ListExecutions",
    "GetExecutionHistory",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "NoSuchAction",
];

const FIELDS: &[&str] = &[
    "name",
    "definition",
    "roleArn",
    "type",
    "stateMachineArn",
    "executionArn",
    "stateMachineVersionArn",
    "resourceArn",
    "input",
    "cause",
    "error",
    "tags",
    "tagKeys",
    "maxResults",
    "nextToken",
    "statusFilter",
    "reverseOrder",
    "includeExecutionData",
    "publish",
    "versionDescription",
    "severity",
];

/// One router for all cases, on a store in a temporary directory, in a runtime of its own.
fn fixture() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static F: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join(format!("wasmstep-fuzz-api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let router = rt.block_on(async {
            let store = Arc::new(SqliteStore::open(&dir.join("wasmstep.db")).expect("store"));
            let svc = Service::open(store, Arc::new(NoHandlers), Arc::new(Metrics::new())).await.expect("service");
            let router = wasmstep::daemon::api::router(svc);
            // Something to find: a state machine and an execution.
            let def = json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 3600, "End": true}}});
            for (action, body) in [
                ("CreateStateMachine", json!({"name": "fuzz", "definition": def.to_string(), "roleArn": "arn:aws:iam::123456789012:role/r"})),
                ("StartExecution", json!({"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:fuzz", "name": "e"})),
            ] {
                let (status, _) = call(&router, action, body.to_string().into_bytes()).await;
                assert_eq!(status, StatusCode::OK);
            }
            router
        });
        (rt, router)
    })
}

async fn call(router: &axum::Router, action: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let req = Request::post("/")
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("AWSStepFunctions.{action}"))
        .body(Body::from(body))
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    (
        status,
        resp.into_body().collect().await.expect("body").to_bytes().to_vec(),
    )
}

fn field_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::String),
        Just(json!("arn:aws:states:us-east-1:123456789012:stateMachine:fuzz")),
        Just(json!("arn:aws:states:us-east-1:123456789012:execution:fuzz:e")),
        Just(json!("arn:aws:states:us-east-1:123456789012:stateMachine:fuzz:1")),
        Just(json!("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Succeed\"}}}")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn request_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // A request object with real field names and values of any shape.
        prop::collection::vec((prop::sample::select(FIELDS), field_value()), 0..6).prop_map(|fields| {
            Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                .to_string()
                .into_bytes()
        }),
        // Any JSON at all, and damaged or raw bytes.
        field_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #[test]
    fn every_request_gets_an_aws_shaped_answer(
        action in prop::sample::select(ACTIONS),
        body in request_body(),
    ) {
        let (rt, router) = fixture();
        let (status, bytes) = rt.block_on(call(router, action, body));
        prop_assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{action}: 500 {}", String::from_utf8_lossy(&bytes));
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(format!("{action}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes))))?;
        if status != StatusCode::OK {
            prop_assert!(v["__type"].is_string() && v["message"].is_string(), "{action}: {status} {v}");
        }
    }
}
