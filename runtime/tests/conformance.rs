//! Runs every recorded AWS Step Functions case in `shared/conformance/cases` through the engine
//! and compares with what AWS returned. Fails when fewer cases pass than the committed floor.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use wasmstep::asl::{self, MachineType, Source};
use wasmstep::engine::EngineConfig;
use wasmstep::engine::oneshot::{self, RunOptions};
use wasmstep::engine::task::TaskInvoker;
use wasmstep::wasm::{WasmEngine, WasmHost};

fn cases_dir() -> PathBuf {
    match std::env::var_os("WASMSTEP_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/cases"),
    }
}

/// The committed floor: the number of cases that must pass.
fn floor() -> usize {
    let text = include_str!("conformance-floor.txt");
    text.lines()
        .find(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .and_then(|l| l.trim().parse().ok())
        .expect("conformance-floor.txt holds a number")
}

/// JSON equality where numbers compare by value and objects ignore key order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Replaces relaxed values in both documents by a placeholder once the actual one is checked.
fn compare(case: &Value, actual: &mut Value) -> Result<(), String> {
    let mut expected = case["expected"].clone();
    for (ptr, pattern) in case["relaxed_patterns"].as_object().into_iter().flatten() {
        let Some(got) = actual.pointer(ptr) else {
            return Err(format!("missing value at {ptr}"));
        };
        let re = Regex::new(pattern.as_str().unwrap_or_default()).map_err(|e| format!("bad pattern: {e}"))?;
        match got.as_str() {
            Some(s) if re.is_match(s) => {}
            _ => return Err(format!("{ptr}: {got} does not match {pattern}")),
        }
    }
    // Patterns read the raw strings; JSON-text values are then compared parsed, and relaxed
    // paths may point inside them.
    for ptr in case["json_string_paths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        for doc in [&mut expected, &mut *actual] {
            if let Some(v) = doc.pointer_mut(ptr)
                && let Some(parsed) = v.as_str().and_then(|s| serde_json::from_str::<Value>(s).ok())
            {
                *v = parsed;
            }
        }
    }
    for ptr in case["relaxed_paths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if actual.pointer(ptr).is_none() {
            return Err(format!("missing value at relaxed path {ptr}"));
        }
        *actual.pointer_mut(ptr).unwrap_or(&mut Value::Null) = Value::Null;
        if let Some(e) = expected.pointer_mut(ptr) {
            *e = Value::Null;
        }
    }
    if expected["status"] != actual["status"] {
        return Err(format!(
            "status {} (expected {}): {}",
            actual["status"],
            expected["status"],
            short(actual)
        ));
    }
    if expected["status"] == "SUCCEEDED" {
        if !same(&expected["output"], &actual["output"]) {
            return Err(format!(
                "output {} (expected {})",
                short(&actual["output"]),
                short(&expected["output"])
            ));
        }
    } else {
        for k in ["error", "cause"] {
            let want = expected.get(k).cloned().unwrap_or(Value::Null);
            let got = actual.get(k).cloned().unwrap_or(Value::Null);
            if !same(&want, &got) {
                return Err(format!("{k} {} (expected {})", short(&got), short(&want)));
            }
        }
    }
    Ok(())
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(300).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

/// Where `plugins/build.sh` put the handlers (the test command runs it first).
fn plugins_dir() -> PathBuf {
    match std::env::var_os("WASMSTEP_PLUGINS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../plugins"),
    }
}

/// The error payload the recorded cases' Python Lambda functions return (as the Lambda Python
/// runtime writes it: `json.dumps` separators), from the recording when it has one.
fn lambda_error_payload(error: &str, f: &Value) -> String {
    let recorded = f["observed_failure"]["cause"]
        .as_str()
        .and_then(|c| serde_json::from_str::<Value>(c).ok());
    let mut payload = recorded.unwrap_or_else(|| {
        let (message, line, statement) = match error {
            "CustomException" => ("", 9, "raise CustomException()".to_string()),
            _ => (
                "Some exception was raised.",
                2,
                format!("raise {error}(\"Some exception was raised.\")"),
            ),
        };
        serde_json::json!({
            "errorMessage": message,
            "errorType": error,
            "requestId": "",
            "stackTrace": [format!("  File \"/var/task/handler.py\", line {line}, in handler\n    {statement}\n")],
        })
    });
    payload["requestId"] = "0a1b2c3d-0000-4000-8000-000000000001".into();
    python_json(&payload)
}

