//! Several daemons on one PostgreSQL database (`--store postgres://…`), as real processes: any
//! node answers for any execution, a killed node's executions are taken over when its leases
//! expire (only its calls in flight are made again, and say so), a node stopped with SIGTERM
//! hands its executions over with no call repeated, and the nodes' metrics add up.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::Daemon;
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

/// Tasks, a Wait, a Parallel and a Map, every Task on the `work` handler (which says whether
/// a call was made again).
fn definition(sleep_ms: u64) -> String {
    let task = |value: &str, next: Option<&str>, result: &str| {
        let mut t = json!({
            "Type": "Task",
            "Resource": "wasm:work",
            "Parameters": {"value.$": value, "sleep_ms": sleep_ms},
            "ResultPath": result,
        });
        match next {
            Some(n) => t["Next"] = json!(n),
            None => t["End"] = json!(true),
        }
        t
    };
    json!({
        "StartAt": "First",
        "States": {
            "First": task("$.v", Some("Pause"), "$.first"),
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Both"},
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Left", "States": {"Left": task("$.first.value", None, "$.left")}},
                    {"StartAt": "Right", "States": {"Right": task("$.v", None, "$.right")}}
                ],
                "ResultPath": "$.both",
                "Next": "Each"
            },
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "Item", "States": {"Item": task("$", None, "$")}},
                "ResultPath": "$.each",
                "End": true
            }
        }
    })
    .to_string()
}

/// What an execution with input `{"v": v, "items": [v, v+10]}` ends with.
fn check_output(out: &Value, v: i64) -> Result<(), String> {
    let value = |p: &Value| p["value"].as_i64();
    let ok = value(&out["first"]) == Some(v + 1)
        && value(&out["both"][0]["left"]) == Some(v + 2)
        && value(&out["both"][1]["right"]) == Some(v + 1)
        && value(&out["each"][0]) == Some(v + 1)
        && value(&out["each"][1]) == Some(v + 11);
    if ok { Ok(()) } else { Err(format!("v={v}: {out}")) }
}

/// Handler calls in an execution's output that were made again.
fn redelivered(out: &Value) -> usize {
    [
        &out["first"],
        &out["both"][0]["left"],
        &out["both"][1]["right"],
        &out["each"][0],
        &out["each"][1],
    ]
    .iter()
    .filter(|r| r["redelivered"] == true)
    .count()
}

struct Node {
    id: String,
    data: PathBuf,
}

impl Node {
    fn start(&self, store: &str) -> Daemon {
        self.start_with(store, &[])
    }

    /// With more flags (`--config FILE`).
    fn start_with(&self, store: &str, more: &[&std::ffi::OsStr]) -> Daemon {
        let plugins = common::plugins_dir();
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--plugins".as_ref(),
            plugins.as_os_str(),
            "--store".as_ref(),
            store.as_ref(),
            "--node-id".as_ref(),
            self.id.as_ref(),
            "--lease".as_ref(),
            "2s".as_ref(),
        ];
        args.extend_from_slice(more);
        Daemon::start_with(&self.data, &args)
    }
}

fn nodes(name: &str, n: usize) -> Vec<Node> {
    (0..n)
        .map(|i| Node {
            id: format!("{name}-{i}"),
            data: common::tempdir(&format!("{name}-{i}")),
        })
        .collect()
}

