//! Wasm Task handlers through the real binary: hostile handlers are contained and mapped to
//! precise ASL errors, the sandbox denies what a manifest does not grant, broken plugin files
//! are reported, and every plugin language gives the same workflow output.

mod common;

use common::{plugins_dir, plugins_with};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasmstep"))
}

/// A fresh directory; tests run in parallel, so each call gets its own.
fn tempdir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("wasmstep-wasm-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// Runs a one-Task machine calling `resource` and returns the result line (without its history)
/// and how long the handler ran: from its TaskStarted to the Task's end in the history, so the
/// time to start the binary and load the handlers does not count.
fn run_task(plugins: &Path, resource: &str, extra: Value, input: Value) -> (Value, Duration) {
    let dir = tempdir("def");
    let mut task = json!({"Type": "Task", "Resource": resource, "End": true});
    task.as_object_mut()
        .expect("object")
        .extend(extra.as_object().expect("object").clone());
    let def = write(
        &dir,
        "m.asl.json",
        &json!({"StartAt": "T", "States": {"T": task}}).to_string(),
    );
    let out = bin()
        .arg("run")
        .arg(&def)
        .arg("--plugins")
        .arg(plugins)
        .arg("--input")
        .arg(input.to_string())
        .arg("--history")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no result; stderr: {}", String::from_utf8_lossy(&out.stderr)));
    let mut result: Value = serde_json::from_str(line).expect("JSON result");
    let history = result
        .as_object_mut()
        .and_then(|r| r.remove("history"))
        .unwrap_or_default();
    (result, handler_time(&history))
}

/// From the Task's start to its end, by the history's timestamps (zero when it never started).
fn handler_time(history: &Value) -> Duration {
    let at = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap_or_default())
            .expect("an RFC 3339 timestamp")
    };
    let events = history.as_array().cloned().unwrap_or_default();
    let Some(start) = events.iter().position(|e| e["type"] == "TaskStarted") else {
        return Duration::ZERO;
    };
    let end = events[start..]
        .iter()
        .find(|e| {
            matches!(
                e["type"].as_str(),
                Some("TaskSucceeded" | "TaskFailed" | "TaskTimedOut")
            )
        })
        .expect("the Task ended");
    (at(end) - at(&events[start])).to_std().unwrap_or_default()
}

#[test]
fn hostile_handlers_are_contained_with_precise_errors() {
    let plugins = plugins_with(&tempdir("hostile-plugins"), &["hostile", "hostile_component"]);
    for handler in ["hostile", "hostile_component"] {
        let resource = format!("wasm:{handler}");
        let (r, took) = run_task(&plugins, &resource, json!({"TimeoutSeconds": 1}), json!({"do": "spin"}));
        assert_eq!(r["error"], "States.Timeout", "{handler}: {r}");
        // TimeoutSeconds 1: the loop is stopped within the second plus the epoch tick; the
        // margin is for a loaded machine.
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "{handler}: an endless loop ran {took:?} before it was stopped (TimeoutSeconds 1)"
        );
        let cases = [
            ("bomb", "ran out of memory"),
            ("deep", "overflowed its stack"),
            ("panic", "panicked"),
        ];
        for (what, cause) in cases {
            let (r, _) = run_task(&plugins, &resource, json!({"TimeoutSeconds": 10}), json!({"do": what}));
            assert_eq!(r["status"], "FAILED", "{handler} {what}: {r}");
            assert_eq!(r["error"], "States.TaskFailed", "{handler} {what}: {r}");
            let c = r["cause"].as_str().unwrap_or_default();
            assert!(c.contains(cause) && c.contains(handler), "{handler} {what}: {c}");
        }
        // The next call runs normally.
        let (r, _) = run_task(&plugins, &resource, json!({}), json!({"do": "ok"}));
        assert_eq!(r, json!({"status": "SUCCEEDED", "output": {"ok": true}}), "{handler}");
    }
    let (r, _) = run_task(&plugins, "wasm:hostile", json!({}), json!({"do": "garbage"}));
    assert_eq!(r["error"], "States.TaskFailed");
    assert!(r["cause"].as_str().unwrap_or_default().contains("not JSON"), "{r}");
    let (r, _) = run_task(&plugins, "wasm:hostile", json!({}), json!({"do": "crash"}));
    assert!(
        r["cause"].as_str().unwrap_or_default().contains("exited with code 2"),
        "{r}"
    );
    let (r, _) = run_task(&plugins, "wasm:hostile", json!({}), json!({"do": "fail"}));
    assert_eq!(
        (r["error"].clone(), r["cause"].clone()),
        (json!("Refused"), json!("the command said no"))
    );
    let (r, _) = run_task(&plugins, "wasm:hostile_component", json!({}), json!({"do": "error"}));
    assert_eq!(
        (r["error"].clone(), r["cause"].clone()),
        (json!("Refused"), json!("the handler said no"))
    );
    let (r, _) = run_task(
        &plugins,
        "wasm:hostile_component",
        json!({}),
        json!({"do": "big", "bytes": 300_000}),
    );
    assert_eq!(r["error"], "States.DataLimitExceeded");
}

