//! Drives the real `wasmstep` binary: the `run`, `validate` and `bench` contracts, with
//! data-driven cases in `tests/runs/` (definition, input, expected result) and
//! `tests/invalid/` (definition, expected diagnostics).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasmstep"))
}

fn tests_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join(sub)
}

fn workloads() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/workloads")
}

/// The JSON object on the last line of stdout.
fn last_line(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output; stderr: {}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {line}"))
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("test folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

#[test]
fn run_cases_match_their_expected_results() {
    let dir = tests_dir("runs");
    let defs = files_with_suffix(&dir, ".asl.json");
    assert!(defs.len() >= 20, "expected the run cases in {}", dir.display());
    let mut failures = Vec::new();
    for def in &defs {
        let base = def.to_string_lossy().trim_end_matches(".asl.json").to_string();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{base}.expected.json")).expect("expected file"))
                .expect("expected JSON");
        let mut cmd = bin();
        cmd.arg("run")
            .arg(def)
            .arg("--input-file")
            .arg(format!("{base}.input.json"))
            .arg("--skip-waits");
        for a in expected["args"].as_array().into_iter().flatten() {
            cmd.arg(a.as_str().expect("string arg"));
        }
        let out = cmd.output().expect("runs");
        let got = last_line(&out);
        let want = &expected["expect"];
        let code = out.status.code();
        let want_code = if want["status"] == "SUCCEEDED" {
            Some(0)
        } else {
            Some(1)
        };
        let mismatch: Vec<String> = want
            .as_object()
            .expect("expect is an object")
            .iter()
            .filter(|(k, v)| got.get(k.as_str()).unwrap_or(&Value::Null) != *v)
            .map(|(k, v)| format!("{k}: got {}, want {v}", got.get(k.as_str()).unwrap_or(&Value::Null)))
            .collect();
        if !mismatch.is_empty() || code != want_code {
            failures.push(format!(
                "{}: exit {code:?} (want {want_code:?}); {}",
                def.display(),
                mismatch.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} run case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_definitions_report_every_problem_with_its_location() {
    let dir = tests_dir("invalid");
    let expects = files_with_suffix(&dir, ".expect.json");
    assert!(expects.len() >= 30);
    let mut failures = Vec::new();
    for exp in &expects {
        let base = exp.to_string_lossy().trim_end_matches(".expect.json").to_string();
        let def = ["json", "yaml"]
            .iter()
            .map(|x| PathBuf::from(format!("{base}.asl.{x}")))
            .find(|p| p.exists())
            .expect("definition beside expectation");
        // An array lists diagnostics that must be among those reported; `{"exactly": [...]}`
        // lists all of them (nothing spurious may follow from the first problem).
        let expect: Value = serde_json::from_str(&std::fs::read_to_string(exp).expect("readable")).expect("JSON");
        let exactly = expect.get("exactly").is_some();
        let want: Vec<Value> = expect
            .get("exactly")
            .unwrap_or(&expect)
            .as_array()
            .cloned()
            .expect("an array of {code, location}");
        let out = bin()
            .args(["validate", "--format", "json"])
            .arg(&def)
            .output()
            .expect("runs");
        if out.status.code() != Some(2) {
            failures.push(format!("{}: exit {:?}, want 2", def.display(), out.status.code()));
            continue;
        }
        let got = last_line(&out);
        let diags = got["files"][0]["diagnostics"].as_array().cloned().unwrap_or_default();
        for w in &want {
            let found = diags
                .iter()
                .any(|d| d["code"] == w["code"] && d["location"] == w["location"]);
            if !found {
                failures.push(format!(
                    "{}: missing {} at '{}'; got {}",
                    def.display(),
                    w["code"],
                    w["location"].as_str().unwrap_or(""),
                    Value::Array(diags.clone())
                ));
            }
        }
        let errors: Vec<&Value> = diags.iter().filter(|d| d["severity"] == "ERROR").collect();
        if exactly && errors.len() != want.len() {
            failures.push(format!(
                "{}: want exactly {} error(s), got {}",
                def.display(),
                want.len(),
                Value::Array(errors.iter().map(|d| (*d).clone()).collect())
            ));
        }
        for d in &diags {
            if d.get("line").and_then(Value::as_u64).is_none() || d["message"].as_str().is_none_or(str::is_empty) {
                failures.push(format!(
                    "{}: diagnostic without line:column or message: {d}",
                    def.display()
                ));
            }
        }
        // The same problems reach a `run` user on stderr, with exit code 2 and nothing on stdout.
        let run = bin().arg("run").arg(&def).output().expect("runs");
        let stderr = String::from_utf8_lossy(&run.stderr);
        if run.status.code() != Some(2) || !stderr.contains(def.to_string_lossy().as_ref()) || !run.stdout.is_empty() {
            failures.push(format!(
                "{}: run gave exit {:?}, stderr {stderr}",
                def.display(),
                run.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Definitions that load and run, with what validation warns about them (`tests/warnings/`:
/// definition and the exact warnings, code and location).
#[test]
fn warnings_are_reported_and_the_definition_still_loads() {
    let dir = tests_dir("warnings");
    let expects = files_with_suffix(&dir, ".expect.json");
    assert!(expects.len() >= 5, "expected the warning cases in {}", dir.display());
    let mut failures = Vec::new();
    for exp in &expects {
        let base = exp.to_string_lossy().trim_end_matches(".expect.json").to_string();
        let def = PathBuf::from(format!("{base}.asl.json"));
        let want: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(exp).expect("readable")).expect("JSON");
        let out = bin()
            .args(["validate", "--format", "json"])
            .arg(&def)
            .output()
            .expect("runs");
        let got = last_line(&out);
        let diags = got["files"][0]["diagnostics"].as_array().cloned().unwrap_or_default();
        let seen: Vec<(String, String)> = diags
            .iter()
            .map(|d| {
                (
                    d["code"].as_str().unwrap_or("").to_string(),
                    d["location"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let wanted: Vec<(String, String)> = want
            .iter()
            .map(|w| {
                (
                    w["code"].as_str().unwrap_or("").to_string(),
                    w["location"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if out.status.code() != Some(0)
            || got["result"] != "OK"
            || seen != wanted
            || diags.iter().any(|d| d["severity"] != "WARNING")
        {
            failures.push(format!(
                "{}: exit {:?}, result {}, want warnings {wanted:?}, got {}",
                def.display(),
                out.status.code(),
                got["result"],
                Value::Array(diags.clone())
            ));
        }
        // `run` loads it too, saying the same on stderr, and runs it.
        let run = bin().arg("run").arg(&def).output().expect("runs");
        let stderr = String::from_utf8_lossy(&run.stderr);
        if !run.status.code().is_some_and(|c| c == 0 || c == 1)
            || wanted
                .iter()
                .any(|(code, _)| !stderr.contains(&format!("warning: {code}")))
        {
            failures.push(format!(
                "{}: run gave exit {:?}, stderr {stderr}",
                def.display(),
                run.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn text_diagnostics_name_file_line_and_column() {
    let def = tests_dir("invalid").join("misspelled_field.asl.json");
    let out = bin().arg("validate").arg(&def).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("misspelled_field.asl.json:6:7: SCHEMA_VALIDATION_FAILED at /States/A/Reslt: Field 'Reslt' is not supported by state type 'Pass' (did you mean 'Result'?)"), "{stderr}");
}

#[test]
fn validate_accepts_valid_files_in_both_syntaxes() {
    let dir = tempdir("validate-ok");
    let json = dir.join("m.asl.json");
    let yaml = dir.join("m.asl.yaml");
    std::fs::write(&json, r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#).expect("write");
    std::fs::write(
        &yaml,
        "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: {ok: true}\n    End: true\n",
    )
    .expect("write");
    let out = bin().arg("validate").arg(&json).arg(&yaml).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin().arg("run").arg(&yaml).output().expect("runs");
    assert_eq!(
        last_line(&out),
        serde_json::json!({"status": "SUCCEEDED", "output": {"ok": true}})
    );
}

#[test]
fn bad_input_and_usage_errors_exit_2() {
    let def = tests_dir("runs").join("context_object_fields.asl.json");
    for args in [
        vec![
            "run".into(),
            def.to_string_lossy().to_string(),
            "--input".into(),
            "{not json".into(),
        ],
        vec!["run".into(), "/no/such/file.asl.json".into()],
        vec![
            "run".into(),
            def.to_string_lossy().to_string(),
            "--type".into(),
            "weird".into(),
        ],
        vec![
            "run".into(),
            def.to_string_lossy().to_string(),
            "--input-file".into(),
            "/no/such/input.json".into(),
        ],
        vec!["frobnicate".into()],
    ] {
        let out = bin().args(&args).output().expect("runs");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} says why on stderr");
    }
    let out = bin()
        .args(["run", &def.to_string_lossy(), "--input", "{not json"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("execution input (--input) is not valid JSON"));
}

#[test]
fn history_lists_events_in_order_with_aws_names() {
    let def = tests_dir("runs").join("missing_function_is_catchable.asl.json");
    let out = bin()
        .arg("run")
        .arg(&def)
        .args(["--input", r#"{"keep": 1}"#, "--history"])
        .output()
        .expect("runs");
    let r = last_line(&out);
    assert_eq!(r["status"], "SUCCEEDED");
    let types: Vec<&str> = r["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "TaskStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    let events = r["history"].as_array().expect("history");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["id"], i as u64 + 1);
        assert_eq!(e["previousEventId"], i as u64);
    }
    assert_eq!(events[1]["stateEnteredEventDetails"]["name"], "T");
    assert_eq!(events[1]["stateEnteredEventDetails"]["input"], r#"{"keep":1}"#);
    assert_eq!(
        events[4]["taskFailedEventDetails"]["error"],
        "Lambda.ResourceNotFoundException"
    );
}

#[test]
fn bench_checks_outputs_and_reports_figures() {
    let own = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/workloads");
    for w in [
        "pass_chain_10",
        "choice_loop_1000",
        "map_inline_1000",
        "choice_loop_1000_jsonata",
    ] {
        let dir = if w.ends_with("jsonata") {
            own.clone()
        } else {
            workloads()
        };
        let def = dir.join(format!("{w}.asl.json"));
        let out = bin()
            .arg("bench")
            .arg(&def)
            .args(["--executions", "20", "--concurrency", "2"])
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{w}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = last_line(&out);
        for key in [
            "executions",
            "executions_per_sec",
            "transitions_per_sec",
            "p50_us",
            "p99_us",
        ] {
            assert!(r[key].is_number(), "{w}: {key} missing in {r}");
        }
        assert_eq!(r["executions"], 20);
    }
    // A wrong expectation makes bench fail instead of printing figures.
    let dir = tempdir("bench-bad-meta");
    let meta = dir.join("meta.json");
    std::fs::write(&meta, r#"{"transitions_per_execution": 10, "expect": {"/p9": 8}}"#).expect("write");
    let out = bin()
        .arg("bench")
        .arg(workloads().join("pass_chain_10.asl.json"))
        .args(["--executions", "5", "--meta"])
        .arg(&meta)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/p9"));
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wasmstep-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn jsonata_command_prints_result_undefined_or_error() {
    let dir = tempdir("jsonata-cli");
    let data = dir.join("data.json");
    let bindings = dir.join("bindings.json");
    std::fs::write(
        &data,
        r#"{"orders": [{"price": 5, "qty": 2}, {"price": 1.5, "qty": 4}]}"#,
    )
    .expect("write");
    std::fs::write(&bindings, r#"{"rate": 2}"#).expect("write");
    let run = |args: &[&str]| {
        let out = bin().arg("jsonata").args(args).output().expect("runs");
        (out.status.code(), last_line(&out))
    };
    let d = data.to_string_lossy().to_string();
    let b = bindings.to_string_lossy().to_string();
    assert_eq!(
        run(&[
            "$sum(orders.(price * qty)) * $rate",
            "--data-file",
            &d,
            "--bindings-file",
            &b
        ]),
        (Some(0), serde_json::json!({"result": 32}))
    );
    assert_eq!(
        run(&["orders.nothing", "--data-file", &d]),
        (Some(0), serde_json::json!({"undefined": true}))
    );
    let (code, v) = run(&["'a' + 1"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["error"]["code"], "T2001");
    let (code, v) = run(&["(orders"]);
    assert_eq!(code, Some(1));
    assert!(v["error"]["code"].as_str().is_some_and(|c| c.starts_with('S')), "{v}");
    // Runaway recursion is an error, not a crash.
    let (code, v) = run(&["($f := function($n){ 1 + $f($n + 1) }; $f(0))"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["error"]["code"], "U1001");
    let out = bin()
        .args(["jsonata", "1", "--data-file", "/no/such.json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn jsonata_failures_are_recorded_as_evaluation_failed() {
    let def = tests_dir("runs").join("jsonata_undefined_output_field.asl.json");
    let out = bin().arg("run").arg(&def).arg("--history").output().expect("runs");
    let r = last_line(&out);
    let events = r["history"].as_array().expect("history");
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().expect("type")).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "PassStateEntered",
            "EvaluationFailed",
            "ExecutionFailed"
        ]
    );
    let d = &events[2]["evaluationFailedEventDetails"];
    assert_eq!(d["error"], "States.QueryEvaluationError");
    assert_eq!(d["location"], "Output/a/b");
    assert_eq!(d["state"], "S");
}

#[test]
fn bench_can_run_executions_durably() {
    let dir = tempdir("bench-store");
    let db = dir.join("store.db");
    let out = bin()
        .arg("bench")
        .arg(workloads().join("pass_chain_10.asl.json"))
        .args(["--executions", "30", "--concurrency", "4", "--store"])
        .arg(&db)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(last_line(&out)["executions"], 30);
    assert!(db.exists());
}

#[test]
fn a_missing_handler_keeps_aws_error_and_says_where_it_looked() {
    // AWS's error name and cause (Retry/Catch and recorded cases match them), and a warning
    // naming the plugins folder and the nearest handler names.
    let dir = std::env::temp_dir().join(format!("wasmstep-cli-missing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Real handlers (copies of `identity`) under other names.
    let built = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../plugins/identity.wasm");
    for name in ["upper", "lower"] {
        std::fs::copy(&built, dir.join(format!("{name}.wasm"))).expect("the built plugins (bash plugins/build.sh)");
    }
    let def = dir.join("m.asl.json");
    std::fs::write(
        &def,
        r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:uper","End":true}}}"#,
    )
    .unwrap();
    let out = bin()
        .arg("run")
        .arg(&def)
        .arg("--plugins")
        .arg(&dir)
        .output()
        .expect("runs");
    let r = last_line(&out);
    assert_eq!(r["error"], "Lambda.ResourceNotFoundException");
    // The cause is AWS's, word for word (recorded cases match it); the warning says the rest.
    let cause = r["cause"].as_str().unwrap();
    assert!(cause.starts_with("Function not found: arn:aws:lambda:us-east-1:123456789012:function:uper:$LATEST"));
    assert!(cause.ends_with("Proxy: null)"), "{cause}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("the plugins folder {}", dir.display())),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean upper?"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_loads_only_the_handlers_the_definition_names() {
    // A broken module beside the one called: `run` never loads it, so it does not stand in the
    // way (it would: loading a folder reports every file that fails).
    let dir = std::env::temp_dir().join(format!("wasmstep-cli-only-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let built = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../plugins/identity.wasm");
    std::fs::copy(&built, dir.join("echo.wasm")).expect("the built plugins (bash plugins/build.sh)");
    std::fs::write(dir.join("broken.wasm"), b"not wasm").unwrap();
    let named = dir.join("named.asl.json");
    std::fs::write(
        &named,
        r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"echo","Payload.$":"$"},"OutputPath":"$.Payload","End":true}}}"#,
    )
    .unwrap();
    let out = bin()
        .arg("run")
        .arg(&named)
        .arg("--plugins")
        .arg(&dir)
        .args(["--input", r#"{"a":1}"#])
        .output()
        .expect("runs");
    assert_eq!(
        last_line(&out)["output"],
        serde_json::json!({"a": 1}),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A FunctionName chosen at run time: every handler is loaded, and the broken one is reported.
    let chosen = dir.join("chosen.asl.json");
    std::fs::write(
        &chosen,
        r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName.$":"$.f","Payload.$":"$"},"End":true}}}"#,
    )
    .unwrap();
    let out = bin()
        .arg("run")
        .arg(&chosen)
        .arg("--plugins")
        .arg(&dir)
        .args(["--input", r#"{"f":"echo"}"#])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.wasm"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