/// SIGTERM, and wait for the exit (a hand-over finishes the calls in flight first).
fn stop(mut d: Daemon) {
    d.signal("TERM");
    let t0 = Instant::now();
    loop {
        if let Some(status) = d.child.try_wait().expect("wait") {
            assert!(status.success(), "a stopped daemon exits cleanly: {status:?}");
            return;
        }
        assert!(t0.elapsed() < MINUTE, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn create(d: &Daemon, name: &str, sleep_ms: u64) -> String {
    d.call(
        "CreateStateMachine",
        json!({"name": name, "definition": definition(sleep_ms), "roleArn": "arn:aws:iam::123456789012:role/r"}),
    )["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string()
}

fn start(d: &Daemon, machine: &str, v: i64) -> String {
    d.call(
        "StartExecution",
        json!({"stateMachineArn": machine, "name": format!("e{v}"), "input": json!({"v": v, "items": [v, v + 10]}).to_string()}),
    )["executionArn"]
        .as_str()
        .expect("arn")
        .to_string()
}

fn wait_all(d: &Daemon, executions: &[(i64, String)], limit: Duration) -> Vec<(i64, Value)> {
    executions.iter().map(|(v, e)| (*v, d.wait_done(e, limit))).collect()
}

/// Contiguous ids from 1, none twice.
fn check_history(d: &Daemon, exec: &str) {
    let events = d.history(exec);
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().expect("id")).collect();
    let want: Vec<u64> = (1..=ids.len() as u64).collect();
    assert_eq!(ids, want, "{exec}: ids");
    assert_eq!(events.last().expect("events")["type"], "ExecutionSucceeded", "{exec}");
    let started = events.iter().filter(|e| e["type"] == "ExecutionStarted").count();
    assert_eq!(started, 1, "{exec}");
}

#[test]
fn a_cluster_survives_a_killed_node_and_a_restarted_one() {
    let store = common::pg::database("cluster");
    let nodes = nodes("cluster", 3);
    let mut daemons: Vec<Option<Daemon>> = nodes.iter().map(|n| Some(n.start(&store))).collect();
    let machine = create(daemons[0].as_ref().expect("a"), "cluster", 150);
    // Round-robin through the three: each starts what it is asked to (and the state machine,
    // created on the first, is known on every node).
    let mut executions = Vec::new();
    for v in 0..300i64 {
        let d = daemons[v as usize % 3].as_ref().expect("up");
        executions.push((v, start(d, &machine, v)));
    }
    // Any node answers for any execution.
    let other = daemons[1]
        .as_ref()
        .expect("b")
        .call("DescribeExecution", json!({"executionArn": executions[0].1}));
    assert_eq!(other["name"], "e0");

    // Mid-run: node 2 is killed, with whatever it had in flight.
    std::thread::sleep(Duration::from_millis(800));
    let killed = daemons[2].take().expect("c");
    let owned_at_kill = killed.metric("wasmstep_node_executions_owned{node=\"cluster-2\"}");
    let started_on_killed = killed.metric("wasmstep_executions_started_total{state_machine=\"cluster\"}");
    killed.kill();
    // Node 1 is stopped (its executions handed over) and started again.
    let b = daemons[1].take().expect("b");
    let started_on_b = b.metric("wasmstep_executions_started_total{state_machine=\"cluster\"}");
    stop(b);
    daemons[1] = Some(nodes[1].start(&store));
    let (a, b) = (daemons[0].as_ref().expect("a"), daemons[1].as_ref().expect("b"));
    let started_on_a = a.metric("wasmstep_executions_started_total{state_machine=\"cluster\"}");
    assert_eq!(
        started_on_a + started_on_b + started_on_killed,
        300.0,
        "every start counted once"
    );

    let t0 = Instant::now();
    let done = wait_all(b, &executions, 2 * MINUTE);
    eprintln!("CLUSTER: 300 executions done {:?} after the kill", t0.elapsed());
    let mut again = 0;
    for (v, d) in &done {
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        let out: Value = serde_json::from_str(d["output"].as_str().expect("output")).expect("JSON");
        check_output(&out, *v).unwrap_or_else(|e| panic!("{e}"));
        again += redelivered(&out);
    }
    for (_, e) in executions.iter().step_by(7) {
        check_history(a, e);
    }
    // Only calls in flight on the killed node are made again: at most one per Task the
    // executions it ran could have had in flight at once (the Parallel's or the Map's two).
    eprintln!("CLUSTER: {again} calls made again; the killed node ran {owned_at_kill} executions");
    assert!(
        again as f64 <= 2.0 * owned_at_kill,
        "{again} calls made again, the killed node ran {owned_at_kill}"
    );
    // The survivors took over, and now hold nothing.
    let claimed = a.metric("wasmstep_node_executions_claimed_total{node=\"cluster-0\"}")
        + b.metric("wasmstep_node_executions_claimed_total{node=\"cluster-1\"}");
    assert!(claimed >= 1.0, "the survivors claimed the others' executions");
    for (d, id) in [(a, "cluster-0"), (b, "cluster-1")] {
        assert_eq!(
            d.metric(&format!("wasmstep_node_executions_owned{{node=\"{id}\"}}")),
            0.0
        );
        assert_eq!(d.metric(&format!("wasmstep_node_leases_held{{node=\"{id}\"}}")), 0.0);
    }
}

#[test]
fn a_stopped_node_hands_over_with_no_call_made_again() {
    let store = common::pg::database("handover");
    let nodes = nodes("handover", 2);
    let a = nodes[0].start(&store);
    let b = nodes[1].start(&store);
    // Slow calls, so that many are in flight on `b` when it stops.
    let machine = create(&a, "handover", 400);
    let executions: Vec<(i64, String)> = (0..40i64).map(|v| (v, start(&b, &machine, v))).collect();
    std::thread::sleep(Duration::from_millis(250));
    let in_flight = b.metric("wasmstep_node_executions_owned{node=\"handover-1\"}");
    assert!(in_flight > 0.0, "executions run on b");
    let t0 = Instant::now();
    stop(b);
    eprintln!("HANDOVER: {in_flight} executions handed over in {:?}", t0.elapsed());
    // `a` claims them at once (a hint), not after a lease: all end well within a lease or two
    // of work.
    let done = wait_all(&a, &executions, MINUTE);
    for (v, d) in &done {
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        let out: Value = serde_json::from_str(d["output"].as_str().expect("output")).expect("JSON");
        check_output(&out, *v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(redelivered(&out), 0, "no call is made twice after a hand-over: {out}");
        check_history(&a, d["executionArn"].as_str().expect("arn"));
    }
    assert!(a.metric("wasmstep_node_executions_claimed_total{node=\"handover-0\"}") >= in_flight);
    // StopExecution on one node for an execution another runs.
    let c = nodes[1].start(&store);
    let long = start(&c, &machine, 1000);
    std::thread::sleep(Duration::from_millis(100));
    a.call(
        "StopExecution",
        json!({"executionArn": long, "error": "Halt", "cause": "from a"}),
    );
    let d = c.wait_done(&long, MINUTE);
    assert_eq!(
        (d["status"].as_str(), d["error"].as_str()),
        (Some("ABORTED"), Some("Halt"))
    );
    let events = c.history(&long);
    assert_eq!(events.last().expect("events")["type"], "ExecutionAborted");
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().expect("id")).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    // It stays stopped: the node that ran it noticed, and wrote nothing after.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(c.history(&long).len(), events.len());

    // The catalog is one: a version published on one node starts executions on another, and
    // once deleted there, it starts none anywhere.
    let version = a.call("PublishStateMachineVersion", json!({"stateMachineArn": machine}))["stateMachineVersionArn"]
        .as_str()
        .expect("version ARN")
        .to_string();
    let input = json!({"v": 1, "items": []}).to_string();
    let on_c = c.call("StartExecution", json!({"stateMachineArn": version, "input": input}));
    assert!(on_c["executionArn"].as_str().is_some(), "{on_c}");
    a.call("DeleteStateMachineVersion", json!({"stateMachineVersionArn": version}));
    let t0 = Instant::now();
    loop {
        match c.try_call("StartExecution", json!({"stateMachineArn": version, "input": input})) {
            Err(e) if e["__type"] == "StateMachineDoesNotExist" => break,
            r => assert!(
                t0.elapsed() < Duration::from_secs(5),
                "a deleted version still starts: {r:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "HANDOVER: a version deleted on one node is gone on another after {:?}",
        t0.elapsed()
    );

    // The same name started on two nodes at once starts one execution, which both report.
    let started = |d: &Daemon| d.metric("wasmstep_executions_started_total{state_machine=\"handover\"}");
    let before = started(&a) + started(&c);
    let input = json!({"v": 5, "items": [5]}).to_string();
    for i in 0..20 {
        let body = json!({"stateMachineArn": machine, "name": format!("twice-{i}"), "input": input});
        let (x, y) = std::thread::scope(|s| {
            let x = s.spawn(|| a.call("StartExecution", body.clone()));
            let y = s.spawn(|| c.call("StartExecution", body.clone()));
            (x.join().expect("a"), y.join().expect("c"))
        });
        assert_eq!(x["executionArn"], y["executionArn"]);
        let arn = x["executionArn"].as_str().expect("arn");
        let d = a.wait_done(arn, MINUTE);
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        check_history(&a, arn);
    }
    assert_eq!(started(&a) + started(&c) - before, 20.0, "each started once");
}

#[test]
fn a_database_that_cannot_be_used_stops_the_start_with_a_clear_error() {
    let data = common::tempdir("unreachable");
    // Nothing listens on port 1; a database that does not exist on the test server.
    let server = common::pg::server();
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    for (store, says) in [
        ("postgres://wasmstep@127.0.0.1:1/db".to_string(), "Connection refused"),
        (
            format!("{base}/no_such_database"),
            "database \"no_such_database\" does not exist",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmstep"))
            .args(["serve", "--listen", "127.0.0.1:0", "--store", &store])
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("run wasmstep");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("cannot reach or prepare the database") && err.contains(says),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// A Task waiting on a token or an activity worker runs on one node; any other answers it
/// (SendTaskSuccess, GetActivityTask): the answer is in the database, and the waiting node
/// sees it.
#[test]
fn any_node_answers_a_token_and_hands_out_an_activity_task() {
    let store = common::pg::database("cluster_callbacks");
    let ns = nodes("callbacks", 2);
    let (a, b) = (ns[0].start(&store), ns[1].start(&store));
    let activity = b.call("CreateActivity", json!({"name": "check"}))["activityArn"]
        .as_str()
        .unwrap()
        .to_string();
    let definition = json!({"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "wasm:identity.waitForTaskToken",
                "Parameters": {"token.$": "$$.Task.Token"}, "ResultPath": "$.asked", "Next": "Check"},
        "Check": {"Type": "Task", "Resource": activity, "ResultPath": "$.checked", "End": true}}});
    let machine = a.call(
        "CreateStateMachine",
        json!({"name": "asked", "definition": definition.to_string(), "roleArn": "arn:aws:iam::123456789012:role/r"}),
    )["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_string();
    let exec = a.call("StartExecution", json!({"stateMachineArn": machine, "input": "{}"}))["executionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let t0 = Instant::now();
    let token = loop {
        let h = b.history(&exec);
        if h.iter().any(|e| e["type"] == "TaskSubmitted") {
            let scheduled = h.iter().find(|e| e["type"] == "TaskScheduled").unwrap();
            let params: Value =
                serde_json::from_str(scheduled["taskScheduledEventDetails"]["parameters"].as_str().unwrap()).unwrap();
            break params["token"].as_str().unwrap().to_string();
        }
        assert!(t0.elapsed() < MINUTE, "the Task did not submit");
        std::thread::sleep(Duration::from_millis(50));
    };
    b.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": r#"{"by":"b"}"#}),
    );
    let task = loop {
        let t = b.call(
            "GetActivityTask",
            json!({"activityArn": activity, "workerName": "on-b"}),
        );
        if t.get("taskToken").is_some() {
            break t;
        }
    };
    assert_eq!(task["input"], r#"{"asked":{"by":"b"}}"#, "{task}");
    b.call(
        "SendTaskSuccess",
        json!({"taskToken": task["taskToken"], "output": r#"{"ok":true}"#}),
    );
    let done = a.wait_done(&exec, MINUTE);
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"], r#"{"asked":{"by":"b"},"checked":{"ok":true}}"#);
    let started = a
        .history(&exec)
        .into_iter()
        .find(|e| e["type"] == "ActivityStarted")
        .unwrap();
    assert_eq!(started["activityStartedEventDetails"]["workerName"], "on-b");
}

#[test]
fn two_nodes_deliver_each_status_event_once_and_fire_a_schedule_once() {
    let store = common::pg::database("cluster_triggers");
    let hook = common::hook::Hook::serve(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let ns = nodes("triggers", 2);
    let config = ns[0].data.join("notify.toml");
    std::fs::write(&config, format!("[[notify]]\nurl = \"http://{}/hook\"\n", hook.addr)).unwrap();
    let more = ["--config".as_ref(), config.as_os_str()];
    let (a, b) = (ns[0].start_with(&store, &more), ns[1].start_with(&store, &more));
    let machine = a.create_machine(
        "ticks",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    );
    let mut executions = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        executions.push(node.start_execution(&machine, &json!({"i": i})));
    }
    // A one-time schedule a few seconds ahead: both nodes' schedulers see it due.
    let at = (chrono::Utc::now() + chrono::Duration::seconds(4))
        .format("at(%Y-%m-%dT%H:%M:%S)")
        .to_string();
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let res = agent
        .post(format!("{}/schedules/once", b.url))
        .send_json(json!({"ScheduleExpression": at, "FlexibleTimeWindow": {"Mode": "OFF"},
                          "Target": {"Arn": machine, "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": "{\"scheduled\": true}"}}))
        .expect("CreateSchedule");
    assert_eq!(res.status().as_u16(), 200);
    let t0 = Instant::now();
    let scheduled = loop {
        let list = a.call("ListExecutions", json!({"stateMachineArn": machine}))["executions"].clone();
        let found: Vec<Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"].as_str().unwrap().starts_with("once-"))
            .cloned()
            .collect();
        if !found.is_empty() && t0.elapsed() > Duration::from_secs(8) {
            break found;
        }
        assert!(t0.elapsed() < MINUTE, "the schedule never fired");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(scheduled.len(), 1, "one execution for the due time: {scheduled:#?}");
    executions.push(scheduled[0]["executionArn"].as_str().unwrap().to_string());
    for e in &executions {
        a.wait_done(e, MINUTE);
    }
    // Every status change once: RUNNING and SUCCEEDED of each, from whichever node holds the
    // target, none twice (no node stopped in between).
    let t0 = Instant::now();
    while hook.bodies().len() < executions.len() * 2 {
        assert!(
            t0.elapsed() < MINUTE,
            "{} of {} events",
            hook.bodies().len(),
            executions.len() * 2
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let mut seen: Vec<(String, String)> = hook
        .bodies()
        .iter()
        .map(|e| {
            (
                e["detail"]["executionArn"].as_str().unwrap().to_string(),
                e["detail"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let mut want: Vec<(String, String)> = executions
        .iter()
        .flat_map(|e| [(e.clone(), "RUNNING".to_string()), (e.clone(), "SUCCEEDED".to_string())])
        .collect();
    want.sort();
    assert_eq!(seen, want);
    stop(a);
    stop(b);
}