#[test]
fn heartbeats_keep_a_handler_alive_and_silence_ends_it() {
    let plugins = plugins_with(&tempdir("heartbeat-plugins"), &["hostile_component"]);
    let limits = json!({"TimeoutSeconds": 5, "HeartbeatSeconds": 1});
    let (r, _) = run_task(
        &plugins,
        "wasm:hostile_component",
        limits.clone(),
        json!({"do": "heartbeat", "ms": 1800}),
    );
    assert_eq!(r["output"], "alive", "{r}");
    // Silent for 3 s, heartbeat every 1 s: a handler that were let run would succeed at 3 s and
    // a missing heartbeat check would end in States.Timeout at 5 s; only the heartbeat rule
    // gives HeartbeatTimeout (the error, not the time taken, is what tells them apart).
    let (r, _) = run_task(
        &plugins,
        "wasm:hostile_component",
        limits,
        json!({"do": "silent", "ms": 3000}),
    );
    assert_eq!(r["error"], "States.HeartbeatTimeout", "{r}");
}

#[test]
fn the_sandbox_denies_files_environment_and_sockets_unless_granted() {
    let plugins = plugins_dir();
    for (what, key) in [("file", "denied"), ("env", "denied"), ("socket", "denied")] {
        let (r, _) = run_task(&plugins, "wasm:hostile", json!({}), json!({"do": what}));
        assert_eq!(r["status"], "SUCCEEDED", "{what}: {r}");
        assert!(r["output"].get(key).is_some(), "{what} was not denied: {r}");
        assert!(r["output"].get("leaked").is_none(), "{what} leaked: {r}");
    }
    let (r, _) = run_task(&plugins, "wasm:hostile", json!({}), json!({"do": "env"}));
    assert_eq!(r["output"]["vars"], json!([]), "the guest saw host variables: {r}");
    // A manifest grants an environment variable (and nothing else).
    let dir = tempdir("granted");
    std::fs::copy(plugins.join("hostile.wasm"), dir.join("hostile.wasm")).expect("copy");
    write(&dir, "hostile.toml", "env = { GREETING = \"hello\" }\n");
    let (r, _) = run_task(&dir, "wasm:hostile", json!({}), json!({"do": "granted-env"}));
    assert_eq!(r["output"], json!({"value": "hello"}));
    let (r, _) = run_task(&dir, "wasm:hostile", json!({}), json!({"do": "file"}));
    assert!(r["output"].get("denied").is_some(), "{r}");
}

