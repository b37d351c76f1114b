//! Tasks that wait on the world outside, against the real daemon: boto3 drives task tokens,
//! activities and nested executions as a user would (`clients/boto3_callbacks.py`), aws-cli
//! answers a token, and a daemon killed with SIGKILL while a Task waits on a token, while an
//! activity task is handed out, or while a `.sync` child runs, completes each once after its
//! restart, with no event recorded twice.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, python, tempdir};
use serde_json::{Value, json};

/// Waits for an event of `kind` in the execution's history.
fn wait_event(d: &Daemon, exec: &str, kind: &str) -> Value {
    let t0 = Instant::now();
    loop {
        if let Some(e) = d.history(exec).into_iter().find(|e| e["type"] == kind) {
            return e;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no {kind} in {exec}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every event once: ids 1..n in order, and no event type of the Task twice.
fn assert_once(history: &[Value], kinds: &[&str]) {
    let ids: Vec<u64> = history.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>(), "{history:#?}");
    for k in kinds {
        let n = history.iter().filter(|e| e["type"] == *k).count();
        assert_eq!(n, 1, "{k} recorded {n} times: {history:#?}");
    }
}

#[test]
fn boto3_drives_task_tokens_activities_and_nested_executions() {
    let data = tempdir("callbacks-boto3");
    let daemon = Daemon::start_serving(&data, &["identity"]);
    daemon.run_client("boto3_callbacks.py", &[]);
}

#[test]
fn a_token_wait_survives_kill_9_and_aws_cli_answers_it() {
    let data = tempdir("callbacks-token-crash");
    let daemon = Daemon::start_serving(&data, &["identity"]);
    let machine = daemon.create_machine(
        "approve",
        &json!({"StartAt": "Ask", "States": {
            "Ask": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": "identity", "Payload": {"token.$": "$$.Task.Token"}},
                    "TimeoutSeconds": 300, "ResultPath": "$.answer", "End": true}}}),
    );
    let exec = daemon.start_execution(&machine, &json!({"order": 7}));
    wait_event(&daemon, &exec, "TaskSubmitted");
    let scheduled = wait_event(&daemon, &exec, "TaskScheduled");
    let params: Value =
        serde_json::from_str(scheduled["taskScheduledEventDetails"]["parameters"].as_str().unwrap()).unwrap();
    let token = params["Payload"]["token"]
        .as_str()
        .expect("the token in the payload")
        .to_string();
    daemon.kill();

    let daemon = Daemon::start_serving(&data, &["identity"]);
    assert_eq!(
        daemon.call("DescribeExecution", json!({"executionArn": exec}))["status"],
        "RUNNING"
    );
    let out = Command::new(python())
        .args([
            "-m",
            "awscli",
            "stepfunctions",
            "send-task-success",
            "--task-token",
            &token,
        ])
        .args([
            "--task-output",
            r#"{"approved": true}"#,
            "--endpoint-url",
            &daemon.url,
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("aws-cli");
    assert!(
        out.status.success(),
        "aws-cli: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = daemon.wait_done(&exec, Duration::from_secs(30));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let output: Value = serde_json::from_str(done["output"].as_str().unwrap()).unwrap();
    assert_eq!(output, json!({"order": 7, "answer": {"approved": true}}));
    assert_once(
        &daemon.history(&exec),
        &[
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded",
            "ExecutionSucceeded",
        ],
    );
    // Single-use, after the restart too.
    let again = daemon
        .try_call("SendTaskSuccess", json!({"taskToken": token, "output": "{}"}))
        .unwrap_err();
    assert_eq!(again["__type"], "TaskTimedOut", "{again}");
}

#[test]
fn an_activity_task_handed_out_before_kill_9_is_answered_after_the_restart() {
    let data = tempdir("callbacks-activity-crash");
    let daemon = Daemon::start_serving(&data, &["identity"]);
    let activity = daemon.call("CreateActivity", json!({"name": "review"}))["activityArn"]
        .as_str()
        .unwrap()
        .to_string();
    let machine = daemon.create_machine(
        "reviewed",
        &json!({"StartAt": "Review", "States": {
            "Review": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 120, "End": true}}}),
    );
    let exec = daemon.start_execution(&machine, &json!({"doc": "a"}));
    let task = daemon.call(
        "GetActivityTask",
        json!({"activityArn": activity, "workerName": "reviewer-1"}),
    );
    assert_eq!(task["input"], r#"{"doc":"a"}"#, "{task}");
    let token = task["taskToken"].as_str().unwrap().to_string();
    wait_event(&daemon, &exec, "ActivityStarted");
    daemon.kill();

    let daemon = Daemon::start_serving(&data, &["identity"]);
    daemon.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": r#"{"verdict":"ok"}"#}),
    );
    let done = daemon.wait_done(&exec, Duration::from_secs(30));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"], r#"{"verdict":"ok"}"#);
    let history = daemon.history(&exec);
    assert_once(
        &history,
        &[
            "ActivityScheduled",
            "ActivityStarted",
            "ActivitySucceeded",
            "ExecutionSucceeded",
        ],
    );
    let started = history.iter().find(|e| e["type"] == "ActivityStarted").unwrap();
    assert_eq!(started["activityStartedEventDetails"]["workerName"], "reviewer-1");
    // Single-use after the restart too.
    let again = daemon
        .try_call("SendTaskSuccess", json!({"taskToken": token, "output": "{}"}))
        .unwrap_err();
    assert_eq!(again["__type"], "TaskTimedOut", "{again}");
}

#[test]
fn a_sync_child_running_at_kill_9_is_started_once_and_answers_its_parent() {
    let data = tempdir("callbacks-child-crash");
    let daemon = Daemon::start_serving(&data, &["identity"]);
    let child = daemon.create_machine(
        "slow-double",
        &json!({"StartAt": "Sleep", "States": {
            "Sleep": {"Type": "Wait", "Seconds": 3, "Next": "Double"},
            "Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, $.n)"}, "End": true}}}),
    );
    let parent = daemon.create_machine(
        "parent",
        &json!({"StartAt": "Child", "States": {
            "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                      "Parameters": {"StateMachineArn": child, "Input": {"n.$": "$.n"}},
                      "OutputPath": "$.Output", "End": true}}}),
    );
    let exec = daemon.start_execution(&parent, &json!({"n": 21}));
    wait_event(&daemon, &exec, "TaskSubmitted");
    daemon.kill();

    let daemon = Daemon::start_serving(&data, &["identity"]);
    let done = daemon.wait_done(&exec, Duration::from_secs(30));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"], r#"{"n":42}"#);
    assert_once(
        &daemon.history(&exec),
        &[
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded",
            "ExecutionSucceeded",
        ],
    );
    let children = daemon.call("ListExecutions", json!({"stateMachineArn": child}))["executions"].clone();
    assert_eq!(children.as_array().map(Vec::len), Some(1), "started once: {children}");
    assert_eq!(children[0]["status"], "SUCCEEDED");
}

