//! Execution status events against the real daemon: a webhook on 127.0.0.1 gets one event per
//! status change in EventBridge's exact shape; with the webhook down while executions run and
//! the daemon killed with SIGKILL in between, no event is lost once it is back and none comes
//! twice with different ids; a `state_machine` target starts its workflow with the event; and
//! `GET /events` streams the same events as server-sent events, resuming by `Last-Event-ID`.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::hook::Hook;
use common::{Daemon, tempdir};
use serde_json::{Value, json};

#[test]
fn a_webhook_down_across_a_kill_9_gets_every_event_once_by_id_in_eventbridge_shape() {
    let data = tempdir("notify-webhook");
    // A port for the webhook, closed for now: the target is down.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = data.join("wasmstep.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[notify]]
url = "http://127.0.0.1:{port}/hook"
state_machines = ["orders"]

[[notify]]
state_machine = "audit"
statuses = ["FAILED"]
"#
        ),
    )
    .unwrap();
    let args = ["--config".as_ref(), config.as_os_str()];
    let daemon = Daemon::start_with(&data, &args);
    let orders = daemon.create_machine(
        "orders",
        &json!({"StartAt": "Check", "States": {"Check": {"Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "Done"}], "Default": "Bad"},
            "Done": {"Type": "Pass", "Result": {"shipped": true}, "End": true},
            "Bad": {"Type": "Fail", "Error": "OrderRejected", "Cause": "not ok"}}}),
    );
    let audit = daemon.create_machine(
        "audit",
        &json!({"StartAt": "Log", "States": {"Log": {"Type": "Pass", "End": true}}}),
    );
    let ok = daemon.start_execution(&orders, &json!({"ok": true}));
    let bad = daemon.start_execution(&orders, &json!({"ok": false}));
    daemon.wait_done(&ok, Duration::from_secs(10));
    daemon.wait_done(&bad, Duration::from_secs(10));
    // Killed while the webhook is still down: the four events are only in the outbox.
    std::thread::sleep(Duration::from_secs(1));
    daemon.kill();
    let daemon = Daemon::start_with(&data, &args);
    let third = daemon.start_execution(&orders, &json!({"ok": true}));
    daemon.wait_done(&third, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));
    // The webhook comes up.
    let hook = Hook::serve(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let t0 = Instant::now();
    let wanted: HashSet<(String, String)> = [
        (ok.clone(), "RUNNING"),
        (ok.clone(), "SUCCEEDED"),
        (bad.clone(), "RUNNING"),
        (bad.clone(), "FAILED"),
        (third.clone(), "RUNNING"),
        (third.clone(), "SUCCEEDED"),
    ]
    .into_iter()
    .map(|(a, s)| (a, s.to_string()))
    .collect();
    let key = |e: &Value| {
        (
            e["detail"]["executionArn"].as_str().unwrap_or_default().to_string(),
            e["detail"]["status"].as_str().unwrap_or_default().to_string(),
        )
    };
    loop {
        let got: HashSet<(String, String)> = hook.bodies().iter().map(key).collect();
        if got == wanted {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "after 60 s the webhook has {got:?}, not {wanted:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let bodies = hook.bodies();
    // Sent again after the restart it may be, but always with the same id.
    let mut ids: HashMap<(String, String), String> = HashMap::new();
    for b in &bodies {
        let id = b["id"].as_str().unwrap().to_string();
        if let Some(prev) = ids.insert(key(b), id.clone()) {
            assert_eq!(prev, id, "the same status change came with two ids");
        }
    }
    assert_eq!(ids.len(), 6);
    // Only the `orders` machine's events (the filter), never `audit`'s.
    assert!(
        bodies.iter().all(|b| b["detail"]["stateMachineArn"] == orders),
        "{bodies:#?}"
    );

    // EventBridge's shape, member for member.
    let failed = bodies
        .iter()
        .find(|b| key(b) == (bad.clone(), "FAILED".into()))
        .unwrap();
    let mut members: Vec<&str> = failed.as_object().unwrap().keys().map(String::as_str).collect();
    members.sort();
    assert_eq!(
        members,
        [
            "account",
            "detail",
            "detail-type",
            "id",
            "region",
            "resources",
            "source",
            "time",
            "version"
        ]
    );
    assert_eq!(failed["detail-type"], "Step Functions Execution Status Change");
    assert_eq!(failed["source"], "aws.states");
    assert_eq!(failed["version"], "0");
    assert_eq!(failed["resources"], json!([bad]));
    let d = &failed["detail"];
    assert_eq!(
        (d["error"].as_str(), d["cause"].as_str()),
        (Some("OrderRejected"), Some("not ok"))
    );
    assert_eq!(d["input"], "{\"ok\":false}");
    assert!(
        d["startDate"].is_i64() && d["stopDate"].is_i64() && d["output"].is_null(),
        "{d}"
    );
    let succeeded = bodies
        .iter()
        .find(|b| key(b) == (ok.clone(), "SUCCEEDED".into()))
        .unwrap();
    assert_eq!(succeeded["detail"]["output"], "{\"shipped\":true}");
    assert!(chrono::DateTime::parse_from_rfc3339(failed["time"].as_str().unwrap()).is_ok());

    // The state_machine target: one audit execution for the one FAILED event, named by its id.
    let audits = daemon.call("ListExecutions", json!({"stateMachineArn": audit}))["executions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(audits.len(), 1, "{audits:#?}");
    assert_eq!(audits[0]["name"], failed["id"]);
    let a = daemon.wait_done(audits[0]["executionArn"].as_str().unwrap(), Duration::from_secs(10));
    let input: Value = serde_json::from_str(a["input"].as_str().unwrap()).unwrap();
    assert_eq!(input["detail"]["executionArn"], json!(bad));
    // The restarted daemon tried while the webhook was down, then delivered each event once.
    let target = format!("url:http://127.0.0.1:{port}/hook");
    assert!(daemon.metric(&format!("wasmstep_status_event_failures_total{{target=\"{target}\"}}")) >= 1.0);
    assert_eq!(
        daemon.metric(&format!(
            "wasmstep_status_events_delivered_total{{target=\"{target}\"}}"
        )),
        6.0
    );
    assert_eq!(bodies.len(), 6, "{bodies:#?}");
}

/// Reads server-sent events from `GET /events` until `n` have come: (id, data).
fn read_sse(url: &str, last_id: Option<&str>, n: usize) -> Vec<(String, Value)> {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let resume = last_id.map(|i| format!("last-event-id: {i}\r\n")).unwrap_or_default();
    write!(
        s,
        "GET /events?status=SUCCEEDED HTTP/1.1\r\nhost: {addr}\r\n{resume}\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(s);
    let mut out = Vec::new();
    let (mut id, mut data) = (String::new(), String::new());
    while out.len() < n {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        let line = line.trim_end();
        if let Some(v) = line.strip_prefix("id: ").or_else(|| line.strip_prefix("id:")) {
            id = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:")) {
            data = v.to_string();
        } else if line.is_empty() && !data.is_empty() {
            out.push((id.clone(), serde_json::from_str(&data).unwrap()));
            data.clear();
        }
    }
    out
}

#[test]
fn get_events_streams_status_changes_and_resumes_from_the_last_event_id() {
    let data = tempdir("notify-sse");
    let daemon = Daemon::start_with(&data, &[]);
    let m = daemon.create_machine(
        "quick",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    );
    let url = daemon.url.clone();
    let reader = std::thread::spawn(move || read_sse(&url, None, 2));
    // Let the stream open before the executions run.
    std::thread::sleep(Duration::from_millis(500));
    let first = daemon.start_execution(&m, &json!({"n": 1}));
    let second = daemon.start_execution(&m, &json!({"n": 2}));
    let third = daemon.start_execution(&m, &json!({"n": 3}));
    for e in [&first, &second, &third] {
        daemon.wait_done(e, Duration::from_secs(10));
    }
    let got = reader.join().unwrap();
    let arns: Vec<&str> = got
        .iter()
        .map(|(_, v)| v["detail"]["executionArn"].as_str().unwrap())
        .collect();
    assert_eq!(arns, [first.as_str(), second.as_str()]);
    assert!(got.iter().all(|(_, v)| v["detail"]["status"] == "SUCCEEDED"));
    // Reconnecting after the second resumes with the third.
    let again = read_sse(&daemon.url, Some(&got[1].0), 1);
    assert_eq!(again[0].1["detail"]["executionArn"], json!(third));
}

#[test]
fn event_streams_are_bounded() {
    let data = tempdir("notify-sse-bounded");
    let daemon = Daemon::start_with(&data, &[]);
    let addr = daemon.url.trim_start_matches("http://").to_string();
    let open = |addr: &str| -> (TcpStream, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /events HTTP/1.1\r\nhost: {addr}\r\n\r\n").unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        (s, status)
    };
    let mut streams = Vec::new();
    for i in 0..64 {
        let (s, status) = open(&addr);
        assert!(status.contains(" 200 "), "stream {i}: {status}");
        streams.push(s);
    }
    let (_s, status) = open(&addr);
    assert!(status.contains(" 503 "), "the 65th stream: {status}");
    // The API still answers.
    assert!(daemon.call("ListStateMachines", json!({}))["stateMachines"].is_array());
}
