//! Hostile input against the real daemon: each defect a probe found (a crash, a lockup, a
//! memory blow-up, ...) sent again, and the daemon still answering, bounded, with AWS's error
//! shapes.

mod common;

use std::time::Duration;

use common::{Daemon, tempdir};
use serde_json::json;

const ROLE: &str = "arn:aws:iam::123456789012:role/r";

/// Peak resident memory of the daemon so far, in MiB (Linux: VmHWM).
fn peak_rss_mib(d: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.child.id())).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        / 1024
}

fn healthy(d: &Daemon) -> bool {
    ureq::get(&format!("{}/healthz", d.url))
        .call()
        .is_ok_and(|r| r.status() == 200)
}

/// Defect 1: a 10 KB YAML definition nested 5,000 levels deep overflowed the parser's stack
/// (SIGABRT) through ValidateStateMachineDefinition, CreateStateMachine, a definitions file
/// at start-up and hot reload.
#[test]
fn deeply_nested_yaml_is_an_error_everywhere_not_a_crash() {
    let deep = format!("{}x", "- ".repeat(5000));
    let data = tempdir("deep-yaml");
    let defs = data.join("defs");
    std::fs::create_dir_all(&defs).expect("defs dir");
    std::fs::write(defs.join("deep.asl.yaml"), &deep).expect("write");
    std::fs::write(
        defs.join("fine.asl.json"),
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#,
    )
    .expect("write");
    let d = Daemon::start_with(&data.join("db"), &["--definitions".as_ref(), defs.as_os_str()]);
    assert!(
        d.log()
            .iter()
            .any(|l| l.contains("deep.asl.yaml") && l.contains("nests deeper"))
    );

    let v = d.call("ValidateStateMachineDefinition", json!({"definition": deep}));
    assert_eq!(v["result"], "FAIL", "{v}");
    assert_eq!(v["diagnostics"][0]["code"], "INVALID_JSON_DESCRIPTION");
    let e = d
        .try_call(
            "CreateStateMachine",
            json!({"name": "deep", "definition": deep, "roleArn": ROLE}),
        )
        .unwrap_err();
    assert_eq!(e["__type"], "InvalidDefinition");
    // Hot reload of the same text.
    let from = d.log_len();
    std::fs::write(defs.join("deeper.asl.yaml"), format!("{}x", "- ".repeat(50_000))).expect("write");
    d.wait_for_log(from, &["reload rejected", "deeper.asl.yaml"], Duration::from_secs(30));
    assert!(healthy(&d));
    let listed = d.call("ListStateMachines", json!({}));
    assert_eq!(listed["stateMachines"].as_array().map(Vec::len), Some(1), "{listed}");
}

/// Defect 2: one StringMatches rule backtracked exponentially on a tokio worker; two such
/// executions blocked the whole API for tens of seconds.
#[test]
fn a_hostile_string_matches_pattern_runs_in_linear_time() {
    let data = tempdir("glob");
    let d = Daemon::start_with(&data, &[]);
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.s", "StringMatches": "*a*a*a*a*a*a*a*a*a*a*a*a*b", "Next": "Yes"}],
            "Default": "No"},
        "Yes": {"Type": "Succeed"},
        "No": {"Type": "Fail", "Error": "NoMatch"}}});
    let arn = d.call(
        "CreateStateMachine",
        json!({"name": "glob", "definition": def.to_string(), "roleArn": ROLE}),
    )["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let input = json!({"s": "a".repeat(34)}).to_string();
    let runs: Vec<String> = (0..4)
        .map(|_| {
            d.call("StartExecution", json!({"stateMachineArn": arn, "input": input}))["executionArn"]
                .as_str()
                .expect("execution arn")
                .to_string()
        })
        .collect();
    for exec in &runs {
        // A backtracking matcher takes minutes here; the bound only guards against a hang.
        let done = d.wait_done(exec, Duration::from_secs(30));
        assert_eq!(done["status"], "FAILED", "{done}");
        assert_eq!(done["error"], "NoMatch");
    }
}