#[test]
fn express_machines_refuse_what_waits() {
    let data = tempdir("callbacks-express");
    let daemon = Daemon::start_serving(&data, &["identity"]);
    for resource in [
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "arn:aws:states:::states:startExecution.sync:2",
        "arn:aws:states:us-east-1:123456789012:activity:review",
    ] {
        let e = daemon
            .try_call(
                "CreateStateMachine",
                json!({"name": "fast", "type": "EXPRESS", "roleArn": "arn:aws:iam::123456789012:role/t",
                       "definition": json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": true}}}).to_string()}),
            )
            .unwrap_err();
        assert_eq!(e["__type"], "InvalidDefinition", "{resource}: {e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("Express state machine does not support"),
            "{e}"
        );
    }
}

/// `@aws-sdk/client-sfn` as the test command installs it (`$WASMSTEP_JS_SDK`: its
/// node_modules), for the JavaScript worker.
fn js_sdk() -> PathBuf {
    let dir = std::env::var_os("WASMSTEP_JS_SDK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/wasmstep/tools/sdk-js/node_modules")
        });
    assert!(
        dir.join("@aws-sdk/client-sfn").is_dir(),
        "no @aws-sdk/client-sfn in {}: run the test command (bash .ci/test), which installs it",
        dir.display()
    );
    dir
}