/// JSON with Python's default separators (`", "` and `": "`).
fn python_json(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(python_json).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, x)| format!("{}: {}", Value::String(k.clone()), python_json(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The Lambda functions a case needs, each served by the real `lambda_behaviour` Wasm handler
/// under the function's name, its behaviour granted through its manifest.
fn lambda_host(
    engine: &Arc<WasmEngine>,
    functions: &serde_json::Map<String, Value>,
    case_id: &str,
) -> Arc<dyn TaskInvoker> {
    let source = plugins_dir().join("lambda_behaviour.wasm");
    assert!(
        source.exists(),
        "{} is missing: build the plugins first (bash plugins/build.sh)",
        source.display()
    );
    let dir = std::env::temp_dir().join(format!("wasmstep-conformance-{}-{case_id}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for f in functions.values() {
        let name = f["function_name"].as_str().expect("function_name");
        let behaviour = f["behaviour"].as_str().expect("behaviour");
        let mut env = toml::Table::new();
        if behaviour == "identity" {
            env.insert("BEHAVIOUR".into(), "identity".into());
        } else if let Some(json) = behaviour.strip_prefix("return:") {
            env.insert("BEHAVIOUR".into(), "return".into());
            env.insert("RETURN_JSON".into(), json.into());
        } else if let Some(error) = behaviour.strip_prefix("raise:") {
            env.insert("BEHAVIOUR".into(), "raise".into());
            env.insert("RAISE_ERROR".into(), error.into());
            env.insert("RAISE_CAUSE".into(), lambda_error_payload(error, f).into());
        }
        let mut manifest = toml::Table::new();
        manifest.insert("env".into(), toml::Value::Table(env));
        std::fs::copy(&source, dir.join(format!("{name}.wasm"))).expect("copy handler");
        std::fs::write(
            dir.join(format!("{name}.toml")),
            toml::to_string(&manifest).expect("toml"),
        )
        .expect("manifest");
    }
    let host = WasmHost::new(engine.clone());
    host.load_dir(&dir)
        .unwrap_or_else(|e| panic!("loading the Lambda stand-ins: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(host)
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

#[test]
fn conformance() {
    let dir = cases_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the conformance cases at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let wasm = Arc::new(WasmEngine::new(WasmEngine::default_cache_dir()).expect("wasm engine"));
    let mut by_feature: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    let mut failures = Vec::new();
    for file in &files {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("readable case")).expect("case is JSON");
        let features: Vec<String> = case["features"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(String::from))
            .collect();
        let id = case["id"].as_str().unwrap_or_default().to_string();
        let outcome = {
            let mt = if case["state_machine_type"] == "EXPRESS" {
                MachineType::Express
            } else {
                MachineType::Standard
            };
            let result = match asl::build(&Source::from_value(case["definition"].clone()), mt) {
                Err(e) => Err(format!("definition rejected: {e}")),
                Ok(machine) => {
                    let opts = RunOptions {
                        buckets: None,
                        skip_waits: true,
                        machine_type: mt,
                        engine: EngineConfig {
                            keep_history: false,
                            ..EngineConfig::default()
                        },
                    };
                    let invoker = case["needs"]["lambda"]
                        .as_object()
                        .map(|fns| lambda_host(&wasm, fns, &id));
                    let exec = oneshot::executor(Arc::new(machine), invoker, &opts);
                    let input = case["input"].clone();
                    let r = rt.block_on(async {
                        tokio::time::timeout(
                            Duration::from_secs(20),
                            oneshot::run_once(&exec, "ConformanceMachine", input, mt),
                        )
                        .await
                    });
                    match r {
                        Err(_) => Err("did not finish within 20 s".to_string()),
                        Ok(r) => {
                            let mut actual = oneshot::result_json(&r, false);
                            compare(&case, &mut actual)
                        }
                    }
                }
            };
            Some(result)
        };
        for key in features.iter().map(String::as_str).chain(["(all)"]) {
            let t = if key == "(all)" {
                &mut total
            } else {
                by_feature.entry(key.to_string()).or_default()
            };
            match &outcome {
                None => t.skipped += 1,
                Some(Ok(())) => t.passed += 1,
                Some(Err(_)) => t.failed += 1,
            }
        }
        if let Some(Err(e)) = outcome {
            failures.push(format!("{id}: {e}"));
        }
    }
    println!("{:<45} {:>7} {:>7} {:>7}", "feature", "passed", "failed", "skipped");
    for (f, t) in &by_feature {
        println!("{f:<45} {:>7} {:>7} {:>7}", t.passed, t.failed, t.skipped);
    }
    println!("\nfailing cases:");
    for f in &failures {
        println!("  {f}");
    }
    let run_cases = total.passed + total.failed;
    println!(
        "\nconformance: {} of {} run cases pass ({:.1}%), {} skipped, floor {}",
        total.passed,
        run_cases,
        100.0 * total.passed as f64 / run_cases.max(1) as f64,
        total.skipped,
        floor()
    );
    assert!(
        total.passed >= floor(),
        "{} cases pass, below the committed floor of {}",
        total.passed,
        floor()
    );
}
