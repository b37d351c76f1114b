//! The real daemon (`wasmstep serve`) on a real socket with real Wasm handlers: killed with
//! SIGKILL mid-execution it resumes every running execution at the next start without repeating
//! finished work; aws-cli and boto3 drive its API; `/metrics` is served.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{Daemon, tempdir};

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["type"] == kind).count()
}

#[test]
fn killed_daemon_resumes_running_executions_without_repeating_work() {
    let data = tempdir("resume");
    let daemon = Daemon::start_serving(&data, &["add"]);
    let definition = json!({"StartAt": "First", "States": {
        "First": {"Type": "Task", "Resource": "wasm:add", "ResultPath": "$.first", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 2, "Next": "Second"},
        "Second": {"Type": "Task", "Resource": "wasm:add",
                   "Parameters": {"a.$": "$.first.sum", "b": 100}, "End": true}
    }});
    let arn = daemon.call(
        "CreateStateMachine",
        json!({"name": "resume", "definition": definition.to_string(), "roleArn": "arn:aws:iam::123456789012:role/r"}),
    )["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let execs: Vec<String> = (0..5)
        .map(|i| {
            daemon.call(
                "StartExecution",
                json!({"stateMachineArn": arn, "name": format!("e{i}"), "input": json!({"a": i, "b": 1}).to_string()}),
            )["executionArn"]
                .as_str()
                .expect("executionArn")
                .to_string()
        })
        .collect();
    // Kill the daemon once every execution is waiting, its first Task done.
    let deadline = Instant::now() + Duration::from_secs(30);
    for e in &execs {
        while count(&daemon.history(e), "WaitStateEntered") == 0 {
            assert!(Instant::now() < deadline, "{e} never reached its Wait state");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    daemon.kill();

    let daemon = Daemon::start_serving(&data, &["add"]);
    for (i, e) in execs.iter().enumerate() {
        let d = loop {
            let d = daemon.call("DescribeExecution", json!({"executionArn": e}));
            if d["status"] != "RUNNING" {
                break d;
            }
            assert!(Instant::now() < deadline, "{e} did not finish after the restart");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        let output: Value = serde_json::from_str(d["output"].as_str().expect("output")).expect("JSON output");
        assert_eq!(output, json!({"sum": i as i64 + 1 + 100}));

        let h = daemon.history(e);
        assert_eq!(count(&h, "ExecutionStarted"), 1, "{h:#?}");
        assert_eq!(count(&h, "TaskSucceeded"), 2, "the first Task ran again: {h:#?}");
        assert_eq!(count(&h, "WaitStateEntered"), 1, "{h:#?}");
        let ids: Vec<u64> = h.iter().map(|e| e["id"].as_u64().expect("id")).collect();
        assert_eq!(
            ids,
            (1..=ids.len() as u64).collect::<Vec<_>>(),
            "event ids must continue"
        );
    }

    let metrics = ureq::get(&format!("{}/metrics", daemon.url))
        .call()
        .expect("/metrics")
        .body_mut()
        .read_to_string()
        .expect("metrics text");
    // This process resumed the five and saw each end once; nothing is left running.
    for line in [
        "wasmstep_executions_resumed_total{state_machine=\"resume\"} 5",
        "wasmstep_executions_succeeded_total{state_machine=\"resume\"} 5",
        "wasmstep_executions_running 0",
        "wasmstep_task_invocations_total{handler=\"add\",outcome=\"succeeded\"} 5",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing `{line}` in:\n{metrics}");
    }
    assert!(
        !metrics.contains("wasmstep_executions_started_total{state_machine=\"resume\"}"),
        "{metrics}"
    );
    drop(daemon);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn sigterm_exits_cleanly_and_the_next_start_resumes() {
    let data = tempdir("sigterm");
    let mut daemon = Daemon::start_serving(&data, &["add"]);
    let definition = json!({"StartAt": "Pause", "States": {
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Add"},
        "Add": {"Type": "Task", "Resource": "wasm:add", "End": true}
    }});
    let arn = daemon.call(
        "CreateStateMachine",
        json!({"name": "term", "definition": definition.to_string(), "roleArn": "arn:aws:iam::123456789012:role/r"}),
    )["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let exec = daemon.call(
        "StartExecution",
        json!({"stateMachineArn": arn, "input": "{\"a\": 1, \"b\": 1}"}),
    )["executionArn"]
        .as_str()
        .expect("executionArn")
        .to_string();
    let status = Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = daemon.child.wait().expect("wait for the daemon");
    assert!(exit.success(), "SIGTERM should exit cleanly: {exit:?}");

    let daemon = Daemon::start_serving(&data, &["add"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let d = loop {
        let d = daemon.call("DescribeExecution", json!({"executionArn": exec}));
        if d["status"] != "RUNNING" {
            break d;
        }
        assert!(Instant::now() < deadline, "{exec} did not resume");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    assert_eq!(d["output"], r#"{"sum":2}"#);
    drop(daemon);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn boto3_and_aws_cli_drive_the_api() {
    let data = tempdir("clients");
    let daemon = Daemon::start_serving(&data, &["add"]);

    daemon.run_client("boto3_client.py", &[]);

    // aws-cli, as a user types it.
    let aws = |args: &[&str]| daemon.aws("stepfunctions", args);
    let definition =
        json!({"StartAt": "Add", "States": {"Add": {"Type": "Task", "Resource": "wasm:add", "End": true}}});
    let created = aws(&[
        "create-state-machine",
        "--name",
        "cli-add",
        "--role-arn",
        "arn:aws:iam::123456789012:role/cli",
        "--definition",
        &definition.to_string(),
    ]);
    let arn = created["stateMachineArn"]
        .as_str()
        .expect("stateMachineArn")
        .to_string();
    let listed = aws(&["list-state-machines"]);
    assert!(
        listed["stateMachines"]
            .as_array()
            .expect("stateMachines")
            .iter()
            .any(|m| m["name"] == "cli-add")
    );
    let started = aws(&[
        "start-execution",
        "--state-machine-arn",
        &arn,
        "--input",
        r#"{"a": 2, "b": 3}"#,
    ]);
    let exec = started["executionArn"].as_str().expect("executionArn").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let d = loop {
        let d = aws(&["describe-execution", "--execution-arn", &exec]);
        if d["status"] != "RUNNING" {
            break d;
        }
        assert!(Instant::now() < deadline, "{exec} did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    assert_eq!(d["output"], r#"{"sum":5}"#);
    let h = aws(&["get-execution-history", "--execution-arn", &exec]);
    assert_eq!(h["events"][0]["type"], "ExecutionStarted");
    aws(&["delete-state-machine", "--state-machine-arn", &arn]);
    drop(daemon);
    let _ = std::fs::remove_dir_all(&data);
}

/// Operator errors at start-up: a clear message naming what and where, exit code 2.
#[test]
fn start_up_errors_name_the_problem() {
    let data = tempdir("operator");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let cases: [(&[&str], &str); 3] = [
        (&["--listen", &addr], "cannot listen on"),
        (&["--plugins", "/nonexistent/plugins"], "/nonexistent/plugins"),
        // A broken file in an existing directory is not one: it is logged and counted and the
        // rest serves (tests/reload.rs).
        (
            &["--definitions", "/nonexistent/defs", "--listen", "127.0.0.1:0"],
            "/nonexistent/defs",
        ),
    ];
    for (args, expect) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_wasmstep"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .expect("run serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
    drop(taken);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn an_express_definition_file_answers_start_sync_execution_with_aws_cli() {
    // `NAME.express.asl.json` in --definitions is an Express state machine: aws-cli's
    // start-sync-execution (with the host prefix off, as README shows) gets its result.
    let data = tempdir("express-file");
    let defs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/shipping-estimate");
    let daemon = Daemon::start_with(&data, &["--definitions".as_ref(), defs.as_os_str()]);
    let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:shipping-estimate";
    let d = daemon.aws("stepfunctions", &["describe-state-machine", "--state-machine-arn", arn]);
    assert_eq!(d["type"], "EXPRESS", "{d}");
    let r = daemon.aws(
        "stepfunctions",
        &[
            "start-sync-execution",
            "--state-machine-arn",
            arn,
            "--input",
            r#"{"weightKg": 2, "zone": "eu"}"#,
        ],
    );
    assert_eq!(r["status"], "SUCCEEDED", "{r}");
    assert_eq!(
        serde_json::from_str::<Value>(r["output"].as_str().unwrap()).unwrap(),
        json!({"zone": "eu", "cost": 12})
    );
}