#[test]
fn the_review_queue_example_runs_with_a_python_and_a_javascript_worker() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/review-queue");
    let data = tempdir("callbacks-review-queue");
    let plugins = common::plugins_dir();
    let daemon = Daemon::start_with(
        &data,
        &[
            "--plugins".as_ref(),
            plugins.as_os_str(),
            "--definitions".as_ref(),
            example.as_os_str(),
        ],
    );
    // The JavaScript worker beside the SDK's node_modules (ES modules resolve from their file).
    let js = data.join("js-worker");
    std::fs::create_dir_all(&js).unwrap();
    std::fs::copy(example.join("worker.mjs"), js.join("worker.mjs")).unwrap();
    std::os::unix::fs::symlink(js_sdk(), js.join("node_modules")).unwrap();
    let documents: Vec<Value> = (0..8)
        .map(|i| json!({"id": format!("doc-{i}"), "text": if i == 5 { "TODO write".to_string() } else { "word ".repeat(i + 1) }}))
        .collect();
    // The activity exists before any document is scheduled (a Task for a missing one fails).
    daemon.call("CreateActivity", json!({"name": "review"}));
    // Four reviews each: both workers take part.
    let args = |name: &str| {
        vec![
            "--endpoint".to_string(),
            daemon.url.clone(),
            "--name".into(),
            name.into(),
            "--max-tasks".into(),
            "4".into(),
            "--work-ms".into(),
            "200".into(),
        ]
    };
    let mut workers = [
        Command::new(python())
            .arg(example.join("worker.py"))
            .args(args("py-worker"))
            .spawn()
            .expect("python worker"),
        Command::new("node")
            .arg(js.join("worker.mjs"))
            .args(args("js-worker"))
            .spawn()
            .expect("node worker"),
    ];
    let exec = daemon.start_execution(
        "arn:aws:states:us-east-1:123456789012:stateMachine:review-queue",
        &json!({"documents": documents}),
    );
    let done = daemon.wait_done(&exec, Duration::from_secs(120));
    for w in &mut workers {
        let t0 = Instant::now();
        while w.try_wait().expect("worker").is_none() && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = w.kill();
        assert!(
            w.wait().expect("worker").success(),
            "a worker failed or did not stop after its 4 tasks"
        );
    }
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let out: Vec<Value> = serde_json::from_str(done["output"].as_str().unwrap()).unwrap();
    assert_eq!(out.len(), 8);
    for (i, r) in out.iter().enumerate() {
        assert_eq!(r["id"], format!("doc-{i}"), "{r}");
        if i == 5 {
            assert_eq!(r["verdict"], "rejected", "{r}");
            assert_eq!(r["reason"], "doc-5 still says TODO");
        } else {
            assert_eq!(
                (r["verdict"].as_str(), r["words"].as_u64()),
                (Some("approved"), Some(i as u64 + 1)),
                "{r}"
            );
        }
    }
    let reviewers: std::collections::HashSet<&str> = out.iter().filter_map(|r| r["reviewer"].as_str()).collect();
    assert!(
        reviewers.contains("py-worker") && reviewers.contains("js-worker"),
        "both workers reviewed: {reviewers:?}"
    );
}

#[test]
fn the_one_shot_cli_says_a_waiting_task_needs_the_daemon() {
    let dir = tempdir("callbacks-cli");
    for (resource, says) in [
        (
            "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "needs the daemon (wasmstep serve)",
        ),
        (
            "arn:aws:states:us-east-1:123456789012:activity:review",
            "needs the daemon (wasmstep serve)",
        ),
        (
            "arn:aws:states:::states:startExecution.sync:2",
            "with --definitions DIR",
        ),
    ] {
        let def = dir.join("waits.asl.json");
        let params = json!({"FunctionName": "identity", "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:x"});
        std::fs::write(
            &def,
            json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "Parameters": params, "End": true}}})
                .to_string(),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_wasmstep"))
            .arg("run")
            .arg(&def)
            .arg("--plugins")
            .arg(common::plugins_dir())
            .output()
            .expect("run");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{resource}: {text}");
        assert!(text.contains(says), "{resource}: {text}");
    }
}

#[test]
fn the_one_shot_cli_runs_nested_executions_from_definitions() {
    let dir = tempdir("callbacks-cli-nested");
    let write = |name: &str, v: Value| std::fs::write(dir.join(format!("{name}.asl.json")), v.to_string()).unwrap();
    write(
        "double",
        json!({"StartAt": "D", "States": {"D": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, $.n)"}, "End": true}}}),
    );
    write(
        "broken",
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "ChildBroke", "Cause": "no"}}}),
    );
    let arn = |m: &str| format!("arn:aws:states:us-east-1:123456789012:stateMachine:{m}");
    write(
        "parent",
        json!({"StartAt": "Each", "States": {
            "Each": {"Type": "Map", "ItemsPath": "$.numbers", "ResultPath": "$.doubled",
                     "ItemProcessor": {"StartAt": "Child", "States": {"Child": {
                         "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                         "Parameters": {"StateMachineArn": arn("double"), "Input": {"n.$": "$"}},
                         "OutputPath": "$.Output.n", "End": true}}},
                     "Next": "Broken"},
            "Broken": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync",
                       "Parameters": {"StateMachineArn": arn("broken")},
                       "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.caught", "Next": "Done"}],
                       "End": true},
            "Done": {"Type": "Pass", "End": true}}}),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_wasmstep"))
        .arg("run")
        .arg(dir.join("parent.asl.json"))
        .args(["--input", r#"{"numbers": [1, 2, 3]}"#, "--definitions"])
        .arg(&dir)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap();
    assert_eq!(
        result["status"],
        "SUCCEEDED",
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(result["output"]["doubled"], json!([2, 4, 6]));
    assert_eq!(result["output"]["caught"]["Error"], "States.TaskFailed");
    let cause: Value = serde_json::from_str(result["output"]["caught"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(
        (cause["Status"].as_str(), cause["Error"].as_str()),
        (Some("FAILED"), Some("ChildBroke"))
    );
}