/// Defect 3: a 162 KB request of YAML aliases to one 100 KB string drove the daemon to 2.2 GB,
/// and one JSONata range to nearly 1 GB.
#[test]
fn aliases_and_jsonata_cannot_take_the_daemons_memory() {
    let data = tempdir("memory");
    let d = Daemon::start_with(&data, &[]);
    let big = "x".repeat(100_000);
    let bomb = format!(
        "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: &s {big}\n    Next: B\n  B:\n    Type: Pass\n    Result: [{}]\n    End: true\n",
        vec!["*s"; 20_000].join(", ")
    );
    assert!(bomb.len() < 2 << 20);
    let v = d.call("ValidateStateMachineDefinition", json!({"definition": bomb}));
    assert_eq!(v["result"], "FAIL", "{v}");
    assert!(
        v["diagnostics"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("aliases expand")),
        "{v}"
    );
    let e = d
        .try_call(
            "CreateStateMachine",
            json!({"name": "bomb", "definition": bomb, "roleArn": ROLE}),
        )
        .unwrap_err();
    assert_eq!(e["__type"], "InvalidDefinition");

    for (name, expr, code) in [
        ("range", "$count([1..10000000])", "D2015"),
        (
            "doubling",
            "($f := function($x, $n){ $n = 0 ? $x : $f($x & $x, $n - 1) }; $length($f('xxxxxxxx', 40)))",
            "U1003",
        ),
    ] {
        let def = json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
            "A": {"Type": "Pass", "Output": format!("{{% {expr} %}}"), "End": true}}});
        let arn = d.call(
            "CreateStateMachine",
            json!({"name": name, "definition": def.to_string(), "roleArn": ROLE}),
        )["stateMachineArn"]
            .as_str()
            .expect("arn")
            .to_string();
        let exec = d.call("StartExecution", json!({"stateMachineArn": arn}))["executionArn"]
            .as_str()
            .expect("execution arn")
            .to_string();
        let done = d.wait_done(&exec, Duration::from_secs(60));
        assert_eq!(done["status"], "FAILED", "{done}");
        assert_eq!(done["error"], "States.QueryEvaluationError");
        assert!(
            done["cause"].as_str().is_some_and(|c| c.contains(code)),
            "{name}: {done}"
        );
    }
    // Without the limits above the peak was 1 to 3 GB; the daemon's own footprint is a few
    // tens of MiB.
    let peak = peak_rss_mib(&d);
    assert!(peak < 400, "peak RSS {peak} MiB");
    assert!(healthy(&d));
}

/// A small tmpfs the test can fill; unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// `None` where mounting is not allowed (not root): the caller says it is skipped.
    fn mount(name: &str, mib: u32) -> Option<SmallDisk> {
        let dir = tempdir(name);
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).and_then(|_| f.sync_data()).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).expect("remove filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn get_status(d: &Daemon, path: &str) -> (u16, String) {
    let mut r = ureq::get(&format!("{}{path}", d.url))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("GET");
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
}

/// Defect 4: with the disk full while executions waited, they stayed RUNNING forever in the
/// API while the metrics counted them succeeded; a failed flush was only logged. Now they stop
/// moving until the store accepts writes again, then finish, and the API, the metrics and the
/// history agree; /healthz and /readyz say what is wrong meanwhile.
#[test]
fn a_full_disk_pauses_executions_until_space_is_back() {
    let Some(disk) = SmallDisk::mount("full-disk", 16) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let d = Daemon::start_with(&disk.0.join("db"), &[]);
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 2, "Next": "B"},
        "B": {"Type": "Pass", "End": true}}});
    let arn = d.call(
        "CreateStateMachine",
        json!({"name": "patient", "definition": def.to_string(), "roleArn": ROLE}),
    )["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let runs: Vec<String> = (0..10)
        .map(|i| {
            d.call(
                "StartExecution",
                json!({"stateMachineArn": arn, "input": json!({"i": i}).to_string()}),
            )["executionArn"]
                .as_str()
                .expect("execution arn")
                .to_string()
        })
        .collect();
    disk.fill();
    // The Waits end and the next events cannot be written.
    let t0 = std::time::Instant::now();
    while get_status(&d, "/healthz").0 != 503 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "/healthz never noticed the full disk"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (status, body) = get_status(&d, "/healthz");
    assert!(status == 503 && body.contains("cannot write"), "{status} {body}");
    assert_eq!(get_status(&d, "/readyz").0, 503);
    for exec in &runs {
        let row = d.call("DescribeExecution", json!({"executionArn": exec}));
        assert_eq!(row["status"], "RUNNING", "{row}");
    }
    assert_eq!(
        d.metric("wasmstep_executions_succeeded_total{state_machine=\"patient\"}"),
        0.0
    );
    assert_eq!(d.metric("wasmstep_executions_running"), 10.0);
    // Changes are refused at once (clients retry on 503) rather than left hanging.
    let e = d
        .try_call("StartExecution", json!({"stateMachineArn": arn}))
        .unwrap_err();
    assert_eq!(e["__type"], "ServiceUnavailable", "{e}");

    disk.free();
    for exec in &runs {
        let done = d.wait_done(exec, Duration::from_secs(60));
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        let history = d.history(exec);
        assert_eq!(
            history.last().map(|e| e["type"].clone()),
            Some(json!("ExecutionSucceeded"))
        );
        let ids: Vec<u64> = history.iter().filter_map(|e| e["id"].as_u64()).collect();
        assert_eq!(
            ids,
            (1..=ids.len() as u64).collect::<Vec<_>>(),
            "{exec}: ids in order, none lost"
        );
    }
    assert_eq!(
        d.metric("wasmstep_executions_succeeded_total{state_machine=\"patient\"}"),
        10.0
    );
    assert_eq!(d.metric("wasmstep_executions_running"), 0.0);
    assert_eq!(get_status(&d, "/healthz").0, 200);
    assert_eq!(get_status(&d, "/readyz").0, 200);
}

