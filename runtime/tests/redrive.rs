//! RedriveExecution against the real daemon: every rule and answer with boto3
//! (`clients/boto3_redrive.py`: a Map failing mid-way reruns only its failed and unstarted
//! items, counted on the handler's calls; a Parallel only its failed branch; a stopped
//! execution continues; the errors) on SQLite and on PostgreSQL, and a redriven execution that
//! survives `kill -9`.

mod common;

use std::time::Duration;

use common::{Daemon, plugins_with, serve_handlers, tempdir};
use serde_json::{Value, json};

#[test]
fn boto3_redrives_what_did_not_succeed() {
    serve_handlers("redrive-boto3", &["work"], None).run_client("boto3_redrive.py", &[]);
}

#[test]
fn boto3_redrives_on_a_postgresql_store() {
    let store = common::pg::database("redrive");
    serve_handlers("redrive-pg", &["work"], Some(&store)).run_client("boto3_redrive.py", &[]);
}

fn types(history: &Value) -> Vec<String> {
    history["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_redriven_execution_survives_kill_9() {
    let data = tempdir("redrive-restart");
    let plugins = plugins_with(&tempdir("redrive-restart-plugins"), &["work"]);
    let args = ["--plugins".as_ref(), plugins.as_os_str()];
    let daemon = Daemon::start_with(&data, &args);
    let machine = daemon.create_machine(
        "fix-then-wait",
        &json!({
            "StartAt": "Work",
            "States": {
                "Work": {"Type": "Task", "Resource": "wasm:work",
                         "Parameters": {"value": 1, "fail_until_redrive": 1}, "Next": "Hold"},
                "Hold": {"Type": "Wait", "Seconds": 2, "Next": "Done"},
                "Done": {"Type": "Pass", "End": true}
            }
        }),
    );
    let exec = daemon.start_execution(&machine, &json!({}));
    let failed = daemon.wait_done(&exec, Duration::from_secs(10));
    assert_eq!(failed["status"], "FAILED", "{failed}");
    daemon.call("RedriveExecution", json!({"executionArn": exec}));
    // Killed while the redriven run waits, after its handler call succeeded.
    let t0 = std::time::Instant::now();
    loop {
        let h = daemon.call("GetExecutionHistory", json!({"executionArn": exec}));
        if types(&h).iter().any(|t| t == "WaitStateEntered") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the redrive never reached the Wait"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.kill();

    let daemon = Daemon::start_with(&data, &args);
    let done = daemon.wait_done(&exec, Duration::from_secs(15));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["redriveCount"], 1);
    assert_eq!(
        serde_json::from_str::<Value>(done["output"].as_str().unwrap()).unwrap()["value"],
        2
    );
    let t = types(&daemon.call("GetExecutionHistory", json!({"executionArn": exec})));
    let count = |name: &str| t.iter().filter(|x| *x == name).count();
    assert_eq!(
        (
            count("ExecutionStarted"),
            count("ExecutionFailed"),
            count("ExecutionRedriven"),
            count("ExecutionSucceeded")
        ),
        (1, 1, 1, 1),
        "{t:?}"
    );
    // The handler failed once, then succeeded once: not called again after the restart.
    assert_eq!((count("TaskFailed"), count("TaskSucceeded")), (1, 1), "{t:?}");
    assert_eq!(count("WaitStateEntered"), 1, "{t:?}");
}
