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
use wasmstep::run::{self, RunOptions};

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
        // Until the Wasm host lands, cases that call Lambda functions are reported as skipped.
        let skip = case.get("needs").is_some_and(|n| n.get("lambda").is_some());
        let outcome = if skip {
            None
        } else {
            let mt = if case["state_machine_type"] == "EXPRESS" {
                MachineType::Express
            } else {
                MachineType::Standard
            };
            let result = match asl::build(&Source::from_value(case["definition"].clone()), mt) {
                Err(e) => Err(format!("definition rejected: {e}")),
                Ok(machine) => {
                    let opts = RunOptions {
                        skip_waits: true,
                        machine_type: mt,
                        engine: EngineConfig {
                            keep_history: false,
                            ..EngineConfig::default()
                        },
                    };
                    let exec = run::executor(Arc::new(machine), None, &opts);
                    let input = case["input"].clone();
                    let r = rt.block_on(async {
                        tokio::time::timeout(
                            Duration::from_secs(20),
                            run::run_once(&exec, "ConformanceMachine", input, mt),
                        )
                        .await
                    });
                    match r {
                        Err(_) => Err("did not finish within 20 s".to_string()),
                        Ok(r) => {
                            let mut actual = run::result_json(&r, false);
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
        "\nconformance: {} of {} run cases pass ({:.1}%), {} skipped (Lambda), floor {}",
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
