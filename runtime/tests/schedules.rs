//! Schedules (EventBridge Scheduler's API and expressions) against the daemon: boto3's
//! `scheduler` client and aws-cli manage them and a `rate(1 minute)` schedule starts an
//! execution each minute in real time (`clients/boto3_schedules.py`); a due time handled twice
//! (a crash between the start and its record) starts one execution; times missed while the
//! daemon was down run once (the latest), and a daemon killed with SIGKILL across a due time
//! starts exactly one execution for it after its restart.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use wasmstep::daemon::metrics::Metrics;
use wasmstep::daemon::service::Service;
use wasmstep::engine::task::{InvokeError, TaskCall, TaskInvoker};
use wasmstep::store::sqlite::SqliteStore;

use common::{Daemon, tempdir};

/// No handlers: the schedules here start Pass-only machines.
struct NoHandlers;

impl TaskInvoker for NoHandlers {
    fn invoke<'a>(&'a self, _call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(async { Err(InvokeError::NoSuchHandler) })
    }
}

const PASS: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One request through the router, without a socket: the status and the JSON body.
async fn send(router: &axum::Router, method: &str, uri: &str, headers: &[(&str, &str)], body: Value) -> (u16, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = router
        .clone()
        .oneshot(
            req.body(if body.is_null() {
                Body::empty()
            } else {
                Body::from(body.to_string())
            })
            .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn sfn(router: &axum::Router, action: &str, body: Value) -> Value {
    let (status, v) = send(
        router,
        "POST",
        "/",
        &[
            ("x-amz-target", &format!("AWSStepFunctions.{action}")),
            ("content-type", "application/x-amz-json-1.0"),
        ],
        body,
    )
    .await;
    assert_eq!(status, 200, "{action}: {v}");
    v
}

#[tokio::test]
async fn a_due_time_handled_twice_or_missed_many_times_starts_one_execution() {
    let dir = tempdir("schedules-once");
    let store = Arc::new(SqliteStore::open(&dir.join("wasmstep.db")).unwrap());
    let svc = Service::open(store, Arc::new(NoHandlers), Arc::new(Metrics::new()))
        .await
        .unwrap();
    let router = wasmstep::daemon::api::router(svc.clone());
    let machine = sfn(
        &router,
        "CreateStateMachine",
        json!({"name": "m", "definition": PASS, "roleArn": "arn:aws:iam::123456789012:role/r"}),
    )
    .await["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_string();
    let target = json!({"Arn": machine, "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": "{\"n\":1}"});
    // Every minute on the minute.
    for (name, state) in [("tick", "ENABLED"), ("tock", "ENABLED"), ("quiet", "DISABLED")] {
        let (status, v) = send(
            &router,
            "POST",
            &format!("/schedules/{name}"),
            &[("content-type", "application/json")],
            json!({"ScheduleExpression": "cron(* * * * ? *)", "Target": target, "FlexibleTimeWindow": {"Mode": "OFF"}, "State": state}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = send(&router, "GET", "/schedules/none?groupName=default", &[], Value::Null).await;
    assert_eq!((status, v["Message"].is_string()), (404, true), "{v}");

    // Due this minute: the round starts its execution, named after the schedule and the time.
    // (Not in the last seconds of a minute: the minute must not turn before the round.)
    if now() % 60.0 > 55.0 {
        tokio::time::sleep(Duration::from_secs_f64(60.5 - now() % 60.0)).await;
    }
    let minute = (now() / 60.0).floor() * 60.0;
    let due = minute;
    let set_due = |name: &'static str, to: f64| {
        let svc = svc.clone();
        async move {
            let rec = svc.store.schedule("default", name).await.unwrap().unwrap();
            svc.store.advance_schedule("default", name, rec.due.unwrap(), Some(to));
            svc.store.flush().await.unwrap();
        }
    };
    set_due("tick", due).await;
    set_due("quiet", due).await;
    svc.store.flush().await.unwrap();
    svc.schedule_round().await.unwrap();
    let list = |svc: Arc<Service>, machine: String| async move {
        let mut names: Vec<String> = svc
            .list_executions(&machine, None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        names
    };
    let stamp = chrono::DateTime::from_timestamp(due as i64, 0)
        .unwrap()
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    assert_eq!(list(svc.clone(), machine.clone()).await, [format!("tick-{stamp}")]);
    let after = svc
        .store
        .schedule("default", "tick")
        .await
        .unwrap()
        .unwrap()
        .due
        .unwrap();
    assert!(after > now(), "moved on to the next due time: {after}");

    // A crash after the start and before its record: the same due time is handled again and
    // starts nothing new.
    set_due("tick", due).await;
    svc.schedule_round().await.unwrap();
    assert_eq!(list(svc.clone(), machine.clone()).await.len(), 1);

    // Ten minutes down: the latest missed due time (this minute) runs once, the ten before it
    // are misses.
    set_due("tock", minute - 600.0).await;
    svc.schedule_round().await.unwrap();
    let names = list(svc.clone(), machine.clone()).await;
    assert_eq!(names.len(), 2, "{names:?}");
    let m = svc.metrics.render();
    let value = |series: &str| {
        m.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert_eq!(
        value("wasmstep_schedule_fires_total{group=\"default\",schedule=\"tick\"}"),
        1.0,
        "{m}"
    );
    assert_eq!(
        value("wasmstep_schedule_fires_total{group=\"default\",schedule=\"tock\"}"),
        1.0,
        "{m}"
    );
    // (Eleven if the minute turned during the test.)
    let misses = value("wasmstep_schedule_misses_total{group=\"default\",schedule=\"tock\"}");
    assert!(misses == 10.0 || misses == 11.0, "{m}");
    // The disabled schedule never started anything.
    assert!(names.iter().all(|n| !n.starts_with("quiet-")), "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn boto3_and_aws_cli_manage_schedules_that_fire_each_minute() {
    let data = tempdir("schedules-boto3");
    let daemon = Daemon::start_with(&data, &[]);
    let aws = |args: &[&str]| daemon.aws("scheduler", args);
    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:cli";
    let made = aws(&[
        "create-schedule",
        "--name",
        "from-cli",
        "--schedule-expression",
        "cron(30 7 ? * MON#1 *)",
        "--schedule-expression-timezone",
        "Asia/Tokyo",
        "--target",
        &json!({"Arn": machine, "RoleArn": "arn:aws:iam::123456789012:role/cli"}).to_string(),
        "--flexible-time-window",
        "Mode=OFF",
    ]);
    assert_eq!(
        made["ScheduleArn"],
        "arn:aws:scheduler:us-east-1:123456789012:schedule/default/from-cli"
    );
    let got = aws(&["get-schedule", "--name", "from-cli"]);
    assert_eq!(got["ScheduleExpressionTimezone"], "Asia/Tokyo", "{got}");
    assert_eq!(got["Target"]["Arn"], machine, "{got}");
    let listed = aws(&["list-schedules"]);
    assert_eq!(listed["Schedules"][0]["Name"], "from-cli", "{listed}");
    aws(&["delete-schedule", "--name", "from-cli"]);
    assert_eq!(aws(&["list-schedules"])["Schedules"], json!([]));

    daemon.run_client("boto3_schedules.py", &[]);
}

/// A Scheduler request to a real daemon.
fn scheduler(d: &Daemon, method: &str, path: &str, body: Value) -> Value {
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let url = format!("{}{path}", d.url);
    let res = match method {
        "POST" => agent.post(&url).send_json(&body),
        _ => agent.get(&url).call(),
    }
    .expect("scheduler request");
    assert_eq!(res.status().as_u16(), 200, "{method} {path}");
    res.into_body().read_json().unwrap_or(Value::Null)
}

#[test]
fn a_daemon_killed_across_a_due_time_starts_one_execution_for_it_after_restart() {
    let data = tempdir("schedules-crash");
    let daemon = Daemon::start_with(&data, &[]);
    let machine = daemon.create_machine("crash", &serde_json::from_str(PASS).unwrap());
    scheduler(
        &daemon,
        "POST",
        "/schedules/beat",
        json!({"ScheduleExpression": "rate(1 minute)", "FlexibleTimeWindow": {"Mode": "OFF"},
               "Target": {"Arn": machine, "RoleArn": "arn:aws:iam::123456789012:role/r"}}),
    );
    let made = Instant::now();
    // Down from 40 s to 75 s after creation: across the first due time (60 s).
    std::thread::sleep(Duration::from_secs(40));
    daemon.kill();
    std::thread::sleep(Duration::from_secs(75).saturating_sub(made.elapsed()));
    let daemon = Daemon::start_with(&data, &[]);
    let list = || -> Vec<Value> {
        daemon.call("ListExecutions", json!({"stateMachineArn": machine}))["executions"]
            .as_array()
            .unwrap()
            .clone()
    };
    let t0 = Instant::now();
    while list().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the missed due time never ran");
        std::thread::sleep(Duration::from_millis(200));
    }
    // It stays one, and the next due time (120 s) starts the second.
    while made.elapsed() < Duration::from_secs(115) {
        assert_eq!(list().len(), 1, "{:#?}", list());
        std::thread::sleep(Duration::from_millis(500));
    }
    let t0 = Instant::now();
    while list().len() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(15), "the next due time never ran");
        std::thread::sleep(Duration::from_millis(200));
    }
    let names: Vec<String> = list().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect();
    assert!(names.iter().all(|n| n.starts_with("beat-")), "{names:?}");
    assert_ne!(names[0], names[1]);
    let got = scheduler(&daemon, "GET", "/schedules/beat", Value::Null);
    assert_eq!(got["State"], "ENABLED", "{got}");
    assert_eq!(
        daemon.metric("wasmstep_schedule_misses_total{group=\"default\",schedule=\"beat\"}"),
        0.0
    );
}