/// A raw HTTP exchange: what the daemon answers to `request`, as (status, body).
fn raw_http(d: &Daemon, request: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = d.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    s.write_all(request).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Defect 7: slow clients were never timed out, unbounded fields were accepted (1.9 MB of
/// roleArn or cause), wrong-typed fields were ignored, `publish: true` published nothing, and
/// over-large bodies got a plain-text 413.
#[test]
fn slow_clients_big_fields_and_wrong_types_get_aws_answers() {
    use std::io::{Read, Write};
    let data = tempdir("limits");
    let d = Daemon::start_with(&data, &[]);
    // Half a request, then silence: the daemon drops the connection after its header timeout
    // while serving everyone else.
    let addr = d.url.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&addr).expect("connect");
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n")
        .expect("half a request");
    let def = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}).to_string();

    let big = "x".repeat(1_900_000);
    let e = d
        .try_call(
            "CreateStateMachine",
            json!({"name": "big", "definition": def, "roleArn": big}),
        )
        .unwrap_err();
    assert_eq!(e["__type"], "ValidationException", "{e}");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("'roleArn'")), "{e}");
    for (field, value) in [("publish", json!("yes")), ("loggingConfiguration", json!(5))] {
        let mut req = json!({"name": "typed", "definition": def, "roleArn": ROLE});
        req[field] = value;
        let e = d.try_call("CreateStateMachine", req).unwrap_err();
        assert_eq!(e["__type"], "SerializationException", "{field}: {e}");
    }
    let created = d.call(
        "CreateStateMachine",
        json!({"name": "published", "definition": def, "roleArn": ROLE, "publish": true, "versionDescription": "first"}),
    );
    let version = created["stateMachineVersionArn"].as_str().expect("a version ARN");
    assert!(version.ends_with(":published:1"), "{created}");
    let arn = created["stateMachineArn"].as_str().expect("arn");
    let exec = d.call("StartExecution", json!({"stateMachineArn": version}))["executionArn"]
        .as_str()
        .expect("execution")
        .to_string();
    let e = d
        .try_call(
            "StopExecution",
            json!({"executionArn": exec, "cause": "c".repeat(40_000), "error": "e".repeat(300)}),
        )
        .unwrap_err();
    assert_eq!(e["__type"], "ValidationException", "{e}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("2 validation errors")),
        "{e}"
    );
    let e = d
        .try_call("ListExecutions", json!({"stateMachineArn": arn, "maxResults": "ten"}))
        .unwrap_err();
    assert_eq!(e["__type"], "SerializationException", "{e}");

    let huge = format!("{{\"definition\": \"{}\"}}", "x".repeat(3 << 20));
    let (status, body) = raw_http(
        &d,
        format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AWSStepFunctions.ValidateStateMachineDefinition\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{huge}",
            huge.len()
        )
        .as_bytes(),
    );
    assert_eq!(status, 413, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
    assert!(v["__type"].is_string() && v["message"].is_string(), "{v}");
    for (method, path, want) in [("GET", "/nope", 404), ("PUT", "/", 405)] {
        let req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let (status, body) = raw_http(&d, req.as_bytes());
        assert_eq!(status, want, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
        assert!(v["__type"].is_string(), "{v}");
    }

    // The slow client is cut off (10 s header timeout; the bound guards against a hang).
    slow.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut rest = Vec::new();
    let t0 = std::time::Instant::now();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        t0.elapsed() < Duration::from_secs(25),
        "the half-sent request was never timed out"
    );
}

/// Every event of an execution, page by page.
fn all_events(d: &Daemon, exec: &str) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({"executionArn": exec, "maxResults": 1000});
        if let Some(t) = &token {
            req["nextToken"] = t.clone().into();
        }
        let page = d.call("GetExecutionHistory", req);
        events.extend(page["events"].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return events,
        }
    }
}

