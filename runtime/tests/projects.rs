//! Project files in the definitions folder, against the real daemon and CLI: the report
//! runner's `serverless.yml` (examples/report-runner) loads unchanged with handlers named after
//! its function keys, an execution reaches UpdateSiteState, and its cron schedule starts it
//! with EventBridge's Scheduled Event; editing and removing the file updates and removes its
//! state machines and schedules; a SAM template (examples/nightly-report) loads with its
//! `DefinitionUri`, substitutions and ScheduleV2 event; a file with an unresolvable reference
//! is rejected at its line; `validate` and `run` read both.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, plugins_dir, tempdir};
use serde_json::{Value, json};

const HANDLERS: [&str; 4] = [
    "CreateReportRun",
    "CheckReportStatus",
    "DownloadReport",
    "UpdateSiteState",
];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// A plugins folder with just the report runner's four handlers.
fn report_plugins(dir: &Path) -> PathBuf {
    let p = dir.join("plugins");
    std::fs::create_dir_all(&p).unwrap();
    for h in HANDLERS {
        std::fs::copy(plugins_dir().join(format!("{h}.wasm")), p.join(format!("{h}.wasm"))).unwrap();
    }
    p
}

/// A Scheduler GET on the daemon: the status and the JSON body.
fn scheduler_get(d: &Daemon, path: &str) -> (u16, Value) {
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let res = agent.get(format!("{}{path}", d.url)).call().expect("GET");
    let status = res.status().as_u16();
    (status, res.into_body().read_json().unwrap_or(Value::Null))
}

