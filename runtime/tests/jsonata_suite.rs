//! Runs the JSONata language's own test suite (`shared/jsonata-suite/groups`) through our
//! evaluator and fails below the committed floor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmstep::jsonata::{Evaluated, Expr, Limits, to_jvalue};

fn suite_dir() -> PathBuf {
    match std::env::var_os("WASMSTEP_JSONATA_SUITE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/jsonata-suite"),
    }
}

fn floor() -> usize {
    include_str!("jsonata-suite-floor.txt")
        .lines()
        .find(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .and_then(|l| l.trim().parse().ok())
        .expect("jsonata-suite-floor.txt holds a number")
}

/// Numbers compare by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || ((x - y).abs() <= 1e-10 * x.abs().max(y.abs()))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn run_case(case: &Value, dir: &Path, datasets: &Path) -> Result<(), String> {
    let expr = match (
        case.get("expr").and_then(Value::as_str),
        case.get("expr-file").and_then(Value::as_str),
    ) {
        (Some(e), _) => e.to_string(),
        (None, Some(f)) => std::fs::read_to_string(dir.join(f)).map_err(|e| format!("expr-file: {e}"))?,
        _ => return Err("no expression".into()),
    };
    let data: Option<Value> = match (case.get("data"), case.get("dataset")) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(Value::String(name))) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(datasets.join(format!("{name}.json"))).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?,
        ),
        _ => None,
    };
    let bindings = case
        .get("bindings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut limits = Limits::default();
    if let Some(t) = case.get("timelimit").and_then(Value::as_u64) {
        limits.timeout_ms = t;
    }
    if let Some(d) = case.get("depth").and_then(Value::as_u64) {
        limits.max_depth = d as usize;
    }
    let outcome =
        Expr::parse(&expr).and_then(|e| e.evaluate(data.as_ref(), &mut |n| bindings.get(n).map(to_jvalue), limits));
    let code = case
        .get("code")
        .or_else(|| case.get("error").and_then(|e| e.get("code")))
        .and_then(Value::as_str);
    match (code, outcome) {
        (Some(code), Err(e)) if e.code == code => Ok(()),
        (Some(code), Err(e)) => Err(format!("expected error {code}, got {e}")),
        (Some(code), Ok(v)) => Err(format!("expected error {code}, got {v:?}")),
        (None, Err(e)) => Err(format!("unexpected error {e}")),
        (None, Ok(v)) => {
            if case.get("undefinedResult").and_then(Value::as_bool) == Some(true) {
                return if v.is_none() {
                    Ok(())
                } else {
                    Err(format!("expected undefined, got {v:?}"))
                };
            }
            let want = case.get("result").ok_or("case has no expected outcome")?;
            match v {
                Some(Evaluated::Json(got)) if same(&got, want) => Ok(()),
                other => Err(format!("expected {want}, got {other:?}")),
            }
        }
    }
}

#[test]
fn jsonata_suite() {
    let root = suite_dir();
    let datasets = root.join("datasets");
    let mut groups: Vec<PathBuf> = std::fs::read_dir(root.join("groups"))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    groups.sort();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut per_group: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for group in &groups {
        let gname = group.file_name().unwrap_or_default().to_string_lossy().to_string();
        let mut files: Vec<PathBuf> = std::fs::read_dir(group)
            .expect("group")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            // A few files hold lone surrogate escapes that no JSON parser in Rust accepts.
            let Ok(doc) = serde_json::from_str::<Value>(&text) else {
                failed += 1;
                per_group.entry(gname.clone()).or_default().1 += 1;
                failures.push(format!("{}: unreadable case file", file.display()));
                continue;
            };
            let cases = match doc {
                Value::Array(a) => a,
                other => vec![other],
            };
            for (i, case) in cases.iter().enumerate() {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(case, group, &datasets)))
                    .unwrap_or_else(|_| Err("panicked".into()));
                let entry = per_group.entry(gname.clone()).or_default();
                match r {
                    Ok(()) => {
                        passed += 1;
                        entry.0 += 1;
                    }
                    Err(e) => {
                        failed += 1;
                        entry.1 += 1;
                        let name = file.file_stem().unwrap_or_default().to_string_lossy();
                        failures.push(format!(
                            "{gname}/{name}[{i}] {}: {e}",
                            case["expr"].as_str().unwrap_or("(file)")
                        ));
                    }
                }
            }
        }
    }
    for (g, (p, f)) in &per_group {
        if *f > 0 {
            println!("{g:<40} {p:>5} passed {f:>4} failed");
        }
    }
    println!("\nfailing cases:");
    for f in &failures {
        println!("  {f}");
    }
    let total = passed + failed;
    println!(
        "\njsonata suite: {passed} of {total} pass ({:.1}%), floor {}",
        100.0 * passed as f64 / total.max(1) as f64,
        floor()
    );
    assert!(
        passed >= floor(),
        "{passed} cases pass, below the committed floor of {}",
        floor()
    );
}