#[test]
fn broken_plugin_files_are_reported_by_name() {
    let plugins = plugins_dir();
    let dir = tempdir("broken");
    std::fs::copy(plugins.join("add.wasm"), dir.join("add.wasm")).expect("copy");
    write(&dir, "notwasm.wasm", "this is text");
    // A valid but empty core module: not a WASI command and not a component.
    std::fs::write(dir.join("empty.wasm"), b"\0asm\x01\0\0\0").expect("write");
    std::fs::copy(plugins.join("identity.wasm"), dir.join("badmanifest.wasm")).expect("copy");
    write(&dir, "badmanifest.toml", "network = true\n");
    // The handler is chosen at run time, so `run` loads the whole folder (a definition naming
    // its handlers loads only those).
    let def = write(
        &dir,
        "m.asl.json",
        r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName.$":"$.f"},"End":true}}}"#,
    );
    let out = bin()
        .arg("run")
        .arg(&def)
        .arg("--plugins")
        .arg(&dir)
        .args(["--input", r#"{"f": "add"}"#])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "notwasm.wasm",
        "not a WebAssembly module",
        "empty.wasm",
        "_start",
        "badmanifest.toml",
        "network",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in: {stderr}");
    }
}

#[test]
fn lambda_arns_and_invoke_reach_handlers_by_name() {
    let plugins = plugins_dir();
    let (r, _) = run_task(
        &plugins,
        "arn:aws:lambda:us-east-1:123456789012:function:add",
        json!({}),
        json!({"a": 2, "b": 3}),
    );
    assert_eq!(r["output"], json!({"sum": 5}));
    let (r, _) = run_task(
        &plugins,
        "arn:aws:states:::lambda:invoke",
        json!({"Parameters": {"FunctionName": "add", "Payload.$": "$"}, "OutputPath": "$.Payload"}),
        json!({"a": 1.5, "b": 1}),
    );
    assert_eq!(r["output"], json!({"sum": 2.5}));
    let (r, _) = run_task(&plugins, "wasm:add_command", json!({}), json!({"a": 2, "b": 40}));
    assert_eq!(r["output"], json!({"sum": 42}));
}

#[test]
fn every_language_gives_the_same_workflow_output() {
    let plugins = plugins_dir();
    let languages: Vec<String> = std::fs::read_dir(&plugins)
        .expect("plugins")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".wasm")
                .map(str::to_string)
        })
        .filter(|n| n.starts_with("total_"))
        .collect();
    assert!(!languages.is_empty(), "no total_* plugins");
    let order = json!({"items": [{"price": 2.5, "qty": 4}, {"price": 1.25, "qty": 2}]});
    let bad = json!({"items": [{"price": 1, "qty": -1}]});
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let def = root.join("examples/order-pricing/order-pricing.asl.json");
    for handler in &languages {
        for (input, want) in [
            (
                &order,
                json!({"status": "SUCCEEDED", "output": {"handler": handler, "total": 12.5, "lines": 2}}),
            ),
            (
                &bad,
                json!({"status": "SUCCEEDED", "output": {"handler": handler, "rejected": "InvalidItem"}}),
            ),
        ] {
            let mut input = input.clone();
            input["handler"] = json!(handler);
            let out = bin()
                .arg("run")
                .arg(&def)
                .arg("--plugins")
                .arg(&plugins)
                .arg("--input")
                .arg(input.to_string())
                .output()
                .expect("runs");
            let line = String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .map(str::to_string)
                .unwrap_or_default();
            let got: Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("{handler}: {line} / {}", String::from_utf8_lossy(&out.stderr)));
            assert_eq!(got, want, "{handler}");
        }
    }
}

#[test]
fn compiled_modules_are_cached_across_restarts() {
    let plugins = plugins_dir();
    let dir = tempdir("cache-plugins");
    for p in ["add.wasm", "add_command.wasm"] {
        std::fs::copy(plugins.join(p), dir.join(p)).expect("copy");
    }
    let cache = tempdir("cache");
    let list = |cache: &Path| -> Vec<(String, std::time::SystemTime)> {
        let mut v: Vec<_> = std::fs::read_dir(cache.join("wasmstep/modules"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().to_string(),
                            e.metadata().and_then(|m| m.modified()).expect("mtime"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let load = || {
        let out = bin()
            .arg("plugins")
            .arg(&dir)
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = load();
    assert!(
        first.contains("\"component\"") && first.contains("\"wasi-command\""),
        "{first}"
    );
    let cached = list(&cache);
    assert_eq!(cached.len(), 2, "one compiled artifact per module: {cached:?}");
    load();
    assert_eq!(
        list(&cache),
        cached,
        "a restart must reuse, not rewrite, the compiled modules"
    );
}
