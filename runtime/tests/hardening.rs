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