fn machines(d: &Daemon) -> Vec<String> {
    d.call("ListStateMachines", json!({}))["stateMachines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:ReportRunner-dev";

#[test]
fn the_report_runner_serverless_yml_loads_unchanged_and_its_schedule_runs_it() {
    let data = tempdir("projects-serverless");
    let defs = data.join("definitions");
    std::fs::create_dir_all(&defs).unwrap();
    let file = defs.join("serverless.yml");
    let original = std::fs::read_to_string(examples().join("report-runner/serverless.yml")).unwrap();
    std::fs::write(&file, &original).unwrap();
    let plugins = report_plugins(&data);
    let daemon = Daemon::start_with(
        &data,
        &[
            "--definitions".as_ref(),
            defs.as_os_str(),
            "--plugins".as_ref(),
            plugins.as_os_str(),
        ],
    );
    assert_eq!(machines(&daemon), ["ReportRunner-dev"]);
    let (status, schedule) = scheduler_get(&daemon, "/schedules/ReportRunner-dev-schedule-1?groupName=definitions");
    assert_eq!(status, 200, "{schedule}");
    assert_eq!(schedule["ScheduleExpression"], "cron(0/1 * ? * * *)");
    assert_eq!(schedule["State"], "ENABLED");
    assert_eq!(schedule["Target"]["Arn"], MACHINE);
    assert!(schedule.get("wasmstep:Own").is_none(), "{schedule}");

    // Started by hand, it goes through every function to UpdateSiteState.
    let exec = daemon.call(
        "StartExecution",
        json!({"stateMachineArn": MACHINE, "input": "{\"time\": \"by hand\"}"}),
    )["executionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let done = daemon.wait_done(&exec, Duration::from_secs(60));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let entered: Vec<String> = daemon
        .history(&exec)
        .iter()
        .filter(|e| e["type"] == "TaskStateEntered")
        .map(|e| e["stateEnteredEventDetails"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(entered.first().map(String::as_str), Some("CreateReportRun"));
    assert_eq!(entered.last().map(String::as_str), Some("UpdateSiteState"));
    assert!(done["output"].as_str().unwrap().contains("<h1>Report r-"), "{done}");

    // The schedule starts it at the top of the next minute with the Scheduled Event.
    let scheduled = || -> Option<Value> {
        daemon.call("ListExecutions", json!({"stateMachineArn": MACHINE}))["executions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("definitions.ReportRunner-dev-schedule-1-")
            })
            .cloned()
    };
    wait_until("a scheduled execution", Duration::from_secs(75), || {
        scheduled().is_some()
    });
    let run = scheduled().unwrap();
    let d = daemon.wait_done(run["executionArn"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let input: Value = serde_json::from_str(d["input"].as_str().unwrap()).unwrap();
    assert_eq!(input["detail-type"], "Scheduled Event");
    assert_eq!(input["source"], "aws.events");
    assert!(input["time"].as_str().unwrap().ends_with(":00Z"), "{input}");

    // Edited: the schedule is disabled and a second state machine appears.
    let edited = original.replace(
        "        - schedule: cron(0/1 * ? * * *)",
        "        - schedule:\n            rate: cron(0/1 * ? * * *)\n            enabled: false",
    ) + "    second:\n      type: EXPRESS\n      definition:\n        StartAt: P\n        States:\n          P: {Type: Pass, End: true}\n";
    std::fs::write(&file, edited).unwrap();
    wait_until("the edit to load", Duration::from_secs(20), || {
        machines(&daemon).contains(&"second".to_string())
            && scheduler_get(&daemon, "/schedules/ReportRunner-dev-schedule-1?groupName=definitions").1["State"]
                == "DISABLED"
    });
    let second = daemon.call(
        "DescribeStateMachine",
        json!({"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:second"}),
    );
    assert_eq!(second["type"], "EXPRESS");

    // Removed: its state machines and its schedule go with it.
    std::fs::remove_file(&file).unwrap();
    wait_until("the removal", Duration::from_secs(20), || {
        machines(&daemon).is_empty()
            && scheduler_get(&daemon, "/schedules/ReportRunner-dev-schedule-1?groupName=definitions").0 == 404
    });
}

#[test]
fn a_sam_template_loads_and_a_broken_project_is_rejected_at_its_line() {
    let data = tempdir("projects-sam");
    let defs = data.join("definitions");
    std::fs::create_dir_all(defs.join("sam")).unwrap();
    std::fs::create_dir_all(defs.join("broken")).unwrap();
    for f in ["template.yaml", "nightly-report.workflow.yaml"] {
        std::fs::copy(examples().join("nightly-report").join(f), defs.join("sam").join(f)).unwrap();
    }
    let original = std::fs::read_to_string(examples().join("report-runner/serverless.yml")).unwrap();
    // The reference's `Resource:` key, one line above it, is where the problem is reported.
    let resource_line = original
        .lines()
        .position(|l| l.contains("Fn::GetAtt: [DownloadReport, Arn]"))
        .unwrap();
    let broken = original.replace("Fn::GetAtt: [DownloadReport, Arn]", "Fn::GetAtt: [DownloadReprt, Arn]");
    std::fs::write(defs.join("broken/serverless.yml"), broken).unwrap();
    let plugins = report_plugins(&data);
    let daemon = Daemon::start_with(
        &data,
        &[
            "--definitions".as_ref(),
            defs.as_os_str(),
            "--plugins".as_ref(),
            plugins.as_os_str(),
        ],
    );
    assert_eq!(machines(&daemon), ["NightlyReport"]);
    let line = daemon.wait_for_log(
        0,
        &["reload rejected", "serverless.yml:", "DownloadReprt"],
        Duration::from_secs(5),
    );
    assert!(
        line.contains(&format!("serverless.yml:{resource_line}:")),
        "the line of the reference: {line}"
    );

    let (status, s) = scheduler_get(&daemon, "/schedules/NightlyReport-Nightly?groupName=definitions");
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["ScheduleExpression"], "cron(0 2 * * ? *)");
    assert_eq!(s["ScheduleExpressionTimezone"], "Europe/Paris");
    assert_eq!(s["Target"]["Input"], "{\"time\":\"nightly\"}");
    let exec = daemon.call(
        "StartExecution",
        json!({"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:NightlyReport", "input": "{\"time\": \"now\"}"}),
    )["executionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let done = daemon.wait_done(&exec, Duration::from_secs(60));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert!(
        done["output"].as_str().unwrap().contains("<h1>Nightly report r-"),
        "{done}"
    );
}

fn wasmstep(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmstep"))
        .args(args)
        .output()
        .expect("run wasmstep");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn validate_and_run_read_project_files() {
    let serverless = examples().join("report-runner/serverless.yml");
    let template = examples().join("nightly-report/template.yaml");
    let (code, out, err) = wasmstep(&["validate", serverless.to_str().unwrap(), template.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("(ReportRunner-dev): OK") && out.contains("(NightlyReport): OK"),
        "{out}"
    );

    let plugins = plugins_dir();
    let (code, out, err) = wasmstep(&[
        "run",
        serverless.to_str().unwrap(),
        "--state-machine",
        "ReportRunner-dev",
        "--input",
        r#"{"time": "t"}"#,
        "--skip-waits",
        "--plugins",
        plugins.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let result: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(result["status"], "SUCCEEDED", "{result}");
    let (code, _, err) = wasmstep(&["run", serverless.to_str().unwrap(), "--state-machine", "Nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("defines no state machine Nope (it defines: ReportRunner-dev)"),
        "{err}"
    );

    // What cannot be resolved: the file, the line and the text.
    let dir = tempdir("projects-cli");
    let bad = dir.join("serverless.yml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&serverless)
            .unwrap()
            .replace("${self:custom.rows}", "${ssm:/report/rows}"),
    )
    .unwrap();
    let (code, _, err) = wasmstep(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{}:", bad.display())) && err.contains("${ssm:/report/rows}"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