/// Defect 6: nothing was ever deleted (about 6 KB per small execution forever), and deleting a
/// state machine kept its executions.
#[test]
fn finished_executions_expire_with_their_state_machine_or_their_time() {
    let data = tempdir("retention");
    let d = Daemon::start_with(&data, &["--retention".as_ref(), "2s".as_ref()]);
    let quick = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}});
    let slow = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3, "End": true}}});
    let create = |name: &str, def: &serde_json::Value| {
        d.call(
            "CreateStateMachine",
            json!({"name": name, "definition": def.to_string(), "roleArn": ROLE}),
        )["stateMachineArn"]
            .as_str()
            .expect("arn")
            .to_string()
    };
    let start = |arn: &str| {
        d.call("StartExecution", json!({"stateMachineArn": arn}))["executionArn"]
            .as_str()
            .expect("execution")
            .to_string()
    };
    let gone = |exec: &str| {
        d.try_call("DescribeExecution", json!({"executionArn": exec}))
            .err()
            .is_some_and(|e| e["__type"] == "ExecutionDoesNotExist")
    };
    let wait_gone = |exec: &str, limit: Duration| {
        let t0 = std::time::Instant::now();
        while !gone(exec) {
            assert!(t0.elapsed() < limit, "{exec} was never deleted");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    // Kept for the retention time, then deleted with their history.
    let kept = create("kept", &quick);
    let runs: Vec<String> = (0..20).map(|_| start(&kept)).collect();
    for exec in &runs {
        assert_eq!(d.wait_done(exec, Duration::from_secs(30))["status"], "SUCCEEDED");
    }
    for exec in &runs {
        wait_gone(exec, Duration::from_secs(30));
    }
    let listed = d.call("ListExecutions", json!({"stateMachineArn": kept}));
    assert_eq!(listed["executions"], json!([]), "{listed}");

    // Deleting a state machine: its finished executions go now, a running one when it ends.
    let doomed = create("doomed", &slow);
    let finished = start(&create("doomed-quick", &quick));
    assert_eq!(d.wait_done(&finished, Duration::from_secs(30))["status"], "SUCCEEDED");
    let running = start(&doomed);
    d.call("DeleteStateMachine", json!({"stateMachineArn": doomed}));
    assert_eq!(
        d.call("DescribeExecution", json!({"executionArn": running}))["status"],
        "RUNNING"
    );
    wait_gone(&running, Duration::from_secs(30));
    assert_eq!(
        d.metric("wasmstep_executions_succeeded_total{state_machine=\"doomed\"}"),
        1.0,
        "a deleted state machine's running execution finishes before it goes"
    );
}

/// Defect 6 (continued): AWS's 25,000-event cap on a Standard execution's history: the
/// execution fails when it would need more.
#[test]
fn histories_stop_at_25000_events() {
    let data = tempdir("history-cap");
    let d = Daemon::start_with(&data, &[]);
    let big_map = json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}});
    let mapper = d.call(
        "CreateStateMachine",
        json!({"name": "mapper", "definition": big_map.to_string(), "roleArn": ROLE}),
    )["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let items = serde_json::to_string(&vec![0; 30_000]).expect("items");
    let exec = d.call("StartExecution", json!({"stateMachineArn": mapper, "input": items}))["executionArn"]
        .as_str()
        .expect("execution")
        .to_string();
    let done = d.wait_done(&exec, Duration::from_secs(120));
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["error"], "States.Runtime");
    let events = all_events(&d, &exec);
    assert_eq!(events.len(), 25_000, "the history stops at the cap");
    assert_eq!(events.last().map(|e| e["type"].clone()), Some(json!("ExecutionFailed")));
}

/// Defect 2 (continued): executions computing for seconds held up every request. They run on
/// threads of their own now: while more of them compute than there are cores, the API still
/// answers, and says they are all running.
#[test]
fn cpu_heavy_executions_do_not_hold_up_the_api() {
    let data = tempdir("cpu-heavy");
    let d = Daemon::start_with(&data, &[]);
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "Burn", "States": {
        "Burn": {"Type": "Pass", "Output": "{% $sum($map([1..999], function($a) { $sum($map([1..999], function($b) { $a * $b })) })) %}", "End": true}}});
    let arn = d.call(
        "CreateStateMachine",
        json!({"name": "burn", "definition": def.to_string(), "roleArn": ROLE}),
    )["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runs: Vec<String> = (0..2 * cores)
        .map(|_| {
            d.call("StartExecution", json!({"stateMachineArn": arn}))["executionArn"]
                .as_str()
                .expect("execution")
                .to_string()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let listed = d.call("ListExecutions", json!({"stateMachineArn": arn}));
    let running = listed["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .filter(|e| e["status"] == "RUNNING")
        .count();
    assert_eq!(
        running,
        runs.len(),
        "the API answered only once executions had finished: {listed}"
    );
    for exec in &runs {
        let done = d.wait_done(exec, Duration::from_secs(120));
        assert!(
            done["status"] == "SUCCEEDED" || done["error"] == "States.QueryEvaluationError",
            "{done}"
        );
    }
}
